// The x86 instruction decoder, built entirely from the opcode table.
//
// decode() consumes prefixes, the opcode, ModRM/SIB/displacement and immediates from a byte window
// and fills a reusable Insn. It never throws host exceptions for guest input: undefined encodings
// raise DecodeError.UD, more than 15 bytes DecodeError.GP, and running off the end of the window
// DecodeError.MORE (the caller fetches the next page and retries).

import { hasModrm, OPCODES, PREFIXES, type OpcodeDef } from "./opcodes.ts";
import type { Cpu } from "./cpu.ts";

export const enum DecodeError {
  UD = 1,
  GP = 2,
  MORE = 3,
}

export const SEG_ES = 0,
  SEG_CS = 1,
  SEG_SS = 2,
  SEG_DS = 3,
  SEG_FS = 4,
  SEG_GS = 5;

/** A decoded instruction. One instance is reused by the interpreter for every instruction. */
export class Insn {
  def: OpcodeDef = OPCODES[0];
  /** Length in bytes. */
  len = 0;
  /** 32-bit operand size. */
  o32 = true;
  /** 32-bit address size. */
  a32 = true;
  /** Segment override (SEG_*), or -1. */
  seg = -1;
  /** 0, 0xF2 (REPNE) or 0xF3 (REP/REPE). */
  rep = 0;
  lock = false;
  modrm = -1;
  mod = 0;
  reg = 0;
  rm = 0;
  /** Memory operand: base and index register numbers (-1 for none), scale shift, displacement. */
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  /** Default segment of the memory operand (DS, or SS for eBP/eSP-based addressing). */
  sseg = SEG_DS;
  imm = 0;
  imm2 = 0;
  /** Register number encoded in the opcode's low 3 bits (Z operands). */
  opreg = 0;
  /** Code-segment default size the instruction was decoded for (cached decodes must match). */
  def32 = true;
  /** The interpreter handler bound to `def` (set by the CPU after decoding). */
  handler: (cpu: Cpu, insn: Insn) => void = () => {};
}

// --- lookup maps derived from the table --------------------------------------------------------------

/** For opcodes without ModRM: the entry (index = code with 0x0F prefix mapped to 0x100+). */
const plain: (OpcodeDef | undefined)[] = new Array(512);
/** For opcodes with ModRM: 256 entries indexed by the ModRM byte. */
const byModrm: ((OpcodeDef | undefined)[] | undefined)[] = new Array(512);
/** Entries selected by a mandatory prefix (F3 90 = PAUSE). */
const mandatory: (OpcodeDef | undefined)[] = new Array(512);
const needsModrm = new Uint8Array(512);

function slot(code: number): number {
  return code > 0xff ? 0x100 | (code & 0xff) : code;
}

for (const d of OPCODES) {
  const s = slot(d.code);
  if (d.mandatory !== undefined) {
    mandatory[s] = d;
    continue;
  }
  if (!hasModrm(d)) {
    if (plain[s]) throw new Error(`opcode table: duplicate entry for ${d.code.toString(16)}`);
    plain[s] = d;
    continue;
  }
  needsModrm[s] = 1;
  const map = (byModrm[s] ??= new Array(256));
  for (let m = 0; m < 256; m++) {
    const mod = m >> 6,
      reg = (m >> 3) & 7,
      rm = m & 7;
    if (d.ext !== undefined && d.ext !== reg) continue;
    if (d.mod === "mem" && mod === 3) continue;
    if (d.mod === "reg" && mod !== 3) continue;
    if (d.rm !== undefined && (mod !== 3 || d.rm !== rm)) continue;
    // Register forms of memory-only operands are undefined unless another entry claims them.
    if (mod === 3 && d.mod !== "reg" && d.ops.some((o) => o.startsWith("M"))) continue;
    if (map[m]) {
      // A more specific entry (rm/mod given) wins over a generic one.
      const prev = map[m]!;
      const spec = (x: OpcodeDef) => (x.rm !== undefined ? 2 : 0) + (x.mod !== undefined ? 1 : 0);
      if (spec(prev) === spec(d))
        throw new Error(`opcode table: ${prev.mn} and ${d.mn} overlap at ${d.code.toString(16)} /${m}`);
      if (spec(prev) > spec(d)) continue;
    }
    map[m] = d;
  }
}

/** Immediate layout per entry: kinds in operand order. */
const enum Imm {
  B = 1, // 1 byte, zero-extended
  BS = 2, // 1 byte, sign-extended
  W = 3, // 2 bytes
  V = 4, // 2 or 4 by operand size
  O = 5, // 2 or 4 by address size (moffs)
  P = 6, // far pointer: offset (2/4 by operand size) + selector
}
const immPlan: Imm[][] = OPCODES.map((d) =>
  d.ops
    .map((o) => {
      if (o === "Ib") return Imm.B;
      if (o === "Ibs" || o === "Jb") return Imm.BS;
      if (o === "Iw") return Imm.W;
      if (o === "Iv" || o === "Jv") return Imm.V;
      if (o === "Ob" || o === "Ov") return Imm.O;
      if (o === "Ap") return Imm.P;
      return 0;
    })
    .filter((k) => k !== 0),
);

/**
 * Decode one instruction from `buf[pos..end)`. `def32` is the code segment's default size (CS.D).
 * Returns 0 on success or a DecodeError.
 */
export function decode(
  buf: Uint8Array,
  pos: number,
  end: number,
  def32: boolean,
  out: Insn,
): DecodeError | 0 {
  const start = pos;
  let o32 = def32,
    a32 = def32,
    seg = -1,
    rep = 0,
    lock = false;
  let b: number;
  // Prefixes.
  for (;;) {
    if (pos >= end) return DecodeError.MORE;
    if (pos - start >= 15) return DecodeError.GP;
    b = buf[pos];
    if (!PREFIXES.has(b)) break;
    pos++;
    switch (b) {
      case 0x66:
        o32 = !def32;
        break;
      case 0x67:
        a32 = !def32;
        break;
      case 0xf0:
        lock = true;
        break;
      case 0xf2:
      case 0xf3:
        rep = b;
        break;
      case 0x26:
        seg = 0;
        break;
      case 0x2e:
        seg = 1;
        break;
      case 0x36:
        seg = 2;
        break;
      case 0x3e:
        seg = 3;
        break;
      case 0x64:
        seg = 4;
        break;
      case 0x65:
        seg = 5;
        break;
    }
  }
  pos++;
  let s = b;
  if (b === 0x0f) {
    if (pos >= end) return DecodeError.MORE;
    s = 0x100 | buf[pos++];
  }
  let d: OpcodeDef | undefined;
  let modrm = -1;
  if (needsModrm[s]) {
    if (pos >= end) return DecodeError.MORE;
    modrm = buf[pos++];
    d = byModrm[s]![modrm];
  } else {
    d = plain[s];
    if (rep && mandatory[s] && rep === mandatory[s]!.mandatory) d = mandatory[s];
  }
  if (!d) return DecodeError.UD;

  out.def = d;
  out.o32 = o32;
  out.a32 = a32;
  out.seg = seg;
  out.rep = rep;
  out.lock = lock;
  out.modrm = modrm;
  out.opreg = s & 7;
  out.base = -1;
  out.index = -1;
  out.scale = 0;
  out.disp = 0;
  out.sseg = SEG_DS;

  if (modrm >= 0) {
    const mod = modrm >> 6,
      rm = modrm & 7;
    out.mod = mod;
    out.reg = (modrm >> 3) & 7;
    out.rm = rm;
    if (mod !== 3) {
      if (a32) {
        let base = rm;
        if (rm === 4) {
          if (pos >= end) return DecodeError.MORE;
          const sib = buf[pos++];
          out.scale = sib >> 6;
          const idx = (sib >> 3) & 7;
          out.index = idx === 4 ? -1 : idx;
          base = sib & 7;
          if (base === 5 && mod === 0) {
            base = -1;
            if (pos + 4 > end) return DecodeError.MORE;
            out.disp = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24);
            pos += 4;
          }
        } else if (rm === 5 && mod === 0) {
          base = -1;
          if (pos + 4 > end) return DecodeError.MORE;
          out.disp = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24);
          pos += 4;
        }
        out.base = base;
        if (base === 4 || base === 5) out.sseg = SEG_SS;
        if (mod === 1) {
          if (pos >= end) return DecodeError.MORE;
          out.disp = (buf[pos++] << 24) >> 24;
        } else if (mod === 2) {
          if (pos + 4 > end) return DecodeError.MORE;
          out.disp = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24);
          pos += 4;
        }
      } else {
        // 16-bit addressing: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (or disp16), BX.
        switch (rm) {
          case 0:
            out.base = 3;
            out.index = 6;
            break;
          case 1:
            out.base = 3;
            out.index = 7;
            break;
          case 2:
            out.base = 5;
            out.index = 6;
            out.sseg = SEG_SS;
            break;
          case 3:
            out.base = 5;
            out.index = 7;
            out.sseg = SEG_SS;
            break;
          case 4:
            out.base = 6;
            break;
          case 5:
            out.base = 7;
            break;
          case 6:
            if (mod === 0) {
              if (pos + 2 > end) return DecodeError.MORE;
              out.disp = buf[pos] | (buf[pos + 1] << 8);
              pos += 2;
            } else {
              out.base = 5;
              out.sseg = SEG_SS;
            }
            break;
          case 7:
            out.base = 3;
            break;
        }
        if (mod === 1) {
          if (pos >= end) return DecodeError.MORE;
          out.disp = (buf[pos++] << 24) >> 24;
        } else if (mod === 2) {
          if (pos + 2 > end) return DecodeError.MORE;
          out.disp = ((buf[pos] | (buf[pos + 1] << 8)) << 16) >> 16;
          pos += 2;
        }
      }
    }
  }

  // Immediates.
  const plan = immPlan[d.id];
  for (let k = 0; k < plan.length; k++) {
    let v: number;
    switch (plan[k]) {
      case Imm.B:
        if (pos >= end) return DecodeError.MORE;
        v = buf[pos++];
        break;
      case Imm.BS:
        if (pos >= end) return DecodeError.MORE;
        v = (buf[pos++] << 24) >> 24;
        break;
      case Imm.W:
        if (pos + 2 > end) return DecodeError.MORE;
        v = buf[pos] | (buf[pos + 1] << 8);
        pos += 2;
        break;
      case Imm.V:
      case Imm.O: {
        const wide = plan[k] === Imm.V ? o32 : a32;
        if (wide) {
          if (pos + 4 > end) return DecodeError.MORE;
          v = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24);
          pos += 4;
        } else {
          if (pos + 2 > end) return DecodeError.MORE;
          v = buf[pos] | (buf[pos + 1] << 8);
          pos += 2;
        }
        break;
      }
      default: {
        // Far pointer: offset then 16-bit selector (selector goes to imm2).
        const n = o32 ? 4 : 2;
        if (pos + n + 2 > end) return DecodeError.MORE;
        v = o32
          ? buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)
          : buf[pos] | (buf[pos + 1] << 8);
        pos += n;
        out.imm2 = buf[pos] | (buf[pos + 1] << 8);
        pos += 2;
        break;
      }
    }
    if (k === 0) out.imm = v;
    else out.imm2 = v;
  }

  const len = pos - start;
  if (len > 15) return DecodeError.GP;
  out.len = len;
  // LOCK is only legal on listed read-modify-write instructions with a memory destination.
  if (lock && (!d.lock || out.mod === 3 || modrm < 0)) return DecodeError.UD;
  return 0;
}

/** Number of table entries (for coverage). */
export const OPCODE_COUNT = OPCODES.length;
