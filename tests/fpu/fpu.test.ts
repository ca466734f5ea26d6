// x87 FPU and FXSAVE/FXRSTOR: layouts and semantics checked against values written in the Intel SDM
// (Vol. 1 ch. 8 and 10.5, Vol. 2 instruction pages, Vol. 3 table 9-1), by running code through the
// real CPU. Protected-mode cases use the CPL 3 snippet environment of the instruction tests;
// exception and real-mode cases use a small real-mode machine built here.
import { describe, expect, it } from "vitest";
import { runSnippet } from "../../src/engine/cpu/snippet.ts";
import { Cpu } from "../../src/engine/cpu/cpu.ts";
import { decode, DecodeError, Insn } from "../../src/engine/cpu/decoder.ts";
import { X87_OPCODES } from "../../src/engine/cpu/opcodes-x87.ts";
import { f80ToNumber, numberToF80, X87_SEMANTICS } from "../../src/engine/cpu/fpu.ts";
import { PhysicalMemory } from "../../src/engine/memory/memory.ts";
import { IoBus } from "../../src/engine/io.ts";
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS } from "../../src/engine/mmu/mmu.ts";

const hex = (s: string) =>
  Uint8Array.from((s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Run 32-bit code at CPL 3 (after FNINIT) with EBX = a 512-byte buffer initialised from `mem`. */
function pm(code: string, mem = "") {
  const buf = new Uint8Array(512);
  buf.set(hex(mem));
  const r = runSnippet({
    code: hex(code),
    regs: { eax: 0, ecx: 0, edx: 0, ebx: 0, ebp: 0, esi: 0, edi: 0 },
    eflags: 0,
    mem: buf,
    memReg: "ebx",
  });
  const u16 = (o: number) => r.mem[o] | (r.mem[o + 1] << 8);
  const u32 = (o: number) => (u16(o) | (u16(o + 2) << 16)) >>> 0;
  const bytes = (o: number, n: number) => toHex(r.mem.slice(o, o + n));
  /** 80-bit value at o as "SEXP MANTISSA" hex. */
  const f80 = (o: number) =>
    u16(o + 8)
      .toString(16)
      .padStart(4, "0") +
    " " +
    bytes(o, 8).match(/../g)!.reverse().join("");
  return { ...r, u16, u32, bytes, f80, ax: r.regs.eax & 0xffff };
}

/**
 * A real-mode machine: code at 0100:0000 (linear 0x1000), data at DS:0x2000 (DS = 0), FPU as after
 * FNINIT (the power-on CW unmasks every exception).
 */
function realMode(code: string, setCr0 = 0) {
  const cpu = new Cpu(new PhysicalMemory(1 << 20), new IoBus());
  cpu.fpu.init();
  cpu.loadRealSeg(1, 0x100);
  cpu.loadRealSeg(3, 0);
  cpu.eip = 0;
  cpu.setCr0(cpu.cr0 | setCr0);
  const bytes = hex(code);
  cpu.mem.u8.set(bytes, 0x1000);
  let fault: { vector: number; eip: number } | null = null;
  cpu.interruptHook = (vector) => {
    fault ??= { vector, eip: cpu.insnEip };
    cpu.halted = true;
    return true;
  };
  const m = {
    cpu,
    get fault() {
      return fault;
    },
    /** Execute n instructions (stops at a fault). */
    step(n = 1) {
      for (let k = 0; k < n && !fault; k++) cpu.step();
    },
    run() {
      for (let k = 0; k < 1000 && !fault && cpu.eip < bytes.length; k++) cpu.step();
    },
  };
  return m;
}

const SW_TOP = (sw: number) => (sw >> 11) & 7;

describe("x87 initial state", () => {
  it("power-on state (SDM Vol. 3 table 9-1): CW 0040h, SW 0, TW 5555h, registers +0", () => {
    const cpu = new Cpu(new PhysicalMemory(1 << 20), new IoBus());
    expect(cpu.fpu.cw).toBe(0x0040);
    expect(cpu.fpu.status).toBe(0);
    expect(cpu.fpu.tagWord).toBe(0x5555);
    expect(cpu.fpu.stNumber(0)).toBe(0);
  });

  it("FNINIT: CW=037Fh SW=0 TW=FFFFh (FNSTENV image, 32-bit protected format)", () => {
    // fninit; fnstenv [ebx]; fnstcw [ebx+40]; fnstsw [ebx+42]
    const r = pm("dbe3 d933 d97b28 dd7b2a");
    expect(r.u16(0)).toBe(0x037f);
    expect(r.u16(4)).toBe(0);
    expect(r.u16(8)).toBe(0xffff);
    expect(r.u16(40)).toBe(0x037f);
    expect(r.u16(42)).toBe(0);
  });
});

describe("constants and 80-bit images", () => {
  it("FLD1/FLDZ/FLDPI/FLDL2T/FLDL2E/FLDLG2/FLDLN2 store the SDM 80-bit constants (RC = nearest)", () => {
    // Each: fldXX; fstp tword [ebx+10*k]
    const ops = ["d9e8", "d9ee", "d9eb", "d9e9", "d9ea", "d9ec", "d9ed"];
    const code = ops.map((o, k) => o + "db7b" + (k * 10).toString(16).padStart(2, "0")).join("");
    const r = pm(code);
    expect(r.f80(0)).toBe("3fff 8000000000000000");
    expect(r.f80(10)).toBe("0000 0000000000000000");
    expect(r.f80(20)).toBe("4000 c90fdaa22168c235");
    expect(r.f80(30)).toBe("4000 d49a784bcd1b8afe");
    expect(r.f80(40)).toBe("3fff b8aa3b295c17f0bc");
    expect(r.f80(50)).toBe("3ffd 9a209a84fbcff799");
    expect(r.f80(60)).toBe("3ffe b17217f7d1cf79ac");
  });

  it("constants follow RC: FLDPI rounds down under RC=down/chop, FLDL2T up under RC=up", () => {
    // fldcw [ebx+100] (RC=down 077Fh); fldpi; fstp tword [ebx]; fldcw [ebx+102] (RC=up 0B7Fh);
    // fldl2t; fstp tword [ebx+10]; fldpi; fstp tword [ebx+20]
    const mem = "00".repeat(100) + "7f07" + "7f0b";
    const r = pm("d96b64 d9eb db3b d96b66 d9e9 db7b0a d9eb db7b14", mem);
    expect(r.f80(0)).toBe("4000 c90fdaa22168c234");
    expect(r.f80(10)).toBe("4000 d49a784bcd1b8aff");
    expect(r.f80(20)).toBe("4000 c90fdaa22168c235");
  });

  it("FLD m80 / FSTP m80 and FILD m64 / FISTP m64 round-trip exactly (beyond binary64 precision)", () => {
    // fld tword [ebx]; fstp tword [ebx+16]; fild qword [ebx+32]; fistp qword [ebx+48]
    const m80 = "3412f0debc9a78d6fe3f"; // 0.838..., all 64 significand bits used
    const i64 = "ffffffffffffff7f"; // 2^63 - 1
    const mem = m80 + "00".repeat(6) + "00".repeat(16) + i64;
    const r = pm("db2b db7b10 df6b20 df7b30", mem);
    expect(r.bytes(16, 10)).toBe(r.bytes(0, 10));
    expect(r.bytes(48, 8)).toBe(i64);
  });

  it("binary64 values convert to and from 80 bits exactly", () => {
    for (const v of [1, -2.5, Math.PI, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0, 1 / 3])
      expect(Object.is(f80ToNumber(numberToF80(v)), v)).toBe(true);
    expect(numberToF80(1)).toEqual({ se: 0x3fff, m: 1n << 63n });
  });

  it("FDIV rounds to 64 bits under PC=extended and to 53 bits under PC=double", () => {
    // fld1; fild dword [ebx+64] (3); fdivp st1 (1/3); fstp tword [ebx]; fldcw [ebx+68] (027Fh);
    // fld1; fild dword [ebx+64]; fdivp; fstp tword [ebx+16]
    const mem = "00".repeat(64) + "03000000" + "7f02";
    const r = pm("d9e8 db4340 def9 db3b d96b44 d9e8 db4340 def9 db7b10", mem);
    expect(r.f80(0)).toBe("3ffd aaaaaaaaaaaaaaab");
    expect(r.f80(16)).toBe("3ffd aaaaaaaaaaaaa800");
  });
});

describe("FNSAVE / FRSTOR / FNSTENV layouts", () => {
  it("FNSAVE 32-bit protected: 28-byte environment then ST(0)..ST(7), 10 bytes each; FNINIT after", () => {
    // fld1; fldz; fnsave [ebx]; fnstcw [ebx+120]; fnstsw [ebx+122]
    const r = pm("d9e8 d9ee dd33 d97b78 dd7b7a");
    expect(r.u16(0)).toBe(0x037f);
    expect(r.u16(4)).toBe(6 << 11); // TOP = 6
    expect(r.u16(8)).toBe(0x1fff); // R7 valid (00), R6 zero (01), rest empty
    expect(r.f80(28)).toBe("0000 0000000000000000");
    expect(r.f80(38)).toBe("3fff 8000000000000000");
    expect(r.u16(120)).toBe(0x037f);
    expect(r.u16(122)).toBe(0);
    // FCS:FOP dword at 16: FOP of FLDZ (D9 EE) = 1EEh in bits 16..26, CS selector 1Bh in 0..15.
    expect(r.u32(16)).toBe((0x1ee << 16) | 0x1b);
    expect(r.u16(24 + 2)).toBe(0xffff);
  });

  it("FNSAVE 16-bit form (66h prefix) is 94 bytes: 14-byte environment then registers", () => {
    // fld1; o16 fnsave [ebx]
    const r = pm("d9e8 66dd33");
    expect(r.u16(0)).toBe(0x037f);
    expect(r.u16(2)).toBe(7 << 11);
    expect(r.u16(4)).toBe(0x3fff);
    expect(r.f80(14)).toBe("3fff 8000000000000000");
    expect(r.bytes(94, 4)).toBe("00000000");
  });

  it("FRSTOR restores registers, TOP and tags from a crafted image", () => {
    // image: CW 027Fh, SW TOP=5, TW: R5 valid, R6 zero, R7 empty...; ST0 = 2.0, ST1 = 0
    const env = "7f02ffff" + "0028ffff" + "ffd3ffff" + "00".repeat(16);
    const regs = "0000000000000080 0040".replace(/ /g, "") + "00".repeat(70);
    // frstor [ebx]; fnstcw [ebx+120]; fstp qword [ebx+112]; fnstsw ax
    const r = pm("dd23 d97b78 dd5b70 dfe0", env + regs);
    expect(r.u16(120)).toBe(0x027f);
    expect(r.bytes(112, 8)).toBe("0000000000000040"); // 2.0
    expect(SW_TOP(r.ax)).toBe(6);
  });

  it("FNSTENV masks all exceptions afterwards", () => {
    // fldcw [ebx+100] (0360h); fnstenv [ebx]; fnstcw [ebx+102]
    const r = pm("d96b64 d933 d97b66", "00".repeat(100) + "6003");
    expect(r.u16(0)).toBe(0x0360);
    expect(r.u16(102)).toBe(0x037f);
  });

  it("real-mode 32-bit environment stores 20-bit linear pointers and FOP", () => {
    // 0100:0000 fld1 (D9 E8 at linear 1000h); 66 fnstenv [2000h]; fld dword [2100h]; 66 fnstenv [2040h]
    const m = realMode("d9e8 66d9360020 d9060021 66d9364020");
    m.run();
    expect(m.fault).toBe(null);
    const v = m.cpu.mem.view;
    expect(v.getUint16(0x2000 + 12, true)).toBe(0x1000); // FIP[15:0] (linear)
    expect(v.getUint32(0x2000 + 16, true)).toBe(0x1e8); // FIP[31:16] << 12 | FOP
    expect(v.getUint16(0x2040 + 20, true)).toBe(0x2100); // FDP[15:0]
  });
});

describe("FXSAVE / FXRSTOR", () => {
  it("512-byte image: FCW FSW abridged FTW FOP FIP FCS FDP FDS MXCSR, ST(i) every 16 bytes", () => {
    // fld1; fldz; fxsave [ebx]
    const r = pm("d9e8 d9ee 0fae03");
    expect(r.u16(0)).toBe(0x037f);
    expect(r.u16(2)).toBe(6 << 11);
    expect(r.mem[4]).toBe(0xc0); // R7 and R6 not empty
    expect(r.mem[5]).toBe(0);
    expect(r.u16(6)).toBe(0x1ee);
    expect(r.u16(12)).toBe(0x1b);
    expect(r.u32(24)).toBe(0x1f80);
    expect(r.u32(28)).toBe(0); // MXCSR_MASK 0: no SSE (default mask FFBFh applies)
    expect(r.f80(32)).toBe("0000 0000000000000000");
    expect(r.f80(48)).toBe("3fff 8000000000000000");
    expect(r.bytes(42, 6)).toBe("000000000000");
  });

  it("FXRSTOR restores the abridged tag and registers; FXSAVE of the result matches", () => {
    // fld1; fldpi; fxsave [ebx]; fninit; fxrstor [ebx]; fxsave [ebx+256]
    const r = pm("d9e8 d9eb 0fae03 dbe3 0fae0b 0fae8300010000");
    expect(r.bytes(256, 160)).toBe(r.bytes(0, 160));
    expect(r.mem[4]).toBe(0xc0);
  });

  it("misaligned operand raises #GP(0)", () => {
    const r = pm("0fae4301");
    expect(r.fault).toEqual({ vector: 13, errorCode: 0, eipOffset: 0 });
  });
});

describe("rounding control and integer stores", () => {
  // For each RC: fldcw [ebx+64+2k]; fld qword [ebx] (2.5 or -2.5); fistp word [ebx+32+2k]
  function fist(value: string) {
    const cws = ["7f03", "7f07", "7f0b", "7f0f"].join("");
    let code = "";
    for (let k = 0; k < 4; k++)
      code += "d96b" + (64 + 2 * k).toString(16) + "dd03" + "df5b" + (32 + 2 * k).toString(16);
    const r = pm(code, value + "00".repeat(56) + cws);
    return [0, 1, 2, 3].map((k) => (r.u16(32 + 2 * k) << 16) >> 16);
  }
  it("FISTP 2.5 / -2.5 under nearest, down, up, chop", () => {
    expect(fist("0000000000000440")).toEqual([2, 2, 3, 2]);
    expect(fist("00000000000004c0")).toEqual([-2, -3, -2, -2]);
  });

  it("FRNDINT honours RC (3.5: nearest-even 4, down 3, up 4, chop 3) and sets PE", () => {
    // fldcw [ebx+64+2k]; fld qword [ebx]; frndint; fistp word [ebx+32+2k]
    let code = "";
    for (let k = 0; k < 4; k++)
      code += "d96b" + (64 + 2 * k).toString(16) + "dd03" + "d9fc" + "df5b" + (32 + 2 * k).toString(16);
    code += "dfe0";
    const r = pm(code, "0000000000000c40" + "00".repeat(56) + "7f037f077f0b7f0f");
    expect([0, 1, 2, 3].map((k) => r.u16(32 + 2 * k))).toEqual([4, 3, 4, 3]);
    expect(r.ax & 0x20).toBe(0x20);
  });

  it("out-of-range FIST stores the integer indefinite and raises IE", () => {
    // fld qword [ebx] (40000.0); fist word [ebx+32]; fistp dword [ebx+40]; fnstsw ax
    const r = pm("dd03 df5320 db5b28 dfe0", "000000000088e340");
    expect(r.u16(32)).toBe(0x8000);
    expect(r.u32(40)).toBe(40000);
    expect(r.ax & 0x3f).toBe(0x01);
  });

  it("FISTP m64 of a NaN stores 8000000000000000h", () => {
    // fldz; fldz; fdivp (0/0 -> indefinite); fistp qword [ebx]
    const r = pm("d9ee d9ee def9 df3b");
    expect(r.bytes(0, 8)).toBe("0000000000000080");
  });

  it("FBSTP / FBLD packed BCD, and the BCD indefinite for |x| >= 10^18", () => {
    // fild dword [ebx+64] (-1234567890); fbstp [ebx]; fbld [ebx]; fistp dword [ebx+16];
    // fld qword [ebx+72] (1e18); fbstp [ebx+32]
    const mem = "00".repeat(64) + "2efd69b6" + "00000000" + "00c84e676dc1ab43";
    const r = pm("db4340 df33 df23 db5b10 dd4348 df7320", mem);
    expect(r.bytes(0, 10)).toBe("90785634120000000080");
    expect(r.u32(16) | 0).toBe(-1234567890);
    expect(r.bytes(32, 10)).toBe("00000000000000c0ffff");
  });
});

describe("stack faults, NaNs and comparisons", () => {
  it("stack overflow: IE+SF, C1=1, the masked response pushes the QNaN indefinite", () => {
    // 9 x fld1; fnstsw ax; fstp tword [ebx]
    const r = pm("d9e8".repeat(9) + "dfe0 db3b");
    expect(r.ax & 0x3ff).toBe(0x241);
    expect(r.f80(0)).toBe("ffff c000000000000000");
  });

  it("stack underflow: IE+SF, C1=0; FSTP m64 of an empty register stores the indefinite", () => {
    // fstp qword [ebx]; fnstsw ax
    const r = pm("dd1b dfe0");
    expect(r.ax & 0x2ff).toBe(0x41);
    expect(r.bytes(0, 8)).toBe("000000000000f8ff");
  });

  it("FCOM with a NaN: C3 C2 C0 = 111 and IE; FUCOM with a QNaN: 111 without IE", () => {
    // fldz; fldz; fdiv st0, st0 (QNaN indefinite); fld1; fucom st1; fnstsw ax; mov [ebx], ax;
    // fcom st1; fnstsw ax
    const r = pm("d9ee d9ee d8f0 d9e8 dde1 dfe0 668903 d8d1 dfe0");
    expect(r.u16(0) & 0x4501).toBe(0x4501); // IE from 0/0 earlier, plus 111
    expect(r.ax & 0x4500).toBe(0x4500);
    // Fresh: only the FUCOM
    const q = pm("d9ee d9ee d8f0 dbe2 d9e8 dde1 dfe0");
    expect(q.ax & 0x4501).toBe(0x4500);
  });

  it("FCOM orders: greater 000, less 001, equal 100", () => {
    // fld1; fldz; fcom st1 (0 < 1); fnstsw ax; mov [ebx],ax; fxch; fcom st1 (1 > 0); fnstsw [ebx+2];
    // fld st0; fcom st1 (1 = 1); fnstsw [ebx+4]
    const r = pm("d9e8 d9ee d8d1 dfe0 668903 d9c9 d8d1 dd7b02 d9c0 d8d1 dd7b04");
    expect(r.u16(0) & 0x4500).toBe(0x0100);
    expect(r.u16(2) & 0x4500).toBe(0x0000);
    expect(r.u16(4) & 0x4500).toBe(0x4000);
  });

  it("FCOMI / FUCOMI set ZF PF CF (unordered = all three) and clear OF SF AF", () => {
    // fld1; fldz; fcomi st0, st1 (0 < 1 -> CF)
    const lt = pm("d9e8 d9ee dbf1");
    expect(lt.eflags & 0x8d5).toBe(0x01);
    // fldz; fldz; fdiv st0,st0 (NaN); fld1; fucomi st0, st1 -> ZF PF CF
    const un = pm("d9ee d9ee d8f0 d9e8 dbe9");
    expect(un.eflags & 0x8d5).toBe(0x45);
  });

  it("FXAM classifies: +normal, -zero, empty, infinity, NaN, denormal", () => {
    const cls = (code: string, mem = "") => pm(code + "d9e5 dfe0", mem).ax & 0x4700;
    expect(cls("d9e8")).toBe(0x0400); // normal, C1 = 0
    expect(cls("d9ee d9e0")).toBe(0x4200); // -0: zero, C1 = 1
    expect(cls("")).toBe(0x4100); // empty
    expect(cls("dd03", "000000000000f07f")).toBe(0x0500); // +inf
    expect(cls("dd03", "000000000000f87f")).toBe(0x0100); // NaN
    expect(cls("db2b", "01000000000000000000")).toBe(0x4400); // 80-bit denormal
  });

  it("loading a binary32 denormal raises DE", () => {
    // fld dword [ebx]; fnstsw ax
    const r = pm("d903 dfe0", "01000000");
    expect(r.ax & 0x3f).toBe(0x02);
  });
});

describe("transcendental instructions (binary64 accuracy) and legacy encodings", () => {
  const f64 = (r: ReturnType<typeof pm>, o: number) =>
    new DataView(r.mem.buffer, r.mem.byteOffset).getFloat64(o, true);

  it("FYL2X FPTAN FPATAN FSIN F2XM1 FYL2XP1 FCOS FSINCOS on exact cases", () => {
    // fild [ebx+64] (3); fild [ebx+68] (8); fyl2x (3*log2 8 = 9); fstp qword [ebx]
    // fldz; fptan (pushes 1.0); fstp qword [ebx+8]; fstp qword [ebx+16]
    // fld1; fld1; fpatan (atan2(1, 1) = pi/4); fstp qword [ebx+24]
    // fldz; fsin; fstp qword [ebx+32]; fld1; f2xm1 (2^1 - 1); fstp qword [ebx+40]
    // fild [ebx+68]; fldz; fyl2xp1 (8*log2(0+1)); fstp qword [ebx+48]
    // fldz; fcos; fstp qword [ebx+56]; fldz; fsincos; fstp qword [ebx+72]; fstp qword [ebx+80]
    const code =
      "db4340 db4344 d9f1 dd1b  d9ee d9f2 dd5b08 dd5b10  d9e8 d9e8 d9f3 dd5b18" +
      "d9ee d9fe dd5b20 d9e8 d9f0 dd5b28  db4344 d9ee d9f9 dd5b30" +
      "d9ee d9ff dd5b38 d9ee d9fb dd5b48 dd5b50";
    const r = pm(code, "00".repeat(64) + "03000000" + "08000000");
    expect([0, 8, 16, 24, 32, 40, 48, 56, 72, 80].map((o) => f64(r, o))).toEqual([
      9,
      1,
      0,
      Math.PI / 4,
      0,
      1,
      0,
      1,
      1,
      0,
    ]);
  });

  it("FSIN of |x| >= 2^63 sets C2 and leaves the operand unchanged", () => {
    // fld tword [ebx] (2^63); fsin; fnstsw ax; fstp tword [ebx+16]
    const r = pm("db2b d9fe dfe0 db7b10", "0000000000000080 3e40".replace(/ /g, ""));
    expect(r.ax & 0x400).toBe(0x400);
    expect(r.f80(16)).toBe("403e 8000000000000000");
  });

  it("FSTP1 (D9 D8+i), FXCH4 (DD C8+i), FXCH7 (DF C8+i), FNOP, FNENI/FNDISI/FNSETPM", () => {
    // fld1; fldz; fxch4 st1; fstp qword [ebx] (1.0); fldpi; fxch7 st1; fstp qword [ebx+8] (0.0);
    // fldz; fstp1 st1 (ST1 = 0, pop); fnop; fneni; fndisi; fnsetpm; fstp qword [ebx+16] (0.0);
    // fnstsw ax
    const r = pm("d9e8 d9ee ddc9 dd1b d9eb dfc9 dd5b08 d9ee d9d9 d9d0 dbe0 dbe1 dbe4 dd5b10 dfe0");
    expect(f64(r, 0)).toBe(1);
    expect(f64(r, 8)).toBe(0);
    expect(f64(r, 16)).toBe(0);
    expect(SW_TOP(r.ax)).toBe(0); // FSTP1 overwrote PI and popped: the stack is empty again
    expect(r.ax & 0x7f).toBe(0);
  });
});

describe("device-not-available and error reporting", () => {
  it("#NM for x87 instructions when CR0.TS or CR0.EM is set", () => {
    const ts = realMode("d9e8", CR0_TS);
    ts.step();
    expect(ts.fault?.vector).toBe(7);
    const em = realMode("d9e8", CR0_EM);
    em.step();
    expect(em.fault?.vector).toBe(7);
  });

  it("FWAIT faults #NM only when both MP and TS are set", () => {
    const a = realMode("9b", CR0_TS);
    a.step();
    expect(a.fault).toBe(null);
    const b = realMode("9b", CR0_TS | CR0_MP);
    b.step();
    expect(b.fault?.vector).toBe(7);
  });

  it("FXSAVE: #UD when CR0.EM, #NM when CR0.TS", () => {
    const em = realMode("0fae060020", CR0_EM);
    em.step();
    expect(em.fault?.vector).toBe(6);
    const ts = realMode("0fae060020", CR0_TS);
    ts.step();
    expect(ts.fault?.vector).toBe(7);
  });

  it("CR0.NE=1: an unmasked exception is reported as #MF at the next waiting instruction", () => {
    // fldcw [2000h] (037Bh: ZE unmasked); fld1; fldz; fdivp st1 (1/0); fnstsw ax; fwait
    const m = realMode("d92e0020 d9e8 d9ee def9 dfe0 9b", CR0_NE);
    m.cpu.mem.view.setUint16(0x2000, 0x037b, true);
    m.run();
    expect(m.fault).toEqual({ vector: 16, eip: 12 });
    expect(m.cpu.regs[0] & 0x80ff).toBe(0x8084); // B, ES, ZE; no-wait FNSTSW did not fault
    expect(m.cpu.fpu.stNumber(0)).toBe(0); // unmasked ZE: destination unchanged, no pop
    expect(m.cpu.fpu.stNumber(1)).toBe(1);
  });

  it("CR0.NE=0: FERR# is asserted, the next waiting instruction freezes until IGNNE# or FNCLEX", () => {
    // fldcw [2000h]; fld1; fldz; fdivp; fwait; fnclex; fwait
    const m = realMode("d92e0020 d9e8 d9ee def9 9b dbe2 9b");
    m.cpu.mem.view.setUint16(0x2000, 0x037b, true);
    let ferr = 0;
    m.cpu.fpu.onFerr = () => ferr++;
    m.step(4);
    expect(ferr).toBe(1);
    m.step(3); // FWAIT frozen: EIP stays
    expect(m.cpu.eip).toBe(10);
    m.cpu.fpu.ignne = true; // port F0h: IGNNE#
    m.step();
    expect(m.cpu.eip).toBe(11);
    m.step(2); // FNCLEX clears ES; the second FWAIT proceeds
    expect(m.cpu.eip).toBe(14);
    expect(m.fault).toBe(null);
  });
});

describe("opcode table", () => {
  const insn = new Insn();
  const dec = (bytes: number[]) => {
    const b = Uint8Array.from([...bytes, 0, 0, 0, 0, 0, 0]);
    const r = decode(b, 0, b.length, true, insn);
    return r === 0 ? insn.def.mn : r === DecodeError.UD ? "#UD" : "?";
  };

  it("every entry has semantics", () => {
    for (const e of X87_OPCODES) expect(X87_SEMANTICS[e.sem], e.sem).toBeTypeOf("function");
    expect(X87_SEMANTICS.fwait).toBeTypeOf("function");
  });

  it("decodes register forms per the SDM opcode map (DC/DE SUB/SUBR swap, aliases, holes)", () => {
    expect(dec([0xd8, 0xe1])).toBe("FSUB");
    expect(dec([0xdc, 0xe1])).toBe("FSUBR");
    expect(dec([0xdc, 0xe9])).toBe("FSUB");
    expect(dec([0xde, 0xf9])).toBe("FDIVP");
    expect(dec([0xde, 0xf1])).toBe("FDIVRP");
    expect(dec([0xde, 0xd9])).toBe("FCOMPP");
    expect(dec([0xde, 0xd8])).toBe("#UD");
    expect(dec([0xda, 0xe9])).toBe("FUCOMPP");
    expect(dec([0xda, 0xe8])).toBe("#UD");
    expect(dec([0xd9, 0xd0])).toBe("FNOP");
    expect(dec([0xd9, 0xd1])).toBe("#UD");
    expect(dec([0xd9, 0xe2])).toBe("#UD");
    expect(dec([0xdb, 0xe4])).toBe("FNSETPM");
    expect(dec([0xdb, 0xe5])).toBe("#UD");
    expect(dec([0xdf, 0xe0])).toBe("FNSTSW");
    expect(dec([0xdf, 0xc1])).toBe("FFREEP");
    expect(dec([0xd9, 0x08])).toBe("#UD"); // D9 /1 memory
    expect(dec([0xdb, 0x08])).toBe("#UD"); // FISTTP is SSE3
    expect(dec([0x0f, 0xae, 0xc0])).toBe("#UD"); // FXSAVE register form
  });

  it("covers every defined D8-DF ModRM byte: 64 memory slots minus 7 holes, 512 - 92 register bytes", () => {
    let mem = 0,
      reg = 0;
    for (let op = 0xd8; op <= 0xdf; op++)
      for (let m = 0; m < 256; m++) {
        if (dec([op, m]) === "#UD") continue;
        if (m >> 6 === 3) reg++;
        else if ((m & 7) === 0 && m >> 6 === 0) mem++;
      }
    expect(mem).toBe(64 - 7); // D9/1, DB/1 DD/1 DF/1 (FISTTP, SSE3), DB/4, DB/6, DD/5
    // Holes: D9 D1-D7 E2 E3 E6 E7 EF (12), DA E0-E8 EA-FF (31), DB E5-E7 F8-FF (11), DD F0-FF (16),
    // DE D8 DA-DF (7), DF E1-E7 F8-FF (15).
    expect(reg).toBe(512 - 92);
  });
});

describe("snapshots", () => {
  it("saveState / loadState round-trip", () => {
    const m = realMode("d9e8 d9eb d9ee");
    m.run();
    const s = JSON.parse(JSON.stringify(m.cpu.fpu.saveState()));
    const n = realMode("");
    n.cpu.fpu.loadState(s);
    expect(n.cpu.fpu.saveState()).toEqual(m.cpu.fpu.saveState());
    expect(n.cpu.fpu.stNumber(1)).toBe(Math.PI);
    expect(() => n.cpu.fpu.loadState({ ...s, mant: ["zz"] })).toThrow(/FPU state/);
  });
});
