// The x87 floating-point unit (with FXSAVE/FXRSTOR) of a P6-class processor.
//
// Registers hold exact 80-bit double-extended values (sign/exponent word + 64-bit significand with
// its explicit integer bit), so FLD/FSTP m80, FILD/FISTP m64 and FNSAVE/FRSTOR round-trip bit for
// bit. FADD/FSUB/FMUL/FDIV/FSQRT, FPREM/FPREM1, FSCALE, FRNDINT and all conversions are exact
// software IEEE arithmetic on BigInt significands: rounding control, precision control (24/53/64
// bits), the six exception flags, C1 round-up, denormals and the masked responses all follow the SDM
// (Vol. 1 ch. 8 and 4.9). The transcendental instructions (FSIN FCOS FPTAN FPATAN F2XM1 FYL2X
// FYL2XP1 FSINCOS) are computed in binary64 with Math.* and widened, so their low 11 significand bits
// differ from the hardware's; their special cases (C2 for |x| >= 2^63, invalid and zero-divide
// operands) are as documented.
//
// Unmasked exceptions set ES and B and are reported at the next waiting x87 instruction: #MF when
// CR0.NE=1, otherwise (MS-DOS compatibility mode, SDM Vol. 1 D.2) FERR# is asserted through
// `onFerr` (the PC routes it to IRQ13) and the waiting instruction freezes — it is restarted until
// the handler clears the error or the machine asserts IGNNE# (`ignne = true`, port F0h).

import type { Cpu } from "./cpu.ts";
import type { Insn } from "./decoder.ts";
import type { OpcodeDef } from "./opcodes.ts";
import { AF, CF, OF, PF, SF, VM, ZF } from "./flags.ts";

// Exception vectors and CR0 bits (kept local: cpu.ts imports this module).
const EXC_UD = 6,
  EXC_NM = 7,
  EXC_GP = 13,
  EXC_MF = 16;
const CR0_MP = 2,
  CR0_EM = 4,
  CR0_TS = 8,
  CR0_NE = 0x20;

// Status word bits.
export const FSW_IE = 0x1,
  FSW_DE = 0x2,
  FSW_ZE = 0x4,
  FSW_OE = 0x8,
  FSW_UE = 0x10,
  FSW_PE = 0x20,
  FSW_SF = 0x40,
  FSW_ES = 0x80,
  FSW_C0 = 0x100,
  FSW_C1 = 0x200,
  FSW_C2 = 0x400,
  FSW_C3 = 0x4000,
  FSW_B = 0x8000;
const IE = FSW_IE,
  DE = FSW_DE,
  ZE = FSW_ZE,
  OE = FSW_OE,
  UE = FSW_UE,
  PE = FSW_PE;
const CC_MASK = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3;

/** An 80-bit value: sign<<15 | biased exponent, and the 64-bit significand (integer bit 63). */
export interface F80 {
  se: number;
  m: bigint;
}

/** Serialisable FPU state (saveState / loadState). */
export interface FpuState {
  cw: number;
  /** Status word including TOP. */
  sw: number;
  /** Tag word (informational; `empty` is authoritative). */
  tw: number;
  /** Physical registers R0–R7: sign/exponent words and significands (hex). */
  se: number[];
  mant: string[];
  empty: number;
  fip: number;
  fcs: number;
  fop: number;
  fdp: number;
  fds: number;
  mxcsr: number;
  ignne: boolean;
}

const BIT63 = 1n << 63n;
const M64 = (1n << 64n) - 1n;
const INDEF: F80 = { se: 0xffff, m: 0xc000000000000000n };
const ZERO: F80 = { se: 0, m: 0n };

// Value classes.
const K_ZERO = 0,
  K_NORMAL = 1,
  K_DENORMAL = 2,
  K_INF = 3,
  K_QNAN = 4,
  K_SNAN = 5,
  K_UNSUP = 6;

function kind(x: F80): number {
  const e = x.se & 0x7fff;
  const ib = (x.m & BIT63) !== 0n;
  if (e === 0x7fff) {
    if (!ib) return K_UNSUP; // pseudo-infinity / pseudo-NaN
    const frac = x.m & (BIT63 - 1n);
    if (frac === 0n) return K_INF;
    return x.m & (1n << 62n) ? K_QNAN : K_SNAN;
  }
  if (e === 0) return x.m === 0n ? K_ZERO : K_DENORMAL; // pseudo-denormals count as denormal
  return ib ? K_NORMAL : K_UNSUP; // unnormal
}

const isNaNK = (k: number) => k === K_QNAN || k === K_SNAN;
const sgn = (x: F80) => x.se >>> 15;

function bitlen(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** Finite value as m × 2^e (m may be 0). */
function expOf(x: F80): number {
  const e = x.se & 0x7fff;
  return (e === 0 ? 1 : e) - 16383 - 63;
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitlen(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Destination format of a rounding. */
interface Fmt {
  p: number; // significand bits
  emax: number; // largest unbiased exponent
  emin: number; // smallest normal unbiased exponent
  minLsb: number; // exponent of the smallest denormal
}
const FMT80: Fmt = { p: 64, emax: 16383, emin: -16382, minLsb: -16445 };
const FMT64: Fmt = { p: 53, emax: 1023, emin: -1022, minLsb: -1074 };
const FMT32: Fmt = { p: 24, emax: 127, emin: -126, minLsb: -149 };
// Precision control keeps the extended exponent range; denormal results keep the p-bit grid.
const PC_FMT: Fmt[] = [
  { ...FMT80, p: 24, minLsb: -16382 - 23 },
  FMT80, // reserved encoding: treat as extended
  { ...FMT80, p: 53, minLsb: -16382 - 52 },
  FMT80,
];

// Result of rnd(): value = q × 2^lsb, or an infinity.
let rQ = 0n;
let rLsb = 0;
let rInf = false;

export class Fpu {
  cw = 0x40;
  /** Status word without TOP (bits 11–13 kept in `top`). */
  sw = 0;
  top = 0;
  /** Physical registers R0–R7. */
  readonly se = new Uint16Array(8);
  readonly mant = new BigUint64Array(8);
  /** Bit per physical register: empty. */
  empty = 0;
  fip = 0;
  fcs = 0;
  fop = 0;
  fdp = 0;
  fds = 0;
  /** MXCSR image kept for FXSAVE/FXRSTOR (no SSE on this CPU; see fxsave). */
  mxcsr = 0x1f80;
  /** FERR# output (CR0.NE = 0): the PC routes it to IRQ13. Called when an unmasked exception is signalled. */
  onFerr: (() => void) | null = null;
  /** IGNNE# input (PC: asserted by a write to port F0h while FERR# is active). */
  ignne = false;

  // per-instruction state
  /** Exception flags raised by the current instruction. */
  exc = 0;
  /** C1 (round-up) from the last rounding. */
  c1 = 0;

  constructor(readonly cpu: Cpu) {
    this.reset();
  }

  /** Power-on state (SDM Vol. 3 table 9-1): CW 0040h, SW 0, all registers +0.0 valid. */
  reset(): void {
    this.cw = 0x40;
    this.sw = 0;
    this.top = 0;
    this.se.fill(0);
    this.mant.fill(0n);
    this.empty = 0;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
    this.mxcsr = 0x1f80;
    this.ignne = false;
  }

  /** FNINIT. */
  init(): void {
    this.cw = 0x37f;
    this.sw = 0;
    this.top = 0;
    this.empty = 0xff;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
    this.ignne = false;
  }

  /** Snapshot (plain JSON: significands as hex strings). */
  saveState(): FpuState {
    return {
      cw: this.cw,
      sw: this.status,
      tw: this.tagWord,
      se: Array.from(this.se),
      mant: Array.from(this.mant, (m) => m.toString(16)),
      empty: this.empty,
      fip: this.fip,
      fcs: this.fcs,
      fop: this.fop,
      fdp: this.fdp,
      fds: this.fds,
      mxcsr: this.mxcsr,
      ignne: this.ignne,
    };
  }

  loadState(s: FpuState): void {
    const num = (v: unknown, name: string): number => {
      if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`FPU state: bad ${name}`);
      return v;
    };
    if (!Array.isArray(s.se) || s.se.length !== 8 || !Array.isArray(s.mant) || s.mant.length !== 8)
      throw new Error("FPU state: register arrays must have 8 entries");
    const mant = s.mant.map((h) => {
      if (typeof h !== "string" || !/^[0-9a-f]{1,16}$/i.test(h))
        throw new Error("FPU state: bad significand");
      return BigInt("0x" + h);
    });
    const se = s.se.map((v) => num(v, "exponent") & 0xffff);
    this.cw = (num(s.cw, "cw") & 0x1f3f) | 0x40;
    this.empty = num(s.empty, "empty") & 0xff;
    this.fip = num(s.fip, "fip") | 0;
    this.fcs = num(s.fcs, "fcs") & 0xffff;
    this.fop = num(s.fop, "fop") & 0x7ff;
    this.fdp = num(s.fdp, "fdp") | 0;
    this.fds = num(s.fds, "fds") & 0xffff;
    this.mxcsr = num(s.mxcsr ?? 0x1f80, "mxcsr");
    for (let r = 0; r < 8; r++) {
      this.se[r] = se[r];
      this.mant[r] = mant[r];
    }
    this.top = (num(s.sw, "sw") >> 11) & 7;
    this.sw = s.sw & ~0x3800 & 0xffff;
    this.ignne = !!s.ignne;
  }

  // --- architectural views -------------------------------------------------------------------------

  get status(): number {
    return (this.sw & ~0x3800) | (this.top << 11);
  }
  set status(v: number) {
    this.top = (v >> 11) & 7;
    this.sw = v & ~0x3800 & 0xffff;
    this.updateES();
  }
  setControl(v: number): void {
    this.cw = (v & 0x1f3f) | 0x40;
    this.updateES();
  }

  /** Full tag word (2 bits per physical register: valid, zero, special, empty). */
  get tagWord(): number {
    let tw = 0;
    for (let r = 0; r < 8; r++) tw |= this.tagOf(r) << (2 * r);
    return tw;
  }
  set tagWord(tw: number) {
    let e = 0;
    for (let r = 0; r < 8; r++) if (((tw >> (2 * r)) & 3) === 3) e |= 1 << r;
    this.empty = e;
  }
  tagOf(r: number): number {
    if (this.empty & (1 << r)) return 3;
    const k = kind({ se: this.se[r], m: this.mant[r] });
    return k === K_NORMAL ? 0 : k === K_ZERO ? 1 : 2;
  }
  /** Abridged tag (FXSAVE): bit per physical register, 1 = not empty. */
  get abridgedTag(): number {
    return ~this.empty & 0xff;
  }

  phys(i: number): number {
    return (this.top + i) & 7;
  }
  isEmpty(i: number): boolean {
    return (this.empty & (1 << this.phys(i))) !== 0;
  }
  st(i: number): F80 {
    const r = this.phys(i);
    return { se: this.se[r], m: this.mant[r] };
  }
  setSt(i: number, x: F80): void {
    const r = this.phys(i);
    this.se[r] = x.se;
    this.mant[r] = x.m;
    this.empty &= ~(1 << r);
  }
  /** ST(i) as a JavaScript number (rounded to nearest). */
  stNumber(i: number): number {
    return f80ToNumber(this.st(i));
  }
  pop(): void {
    this.empty |= 1 << this.top;
    this.top = (this.top + 1) & 7;
  }
  /** Push with the stack-overflow check; returns false when an unmasked fault blocks it. */
  push(x: F80): boolean {
    const r = (this.top - 1) & 7;
    if (!(this.empty & (1 << r))) {
      this.exc |= IE | FSW_SF;
      this.c1 = 1;
      if (!(this.cw & IE)) return false;
      x = INDEF;
    }
    this.top = r;
    this.se[r] = x.se;
    this.mant[r] = x.m;
    this.empty &= ~(1 << r);
    return true;
  }

  private updateES(): void {
    if (this.sw & 0x3f & ~this.cw) this.sw |= FSW_ES | FSW_B;
    else {
      this.sw &= ~(FSW_ES | FSW_B);
      this.ignne = false;
    }
  }

  /** Fold this instruction's exceptions into SW; an unmasked one becomes pending (ES, B, FERR#). */
  signal(): void {
    const e = this.exc;
    this.exc = 0;
    if (!e) return;
    this.sw |= e & 0x7f;
    if (e & 0x3f & ~this.cw && !(this.sw & FSW_ES)) {
      this.sw |= FSW_ES | FSW_B;
      if (!(this.cpu.cr0 & CR0_NE)) this.onFerr?.();
    }
  }

  /** Any of these exceptions raised and unmasked in this instruction? */
  unmasked(bits: number): boolean {
    return (this.exc & bits & ~this.cw) !== 0;
  }

  setCC(c0: number, c1: number, c2: number, c3: number): void {
    this.sw =
      (this.sw & ~CC_MASK) | (c0 ? FSW_C0 : 0) | (c1 ? FSW_C1 : 0) | (c2 ? FSW_C2 : 0) | (c3 ? FSW_C3 : 0);
  }
  setC1(c1: number): void {
    this.sw = c1 ? this.sw | FSW_C1 : this.sw & ~FSW_C1;
  }

  /** Stack underflow on a source operand: IE|SF, C1=0; returns true if the masked response applies. */
  underflow(): boolean {
    this.exc |= IE | FSW_SF;
    this.c1 = 0;
    return (this.cw & IE) !== 0;
  }

  get rc(): number {
    return (this.cw >> 10) & 3;
  }

  // --- rounding -------------------------------------------------------------------------------------

  /**
   * Round sign × (m × 2^e + sticky) to `f` under the current rounding control. Sets rQ/rLsb (or
   * rInf) and raises PE/UE/OE and C1 in `exc`/`c1`. `reg` = destination is an x87 register (unmasked
   * OE/UE then deliver the exponent-wrapped result, SDM 4.9.1.4-5).
   */
  private rnd(s: number, m: bigint, e: number, sticky: boolean, f: Fmt, reg: boolean): void {
    rInf = false;
    const n = bitlen(m);
    const lead = e + n - 1;
    const rc = this.rc;
    const roundAt = (lsb: number): [bigint, boolean, boolean] => {
      const sh = lsb - e;
      let q: bigint;
      let rem = 0,
        inexact = sticky;
      if (sh <= 0) q = m << BigInt(-sh);
      else {
        q = m >> BigInt(sh);
        const r = m & ((1n << BigInt(sh)) - 1n);
        const half = 1n << BigInt(sh - 1);
        if (r !== 0n) inexact = true;
        rem = r > half ? 2 : r === half ? (sticky ? 2 : 1) : r !== 0n || sticky ? 0.5 : 0;
      }
      if (sh <= 0 && sticky) rem = 0.5;
      let up = false;
      if (inexact) {
        if (rc === 0) up = rem === 2 || (rem === 1 && (q & 1n) === 1n);
        else if (rc === 1) up = s === 1;
        else if (rc === 2) up = s === 0;
      }
      if (up) q += 1n;
      return [q, inexact, up];
    };
    if (m === 0n) {
      rQ = 0n;
      rLsb = f.minLsb;
      if (sticky) {
        // Only possible for a tiny nonzero remainder: behaves like the smallest denormal fraction.
        const up = (rc === 1 && s === 1) || (rc === 2 && s === 0);
        this.exc |= PE | UE;
        if (up) rQ = 1n;
        this.c1 = up ? 1 : 0;
      }
      return;
    }
    let lsb = Math.max(lead - (f.p - 1), f.minLsb);
    // Tininess after rounding (unbounded exponent), as x86 does; the result itself is rounded on
    // the denormal grid.
    let tiny = false;
    if (lead < f.emin) {
      const qu = roundAt(lead - (f.p - 1))[0];
      tiny = lead + (bitlen(qu) > f.p ? 1 : 0) < f.emin;
      if (tiny && !(this.cw & UE)) {
        // Unmasked underflow: a register receives the result scaled by 2^24576; a memory
        // destination is not written and PE is not signalled.
        this.exc |= UE;
        if (reg) this.rnd(s, m, e + 24576, sticky, f, false);
        else rQ = 0n;
        return;
      }
    }
    const res = roundAt(lsb);
    let q = res[0];
    const inexact = res[1],
      up = res[2];
    if (bitlen(q) > f.p) {
      // Carry out of the significand: the value is a power of two, the shift is exact.
      q >>= 1n;
      lsb += 1;
    }
    const leadR = lsb + bitlen(q) - 1;
    if (leadR > f.emax) {
      if (!(this.cw & OE)) {
        this.exc |= OE;
        if (reg) this.rnd(s, m, e - 24576, sticky, f, false);
        else rQ = 0n;
        return;
      }
      this.exc |= OE | PE;
      const toInf = rc === 0 || (rc === 1 && s === 1) || (rc === 2 && s === 0);
      if (toInf) {
        rInf = true;
        this.c1 = 1;
      } else {
        rQ = (1n << BigInt(f.p)) - 1n;
        rLsb = f.emax - f.p + 1;
        this.c1 = 0;
      }
      return;
    }
    if (tiny && (inexact || !(this.cw & UE))) this.exc |= UE;
    if (inexact) this.exc |= PE;
    this.c1 = up ? 1 : 0;
    rQ = q;
    rLsb = lsb;
  }

  /** Round to an 80-bit register value with precision `f.p` (PC for arithmetic). */
  round80(s: number, m: bigint, e: number, sticky: boolean, f: Fmt = FMT80): F80 {
    this.c1 = 0;
    this.rnd(s, m, e, sticky, f, true);
    return pack80(s);
  }

  /** Exact normalisation (no rounding needed) of sign × m × 2^e into 80 bits. */
  exact80(s: number, m: bigint, e: number): F80 {
    const c1 = this.c1;
    const x = this.round80(s, m, e, false);
    this.c1 = c1;
    return x;
  }

  // --- conversions ------------------------------------------------------------------------------------

  /** m32 bits → F80 (exact; DE for denormals; SNaN stays signalling for the arithmetic to see). */
  fromF32(v: number): F80 {
    const s = v >>> 31,
      ex = (v >>> 23) & 0xff,
      fr = v & 0x7fffff;
    if (ex === 0xff) return { se: (s << 15) | 0x7fff, m: BIT63 | (BigInt(fr) << 40n) };
    if (ex === 0) {
      if (fr === 0) return { se: s << 15, m: 0n };
      this.exc |= DE;
      return this.exact80(s, BigInt(fr), -149);
    }
    return { se: (s << 15) | (ex - 127 + 16383), m: BIT63 | (BigInt(fr) << 40n) };
  }

  fromF64(lo: number, hi: number): F80 {
    const s = hi >>> 31,
      ex = (hi >>> 20) & 0x7ff;
    const fr = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo >>> 0);
    if (ex === 0x7ff) return { se: (s << 15) | 0x7fff, m: BIT63 | (fr << 11n) };
    if (ex === 0) {
      if (fr === 0n) return { se: s << 15, m: 0n };
      this.exc |= DE;
      return this.exact80(s, fr, -1074);
    }
    return { se: (s << 15) | (ex - 1023 + 16383), m: BIT63 | (fr << 11n) };
  }

  fromInt(v: bigint): F80 {
    if (v === 0n) return { se: 0, m: 0n };
    return v < 0n ? this.exact80(1, -v, 0) : this.exact80(0, v, 0);
  }

  /** F80 → binary32/64 bits (as a BigInt) with rounding and the invalid/overflow/underflow rules. */
  toIEEE(x: F80, f: Fmt): bigint {
    const ebits = f === FMT32 ? 8 : 11;
    const fbits = f.p - 1;
    const s = BigInt(sgn(x));
    const top = s << BigInt(ebits + fbits);
    const expAll = (1n << BigInt(ebits)) - 1n;
    const k = kind(x);
    this.c1 = 0;
    if (k === K_ZERO) return top;
    if (k === K_INF) return top | (expAll << BigInt(fbits));
    if (k === K_UNSUP || isNaNK(k)) {
      let frac: bigint;
      if (k === K_UNSUP) {
        this.exc |= IE;
        return (1n << BigInt(ebits + fbits + 1)) - (1n << BigInt(fbits - 1)); // negative QNaN indefinite
      }
      if (k === K_SNAN) this.exc |= IE;
      frac = (x.m >> BigInt(63 - fbits)) & ((1n << BigInt(fbits)) - 1n);
      frac |= 1n << BigInt(fbits - 1);
      return top | (expAll << BigInt(fbits)) | frac;
    }
    // FST/FIST/FBSTP do not signal DE for a denormal source (SDM: #IA #U #O #P only).
    this.rnd(sgn(x), x.m, expOf(x), false, f, false);
    const bias = f.emax;
    if (rInf) return top | (expAll << BigInt(fbits));
    if (rQ === 0n) return top;
    const n = bitlen(rQ);
    const lead = rLsb + n - 1;
    if (lead >= f.emin) {
      const frac = (rQ << BigInt(fbits - (n - 1))) & ((1n << BigInt(fbits)) - 1n);
      return top | (BigInt(lead + bias) << BigInt(fbits)) | frac;
    }
    return top | (rQ << BigInt(rLsb - f.minLsb));
  }

  /** Round a finite value to an integer under RC. Returns null for NaN/inf/unsupported. */
  toInteger(x: F80): bigint | null {
    const k = kind(x);
    if (k === K_ZERO) return 0n;
    if (k !== K_NORMAL && k !== K_DENORMAL) return null;
    const s = sgn(x);
    const e = expOf(x);
    if (e >= 0) {
      if (e > 64) return null;
      const v = x.m << BigInt(e);
      return s ? -v : v;
    }
    const sh = -e;
    let q: bigint, rem: number;
    if (sh > 200) {
      q = 0n;
      rem = 0.5;
    } else {
      q = x.m >> BigInt(sh);
      const r = x.m & ((1n << BigInt(sh)) - 1n);
      const half = 1n << BigInt(sh - 1);
      rem = r === 0n ? 0 : r > half ? 2 : r === half ? 1 : 0.5;
    }
    this.c1 = 0;
    if (rem) {
      this.exc |= PE;
      const rc = this.rc;
      let up = false;
      if (rc === 0) up = rem === 2 || (rem === 1 && (q & 1n) === 1n);
      else if (rc === 1) up = s === 1;
      else if (rc === 2) up = s === 0;
      if (up) {
        q += 1n;
        this.c1 = 1;
      }
    }
    return s ? -q : q;
  }

  // --- arithmetic ---------------------------------------------------------------------------------

  /** NaN propagation (SDM table 4-7) for a two-operand instruction, or IE + indefinite. */
  nanResult(a: F80, b: F80, ka: number, kb: number): F80 {
    if (ka === K_SNAN || kb === K_SNAN) this.exc |= IE;
    const q = (x: F80): F80 => ({ se: x.se, m: x.m | (1n << 62n) });
    if (isNaNK(ka) && isNaNK(kb)) {
      const fa = a.m & (BIT63 - 1n) & ~(1n << 62n),
        fb = b.m & (BIT63 - 1n) & ~(1n << 62n);
      if (fa === fb) return q(sgn(a) === 0 ? a : b);
      return q(fa > fb ? a : b);
    }
    return q(isNaNK(ka) ? a : b);
  }

  /** Checks common to binary operations; returns a result for special operands, else null. */
  private binSpecial(a: F80, b: F80, ka: number, kb: number): F80 | null {
    if (ka === K_UNSUP || kb === K_UNSUP) {
      this.exc |= IE;
      return INDEF;
    }
    if (isNaNK(ka) || isNaNK(kb)) return this.nanResult(a, b, ka, kb);
    if (ka === K_DENORMAL || kb === K_DENORMAL) {
      this.exc |= DE;
      if (!(this.cw & DE)) return INDEF; // unmasked: the operation is not performed
    }
    return null;
  }

  invalid(): F80 {
    this.exc |= IE;
    return INDEF;
  }

  /** op: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr (the ModRM.reg numbering of D8). */
  arith(op: number, a: F80, b: F80): F80 {
    if (op === 5 || op === 7) {
      [a, b] = [b, a];
      op -= 1;
    }
    this.c1 = 0;
    const ka = kind(a),
      kb = kind(b);
    const sp = this.binSpecial(a, b, ka, kb);
    if (sp) return sp;
    const f = PC_FMT[(this.cw >> 8) & 3];
    const sa = sgn(a);
    let sb = sgn(b);
    switch (op) {
      case 0:
      case 4: {
        if (op === 4) sb ^= 1;
        if (ka === K_INF) return kb === K_INF && sa !== sb ? this.invalid() : infinity(sa);
        if (kb === K_INF) return infinity(sb);
        let ma = a.m,
          ea = expOf(a),
          mb = b.m,
          eb = expOf(b);
        if (ma === 0n) ea = eb;
        if (mb === 0n) eb = ea;
        if (ea - eb > 200) {
          mb = 1n;
          eb = ea - 200;
        } else if (eb - ea > 200) {
          ma = 1n;
          ea = eb - 200;
        }
        const e = Math.min(ea, eb);
        const A = ma << BigInt(ea - e),
          B = mb << BigInt(eb - e);
        const sum = (sa ? -A : A) + (sb ? -B : B);
        if (sum === 0n) return { se: (sa === sb ? sa : this.rc === 1 ? 1 : 0) << 15, m: 0n };
        return sum < 0n ? this.round80(1, -sum, e, false, f) : this.round80(0, sum, e, false, f);
      }
      case 1: {
        const s = sa ^ sb;
        if (ka === K_INF || kb === K_INF)
          return ka === K_ZERO || kb === K_ZERO ? this.invalid() : infinity(s);
        if (ka === K_ZERO || kb === K_ZERO) return { se: s << 15, m: 0n };
        return this.round80(s, a.m * b.m, expOf(a) + expOf(b), false, f);
      }
      default: {
        const s = sa ^ sb;
        if (ka === K_INF) return kb === K_INF ? this.invalid() : infinity(s);
        if (kb === K_INF) return { se: s << 15, m: 0n };
        if (kb === K_ZERO) {
          if (ka === K_ZERO) return this.invalid();
          this.exc = (this.exc & ~DE) | ZE; // as measured: a denormal dividend does not add DE
          return infinity(s);
        }
        if (ka === K_ZERO) return { se: s << 15, m: 0n };
        const k = Math.max(0, 66 + bitlen(b.m) - bitlen(a.m));
        const num = a.m << BigInt(k);
        const q = num / b.m;
        return this.round80(s, q, expOf(a) - expOf(b) - k, q * b.m !== num, f);
      }
    }
  }

  sqrt(a: F80): F80 {
    this.c1 = 0;
    const ka = kind(a);
    if (ka === K_UNSUP) return this.invalid();
    if (isNaNK(ka)) return this.nanResult(a, a, ka, ka);
    if (ka === K_ZERO) return a;
    if (sgn(a)) return this.invalid();
    if (ka === K_INF) return a;
    if (ka === K_DENORMAL) {
      this.exc |= DE;
      if (!(this.cw & DE)) return INDEF;
    }
    const e = expOf(a);
    let k = Math.max(0, 140 - bitlen(a.m));
    if ((e - k) & 1) k++;
    const M = a.m << BigInt(k);
    const r = isqrt(M);
    return this.round80(0, r, (e - k) / 2, r * r !== M, PC_FMT[(this.cw >> 8) & 3]);
  }

  /** Compare: 0 a>b, 1 a<b, 2 equal, 3 unordered. `quiet`: only SNaN raises IE. */
  compare(a: F80, b: F80, quiet: boolean): number {
    const ka = kind(a),
      kb = kind(b);
    if (ka === K_UNSUP || kb === K_UNSUP || isNaNK(ka) || isNaNK(kb)) {
      if (!quiet || ka === K_SNAN || kb === K_SNAN || ka === K_UNSUP || kb === K_UNSUP) this.exc |= IE;
      return 3;
    }
    if (ka === K_DENORMAL || kb === K_DENORMAL) this.exc |= DE;
    const c = cmpValues(a, b, ka, kb);
    return c > 0 ? 0 : c < 0 ? 1 : 2;
  }

  // --- memory helpers ---------------------------------------------------------------------------------

  ld80(lin: number): F80 {
    const c = this.cpu;
    const lo = BigInt(c.ld32(lin) >>> 0),
      hi = BigInt(c.ld32((lin + 4) | 0) >>> 0);
    return { se: c.ld16((lin + 8) | 0), m: (hi << 32n) | lo };
  }
  st80(lin: number, x: F80): void {
    const c = this.cpu;
    c.st32(lin, Number(x.m & 0xffffffffn) | 0);
    c.st32((lin + 4) | 0, Number(x.m >> 32n) | 0);
    c.st16((lin + 8) | 0, x.se);
  }
}

/** A pseudo-denormal (exponent 0, integer bit set) reads as exponent 1 when an operation returns it. */
function normalDenormal(x: F80): F80 {
  return (x.se & 0x7fff) === 0 && x.m & BIT63 ? { se: x.se | 1, m: x.m } : x;
}

function infinity(s: number): F80 {
  return { se: (s << 15) | 0x7fff, m: BIT63 };
}

function pack80(s: number): F80 {
  if (rInf) return infinity(s);
  if (rQ === 0n) return { se: s << 15, m: 0n };
  const n = bitlen(rQ);
  const lead = rLsb + n - 1;
  if (lead >= -16382) return { se: (s << 15) | (lead + 16383), m: (rQ << BigInt(63 - (n - 1))) & M64 };
  return { se: s << 15, m: rQ << BigInt(rLsb + 16445) };
}

/** Signed comparison of two non-NaN values: -1, 0, 1. */
function cmpValues(a: F80, b: F80, ka: number, kb: number): number {
  const sa = sgn(a),
    sb = sgn(b);
  const za = ka === K_ZERO,
    zb = kb === K_ZERO;
  if (za && zb) return 0;
  if (za) return sb ? 1 : -1;
  if (zb) return sa ? -1 : 1;
  if (sa !== sb) return sa ? -1 : 1;
  let c: number;
  if (ka === K_INF || kb === K_INF) c = ka === kb ? 0 : ka === K_INF ? 1 : -1;
  else {
    const la = expOf(a) + bitlen(a.m),
      lb = expOf(b) + bitlen(b.m);
    if (la !== lb) c = la > lb ? 1 : -1;
    else {
      const na = a.m << BigInt(64 - bitlen(a.m)),
        nb = b.m << BigInt(64 - bitlen(b.m));
      c = na === nb ? 0 : na > nb ? 1 : -1;
    }
  }
  return sa ? -c : c;
}

let scratchFpu: Fpu | null = null;
/** A detached FPU for pure conversions (never touches a CPU). */
function scratch(): Fpu {
  return (scratchFpu ??= new Fpu(null as unknown as Cpu));
}

/** F80 → number, round to nearest (for the transcendental helpers and debugging). */
export function f80ToNumber(x: F80): number {
  const k = kind(x);
  const s = sgn(x) ? -1 : 1;
  if (k === K_ZERO) return s * 0;
  if (k === K_INF) return s * Infinity;
  if (k !== K_NORMAL && k !== K_DENORMAL) return NaN;
  const tmp = scratch();
  tmp.cw = 0x37f;
  const bits = tmp.toIEEE(x, FMT64);
  tmp.exc = 0;
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, bits, true);
  return dv.getFloat64(0, true);
}

/** number → F80 (exact). */
export function numberToF80(v: number): F80 {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v, true);
  const tmp = scratch();
  const x = tmp.fromF64(dv.getInt32(0, true), dv.getInt32(4, true));
  tmp.exc = 0;
  return x;
}

// ===================================================================================================
// Instruction semantics
// ===================================================================================================

type Handler = (cpu: Cpu, i: Insn) => void;

const W_WAIT = 1; // waiting instruction: reports a pending unmasked exception first
const W_DATA = 2; // non-control: records FIP/FCS/FOP (and FDP/FDS for memory operands)

/**
 * Prologue of every x87 instruction: #NM (CR0.EM or CR0.TS), pending-exception check, last
 * instruction pointers. Returns false when the instruction is frozen (NE=0, FERR# asserted).
 */
function begin(cpu: Cpu, i: Insn, flags: number): boolean {
  const cr0 = cpu.cr0;
  if (cr0 & (CR0_EM | CR0_TS)) cpu.raise(EXC_NM);
  const f = cpu.fpu;
  if (flags & W_WAIT && !pendingOk(cpu, f)) return false;
  f.exc = 0;
  f.c1 = 0;
  if (flags & W_DATA) {
    f.fip = cpu.insnEip;
    f.fcs = cpu.sel[1] & 0xffff;
    const c = i.def.code;
    f.fop = ((c & 7) << 8) | (i.modrm & 0xff);
    if (i.mod !== 3) {
      f.fdp = cpu.ea(i);
      f.fds = cpu.sel[cpu.segOf(i)] & 0xffff;
    }
  }
  return true;
}

/** Deliver a pending unmasked exception: #MF (NE=1) or freeze with FERR# (NE=0). */
function pendingOk(cpu: Cpu, f: Fpu): boolean {
  if (!(f.sw & FSW_ES)) return true;
  if (cpu.cr0 & CR0_NE) cpu.raise(EXC_MF);
  if (f.ignne) return true;
  // Frozen: FERR# stays asserted and the instruction restarts until the handler (IRQ13) clears ES.
  f.onFerr?.();
  cpu.eip = cpu.insnEip;
  return false;
}

function memSize(op: string): number {
  switch (op) {
    case "Mf32":
    case "Mi32":
      return 4;
    case "Mf64":
    case "Mi64":
      return 8;
    case "Mf80":
    case "Mbcd":
      return 10;
    case "Mi16":
    case "M2":
      return 2;
  }
  return 0;
}

/** Load a memory source operand (real or integer) as F80. */
function loadOperand(cpu: Cpu, f: Fpu, i: Insn, op: string): F80 {
  const lin = cpu.eaLin(i, memSize(op), false);
  switch (op) {
    case "Mf32":
      return f.fromF32(cpu.ld32(lin));
    case "Mf64":
      return f.fromF64(cpu.ld32(lin), cpu.ld32((lin + 4) | 0));
    case "Mf80":
      return f.ld80(lin);
    case "Mi16":
      return f.fromInt(BigInt((cpu.ld16(lin) << 16) >> 16));
    case "Mi32":
      return f.fromInt(BigInt(cpu.ld32(lin)));
    default: {
      const lo = BigInt(cpu.ld32(lin) >>> 0),
        hi = BigInt(cpu.ld32((lin + 4) | 0));
      return f.fromInt((hi << 32n) | lo);
    }
  }
}

/** Wrap a body with the prologue; exceptions are folded into SW afterwards. */
function x87(flags: number, body: (f: Fpu, cpu: Cpu, i: Insn) => void): Handler {
  return (cpu, i) => {
    if (!begin(cpu, i, flags)) return;
    const f = cpu.fpu;
    body(f, cpu, i);
    f.signal();
  };
}

const WD = W_WAIT | W_DATA;

function opOf(mn: string): number {
  const base = mn.replace(/^FI/, "F").replace(/P$/, "");
  const k = ["FADD", "FMUL", "", "", "FSUB", "FSUBR", "FDIV", "FDIVR"].indexOf(base);
  if (k < 0) throw new Error(`x87: no arithmetic for ${mn}`);
  return k;
}

// FLD constants: nearest image and whether the true value lies above it (for RC down/up/chop).
const CONSTS: Record<string, [number, bigint, number]> = {
  FLD1: [0x3fff, BIT63, 0],
  FLDZ: [0, 0n, 0],
  FLDL2T: [0x4000, 0xd49a784bcd1b8afen, 1],
  FLDL2E: [0x3fff, 0xb8aa3b295c17f0bcn, -1],
  FLDPI: [0x4000, 0xc90fdaa22168c235n, -1],
  FLDLG2: [0x3ffd, 0x9a209a84fbcff799n, -1],
  FLDLN2: [0x3ffe, 0xb17217f7d1cf79acn, -1],
};

/** FXAM C3 C2 C0 by value class: unsupported 000, NaN 001, normal 010, infinity 011, zero 100, denormal 110. */
const FXAM_CLASS: [number, number, number][] = [];
FXAM_CLASS[K_ZERO] = [1, 0, 0];
FXAM_CLASS[K_NORMAL] = [0, 1, 0];
FXAM_CLASS[K_DENORMAL] = [1, 1, 0];
FXAM_CLASS[K_INF] = [0, 1, 1];
FXAM_CLASS[K_QNAN] = [0, 0, 1];
FXAM_CLASS[K_SNAN] = [0, 0, 1];
FXAM_CLASS[K_UNSUP] = [0, 0, 0];

const FCMOV_COND: ((cpu: Cpu) => boolean)[] = [
  (c) => c.flags.get(CF) !== 0,
  (c) => c.flags.get(ZF) !== 0,
  (c) => c.flags.get(CF) !== 0 || c.flags.get(ZF) !== 0,
  (c) => c.flags.get(PF) !== 0,
];

/** Store the environment (14/28 bytes) at lin; returns its size. */
function storeEnv(cpu: Cpu, f: Fpu, lin: number, o32: boolean): number {
  const prot = cpu.protectedMode && !(cpu.flags.bits & VM);
  const w = (off: number, v: number) =>
    o32 ? cpu.st32((lin + off * 2) | 0, v) : cpu.st16((lin + off) | 0, v);
  const fields = envFields(f, prot, o32);
  for (let k = 0; k < 7; k++) w(k * 2, fields[k]);
  return o32 ? 28 : 14;
}

function envFields(f: Fpu, prot: boolean, o32: boolean): number[] {
  const hiFill = o32 ? 0xffff0000 | 0 : 0;
  const cw = f.cw | hiFill,
    sw = f.status | hiFill,
    tw = f.tagWord | hiFill;
  if (prot) {
    if (o32) return [cw, sw, tw, f.fip, (f.fcs & 0xffff) | ((f.fop & 0x7ff) << 16), f.fdp, f.fds | hiFill];
    return [cw, sw, tw, f.fip & 0xffff, f.fcs, f.fdp & 0xffff, f.fds];
  }
  // Real / virtual-8086 mode: 20-bit (32-bit form: 32-bit) linear instruction and operand pointers.
  const ip = (f.fcs << 4) + f.fip,
    dp = (f.fds << 4) + f.fdp;
  if (o32)
    return [
      cw,
      sw,
      tw,
      (ip & 0xffff) | hiFill,
      ((ip >>> 16) << 12) | (f.fop & 0x7ff),
      (dp & 0xffff) | hiFill,
      (dp >>> 16) << 12,
    ];
  return [cw, sw, tw, ip & 0xffff, ((ip >>> 16) << 12) | (f.fop & 0x7ff), dp & 0xffff, (dp >>> 16) << 12];
}

function loadEnv(cpu: Cpu, f: Fpu, lin: number, o32: boolean): number {
  const prot = cpu.protectedMode && !(cpu.flags.bits & VM);
  const r = (off: number) => (o32 ? cpu.ld32((lin + off * 2) | 0) : cpu.ld16((lin + off) | 0));
  const v: number[] = [];
  for (let k = 0; k < 7; k++) v.push(r(k * 2));
  f.cw = (v[0] & 0x1f3f) | 0x40;
  f.tagWord = v[2] & 0xffff;
  if (prot) {
    f.fip = o32 ? v[3] : v[3] & 0xffff;
    f.fcs = v[4] & 0xffff;
    f.fop = o32 ? (v[4] >>> 16) & 0x7ff : f.fop;
    f.fdp = o32 ? v[5] : v[5] & 0xffff;
    f.fds = v[6] & 0xffff;
  } else {
    const ip = (v[3] & 0xffff) | (((v[4] >>> 12) & (o32 ? 0xffff : 0xf)) << 16);
    const dp = (v[5] & 0xffff) | (((v[6] >>> 12) & (o32 ? 0xffff : 0xf)) << 16);
    f.fop = v[4] & 0x7ff;
    f.fcs = 0;
    f.fip = ip;
    f.fds = 0;
    f.fdp = dp;
  }
  f.status = v[1] & 0xffff; // recomputes ES/B from the new CW
  return o32 ? 28 : 14;
}

function bcdToBig(cpu: Cpu, lin: number): [bigint, number] {
  let v = 0n;
  for (let k = 8; k >= 0; k--) {
    const b = cpu.ld8((lin + k) | 0);
    v = v * 100n + BigInt((b >> 4) * 10 + (b & 15));
  }
  return [v, cpu.ld8((lin + 9) | 0) >> 7];
}

export const X87_SEMANTICS: Record<string, (def: OpcodeDef) => Handler> = {
  fwait: () => (cpu) => {
    const cr0 = cpu.cr0;
    if ((cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) cpu.raise(EXC_NM);
    pendingOk(cpu, cpu.fpu);
  },

  x87_arith: (def) => {
    const op = opOf(def.mn);
    const pop = def.mn.endsWith("P");
    const src = def.ops[0];
    if (src.startsWith("M"))
      return x87(WD, (f, cpu, i) => {
        const b = loadOperand(cpu, f, i, src);
        if (f.isEmpty(0)) {
          if (f.underflow()) f.setSt(0, INDEF);
          f.setC1(0);
          return;
        }
        const r = f.arith(op, f.st(0), b);
        if (!f.unmasked(IE | DE | ZE)) f.setSt(0, r);
        f.setC1(f.c1);
      });
    const destSt0 = def.ops[0] === "ST0";
    return x87(WD, (f, _cpu, i) => {
      const d = destSt0 ? 0 : i.rm;
      const s = destSt0 ? i.rm : 0;
      if (f.isEmpty(0) || f.isEmpty(i.rm)) {
        if (f.underflow()) {
          f.setSt(d, INDEF);
          if (pop) f.pop();
        }
        f.setC1(0);
        return;
      }
      const r = f.arith(op, f.st(d), f.st(s));
      if (f.unmasked(IE | DE | ZE)) {
        f.setC1(0);
        return;
      }
      f.setSt(d, r);
      f.setC1(f.c1);
      if (pop) f.pop();
    });
  },

  x87_com: (def) => {
    const mn = def.mn.replace(/\d$/, "");
    const pops = mn.endsWith("PP") ? 2 : mn.endsWith("P") ? 1 : 0;
    const quiet = mn.startsWith("FU");
    const src = def.ops[0] as string | undefined;
    return x87(WD, (f, cpu, i) => {
      const b = src?.startsWith("M") ? loadOperand(cpu, f, i, src) : null;
      const si = src === "STi" ? i.rm : 1;
      let res: number;
      if (f.isEmpty(0) || (!b && f.isEmpty(si))) {
        if (!f.underflow()) {
          f.setC1(0);
          return;
        }
        res = 3;
      } else res = f.compare(f.st(0), b ?? f.st(si), quiet);
      // Unmasked IE/DE: the condition codes are still set, but nothing is popped (as measured).
      f.setCC(res === 1 || res === 3 ? 1 : 0, 0, res === 3 ? 1 : 0, res >= 2 ? 1 : 0);
      if (f.unmasked(IE | DE)) return;
      for (let k = 0; k < pops; k++) f.pop();
    });
  },

  x87_comi: (def) => {
    const pop = def.mn.endsWith("P");
    const quiet = def.mn.startsWith("FU");
    return x87(WD, (f, cpu, i) => {
      let res: number;
      if (f.isEmpty(0) || f.isEmpty(i.rm)) {
        if (!f.underflow()) {
          f.setC1(0);
          return;
        }
        res = 3;
      } else res = f.compare(f.st(0), f.st(i.rm), quiet);
      f.setC1(0);
      // EFLAGS are written even when IE is unmasked (SDM FCOMI pseudo-code; as measured).
      const fl = (res === 1 || res === 3 ? CF : 0) | (res === 3 ? PF : 0) | (res >= 2 ? ZF : 0);
      cpu.flags.write(fl, CF | PF | ZF | OF | SF | AF);
      if (f.unmasked(IE | DE)) return;
      if (pop) f.pop();
    });
  },

  x87_fld: (def) => {
    const src = def.ops[0];
    if (src === "STi")
      return x87(WD, (f, _cpu, i) => {
        if (f.isEmpty(i.rm)) {
          if (!f.underflow()) return;
          f.top = (f.top - 1) & 7; // masked response: the indefinite, no overflow check
          f.setSt(0, INDEF);
        } else f.push(f.st(i.rm));
        f.setC1(f.c1);
      });
    return x87(WD, (f, cpu, i) => {
      let x = loadOperand(cpu, f, i, src);
      if (src !== "Mf80" && kind(x) === K_SNAN) {
        f.exc |= IE;
        x = { se: x.se, m: x.m | (1n << 62n) };
      }
      if (f.unmasked(IE | DE)) return;
      f.push(x);
      f.setC1(f.c1);
    });
  },

  x87_fild: (def) => {
    const src = def.ops[0];
    return x87(WD, (f, cpu, i) => {
      const x = loadOperand(cpu, f, i, src);
      f.push(x);
      f.setC1(f.c1);
    });
  },

  x87_fst: (def) => {
    const dst = def.ops[0];
    const pop = def.mn.startsWith("FSTP");
    if (dst === "STi")
      return x87(WD, (f, _cpu, i) => {
        if (f.isEmpty(0)) {
          if (!f.underflow()) return;
          f.setSt(i.rm, INDEF);
        } else f.setSt(i.rm, f.st(0));
        f.setC1(0);
        if (pop) f.pop();
      });
    const size = memSize(dst);
    return x87(WD, (f, cpu, i) => {
      const lin = cpu.eaLin(i, size, true);
      if (size > 4) cpu.probeWrite(lin, size);
      let x: F80;
      if (f.isEmpty(0)) {
        if (!f.underflow()) return;
        x = INDEF;
      } else x = f.st(0);
      if (dst === "Mf80") {
        f.st80(lin, x);
      } else {
        const bits = f.toIEEE(x, dst === "Mf32" ? FMT32 : FMT64);
        if (f.unmasked(IE | DE | OE | UE)) {
          f.setC1(0);
          return;
        }
        if (size === 4) cpu.st32(lin, Number(bits) | 0);
        else {
          cpu.st32(lin, Number(bits & 0xffffffffn) | 0);
          cpu.st32((lin + 4) | 0, Number(bits >> 32n) | 0);
        }
      }
      f.setC1(f.c1);
      if (pop) f.pop();
    });
  },

  x87_fist: (def) => {
    const dst = def.ops[0];
    const pop = def.mn === "FISTP";
    const size = memSize(dst);
    const lim = 1n << BigInt(size * 8 - 1);
    return x87(WD, (f, cpu, i) => {
      const lin = cpu.eaLin(i, size, true);
      if (size > 4) cpu.probeWrite(lin, size);
      let v: bigint | null = null;
      if (f.isEmpty(0)) {
        if (!f.underflow()) return;
      } else {
        v = f.toInteger(f.st(0));
        if (v !== null && (v >= lim || v < -lim)) v = null;
        if (v === null) {
          f.exc |= IE;
          f.exc &= ~PE;
          f.c1 = 0;
        }
      }
      if (f.unmasked(IE | DE)) {
        f.setC1(0);
        return;
      }
      const w = v ?? -lim; // integer indefinite
      if (size === 2) cpu.st16(lin, Number(w & 0xffffn));
      else if (size === 4) cpu.st32(lin, Number(BigInt.asIntN(32, w)));
      else {
        cpu.st32(lin, Number(BigInt.asIntN(32, w)));
        cpu.st32((lin + 4) | 0, Number(BigInt.asIntN(32, w >> 32n)));
      }
      f.setC1(f.c1);
      if (pop) f.pop();
    });
  },

  x87_fbld: () =>
    x87(WD, (f, cpu, i) => {
      const lin = cpu.eaLin(i, 10, false);
      const [v, s] = bcdToBig(cpu, lin);
      const x = f.fromInt(v);
      f.push(s ? { se: x.se | 0x8000, m: x.m } : x);
      f.setC1(f.c1);
    }),

  x87_fbstp: () =>
    x87(WD, (f, cpu, i) => {
      const lin = cpu.eaLin(i, 10, true);
      cpu.probeWrite(lin, 10);
      let v: bigint | null = null;
      let neg = 0;
      if (f.isEmpty(0)) {
        if (!f.underflow()) return;
      } else {
        const x = f.st(0);
        neg = sgn(x);
        v = f.toInteger(x);
        if (v !== null && (v > 999999999999999999n || v < -999999999999999999n)) v = null;
        if (v === null) {
          f.exc |= IE;
          f.exc &= ~PE;
          f.c1 = 0;
        }
      }
      if (f.unmasked(IE | DE)) return;
      if (v === null) {
        // Packed BCD indefinite: FFFF C000 0000 0000 0000.
        for (let k = 0; k < 7; k++) cpu.st8((lin + k) | 0, 0);
        cpu.st8((lin + 7) | 0, 0xc0);
        cpu.st8((lin + 8) | 0, 0xff);
        cpu.st8((lin + 9) | 0, 0xff);
      } else {
        let a = v < 0n ? -v : v;
        for (let k = 0; k < 9; k++) {
          const lo = Number(a % 10n);
          a /= 10n;
          const hi = Number(a % 10n);
          a /= 10n;
          cpu.st8((lin + k) | 0, (hi << 4) | lo);
        }
        cpu.st8((lin + 9) | 0, neg ? 0x80 : 0);
      }
      f.setC1(f.c1);
      f.pop();
    }),

  x87_fxch: () =>
    x87(WD, (f, _cpu, i) => {
      if (f.isEmpty(0) || f.isEmpty(i.rm)) {
        if (!f.underflow()) return;
        if (f.isEmpty(0)) f.setSt(0, INDEF);
        if (f.isEmpty(i.rm)) f.setSt(i.rm, INDEF);
      }
      const a = f.st(0);
      f.setSt(0, f.st(i.rm));
      f.setSt(i.rm, a);
      f.setC1(0);
    }),

  x87_ffree: (def) =>
    x87(WD, (f, _cpu, i) => {
      f.empty |= 1 << f.phys(i.rm);
      if (def.mn === "FFREEP") f.top = (f.top + 1) & 7;
    }),

  x87_fcmov: (def) => {
    const cond = FCMOV_COND[(def.ext ?? 0) & 3];
    const neg = def.code === 0xdb;
    return x87(WD, (f, cpu, i) => {
      if (f.isEmpty(0) || f.isEmpty(i.rm)) {
        if (!f.underflow()) return;
        if (f.isEmpty(0)) f.setSt(0, INDEF);
        if (f.isEmpty(i.rm)) f.setSt(i.rm, INDEF);
      }
      if (cond(cpu) !== neg) f.setSt(0, f.st(i.rm));
      f.setC1(0);
    });
  },

  x87_fnop: () => x87(WD, () => {}),
  // FENI/FDISI/FSETPM: 8087/287 controls, no-ops (without the wait) on 387 and later.
  x87_fnop_legacy: () => x87(0, () => {}),

  x87_fchs: (def) => {
    const abs = def.mn === "FABS";
    return x87(WD, (f) => {
      if (f.isEmpty(0)) {
        if (f.underflow()) f.setSt(0, INDEF);
        f.setC1(0);
        return;
      }
      const x = f.st(0);
      f.setSt(0, { se: abs ? x.se & 0x7fff : x.se ^ 0x8000, m: x.m });
      f.setC1(0);
    });
  },

  x87_ftst: () =>
    x87(WD, (f) => {
      let res = 3;
      if (f.isEmpty(0)) {
        if (!f.underflow()) return;
      } else res = f.compare(f.st(0), ZERO, false);
      f.setCC(res === 1 || res === 3 ? 1 : 0, 0, res === 3 ? 1 : 0, res >= 2 ? 1 : 0);
    }),

  x87_fxam: () =>
    x87(WD, (f) => {
      const x = f.st(0);
      const s = sgn(x);
      if (f.isEmpty(0)) return f.setCC(1, s, 0, 1);
      // C3 C2 C0: unsupported 000, NaN 001, normal 010, infinity 011, zero 100, denormal 110.
      const [c3, c2, c0] = FXAM_CLASS[kind(x)];
      f.setCC(c0, s, c2, c3);
    }),

  x87_fldc: (def) => {
    const [se, m, dir] = CONSTS[def.mn];
    return x87(WD, (f) => {
      const rc = f.rc;
      // RC down/chop rounds an image above the true value down; RC up rounds one below it up.
      const adj = (rc === 1 || rc === 3) && dir < 0 ? -1n : rc === 2 && dir > 0 ? 1n : 0n;
      f.push({ se, m: m + adj });
      f.setC1(f.c1);
    });
  },

  x87_fstp_adj: (def) => {
    const d = def.mn === "FINCSTP" ? 1 : -1;
    return x87(WD, (f) => {
      f.top = (f.top + d) & 7;
      f.setC1(0);
    });
  },

  x87_fsqrt: () =>
    x87(WD, (f) => {
      if (f.isEmpty(0)) {
        if (f.underflow()) f.setSt(0, INDEF);
        f.setC1(0);
        return;
      }
      const r = f.sqrt(f.st(0));
      if (!f.unmasked(IE | DE)) f.setSt(0, r);
      f.setC1(f.c1);
    }),

  x87_frndint: () =>
    x87(WD, (f) => {
      if (f.isEmpty(0)) {
        if (f.underflow()) f.setSt(0, INDEF);
        f.setC1(0);
        return;
      }
      const x = f.st(0);
      const k = kind(x);
      let r: F80;
      if (k === K_UNSUP) r = f.invalid();
      else if (isNaNK(k)) r = f.nanResult(x, x, k, k);
      else if (k === K_INF || k === K_ZERO || expOf(x) >= 0) r = x;
      else if (k === K_DENORMAL && !(f.cw & DE)) {
        f.exc |= DE;
        r = x;
      } else {
        if (k === K_DENORMAL) f.exc |= DE;
        const v = f.toInteger(x)!;
        const c1 = f.c1;
        r = v === 0n ? { se: x.se & 0x8000, m: 0n } : f.fromInt(v);
        f.c1 = c1;
      }
      if (!f.unmasked(IE | DE)) f.setSt(0, r);
      f.setC1(f.c1);
    }),

  x87_fscale: () =>
    x87(WD, (f) => {
      if (f.isEmpty(0) || f.isEmpty(1)) {
        if (f.underflow()) f.setSt(0, INDEF);
        f.setC1(0);
        return;
      }
      const a = f.st(0),
        b = f.st(1);
      const ka = kind(a),
        kb = kind(b);
      let r: F80;
      if (ka === K_UNSUP || kb === K_UNSUP) r = f.invalid();
      else if (isNaNK(ka) || isNaNK(kb)) r = f.nanResult(a, b, ka, kb);
      else {
        if (ka === K_DENORMAL || kb === K_DENORMAL) f.exc |= DE;
        if (kb === K_INF) {
          if (sgn(b)) r = ka === K_INF ? f.invalid() : { se: a.se & 0x8000, m: 0n };
          else r = ka === K_ZERO ? f.invalid() : infinity(sgn(a));
        } else if (ka === K_ZERO || ka === K_INF) r = a;
        else {
          // Integer part of ST(1), truncated toward zero; clamp (anything beyond overflows anyway).
          const eb = expOf(b);
          let n: number;
          if (kb === K_ZERO) n = 0;
          else if (eb >= 0) n = 1 << 20;
          else n = -eb > 64 ? 0 : Math.min(Number(b.m >> BigInt(-eb)), 1 << 20);
          if (sgn(b)) n = -n;
          r = f.round80(sgn(a), a.m, expOf(a) + n, false);
        }
      }
      if (!f.unmasked(IE | DE)) f.setSt(0, r);
      f.setC1(f.c1);
    }),

  x87_fxtract: () =>
    x87(WD, (f) => {
      if (f.isEmpty(0)) {
        if (f.underflow()) {
          f.setSt(0, INDEF);
          f.push(INDEF);
        }
        return;
      }
      const x = f.st(0);
      const k = kind(x);
      let e: F80, sig: F80;
      if (k === K_UNSUP) e = sig = f.invalid();
      else if (isNaNK(k)) {
        if (k === K_SNAN) f.exc |= IE;
        e = sig = { se: x.se, m: x.m | (1n << 62n) };
      } else if (k === K_ZERO) {
        f.exc |= ZE;
        e = infinity(1);
        sig = x;
      } else if (k === K_INF) {
        e = infinity(0);
        sig = x;
      } else {
        if (k === K_DENORMAL) f.exc |= DE;
        const lead = expOf(x) + bitlen(x.m) - 1;
        e = f.fromInt(BigInt(lead));
        sig = { se: (x.se & 0x8000) | 16383, m: x.m << BigInt(64 - bitlen(x.m)) };
      }
      if (f.unmasked(IE | ZE | DE)) return;
      f.setSt(0, e);
      f.push(sig);
      f.setC1(f.c1);
    }),

  x87_fprem: (def) => {
    const ieee = def.mn === "FPREM1";
    return x87(WD, (f) => {
      if (f.isEmpty(0) || f.isEmpty(1)) {
        if (f.underflow()) f.setSt(0, INDEF);
        f.setCC(0, 0, 0, 0);
        return;
      }
      const a = f.st(0),
        b = f.st(1);
      const ka = kind(a),
        kb = kind(b);
      let r: F80;
      let q = 0n,
        partial = false;
      if (ka === K_UNSUP || kb === K_UNSUP) r = f.invalid();
      else if (isNaNK(ka) || isNaNK(kb)) r = f.nanResult(a, b, ka, kb);
      else if (ka === K_INF || kb === K_ZERO) r = f.invalid();
      else {
        if (ka === K_DENORMAL || kb === K_DENORMAL) f.exc |= DE;
        if (ka === K_ZERO || kb === K_INF) r = normalDenormal(a);
        else {
          const ea = expOf(a),
            eb = expOf(b);
          const d = ea + bitlen(a.m) - (eb + bitlen(b.m));
          if (d < 0 && !(ieee && d === -1)) r = normalDenormal(a);
          else {
            // Exact: a = ma·2^ea, b = mb·2^eb. Work at exponent e0 = min(ea, eb).
            let sh = 0; // partial reduction: divide by b·2^(d - N)
            if (d >= 64) {
              partial = true;
              sh = d - (32 + (d % 32)); // reduce the exponent by a value between 32 and 63
            }
            const e0 = Math.min(ea, eb + sh);
            const A = a.m << BigInt(ea - e0);
            const B = b.m << BigInt(eb + sh - e0);
            q = A / B;
            let R = A - q * B;
            if (ieee && !partial) {
              const twice = R * 2n;
              if (twice > B || (twice === B && (q & 1n) === 1n)) {
                q += 1n;
                R -= B;
              }
            }
            const sa = sgn(a);
            if (R === 0n) r = { se: sa << 15, m: 0n };
            else r = R < 0n ? f.exact80(sa ^ 1, -R, e0) : f.exact80(sa, R, e0);
          }
        }
      }
      if (f.unmasked(IE | DE)) return;
      f.setSt(0, r);
      if (partial) f.setCC(0, 0, 1, 0);
      else f.setCC(Number((q >> 2n) & 1n), Number(q & 1n), 0, Number((q >> 1n) & 1n)); // C0=Q2 C1=Q0 C3=Q1
    });
  },

  x87_ftrans: (def) => {
    const mn = def.mn;
    const two = mn === "FYL2X" || mn === "FYL2XP1" || mn === "FPATAN";
    const trig = mn === "FSIN" || mn === "FCOS" || mn === "FPTAN" || mn === "FSINCOS";
    return x87(WD, (f) => {
      if (f.isEmpty(0) || (two && f.isEmpty(1))) {
        if (f.underflow()) {
          if (two) {
            f.setSt(1, INDEF);
            f.pop();
          } else {
            f.setSt(0, INDEF);
            if (mn === "FPTAN" || mn === "FSINCOS") f.push(INDEF);
          }
        }
        f.setC1(0);
        return;
      }
      if ((mn === "FPTAN" || mn === "FSINCOS") && !f.isEmpty(7)) {
        // The second result would overflow the stack.
        f.exc |= IE | FSW_SF;
        f.setCC(0, 1, 0, 0);
        if (f.cw & IE) {
          f.setSt(0, INDEF);
          f.push(INDEF);
        }
        return;
      }
      const a = f.st(0);
      const ka = kind(a);
      const b = two ? f.st(1) : a;
      const kb = kind(b);
      if (ka === K_UNSUP || kb === K_UNSUP || isNaNK(ka) || isNaNK(kb)) {
        const r = ka === K_UNSUP || kb === K_UNSUP ? f.invalid() : f.nanResult(a, b, ka, kb);
        if (!f.unmasked(IE)) {
          if (two) {
            f.setSt(1, r);
            f.pop();
          } else {
            f.setSt(0, r);
            if (mn === "FPTAN" || mn === "FSINCOS") f.push(r);
          }
        }
        f.setC1(0);
        return;
      }
      if (ka === K_DENORMAL || kb === K_DENORMAL) f.exc |= DE;
      const x = f80ToNumber(a);
      if (trig) {
        if (ka === K_INF) {
          f.exc |= IE;
          if (!f.unmasked(IE)) {
            f.setSt(0, INDEF);
            if (mn === "FPTAN" || mn === "FSINCOS") f.push(INDEF);
          }
          f.setCC(0, 0, 0, 0);
          return;
        }
        if (ka !== K_ZERO && expOf(a) + bitlen(a.m) - 1 >= 63) {
          f.setCC(0, 0, 1, 0); // out of range: C2=1, operand unchanged
          return;
        }
      }
      if (f.unmasked(DE)) return;
      const y = f80ToNumber(b);
      let r1 = NaN,
        r2 = NaN;
      switch (mn) {
        case "FSIN":
          r1 = Math.sin(x);
          break;
        case "FCOS":
          r1 = Math.cos(x);
          break;
        case "FPTAN":
          r1 = Math.tan(x);
          r2 = 1;
          break;
        case "FSINCOS":
          r1 = Math.sin(x);
          r2 = Math.cos(x);
          break;
        case "F2XM1":
          r1 = Math.expm1(x * Math.LN2);
          break;
        case "FPATAN":
          r1 = Math.atan2(y, x);
          break;
        case "FYL2X":
          if (x < 0 || (x === 0 && y === 0) || (x === 1 && !isFinite(y)) || (!isFinite(x) && y === 0))
            r1 = NaN;
          else if (x === 0) {
            f.exc |= ZE;
            r1 = -y * Infinity;
          } else r1 = y * Math.log2(x);
          break;
        case "FYL2XP1":
          r1 = y * (Math.log1p(x) / Math.LN2);
          if (x === 0 && !isFinite(y)) r1 = NaN;
          break;
      }
      if (Number.isNaN(r1)) {
        f.exc |= IE;
        if (f.unmasked(IE)) return;
      }
      if (f.unmasked(ZE)) return;
      const toF = (v: number): F80 => (Number.isNaN(v) ? INDEF : numberToF80(v));
      const exact = r1 === 0 || !isFinite(r1) || (mn === "FPATAN" && x > 0 && y === 0);
      if (!exact && !Number.isNaN(r1)) f.exc |= PE;
      if (two) {
        f.setSt(1, toF(r1));
        f.pop();
      } else {
        f.setSt(0, toF(r1));
        if (!Number.isNaN(r2)) f.push(toF(r2));
      }
      if (trig) f.setCC(0, 0, 0, 0);
      else f.setC1(0);
    });
  },

  // --- control instructions ---------------------------------------------------------------------------
  x87_fldcw: () =>
    x87(W_WAIT, (f, cpu, i) => {
      f.setControl(cpu.ld16(cpu.eaLin(i, 2, false)));
    }),
  x87_fnstcw: () =>
    x87(0, (f, cpu, i) => {
      cpu.st16(cpu.eaLin(i, 2, true), f.cw);
    }),
  x87_fnstsw: (def) =>
    x87(0, (f, cpu, i) => {
      if (def.ops[0] === "AX") cpu.setReg(2, 0, f.status);
      else cpu.st16(cpu.eaLin(i, 2, true), f.status);
    }),
  x87_fnclex: () =>
    x87(0, (f) => {
      f.sw &= ~(0xff | FSW_B);
      f.ignne = false;
    }),
  x87_fninit: () => x87(0, (f) => f.init()),
  x87_fldenv: () =>
    x87(W_WAIT, (f, cpu, i) => {
      const n = i.o32 ? 28 : 14;
      loadEnv(cpu, f, cpu.eaLin(i, n, false), i.o32);
    }),
  x87_fnstenv: () =>
    x87(0, (f, cpu, i) => {
      const n = i.o32 ? 28 : 14;
      const lin = cpu.eaLin(i, n, true);
      cpu.probeWrite(lin, n);
      storeEnv(cpu, f, lin, i.o32);
      f.cw |= 0x3f; // FNSTENV masks all exceptions afterwards
    }),
  x87_frstor: () =>
    x87(W_WAIT, (f, cpu, i) => {
      const n = i.o32 ? 108 : 94;
      const lin = cpu.eaLin(i, n, false);
      // Read everything before changing any state (a #PF leaves the FPU untouched).
      const regs: F80[] = [];
      const envLen = i.o32 ? 28 : 14;
      for (let k = 0; k < 8; k++) regs.push(f.ld80((lin + envLen + 10 * k) | 0));
      loadEnv(cpu, f, lin, i.o32);
      for (let k = 0; k < 8; k++) {
        const r = f.phys(k);
        f.se[r] = regs[k].se;
        f.mant[r] = regs[k].m;
      }
    }),
  x87_fnsave: () =>
    x87(0, (f, cpu, i) => {
      const n = i.o32 ? 108 : 94;
      const lin = cpu.eaLin(i, n, true);
      cpu.probeWrite(lin, n);
      const envLen = storeEnv(cpu, f, lin, i.o32);
      for (let k = 0; k < 8; k++) {
        const r = f.phys(k);
        f.st80((lin + envLen + 10 * k) | 0, { se: f.se[r], m: f.mant[r] });
      }
      f.init();
    }),

  // --- FXSAVE / FXRSTOR ---------------------------------------------------------------------------
  x87_fxsave: () => (cpu, i) => {
    fxPrologue(cpu);
    const f = cpu.fpu;
    const lin = cpu.eaLin(i, 512, true);
    if (lin & 15) cpu.raise(EXC_GP, 0);
    cpu.probeWrite(lin, 512);
    const a = (o: number) => (lin + o) | 0;
    cpu.st16(a(0), f.cw);
    cpu.st16(a(2), f.status);
    cpu.st8(a(4), f.abridgedTag);
    cpu.st8(a(5), 0);
    cpu.st16(a(6), f.fop & 0x7ff);
    cpu.st32(a(8), f.fip);
    cpu.st32(a(12), f.fcs & 0xffff);
    cpu.st32(a(16), f.fdp);
    cpu.st32(a(20), f.fds & 0xffff);
    // No SSE: MXCSR keeps its reset image; MXCSR_MASK 0 = "default FFBFh" (SDM Vol. 1 11.6.6).
    cpu.st32(a(24), f.mxcsr);
    cpu.st32(a(28), 0);
    for (let k = 0; k < 8; k++) {
      const r = f.phys(k);
      const o = 32 + 16 * k;
      f.st80(a(o), { se: f.se[r], m: f.mant[r] });
      cpu.st16(a(o + 10), 0);
      cpu.st32(a(o + 12), 0);
    }
    // XMM0–7 (bytes 160–287) do not exist on this CPU; bytes 288–511 are reserved and untouched.
  },
  x87_fxrstor: () => (cpu, i) => {
    fxPrologue(cpu);
    const f = cpu.fpu;
    const lin = cpu.eaLin(i, 512, false);
    if (lin & 15) cpu.raise(EXC_GP, 0);
    const a = (o: number) => (lin + o) | 0;
    const cw = cpu.ld16(a(0)),
      sw = cpu.ld16(a(2)),
      tag = cpu.ld8(a(4)),
      fop = cpu.ld16(a(6)),
      fip = cpu.ld32(a(8)),
      fcs = cpu.ld16(a(12)),
      fdp = cpu.ld32(a(16)),
      fds = cpu.ld16(a(20)),
      mxcsr = cpu.ld32(a(24));
    const regs: F80[] = [];
    for (let k = 0; k < 8; k++) regs.push(f.ld80(a(32 + 16 * k)));
    f.cw = (cw & 0x1f3f) | 0x40;
    f.fop = fop & 0x7ff;
    f.fip = fip;
    f.fcs = fcs;
    f.fdp = fdp;
    f.fds = fds;
    f.mxcsr = mxcsr & 0xffbf;
    f.empty = ~tag & 0xff;
    f.status = sw;
    for (let k = 0; k < 8; k++) {
      const r = f.phys(k);
      f.se[r] = regs[k].se;
      f.mant[r] = regs[k].m;
    }
  },
};

function fxPrologue(cpu: Cpu): void {
  const cr0 = cpu.cr0;
  if (cr0 & CR0_EM) cpu.raise(EXC_UD);
  if (cr0 & CR0_TS) cpu.raise(EXC_NM);
}
