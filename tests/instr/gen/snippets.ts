// Snippet definitions for the native-recorded instruction tests.
//
// Each CaseDef is assembled with nasm (bits 32, flat binary), run natively by harness.c and recorded
// into tests/instr/cases.json by generate.ts. Conventions inside `asm`:
//   - `.end` is a label at the end of the snippet (jumping there finishes the snippet);
//   - `BUF` is the absolute address of the scratch buffer (a relocation: the code bytes hold the
//     offset; the runner adds the buffer address);
//   - a snippet must not depend on absolute code or stack addresses: generate.ts runs every case twice
//     with different placements and rejects cases whose results differ.
// flagsMask: the flags the Intel SDM defines for that instruction/operand/count (undefined ones
// removed). Every mask is written down here, next to the cases.

export type Reg = "eax" | "ecx" | "edx" | "ebx" | "ebp" | "esi" | "edi";
export const REGS: readonly Reg[] = ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi"];

export interface CaseDef {
  name: string;
  mnemonic: string;
  asm: string;
  init?: Partial<Record<Reg, number>> & { eflags?: number };
  memReg?: Reg | null;
  mem?: number[];
  memSize?: number;
  /** registers (besides memReg) whose final value is recorded relative to the buffer */
  relRegs?: Reg[];
  flagsMask?: number;
  skipRegs?: Reg[];
  /** [start, end) byte ranges of the buffer not compared */
  memIgnore?: [number, number][];
}

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const DF = 0x400;
export const OF = 0x800;
export const ALL = CF | PF | AF | ZF | SF | OF | DF; // 0xcd5
const ARITH = CF | PF | AF | ZF | SF | OF;

const hex = (v: number): string => "0x" + (v >>> 0).toString(16);

/** a byte pattern for memory-operand tests */
function pattern(n: number, seed = 0): number[] {
  const out: number[] = [];
  let x = 0x9e3779b9 ^ seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push((x >>> 16) & 0xff);
  }
  return out;
}
function le(v: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Number((BigInt.asUintN(64, BigInt(v)) >> BigInt(8 * i)) & 0xffn));
  return out;
}
function le64(v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));
  return out;
}
function f64bytes(x: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, true);
  return [...b];
}
function f32bytes(x: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...b];
}
/** 80-bit extended: sign, biased exponent, 64-bit significand */
function f80bytes(sign: number, exp: number, mant: bigint): number[] {
  return [...le64(mant), exp & 0xff, ((exp >> 8) & 0x7f) | (sign ? 0x80 : 0)];
}
function memWith(size: number, ...parts: [number, number[]][]): number[] {
  const m = new Array<number>(size).fill(0);
  for (const [off, bytes] of parts) bytes.forEach((b, i) => (m[off + i] = b));
  return m;
}

type Size = 8 | 16 | 32;
const SIZES: Size[] = [8, 16, 32];
const A: Record<Size, string> = { 8: "al", 16: "ax", 32: "eax" };
const B: Record<Size, string> = { 8: "bl", 16: "bx", 32: "ebx" };
const C: Record<Size, string> = { 8: "cl", 16: "cx", 32: "ecx" };
const D: Record<Size, string> = { 8: "dl", 16: "dx", 32: "edx" };
const PTR: Record<Size, string> = { 8: "byte", 16: "word", 32: "dword" };
const MASK: Record<Size, number> = { 8: 0xff, 16: 0xffff, 32: 0xffffffff };
const EDGE: Record<Size, number[]> = {
  8: [0, 1, 0x7f, 0x80, 0xff, 0x5a],
  16: [0, 1, 0x7fff, 0x8000, 0xffff, 0x1234],
  32: [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678],
};
/** value pairs covering the edges of each size */
function pairs(s: Size): [number, number][] {
  const e = EDGE[s];
  const [z, one, max, min, neg1, mid] = e;
  return [
    [z, z],
    [one, one],
    [max, one],
    [min, neg1],
    [neg1, one],
    [neg1, neg1],
    [min, min],
    [max, max],
    [mid, neg1],
    [z, one],
    [one, z],
    [mid, (mid * 3) & MASK[s]],
    [min, one],
    [max, neg1],
  ];
}
/** put an s-bit value into the low part of a full register value with noise above */
function withHigh(s: Size, v: number, noise: number): number {
  if (s === 32) return v >>> 0;
  return ((noise & ~MASK[s]) | (v & MASK[s])) >>> 0;
}

export function buildCases(): CaseDef[] {
  const cases: CaseDef[] = [];
  const add = (c: CaseDef): void => void cases.push(c);

  // ---------------------------------------------------------------- ALU 00-3F, 80-83
  const aluOps = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
  const aluMask = (op: string): number => (["and", "or", "xor"].includes(op) ? ALL & ~AF : ALL);
  for (const op of aluOps) {
    const M = op.toUpperCase();
    const fm = aluMask(op);
    const carries = op === "adc" || op === "sbb" ? [0, CF] : [0];
    for (const s of SIZES) {
      for (const [a, b] of pairs(s)) {
        for (const cin of carries) {
          add({
            name: `${op} r${s},r${s} ${hex(a)},${hex(b)} cf=${cin}`,
            mnemonic: M,
            asm: `${op} ${A[s]}, ${B[s]}`,
            init: { eax: withHigh(s, a, 0xdead0000), ebx: withHigh(s, b, 0xbeef0000), eflags: cin },
            flagsMask: fm,
          });
        }
      }
      // high-byte registers and the 02/03/0A.. (reg, r/m) direction with a register operand
      if (s === 8) {
        add({
          name: `${op} ah,ch`,
          mnemonic: M,
          asm: `${op} ah, ch`,
          init: { eax: 0x1234f0ff, ecx: 0x5678227f, eflags: CF },
          flagsMask: fm,
        });
      }
      const opIdx = aluOps.indexOf(op);
      const dirOpcode = opIdx * 8 + (s === 8 ? 2 : 3);
      add({
        name: `${op} r${s},r/m${s} (opcode ${hex(dirOpcode)}) register form`,
        mnemonic: M,
        asm: `${s === 16 ? "db 0x66\n" : ""}db ${hex(dirOpcode)}, 0xc3 ; ${op} ${A[s]}, ${B[s]}`,
        init: { eax: 0x80007ff1, ebx: 0x7fff8013, eflags: CF },
        flagsMask: fm,
      });
      // memory forms
      const memVals = [
        [EDGE[s][2], 1],
        [EDGE[s][4], EDGE[s][4]],
        [EDGE[s][3], EDGE[s][1]],
      ];
      for (const [a, b] of memVals) {
        for (const cin of carries.length > 1 ? [CF] : [0]) {
          add({
            name: `${op} m${s},r${s} ${hex(a)},${hex(b)}`,
            mnemonic: M,
            asm: `${op} [ebx+8], ${C[s]}`,
            memReg: "ebx",
            mem: memWith(32, [8, le(a, s / 8)], [8 + s / 8, [0x77]]),
            init: { ecx: withHigh(s, b, 0x11110000), eflags: cin },
            flagsMask: fm,
          });
          add({
            name: `${op} r${s},m${s} ${hex(b)},${hex(a)}`,
            mnemonic: M,
            asm: `${op} ${C[s]}, [esi+edi*4-4]`,
            memReg: "esi",
            mem: memWith(32, [4, le(a, s / 8)]),
            init: { ecx: withHigh(s, b, 0x22220000), edi: 2, eflags: cin },
            flagsMask: fm,
          });
        }
      }
      // accumulator, immediate (04/05 etc.)
      for (const [a, b] of [
        [EDGE[s][4], 1],
        [EDGE[s][2], EDGE[s][5]],
        [0, 0],
      ]) {
        add({
          name: `${op} ${A[s]},imm${s} ${hex(a)},${hex(b)}`,
          mnemonic: M,
          asm: s === 8 ? `${op} al, ${hex(b)}` : `${op} ${A[s]}, strict ${PTR[s]} ${hex(b)}`,
          init: { eax: withHigh(s, a, 0x5a5a0000), eflags: CF },
          flagsMask: fm,
        });
      }
      // group 1: 80/81 with r/m register and memory
      for (const [a, b] of [
        [EDGE[s][3], EDGE[s][4]],
        [EDGE[s][5], EDGE[s][2]],
      ]) {
        add({
          name: `${op} r/m${s},imm${s} reg ${hex(a)},${hex(b)}`,
          mnemonic: M,
          asm: s === 8 ? `${op} dl, ${hex(b)}` : `${op} ${D[s]}, strict ${PTR[s]} ${hex(b)}`,
          init: { edx: withHigh(s, a, 0x33330000), eflags: CF },
          flagsMask: fm,
        });
        add({
          name: `${op} m${s},imm${s} ${hex(a)},${hex(b)}`,
          mnemonic: M,
          asm: `${op} ${PTR[s]} [edi+0x40], ${s === 8 ? hex(b) : `strict ${PTR[s]} ${hex(b)}`}`,
          memReg: "edi",
          mem: memWith(80, [0x40, le(a, s / 8)]),
          init: { eflags: CF },
          flagsMask: fm,
        });
      }
      if (s !== 8) {
        // 83: sign-extended imm8
        for (const [a, b] of [
          [EDGE[s][4], -1],
          [EDGE[s][2], 1],
          [EDGE[s][3], -128],
          [0x1234, 0x7f],
        ]) {
          add({
            name: `${op} r/m${s},imm8 (83) ${hex(a)},${b}`,
            mnemonic: M,
            asm: `${op} ${D[s]}, byte ${b}`,
            init: { edx: withHigh(s, a, 0x44440000), eflags: CF },
            flagsMask: fm,
          });
        }
        add({
          name: `${op} m${s},imm8 (83)`,
          mnemonic: M,
          asm: `${op} ${PTR[s]} [ebp+ecx*2+3], byte -2`,
          memReg: "ebp",
          mem: memWith(32, [7, le(0x8001, s / 8)]),
          init: { ecx: 2, eflags: 0 },
          flagsMask: fm,
        });
      }
    }
    // 82 (alias of 80, valid outside 64-bit mode)
    add({
      name: `${op} r/m8,imm8 via opcode 82`,
      mnemonic: M,
      asm: `db 0x82, ${hex(0xc3 + 8 * aluOps.indexOf(op))}, 0x81 ; ${op} bl, 0x81`,
      init: { ebx: 0x7f7f7f7f, eflags: CF },
      flagsMask: fm,
    });
  }

  // ---------------------------------------------------------------- INC / DEC
  for (const op of ["inc", "dec"]) {
    const M = op.toUpperCase();
    for (const s of SIZES) {
      for (const v of EDGE[s]) {
        for (const cin of [0, CF]) {
          add({
            name: `${op} r${s} ${hex(v)} cf=${cin}`,
            mnemonic: M,
            asm: `${op} ${s === 8 ? "bh" : B[s]}`,
            init: {
              ebx: s === 8 ? withHigh(32, (v << 8) | 0x1234005a, 0) : withHigh(s, v, 0x12340000),
              eflags: cin,
            },
            flagsMask: ALL,
          });
        }
      }
      add({
        name: `${op} m${s}`,
        mnemonic: M,
        asm: `${op} ${PTR[s]} [eax+1]`,
        memReg: "eax",
        mem: memWith(16, [1, le(s === 8 ? 0x7f : s === 16 ? 0x7fff : 0x7fffffff, s / 8)]),
        init: { eflags: CF },
        flagsMask: ALL,
      });
    }
    // FF /0 and /1 with a register operand (the long encoding of 40+r / 48+r)
    add({
      name: `${op} r32 via FF /${op === "inc" ? 0 : 1}`,
      mnemonic: M,
      asm: `db 0xff, ${op === "inc" ? "0xc6" : "0xce"}`,
      init: { esi: 0xffffffff, eflags: 0 },
      flagsMask: ALL,
    });
    for (const r of REGS) {
      add({
        name: `${op} ${r} (short form)`,
        mnemonic: M,
        asm: `${op} ${r}`,
        init: { [r]: 0x7fffffff, eflags: SF },
        flagsMask: ALL,
      });
    }
  }

  // ---------------------------------------------------------------- group 3: TEST NOT NEG MUL IMUL DIV IDIV
  for (const s of SIZES) {
    for (const [a, b] of pairs(s).slice(0, 8)) {
      add({
        name: `test r${s},r${s} ${hex(a)},${hex(b)}`,
        mnemonic: "TEST",
        asm: `test ${A[s]}, ${B[s]}`,
        init: { eax: withHigh(s, a, 0xf0f00000), ebx: withHigh(s, b, 0x0f0f0000), eflags: ALL },
        flagsMask: ALL & ~AF,
      });
    }
    add({
      name: `test ${A[s]},imm${s}`,
      mnemonic: "TEST",
      asm: s === 8 ? "test al, 0x80" : `test ${A[s]}, strict ${PTR[s]} ${hex(EDGE[s][3])}`,
      init: { eax: 0xffffffff, eflags: 0 },
      flagsMask: ALL & ~AF,
    });
    add({
      name: `test m${s},imm${s}`,
      mnemonic: "TEST",
      asm: `test ${PTR[s]} [ecx+5], ${hex(EDGE[s][4])}`,
      memReg: "ecx",
      mem: memWith(16, [5, le(0x0100, s / 8)]),
      flagsMask: ALL & ~AF,
    });
    add({
      name: `test m${s},r${s}`,
      mnemonic: "TEST",
      asm: `test [ecx+5], ${D[s]}`,
      memReg: "ecx",
      mem: memWith(16, [5, le(0x8000ff00, s / 8)]),
      init: { edx: 0x12345678 },
      flagsMask: ALL & ~AF,
    });
    for (const v of EDGE[s]) {
      add({
        name: `not r${s} ${hex(v)}`,
        mnemonic: "NOT",
        asm: `not ${C[s]}`,
        init: { ecx: withHigh(s, v, 0xabcd0000), eflags: ALL & ~DF },
        flagsMask: ALL,
      });
      add({
        name: `neg r${s} ${hex(v)}`,
        mnemonic: "NEG",
        asm: `neg ${C[s]}`,
        init: { ecx: withHigh(s, v, 0xabcd0000), eflags: v & 1 ? 0 : ALL & ~DF },
        flagsMask: ALL,
      });
    }
    add({
      name: `not m${s}`,
      mnemonic: "NOT",
      asm: `not ${PTR[s]} [edx]`,
      memReg: "edx",
      mem: pattern(8, 1),
      flagsMask: ALL,
    });
    add({
      name: `neg m${s}`,
      mnemonic: "NEG",
      asm: `neg ${PTR[s]} [edx+1]`,
      memReg: "edx",
      mem: pattern(8, 2),
      flagsMask: ALL,
    });
  }
  // F6 /1 (undocumented alias of TEST r/m8, imm8)
  add({
    name: "test r/m8,imm8 via F6 /1",
    mnemonic: "TEST",
    asm: "db 0xf6, 0xc8, 0x81 ; test al, 0x81 (/1)",
    init: { eax: 0x80 },
    flagsMask: ALL & ~AF,
  });

  // MUL/IMUL one operand: CF OF defined, SF ZF AF PF undefined
  const mulMask = CF | OF | DF;
  for (const op of ["mul", "imul"]) {
    for (const s of SIZES) {
      const vals = [
        [0, 0],
        [1, EDGE[s][4]],
        [EDGE[s][4], EDGE[s][4]],
        [EDGE[s][2], 2],
        [EDGE[s][3], EDGE[s][4]],
        [EDGE[s][3], EDGE[s][3]],
        [EDGE[s][5], 3],
        [2, 3],
        [EDGE[s][4], 2],
      ];
      for (const [a, b] of vals) {
        add({
          name: `${op} r/m${s} ${hex(a)}*${hex(b)}`,
          mnemonic: op.toUpperCase(),
          asm: `${op} ${C[s]}`,
          init: {
            eax: withHigh(s, a, 0x99990000),
            ecx: withHigh(s, b, 0x77770000),
            edx: 0x55555555,
            eflags: ALL & ~DF,
          },
          flagsMask: mulMask,
        });
      }
      add({
        name: `${op} m${s}`,
        mnemonic: op.toUpperCase(),
        asm: `${op} ${PTR[s]} [ebx+2]`,
        memReg: "ebx",
        mem: memWith(8, [2, le(0xfffffff3, s / 8)]),
        init: { eax: 0x12345687, edx: 0x11111111 },
        flagsMask: mulMask,
      });
    }
  }
  // IMUL 0FAF / 69 / 6B
  for (const s of [16, 32] as Size[]) {
    const vals: [number, number][] = [
      [3, 5],
      [EDGE[s][2], 2],
      [EDGE[s][4], EDGE[s][4]],
      [EDGE[s][3], EDGE[s][4]],
      [EDGE[s][5], 0x100],
      [0, EDGE[s][3]],
    ];
    for (const [a, b] of vals) {
      add({
        name: `imul r${s},r/m${s} ${hex(a)}*${hex(b)}`,
        mnemonic: "IMUL",
        asm: `imul ${C[s]}, ${D[s]}`,
        init: { ecx: withHigh(s, a, 0xcccc0000), edx: withHigh(s, b, 0xdddd0000), eflags: ALL & ~DF },
        flagsMask: mulMask,
      });
      add({
        name: `imul r${s},r/m${s},imm${s} ${hex(a)}*${hex(b)}`,
        mnemonic: "IMUL",
        asm: `imul ${C[s]}, ${D[s]}, strict ${PTR[s]} ${hex(b)}`,
        init: { ecx: 0x13579bdf, edx: withHigh(s, a, 0xdddd0000) },
        flagsMask: mulMask,
      });
    }
    for (const imm of [-1, 127, -128, 2]) {
      add({
        name: `imul r${s},r/m${s},imm8 ${imm}`,
        mnemonic: "IMUL",
        asm: `imul ${A[s]}, ${B[s]}, byte ${imm}`,
        init: { eax: 0xffffffff, ebx: withHigh(s, EDGE[s][3] + 1, 0x11110000) },
        flagsMask: mulMask,
      });
    }
    add({
      name: `imul r${s},m${s}`,
      mnemonic: "IMUL",
      asm: `imul ${A[s]}, [esi+4]`,
      memReg: "esi",
      mem: memWith(8, [4, le(0xfffffffd, s / 8)]),
      init: { eax: 0x00000100 },
      flagsMask: mulMask,
    });
    add({
      name: `imul r${s},m${s},imm8`,
      mnemonic: "IMUL",
      asm: `imul ${A[s]}, [esi+4], byte -3`,
      memReg: "esi",
      mem: memWith(8, [4, le(0x40000001, s / 8)]),
      flagsMask: mulMask,
    });
  }

  // DIV/IDIV: all six arithmetic flags undefined
  const divMask = DF;
  for (const op of ["div", "idiv"]) {
    const M = op.toUpperCase();
    const divs: Record<Size, [number, number, number][]> = {
      // [high (AH/DX/EDX), low (AL/AX/EAX), divisor]
      8: [
        [0, 100, 7],
        [0, 0xff, 0xff],
        [0, 0x80, 0xff],
        [0, 0x7f, 0x80],
        [1, 0x00, 3],
        [0x7f, 0, 2],
        [0, 5, 0],
        [0xff, 0xf9, 2],
      ],
      16: [
        [0, 1000, 7],
        [0, 0xffff, 0xffff],
        [0xffff, 0x8000, 0xffff],
        [0, 0x8000, 0xffff],
        [1, 0, 3],
        [0x7fff, 0xffff, 0x7fff],
        [0, 5, 0],
        [0xffff, 0xfff9, 2],
      ],
      32: [
        [0, 1000000, 7],
        [0, 0xffffffff, 0xffffffff],
        [0xffffffff, 0x80000000, 0xffffffff],
        [0, 0x80000000, 0xffffffff],
        [1, 0, 3],
        [0x7fffffff, 0xffffffff, 0x7fffffff],
        [0, 5, 0],
        [0xffffffff, 0xfffffff9, 2],
        [0x12345678, 0x9abcdef0, 0x87654321],
        [0xfffffffe, 0, 0xfffffffd],
      ],
    };
    for (const s of SIZES) {
      for (const [hi, lo, d] of divs[s]) {
        const init =
          s === 8
            ? { eax: 0xabcd0000 | (hi << 8) | lo, ecx: withHigh(8, d, 0x1234000) }
            : {
                eax: withHigh(s, lo, 0xabcd0000),
                edx: withHigh(s, hi, 0x12340000),
                ecx: withHigh(s, d, 0x5678000),
              };
        add({
          name: `${op} r/m${s} ${hex(hi)}:${hex(lo)}/${hex(d)}`,
          mnemonic: M,
          asm: `mov esi, 1\n${op} ${C[s]}\nmov esi, 2`,
          init: { ...init, esi: 0, eflags: ALL & ~DF },
          flagsMask: divMask,
        });
      }
      add({
        name: `${op} m${s}`,
        mnemonic: M,
        asm: `${op} ${PTR[s]} [edi+3]`,
        memReg: "edi",
        mem: memWith(8, [3, le(s === 8 ? 0xfd : 0xfffffffd, s / 8)]),
        init: { eax: 0x00001000, edx: 0 },
        flagsMask: divMask,
      });
    }
  }

  // ---------------------------------------------------------------- shifts and rotates
  const shOps = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sar"];
  const shiftMask = (op: string, s: Size, count: number): number => {
    const c = count & 31;
    if (c === 0) return ALL; // no flags affected
    if (op === "rol" || op === "ror" || op === "rcl" || op === "rcr") {
      // rotates affect only CF and OF; OF undefined unless the (masked) count is 1
      return c === 1 ? ALL : ALL & ~OF;
    }
    let m = ALL & ~AF; // AF undefined for a non-zero count
    if (c > 1) m &= ~OF;
    if ((op === "shl" || op === "shr") && c >= s) m &= ~CF;
    return m;
  };
  const SHIFT_EXT: Record<string, number> = { rol: 0, ror: 1, rcl: 2, rcr: 3, shl: 4, shr: 5, sar: 7 };
  const shVals: Record<Size, number[]> = {
    8: [0x81, 0x40],
    16: [0x8001, 0x4000],
    32: [0x80000001, 0x40000000],
  };
  for (const op of shOps) {
    const M = op.toUpperCase();
    for (const s of SIZES) {
      const counts = [0, 1, 2, s - 1, s, s + 1, 31, 32, 33, 255];
      if (s === 8) counts.push(9, 10, 17);
      if (s === 16) counts.push(17, 18);
      for (const cnt of counts) {
        for (const v of shVals[s]) {
          for (const cin of op === "rcl" || op === "rcr" ? [0, CF] : [v & 1 ? 0 : CF]) {
            add({
              name: `${op} r${s},cl ${hex(v)} count=${cnt} cf=${cin & 1}`,
              mnemonic: M,
              asm: `${op} ${D[s]}, cl`,
              init: {
                edx: withHigh(s, v, 0x3c3c0000),
                ecx: 0xabcdef00 | cnt,
                eflags: cin | (v & 0x40 ? OF : ZF | AF),
              },
              flagsMask: shiftMask(op, s, cnt),
            });
          }
        }
      }
      for (const cnt of [0, 1, 3, s, 31]) {
        add({
          name: `${op} r${s},imm8 count=${cnt}`,
          mnemonic: M,
          asm:
            cnt === 1
              ? `db ${s === 16 ? "0x66, " : ""}${s === 8 ? "0xc0" : "0xc1"}, ${hex(0xc3 | (SHIFT_EXT[op] << 3))}, 1 ; ${op} ${B[s]}, 1 (C0/C1 form)`
              : `${op} ${B[s]}, ${cnt}`,
          init: { ebx: withHigh(s, shVals[s][0] | 0x30, 0x55aa0000), eflags: CF | OF },
          flagsMask: shiftMask(op, s, cnt),
        });
      }
      for (const v of [shVals[s][0], EDGE[s][2], EDGE[s][3]]) {
        add({
          name: `${op} r${s},1 (D0/D1) ${hex(v)}`,
          mnemonic: M,
          asm: `${op} ${A[s]}, 1`,
          init: { eax: withHigh(s, v, 0xaa550000), eflags: CF },
          flagsMask: shiftMask(op, s, 1),
        });
      }
      add({
        name: `${op} m${s},1`,
        mnemonic: M,
        asm: `${op} ${PTR[s]} [ebx+1], 1`,
        memReg: "ebx",
        mem: memWith(8, [1, le(0xc0000081, s / 8)]),
        init: { eflags: CF },
        flagsMask: shiftMask(op, s, 1),
      });
      add({
        name: `${op} m${s},cl count=5`,
        mnemonic: M,
        asm: `${op} ${PTR[s]} [ebx+1], cl`,
        memReg: "ebx",
        mem: memWith(8, [1, le(0xc3000081, s / 8)]),
        init: { ecx: 5, eflags: CF },
        flagsMask: shiftMask(op, s, 5),
      });
      add({
        name: `${op} m${s},imm8 count=4`,
        mnemonic: M,
        asm: `${op} ${PTR[s]} [ebx+1], 4`,
        memReg: "ebx",
        mem: memWith(8, [1, le(0xa5000081, s / 8)]),
        init: { eflags: 0 },
        flagsMask: shiftMask(op, s, 4),
      });
    }
  }
  // SAL /6 (undocumented alias of SHL)
  add({
    name: "sal r32,1 via D1 /6",
    mnemonic: "SHL",
    asm: "db 0xd1, 0xf0 ; shl eax, 1 (/6)",
    init: { eax: 0xc0000001 },
    flagsMask: shiftMask("shl", 32, 1),
  });

  // SHLD / SHRD: AF undefined, OF undefined when count > 1, result + flags undefined when count > size
  for (const op of ["shld", "shrd"]) {
    const M = op.toUpperCase();
    for (const s of [16, 32] as Size[]) {
      for (const cnt of [0, 1, 4, s - 1, s, s + 1, 31, 32, 36]) {
        const c = cnt & 31;
        let fm = ALL;
        const skip: Reg[] = [];
        if (c !== 0) {
          fm = ALL & ~AF;
          if (c > 1) fm &= ~OF;
          if (c > s) {
            fm = DF;
            skip.push("edx");
          }
        }
        add({
          name: `${op} r${s},r${s},cl count=${cnt}`,
          mnemonic: M,
          asm: `${op} ${D[s]}, ${B[s]}, cl`,
          init: {
            edx: withHigh(s, 0x8123c5a7, 0x9d000000),
            ebx: withHigh(s, 0x6e5f4a31, 0),
            ecx: cnt,
            eflags: CF | OF,
          },
          flagsMask: fm,
          skipRegs: skip,
        });
        if (cnt < 32) {
          add({
            name: `${op} r${s},r${s},imm8 count=${cnt}`,
            mnemonic: M,
            asm: `${op} ${D[s]}, ${B[s]}, ${cnt}`,
            init: { edx: withHigh(s, 0x40f00001, 0x1000000), ebx: withHigh(s, 0xf00dbeef, 0), eflags: 0 },
            flagsMask: fm,
            skipRegs: skip,
          });
        }
      }
      add({
        name: `${op} m${s},r${s},imm8`,
        mnemonic: M,
        asm: `${op} [eax+2], ${C[s]}, 3`,
        memReg: "eax",
        mem: memWith(8, [2, le(0x87654321, s / 8)]),
        init: { ecx: 0xfedcba98 },
        flagsMask: ALL & ~AF & ~OF,
      });
      add({
        name: `${op} m${s},r${s},cl`,
        mnemonic: M,
        asm: `${op} [eax+2], ${C[s]}, cl`,
        memReg: "eax",
        mem: memWith(8, [2, le(0x87654321, s / 8)]),
        init: { ecx: 0xfedcba01 },
        flagsMask: ALL & ~AF,
      });
    }
  }

  // ---------------------------------------------------------------- BT BTS BTR BTC, BSF BSR, BSWAP
  const btMask = ALL & ~(OF | SF | AF | PF);
  for (const op of ["bt", "bts", "btr", "btc"]) {
    const M = op.toUpperCase();
    for (const s of [16, 32] as Size[]) {
      for (const bit of [0, 5, s - 1, s, s + 3, 63, 255]) {
        add({
          name: `${op} r${s},r${s} bit=${bit}`,
          mnemonic: M,
          asm: `${op} ${A[s]}, ${C[s]}`,
          init: { eax: 0x80010020, ecx: withHigh(s, bit, 0x10000), eflags: ZF },
          flagsMask: btMask,
        });
      }
      for (const bit of [0, 1, s - 1, s + 1, 200]) {
        add({
          name: `${op} r${s},imm8 bit=${bit}`,
          mnemonic: M,
          asm: `${op} ${B[s]}, ${bit}`,
          init: { ebx: 0xaaaa5555, eflags: CF },
          flagsMask: btMask,
        });
        add({
          name: `${op} m${s},imm8 bit=${bit}`,
          mnemonic: M,
          asm: `${op} ${PTR[s]} [esi+8], ${bit}`,
          memReg: "esi",
          mem: pattern(16, 3),
          flagsMask: btMask,
        });
      }
      // register bit offset with a memory operand: the offset addresses beyond the operand (signed)
      for (const bit of [0, 7, s, 100, 255, -1, -9, -64]) {
        add({
          name: `${op} m${s},r${s} bit=${bit}`,
          mnemonic: M,
          asm: `${op} [esi+64], ${C[s]}`,
          memReg: "esi",
          mem: pattern(128, 4),
          init: { ecx: withHigh(s, bit, bit < 0 ? 0xffff0000 : 0), eflags: CF },
          flagsMask: btMask,
        });
      }
    }
  }
  for (const op of ["bsf", "bsr"]) {
    const M = op.toUpperCase();
    const fm = ZF | DF; // CF OF SF AF PF undefined
    for (const s of [16, 32] as Size[]) {
      for (const v of [0, 1, EDGE[s][3], 0x00f00, EDGE[s][4], 0x1230]) {
        add({
          name: `${op} r${s},r${s} ${hex(v)}`,
          mnemonic: M,
          asm: `${op} ${A[s]}, ${C[s]}`,
          init: { eax: 0x12345678, ecx: withHigh(s, v, 0xffff0000), eflags: v === 0 ? 0 : ZF },
          flagsMask: fm,
          skipRegs: v === 0 ? ["eax"] : [],
        });
      }
      add({
        name: `${op} r${s},m${s}`,
        mnemonic: M,
        asm: `${op} ${A[s]}, [edx+4]`,
        memReg: "edx",
        mem: memWith(8, [4, le(0x00188000, s / 8)]),
        flagsMask: fm,
      });
    }
  }
  for (const r of REGS) {
    add({
      name: `bswap ${r}`,
      mnemonic: "BSWAP",
      asm: `bswap ${r}`,
      init: { [r]: 0x12345678 },
      flagsMask: ALL,
    });
  }

  // ---------------------------------------------------------------- MOV and addressing forms
  for (const s of SIZES) {
    add({
      name: `mov r${s},r${s}`,
      mnemonic: "MOV",
      asm: `mov ${A[s]}, ${D[s]}`,
      init: { eax: 0x11223344, edx: 0xaabbccdd },
      flagsMask: ALL,
    });
    add({
      name: `mov r${s},r${s} (8A/8B form)`,
      mnemonic: "MOV",
      asm: `${s === 16 ? "db 0x66\n" : ""}db ${s === 8 ? "0x8a" : "0x8b"}, 0xc2`,
      init: { eax: 0x11223344, edx: 0xaabbccdd },
      flagsMask: ALL,
    });
    add({
      name: `mov m${s},r${s}`,
      mnemonic: "MOV",
      asm: `mov [ebx+3], ${C[s]}`,
      memReg: "ebx",
      mem: pattern(8, 5),
      init: { ecx: 0x89abcdef },
      flagsMask: ALL,
    });
    add({
      name: `mov r${s},m${s}`,
      mnemonic: "MOV",
      asm: `mov ${C[s]}, [ebx+3]`,
      memReg: "ebx",
      mem: pattern(8, 6),
      init: { ecx: 0x89abcdef },
      flagsMask: ALL,
    });
    add({
      name: `mov r${s},imm${s}`,
      mnemonic: "MOV",
      asm: `mov ${s === 8 ? "dh" : D[s]}, ${hex(EDGE[s][5])}`,
      init: { edx: 0xffffffff },
      flagsMask: ALL,
    });
    add({
      name: `mov r${s},imm${s} via C6/C7`,
      mnemonic: "MOV",
      asm: `${s === 16 ? "db 0x66\n" : ""}db ${s === 8 ? "0xc6" : "0xc7"}, 0xc6\n${s === 8 ? "db 0x5a" : s === 16 ? "dw 0x1234" : "dd 0x12345678"}`,
      init: { esi: 0xffffffff },
      flagsMask: ALL,
    });
    add({
      name: `mov m${s},imm${s}`,
      mnemonic: "MOV",
      asm: `mov ${PTR[s]} [ebx+5], ${hex(EDGE[s][5])}`,
      memReg: "ebx",
      mem: pattern(12, 7),
      flagsMask: ALL,
    });
    // moffs (A0-A3): absolute address = relocation against the buffer
    add({
      name: `mov ${A[s]},moffs${s}`,
      mnemonic: "MOV",
      asm: `mov ${A[s]}, [BUF+6]`,
      mem: pattern(16, 8),
      init: { eax: 0xcccccccc },
      flagsMask: ALL,
    });
    add({
      name: `mov moffs${s},${A[s]}`,
      mnemonic: "MOV",
      asm: `mov [BUF+9], ${A[s]}`,
      mem: pattern(16, 9),
      init: { eax: 0x01234567 },
      flagsMask: ALL,
    });
  }
  for (const r of ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"]) {
    add({ name: `mov ${r},imm8`, mnemonic: "MOV", asm: `mov ${r}, 0xa5`, flagsMask: ALL });
  }
  for (const r of REGS) {
    add({ name: `mov ${r},imm32`, mnemonic: "MOV", asm: `mov ${r}, 0xdeadbeef`, flagsMask: ALL });
  }
  // addressing modes (loads through the buffer)
  const amodes: [string, Partial<Record<Reg, number>>, Reg][] = [
    ["[eax]", {}, "eax"],
    ["[ecx+0x7f]", {}, "ecx"],
    ["[edx-0x10+0x20]", {}, "edx"],
    ["[ebx+0x81]", {}, "ebx"],
    ["[ebp+0]", {}, "ebp"],
    ["[ebp+0x44]", {}, "ebp"],
    ["[esi+ecx]", { ecx: 0x21 }, "esi"],
    ["[edi+ecx*2]", { ecx: 0x11 }, "edi"],
    ["[eax+ecx*4+1]", { ecx: 7 }, "eax"],
    ["[eax+ecx*8+0x100]", { ecx: -30 }, "eax"],
    ["[ecx+edx*1-1]", { edx: 0x41 }, "ecx"],
    ["[ebp+esi*8+0x12345]", { esi: -0x2468 }, "ebp"],
    ["[edx*2+BUF+0x10]", { edx: 0x10 }, "ebx"],
    ["[BUF+0x33]", {}, "ebx"],
    ["[esi*4+BUF]", { esi: 0x13 }, "ebx"],
    ["[edi*1+0x40]", {}, "edi"],
  ];
  for (const [mode, regs, mr] of amodes) {
    const name = `mov r32, dword ${mode}`;
    const needsMemRegNull = mode.includes("BUF") && mr === "ebx";
    add({
      name,
      mnemonic: "MOV",
      asm:
        mode === "[edx*2+BUF+0x10]"
          ? "db 0x8b, 0x04, 0x55 ; mov eax, [edx*2+disp32] (no base)\ndd BUF+0x10"
          : `mov ${mr === "eax" ? "edx" : "eax"}, ${mode}`,
      memReg: needsMemRegNull ? null : mr,
      mem: pattern(256, 10),
      init: { ...regs, eax: mr === "eax" ? 0 : 0x5a5a5a5a },
      flagsMask: ALL,
    });
  }
  add({
    name: "mov [esp-disp],r; mov r,[esp-disp] (SIB base esp)",
    mnemonic: "MOV",
    asm: "mov [esp-8], ecx\nmov edx, [esp-8]\nmov byte [esp-5], 0x11\nmov eax, [esp-8]",
    init: { ecx: 0xcafebabe },
    flagsMask: ALL,
  });
  // MOVZX / MOVSX
  for (const op of ["movzx", "movsx"]) {
    const M = op.toUpperCase();
    for (const v of [0x7f, 0x80, 0xff, 0]) {
      add({
        name: `${op} r32,r8 ${hex(v)}`,
        mnemonic: M,
        asm: `${op} eax, ch`,
        init: { eax: 0xffffffff, ecx: v << 8 },
        flagsMask: ALL,
      });
      add({
        name: `${op} r16,r8 ${hex(v)}`,
        mnemonic: M,
        asm: `${op} ax, cl`,
        init: { eax: 0xdead1234, ecx: v },
        flagsMask: ALL,
      });
    }
    for (const v of [0x7fff, 0x8000, 0xffff]) {
      add({
        name: `${op} r32,r16 ${hex(v)}`,
        mnemonic: M,
        asm: `${op} edx, cx`,
        init: { ecx: 0x12340000 | v },
        flagsMask: ALL,
      });
    }
    add({
      name: `${op} r32,m8`,
      mnemonic: M,
      asm: `${op} ecx, byte [eax+1]`,
      memReg: "eax",
      mem: [0, 0x9c],
      flagsMask: ALL,
    });
    add({
      name: `${op} r32,m16`,
      mnemonic: M,
      asm: `${op} ecx, word [eax+1]`,
      memReg: "eax",
      mem: [0, 0x34, 0x92],
      flagsMask: ALL,
    });
    add({
      name: `${op} r16,m8`,
      mnemonic: M,
      asm: `${op} cx, byte [eax+1]`,
      memReg: "eax",
      mem: [0, 0xf0],
      init: { ecx: 0x77777777 },
      flagsMask: ALL,
    });
  }

  // LEA (no memory access): 32-bit and 16-bit operand size, 32-bit and 16-bit addressing
  const leaModes = [
    "[eax]",
    "[eax+ebx]",
    "[eax+ebx*2+0x10]",
    "[ecx*4]",
    "[ecx*8+0x12345678]",
    "[edx+esi*1-1]",
    "[ebp+edi*4+0x7f]",
    "[esp+8]",
    "[ebx+ebx*4]",
    "[eax-0x10]",
    "[eax-0x80000000]",
    "[esi+0x7fffffff]",
  ];
  const leaInit = {
    eax: 0x10000010,
    ebx: 0x00010003,
    ecx: 0x40000001,
    edx: 0xfffffff0,
    ebp: 0x80000000,
    esi: 0x7fffffff,
    edi: 3,
  };
  for (const m of leaModes) {
    const esp = m.includes("esp");
    add({
      name: `lea r32,${m}`,
      mnemonic: "LEA",
      asm: esp ? `mov edi, esp\nlea eax, ${m}\nsub eax, edi\nxor edi, edi` : `lea eax, ${m}`,
      init: leaInit,
      flagsMask: esp ? 0 : ALL,
    });
    if (!esp)
      add({ name: `lea r16,${m}`, mnemonic: "LEA", asm: `lea cx, ${m}`, init: leaInit, flagsMask: ALL });
  }
  for (const m of [
    "[bx+si]",
    "[bx+di+0x10]",
    "[bp+si-1]",
    "[bp+di+0x1234]",
    "[si]",
    "[di+0xff]",
    "[bp+0]",
    "[bx]",
    "[0x1234]",
    "[bx+si+0x7ff0]",
  ]) {
    add({
      name: `lea r32,${m} (16-bit addressing)`,
      mnemonic: "LEA",
      asm: `a16 lea eax, ${m}`,
      init: { eax: 0xffffffff, ebx: 0x1234fff0, esi: 0x99990030, edi: 0x00000007, ebp: 0xfedc8000 },
      flagsMask: ALL,
    });
    add({
      name: `lea r16,${m} (16-bit addressing)`,
      mnemonic: "LEA",
      asm: `a16 lea dx, ${m}`,
      init: { edx: 0xffffffff, ebx: 0x1234fff0, esi: 0x99990030, edi: 0x00000007, ebp: 0xfedc8000 },
      flagsMask: ALL,
    });
  }

  // ---------------------------------------------------------------- XCHG XADD CMPXCHG CMPXCHG8B
  for (const r of REGS.slice(1)) {
    add({
      name: `xchg eax,${r}`,
      mnemonic: "XCHG",
      asm: `xchg eax, ${r}`,
      init: { eax: 0x11111111, [r]: 0x22222222 },
      flagsMask: ALL,
    });
  }
  add({
    name: "xchg ax,cx (66 91)",
    mnemonic: "XCHG",
    asm: "xchg ax, cx",
    init: { eax: 0x11111111, ecx: 0x22222222 },
    flagsMask: ALL,
  });
  add({
    name: "xchg eax,eax (90 = nop)",
    mnemonic: "NOP",
    asm: "nop",
    init: { eax: 0x11111111 },
    flagsMask: ALL,
  });
  add({
    name: "xchg ah,bl",
    mnemonic: "XCHG",
    asm: "xchg ah, bl",
    init: { eax: 0x1122, ebx: 0x3344 },
    flagsMask: ALL,
  });
  add({
    name: "xchg ecx,edx (87)",
    mnemonic: "XCHG",
    asm: "xchg ecx, edx",
    init: { ecx: 1, edx: 2 },
    flagsMask: ALL,
  });
  add({
    name: "xchg dx,bx (87 o16)",
    mnemonic: "XCHG",
    asm: "xchg dx, bx",
    init: { edx: 0xaaaa0001, ebx: 0xbbbb0002 },
    flagsMask: ALL,
  });
  for (const s of SIZES) {
    add({
      name: `xchg m${s},r${s}`,
      mnemonic: "XCHG",
      asm: `xchg [ebx+1], ${C[s]}`,
      memReg: "ebx",
      mem: pattern(8, 11),
      init: { ecx: 0x13572468 },
      flagsMask: ALL,
    });
    for (const [a, b] of [
      [1, 2],
      [EDGE[s][4], 1],
      [EDGE[s][2], 1],
    ]) {
      add({
        name: `xadd r${s},r${s} ${hex(a)},${hex(b)}`,
        mnemonic: "XADD",
        asm: `xadd ${A[s]}, ${C[s]}`,
        init: { eax: withHigh(s, a, 0x12340000), ecx: withHigh(s, b, 0x56780000) },
        flagsMask: ALL,
      });
    }
    add({
      name: `xadd m${s},r${s}`,
      mnemonic: "XADD",
      asm: `xadd [edx+2], ${C[s]}`,
      memReg: "edx",
      mem: memWith(8, [2, le(0xffffffff, s / 8)]),
      init: { ecx: 0x11111101 },
      flagsMask: ALL,
    });
    for (const eq of [true, false]) {
      add({
        name: `cmpxchg r${s},r${s} ${eq ? "equal" : "not equal"}`,
        mnemonic: "CMPXCHG",
        asm: `cmpxchg ${D[s]}, ${C[s]}`,
        init: { eax: eq ? 0x12345678 : 0x12345677, edx: 0x12345678, ecx: 0xabcdef01 },
        flagsMask: ALL,
      });
      add({
        name: `cmpxchg m${s},r${s} ${eq ? "equal" : "not equal"}`,
        mnemonic: "CMPXCHG",
        asm: `cmpxchg [esi+4], ${C[s]}`,
        memReg: "esi",
        mem: memWith(8, [4, le(0x80000080, 4)]),
        init: { eax: eq ? 0x80000080 : 0x7fffffff, ecx: 0xabcdef01 },
        flagsMask: ALL,
      });
    }
  }
  add({
    name: "cmpxchg eax,ecx (dest is accumulator)",
    mnemonic: "CMPXCHG",
    asm: "cmpxchg eax, ecx",
    init: { eax: 5, ecx: 9 },
    flagsMask: ALL,
  });
  for (const eq of [true, false]) {
    add({
      name: `cmpxchg8b m64 ${eq ? "equal" : "not equal"}`,
      mnemonic: "CMPXCHG8B",
      asm: "cmpxchg8b [edi+8]",
      memReg: "edi",
      mem: memWith(16, [8, le(0x11223344, 4)], [12, le(0x55667788, 4)]),
      init: {
        eax: 0x11223344,
        edx: eq ? 0x55667788 : 0x55667789,
        ebx: 0xaaaaaaaa,
        ecx: 0xbbbbbbbb,
        eflags: eq ? CF : ZF | CF,
      },
      flagsMask: ALL,
    });
  }

  // ---------------------------------------------------------------- CBW CWDE CWD CDQ, LAHF SAHF, flags
  for (const v of [0x7f, 0x80, 0x7fff, 0x8000, 0x80000000, 0x7fffffff, 0xffffffff, 0]) {
    add({
      name: `cbw ${hex(v)}`,
      mnemonic: "CBW",
      asm: "cbw",
      init: { eax: v, edx: 0x12345678 },
      flagsMask: ALL,
    });
    add({
      name: `cwde ${hex(v)}`,
      mnemonic: "CWDE",
      asm: "cwde",
      init: { eax: v, edx: 0x12345678 },
      flagsMask: ALL,
    });
    add({
      name: `cwd ${hex(v)}`,
      mnemonic: "CWD",
      asm: "cwd",
      init: { eax: v, edx: 0x12345678 },
      flagsMask: ALL,
    });
    add({
      name: `cdq ${hex(v)}`,
      mnemonic: "CDQ",
      asm: "cdq",
      init: { eax: v, edx: 0x12345678 },
      flagsMask: ALL,
    });
  }
  for (const fl of [0, ALL & ~DF, CF | ZF, SF | PF | AF, OF]) {
    add({
      name: `lahf flags=${hex(fl)}`,
      mnemonic: "LAHF",
      asm: "lahf",
      init: { eax: 0xffffffff, eflags: fl },
      flagsMask: ALL,
    });
  }
  for (const ah of [0, 0xff, 0xd5, 0x2a, 0x41, 0x80]) {
    add({
      name: `sahf ah=${hex(ah)}`,
      mnemonic: "SAHF",
      asm: "sahf",
      init: { eax: ah << 8, eflags: OF | (ah & 1 ? 0 : CF) },
      flagsMask: ALL,
    });
  }
  for (const fl of [0, ARITH, DF, CF | DF | OF]) {
    add({
      name: `pushfd/pop flags=${hex(fl)} (masked)`,
      mnemonic: "PUSHF",
      asm: "pushfd\npop eax\nand eax, 0xcd5",
      init: { eflags: fl },
      flagsMask: 0,
    });
  }
  add({
    name: "pushfd raw (reserved bit 1 and IF=1 at CPL 3)",
    mnemonic: "PUSHF",
    asm: "pushfd\npop eax\nand eax, 0xfffcffff ; VM/RF read as 0 anyway",
    init: { eflags: CF },
    flagsMask: 0,
  });
  add({
    name: "pushfw/pop",
    mnemonic: "PUSHF",
    asm: "pushfw\npop cx\nand ecx, 0xcd5",
    init: { ecx: 0xffffffff, eflags: SF | CF },
    flagsMask: ALL,
  });
  for (const v of [0, ARITH, DF | ZF, 0xffffffff & ~0x40100, 0x8d5]) {
    add({
      name: `popfd ${hex(v)}`,
      mnemonic: "POPF",
      asm: `push dword ${hex(v & ~0x40000)}\npopfd`,
      init: { eflags: v & ARITH ? 0 : ARITH },
      flagsMask: ALL,
    });
  }
  add({ name: "popfw", mnemonic: "POPF", asm: "push word 0x0891\npopfw", flagsMask: ALL });
  for (const [op, fl] of [
    ["clc", ALL],
    ["stc", 0],
    ["cmc", 0],
    ["cmc", CF | ZF],
    ["cld", DF | CF],
    ["std", 0],
  ] as [string, number][]) {
    add({
      name: `${op} flags=${hex(fl)}`,
      mnemonic: op.toUpperCase(),
      asm: op,
      init: { eflags: fl },
      flagsMask: ALL,
    });
  }
  add({
    name: "std then pushfd",
    mnemonic: "STD",
    asm: "std\npushfd\ncld\npop eax\nand eax, 0x400",
    flagsMask: ALL,
  });

  // ---------------------------------------------------------------- SETcc CMOVcc Jcc
  const conds = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
  const condFlags = [0, CF, ZF, SF, OF, PF, SF | OF, ZF | CF, ZF | SF, OF | ZF];
  for (const cc of conds) {
    for (const fl of condFlags) {
      add({
        name: `set${cc} r8 flags=${hex(fl)}`,
        mnemonic: "SETCC",
        asm: `set${cc} dh`,
        init: { edx: 0xffffffff, eflags: fl },
        flagsMask: ALL,
      });
    }
    add({
      name: `set${cc} m8`,
      mnemonic: "SETCC",
      asm: `set${cc} [ebx+1]`,
      memReg: "ebx",
      mem: [0x55, 0x55, 0x55],
      init: { eflags: SF | CF },
      flagsMask: ALL,
    });
    for (const fl of [0, CF | ZF, SF | PF, OF]) {
      add({
        name: `cmov${cc} r32,r32 flags=${hex(fl)}`,
        mnemonic: "CMOVCC",
        asm: `cmov${cc} eax, ecx`,
        init: { eax: 0x11111111, ecx: 0x22222222, eflags: fl },
        flagsMask: ALL,
      });
    }
    for (const fl of [0, ZF | SF | OF | CF | PF]) {
      add({
        name: `cmov${cc} r16,m16 flags=${hex(fl)}`,
        mnemonic: "CMOVCC",
        asm: `cmov${cc} ax, [ebx+2]`,
        memReg: "ebx",
        mem: [1, 2, 3, 4, 5, 6],
        init: { eax: 0x11111111, eflags: fl },
        flagsMask: ALL,
      });
      for (const form of ["short", "near"]) {
        add({
          name: `j${cc} ${form} flags=${hex(fl)}`,
          mnemonic: "JCC",
          asm: `mov eax, 1\nj${cc} ${form} .t\nmov eax, 2\njmp .end\n${form === "near" ? "times 200 nop\n" : ""}.t: mov ecx, 3`,
          init: { eflags: fl, ecx: 0 },
          flagsMask: ALL,
        });
      }
    }
    add({
      name: `j${cc} short backward`,
      mnemonic: "JCC",
      asm: `jmp .fwd\n.back: mov edx, 7\njmp .end\n.fwd: j${cc} .back\nmov edx, 9`,
      init: { eflags: CF | ZF },
      flagsMask: ALL,
    });
  }

  // ---------------------------------------------------------------- JMP CALL RET
  add({
    name: "jmp short",
    mnemonic: "JMP",
    asm: "jmp short .t\nmov eax, 1\n.t: mov ebx, 2",
    flagsMask: ALL,
  });
  add({
    name: "jmp near",
    mnemonic: "JMP",
    asm: "jmp near .t\nmov eax, 1\ntimes 300 nop\n.t: mov ebx, 2",
    flagsMask: ALL,
  });
  add({
    name: "jmp rel32 (E9) zero offset",
    mnemonic: "JMP",
    asm: "db 0xe9\ndd 0\nmov ebx, 5",
    flagsMask: ALL,
  });
  add({
    name: "jmp r32 (FF /4)",
    mnemonic: "JMP",
    asm: "call .n\n.n: pop ebx\nadd ebx, .t - .n\njmp ebx\nmov eax, 1\n.t: mov ebx, 0\nmov ecx, 7",
    flagsMask: 0,
  });
  add({
    name: "jmp m32 (FF /4)",
    mnemonic: "JMP",
    asm: "call .n\n.n: pop ecx\nadd ecx, .t - .n\nmov [ebx+4], ecx\njmp [ebx+4]\nmov eax, 1\n.t: mov ecx, 0\nmov dword [ebx+4], 0\nmov edx, 7",
    memReg: "ebx",
    flagsMask: 0,
  });
  add({
    name: "call rel32 / ret (return address observed)",
    mnemonic: "CALL",
    asm: "call .n\n.n: pop ebx\ncall .f\n.r: jmp .end\n.f: mov eax, [esp]\nsub eax, ebx\nret",
    flagsMask: 0,
    init: { eax: 0 },
    skipRegs: ["ebx"],
  });
  add({
    name: "call r32 (FF /2)",
    mnemonic: "CALL",
    asm: "call .n\n.n: pop ebx\nlea ecx, [ebx + .f - .n]\ncall ecx\nmov ebx, 0\nmov ecx, 0\njmp .end\n.f: mov eax, [esp]\nsub eax, ebx\nret",
    flagsMask: 0,
  });
  add({
    name: "call m32 (FF /2)",
    mnemonic: "CALL",
    asm: "call .n\n.n: pop ecx\nlea ecx, [ecx + .f - .n]\nmov [esi+8], ecx\nxor ecx, ecx\ncall [esi+8]\nmov edx, 5\njmp .end\n.f: mov dword [esi+8], 0\nmov eax, 1\nret",
    memReg: "esi",
    flagsMask: ALL & ~ARITH,
  });
  for (const n of [0, 4, 8, 0x10]) {
    add({
      name: `ret imm16 ${n}`,
      mnemonic: "RET",
      asm: `mov edx, esp\npush 0x11\npush 0x22\npush 0x33\npush 0x44\npush 0x55\ncall .f\nmov eax, esp\nsub eax, edx\nmov ecx, [esp]\nmov edx, 0\njmp .end\n.f: ret ${n}`,
      flagsMask: 0,
    });
  }
  add({
    name: "ret (C3) nested calls",
    mnemonic: "RET",
    asm: "call .a\njmp .end\n.a: inc eax\ncall .b\ninc eax\nret\n.b: add eax, 10\nret",
    init: { eax: 0 },
    flagsMask: ALL & ~ARITH,
  });
  add({
    name: "ret imm16 via C2 0000",
    mnemonic: "RET",
    asm: "call .f\nmov edx, 1\njmp .end\n.f: db 0xc2, 0, 0",
    flagsMask: ALL,
  });

  // ---------------------------------------------------------------- LOOP family, JECXZ/JCXZ
  for (const n of [1, 5, 17]) {
    add({
      name: `loop ecx=${n}`,
      mnemonic: "LOOP",
      asm: ".l: add eax, 2\nloop .l",
      init: { eax: 0, ecx: n },
      flagsMask: ALL & ~ARITH,
    });
  }
  add({
    name: "loop cx (0x67) upper ecx preserved",
    mnemonic: "LOOP",
    asm: ".l: inc eax\nloop .l, cx",
    init: { eax: 0, ecx: 0xabcd0003 },
    flagsMask: ALL & ~ARITH,
  });
  add({
    name: "loop not taken ecx=1 keeps flags",
    mnemonic: "LOOP",
    asm: "loop .x\nmov eax, 1\n.x: nop",
    init: { ecx: 1, eflags: ZF | CF },
    flagsMask: ALL,
  });
  for (const op of ["loope", "loopne"]) {
    for (const [ecx, fl] of [
      [5, ZF],
      [5, 0],
      [1, ZF],
    ]) {
      add({
        name: `${op} ecx=${ecx} zf=${fl ? 1 : 0}`,
        mnemonic: op.toUpperCase(),
        asm: `jmp .s\n.l: inc eax\ncmp eax, 3\n.s: ${op} .l`,
        init: { eax: 0, ecx: ecx, eflags: fl },
        flagsMask: ALL,
      });
    }
  }
  for (const ecx of [0, 1, 0x10000]) {
    add({
      name: `jecxz ecx=${hex(ecx)}`,
      mnemonic: "JECXZ",
      asm: "mov eax, 1\njecxz .t\nmov eax, 2\n.t: nop",
      init: { ecx },
      flagsMask: ALL,
    });
    add({
      name: `jcxz (0x67) ecx=${hex(ecx)}`,
      mnemonic: "JECXZ",
      asm: "mov eax, 1\njcxz .t\nmov eax, 2\n.t: nop",
      init: { ecx },
      flagsMask: ALL,
    });
  }

  // ---------------------------------------------------------------- PUSH POP PUSHA POPA ENTER LEAVE
  for (const r of REGS) {
    add({
      name: `push/pop ${r}`,
      mnemonic: "PUSH",
      asm: `push ${r}\npop eax\nadd eax, 1`,
      init: { [r]: 0x13572468 },
      flagsMask: 0,
    });
    add({ name: `pop ${r}`, mnemonic: "POP", asm: `push 0x7eadbeef\npop ${r}`, flagsMask: ALL });
  }
  add({ name: "push imm8 sign-extended", mnemonic: "PUSH", asm: "push byte -2\npop ecx", flagsMask: ALL });
  add({ name: "push imm32", mnemonic: "PUSH", asm: "push dword 0x12345678\npop ecx", flagsMask: ALL });
  add({
    name: "push imm16 (o16)",
    mnemonic: "PUSH",
    asm: "push word 0x8765\npush word 0x4321\npop ecx",
    flagsMask: ALL,
  });
  add({
    name: "push r16/pop r16",
    mnemonic: "PUSH",
    asm: "push ax\npush bx\npush cx\npop edx\npop si",
    init: { eax: 0xaaaa1111, ebx: 0xbbbb2222, esi: 0xffffffff },
    flagsMask: ALL,
  });
  add({
    name: "push m32",
    mnemonic: "PUSH",
    asm: "push dword [ebx+4]\npop eax",
    memReg: "ebx",
    mem: pattern(8, 12),
    flagsMask: ALL,
  });
  add({
    name: "push m16",
    mnemonic: "PUSH",
    asm: "push word [ebx+4]\npush word [ebx+1]\npop eax",
    memReg: "ebx",
    mem: pattern(8, 13),
    flagsMask: ALL,
  });
  add({
    name: "pop m32",
    mnemonic: "POP",
    asm: "push dword 0xa1b2c3d4\npop dword [ebx+2]",
    memReg: "ebx",
    flagsMask: ALL,
  });
  add({
    name: "pop m16",
    mnemonic: "POP",
    asm: "push word 0xa1b2\npop word [ebx+2]",
    memReg: "ebx",
    flagsMask: ALL,
  });
  add({
    name: "push esp pushes the old value",
    mnemonic: "PUSH",
    asm: "push esp\npop eax\nsub eax, esp",
    flagsMask: 0,
  });
  add({
    name: "pop esp",
    mnemonic: "POP",
    asm: "mov eax, esp\npush esp\npop esp\nsub eax, esp",
    flagsMask: 0,
  });
  add({
    name: "pop [esp] uses the incremented esp",
    mnemonic: "POP",
    asm: "push 1\npush 2\npop dword [esp]\npop eax",
    flagsMask: ALL,
  });
  add({
    name: "push [esp]",
    mnemonic: "PUSH",
    asm: "push 0x42\npush dword [esp]\npop eax\npop ecx",
    flagsMask: ALL,
  });
  add({
    name: "pushad layout",
    mnemonic: "PUSHA",
    asm: "pushad\nmov eax, [esp+12]\nsub eax, esp\nmov ecx, [esp+28]\nmov edx, [esp+0]\nmov ebx, [esp+8]\nmov esi, [esp+16]\nmov edi, [esp+24]\nmov ebp, [esp+20]\nadd esp, 32",
    init: { eax: 1, ecx: 2, edx: 3, ebx: 4, ebp: 5, esi: 6, edi: 7 },
    flagsMask: 0,
  });
  add({
    name: "pushad; popad round trip (esp skipped)",
    mnemonic: "POPA",
    asm: "pushad\nmov dword [esp+12], 0\nmov dword [esp+0], 0x77\nmov dword [esp+28], 0x99\npopad",
    init: { eax: 1, ecx: 2, edx: 3, ebx: 4, ebp: 5, esi: 6, edi: 7 },
    flagsMask: ALL,
  });
  add({
    name: "pushaw/popaw",
    mnemonic: "PUSHA",
    asm: "pushaw\nmov word [esp+14], 0xabcd\nmov word [esp+0], 0x1234\nmov word [esp+8], 0x0\npopaw",
    init: {
      eax: 0x11110001,
      ecx: 0x22220002,
      edx: 0x33330003,
      ebx: 0x44440004,
      ebp: 0x55550005,
      esi: 0x66660006,
      edi: 0x77770007,
    },
    flagsMask: ALL,
  });
  add({
    name: "pushaw layout",
    mnemonic: "PUSHA",
    asm: "pushaw\npop ax\npop bx\npop cx\npop dx\npop dx\npop dx\npop si\npop di",
    init: {
      eax: 0x11110001,
      ecx: 0x22220002,
      edx: 0x33330003,
      ebx: 0x44440004,
      ebp: 0x55550005,
      esi: 0x66660006,
      edi: 0x77770007,
    },
    flagsMask: ALL,
  });
  for (const [size, level] of [
    [0, 0],
    [16, 0],
    [8, 1],
    [4, 2],
    [12, 3],
    [0, 5],
  ]) {
    add({
      name: `enter ${size},${level}`,
      mnemonic: "ENTER",
      // ebp points into the buffer, so the nested-level copies read buffer memory
      asm: [
        "mov edx, esp",
        "add ebp, 0x80",
        `enter ${size}, ${level}`,
        "mov eax, esp",
        "sub eax, edx",
        "mov ecx, ebp",
        "sub ecx, edx",
        ...(level >= 1 ? [`mov esi, [esp + ${size}]`, "sub esi, edx"] : []),
        ...(level >= 2 ? ["mov edi, [ebp - 4]", `mov ebx, [ebp - ${4 * (level - 1)}]`] : []),
        "leave",
        "sub edx, esp",
      ].join("\n"),
      memReg: "ebp",
      mem: pattern(0x80, 14),
      flagsMask: 0,
    });
  }
  add({
    name: "leave",
    mnemonic: "LEAVE",
    asm: "mov edx, esp\npush ebp\nmov ebp, esp\nsub esp, 0x40\npush 0x5555\nleave\nmov eax, esp\nsub eax, edx\nmov edx, 0",
    init: { ebp: 0x10203040 },
    flagsMask: 0,
  });

  // ---------------------------------------------------------------- string instructions
  const strOps = ["movs", "cmps", "stos", "lods", "scas"];
  const sfx: Record<Size, string> = { 8: "b", 16: "w", 32: "d" };
  for (const op of strOps) {
    const M = op.toUpperCase();
    for (const s of SIZES) {
      for (const df of [0, DF]) {
        const reps = op === "cmps" || op === "scas" ? ["", "rep ", "repe ", "repne "] : ["", "rep "];
        for (const rep of reps) {
          for (const ecx of rep ? [0, 5] : [3]) {
            const start = df ? 0x3c : 0x04;
            // cmps/scas: equal bytes up to index 2, then differ (from the start side)
            const mem = pattern(256, 15);
            for (let i = 0; i < 64; i++) mem[0x80 + i] = mem[i];
            const d = df ? -1 : 1;
            const diffAt = start + d * 3 * (s / 8);
            mem[0x80 + diffAt] ^= 0x40;
            add({
              name: `${rep}${op}${sfx[s]} df=${df ? 1 : 0} ecx=${rep ? ecx : "-"}`,
              mnemonic: M,
              asm: `lea edi, [esi+${0x80 + start}]\nlea esi, [esi+${start}]\n${rep}${op}${sfx[s]}`,
              memReg: "esi",
              relRegs: ["edi"],
              mem,
              init: {
                eflags: df | (ecx === 0 ? ALL & ~DF : 0),
                ecx,
                eax: 0x12345678 ^ mem[0x80 + start + (rep === "repne " ? 0 : d * s)],
              },
              flagsMask: ALL,
            });
          }
        }
      }
    }
  }
  add({
    name: "repne scasb finds terminator",
    mnemonic: "SCAS",
    asm: "mov edi, esi\nmov ecx, -1\nxor eax, eax\nrepne scasb\nnot ecx\ndec ecx",
    memReg: "esi",
    relRegs: ["edi"],
    mem: [...Array.from("hello, world", (ch) => ch.charCodeAt(0)), 0],
    flagsMask: ALL,
  });
  add({
    name: "rep movsd overlapping forward",
    mnemonic: "MOVS",
    asm: "lea edi, [esi+4]\nmov ecx, 6\nrep movsd",
    memReg: "esi",
    relRegs: ["edi"],
    mem: pattern(40, 16),
    flagsMask: ALL,
  });
  // INC/DEC followed by conditions that read their flags: the JIT tests INC/DEC results directly
  // (OF at the signed boundary, ZF, SF, L, LE) and leaves CF-based conditions to the lazy record.
  const incdec: [string, string, number][] = [
    ["inc eax", "eax", 0x7fffffff],
    ["inc eax", "eax", 0xffffffff],
    ["dec eax", "eax", 0x80000000],
    ["dec eax", "eax", 1],
    ["dec eax", "eax", 0],
    ["inc ax", "eax", 0x12347fff],
    ["dec al", "eax", 0x55aa5580],
    ["inc al", "eax", 0x000000ff],
  ];
  for (const [op, reg, v] of incdec)
    add({
      name: `${op} at ${hex(v)} then seto/sete/sets/setl/setle/setb/setbe`,
      mnemonic: op.startsWith("inc") ? "INC" : "DEC",
      asm: `${op}\nseto bl\nsete bh\nsets cl\nsetl ch\nsetle dl\nsetb dh\nsetbe byte [esi]`,
      init: { [reg]: v, ebx: 0, ecx: 0, edx: 0 },
      memReg: "esi",
      flagsMask: ALL,
    });

  // Long REP MOVS/STOS: the emulator copies whole pages at once, so these cross a page boundary of
  // the (page-aligned) buffer, unaligned, in both directions, with the overlaps where an
  // element-wise copy differs from a block move.
  const page2 = {
    memReg: "ebx" as Reg,
    memSize: 8192,
    mem: pattern(8192, 7),
    relRegs: ["esi", "edi"] as Reg[],
  };
  const stos2 = { ...page2, relRegs: ["edi"] as Reg[] };
  add({
    ...page2,
    name: "rep movsd across a page boundary, unaligned",
    mnemonic: "MOVS",
    asm: "lea esi, [ebx+0xfa2]\nlea edi, [ebx+0x10f1]\nmov ecx, 0x90\nrep movsd",
    flagsMask: ALL,
  });
  add({
    ...page2,
    name: "rep movsd backward (std) over a page boundary, destination above the source",
    mnemonic: "MOVS",
    asm: "std\nlea esi, [ebx+0x1040]\nlea edi, [ebx+0x1043]\nmov ecx, 0x70\nrep movsd\ncld",
    flagsMask: ALL,
  });
  add({
    ...page2,
    name: "rep movsb forward with the destination one byte above the source replicates a byte",
    mnemonic: "MOVS",
    asm: "lea esi, [ebx+0xff0]\nlea edi, [ebx+0xff1]\nmov ecx, 0x40\nrep movsb",
    flagsMask: ALL,
  });
  add({
    ...page2,
    name: "rep movsw backward with the destination below the source",
    mnemonic: "MOVS",
    asm: "std\nlea esi, [ebx+0x1020]\nlea edi, [ebx+0x101e]\nmov ecx, 0x40\nrep movsw\ncld",
    flagsMask: ALL,
  });
  add({
    ...page2,
    name: "rep movsd of more than a page",
    mnemonic: "MOVS",
    asm: "lea esi, [ebx+0x10]\nlea edi, [ebx+0x1000]\nmov ecx, 0x3f0\nrep movsd",
    flagsMask: ALL,
  });
  add({
    ...stos2,
    name: "rep stosw backward over a page boundary with a two-byte pattern",
    mnemonic: "STOS",
    asm: "std\nlea edi, [ebx+0x1010]\nmov ecx, 0x30\nmov eax, 0x1234abcd\nrep stosw\ncld",
    flagsMask: ALL,
  });
  add({
    ...stos2,
    name: "rep stosd unaligned across a page boundary",
    mnemonic: "STOS",
    asm: "lea edi, [ebx+0xfe1]\nmov ecx, 0x50\nmov eax, 0x5a5a5a5a\nrep stosd",
    flagsMask: ALL,
  });
  add({
    ...stos2,
    name: "rep stosd across a page boundary with a four-byte pattern",
    mnemonic: "STOS",
    asm: "lea edi, [ebx+0xf00]\nmov ecx, 0x100\nmov eax, 0x89abcdef\nrep stosd",
    flagsMask: ALL,
  });
  add({
    ...stos2,
    name: "rep stosb of more than a page",
    mnemonic: "STOS",
    asm: "lea edi, [ebx+0x100]\nmov ecx, 0x1500\nmov al, 0x77\nrep stosb",
    flagsMask: ALL,
  });
  add({
    name: "rep stosd with segment override prefix on the other operand is ignored (es: fixed)",
    mnemonic: "STOS",
    asm: "mov edi, esi\nmov ecx, 3\nmov eax, 0xfeedface\ndb 0x3e\nrep stosd",
    memReg: "esi",
    relRegs: ["edi"],
    flagsMask: ALL,
  });
  add({
    name: "ds: override on movsb source (cs:, ss:)",
    mnemonic: "MOVS",
    asm: "lea edi, [esi+16]\ncs movsb\nss movsb\nds movsb",
    memReg: "esi",
    relRegs: ["edi"],
    mem: pattern(8, 17),
    flagsMask: ALL,
  });
  for (const al of [0, 3, 0xff]) {
    add({
      name: `xlatb al=${hex(al)}`,
      mnemonic: "XLAT",
      asm: "xlatb",
      memReg: "ebx",
      mem: pattern(256, 18),
      init: { eax: 0xabcdef00 | al },
      flagsMask: ALL,
    });
  }

  // ---------------------------------------------------------------- BCD
  const bcdAl = [
    0x00, 0x09, 0x0a, 0x0f, 0x19, 0x1a, 0x79, 0x7f, 0x80, 0x99, 0x9a, 0xa0, 0xf9, 0xfa, 0xff, 0x50, 0x66,
  ];
  const bcdMask: Record<string, number> = {
    daa: ALL & ~OF,
    das: ALL & ~OF,
    aaa: ALL & ~(OF | SF | ZF | PF),
    aas: ALL & ~(OF | SF | ZF | PF),
  };
  for (const op of ["daa", "das", "aaa", "aas"]) {
    for (const al of bcdAl) {
      for (const fl of [0, AF, CF, AF | CF]) {
        add({
          name: `${op} al=${hex(al)} af=${fl & AF ? 1 : 0} cf=${fl & CF}`,
          mnemonic: op.toUpperCase(),
          asm: op,
          init: { eax: 0x12340500 | al, eflags: fl },
          flagsMask: bcdMask[op],
        });
      }
    }
  }
  for (const [ax, imm] of [
    [0x00, 10],
    [0x63, 10],
    [0xff, 10],
    [0x4f, 16],
    [0x80, 7],
    [0x1209, 10],
    [0x30, 0],
  ]) {
    add({
      name: `aam ${imm} al=${hex(ax)}`,
      mnemonic: "AAM",
      asm: imm === 10 ? "aam" : `aam ${imm}`,
      init: { eax: 0x55550000 | ax, eflags: AF | CF | OF },
      flagsMask: ALL & ~(OF | AF | CF),
    });
  }
  for (const [ax, imm] of [
    [0x0000, 10],
    [0x0909, 10],
    [0x0f0f, 10],
    [0xffff, 10],
    [0x0203, 16],
    [0x1234, 7],
    [0x0180, 0],
  ]) {
    add({
      name: `aad ${imm} ax=${hex(ax)}`,
      mnemonic: "AAD",
      asm: imm === 10 ? "aad" : `aad ${imm}`,
      init: { eax: 0x55550000 | ax },
      flagsMask: ALL & ~(OF | AF | CF),
    });
  }

  // ---------------------------------------------------------------- exceptions and traps
  add({
    name: "int3 (CC) -> #BP trap",
    mnemonic: "INT3",
    asm: "mov eax, 1\nint3\nmov eax, 2",
    init: { eflags: CF },
    flagsMask: ALL,
  });
  add({
    name: "int 3 (CD 03) -> #BP trap",
    mnemonic: "INT3",
    asm: "mov eax, 1\nint 3\nmov eax, 2",
    flagsMask: ALL,
  });
  add({
    name: "into OF=1 -> #OF trap",
    mnemonic: "INTO",
    asm: "mov eax, 1\ninto\nmov eax, 2",
    init: { eflags: OF },
    flagsMask: ALL,
  });
  add({
    name: "into OF=0 no trap",
    mnemonic: "INTO",
    asm: "mov eax, 1\ninto\nmov eax, 2",
    init: { eflags: SF },
    flagsMask: ALL,
  });
  for (const [idx, lo, hi] of [
    [5, 0, 10],
    [0, 0, 10],
    [10, 0, 10],
    [11, 0, 10],
    [-1, 0, 10],
    [-5, -10, -1],
    [0x7fffffff, 0x80000000, 0x7fffffff],
  ]) {
    add({
      name: `bound r32 idx=${idx} [${lo},${hi}]`,
      mnemonic: "BOUND",
      asm: "mov edx, 1\nbound eax, [ebx+4]\nmov edx, 2",
      memReg: "ebx",
      mem: memWith(16, [4, le(lo, 4)], [8, le(hi, 4)]),
      init: { eax: idx >>> 0 },
      flagsMask: ALL,
    });
  }
  for (const idx of [3, 0x7fff, 0x8000]) {
    add({
      name: `bound r16 idx=${hex(idx)} [-2,0x100]`,
      mnemonic: "BOUND",
      asm: "bound ax, [ebx+4]\nmov edx, 2",
      memReg: "ebx",
      mem: memWith(16, [4, le(-2, 2)], [6, le(0x100, 2)]),
      init: { eax: 0xffff0000 | idx },
      flagsMask: ALL,
    });
  }
  add({ name: "ud2 -> #UD", mnemonic: "UD2", asm: "mov eax, 1\nud2\nmov eax, 2", flagsMask: ALL });
  add({
    name: "div by zero -> #DE keeps registers",
    mnemonic: "DIV",
    asm: "mov eax, 7\ndiv ecx",
    init: { ecx: 0, edx: 3 },
    flagsMask: DF,
  });
  for (const [n, asm] of [
    ["hlt", "hlt"],
    ["cli", "cli"],
    ["sti", "sti"],
    ["in al,dx", "in al, dx"],
    ["out dx,al", "out dx, al"],
    ["in eax,imm8", "in eax, 0x60"],
    ["insb", "insb"],
    ["mov eax,cr0", "mov eax, cr0"],
    ["mov cr3,eax", "mov cr3, eax"],
    ["lgdt", "lgdt [ebx]"],
    ["invd", "invd"],
    ["wbinvd", "wbinvd"],
    ["rdmsr", "rdmsr"],
    ["wrmsr", "wrmsr"],
    ["clts", "clts"],
    ["invlpg", "invlpg [ebx]"],
    ["lidt", "lidt [ebx]"],
    ["ltr ax", "ltr ax"],
    ["lldt ax", "lldt ax"],
    ["mov eax,dr7", "mov eax, dr7"],
  ] as [string, string][]) {
    add({
      name: `${n} at CPL 3 -> #GP(0)`,
      mnemonic: "PRIV",
      asm: `mov esi, 1\n${asm}\nmov esi, 2`,
      memReg: asm.includes("[ebx]") ? "ebx" : null,
      init: { edx: 0x80, ecx: 0x10 },
      flagsMask: ALL,
    });
  }
  add({
    name: "15-byte instruction is legal",
    mnemonic: "PREFIX",
    asm: "times 14 db 0x66\nnop\nmov eax, 3",
    flagsMask: ALL,
  });
  add({
    name: "16-byte instruction -> #GP(0)",
    mnemonic: "PREFIX",
    asm: "mov eax, 1\ntimes 15 db 0x66\nnop\nmov eax, 3",
    flagsMask: ALL,
  });

  // ---------------------------------------------------------------- NOPs, prefixes, LOCK, SALC
  for (const [n, asm] of [
    ["nop (90)", "nop"],
    ["o16 nop (66 90)", "db 0x66, 0x90"],
    ["pause (F3 90)", "pause"],
    ["nopl [eax] (0F 1F 00)", "nop dword [eax]"],
    ["nopl [eax+0] disp8", "db 0x0f, 0x1f, 0x40, 0x00"],
    ["nopl [eax+eax*1+0] SIB", "db 0x0f, 0x1f, 0x44, 0x00, 0x00"],
    ["nopw [eax+eax*1+0]", "db 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00"],
    ["nopl [eax+0] disp32", "db 0x0f, 0x1f, 0x80, 0, 0, 0, 0"],
    ["nopl [eax+eax*1+0] disp32", "db 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0"],
    ["nopw cs:[eax+eax*1+0] disp32", "db 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0"],
    ["nop r32 (0F 1F C0)", "db 0x0f, 0x1f, 0xc0"],
    ["nopl does not access memory", "nop dword [ecx+0x12345678]"],
  ] as [string, string][]) {
    add({
      name: n,
      mnemonic: "NOP",
      asm,
      init: { eax: 0, ecx: 0xdeadbeef, eflags: CF | ZF },
      flagsMask: ALL,
    });
  }
  for (const fl of [0, CF]) {
    add({
      name: `salc cf=${fl}`,
      mnemonic: "SALC",
      asm: "salc",
      init: { eax: 0x12345678, eflags: fl | ZF },
      flagsMask: ALL,
    });
  }
  for (const [seg, b] of [
    ["ds", "0x3e"],
    ["es", "0x26"],
    ["ss", "0x36"],
    ["cs", "0x2e"],
  ]) {
    add({
      name: `${seg}: override on load`,
      mnemonic: "MOV",
      asm: `${seg} mov eax, [ebx+4]\n${seg} add ecx, [ebx+8]`,
      memReg: "ebx",
      mem: pattern(16, 19),
      init: { ecx: 1 },
      flagsMask: ALL,
    });
    if (seg !== "cs") {
      add({
        name: `${seg}: override on store`,
        mnemonic: "MOV",
        asm: `${seg} mov [ebx+4], ecx`,
        memReg: "ebx",
        init: { ecx: 0x1234abcd },
        flagsMask: ALL,
      });
    }
    add({
      name: `${seg}: prefix on a register instruction`,
      mnemonic: "PREFIX",
      asm: `db ${b}\nadd eax, ecx`,
      init: { eax: 5, ecx: 7 },
      flagsMask: ALL,
    });
  }
  add({
    name: "branch hint prefixes on jcc",
    mnemonic: "PREFIX",
    asm: "db 0x3e\njz .t\nmov eax, 1\n.t: db 0x2e\njnz .u\nmov ecx, 2\n.u: nop",
    init: { eflags: ZF },
    flagsMask: ALL,
  });
  add({
    name: "redundant 66 66",
    mnemonic: "PREFIX",
    asm: "db 0x66, 0x66\nadd eax, ebx",
    init: { eax: 0x1234ffff, ebx: 0x11110001 },
    flagsMask: ALL,
  });
  add({
    name: "66 then 67 on register op",
    mnemonic: "PREFIX",
    asm: "db 0x66, 0x67\ninc eax",
    init: { eax: 0x1234ffff },
    flagsMask: ALL,
  });
  add({
    name: "rep prefix on non-string op ignored",
    mnemonic: "PREFIX",
    asm: "db 0xf3\nadd eax, ebx\ndb 0xf2\nsub ecx, ebx",
    init: { eax: 1, ebx: 2, ecx: 3 },
    flagsMask: ALL,
  });
  add({
    name: "many segment prefixes, last wins (all flat)",
    mnemonic: "PREFIX",
    asm: "db 0x26, 0x2e, 0x36, 0x3e\nmov eax, [ebx]",
    memReg: "ebx",
    mem: [1, 2, 3, 4],
    flagsMask: ALL,
  });
  add({
    name: "66 prefix on imm16 mov",
    mnemonic: "PREFIX",
    asm: "db 0x66, 0xb8, 0x34, 0x12 ; mov ax, 0x1234\nmov ecx, 5",
    init: { eax: 0xffffffff },
    flagsMask: ALL,
  });
  for (const [n, asm, mr] of [
    ["lock add m32,r32", "lock add [ebx], eax", "ebx"],
    ["lock xadd m32,r32", "lock xadd [ebx], eax", "ebx"],
    ["lock cmpxchg m32,r32", "lock cmpxchg [ebx], ecx", "ebx"],
    ["lock bts m32,imm8", "lock bts dword [ebx], 3", "ebx"],
    ["lock inc m16", "lock inc word [ebx]", "ebx"],
    ["lock xchg m32,r32", "lock xchg [ebx], ecx", "ebx"],
    ["lock neg m8", "lock neg byte [ebx+1]", "ebx"],
    ["lock cmpxchg8b m64", "lock cmpxchg8b [ebx]", "ebx"],
  ] as [string, string, Reg][]) {
    add({
      name: n,
      mnemonic: "LOCK",
      asm,
      memReg: mr,
      mem: pattern(8, 20),
      init: { eax: 0x01010101, ecx: 7, edx: 0 },
      flagsMask: ALL,
    });
  }
  for (const [n, bytes] of [
    ["lock mov r32,r32 -> #UD", "0xf0, 0x89, 0xd8"],
    ["lock add r32,r32 (register dest) -> #UD", "0xf0, 0x01, 0xd8"],
    ["lock nop -> #UD", "0xf0, 0x90"],
    ["lock mov m32,r32 -> #UD", "0xf0, 0x89, 0x03"],
    ["lock cmp m32,r32 -> #UD", "0xf0, 0x39, 0x03"],
  ]) {
    add({
      name: n,
      mnemonic: "LOCK",
      asm: `mov ecx, 1\ndb ${bytes}\nmov ecx, 2`,
      memReg: "ebx",
      init: { eax: 3 },
      flagsMask: ALL,
    });
  }

  addX87(add);
  return cases;
}

// ---------------------------------------------------------------- x87
function addX87(add: (c: CaseDef) => void): void {
  const X = (
    name: string,
    mnemonic: string,
    body: string,
    mem: number[],
    extra: Partial<CaseDef> = {},
  ): void => add({ name, mnemonic, asm: `fninit\n${body}`, memReg: "ebx", mem, flagsMask: ALL, ...extra });

  // loads and stores in every format
  const dvals = [0, -0, 1, -1.5, 0.1, 1e300, -2.5e-310, Infinity, -Infinity, 3.141592653589793, 65536.25];
  for (const v of dvals) {
    X(
      `fld m64 ${v} / fstp m64,m32,m80`,
      "FLD",
      "fld qword [ebx]\nfst qword [ebx+8]\nfst dword [ebx+16]\nfstp tword [ebx+20]",
      memWith(32, [0, f64bytes(v)]),
    );
  }
  X(
    "fld m64 qnan / fstp m64",
    "FLD",
    "fld qword [ebx]\nfstp qword [ebx+8]",
    memWith(16, [0, le64(0x7ff8000000000123n)]),
  );
  X(
    "fld m64 snan -> qnan (IE masked)",
    "FLD",
    "fld qword [ebx]\nfstp qword [ebx+8]\nfnstsw ax\nand ax, 0xbaff",
    memWith(24, [0, le64(0x7ff0000000000123n)]),
  );
  for (const v of [0, 1, -0.375, 3.5e38, 1e-40, -Infinity]) {
    X(
      `fld m32 ${v} / fstp m64`,
      "FLD",
      "fld dword [ebx]\nfstp qword [ebx+8]\nfld dword [ebx]\nfstp dword [ebx+4]",
      memWith(16, [0, f32bytes(v)]),
    );
  }
  for (const [n, b] of [
    ["1.0", f80bytes(0, 0x3fff, 0x8000000000000000n)],
    ["-3.0", f80bytes(1, 0x4000, 0xc000000000000000n)],
    ["2^-16382", f80bytes(0, 0x0001, 0x8000000000000000n)],
    ["max", f80bytes(0, 0x7ffe, 0xffffffffffffffffn)],
    ["1+2^-63 (not a double)", f80bytes(0, 0x3fff, 0x8000000000000001n)],
  ] as [string, number[]][]) {
    X(
      `fld m80 ${n} / fstp m80, fst m64`,
      "FLD",
      "fld tword [ebx]\nfst qword [ebx+16]\nfstp tword [ebx+32]",
      memWith(48, [0, b]),
    );
  }
  X(
    "fld st(i) / fst st(i) / fstp st(i)",
    "FLD",
    "fld1\nfldz\nfld st1\nfst st2\nfstp st1\nfstp qword [ebx]\nfstp qword [ebx+8]\nfstp qword [ebx+16]\nfnstsw ax\nand ax, 0xbaff",
    [],
  );
  for (const [n, body] of [
    ["fldz", "fldz"],
    ["fld1", "fld1"],
    ["fldpi", "fldpi"],
    ["fldl2e", "fldl2e"],
    ["fldl2t", "fldl2t"],
    ["fldlg2", "fldlg2"],
    ["fldln2", "fldln2"],
  ]) {
    X(`${n} / fstp m64`, n.toUpperCase(), `${body}\nfstp qword [ebx]\nfnstsw ax\nand ax, 0xbaff`, []);
  }
  X("fld1 / fstp m80", "FLD1", "fld1\nfstp tword [ebx]", []);
  X("fldz; fchs / fstp m80 (negative zero)", "FCHS", "fldz\nfchs\nfstp tword [ebx]", []);

  // integer loads / stores
  for (const v of [0, 1, -1, 32767, -32768]) {
    X(`fild m16 ${v}`, "FILD", "fild word [ebx]\nfstp qword [ebx+8]", memWith(16, [0, le(v, 2)]));
  }
  for (const v of [0x7fffffff, -0x80000000, 123456789]) {
    X(`fild m32 ${v}`, "FILD", "fild dword [ebx]\nfstp qword [ebx+8]", memWith(16, [0, le(v, 4)]));
  }
  for (const v of [0x7fffffffffffffffn, -0x8000000000000000n, 1n, 0x0020000000000001n]) {
    X(`fild m64 ${v}`, "FILD", "fild qword [ebx]\nfstp tword [ebx+8]", memWith(24, [0, le64(v)]));
  }
  const rc = [
    ["nearest", 0x037f],
    ["down", 0x077f],
    ["up", 0x0b7f],
    ["chop", 0x0f7f],
  ] as const;
  for (const v of [2.5, -2.5, 1.5, 3.75, -0.5, 1e10, -1e20, 32767.5]) {
    for (const [rn, cw] of rc) {
      X(
        `fist/fistp ${v} rc=${rn}`,
        "FIST",
        "fldcw [ebx+8]\nfld qword [ebx]\nfist word [ebx+16]\nfist dword [ebx+20]\nfistp qword [ebx+24]\nfnstsw ax\nand ax, 0x3a01",
        memWith(32, [0, f64bytes(v)], [8, le(cw, 2)]),
      );
    }
  }
  X(
    "fistp m32 of NaN -> integer indefinite",
    "FIST",
    "fld qword [ebx]\nfistp dword [ebx+8]\nfnstsw ax\nand ax, 0x3aff",
    memWith(16, [0, le64(0x7ff8000000000000n)]),
  );
  for (const [rn, cw] of rc) {
    X(
      `frndint rc=${rn}`,
      "FRNDINT",
      "fldcw [ebx+8]\nfld qword [ebx]\nfrndint\nfstp qword [ebx+16]\nfld qword [ebx+24]\nfrndint\nfstp qword [ebx+32]",
      memWith(40, [0, f64bytes(-2.5)], [8, le(cw, 2)], [24, f64bytes(7.25)]),
    );
  }
  X(
    "fnstcw / fldcw",
    "FLDCW",
    "fnstcw [ebx]\nfldcw [ebx+4]\nfnstcw [ebx+8]\nfninit\nfnstcw [ebx+12]",
    memWith(16, [4, le(0x0c7f, 2)]),
  );
  X(
    "fnstsw m16 / fninit",
    "FNINIT",
    "fld1\nfld1\nfnstsw ax\nand ax, 0xbaff\nmov ecx, eax\nfninit\nfnstsw [ebx+2]\nfnstsw ax",
    [],
  );

  // arithmetic: m32, m64, st(i) forms, P variants, reversed forms, integer forms
  const ops = ["fadd", "fsub", "fsubr", "fmul", "fdiv", "fdivr"];
  const argPairs: [number, number][] = [
    [1.5, 0.25],
    [-3, 8],
    [1e300, 1e300],
    [6, 0],
    [1, 3],
    [0, -0],
    [Infinity, -Infinity],
  ];
  for (const op of ops) {
    const M = op.toUpperCase();
    for (const [a, b] of argPairs) {
      X(
        `${op} m64 ${a},${b}`,
        M,
        `fld qword [ebx]\n${op} qword [ebx+8]\nfstp qword [ebx+16]`,
        memWith(24, [0, f64bytes(a)], [8, f64bytes(b)]),
      );
      X(
        `${op} st0,st1 ${a},${b}`,
        M,
        `fld qword [ebx+8]\nfld qword [ebx]\n${op} st0, st1\nfstp qword [ebx+16]\nfstp qword [ebx+24]`,
        memWith(32, [0, f64bytes(a)], [8, f64bytes(b)]),
      );
      X(
        `${op} st1,st0 ${a},${b}`,
        M,
        `fld qword [ebx]\nfld qword [ebx+8]\n${op} st1, st0\nfstp qword [ebx+16]\nfstp qword [ebx+24]`,
        memWith(32, [0, f64bytes(a)], [8, f64bytes(b)]),
      );
      X(
        `${op}p st1,st0 ${a},${b}`,
        M,
        `fld qword [ebx]\nfld qword [ebx+8]\n${op}p st1, st0\nfstp qword [ebx+16]\nfnstsw ax\nand ax, 0xbaff`,
        memWith(24, [0, f64bytes(a)], [8, f64bytes(b)]),
      );
    }
    X(
      `${op} m32`,
      M,
      `fld qword [ebx]\n${op} dword [ebx+8]\nfstp qword [ebx+16]`,
      memWith(24, [0, f64bytes(10)], [8, f32bytes(-0.75)]),
    );
    X(
      `fi${op.slice(1)} m16`,
      M,
      `fld qword [ebx]\nfi${op.slice(1)} word [ebx+8]\nfstp qword [ebx+16]`,
      memWith(24, [0, f64bytes(10)], [8, le(-4, 2)]),
    );
    X(
      `fi${op.slice(1)} m32`,
      M,
      `fld qword [ebx]\nfi${op.slice(1)} dword [ebx+8]\nfstp qword [ebx+16]`,
      memWith(24, [0, f64bytes(0.5)], [8, le(100000, 4)]),
    );
    X(
      `${op}p (no operands = st1,st0)`,
      M,
      `fld qword [ebx]\nfld qword [ebx+8]\n${op}p\nfstp qword [ebx+16]`,
      memWith(24, [0, f64bytes(12)], [8, f64bytes(4)]),
    );
  }
  X(
    "fdiv 1/3 in double precision (PC=53)",
    "FDIV",
    "fldcw [ebx+24]\nfld1\nfdiv qword [ebx]\nfstp qword [ebx+8]",
    memWith(32, [0, f64bytes(3)], [24, le(0x027f, 2)]),
  );
  X(
    "fdiv by zero sets ZE (masked)",
    "FDIV",
    "fld1\nfdiv qword [ebx]\nfstp qword [ebx+8]\nfnstsw ax\nand ax, 0x3f",
    memWith(16, [0, f64bytes(0)]),
  );
  X(
    "fsqrt of -1 -> default NaN, IE",
    "FSQRT",
    "fld1\nfchs\nfsqrt\nfstp qword [ebx]\nfnstsw ax\nand ax, 0x3f",
    [],
  );
  for (const v of [2.25, 0, -0, 1e300, 4]) {
    X(`fsqrt ${v}`, "FSQRT", "fld qword [ebx]\nfsqrt\nfstp qword [ebx+8]", memWith(16, [0, f64bytes(v)]));
  }
  for (const v of [-1.5, 0, -0, -Infinity]) {
    X(
      `fabs/fchs ${v}`,
      "FABS",
      "fld qword [ebx]\nfabs\nfst qword [ebx+8]\nfchs\nfstp qword [ebx+16]",
      memWith(24, [0, f64bytes(v)]),
    );
  }
  X(
    "fxch",
    "FXCH",
    "fld qword [ebx]\nfld1\nfldz\nfxch st2\nfstp qword [ebx+8]\nfstp qword [ebx+16]\nfxch\nfstp qword [ebx+24]",
    memWith(32, [0, f64bytes(5)]),
  );
  X(
    "fxch st1 with empty st1 is a stack fault (masked)",
    "FXCH",
    "fld1\nfxch\nfstp qword [ebx]\nfstp qword [ebx+8]\nfnstsw ax\nand ax, 0xbaff",
    [],
  );
  X(
    "fscale",
    "FSCALE",
    "fld qword [ebx]\nfld qword [ebx+8]\nfscale\nfstp qword [ebx+16]\nfstp qword [ebx+24]",
    memWith(32, [0, f64bytes(-3.5)], [8, f64bytes(3)]),
  );
  X(
    "fxtract",
    "FXTRACT",
    "fld qword [ebx]\nfxtract\nfstp qword [ebx+8]\nfstp qword [ebx+16]",
    memWith(24, [0, f64bytes(-48)]),
  );
  X(
    "fprem 7/2",
    "FPREM",
    "fld qword [ebx+8]\nfld qword [ebx]\nfprem\nfnstsw ax\nfstp qword [ebx+16]",
    memWith(24, [0, f64bytes(7)], [8, f64bytes(2)]),
  );
  X(
    "fprem1 7/2",
    "FPREM1",
    "fld qword [ebx+8]\nfld qword [ebx]\nfprem1\nfnstsw ax\nfstp qword [ebx+16]",
    memWith(24, [0, f64bytes(7)], [8, f64bytes(2)]),
  );
  X(
    "fincstp/fdecstp/ffree",
    "FINCSTP",
    "fld1\nfincstp\nfnstsw ax\nand ax, 0xbaff\nmov ecx, eax\nfdecstp\nfnstsw ax\nand ax, 0xbaff\nmov edx, eax\nffree st0\nfnstsw ax\nand ax, 0xb8ff\nfninit\nfnstenv [ebx]",
    [],
    { memIgnore: FNSAVE_IGNORE },
  );
  X(
    "ftst",
    "FTST",
    "fld qword [ebx]\nftst\nfnstsw ax\nfld qword [ebx+8]\nftst\nmov ecx, eax\nfnstsw ax",
    memWith(16, [0, f64bytes(-2)], [8, f64bytes(0)]),
  );
  for (const v of [1, -0, Infinity, NaN]) {
    X(`fxam ${v}`, "FXAM", "fld qword [ebx]\nfxam\nfnstsw ax\nand ax, 0x4700", memWith(8, [0, f64bytes(v)]));
  }
  X("fxam empty", "FXAM", "fxam\nfnstsw ax\nand ax, 0x4500", []);

  // comparisons
  const cmpPairs: [number, number][] = [
    [1, 2],
    [2, 1],
    [3, 3],
    [0, -0],
    [1, NaN],
  ];
  for (const [a, b] of cmpPairs) {
    const mem = memWith(16, [0, f64bytes(a)], [8, f64bytes(b)]);
    for (const op of ["fcom", "fcomp", "fucom", "fucomp"]) {
      X(
        `${op} st1 ${a},${b}`,
        op.toUpperCase(),
        `fld qword [ebx+8]\nfld qword [ebx]\n${op} st1\nfnstsw ax`,
        mem,
      );
    }
    X(`fcom m64 ${a},${b}`, "FCOM", "fld qword [ebx]\nfcom qword [ebx+8]\nfnstsw ax", mem);
    X(
      `fcomp m32 ${a},${b}`,
      "FCOMP",
      "fld qword [ebx]\nfcomp dword [ebx+12]\nfnstsw ax",
      memWith(16, [0, f64bytes(a)], [12, f32bytes(b)]),
    );
    X(
      `ficom m16 ${a},2`,
      "FICOM",
      "fld qword [ebx]\nficom word [ebx+8]\nfnstsw ax",
      memWith(16, [0, f64bytes(a)], [8, le(2, 2)]),
    );
    X(`fcompp ${a},${b}`, "FCOMPP", "fld qword [ebx+8]\nfld qword [ebx]\nfcompp\nfnstsw ax", mem);
    X(`fucompp ${a},${b}`, "FUCOMPP", "fld qword [ebx+8]\nfld qword [ebx]\nfucompp\nfnstsw ax", mem);
    for (const op of ["fcomi", "fucomi", "fcomip", "fucomip"]) {
      X(
        `${op} ${a},${b}`,
        op.toUpperCase(),
        `fld qword [ebx+8]\nfld qword [ebx]\n${op} st0, st1\nfnstsw ax`,
        mem,
        { init: { eflags: SF | OF | AF } },
      );
    }
  }
  // FCMOVcc
  const fcm: [string, number[]][] = [
    ["fcmovb", [0, CF]],
    ["fcmove", [0, ZF]],
    ["fcmovbe", [0, CF, ZF]],
    ["fcmovu", [0, PF]],
    ["fcmovnb", [0, CF]],
    ["fcmovne", [0, ZF]],
    ["fcmovnbe", [0, CF, ZF]],
    ["fcmovnu", [0, PF]],
  ];
  for (const [op, fls] of fcm) {
    for (const fl of fls) {
      X(
        `${op} flags=${fl}`,
        "FCMOVCC",
        `fld qword [ebx]\nfld1\n${op} st0, st1\nfstp qword [ebx+8]`,
        memWith(16, [0, f64bytes(-7)]),
        { init: { eflags: fl } },
      );
    }
  }
  // state images
  X(
    "fnsave image (108 bytes) after loads",
    "FNSAVE",
    "fld1\nfild word [ebx+120]\nfldz\nfchs\nfnsave [ebx]\nand byte [ebx+5], 0xba ; C0 C2 C3 undefined after FCHS\nfnstsw ax\nfnstcw [ebx+124]",
    memWith(128, [120, le(-3, 2)]),
    { memIgnore: [...FNSAVE_IGNORE, [28 + 10 * 3, 108]] },
  );
  X(
    "fnsave / frstor round trip",
    "FRSTOR",
    "fld qword [ebx+112]\nfld1\nfldcw [ebx+120]\nfnsave [ebx]\nfld1\nfrstor [ebx]\nfnstcw [ebx+122]\nfstp qword [ebx+128]\nfstp qword [ebx+136]\nfnstsw ax\nand ax, 0xbaff\nand byte [ebx+5], 0xba",
    memWith(144, [112, f64bytes(-0.625)], [120, le(0x0e7f, 2)]),
    { memIgnore: [...FNSAVE_IGNORE, [28 + 10 * 2, 108]] },
  );
  X(
    "frstor crafted image",
    "FRSTOR",
    "frstor [ebx]\nfstp qword [ebx+112]\nfstp qword [ebx+120]\nfnstsw ax\nand ax, 0xbaff\nfnstcw [ebx+128]",
    memWith(
      132,
      [0, le(0x037f, 2)],
      [4, le(0x3000, 2)], // TOP=6
      [8, le(0x0fff, 2)], // tags: physical regs 6,7 valid, others empty
      [28, f80bytes(0, 0x4001, 0xa000000000000000n)], // ST0 = 5
      [38, f80bytes(1, 0x3ffe, 0xc000000000000000n)], // ST1 = -0.75
    ),
  );
  X(
    "fxsave image (512 bytes)",
    "FXSAVE",
    "fld1\nfild word [ebx+500]\nfldz\nfxsave [ebx]\nand byte [ebx+3], 0xba\nfnstsw ax\nand ax, 0xbaff",
    memWith(512, [500, le(1234, 2)]),
    { memSize: 512, memIgnore: fxsaveIgnore(3) },
  );
  X(
    "fxsave / fxrstor round trip",
    "FXRSTOR",
    "fld qword [ebx+496]\nfld1\nfxsave [ebx]\nfninit\nfxrstor [ebx]\nand byte [ebx+3], 0xba\nfstp qword [ebx+480]\nfstp qword [ebx+488]\nfnstsw ax\nand ax, 0xbaff",
    memWith(512, [496, f64bytes(2.75)]),
    { memSize: 512, memIgnore: fxsaveIgnore(2) },
  );
}

/** FNSAVE/FNSTENV bytes not compared: reserved halves of CW/SW/TW, FIP, FCS, FOP, FDP, FDS */
const FNSAVE_IGNORE: [number, number][] = [
  [2, 4],
  [6, 8],
  [10, 28],
];

/**
 * FXSAVE bytes not compared: reserved, FOP/FIP/FCS/FDP/FDS, MXCSR and the SSE part, and the slots of
 * empty registers (their contents are stale: FNINIT does not clear them). `valid` = registers in use.
 */
function fxsaveIgnore(valid: number): [number, number][] {
  const r: [number, number][] = [
    [5, 6],
    [6, 24],
    [24, 32],
  ];
  for (let i = 0; i < valid; i++) r.push([32 + 16 * i + 10, 32 + 16 * i + 16]);
  r.push([32 + 16 * valid, 480]);
  return r;
}
