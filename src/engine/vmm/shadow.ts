// Shadow paging (VMware-style BT and first-generation VT-x without EPT): the VMM builds, lazily, page
// tables that map guest-virtual straight to host-physical, and the TLB is filled from them instead
// of from the guest's own tables.
//
// - A missing shadow entry is a hidden page fault: the VMM walks the guest's tables in software,
//   sets their accessed/dirty bits, and fills the shadow entry. If the guest's tables do not allow
//   the access it is a true fault, reflected to the guest as #PF.
// - Every guest page-table page a shadow entry was derived from is write-traced: a guest write to
//   it is a tracing fault after which the VMM drops the shadow entries built from it.
// - Shadow roots are cached per guest CR3, so switching back to an address space finds its shadow
//   tables still built (a cache hit); INVLPG drops one shadow entry.

import { T_USER, T_VALID, T_WSUP, T_WUSER, type Mmu } from "../mmu/mmu.ts";

export interface ShadowCounters {
  hiddenFaults: number;
  tracingFaults: number;
  trueFaults: number;
  cr3Switches: number;
  cacheHits: number;
  cacheMisses: number;
  /** Shadow paging-structure entries read on TLB misses (a 1D walk of the shadow tables). */
  shadowRefs: number;
  /** Guest paging-structure entries read by the VMM's software walks. */
  guestWalkRefs: number;
  /** Guest page-table pages currently write-traced. */
  tracedPages: number;
}

/** The shadow page tables of one guest address space. */
class ShadowRoot {
  /** Shadow page tables by page-directory index; entries are in TLB format (frame | T_* bits). */
  readonly pts: (Int32Array | undefined)[] = new Array(1024);
  constructor(readonly guestCr3: number) {}
}

const MAX_ROOTS = 64;
/**
 * Write flooding: a traced page written this many times without being used for a translation in
 * between is probably no longer a page table (freed and reused as data); the VMM stops shadowing
 * it, as production VMMs do (KVM's detect_write_flooding uses a similar small threshold).
 */
const FLOOD_WRITES = 4;

export class ShadowPaging {
  readonly counters: ShadowCounters = {
    hiddenFaults: 0,
    tracingFaults: 0,
    trueFaults: 0,
    cr3Switches: 0,
    cacheHits: 0,
    cacheMisses: 0,
    shadowRefs: 0,
    guestWalkRefs: 0,
    tracedPages: 0,
  };
  private readonly roots = new Map<number, ShadowRoot>();
  private current: ShadowRoot;
  /** Guest page directories and page tables → the shadow structures derived from them. */
  private readonly pdUsers = new Map<number, Set<ShadowRoot>>();
  private readonly ptUsers = new Map<number, Set<string>>();
  /** Tracing faults per traced page since it was last used by a walk (write-flood detection). */
  private readonly writesSinceUse = new Map<number, number>();
  /** Writes made by the VMM itself (accessed/dirty bits) are not tracing faults. */
  private vmmWriting = false;
  /** Exit hook: a hidden or tracing fault is a #PF VM exit in HW-without-EPT (none under BT). */
  onFaultExit: ((kind: "hidden" | "tracing", lin: number) => void) | null = null;

  constructor(private readonly mmu: Mmu) {
    this.current = this.root(mmu.cr3);
    mmu.mem.onTrackedWrite = (addr) => {
      if (!this.vmmWriting) this.traced(addr);
    };
  }

  private root(cr3: number): ShadowRoot {
    const key = cr3 & ~0xfff;
    let r = this.roots.get(key);
    if (r) {
      this.counters.cacheHits++;
      // Keep the map in least-recently-used order.
      this.roots.delete(key);
      this.roots.set(key, r);
      return r;
    }
    this.counters.cacheMisses++;
    if (this.roots.size >= MAX_ROOTS) this.drop(this.roots.values().next().value!);
    r = new ShadowRoot(key);
    this.roots.set(key, r);
    return r;
  }

  /** Guest CR3 write: switch to (or create) the shadow root for the new address space. */
  switchCr3(cr3: number): void {
    this.counters.cr3Switches++;
    this.current = this.root(cr3);
  }

  /**
   * TLB miss under shadow paging: return the TLB entry for `lin` from the shadow tables, building it
   * on a hidden fault; a true fault raises #PF for the guest (mmu.pageFault throws).
   */
  lookup(lin: number, write: boolean, user: boolean, walk: () => number): number {
    const r = this.current;
    const pdi = lin >>> 22,
      pti = (lin >>> 12) & 1023;
    this.counters.shadowRefs++;
    const pt = r.pts[pdi];
    if (pt) {
      this.counters.shadowRefs++;
      const e = pt[pti];
      if (permits(e, write, user)) return e;
    }
    // Hidden (or true) fault: walk the guest tables in software.
    const refsBefore = this.mmu.counters.walkRefs;
    let e: number;
    this.vmmWriting = true;
    try {
      e = walk();
    } catch (f) {
      this.counters.trueFaults++;
      throw f;
    } finally {
      this.vmmWriting = false;
      this.counters.guestWalkRefs += this.mmu.counters.walkRefs - refsBefore;
    }
    this.counters.hiddenFaults++;
    this.onFaultExit?.("hidden", lin);
    this.trace(r, pdi, this.mmu.lastPdPage, this.mmu.lastPtPage);
    (r.pts[pdi] ??= new Int32Array(1024))[pti] = e;
    return e;
  }

  /** Start tracing the guest paging structures the entry for (root, pdi) was derived from. */
  private trace(r: ShadowRoot, pdi: number, pdPage: number, ptPage: number): void {
    this.writesSinceUse.delete(pdPage);
    if (ptPage >= 0) this.writesSinceUse.delete(ptPage);
    let roots = this.pdUsers.get(pdPage);
    if (!roots) {
      this.pdUsers.set(pdPage, (roots = new Set()));
      this.setTraced(pdPage);
    }
    roots.add(r);
    if (ptPage < 0) return; // 4 MiB page: no page table
    let users = this.ptUsers.get(ptPage);
    if (!users) {
      this.ptUsers.set(ptPage, (users = new Set()));
      this.setTraced(ptPage);
    }
    users.add(`${r.guestCr3}:${pdi}`);
  }

  private setTraced(page: number): void {
    this.mmu.mem.setTracked(page, true);
    this.counters.tracedPages++;
  }

  /** A guest write to a traced page (a tracing fault): drop the shadow entries built from it. */
  private traced(addr: number): void {
    const page = addr >>> 12;
    const index = (addr & 0xfff) >>> 2;
    this.counters.tracingFaults++;
    this.onFaultExit?.("tracing", addr);
    const flood = (this.writesSinceUse.get(page) ?? 0) + 1;
    this.writesSinceUse.set(page, flood);
    const roots = this.pdUsers.get(page);
    if (roots)
      for (const r of roots)
        if (flood >= FLOOD_WRITES) this.unshadowPd(r, page);
        else if (r.pts[index]) {
          r.pts[index] = undefined;
          for (let k = 0; k < 1024; k++) this.mmu.zap((index << 22) | (k << 12));
        }
    const users = this.ptUsers.get(page);
    if (users)
      for (const u of [...users]) {
        const [cr3, pdi] = u.split(":").map(Number);
        const pt = this.roots.get(cr3)?.pts[pdi];
        if (flood >= FLOOD_WRITES) {
          users.delete(u);
          if (pt) for (let k = 0; k < 1024; k++) if (pt[k]) this.mmu.zap((pdi << 22) | (k << 12));
          if (pt) pt.fill(0);
        } else if (pt) {
          pt[index] = 0;
          this.mmu.zap((pdi << 22) | (index << 12));
        }
      }
    if (flood >= FLOOD_WRITES) {
      this.pdUsers.delete(page);
      this.ptUsers.delete(page);
      this.writesSinceUse.delete(page);
      this.untrace(page);
    }
  }

  /** Stop treating `page` as the page directory of root `r`: its shadow tables all go. */
  private unshadowPd(r: ShadowRoot, page: number): void {
    if (r.guestCr3 !== page << 12) return;
    for (let pdi = 0; pdi < 1024; pdi++) if (r.pts[pdi]) r.pts[pdi] = undefined;
    this.mmu.flush(false);
  }

  /**
   * What lookup() would find for `lin` in the current address space's shadow tables, without
   * building anything or counting (the page-walk visualizer): the guest CR3 the root belongs to,
   * whether the shadow page table for the 4 MiB region exists, and the shadow entry (TLB format).
   */
  peek(lin: number): { guestCr3: number; roots: number; ptPresent: boolean; entry: number } {
    const pt = this.current.pts[lin >>> 22];
    return {
      guestCr3: this.current.guestCr3,
      roots: this.roots.size,
      ptPresent: pt !== undefined,
      entry: pt ? pt[(lin >>> 12) & 1023] : 0,
    };
  }

  /** INVLPG: the guest says one translation changed. */
  invlpg(lin: number): void {
    const pt = this.current.pts[lin >>> 22];
    if (pt) pt[(lin >>> 12) & 1023] = 0;
  }

  /** Paging mode changed (CR0.PG/WP, CR4.PSE/PGE): every shadow entry may be wrong. */
  reset(): void {
    for (const r of [...this.roots.values()]) this.drop(r);
    this.current = this.root(this.mmu.cr3);
  }

  private drop(r: ShadowRoot): void {
    this.roots.delete(r.guestCr3);
    r.pts.fill(undefined);
    for (const [page, roots] of this.pdUsers) {
      roots.delete(r);
      if (!roots.size) {
        this.pdUsers.delete(page);
        this.untrace(page);
      }
    }
    const prefix = `${r.guestCr3}:`;
    for (const [page, users] of this.ptUsers) {
      for (const u of users) if (u.startsWith(prefix)) users.delete(u);
      if (!users.size) {
        this.ptUsers.delete(page);
        this.untrace(page);
      }
    }
  }

  private untrace(page: number): void {
    if (!this.pdUsers.has(page) && !this.ptUsers.has(page)) {
      this.mmu.mem.setTracked(page, false);
      this.counters.tracedPages--;
    }
  }
}

function permits(e: number, write: boolean, user: boolean): boolean {
  if (!(e & T_VALID)) return false;
  if (user && !(e & T_USER)) return false;
  if (write && !(e & (user ? T_WUSER : T_WSUP))) return false;
  return true;
}
