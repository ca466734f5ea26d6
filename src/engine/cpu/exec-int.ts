// Integer instruction semantics. Each export of INT_SEMANTICS is a factory: given an opcode-table
// entry it returns the handler for that entry, specialised on the entry's operand forms. The table
// (not this file) says which operands an instruction has; this file says what it does.

import type { Cpu } from "./cpu.ts";
import { EXC_BR, EXC_DE, EXC_GP, EXC_UD } from "./cpu.ts";
import { SEG_CS, SEG_DS, SEG_ES, SEG_SS, type Insn } from "./decoder.ts";
import { AF, ARITH, CF, DF, IF, Lazy, OF, PF, SF, SIZE_MASK, SIGN_BIT, ZF, parity } from "./flags.ts";
import { opSize, specSize, type OpcodeDef } from "./opcodes.ts";
import {
  deliverInterrupt,
  farCall,
  farJump,
  farReturn,
  iret,
  loadSeg,
  writeFlagsPrivileged,
} from "./protmode.ts";

export type Handler = (c: Cpu, i: Insn) => void;
export type Factory = (d: OpcodeDef) => Handler;

// --- operand access compiled from the table's operand specs --------------------------------------

function sz(fixed: number, i: Insn): number {
  return fixed || (i.o32 ? 4 : 2);
}

type Get = (c: Cpu, i: Insn, size: number) => number;
type Put = (c: Cpu, i: Insn, size: number, v: number) => void;

/** Reader for an operand spec (memory operands read without write intent). */
function getter(spec: string): Get {
  switch (spec[0]) {
    case "E":
      return (c, i, s) => c.readE(i, s);
    case "G":
      return (c, i, s) => c.getReg(s, i.reg);
    case "Z":
      return (c, i, s) => c.getReg(s, i.opreg);
    case "I":
      return (_c, i, s) => (s === 4 ? i.imm : i.imm & SIZE_MASK[s]);
    case "1":
      return () => 1;
  }
  if (spec === "AL" || spec === "eAX") return (c, _i, s) => c.getReg(s, 0);
  if (spec === "CL") return (c) => c.r8[4];
  if (spec === "DX") return (c) => c.r16[4];
  throw new Error(`no reader for operand ${spec}`);
}

function putter(spec: string): Put {
  switch (spec[0]) {
    case "E":
      return (c, i, s, v) => c.writeE(i, s, v);
    case "G":
      return (c, i, s, v) => c.setReg(s, i.reg, v);
    case "Z":
      return (c, i, s, v) => c.setReg(s, i.opreg, v);
  }
  if (spec === "AL" || spec === "eAX") return (c, _i, s, v) => c.setReg(s, 0, v);
  throw new Error(`no writer for operand ${spec}`);
}

/**
 * A read-modify-write destination: `load` reads it (checking write access first for memory) and
 * remembers where it was; `store` writes the result back to the same place.
 */
class Rmw {
  lin = 0;
  constructor(readonly spec: string) {}
  load(c: Cpu, i: Insn, s: number, write: boolean): number {
    switch (this.spec[0]) {
      case "E":
        if (i.mod === 3) return c.getReg(s, i.rm);
        this.lin = c.eaLin(i, s, write);
        if (write) c.probeWrite(this.lin, s);
        return c.ld(s, this.lin);
      case "G":
        return c.getReg(s, i.reg);
      case "Z":
        return c.getReg(s, i.opreg);
      default:
        return c.getReg(s, 0); // AL / eAX
    }
  }
  store(c: Cpu, i: Insn, s: number, v: number): void {
    switch (this.spec[0]) {
      case "E":
        if (i.mod === 3) c.setReg(s, i.rm, v);
        else c.st(s, this.lin, v);
        return;
      case "G":
        c.setReg(s, i.reg, v);
        return;
      case "Z":
        c.setReg(s, i.opreg, v);
        return;
      default:
        c.setReg(s, 0, v);
    }
  }
}

// --- arithmetic cores ----------------------------------------------------------------------------------

function trunc(v: number, s: number): number {
  return s === 4 ? v | 0 : v & SIZE_MASK[s];
}

/** ALU operation k (ADD OR ADC SBB AND SUB XOR CMP order) with flags. Returns the result. */
export function aluOp(c: Cpu, k: number, a: number, b: number, s: number): number {
  const f = c.flags;
  let r: number;
  switch (k) {
    case 0:
      r = trunc(a + b, s);
      f.set(Lazy.ADD, s, a, b, r, ARITH);
      return r;
    case 1:
      r = trunc(a | b, s);
      f.logic(s, r);
      return r;
    case 2: {
      const cin = f.get(CF) ? 1 : 0;
      r = trunc(a + b + cin, s);
      f.set(Lazy.ADC, s, a, b, r, ARITH);
      f.cin = cin;
      return r;
    }
    case 3: {
      const cin = f.get(CF) ? 1 : 0;
      r = trunc(a - b - cin, s);
      f.set(Lazy.SBB, s, a, b, r, ARITH);
      f.cin = cin;
      return r;
    }
    case 4:
      r = trunc(a & b, s);
      f.logic(s, r);
      return r;
    case 5:
    case 7:
      r = trunc(a - b, s);
      f.set(Lazy.SUB, s, a, b, r, ARITH);
      return r;
    default:
      r = trunc(a ^ b, s);
      f.logic(s, r);
      return r;
  }
}

const ALU_INDEX: Record<string, number> = { ADD: 0, OR: 1, ADC: 2, SBB: 3, AND: 4, SUB: 5, XOR: 6, CMP: 7 };

/** Evaluate condition code cc (0..15, Jcc order). */
export function cond(c: Cpu, cc: number): boolean {
  const f = c.flags;
  let r: boolean;
  switch (cc >> 1) {
    case 0:
      r = f.get(OF) !== 0;
      break;
    case 1:
      r = f.get(CF) !== 0;
      break;
    case 2:
      r = f.get(ZF) !== 0;
      break;
    case 3:
      r = f.get(CF | ZF) !== 0;
      break;
    case 4:
      r = f.get(SF) !== 0;
      break;
    case 5:
      r = f.get(PF) !== 0;
      break;
    case 6:
      r = !f.get(SF) !== !f.get(OF);
      break;
    default:
      r = f.get(ZF) !== 0 || !f.get(SF) !== !f.get(OF);
      break;
  }
  return cc & 1 ? !r : r;
}

/** Unsigned 32×32 → 64 multiply: returns [lo, hi] as int32 values. */
export function mul32(a: number, b: number): [number, number] {
  a >>>= 0;
  b >>>= 0;
  const al = a & 0xffff,
    ah = a >>> 16,
    bl = b & 0xffff,
    bh = b >>> 16;
  const ll = al * bl,
    lh = al * bh,
    hl = ah * bl,
    hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const lo = ((mid & 0xffff) << 16) | (ll & 0xffff);
  const hi = hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536);
  return [lo | 0, hi | 0];
}

/** Signed 32×32 → 64 multiply. */
function imul32(a: number, b: number): [number, number] {
  const neg = a < 0 !== b < 0;
  let [lo, hi] = mul32(Math.abs(a), Math.abs(b));
  if (neg) {
    lo = ~lo + 1;
    hi = ~hi + (lo === 0 ? 1 : 0);
  }
  return [lo | 0, hi | 0];
}

/** Unsigned (hi:lo) / d for hi < d: returns [quotient, remainder] (exact, no BigInt). */
export function udiv64(hi: number, lo: number, d: number): [number, number] {
  hi >>>= 0;
  lo >>>= 0;
  d >>>= 0;
  let t = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(t / d);
  t = (t - q1 * d) * 65536 + (lo & 0xffff);
  const q2 = Math.floor(t / d);
  return [q1 * 65536 + q2, t - q2 * d];
}

function setMulFlags(c: Cpu, s: number, lo: number, overflow: boolean): void {
  c.flags.logic(s, lo);
  c.flags.write(overflow ? CF | OF : 0, CF | OF);
}

// --- shifts and rotates ---------------------------------------------------------------------------------

function shiftOp(c: Cpu, k: number, a: number, cnt: number, s: number): number {
  const bits = s * 8;
  const mask = SIZE_MASK[s];
  const sign = SIGN_BIT[s];
  a &= mask;
  const f = c.flags;
  let r: number, cf: number, of: number;
  switch (k) {
    case 0: {
      // ROL
      const n = cnt % bits;
      r = n ? ((a << n) | (a >>> (bits - n))) & mask : a;
      cf = r & 1;
      of = (r & sign ? 1 : 0) ^ cf;
      f.write((cf ? CF : 0) | (of ? OF : 0), CF | OF);
      return r;
    }
    case 1: {
      // ROR
      const n = cnt % bits;
      r = n ? ((a >>> n) | (a << (bits - n))) & mask : a;
      cf = r & sign ? 1 : 0;
      of = cf ^ (r & (sign >>> 1) ? 1 : 0);
      f.write((cf ? CF : 0) | (of ? OF : 0), CF | OF);
      return r;
    }
    case 2: {
      // RCL: rotate through CF, bits+1 positions wide
      const n = cnt % (bits + 1);
      r = a;
      cf = f.get(CF) ? 1 : 0;
      for (let k2 = 0; k2 < n; k2++) {
        const out = r & sign ? 1 : 0;
        r = ((r << 1) | cf) & mask;
        cf = out;
      }
      of = (r & sign ? 1 : 0) ^ cf;
      f.write((cf ? CF : 0) | (of ? OF : 0), CF | OF);
      return r;
    }
    case 3: {
      // RCR
      const n = cnt % (bits + 1);
      r = a;
      cf = f.get(CF) ? 1 : 0;
      of = (r & sign ? 1 : 0) ^ cf;
      for (let k2 = 0; k2 < n; k2++) {
        const out = r & 1;
        r = (r >>> 1) | (cf ? sign : 0);
        cf = out;
      }
      if (n !== 1) of = (r & sign ? 1 : 0) ^ (r & (sign >>> 1) ? 1 : 0);
      f.write((cf ? CF : 0) | (of ? OF : 0), CF | OF);
      return r;
    }
    case 4:
    case 6: {
      // SHL / SAL
      r = cnt < 32 ? (a << cnt) & mask : 0;
      cf = cnt <= bits ? (a >>> (bits - cnt)) & 1 : 0;
      of = (r & sign ? 1 : 0) ^ cf;
      break;
    }
    case 5: {
      // SHR
      r = a >>> cnt;
      cf = cnt <= bits ? (a >>> (cnt - 1)) & 1 : 0;
      of = a & sign ? 1 : 0;
      break;
    }
    default: {
      // SAR
      const sa = s === 4 ? a | 0 : a & sign ? a - (mask + 1) : a;
      const n = Math.min(cnt, 31);
      r = (sa >> n) & mask;
      cf = cnt >= bits ? (a & sign ? 1 : 0) : (sa >> (cnt - 1)) & 1;
      of = 0;
      break;
    }
  }
  r = trunc(r, s);
  f.set(Lazy.LOGIC, s, 0, 0, r, SF | ZF | PF);
  f.bits = (f.bits & ~(CF | OF | AF)) | (cf ? CF : 0) | (of ? OF : 0);
  return r;
}

const SHIFT_INDEX: Record<string, number> = {
  ROL: 0,
  ROR: 1,
  RCL: 2,
  RCR: 3,
  SHL: 4,
  SHR: 5,
  SAL: 6,
  SAR: 7,
};

// --- string instruction helpers ------------------------------------------------------------------------

function strStep(c: Cpu, s: number): number {
  return c.flags.bits & DF ? -s : s;
}
function getSi(c: Cpu, i: Insn): number {
  return i.a32 ? c.regs[6] : c.r16[12];
}
function getDi(c: Cpu, i: Insn): number {
  return i.a32 ? c.regs[7] : c.r16[14];
}
function addSi(c: Cpu, i: Insn, d: number): void {
  if (i.a32) c.regs[6] += d;
  else c.r16[12] += d;
}
function addDi(c: Cpu, i: Insn, d: number): void {
  if (i.a32) c.regs[7] += d;
  else c.r16[14] += d;
}
function getCount(c: Cpu, i: Insn): number {
  return i.a32 ? c.regs[1] >>> 0 : c.r16[2];
}
function setCount(c: Cpu, i: Insn, v: number): void {
  if (i.a32) c.regs[1] = v;
  else c.r16[2] = v;
}

/** Elements of `s` bytes from `lin` on (down when `step` < 0) that stay inside its page. */
function pageRun(lin: number, s: number, step: number): number {
  const o = lin & 0xfff;
  if (o + s > 0x1000) return 0;
  return step > 0 ? ((0x1000 - o) / s) | 0 : ((o / s) | 0) + 1;
}

/**
 * REP MOVS with 32-bit addresses and flat segments, a page-sized chunk at a time (whole pages of
 * RAM copied at once). Elements that straddle pages, and chunks that touch MMIO or traced memory or
 * overlap their own destination, go one element at a time through the normal accessors.
 */
function repMovsFlat(c: Cpu, s: number, step: number): void {
  const r = c.regs;
  for (let n = r[1] >>> 0; n !== 0; n = r[1] >>> 0) {
    const si = r[6],
      di = r[7];
    let k = Math.min(n, pageRun(si, s, step), pageRun(di, s, step));
    const back = step < 0 ? (k - 1) * s : 0;
    if (k > 1 && c.bulkCopy((di - back) | 0, (si - back) | 0, k * s, step < 0)) {
      r[6] = (si + k * step) | 0;
      r[7] = (di + k * step) | 0;
      r[1] = n - k;
      continue;
    }
    for (k = Math.max(k, 1); k > 0; k--) {
      c.st(s, r[7], c.ld(s, r[6]));
      r[6] = (r[6] + step) | 0;
      r[7] = (r[7] + step) | 0;
      r[1] = r[1] - 1;
    }
  }
}

/** REP STOS counterpart of repMovsFlat. */
function repStosFlat(c: Cpu, s: number, step: number, v: number): void {
  const r = c.regs;
  for (let n = r[1] >>> 0; n !== 0; n = r[1] >>> 0) {
    const di = r[7];
    let k = Math.min(n, pageRun(di, s, step));
    if (k > 1 && c.bulkFill((di - (step < 0 ? (k - 1) * s : 0)) | 0, k * s, v, s)) {
      r[7] = (di + k * step) | 0;
      r[1] = n - k;
      continue;
    }
    for (k = Math.max(k, 1); k > 0; k--) {
      c.st(s, r[7], v);
      r[7] = (r[7] + step) | 0;
      r[1] = r[1] - 1;
    }
  }
}

/** Run a string instruction body under REP/REPE/REPNE; `body` returns the comparison flag ZF for repcc. */
function repLoop(c: Cpu, i: Insn, d: OpcodeDef, body: () => void): void {
  if (!i.rep || !d.rep) {
    body();
    return;
  }
  let n = getCount(c, i);
  const cc = d.rep === "repcc";
  while (n !== 0) {
    body();
    n = (n - 1) >>> 0;
    setCount(c, i, n);
    if (cc) {
      const z = c.flags.get(ZF) !== 0;
      if (i.rep === 0xf3 ? !z : z) break;
    }
  }
}

// --- I/O permission ------------------------------------------------------------------------------

/** #GP(0) unless the current privilege may access `size` ports at `port` (IOPL, then TSS bitmap). */
export function checkIo(c: Cpu, port: number, size: number): void {
  if (!c.protectedMode) return;
  const iopl = (c.flags.bits >> 12) & 3;
  if (c.cpl <= iopl) return;
  if (!(c.trAttr & 8)) c.raise(EXC_GP, 0); // 16-bit TSS has no bitmap
  if (0x67 > c.trLimit >>> 0) c.raise(EXC_GP, 0);
  const mapBase = c.sysLd16((c.trBase + 0x66) | 0);
  const byteOff = mapBase + (port >>> 3);
  if (byteOff + 1 > c.trLimit >>> 0) c.raise(EXC_GP, 0);
  const bits = c.sysLd16((c.trBase + byteOff) | 0);
  const m = ((1 << size) - 1) << (port & 7);
  if (bits & m) c.raise(EXC_GP, 0);
}

// --- the semantics ----------------------------------------------------------------------------------

function jumpTo(c: Cpu, i: Insn, target: number): void {
  c.eip = i.o32 ? target | 0 : target & 0xffff;
}

export const INT_SEMANTICS: Record<string, Factory> = {
  alu(d) {
    const k = ALU_INDEX[d.mn];
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    const src = getter(d.ops[1]);
    const writes = k !== 7;
    return (c, i) => {
      const s = sz(fixed, i);
      const a = dst.load(c, i, s, writes);
      const r = aluOp(c, k, a, src(c, i, s), s);
      if (writes) dst.store(c, i, s, r);
    };
  },
  test(d) {
    const fixed = opSize(d);
    const a = getter(d.ops[0]),
      b = getter(d.ops[1]);
    return (c, i) => {
      const s = sz(fixed, i);
      c.flags.logic(s, trunc(a(c, i, s) & b(c, i, s), s));
    };
  },
  inc(d) {
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    return (c, i) => {
      const s = sz(fixed, i);
      const a = dst.load(c, i, s, true);
      const r = trunc(a + 1, s);
      dst.store(c, i, s, r);
      c.flags.set(Lazy.INC, s, a, 1, r, ARITH & ~CF);
    };
  },
  dec(d) {
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    return (c, i) => {
      const s = sz(fixed, i);
      const a = dst.load(c, i, s, true);
      const r = trunc(a - 1, s);
      dst.store(c, i, s, r);
      c.flags.set(Lazy.DEC, s, a, 1, r, ARITH & ~CF);
    };
  },
  not(d) {
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    return (c, i) => {
      const s = sz(fixed, i);
      dst.store(c, i, s, trunc(~dst.load(c, i, s, true), s));
    };
  },
  neg(d) {
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    return (c, i) => {
      const s = sz(fixed, i);
      const a = dst.load(c, i, s, true);
      const r = trunc(-a, s);
      dst.store(c, i, s, r);
      c.flags.set(Lazy.SUB, s, 0, a, r, ARITH);
    };
  },
  mul(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const b = c.readE(i, s) >>> 0;
      if (s === 1) {
        const r = c.r8[0] * b;
        c.r16[0] = r;
        setMulFlags(c, 1, r & 0xff, r > 0xff);
      } else if (s === 2) {
        const r = c.r16[0] * b;
        c.r16[0] = r;
        c.r16[4] = r >>> 16;
        setMulFlags(c, 2, r & 0xffff, r > 0xffff);
      } else {
        const [lo, hi] = mul32(c.regs[0], b);
        c.regs[0] = lo;
        c.regs[2] = hi;
        setMulFlags(c, 4, lo, hi !== 0);
      }
    };
  },
  imul1(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const b = c.readE(i, s);
      if (s === 1) {
        const r = ((c.r8[0] << 24) >> 24) * ((b << 24) >> 24);
        c.r16[0] = r;
        setMulFlags(c, 1, r & 0xff, r !== (r << 24) >> 24);
      } else if (s === 2) {
        const r = ((c.r16[0] << 16) >> 16) * ((b << 16) >> 16);
        c.r16[0] = r;
        c.r16[4] = r >> 16;
        setMulFlags(c, 2, r & 0xffff, r !== (r << 16) >> 16);
      } else {
        const [lo, hi] = imul32(c.regs[0], b);
        c.regs[0] = lo;
        c.regs[2] = hi;
        setMulFlags(c, 4, lo, hi !== lo >> 31);
      }
    };
  },
  imul2() {
    return imulN(
      (c, i, s) => c.getReg(s, i.reg),
      (c, i, s) => c.readE(i, s),
    );
  },
  imul3(d) {
    const imm = getter(d.ops[2]);
    return imulN(
      (c, i, s) => c.readE(i, s),
      (c, i, s) => imm(c, i, s),
    );
  },
  div(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const b = c.readE(i, s) >>> 0;
      if (b === 0) c.raise(EXC_DE);
      if (s === 1) {
        const a = c.r16[0];
        const q = Math.floor(a / b);
        if (q > 0xff) c.raise(EXC_DE);
        c.r8[0] = q;
        c.r8[1] = a % b;
      } else if (s === 2) {
        const a = c.r16[4] * 65536 + c.r16[0];
        const q = Math.floor(a / b);
        if (q > 0xffff) c.raise(EXC_DE);
        c.r16[0] = q;
        c.r16[4] = a % b;
      } else {
        const hi = c.regs[2] >>> 0;
        if (hi >= b) c.raise(EXC_DE);
        const [q, r] = udiv64(hi, c.regs[0], b);
        c.regs[0] = q;
        c.regs[2] = r;
      }
    };
  },
  idiv(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      let b = c.readE(i, s);
      if (s === 1) b = (b << 24) >> 24;
      else if (s === 2) b = (b << 16) >> 16;
      if (b === 0) c.raise(EXC_DE);
      if (s === 1) {
        const a = (c.r16[0] << 16) >> 16;
        const q = Math.trunc(a / b);
        if (q > 127 || q < -128) c.raise(EXC_DE);
        c.r8[0] = q;
        c.r8[1] = a - q * b;
      } else if (s === 2) {
        const a = (c.r16[4] << 16) | c.r16[0] | 0;
        const q = Math.trunc(a / b);
        if (q > 32767 || q < -32768) c.raise(EXC_DE);
        c.r16[0] = q;
        c.r16[4] = a - q * b;
      } else {
        let hi = c.regs[2],
          lo = c.regs[0];
        const negA = hi < 0;
        if (negA) {
          lo = ~lo + 1;
          hi = ~hi + (lo === 0 ? 1 : 0);
        }
        const ub = Math.abs(b);
        if (hi >>> 0 >= ub) c.raise(EXC_DE);
        const [uq, ur] = udiv64(hi, lo, ub);
        const neg = negA !== b < 0;
        if (neg ? uq > 0x80000000 : uq > 0x7fffffff) c.raise(EXC_DE);
        c.regs[0] = neg ? -uq : uq;
        c.regs[2] = negA ? -ur : ur;
      }
    };
  },
  shift(d) {
    const k = SHIFT_INDEX[d.mn];
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    const count = getter(d.ops[1]);
    return (c, i) => {
      const s = sz(fixed, i);
      const n = count(c, i, 1) & 0x1f;
      const a = dst.load(c, i, s, true);
      if (n === 0) return;
      dst.store(c, i, s, shiftOp(c, k, a, n, s));
    };
  },
  shld(d) {
    return doubleShift(d, true);
  },
  shrd(d) {
    return doubleShift(d, false);
  },
  bt(d) {
    const k = ["BT", "BTS", "BTR", "BTC"].indexOf(d.mn);
    const immForm = d.ops[1] === "Ib";
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const bits = s * 8;
      let off = immForm ? i.imm & 0xff : c.getReg(s, i.reg);
      let v: number,
        lin = 0;
      if (i.mod === 3) {
        off &= bits - 1;
        v = c.getReg(s, i.rm);
      } else {
        let byteOff = 0;
        if (!immForm) {
          // A register bit offset addresses memory beyond the operand (signed, in operand units).
          if (s === 2) off = (off << 16) >> 16;
          byteOff = (off >> (s === 4 ? 5 : 4)) * s;
        }
        off &= bits - 1;
        const ea = c.ea(i) + byteOff;
        lin = c.segLin(c.segOf(i), i.a32 ? ea | 0 : ea & 0xffff, s, k !== 0);
        if (k) c.probeWrite(lin, s);
        v = c.ld(s, lin);
      }
      const bit = (v >>> off) & 1;
      c.flags.write(bit ? CF : 0, CF);
      if (k === 0) return;
      const m = 1 << off;
      const r = trunc(k === 1 ? v | m : k === 2 ? v & ~m : v ^ m, s);
      if (i.mod === 3) c.setReg(s, i.rm, r);
      else c.st(s, lin, r);
    };
  },
  bsf() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const v = c.readE(i, s) & SIZE_MASK[s];
      if (v === 0) {
        c.flags.write(ZF, ZF);
        return;
      }
      c.setReg(s, i.reg, 31 - Math.clz32(v & -v));
      c.flags.write(0, ZF);
    };
  },
  bsr() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const v = c.readE(i, s) & SIZE_MASK[s];
      if (v === 0) {
        c.flags.write(ZF, ZF);
        return;
      }
      c.setReg(s, i.reg, 31 - Math.clz32(v));
      c.flags.write(0, ZF);
    };
  },
  bswap() {
    return (c, i) => {
      const v = c.regs[i.opreg];
      // With a 16-bit operand size the result is undefined; P6 and later produce zero.
      c.regs[i.opreg] = i.o32
        ? ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)
        : v & 0xffff0000;
    };
  },
  mov(d) {
    const fixed = opSize(d);
    const [ds, ss] = d.ops;
    if (ds[0] === "O" || ss[0] === "O") {
      const toMem = ds[0] === "O";
      return (c, i) => {
        const s = sz(fixed || (toMem ? specSize(ss) : specSize(ds)), i);
        const seg = c.segOf(i);
        const off = i.a32 ? i.imm : i.imm & 0xffff;
        if (toMem) c.st(s, c.segLin(seg, off, s, true), c.getReg(s, 0));
        else c.setReg(s, 0, c.ld(s, c.segLin(seg, off, s, false)));
      };
    }
    const get = getter(ss),
      put = putter(ds);
    return (c, i) => {
      const s = sz(fixed, i);
      put(c, i, s, get(c, i, s));
    };
  },
  movzx(d) {
    const from = specSize(d.ops[1]);
    return (c, i) => {
      c.setReg(i.o32 ? 4 : 2, i.reg, c.readE(i, from));
    };
  },
  movsx(d) {
    const from = specSize(d.ops[1]);
    const shift = from === 1 ? 24 : 16;
    return (c, i) => {
      const v = (c.readE(i, from) << shift) >> shift;
      c.setReg(i.o32 ? 4 : 2, i.reg, i.o32 ? v : v & 0xffff);
    };
  },
  lea() {
    return (c, i) => {
      const a = c.ea(i);
      c.setReg(i.o32 ? 4 : 2, i.reg, i.o32 ? a : a & 0xffff);
    };
  },
  xchg(d) {
    const fixed = opSize(d);
    const a = new Rmw(d.ops[0]);
    const b = new Rmw(d.ops[1]);
    return (c, i) => {
      const s = sz(fixed, i);
      const va = a.load(c, i, s, true);
      const vb = b.load(c, i, s, true);
      a.store(c, i, s, vb);
      b.store(c, i, s, va);
    };
  },
  xadd(d) {
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    return (c, i) => {
      const s = sz(fixed, i);
      const a = dst.load(c, i, s, true);
      const b = c.getReg(s, i.reg);
      const r = aluOp(c, 0, a, b, s);
      c.setReg(s, i.reg, a);
      dst.store(c, i, s, r);
    };
  },
  cmpxchg(d) {
    const fixed = opSize(d);
    const dst = new Rmw(d.ops[0]);
    return (c, i) => {
      const s = sz(fixed, i);
      const a = dst.load(c, i, s, true);
      const acc = c.getReg(s, 0);
      aluOp(c, 7, acc, a, s);
      if (trunc(acc, s) === trunc(a, s)) dst.store(c, i, s, c.getReg(s, i.reg));
      else {
        // The destination is written back unchanged (a locked read-modify-write), then eAX loaded.
        dst.store(c, i, s, a);
        c.setReg(s, 0, a);
      }
    };
  },
  cmpxchg8b() {
    return (c, i) => {
      const lin = c.eaLin(i, 8, true);
      c.probeWrite(lin, 4);
      c.probeWrite((lin + 4) | 0, 4);
      const lo = c.ld32(lin),
        hi = c.ld32((lin + 4) | 0);
      if (lo === c.regs[0] && hi === c.regs[2]) {
        c.st32(lin, c.regs[3]);
        c.st32((lin + 4) | 0, c.regs[1]);
        c.flags.write(ZF, ZF);
      } else {
        c.st32(lin, lo);
        c.st32((lin + 4) | 0, hi);
        c.regs[0] = lo;
        c.regs[2] = hi;
        c.flags.write(0, ZF);
      }
    };
  },
  cbw() {
    return (c, i) => {
      if (i.o32) c.regs[0] = (c.regs[0] << 16) >> 16;
      else c.r16[0] = (c.r8[0] << 24) >> 24;
    };
  },
  cwd() {
    return (c, i) => {
      if (i.o32) c.regs[2] = c.regs[0] >> 31;
      else c.r16[4] = c.r16[0] & 0x8000 ? 0xffff : 0;
    };
  },
  lahf() {
    return (c) => {
      c.r8[1] = (c.getEflags() & (SF | ZF | AF | PF | CF)) | 2;
    };
  },
  sahf() {
    return (c) => {
      c.flags.write(c.r8[1], SF | ZF | AF | PF | CF);
    };
  },
  clc: () => (c) => c.flags.write(0, CF),
  stc: () => (c) => c.flags.write(CF, CF),
  cmc: () => (c) => c.flags.write(c.flags.get(CF) ^ CF, CF),
  cld: () => (c) => c.flags.write(0, DF),
  std: () => (c) => c.flags.write(DF, DF),
  salc: () => (c) => {
    c.r8[0] = c.flags.get(CF) ? 0xff : 0;
  },
  nop: () => () => {},
  daa() {
    return (c) => {
      const al = c.r8[0];
      const cf = c.flags.get(CF) !== 0;
      let r = al,
        newCf = false,
        af = false;
      if ((al & 0xf) > 9 || c.flags.get(AF)) {
        r = al + 6;
        newCf = cf || r > 0xff;
        af = true;
      }
      if (al > 0x99 || cf) {
        r += 0x60;
        newCf = true;
      }
      r &= 0xff;
      c.r8[0] = r;
      bcdFlags(c, r, newCf, af);
    };
  },
  das() {
    return (c) => {
      const al = c.r8[0];
      const cf = c.flags.get(CF) !== 0;
      let r = al,
        newCf = false,
        af = false;
      if ((al & 0xf) > 9 || c.flags.get(AF)) {
        r = al - 6;
        newCf = cf || r < 0;
        af = true;
      }
      if (al > 0x99 || cf) {
        r -= 0x60;
        newCf = true;
      }
      r &= 0xff;
      c.r8[0] = r;
      bcdFlags(c, r, newCf, af);
    };
  },
  aaa() {
    return (c) => {
      const adj = (c.r8[0] & 0xf) > 9 || c.flags.get(AF) !== 0;
      if (adj) c.r16[0] = c.r16[0] + 0x106;
      c.r8[0] &= 0xf;
      bcdFlags(c, c.r8[0], adj, adj);
    };
  },
  aas() {
    return (c) => {
      const adj = (c.r8[0] & 0xf) > 9 || c.flags.get(AF) !== 0;
      if (adj) {
        c.r16[0] = c.r16[0] - 6;
        c.r8[1] = c.r8[1] - 1;
      }
      c.r8[0] &= 0xf;
      bcdFlags(c, c.r8[0], adj, adj);
    };
  },
  aam() {
    return (c, i) => {
      const b = i.imm & 0xff;
      if (b === 0) c.raise(EXC_DE);
      const al = c.r8[0];
      c.r8[1] = Math.floor(al / b);
      c.r8[0] = al % b;
      c.flags.logic(1, c.r8[0]);
    };
  },
  aad() {
    return (c, i) => {
      const r = (c.r8[0] + c.r8[1] * (i.imm & 0xff)) & 0xff;
      c.r16[0] = r;
      c.flags.logic(1, r);
    };
  },

  // --- stack -------------------------------------------------------------------------------------
  push(d) {
    const get = getter(d.ops[0]);
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      c.push(s, get(c, i, s));
    };
  },
  pop(d) {
    const put = d.ops[0][0] === "Z" ? null : d.ops[0];
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      if (!put) {
        c.setReg(s, i.opreg, c.pop(s));
        return;
      }
      // POP r/m: the value is read first; ESP is incremented before the destination address is
      // computed (Intel SDM POP).
      const v = c.peek(s, 0);
      if (i.mod === 3) {
        c.adjustSp(s);
        c.setReg(s, i.rm, v);
        return;
      }
      const sp = c.regs[4];
      c.adjustSp(s);
      try {
        c.st(s, c.eaLin(i, s, true), v);
      } catch (e) {
        c.regs[4] = sp;
        throw e;
      }
    };
  },
  pusha() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const sp = c.regs[4];
      const vals = [0, 1, 2, 3, 4, 5, 6, 7].map((r) => (r === 4 ? sp : c.getReg(s, r)));
      for (let k = 0; k < 8; k++) c.st(s, c.segLin(SEG_SS, stackOff(c, sp, -(k + 1) * s), s, true), vals[k]);
      c.adjustSp(-8 * s);
    };
  },
  popa() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const vals: number[] = [];
      for (let k = 0; k < 8; k++) vals.push(c.peek(s, k * s));
      for (let k = 0; k < 8; k++) if (7 - k !== 4) c.setReg(s, 7 - k, vals[k]);
      c.adjustSp(8 * s);
    };
  },
  enter() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const alloc = i.imm & 0xffff;
      const level = i.imm2 & 31;
      const b32 = c.stack32;
      const sp0 = c.regs[4];
      const bp0 = c.regs[5];
      c.push(s, c.getReg(s, 5));
      const frame = c.regs[4];
      try {
        if (level > 0) {
          let bp = bp0;
          for (let k = 1; k < level; k++) {
            bp = b32 ? (bp - s) | 0 : (bp - s) & 0xffff;
            c.push(s, c.ld(s, c.segLin(SEG_SS, bp, s, false)));
          }
          c.push(s, b32 ? frame : frame & 0xffff);
        }
        const newSp = b32 ? (c.regs[4] - alloc) | 0 : (c.regs[4] - alloc) & 0xffff;
        // The final stack must be writable (the SDM checks the new ESP).
        if (alloc) c.segLin(SEG_SS, newSp, 1, true);
        c.setReg(s, 5, b32 || s === 2 ? (s === 2 ? frame & 0xffff : frame) : frame & 0xffff);
        if (b32) c.regs[4] = newSp;
        else c.r16[8] = newSp;
      } catch (e) {
        c.regs[4] = sp0;
        c.regs[5] = bp0;
        throw e;
      }
    };
  },
  leave() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const sp = c.regs[4];
      if (c.stack32) c.regs[4] = c.regs[5];
      else c.r16[8] = c.r16[10];
      try {
        c.setReg(s, 5, c.pop(s));
      } catch (e) {
        c.regs[4] = sp;
        throw e;
      }
    };
  },

  // --- control transfer ---------------------------------------------------------------------------
  jcc(d) {
    const cc = (d.code & 0xff) - (d.code > 0xff ? 0x80 : 0x70);
    return (c, i) => {
      if (cond(c, cc)) jumpTo(c, i, c.eip + i.imm);
    };
  },
  jmp() {
    return (c, i) => jumpTo(c, i, c.eip + i.imm);
  },
  call() {
    return (c, i) => {
      c.push(i.o32 ? 4 : 2, c.eip);
      jumpTo(c, i, c.eip + i.imm);
    };
  },
  call_ind() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const t = c.readE(i, s);
      c.push(s, c.eip);
      jumpTo(c, i, t);
    };
  },
  jmp_ind() {
    return (c, i) => jumpTo(c, i, c.readE(i, i.o32 ? 4 : 2));
  },
  ret(d) {
    const imm = d.ops.length > 0;
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const t = c.peek(s, 0);
      c.adjustSp(s + (imm ? i.imm & 0xffff : 0));
      jumpTo(c, i, t);
    };
  },
  loop(d) {
    const kind = d.code - 0xe0; // 0 LOOPNE, 1 LOOPE, 2 LOOP
    return (c, i) => {
      const n = (getCount(c, i) - 1) >>> 0;
      setCount(c, i, i.a32 ? n : n & 0xffff);
      const nz = i.a32 ? n !== 0 : (n & 0xffff) !== 0;
      let take = nz;
      if (kind === 0) take = nz && !c.flags.get(ZF);
      else if (kind === 1) take = nz && c.flags.get(ZF) !== 0;
      if (take) jumpTo(c, i, c.eip + i.imm);
    };
  },
  jcxz() {
    return (c, i) => {
      if (getCount(c, i) === 0) jumpTo(c, i, c.eip + i.imm);
    };
  },
  cmov(d) {
    const cc = d.code & 0xf;
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const v = c.readE(i, s);
      if (cond(c, cc)) c.setReg(s, i.reg, v);
    };
  },
  setcc(d) {
    const cc = d.code & 0xf;
    return (c, i) => c.writeE(i, 1, cond(c, cc) ? 1 : 0);
  },

  // --- strings ---------------------------------------------------------------------------------------
  movs(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const seg = c.segOf(i);
      const step = strStep(c, s);
      if (i.rep && i.a32 && c.flatR & (1 << seg) && c.flatW & (1 << SEG_ES)) repMovsFlat(c, s, step);
      repLoop(c, i, d, () => {
        const v = c.ld(s, c.segLin(seg, getSi(c, i), s, false));
        c.st(s, c.segLin(SEG_ES, getDi(c, i), s, true), v);
        addSi(c, i, step);
        addDi(c, i, step);
      });
    };
  },
  cmps(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const seg = c.segOf(i);
      const step = strStep(c, s);
      repLoop(c, i, d, () => {
        const a = c.ld(s, c.segLin(seg, getSi(c, i), s, false));
        const b = c.ld(s, c.segLin(SEG_ES, getDi(c, i), s, false));
        aluOp(c, 7, a, b, s);
        addSi(c, i, step);
        addDi(c, i, step);
      });
    };
  },
  stos(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const step = strStep(c, s);
      const v = c.getReg(s, 0);
      if (i.rep && i.a32 && c.flatW & (1 << SEG_ES)) repStosFlat(c, s, step, v);
      repLoop(c, i, d, () => {
        c.st(s, c.segLin(SEG_ES, getDi(c, i), s, true), v);
        addDi(c, i, step);
      });
    };
  },
  lods(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const seg = c.segOf(i);
      const step = strStep(c, s);
      repLoop(c, i, d, () => {
        c.setReg(s, 0, c.ld(s, c.segLin(seg, getSi(c, i), s, false)));
        addSi(c, i, step);
      });
    };
  },
  scas(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const step = strStep(c, s);
      repLoop(c, i, d, () => {
        const b = c.ld(s, c.segLin(SEG_ES, getDi(c, i), s, false));
        aluOp(c, 7, c.getReg(s, 0), b, s);
        addDi(c, i, step);
      });
    };
  },
  ins(d) {
    const fixed = opSize(d);
    return (c, i) => {
      const s = sz(fixed, i);
      const port = c.r16[4];
      checkIo(c, port, s);
      const step = strStep(c, s);
      repLoop(c, i, d, () => {
        const lin = c.segLin(SEG_ES, getDi(c, i), s, true);
        c.probeWrite(lin, s);
        c.st(s, lin, c.io.read(port, s as 1 | 2 | 4));
        addDi(c, i, step);
      });
    };
  },
  outs(d) {
    const fixed = specSize(d.ops[1]);
    return (c, i) => {
      const s = sz(fixed, i);
      const port = c.r16[4];
      checkIo(c, port, s);
      const seg = c.segOf(i);
      const step = strStep(c, s);
      repLoop(c, i, d, () => {
        c.io.write(port, s as 1 | 2 | 4, c.ld(s, c.segLin(seg, getSi(c, i), s, false)));
        addSi(c, i, step);
      });
    };
  },
  xlat() {
    return (c, i) => {
      const seg = c.segOf(i);
      const off = i.a32 ? (c.regs[3] + c.r8[0]) | 0 : (c.r16[6] + c.r8[0]) & 0xffff;
      c.r8[0] = c.ld8(c.segLin(seg, off, 1, false));
    };
  },
  bound() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const lin = c.eaLin(i, 2 * s, false);
      let lo = c.ld(s, lin),
        hi = c.ld(s, (lin + s) | 0),
        v = c.getReg(s, i.reg);
      if (s === 2) {
        lo = (lo << 16) >> 16;
        hi = (hi << 16) >> 16;
        v = (v << 16) >> 16;
      }
      if (v < lo || v > hi) c.raise(EXC_BR);
    };
  },
  arpl() {
    const dst = new Rmw("Ew");
    return (c, i) => {
      if (!c.protectedMode) c.raise(EXC_UD);
      const a = dst.load(c, i, 2, true);
      const src = c.r16[i.reg << 1];
      if ((a & 3) < (src & 3)) {
        dst.store(c, i, 2, (a & ~3) | (src & 3));
        c.flags.write(ZF, ZF);
      } else c.flags.write(0, ZF);
    };
  },

  // --- I/O -------------------------------------------------------------------------------------------
  in(d) {
    const fixed = specSize(d.ops[0]);
    const viaDx = d.ops[1] === "DX";
    return (c, i) => {
      const s = sz(fixed, i);
      const port = viaDx ? c.r16[4] : i.imm & 0xff;
      checkIo(c, port, s);
      c.setReg(s, 0, c.io.read(port, s as 1 | 2 | 4));
    };
  },
  out(d) {
    const fixed = specSize(d.ops[1]);
    const viaDx = d.ops[0] === "DX";
    return (c, i) => {
      const s = sz(fixed, i);
      const port = viaDx ? c.r16[4] : i.imm & 0xff;
      checkIo(c, port, s);
      c.io.write(port, s as 1 | 2 | 4, c.getReg(s, 0));
    };
  },

  // --- interrupts and flags -------------------------------------------------------------------------
  int() {
    return (c, i) => deliverInterrupt(c, i.imm & 0xff, -1, true, c.eip, false);
  },
  int3() {
    return (c) => deliverInterrupt(c, 3, -1, true, c.eip, false);
  },
  into() {
    return (c) => {
      if (c.flags.get(OF)) deliverInterrupt(c, 4, -1, true, c.eip, false);
    };
  },
  int1() {
    return (c) => deliverInterrupt(c, 1, -1, false, c.eip, false);
  },
  ud2() {
    return (c) => c.raise(EXC_UD);
  },
  hlt() {
    return (c) => {
      if (c.cpl !== 0) c.raise(EXC_GP, 0);
      c.halted = true;
    };
  },
  cli() {
    return (c) => {
      if (c.protectedMode && c.cpl > ((c.flags.bits >> 12) & 3)) c.raise(EXC_GP, 0);
      c.flags.write(0, IF);
    };
  },
  sti() {
    return (c) => {
      if (c.protectedMode && c.cpl > ((c.flags.bits >> 12) & 3)) c.raise(EXC_GP, 0);
      if (!(c.flags.bits & IF)) c.inhibitUntil = c.icount + 1;
      c.flags.write(IF, IF);
    };
  },
  pushf() {
    return (c, i) => {
      // VM and RF are never seen set in the pushed image.
      const v = c.getEflags() & ~0x30000;
      c.push(i.o32 ? 4 : 2, i.o32 ? v : v & 0xffff);
    };
  },
  popf() {
    return (c, i) => {
      const s = i.o32 ? 4 : 2;
      const v = c.peek(s, 0);
      if (c.protectedMode) {
        writeFlagsPrivileged(c, v & ~0x10000, i.o32, c.cpl);
      } else {
        const mask = i.o32 ? 0x247fd5 : 0x7fd5;
        c.flags.write(v, mask);
      }
      c.adjustSp(s);
    };
  },
  iret() {
    return (c, i) => iret(c, i.o32);
  },

  // --- segments and far transfers ------------------------------------------------------------------
  push_seg(d) {
    const s = ["ES", "CS", "SS", "DS", "FS", "GS"].indexOf(d.ops[0]);
    return (c, i) => {
      if (i.o32) {
        // Like recent processors: ESP moves by 4 but only the low 16 bits are written.
        const sp = c.stack32 ? (c.regs[4] - 4) | 0 : (c.regs[4] - 4) & 0xffff;
        c.st16(c.segLin(SEG_SS, sp, 4, true), c.sel[s]);
        c.adjustSp(-4);
      } else c.push(2, c.sel[s]);
    };
  },
  pop_seg(d) {
    const s = ["ES", "CS", "SS", "DS", "FS", "GS"].indexOf(d.ops[0]);
    return (c, i) => {
      const size = i.o32 ? 4 : 2;
      loadSeg(c, s, c.peek(2, 0));
      c.adjustSp(size);
      if (s === SEG_SS) c.inhibitUntil = c.icount + 1;
    };
  },
  mov_from_seg() {
    return (c, i) => {
      if (i.reg > 5) c.raise(EXC_UD);
      const v = c.sel[i.reg];
      if (i.mod === 3) c.setReg(i.o32 ? 4 : 2, i.rm, v);
      else c.writeE(i, 2, v);
    };
  },
  mov_to_seg() {
    return (c, i) => {
      if (i.reg > 5 || i.reg === SEG_CS) c.raise(EXC_UD);
      loadSeg(c, i.reg, c.readE(i, 2));
      if (i.reg === SEG_SS) c.inhibitUntil = c.icount + 1;
    };
  },
  lseg(d) {
    const s = { LES: SEG_ES, LDS: SEG_DS, LSS: SEG_SS, LFS: 4, LGS: 5 }[d.mn]!;
    return (c, i) => {
      const [sel, off] = readFarPointer(c, i);
      loadSeg(c, s, sel);
      c.setReg(i.o32 ? 4 : 2, i.reg, off);
    };
  },
  callf(d) {
    const direct = d.ops[0] === "Ap";
    return (c, i) => {
      const [sel, off] = direct ? [i.imm2, i.imm] : readFarPointer(c, i);
      farCall(c, sel, off, i.o32, c.eip);
    };
  },
  jmpf(d) {
    const direct = d.ops[0] === "Ap";
    return (c, i) => {
      const [sel, off] = direct ? [i.imm2, i.imm] : readFarPointer(c, i);
      farJump(c, sel, off, i.o32);
    };
  },
  retf(d) {
    const imm = d.ops.length > 0;
    return (c, i) => farReturn(c, i.o32, imm ? i.imm & 0xffff : 0);
  },
};

/** A far pointer (m16:16 or m16:32) from the memory operand: [selector, offset]. */
function readFarPointer(c: Cpu, i: Insn): [number, number] {
  const size = i.o32 ? 4 : 2;
  const lin = c.eaLin(i, size + 2, false);
  return [c.ld16((lin + size) | 0), c.ld(size, lin)];
}

function stackOff(c: Cpu, sp: number, delta: number): number {
  return c.stack32 ? (sp + delta) | 0 : (sp + delta) & 0xffff;
}

function bcdFlags(c: Cpu, r: number, cf: boolean, af: boolean): void {
  c.flags.logic(1, r);
  c.flags.write(
    (cf ? CF : 0) | (af ? AF : 0) | parity(r) | (r === 0 ? ZF : 0) | (r & 0x80 ? SF : 0),
    CF | AF | PF | ZF | SF | OF,
  );
}

function imulN(a: Get, b: Get): Handler {
  return (c, i) => {
    const s = i.o32 ? 4 : 2;
    const x = a(c, i, s),
      y = b(c, i, s);
    if (s === 2) {
      const r = ((x << 16) >> 16) * ((y << 16) >> 16);
      c.setReg(2, i.reg, r & 0xffff);
      setMulFlags(c, 2, r & 0xffff, r !== (r << 16) >> 16);
    } else {
      const [lo, hi] = imul32(x, y);
      c.regs[i.reg] = lo;
      setMulFlags(c, 4, lo, hi !== lo >> 31);
    }
  };
}

function doubleShift(d: OpcodeDef, left: boolean): Handler {
  const byCl = d.ops[2] === "CL";
  const dst = new Rmw("Ev");
  return (c, i) => {
    const s = i.o32 ? 4 : 2;
    const n = (byCl ? c.r8[4] : i.imm) & 0x1f;
    const a = dst.load(c, i, s, true);
    if (n === 0) return;
    const b = c.getReg(s, i.reg);
    let r: number, cf: number;
    if (s === 4) {
      const A = a >>> 0,
        B = b >>> 0;
      if (left) {
        r = (A << n) | (B >>> (32 - n)) | 0;
        cf = (A >>> (32 - n)) & 1;
      } else {
        r = (A >>> n) | (B << (32 - n)) | 0;
        cf = (A >>> (n - 1)) & 1;
      }
    } else {
      // 16-bit: operate on the 32-bit concatenation (counts above 16 give undefined results;
      // this matches the concatenated-shift behaviour of P6-family processors).
      const A = a & 0xffff,
        B = b & 0xffff;
      if (left) {
        const full = n <= 16 ? (A << n) | (B >>> (16 - n)) : (B << (n - 16)) | (A >>> (32 - n));
        r = full & 0xffff;
        cf = n <= 16 ? (A >>> (16 - n)) & 1 : (B >>> (32 - n)) & 1;
      } else {
        const full = n <= 16 ? (A >>> n) | (B << (16 - n)) : (B >>> (n - 16)) | (A << (32 - n));
        r = full & 0xffff;
        cf = n <= 16 ? (A >>> (n - 1)) & 1 : (B >>> (n - 17)) & 1;
      }
    }
    dst.store(c, i, s, r);
    const sign = SIGN_BIT[s];
    const of = ((r ^ a) & sign) !== 0;
    c.flags.set(Lazy.LOGIC, s, 0, 0, r, SF | ZF | PF);
    c.flags.bits = (c.flags.bits & ~(CF | OF | AF)) | (cf ? CF : 0) | (of ? OF : 0);
  };
}
