// Extended page tables (Intel SDM Vol. 3C, 29.3): the second dimension of address translation in
// HW mode. The VMM keeps four-level EPT tables in its own host memory (not guest RAM); every guest-
// physical address the CPU uses — each guest page-table entry it reads during a walk and the final
// data address — is translated through them, one memory reference per level. The first touch of a
// guest-physical page finds no entry: an EPT violation (exit reason 48) after which the VMM
// allocates the missing table pages and maps the page.

/** EPT entry permission bits. */
export const EPT_R = 1,
  EPT_W = 2,
  EPT_X = 4;

const PAGE = 4096;
const ENTRIES = 512;

export interface EptCounters {
  /** Guest-physical translations performed (each is a 4-level walk unless cached). */
  translations: number;
  /** EPT paging-structure entries read: the memory references of the second dimension. */
  refs: number;
  /** EPT violations (first touch of a guest-physical page). */
  violations: number;
  /** Host pages holding EPT tables. */
  tablePages: number;
}

export class Ept {
  /** VMM host memory for EPT paging structures, one 4 KiB page per table, 64-bit entries. */
  private host = new BigUint64Array(0);
  private pages = 0;
  /** Host page number of the PML4 (the EPT pointer). */
  readonly eptp: number;
  readonly counters: EptCounters = { translations: 0, refs: 0, violations: 0, tablePages: 0 };
  /** Called on each violation with the guest-physical address and access (the VM exit). */
  onViolation: ((gpa: number, access: number) => void) | null = null;

  constructor(
    /** Guest-physical bytes the guest may use (RAM); beyond it is MMIO/absent and maps 1:1 too. */
    readonly guestBytes: number,
  ) {
    this.eptp = this.allocTable();
  }

  private allocTable(): number {
    const n = this.pages++;
    if ((n + 1) * ENTRIES > this.host.length) {
      const grown = new BigUint64Array(Math.max(ENTRIES * 8, this.host.length * 2));
      grown.set(this.host);
      this.host = grown;
    }
    this.host.fill(0n, n * ENTRIES, (n + 1) * ENTRIES);
    this.counters.tablePages = this.pages;
    return n;
  }

  /**
   * Translate a guest-physical address for an access (EPT_R/EPT_W/EPT_X). Walks PML4 → PDPT → PD →
   * PT, counting each entry read; a missing entry is an EPT violation that the VMM resolves by
   * populating the path (guest RAM is backed 1:1 by host memory in this machine).
   */
  translate(gpa: number, access: number): number {
    this.counters.translations++;
    gpa >>>= 0;
    const idx = [0, (gpa >>> 30) & 3, (gpa >>> 21) & 511, (gpa >>> 12) & 511]; // 32-bit GPA: PML4 index 0
    let table = this.eptp;
    let violated = false;
    for (let level = 0; level < 4; level++) {
      const slot = table * ENTRIES + idx[level];
      let e = this.host[slot];
      this.counters.refs++;
      if ((Number(e & 7n) & access) !== access) {
        // Not present: one EPT violation; the VMM's handler builds the rest of the path.
        if (!violated) {
          violated = true;
          this.counters.violations++;
          this.onViolation?.(gpa, access);
        }
        e = this.populate(slot, level, gpa);
      }
      if (level === 3) return Number(e >> 12n) * PAGE + (gpa & 0xfff);
      table = Number(e >> 12n);
    }
    return gpa;
  }

  /**
   * The walk translate() would do for `gpa`, without doing it: no counters, no violation, nothing
   * populated (the page-walk visualizer, src/engine/mmu/walk-explain.ts). Each step names the table
   * page (in VMM host memory), the entry index and the entry; `hpa` is null where the walk stops.
   */
  peek(gpa: number): {
    steps: { level: number; table: number; index: number; entry: bigint }[];
    hpa: number | null;
  } {
    gpa >>>= 0;
    const idx = [0, (gpa >>> 30) & 3, (gpa >>> 21) & 511, (gpa >>> 12) & 511];
    const steps: { level: number; table: number; index: number; entry: bigint }[] = [];
    let table = this.eptp;
    for (let level = 0; level < 4; level++) {
      const entry = this.host[table * ENTRIES + idx[level]] ?? 0n;
      steps.push({ level, table, index: idx[level], entry });
      if (!(entry & 7n)) return { steps, hpa: null };
      if (level === 3) return { steps, hpa: Number(entry >> 12n) * PAGE + (gpa & 0xfff) };
      table = Number(entry >> 12n);
    }
    return { steps, hpa: null };
  }

  /** The VMM's violation handler: allocate the next-level table, or map the 4 KiB page RWX. */
  private populate(slot: number, level: number, gpa: number): bigint {
    const e =
      level === 3
        ? (BigInt(gpa >>> 12) << 12n) | BigInt(EPT_R | EPT_W | EPT_X) | (6n << 3n) // WB memory type
        : (BigInt(this.allocTable()) << 12n) | BigInt(EPT_R | EPT_W | EPT_X);
    this.host[slot] = e;
    return e;
  }

  /** Drop every mapping (INVEPT all-context after the VMM changed the tables wholesale). */
  reset(): void {
    this.pages = 0;
    this.host = new BigUint64Array(0);
    this.allocTable();
  }
}
