// The x86 CPU: architectural state, segmented + paged memory access, the fetch/decode/execute loop
// and exception delivery. Instruction semantics live in exec-*.ts and are bound to opcode-table
// entries by interp.ts; protected-mode mechanics (descriptors, gates, far transfers, task switches)
// live in protmode.ts.

import { decode, DecodeError, Insn, SEG_CS, SEG_SS } from "./decoder.ts";
import { IF, LazyFlags, parity as parityFlag, RF, TF, VM } from "./flags.ts";
import {
  ST_END,
  ST_FLAGS,
  ST_PARITY,
  ST_REGS,
  ST_RMASK,
  ST_ROK,
  ST_SEGBASE,
  ST_SEGOK_R,
  ST_SEGOK_W,
  ST_WMASK,
  ST_WOK,
} from "./state-layout.ts";
import type { IoBus } from "../io.ts";
import { PageKind, type PhysicalMemory } from "../memory/memory.ts";
import {
  CR0_ET,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PGE,
  CR4_PSE,
  Mmu,
  T_SLOWREAD,
  T_SLOWWRITE,
  T_USER,
  T_VALID,
  T_WSUP,
  T_WUSER,
} from "../mmu/mmu.ts";
import { Fpu } from "./fpu.ts";
import { HANDLERS } from "./interp.ts";
import type { Handler } from "./exec-int.ts";
import { deliverInterrupt } from "./protmode.ts";

/** Thrown (as this one object) to abort the current instruction with a guest exception. */
export const CPU_FAULT = { guestFault: true } as const;

export const EXC_DE = 0,
  EXC_DB = 1,
  EXC_NMI = 2,
  EXC_BP = 3,
  EXC_OF = 4,
  EXC_BR = 5,
  EXC_UD = 6,
  EXC_NM = 7,
  EXC_DF = 8,
  EXC_TS = 10,
  EXC_NP = 11,
  EXC_SS = 12,
  EXC_GP = 13,
  EXC_PF = 14,
  EXC_MF = 16,
  EXC_AC = 17;

/** Segment attribute bits (descriptor bits 40–55 shifted down by 8) plus a synthetic "usable". */
export const SA_TYPE = 0xf,
  SA_S = 0x10,
  SA_DPL = 0x60,
  SA_P = 0x80,
  SA_DB = 0x4000,
  SA_G = 0x8000,
  SA_VALID = 0x10000;

/** A source of maskable interrupts (the PIC), seen from the CPU. */
export interface InterruptController {
  hasInterrupt(): boolean;
  acknowledge(): number;
}

export interface ResetEvent {
  reason: string;
  state: string;
}

/**
 * The JIT as the CPU sees it: compiled code runs at block boundaries the interpreter reports, and
 * code-page writes invalidate its blocks. (The CPU does not import the JIT.)
 */
export interface CompiledCode {
  /** Per opcode-table entry: 1 where the interpreter should stop so compiled code can take over. */
  readonly boundary: Uint8Array;
  /** Run compiled code at the current EIP if there is some (at most `end - icount` instructions). */
  enter(cpu: Cpu, end: number): boolean;
  invalidatePage(page: number): void;
  flush(): void;
  /** Instructions compiled code retired at CPL 0 (BT counts them as translated kernel code). */
  readonly retiredAtCpl0: number;
}

/** Bound on cached code pages (4 KiB each) before the decode cache starts over. */
const MAX_ICACHE_PAGES = 2048;

// Bytes of the register file for 8-bit registers AL CL DL BL AH CH DH BH (little-endian Int32Array).
const R8 = [0, 4, 8, 12, 1, 5, 9, 13];

export const CPUID_VENDOR = "GenuineIntel";
/**
 * Family 6 model 3 stepping 3: a P6 core (Pentium II generation) without MMX/SSE. The signature must
 * be at least 0x633, or Linux clears SEP (the Pentium Pro SYSENTER erratum), and models 5, 6 and 8 make
 * Linux replace the brand string with a Celeron name guessed from the (absent) L2 cache.
 */
export const CPUID_SIGNATURE = 0x633;
export const CPUID_FEATURES_EDX =
  (1 << 0) | // FPU
  (1 << 2) | // DE (CR4.DE: DR4/DR5 fault)
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 8) | // CX8
  (1 << 11) | // SEP (SYSENTER/SYSEXIT)
  (1 << 13) | // PGE
  (1 << 15) | // CMOV
  (1 << 24); // FXSR

export class Cpu {
  /** When set before CPUs are created, they all count into it (the test suite's table coverage). */
  static sharedOpcodeCounts: Uint32Array | null = null;

  // --- architectural state -------------------------------------------------------------------------
  // Registers, the lazy-flags record and segment bases live in guest memory's host area
  // (state-layout.ts) so that JIT-compiled code shares them with the interpreter.
  readonly regs: Int32Array;
  readonly r8: Uint8Array;
  readonly r16: Uint16Array;
  eip = 0;
  readonly flags: LazyFlags;
  readonly sel = new Int32Array(6);
  readonly segBase: Int32Array;
  /** The state area as words (ST_* offsets / 4), for the JIT's entry and exit. */
  readonly state: Int32Array;
  readonly segLimit = new Int32Array(6);
  readonly segAttr = new Int32Array(6);
  /** Bit per segment: base 0, limit 4 GiB, usable for reads / for writes (skip the checks). */
  flatR = 0;
  flatW = 0;
  cpl = 0;
  cr2 = 0;
  readonly dr = new Int32Array(8);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0x3ff;
  ldtSel = 0;
  ldtBase = 0;
  ldtLimit = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0;
  trAttr = 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  readonly fpu: Fpu;

  // --- run state --------------------------------------------------------------------------------------
  halted = false;
  /** Set after a triple fault until reset: the CPU executes nothing. */
  shutdown = false;
  /** Instructions retired (drives deterministic virtual time). */
  icount = 0;
  /** Interrupts are inhibited for the instruction after STI / MOV SS / POP SS. */
  inhibitUntil = -1;
  /** Start of the instruction being executed (faults restart here). */
  insnEip = 0;
  /** The instruction being (or last) executed. */
  insn = new Insn();
  private readonly scratchInsn = new Insn();
  /** Vector of the exception being delivered (-1 when none), for the double-fault rules. */
  private delivering = -1;
  excVector = 0;
  excCode = -1;
  /** Interrupts and exceptions delivered (or intercepted), by vector. */
  readonly vectorCounts = new Float64Array(256);
  /** Per-opcode-entry execution counts (coverage and statistics); null when not collected. */
  opcodeCounts: Uint32Array | null = Cpu.sharedOpcodeCounts;

  // --- connections ----------------------------------------------------------------------------------
  readonly mmu: Mmu;
  pic: InterruptController | null = null;
  nmiPending = false;
  /**
   * Handler per opcode-table entry, bound into each decoded instruction. The VMM of a
   * virtualization mode replaces the entries of sensitive instructions (then flushes decodes).
   */
  handlers: Handler[] = HANDLERS;
  /** The JIT, when enabled: compiled blocks run in place of the interpreter where they exist. */
  jit: CompiledCode | null = null;
  /** Called as an external interrupt is taken (the VMM accounts its exit and injection). */
  onExternalInterrupt: (() => void) | null = null;
  /** The interrupt controller's INTR output (set by the PIC when a request is pending). */
  intr = false;
  onReset: ((e: ResetEvent) => void) | null = null;
  /** Returns the time-stamp counter (the machine supplies virtual or wall-clock based time). */
  readTsc: () => number = () => this.icount;
  tscOffset = 0;
  /**
   * Called before an interrupt/exception is delivered through the IDT; returning true means it was
   * intercepted (a VM exit by exception bitmap, a PV trap bounce, or a test harness).
   */
  interruptHook: ((vector: number, code: number, soft: boolean, retEip: number) => boolean) | null = null;
  /** The VMM may answer CPUID leaves (hypervisor leaves, masked features); null = native. */
  cpuidHook: ((leaf: number) => [number, number, number, number] | null) | null = null;
  /** Hypervisor-defined MSRs (e.g. kvm-clock): return a value / true when the hook owns `msr`. */
  msrHook: {
    read(msr: number): [number, number] | null;
    write(msr: number, lo: number, hi: number): boolean;
  } | null = null;
  /** Model-specific registers beyond those with dedicated fields. */
  readonly msrs = new Map<number, [number, number]>();

  // TLB fast-path masks for the current CPL.
  private rMask = T_VALID | T_SLOWREAD;
  private rOk = T_VALID;
  private wMask = T_VALID | T_WSUP | T_SLOWWRITE;
  private wOk = T_VALID | T_WSUP;
  private readonly tlb: Int32Array;
  private u8: Uint8Array;
  private i32: Int32Array;
  private view: DataView;
  private readonly scratch = new Uint8Array(16);

  constructor(
    readonly mem: PhysicalMemory,
    readonly io: IoBus,
  ) {
    const buf = mem.wasmMemory.buffer;
    const st = mem.stateOffset;
    this.state = new Int32Array(buf, st, ST_END >> 2);
    this.regs = new Int32Array(buf, st + ST_REGS, 8);
    this.r8 = new Uint8Array(buf, st + ST_REGS, 32);
    this.r16 = new Uint16Array(buf, st + ST_REGS, 16);
    this.flags = new LazyFlags(new Int32Array(buf, st + ST_FLAGS, 8));
    this.segBase = new Int32Array(buf, st + ST_SEGBASE, 6);
    const parity = new Uint8Array(buf, st + ST_PARITY, 256);
    for (let b = 0; b < 256; b++) parity[b] = parityFlag(b);
    this.mmu = new Mmu(mem);
    this.tlb = this.mmu.tlb;
    this.u8 = mem.u8;
    this.i32 = mem.i32;
    this.view = mem.view;
    this.mmu.pageFault = (lin, code) => {
      this.cr2 = lin;
      return this.raise(EXC_PF, code);
    };
    this.fpu = new Fpu(this);
    this.icache = new Array<(Insn | undefined)[] | undefined>(mem.codePages.length).fill(undefined);
    mem.onCodeWrite = (page) => this.invalidateCodePage(page);
    this.reset();
  }

  /** Power-on / RESET state (Intel SDM Vol. 3, 9.1.1). */
  reset(): void {
    this.regs.fill(0);
    this.regs[2] = CPUID_SIGNATURE; // EDX holds the processor signature after reset
    this.flags.write(2, -1);
    this.flags.dirty = 0;
    this.flags.bits = 2;
    this.eip = 0xfff0;
    // Table 9-1: selector 0 (CS F000), base 0 (CS FFFF0000), limit FFFF, present R/W data (CS code),
    // whatever the caches held before (a reset from protected mode must not keep 32-bit segments).
    for (let s = 0; s < 6; s++) this.setSegCache(s, 0, 0, 0xffff, 0x93 | SA_VALID);
    this.setSegCache(SEG_CS, 0xf000, 0xffff0000 | 0, 0xffff, 0x9b | SA_VALID);
    this.mmu.cr0 = CR0_ET | (1 << 30) | (1 << 29);
    this.mmu.cr3 = 0;
    this.mmu.cr4 = 0;
    this.mmu.flush(false);
    this.cr2 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.gdtBase = 0;
    this.gdtLimit = 0xffff;
    this.idtBase = 0;
    this.idtLimit = 0xffff; // Table 9-1
    this.ldtSel = this.ldtBase = 0;
    this.ldtLimit = 0xffff;
    this.trSel = this.trBase = 0;
    this.trLimit = 0xffff;
    this.trAttr = 0x8b;
    this.sysenterCs = this.sysenterEsp = this.sysenterEip = 0;
    this.msrs.clear();
    this.halted = false;
    this.shutdown = false;
    this.delivering = -1;
    this.inhibitUntil = -1;
    this.setCpl(0);
    this.fpu.reset();
  }

  // --- registers ------------------------------------------------------------------------------------

  getReg(size: number, r: number): number {
    if (size === 4) return this.regs[r];
    if (size === 2) return this.r16[r << 1];
    return this.r8[R8[r]];
  }

  setReg(size: number, r: number, v: number): void {
    if (size === 4) this.regs[r] = v;
    else if (size === 2) this.r16[r << 1] = v;
    else this.r8[R8[r]] = v;
  }

  get cr0(): number {
    return this.mmu.cr0;
  }
  get cr3(): number {
    return this.mmu.cr3;
  }
  get cr4(): number {
    return this.mmu.cr4;
  }

  get protectedMode(): boolean {
    return (this.mmu.cr0 & CR0_PE) !== 0;
  }

  /** Full EFLAGS value. */
  getEflags(): number {
    return this.flags.read();
  }

  setCpl(cpl: number): void {
    this.cpl = cpl;
    if (cpl === 3) {
      this.rMask = T_VALID | T_USER | T_SLOWREAD;
      this.rOk = T_VALID | T_USER;
      this.wMask = T_VALID | T_WUSER | T_SLOWWRITE;
      this.wOk = T_VALID | T_WUSER;
    } else {
      this.rMask = T_VALID | T_SLOWREAD;
      this.rOk = T_VALID;
      this.wMask = T_VALID | T_WSUP | T_SLOWWRITE;
      this.wOk = T_VALID | T_WSUP;
    }
    const st = this.state;
    st[ST_RMASK >> 2] = this.rMask;
    st[ST_ROK >> 2] = this.rOk;
    st[ST_WMASK >> 2] = this.wMask;
    st[ST_WOK >> 2] = this.wOk;
  }

  setCr0(v: number): void {
    const old = this.mmu.cr0;
    v = (v | CR0_ET) & ~0x1ffaffc0; // reserved bits read as zero; ET is hardwired on P6
    if (v & CR0_PG && !(v & CR0_PE)) this.raise(EXC_GP, 0);
    if ((v & 0x60000000) === 0x20000000) this.raise(EXC_GP, 0); // NW=1 with CD=0 (SDM MOV CRn)
    this.mmu.cr0 = v;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) this.mmu.modeChanged();
  }

  setCr4(v: number): void {
    // Bits this CPU implements: TSD DE PSE PGE PCE OSFXSR. VME/PVI (virtual-8086 extensions) and
    // PAE are not implemented nor advertised, so setting them is #GP(0) like any reserved bit.
    if (v & ~(0x4 | 0x8 | CR4_PSE | CR4_PGE | 0x100 | 0x200)) this.raise(EXC_GP, 0);
    const old = this.mmu.cr4;
    this.mmu.cr4 = v;
    if ((old ^ v) & (CR4_PSE | CR4_PGE)) this.mmu.modeChanged();
  }

  setCr3(v: number): void {
    this.mmu.setCr3(v & ~0xfe7);
  }

  // --- segments ---------------------------------------------------------------------------------------

  /** Load a segment register in real mode (or from a descriptor cache image). */
  loadRealSeg(s: number, sel: number, attr = 0x93): void {
    this.sel[s] = sel & 0xffff;
    this.segBase[s] = (sel & 0xffff) << 4;
    if (!(this.segAttr[s] & SA_VALID) || !this.protectedMode) {
      this.segLimit[s] = 0xffff;
      this.segAttr[s] = attr | SA_VALID;
    }
    this.updateFlat(s);
  }

  /** Install a descriptor-cache image. */
  setSegCache(s: number, sel: number, base: number, limit: number, attr: number): void {
    this.sel[s] = sel & 0xffff;
    this.segBase[s] = base;
    this.segLimit[s] = limit;
    this.segAttr[s] = attr;
    this.updateFlat(s);
  }

  updateFlat(s: number): void {
    const bit = 1 << s;
    const a = this.segAttr[s];
    const flat = a & SA_VALID && this.segBase[s] === 0 && this.segLimit[s] === -1;
    const code = (a & 0x18) === 0x18;
    const readable = !code || (a & 2) !== 0;
    const writable = !code && (a & 2) !== 0 && !(a & 4);
    const expandDown = !code && (a & 4) !== 0;
    this.flatR = flat && readable && !expandDown ? this.flatR | bit : this.flatR & ~bit;
    this.flatW = flat && writable ? this.flatW | bit : this.flatW & ~bit;
    // Compiled code adds the base itself, so any 4 GiB-limit data segment qualifies there.
    const full = a & SA_VALID && this.segLimit[s] === -1 && !expandDown;
    const st = this.state;
    const okR = full && readable ? st[ST_SEGOK_R >> 2] | bit : st[ST_SEGOK_R >> 2] & ~bit;
    const okW = full && writable ? st[ST_SEGOK_W >> 2] | bit : st[ST_SEGOK_W >> 2] & ~bit;
    st[ST_SEGOK_R >> 2] = okR;
    st[ST_SEGOK_W >> 2] = okW;
  }

  /** Linear address for a `size`-byte access at seg:off, with limit and type checks. */
  segLin(s: number, off: number, size: number, write: boolean): number {
    if ((write ? this.flatW : this.flatR) & (1 << s)) return off;
    const a = this.segAttr[s];
    const fault = s === SEG_SS ? EXC_SS : EXC_GP;
    if (!(a & SA_VALID)) this.raise(fault, 0);
    const inProt = this.protectedMode && !(this.flags.bits & VM);
    if (inProt) {
      const code = (a & 0x18) === 0x18;
      if (write ? code || !(a & 2) : code && !(a & 2)) this.raise(fault, 0);
    }
    const lim = this.segLimit[s] >>> 0;
    const o = off >>> 0;
    const last = o + size - 1;
    if ((a & 0x1c) === 0x14) {
      // Expand-down data segment: valid offsets are (limit, top].
      const top = a & SA_DB ? 0xffffffff : 0xffff;
      if (o <= lim || last > top) this.raise(fault, 0);
    } else if (last > lim) this.raise(fault, 0);
    return (this.segBase[s] + off) | 0;
  }

  // --- linear memory access (TLB fast path inline) -----------------------------------------------------

  ld8(l: number): number {
    const e = this.tlb[l >>> 12];
    if ((e & this.rMask) === this.rOk) return this.u8[(e & ~0xfff) | (l & 0xfff)];
    return this.mem.read8(this.mmu.translate(l, false, this.cpl === 3));
  }

  ld16(l: number): number {
    const e = this.tlb[l >>> 12];
    if ((e & this.rMask) === this.rOk && (l & 0xfff) < 0xfff)
      return this.view.getUint16((e & ~0xfff) | (l & 0xfff), true);
    return this.ldSlow(l, 2);
  }

  ld32(l: number): number {
    const e = this.tlb[l >>> 12];
    if ((e & this.rMask) === this.rOk && (l & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (l & 0xfff);
      return p & 3 ? this.view.getInt32(p, true) : this.i32[p >> 2];
    }
    return this.ldSlow(l, 4);
  }

  private ldSlow(l: number, size: number): number {
    const user = this.cpl === 3;
    if ((l & 0xfff) + size > 0x1000) {
      let v = 0;
      for (let i = 0; i < size; i++) v |= this.ld8((l + i) | 0) << (8 * i);
      return size === 4 ? v | 0 : v;
    }
    const p = this.mmu.translate(l, false, user);
    return size === 2 ? this.mem.read16(p) : this.mem.read32(p);
  }

  st8(l: number, v: number): void {
    const e = this.tlb[l >>> 12];
    if ((e & this.wMask) === this.wOk) {
      this.u8[(e & ~0xfff) | (l & 0xfff)] = v;
      return;
    }
    this.mem.write8(this.mmu.translate(l, true, this.cpl === 3), v & 0xff);
  }

  st16(l: number, v: number): void {
    const e = this.tlb[l >>> 12];
    if ((e & this.wMask) === this.wOk && (l & 0xfff) < 0xfff) {
      this.view.setUint16((e & ~0xfff) | (l & 0xfff), v, true);
      return;
    }
    this.stSlow(l, 2, v);
  }

  st32(l: number, v: number): void {
    const e = this.tlb[l >>> 12];
    if ((e & this.wMask) === this.wOk && (l & 0xfff) < 0xffd) {
      const p = (e & ~0xfff) | (l & 0xfff);
      if (p & 3) this.view.setInt32(p, v, true);
      else this.i32[p >> 2] = v;
      return;
    }
    this.stSlow(l, 4, v);
  }

  private stSlow(l: number, size: number, v: number): void {
    const user = this.cpl === 3;
    if ((l & 0xfff) + size > 0x1000) {
      // Check both pages before writing anything so a fault leaves memory untouched.
      const p0 = this.mmu.translate(l, true, user);
      const n0 = 0x1000 - (l & 0xfff);
      const p1 = this.mmu.translate((l + n0) | 0, true, user);
      for (let i = 0; i < size; i++) this.mem.write8(i < n0 ? p0 + i : p1 + i - n0, (v >>> (8 * i)) & 0xff);
      return;
    }
    const p = this.mmu.translate(l, true, user);
    if (size === 2) this.mem.write16(p, v);
    else this.mem.write32(p, v);
  }

  /** Check that [l, l+size) is writable (read-modify-write operands check before reading). */
  probeWrite(l: number, size: number): void {
    const e = this.tlb[l >>> 12];
    if ((e & this.wMask) === this.wOk && (l & 0xfff) <= 0x1000 - size) return;
    const user = this.cpl === 3;
    this.mmu.translate(l, true, user);
    if ((l & 0xfff) + size > 0x1000) this.mmu.translate((l + size - 1) | 0, true, user);
  }

  /**
   * REP MOVS fast path: copy `bytes` from linear `src` to `dst` (lowest addresses; each range inside
   * one page), as an element-wise copy ascending (or descending, `down`) would. Translation faults
   * are raised before anything is written. False, with nothing written, when either side is not
   * plain untraced RAM or the overlap would make an element-wise copy differ from a block move.
   */
  bulkCopy(dst: number, src: number, bytes: number, down: boolean): boolean {
    const user = this.cpl === 3;
    const ps = this.mmu.translate(src, false, user);
    const pd = this.mmu.translate(dst, true, user);
    const mem = this.mem;
    if (mem.pageKind(ps) !== PageKind.RAM || mem.pageKind(pd) !== PageKind.RAM || mem.tracked[pd >>> 12])
      return false;
    if (down ? pd < ps && pd + bytes > ps : pd > ps && pd < ps + bytes) return false;
    this.u8.copyWithin(pd, ps, ps + bytes);
    mem.wroteRange(pd, bytes);
    return true;
  }

  /** REP STOS fast path: store `value` (`size` bytes each) over `bytes` at linear `dst` (one page). */
  bulkFill(dst: number, bytes: number, value: number, size: number): boolean {
    const pd = this.mmu.translate(dst, true, this.cpl === 3);
    const mem = this.mem;
    if (mem.pageKind(pd) !== PageKind.RAM || mem.tracked[pd >>> 12]) return false;
    const b = value & 0xff;
    if (size === 1 || (size === 2 ? (value & 0xffff) === b * 0x101 : value === ((b * 0x1010101) | 0)))
      this.u8.fill(b, pd, pd + bytes);
    else if (size === 2) for (let k = 0; k < bytes; k += 2) this.view.setUint16(pd + k, value, true);
    else for (let k = 0; k < bytes; k += 4) this.view.setInt32(pd + k, value, true);
    mem.wroteRange(pd, bytes);
    return true;
  }

  ld(size: number, l: number): number {
    return size === 4 ? this.ld32(l) : size === 2 ? this.ld16(l) : this.ld8(l);
  }

  st(size: number, l: number, v: number): void {
    if (size === 4) this.st32(l, v);
    else if (size === 2) this.st16(l, v);
    else this.st8(l, v);
  }

  /** Supervisor (implicit) accesses: descriptor tables, TSS, IDT — not subject to CPL 3 checks. */
  sysLd32(l: number): number {
    return this.supervisor(() => this.ld32(l));
  }
  sysLd16(l: number): number {
    return this.sysLd32(l) & 0xffff;
  }
  sysSt32(l: number, v: number): void {
    this.supervisor(() => this.st32(l, v));
  }
  sysSt16(l: number, v: number): void {
    this.supervisor(() => this.st16(l, v));
  }
  sysSt8(l: number, v: number): void {
    this.supervisor(() => this.st8(l, v));
  }

  /** Run a memory access with supervisor rights (page checks as for CPL 0), then restore CPL 3. */
  private supervisor<T>(access: () => T): T {
    if (this.cpl !== 3) return access();
    this.setCpl(0);
    try {
      return access();
    } finally {
      this.setCpl(3);
    }
  }

  // --- operand helpers used by the semantics -----------------------------------------------------------

  /** Effective address (offset) of the instruction's memory operand. */
  ea(i: Insn): number {
    let a = i.disp;
    if (i.base >= 0) a += this.regs[i.base];
    if (i.index >= 0) a += this.regs[i.index] << i.scale;
    return i.a32 ? a | 0 : a & 0xffff;
  }

  /** Segment of the memory operand. */
  segOf(i: Insn): number {
    return i.seg >= 0 ? i.seg : i.sseg;
  }

  /** Linear address of the memory operand for an access of `size` bytes. */
  eaLin(i: Insn, size: number, write: boolean): number {
    return this.segLin(i.seg >= 0 ? i.seg : i.sseg, this.ea(i), size, write);
  }

  /** Read the ModRM r/m operand. */
  readE(i: Insn, size: number): number {
    if (i.mod === 3) return this.getReg(size, i.rm);
    return this.ld(size, this.eaLin(i, size, false));
  }

  writeE(i: Insn, size: number, v: number): void {
    if (i.mod === 3) this.setReg(size, i.rm, v);
    else this.st(size, this.eaLin(i, size, true), v);
  }

  // --- stack ----------------------------------------------------------------------------------------

  get stack32(): boolean {
    return (this.segAttr[SEG_SS] & SA_DB) !== 0;
  }

  push(size: number, v: number): void {
    const sp = this.regs[4];
    if (this.stack32) {
      const n = (sp - size) | 0;
      this.st(size, this.segLin(SEG_SS, n, size, true), v);
      this.regs[4] = n;
    } else {
      const n = (sp - size) & 0xffff;
      this.st(size, this.segLin(SEG_SS, n, size, true), v);
      this.r16[8] = n;
    }
  }

  pop(size: number): number {
    const sp = this.stack32 ? this.regs[4] : this.regs[4] & 0xffff;
    const v = this.ld(size, this.segLin(SEG_SS, sp, size, false));
    if (this.stack32) this.regs[4] = sp + size;
    else this.r16[8] = sp + size;
    return v;
  }

  /** Read the stack `offset` bytes above the stack pointer without popping. */
  peek(size: number, offset: number): number {
    const sp = this.stack32 ? (this.regs[4] + offset) | 0 : (this.regs[4] + offset) & 0xffff;
    return this.ld(size, this.segLin(SEG_SS, sp, size, false));
  }

  /** Advance the stack pointer by `n` bytes (respecting SS.B). */
  adjustSp(n: number): void {
    if (this.stack32) this.regs[4] = (this.regs[4] + n) | 0;
    else this.r16[8] = this.regs[4] + n;
  }

  // --- exceptions ------------------------------------------------------------------------------------

  /** Abort the current instruction with exception `vector` (errorCode -1 = none). */
  raise(vector: number, errorCode = -1): never {
    this.excVector = vector;
    this.excCode = errorCode;
    throw CPU_FAULT;
  }

  /** Deliver a fault/abort raised during execution (EIP already points at the faulting instruction). */
  deliverException(vector: number, code: number): void {
    for (;;) {
      const prev = this.delivering;
      if (prev >= 0) {
        const contributory = (v: number) => v === 0 || (v >= 10 && v <= 13);
        if (prev === EXC_DF && (contributory(vector) || vector === EXC_PF)) {
          this.tripleFault(`exception ${vector} while delivering a double fault`);
          return;
        }
        if (
          (contributory(prev) && contributory(vector)) ||
          (prev === EXC_PF && (contributory(vector) || vector === EXC_PF))
        ) {
          vector = EXC_DF;
          code = 0;
        }
      }
      this.delivering = vector;
      try {
        deliverInterrupt(this, vector, code, false, this.eip, true);
        this.delivering = -1;
        return;
      } catch (e) {
        if (e !== CPU_FAULT) {
          this.delivering = -1;
          throw e;
        }
        vector = this.excVector;
        code = this.excCode;
      }
    }
  }

  tripleFault(reason: string): void {
    this.delivering = -1;
    this.shutdown = true;
    this.halted = true;
    this.onReset?.({ reason: `triple fault: ${reason}`, state: this.dumpState() });
  }

  // --- fetch / decode / execute -----------------------------------------------------------------------

  /**
   * Decoded instructions by physical address, one sparse array per physical page. A page that has
   * entries is marked as code in PhysicalMemory, so any write to it drops the page's entries
   * (self-modifying code, module loading, page reuse) through onCodeWrite.
   */
  // Dense arrays (filled with undefined) keep V8's fast elements: a sparse array indexed by page
  // number falls back to dictionary mode and made every lookup a hash probe.
  private readonly icache: ((Insn | undefined)[] | undefined)[];
  private icachePages = 0;
  /** Instruction-cache statistics (decodes avoided, pages invalidated by writes). */
  readonly icacheStats = { hits: 0, decodes: 0, invalidations: 0 };

  private invalidateCodePage(page: number): void {
    this.jit?.invalidatePage(page);
    if (this.icache[page]) {
      this.icache[page] = undefined;
      this.icachePages--;
      this.icacheStats.invalidations++;
    }
  }

  /** Drop every cached decode and compiled block (a change of layout or handlers, not a guest write). */
  flushDecodeCache(): void {
    this.jit?.flush();
    for (let p = 0; p < this.icache.length; p++)
      if (this.icache[p]) {
        this.mem.unmarkCode(p);
        this.icache[p] = undefined;
      }
    this.icachePages = 0;
  }

  private fetchDecode(): Insn {
    const l = (this.segBase[SEG_CS] + this.eip) | 0;
    const e = this.tlb[l >>> 12];
    const def32 = (this.segAttr[SEG_CS] & SA_DB) !== 0;
    let i: Insn;
    if ((e & this.rMask) === this.rOk && (l & 0xfff) <= 0xff0) {
      const p = (e & ~0xfff) | (l & 0xfff);
      const pp = p >>> 12;
      let page = this.icache[pp];
      const hit = page !== undefined ? page[p & 0xfff] : undefined;
      if (hit !== undefined && hit.def32 === def32) {
        i = hit;
        this.icacheStats.hits++;
      } else {
        i = new Insn();
        const r = decode(this.u8, p, p + 16, def32, i);
        if (r !== 0) this.decodeFault(r);
        i.def32 = def32;
        i.handler = this.handlers[i.def.id];
        this.icacheStats.decodes++;
        if (pp < this.mem.codePages.length) {
          if (page === undefined) {
            if (this.icachePages >= MAX_ICACHE_PAGES) this.flushDecodeCache();
            page = this.icache[pp] = new Array<Insn | undefined>(4096).fill(undefined);
            this.icachePages++;
            this.mem.markCode(pp);
          }
          page[p & 0xfff] = i;
        }
      }
    } else {
      // Near a page end or not plain RAM: copy the bytes of this page, then the next only if needed.
      i = this.scratchInsn;
      const user = this.cpl === 3;
      const n0 = Math.min(16, 0x1000 - (l & 0xfff));
      const p0 = this.mmu.translate(l, false, user);
      for (let k = 0; k < n0; k++) this.scratch[k] = this.mem.read8(p0 + k);
      let r = decode(this.scratch, 0, n0, def32, i);
      if (r === DecodeError.MORE) {
        const p1 = this.mmu.translate((l + n0) | 0, false, user);
        for (let k = n0; k < 16; k++) this.scratch[k] = this.mem.read8(p1 + k - n0);
        r = decode(this.scratch, 0, 16, def32, i);
      }
      if (r !== 0) this.decodeFault(r);
      i.def32 = def32;
      i.handler = this.handlers[i.def.id];
    }
    // Code-segment limit check on the whole instruction.
    if (!(this.flatR & (1 << SEG_CS)) && ((this.eip >>> 0) + i.len - 1) >>> 0 > this.segLimit[SEG_CS] >>> 0)
      this.raise(EXC_GP, 0);
    return i;
  }

  private decodeFault(r: number): never {
    if (r === DecodeError.GP) this.raise(EXC_GP, 0);
    return this.raise(EXC_UD);
  }

  /** Execute one instruction (faults are delivered to the guest). */
  step(): void {
    try {
      this.runBlock(this.icount + 1);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.eip = this.insnEip;
      this.deliverException(this.excVector, this.excCode);
    }
  }

  /** Single-step trap after an instruction that started with TF set (Intel SDM 17.3.1.4). */
  private singleStepTrap(): void {
    this.dr[6] |= 0x4000;
    deliverInterrupt(this, EXC_DB, -1, false, this.eip, true);
  }

  /**
   * Run up to `max` instructions, taking interrupts at instruction boundaries. Returns the number
   * executed; stops early on HLT (with nothing deliverable pending) or shutdown.
   */
  run(max: number): number {
    const start = this.icount;
    const end = start + max;
    while (this.icount < end) {
      if (this.shutdown) break;
      if (this.nmiPending || (this.intr && this.flags.bits & IF && this.icount !== this.inhibitUntil)) {
        if (this.checkInterrupts()) continue;
      }
      if (this.halted) break;
      try {
        if (this.jit === null || !this.jit.enter(this, end)) this.runBlock(end);
      } catch (e) {
        if (e !== CPU_FAULT) throw e;
        this.eip = this.insnEip;
        // A faulting instruction does not retire, but virtual time must still advance.
        this.icount++;
        this.deliverException(this.excVector, this.excCode);
      }
    }
    return this.icount - start;
  }

  /**
   * The hot loop: execute until `end`, HLT, or an interrupt request that may need taking; with the
   * JIT, also after an instruction where compiled code may take over (a branch, or one it lacks).
   */
  runBlock(end: number): void {
    const counts = this.opcodeCounts;
    const boundary = this.jit !== null ? this.jit.boundary : null;
    for (;;) {
      this.insnEip = this.eip;
      const tf = this.flags.bits & TF;
      const i = this.fetchDecode();
      this.insn = i;
      this.eip = i.def32 ? (this.eip + i.len) | 0 : (this.eip + i.len) & 0xffff;
      if (counts !== null) counts[i.def.id]++;
      i.handler(this, i);
      this.icount++;
      if (tf) this.singleStepTrap();
      // An interrupt request only matters once IF allows it (STI/POPF/IRET set IF inside a block).
      if (this.icount >= end || this.halted || (this.intr && this.flags.bits & IF) || this.nmiPending) return;
      // Compiled blocks stay inside a page, so straight-line code entering a new page is a block start.
      if (boundary !== null && (boundary[i.def.id] || (this.eip ^ this.insnEip) & ~0xfff)) return;
    }
  }

  /** Take a pending NMI or maskable interrupt if possible; true if one was delivered. */
  checkInterrupts(): boolean {
    if (this.shutdown) return false;
    if (this.nmiPending) {
      this.nmiPending = false;
      this.halted = false;
      this.deliverExternal(EXC_NMI);
      return true;
    }
    if (this.pic && this.flags.bits & IF && this.icount !== this.inhibitUntil && this.pic.hasInterrupt()) {
      const vec = this.pic.acknowledge();
      this.halted = false;
      this.onExternalInterrupt?.();
      this.deliverExternal(vec);
      return true;
    }
    return false;
  }

  private deliverExternal(vec: number): void {
    try {
      deliverInterrupt(this, vec, -1, false, this.eip, true);
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      this.deliverException(this.excVector, this.excCode);
    }
  }

  // --- diagnostics ----------------------------------------------------------------------------------

  dumpState(): string {
    const h = (v: number, w = 8) => (v >>> 0).toString(16).padStart(w, "0");
    const names = ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"];
    const segs = ["ES", "CS", "SS", "DS", "FS", "GS"];
    const lines = [
      names.map((n, k) => `${n}=${h(this.regs[k])}`).join(" "),
      `EIP=${h(this.eip)} EFLAGS=${h(this.getEflags())} CPL=${this.cpl} CR0=${h(this.cr0)} CR2=${h(this.cr2)} CR3=${h(this.cr3)} CR4=${h(this.cr4)}`,
      segs
        .map(
          (n, k) =>
            `${n}=${h(this.sel[k], 4)}[${h(this.segBase[k])} ${h(this.segLimit[k])} ${h(this.segAttr[k], 5)}]`,
        )
        .join(" "),
      `GDT=${h(this.gdtBase)}/${h(this.gdtLimit, 4)} IDT=${h(this.idtBase)}/${h(this.idtLimit, 4)} LDTR=${h(this.ldtSel, 4)} TR=${h(this.trSel, 4)} icount=${this.icount}`,
    ];
    return lines.join("\n");
  }
}

export { CR0_PE, CR0_PG, RF };
