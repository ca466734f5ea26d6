// Linear → physical translation: the TLB and the native two-level i386 page walk.
//
// The TLB has one Int32 entry per 4 KiB linear page: the physical frame in the upper 20 bits and
// permission bits below. The CPU's fast path checks an entry with one AND and one compare against
// masks chosen for the current CPL; anything else (miss, permission, dirty bit not yet set, MMIO,
// ROM, pages holding translated code) takes the slow path through `fill`.
//
// The walk is written for the 2-level 32-bit format; the PAE/NX format would add a third level and
// 64-bit entries in `walk` only (the TLB entry format does not change). The virtualization modes
// (shadow paging, EPT, PV direct paging) plug in as translation strategies around `walk`.

import { PageKind, type PhysicalMemory } from "../memory/memory.ts";
import { EPT_R, EPT_W, type Ept } from "../vmm/ept.ts";
import type { ShadowPaging } from "../vmm/shadow.ts";

export const T_VALID = 1; // present (supervisor may read)
export const T_USER = 2; // user may read
export const T_WSUP = 4; // supervisor may write (and the dirty bit is already set)
export const T_WUSER = 8; // user may write (and the dirty bit is already set)
export const T_SLOWREAD = 16; // not plain RAM: MMIO or unmapped
export const T_SLOWWRITE = 32; // writes need the slow path: MMIO, ROM, translated code
export const T_GLOBAL = 64;

export const CR0_PE = 1;
export const CR0_MP = 2;
export const CR0_EM = 4;
export const CR0_TS = 8;
export const CR0_ET = 0x10;
export const CR0_NE = 0x20;
export const CR0_WP = 0x10000;
export const CR0_AM = 0x40000;
export const CR0_NW = 0x20000000;
export const CR0_CD = 0x40000000;
export const CR0_PG = 0x80000000 | 0;

export const CR4_VME = 1;
export const CR4_PVI = 2;
export const CR4_TSD = 4;
export const CR4_DE = 8;
export const CR4_PSE = 0x10;
export const CR4_PAE = 0x20;
export const CR4_PGE = 0x80;
export const CR4_PCE = 0x100;
export const CR4_OSFXSR = 0x200;

export const PTE_P = 1,
  PTE_W = 2,
  PTE_U = 4,
  PTE_A = 0x20,
  PTE_D = 0x40,
  PTE_PS = 0x80,
  PTE_G = 0x100;

/** Page-fault error code bits. */
export const PF_P = 1,
  PF_W = 2,
  PF_U = 4;

export interface MmuCounters {
  tlbMisses: number;
  walkRefs: number;
  flushes: number;
  invlpg: number;
}

export class Mmu {
  /** Lives in guest memory's host area so that compiled code can read it. */
  readonly tlb: Int32Array;
  private readonly filled = new Int32Array(1 << 20);
  private nFilled = 0;
  readonly counters: MmuCounters = { tlbMisses: 0, walkRefs: 0, flushes: 0, invlpg: 0 };

  cr0 = CR0_ET;
  cr3 = 0;
  cr4 = 0;
  /** HW mode with EPT: every guest-physical reference goes through the second dimension. */
  ept: Ept | null = null;
  /** Shadow paging (BT, HW without EPT): the TLB is filled from VMM-built shadow tables. */
  shadow: ShadowPaging | null = null;
  /** Guest page-directory and page-table pages read by the last walk (-1: none, e.g. 4 MiB page). */
  lastPdPage = -1;
  lastPtPage = -1;

  /** Raises #PF: must throw. Set by the CPU (which owns CR2 and exception delivery). */
  pageFault: (lin: number, errorCode: number) => never = () => {
    throw new Error("page fault with no CPU attached");
  };

  constructor(readonly mem: PhysicalMemory) {
    this.tlb = new Int32Array(mem.wasmMemory.buffer, mem.tlbOffset, 1 << 20);
    mem.onLayoutChange = () => this.flush(false);
    mem.onSlowWrites = (page) => this.slowWrites(page);
  }

  /**
   * Translate for an access the fast path rejected; returns the physical address.
   * `user` is true for CPL 3 accesses (not for implicit supervisor accesses such as GDT reads).
   */
  translate(lin: number, write: boolean, user: boolean): number {
    const vp = lin >>> 12;
    let e = this.tlb[vp];
    if (!this.permits(e, write, user)) {
      e = this.fill(lin, write, user);
    }
    return (e & ~0xfff) | (lin & 0xfff);
  }

  private permits(e: number, write: boolean, user: boolean): boolean {
    if (!(e & T_VALID)) return false;
    if (user && !(e & T_USER)) return false;
    if (write && !(e & (user ? T_WUSER : T_WSUP))) return false;
    return true;
  }

  /** Walk and install a TLB entry that permits the access (or raise #PF). */
  fill(lin: number, write: boolean, user: boolean): number {
    this.counters.tlbMisses++;
    const vp = lin >>> 12;
    let e: number;
    if (!(this.cr0 & CR0_PG)) {
      e = (lin & ~0xfff) | T_VALID | T_USER | T_WSUP | T_WUSER;
    } else if (this.shadow) {
      e = this.shadow.lookup(lin, write, user, () => this.walk(lin, write, user));
    } else {
      e = this.walk(lin, write, user);
    }
    if (this.ept) {
      // The final guest-physical page is translated too; the TLB caches the combined mapping.
      e = (this.ept.translate(e & ~0xfff, write ? EPT_W | EPT_R : EPT_R) & ~0xfff) | (e & 0xfff);
    }
    e = this.applyMemoryKind(e);
    if (this.tlb[vp] === 0) {
      // INVLPG leaves stale slots in `filled`; if they ever fill it, start over.
      if (this.nFilled === this.filled.length) {
        this.tlb.fill(0);
        this.nFilled = 0;
      }
      this.filled[this.nFilled++] = vp;
    }
    this.tlb[vp] = e;
    return e;
  }

  /** The native i386 2-level walk, setting accessed/dirty bits as hardware does. */
  private walk(lin: number, write: boolean, user: boolean): number {
    const mem = this.mem;
    const pdeAddr = this.gpa((this.cr3 & ~0xfff) | ((lin >>> 22) << 2));
    this.lastPdPage = pdeAddr >>> 12;
    this.lastPtPage = -1;
    let pde = mem.read32(pdeAddr);
    this.counters.walkRefs++;
    const errBase = (write ? PF_W : 0) | (user ? PF_U : 0);
    if (!(pde & PTE_P)) this.pageFault(lin, errBase);
    const wp = (this.cr0 & CR0_WP) !== 0;

    if (pde & PTE_PS && this.cr4 & CR4_PSE) {
      const uOk = (pde & PTE_U) !== 0;
      const wOk = (pde & PTE_W) !== 0;
      this.check(lin, write, user, uOk, wOk, wp, errBase);
      const newPde = pde | PTE_A | (write ? PTE_D : 0);
      if (newPde !== pde) mem.write32(pdeAddr, newPde);
      const phys = (pde & 0xffc00000) | (lin & 0x3ff000);
      const g = pde & PTE_G && this.cr4 & CR4_PGE;
      return this.entry(phys, uOk, wOk, wp, (newPde & PTE_D) !== 0, !!g);
    }

    const pteAddr = this.gpa((pde & ~0xfff) | (((lin >>> 12) & 0x3ff) << 2));
    this.lastPtPage = pteAddr >>> 12;
    const pte = mem.read32(pteAddr);
    this.counters.walkRefs++;
    if (!(pte & PTE_P)) this.pageFault(lin, errBase);
    const uOk = (pde & pte & PTE_U) !== 0;
    const wOk = (pde & pte & PTE_W) !== 0;
    this.check(lin, write, user, uOk, wOk, wp, errBase);
    if (!(pde & PTE_A)) {
      pde |= PTE_A;
      mem.write32(pdeAddr, pde);
    }
    const newPte = pte | PTE_A | (write ? PTE_D : 0);
    if (newPte !== pte) mem.write32(pteAddr, newPte);
    const g = pte & PTE_G && this.cr4 & CR4_PGE;
    return this.entry(pte & ~0xfff, uOk, wOk, wp, (newPte & PTE_D) !== 0, !!g);
  }

  /** Host-physical address of a guest paging-structure entry (A/D updates need write access). */
  private gpa(addr: number): number {
    return this.ept ? this.ept.translate(addr, EPT_R | EPT_W) : addr;
  }

  private check(
    lin: number,
    write: boolean,
    user: boolean,
    uOk: boolean,
    wOk: boolean,
    wp: boolean,
    errBase: number,
  ): void {
    if (user) {
      if (!uOk || (write && !wOk)) this.pageFault(lin, errBase | PF_P);
    } else if (write && !wOk && wp) this.pageFault(lin, errBase | PF_P);
  }

  private entry(phys: number, uOk: boolean, wOk: boolean, wp: boolean, dirty: boolean, g: boolean): number {
    let e = phys | T_VALID;
    if (uOk) e |= T_USER;
    if (dirty) {
      if (wOk || !wp) e |= T_WSUP;
      if (uOk && wOk) e |= T_WUSER;
    }
    if (g) e |= T_GLOBAL;
    return e;
  }

  private applyMemoryKind(e: number): number {
    let phys = e & ~0xfff;
    if (!this.mem.a20) phys &= ~0x100000;
    e = phys | (e & 0xfff);
    const page = phys >>> 12;
    switch (this.mem.kind[page] as PageKind) {
      case PageKind.RAM:
        if (this.mem.writeTracked(page)) e |= T_SLOWWRITE;
        break;
      case PageKind.ROM:
        e |= T_SLOWWRITE;
        break;
      default:
        e |= T_SLOWREAD | T_SLOWWRITE;
    }
    return e;
  }

  /** Flush the TLB; global entries survive when `keepGlobal` (a CR3 reload with CR4.PGE). */
  flush(keepGlobal: boolean): void {
    this.counters.flushes++;
    const tlb = this.tlb,
      filled = this.filled;
    let kept = 0;
    for (let i = 0; i < this.nFilled; i++) {
      const vp = filled[i];
      if (keepGlobal && tlb[vp] & T_GLOBAL) filled[kept++] = vp;
      else tlb[vp] = 0;
    }
    this.nFilled = kept;
  }

  /** Send writes to physical `page` through the slow path in every TLB entry that maps it. */
  slowWrites(page: number): void {
    const tlb = this.tlb,
      filled = this.filled;
    for (let i = 0; i < this.nFilled; i++) {
      const vp = filled[i];
      const e = tlb[vp];
      if (e !== 0 && e >>> 12 === page) tlb[vp] = e | T_SLOWWRITE;
    }
  }

  /** Drop the TLB entry for one linear page (a VMM invalidation; not a guest INVLPG). */
  zap(lin: number): void {
    this.tlb[lin >>> 12] = 0;
  }

  /** Paging controls changed (CR0.PG/WP/PE, CR4.PSE/PGE): drop every derived translation. */
  modeChanged(): void {
    this.flush(false);
    this.shadow?.reset();
  }

  invlpg(lin: number): void {
    this.counters.invlpg++;
    this.shadow?.invlpg(lin);
    // The entry stays in `filled`; a zero entry there is harmless.
    this.tlb[lin >>> 12] = 0;
  }

  setCr3(v: number): void {
    this.cr3 = v;
    this.shadow?.switchCr3(v);
    this.flush((this.cr4 & CR4_PGE) !== 0);
  }
}
