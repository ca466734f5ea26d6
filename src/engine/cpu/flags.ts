// EFLAGS bits and the lazy evaluation of the six arithmetic flags.
//
// Arithmetic instructions do not compute CF/PF/AF/ZF/SF/OF when they execute: they record the
// operation kind, operands and result (LazyFlags) and mark the flags they define as "dirty". A flag
// is only materialised when something reads it (Jcc, PUSHF, ADC, ...). Flags not dirty live in
// `bits`.

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const IOPL = 0x3000;
export const NT = 0x4000;
export const RF = 0x10000;
export const VM = 0x20000;
export const AC = 0x40000;
export const VIF = 0x80000;
export const VIP = 0x100000;
export const ID = 0x200000;

export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bits a program can ever observe set in EFLAGS on this CPU (bit 1 is always one). */
export const EFLAGS_IMPLEMENTED = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | ID;

/** Lazy operation kinds: how CF/OF/AF derive from (dst, src, res). */
export const enum Lazy {
  ADD = 0,
  ADC = 1,
  SUB = 2,
  SBB = 3,
  LOGIC = 4,
  INC = 5,
  DEC = 6,
}

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i,
    n = 0;
  while (b) {
    n += b & 1;
    b >>= 1;
  }
  PARITY[i] = n & 1 ? 0 : PF;
}

export const SIZE_MASK = [0, 0xff, 0xffff, 0, 0xffffffff];
export const SIGN_BIT = [0, 0x80, 0x8000, 0, 0x80000000];

/** Slots of the lazy-flags record in its Int32Array (shared with JIT-compiled code). */
export const enum FlagSlot {
  BITS = 0,
  DIRTY = 1,
  OP = 2,
  DST = 3,
  SRC = 4,
  RES = 5,
  SIZE = 6,
  CIN = 7,
}

export class LazyFlags {
  /**
   * The record lives in `slots` (by default private; the CPU places it in guest memory's host area
   * so that compiled code and the interpreter share one copy).
   */
  constructor(readonly slots: Int32Array = new Int32Array(8)) {
    this.bits = 2;
    this.op = Lazy.LOGIC;
    this.size = 4;
  }
  /** Materialised flag bits (all of EFLAGS except the dirty arithmetic ones). */
  get bits(): number {
    return this.slots[FlagSlot.BITS];
  }
  set bits(v: number) {
    this.slots[FlagSlot.BITS] = v;
  }
  /** Which arithmetic flags must be computed from the lazy record. */
  get dirty(): number {
    return this.slots[FlagSlot.DIRTY];
  }
  set dirty(v: number) {
    this.slots[FlagSlot.DIRTY] = v;
  }
  get op(): Lazy {
    return this.slots[FlagSlot.OP] as Lazy;
  }
  set op(v: Lazy) {
    this.slots[FlagSlot.OP] = v;
  }
  get dst(): number {
    return this.slots[FlagSlot.DST];
  }
  set dst(v: number) {
    this.slots[FlagSlot.DST] = v;
  }
  get src(): number {
    return this.slots[FlagSlot.SRC];
  }
  set src(v: number) {
    this.slots[FlagSlot.SRC] = v;
  }
  get res(): number {
    return this.slots[FlagSlot.RES];
  }
  set res(v: number) {
    this.slots[FlagSlot.RES] = v;
  }
  /** Operand size in bytes: 1, 2 or 4. */
  get size(): number {
    return this.slots[FlagSlot.SIZE];
  }
  set size(v: number) {
    this.slots[FlagSlot.SIZE] = v;
  }
  /** Carry-in of the last ADC/SBB. */
  get cin(): number {
    return this.slots[FlagSlot.CIN];
  }
  set cin(v: number) {
    this.slots[FlagSlot.CIN] = v;
  }

  /** Record an arithmetic result; `defines` are the flags it sets (the rest keep their value). */
  set(op: Lazy, size: number, dst: number, src: number, res: number, defines: number): void {
    if (defines !== ARITH) {
      // Flags the op leaves alone must be materialised before the record is replaced.
      const keep = this.dirty & ~defines;
      if (keep) this.materialise(keep);
    }
    this.op = op;
    this.size = size;
    this.dst = dst;
    this.src = src;
    this.res = res;
    this.dirty = defines;
  }

  /** Set the result of a logic operation: CF=OF=AF=0, SZP from the result. */
  logic(size: number, res: number): void {
    this.op = Lazy.LOGIC;
    this.size = size;
    this.res = res;
    this.dirty = ARITH;
  }

  private materialise(which: number): void {
    const v = this.compute(which);
    this.bits = (this.bits & ~which) | v;
    this.dirty &= ~which;
  }

  /** Compute the requested arithmetic flags from the lazy record. */
  compute(which: number): number {
    const size = this.size;
    const mask = SIZE_MASK[size];
    const sign = SIGN_BIT[size];
    const res = this.res & mask;
    let out = 0;
    if (which & CF) out |= this.carry(mask) ? CF : 0;
    if (which & PF) out |= PARITY[res & 0xff];
    if (which & AF) {
      if (this.op !== Lazy.LOGIC) out |= (this.dst ^ this.src ^ this.res) & AF;
    }
    if (which & ZF) out |= res === 0 ? ZF : 0;
    if (which & SF) out |= res & sign ? SF : 0;
    if (which & OF) {
      const d = this.dst,
        s = this.src,
        r = this.res;
      switch (this.op) {
        case Lazy.ADD:
        case Lazy.ADC:
        case Lazy.INC:
          out |= (d ^ r) & (s ^ r) & sign ? OF : 0;
          break;
        case Lazy.SUB:
        case Lazy.SBB:
        case Lazy.DEC:
          out |= (d ^ s) & (d ^ r) & sign ? OF : 0;
          break;
      }
    }
    return out;
  }

  private carry(mask: number): boolean {
    const d = (this.dst & mask) >>> 0,
      s = (this.src & mask) >>> 0,
      r = (this.res & mask) >>> 0;
    switch (this.op) {
      case Lazy.ADD:
        return r < d;
      case Lazy.ADC:
        // carry-in is recorded in bit 31 of `size`-independent field: see adc() in alu.ts
        return this.cin ? r <= d : r < d;
      case Lazy.SUB:
        return d < s;
      case Lazy.SBB:
        return this.cin ? d <= s : d < s;
      default:
        return false;
    }
  }

  get(flag: number): number {
    // Only the dirty ones come from the record: after INC/DEC, CF is materialised while ZF is not,
    // and the record (an INC) says nothing about CF.
    const d = this.dirty & flag;
    return d ? (this.bits & flag & ~d) | this.compute(d) : this.bits & flag;
  }

  /** The whole EFLAGS value. */
  read(): number {
    if (this.dirty) this.materialise(this.dirty);
    return this.bits;
  }

  /** Replace the flags selected by `mask` with those of `value`. */
  write(value: number, mask: number): void {
    if (this.dirty) this.materialise(this.dirty);
    this.bits = (this.bits & ~mask) | (value & mask) | 2;
  }
}

export function parity(v: number): number {
  return PARITY[v & 0xff];
}
