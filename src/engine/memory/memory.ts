// Guest physical memory: one WebAssembly.Memory holding RAM (shared later with JIT-generated code),
// ROM regions inside it, an MMIO dispatch map, the A20 gate, and tracking of which physical pages
// hold translated code so that writes to them can invalidate translations.

export interface MmioHandler {
  read(addr: number, size: 1 | 2 | 4): number;
  write(addr: number, size: 1 | 2 | 4, value: number): void;
}

/** Kind of each 4 KiB physical page. */
export const enum PageKind {
  RAM = 0,
  ROM = 1,
  MMIO = 2,
  NONE = 3,
}

const PAGE_SHIFT = 12;
const PAGES_4G = 1 << 20;

/**
 * Host-only areas placed after guest RAM in the same WebAssembly.Memory, so that JIT-generated code
 * reaches the CPU state and the TLB with plain loads and stores. The guest cannot address them:
 * physical pages at or above the RAM size are never RAM.
 */
export const STATE_BYTES = 0x1000;
export const TLB_BYTES = 4 << 20;
/** Block lookup table of the JIT (direct-mapped: linear EIP, physical EIP, table index, length). */
export const JIT_HASH_ENTRIES = 1 << 16;
export const JIT_HASH_BYTES = JIT_HASH_ENTRIES * 16;
/** Owners of translated code in `codePages`: the interpreter's decode cache and the JIT. */
export const CODE_DECODED = 1,
  CODE_JIT = 2;

const HOST_AREA_BYTES = 0x10000 + TLB_BYTES + JIT_HASH_BYTES;

export class PhysicalMemory {
  readonly wasmMemory: WebAssembly.Memory;
  readonly ramSize: number;
  /** Offsets of the host-only areas (see STATE_BYTES): CPU state, TLB, JIT block lookup. */
  readonly stateOffset: number;
  readonly tlbOffset: number;
  readonly jitHashOffset: number;
  u8: Uint8Array;
  i32: Int32Array;
  view: DataView;
  /** PageKind per 4 KiB page of the 4 GiB physical space. */
  readonly kind = new Uint8Array(PAGES_4G);
  private readonly mmio: (MmioHandler | undefined)[] = [];
  private readonly mmioNames: string[] = [];
  /** Per-page count of translated blocks that were decoded from the page (0 = no code). */
  readonly codePages: Uint8Array;
  /** Invoked when a write hits a page with translated code; the page is then no longer code. */
  onCodeWrite: ((page: number) => void) | null = null;
  /** Invoked when the set of pages needing slow-path writes changes (TLB must be flushed). */
  onLayoutChange: (() => void) | null = null;
  /** Writes to this page must now take the slow path in existing translations (see markCode). */
  onSlowWrites: ((page: number) => void) | null = null;
  /** A20 gate: when false, physical bit 20 is forced to 0 (8086 wrap-around). */
  a20 = true;
  /** Per-device MMIO access counts. */
  readonly mmioCounts: Record<string, number> = Object.create(null) as Record<string, number>;
  onMmioAccess: ((device: string, addr: number, write: boolean) => void) | null = null;

  constructor(ramBytes: number) {
    if (ramBytes < 1 << 20 || ramBytes > 0xc000_0000 || ramBytes % 65536)
      throw new Error(`guest RAM must be a multiple of 64 KiB between 1 MiB and 3 GiB (got ${ramBytes})`);
    this.ramSize = ramBytes;
    const pages = (ramBytes + HOST_AREA_BYTES) / 65536;
    this.wasmMemory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.stateOffset = ramBytes;
    this.tlbOffset = ramBytes + 0x10000;
    this.jitHashOffset = this.tlbOffset + TLB_BYTES;
    this.u8 = new Uint8Array(this.wasmMemory.buffer);
    this.i32 = new Int32Array(this.wasmMemory.buffer);
    this.view = new DataView(this.wasmMemory.buffer);
    this.codePages = new Uint8Array(ramBytes >>> PAGE_SHIFT);
    this.kind.fill(PageKind.NONE);
    this.kind.fill(PageKind.RAM, 0, ramBytes >>> PAGE_SHIFT);
  }

  /** Copy `data` to `addr` and make the range read-only to the guest. */
  loadRom(addr: number, data: Uint8Array): void {
    if (addr + data.length > this.ramSize) throw new Error("ROM must lie inside the RAM backing store");
    this.load(addr, data);
    for (let p = addr >>> PAGE_SHIFT; p < (addr + data.length + 0xfff) >>> PAGE_SHIFT; p++)
      this.kind[p] = PageKind.ROM;
    this.onLayoutChange?.();
  }

  /** Route accesses to [base, base+length) (page aligned) to a device. */
  mapMmio(name: string, base: number, length: number, handler: MmioHandler): void {
    if (base & 0xfff || length & 0xfff) throw new Error("MMIO regions must be 4 KiB aligned");
    const id = this.mmio.length;
    this.mmio.push(handler);
    this.mmioNames.push(name);
    this.mmioCounts[name] ??= 0;
    for (let p = base >>> PAGE_SHIFT; p < (base + length) >>> PAGE_SHIFT; p++) {
      this.kind[p] = PageKind.MMIO;
      this.mmioPage[p] = id;
    }
    this.onLayoutChange?.();
  }
  private readonly mmioPage = new Uint16Array(PAGES_4G);

  /** Apply the A20 gate to a physical address. */
  a20Mask(addr: number): number {
    return this.a20 ? addr : addr & ~0x100000;
  }

  setA20(enabled: boolean): void {
    if (enabled === this.a20) return;
    this.a20 = enabled;
    this.onLayoutChange?.();
  }

  pageKind(addr: number): PageKind {
    return this.kind[addr >>> PAGE_SHIFT] as PageKind;
  }

  // --- slow-path accesses (the CPU's TLB fast path reads u8/view directly for RAM) -----------------

  read8(addr: number): number {
    addr >>>= 0;
    const k = this.kind[addr >>> PAGE_SHIFT];
    if (k <= PageKind.ROM) return this.u8[addr];
    if (k === PageKind.MMIO) return this.mmioRead(addr, 1) & 0xff;
    return 0xff;
  }

  read16(addr: number): number {
    addr >>>= 0;
    if ((addr & 0xfff) === 0xfff) return this.read8(addr) | (this.read8(addr + 1) << 8);
    const k = this.kind[addr >>> PAGE_SHIFT];
    if (k <= PageKind.ROM) return this.view.getUint16(addr, true);
    if (k === PageKind.MMIO) return this.mmioRead(addr, 2) & 0xffff;
    return 0xffff;
  }

  read32(addr: number): number {
    addr >>>= 0;
    if ((addr & 0xfff) > 0xffc) return this.read16(addr) | (this.read16(addr + 2) << 16);
    const k = this.kind[addr >>> PAGE_SHIFT];
    if (k <= PageKind.ROM) return this.view.getInt32(addr, true);
    if (k === PageKind.MMIO) return this.mmioRead(addr, 4) | 0;
    return -1;
  }

  write8(addr: number, v: number): void {
    addr >>>= 0;
    const p = addr >>> PAGE_SHIFT;
    const k = this.kind[p];
    if (k === PageKind.RAM) {
      if (p < this.codePages.length && this.codePages[p]) this.codeWritten(p);
      this.u8[addr] = v;
      if (this.tracked[p]) this.onTrackedWrite?.(addr, 1);
    } else if (k === PageKind.MMIO) this.mmioWrite(addr, 1, v & 0xff);
  }

  write16(addr: number, v: number): void {
    addr >>>= 0;
    if ((addr & 0xfff) === 0xfff) {
      this.write8(addr, v);
      this.write8(addr + 1, v >> 8);
      return;
    }
    const p = addr >>> PAGE_SHIFT;
    const k = this.kind[p];
    if (k === PageKind.RAM) {
      if (p < this.codePages.length && this.codePages[p]) this.codeWritten(p);
      this.view.setUint16(addr, v, true);
      if (this.tracked[p]) this.onTrackedWrite?.(addr, 2);
    } else if (k === PageKind.MMIO) this.mmioWrite(addr, 2, v & 0xffff);
  }

  write32(addr: number, v: number): void {
    addr >>>= 0;
    if ((addr & 0xfff) > 0xffc) {
      this.write16(addr, v);
      this.write16(addr + 2, v >>> 16);
      return;
    }
    const p = addr >>> PAGE_SHIFT;
    const k = this.kind[p];
    if (k === PageKind.RAM) {
      if (p < this.codePages.length && this.codePages[p]) this.codeWritten(p);
      this.view.setInt32(addr, v, true);
      if (this.tracked[p]) this.onTrackedWrite?.(addr, 4);
    } else if (k === PageKind.MMIO) this.mmioWrite(addr, 4, v);
  }

  /**
   * Copy bytes into RAM from the host (loaders, DMA). Pages holding translated code are invalidated,
   * exactly as for guest writes; never write guest RAM through `u8` behind the tracker's back.
   */
  load(addr: number, data: Uint8Array): void {
    this.u8.set(data, addr);
    this.wroteRange(addr, data.length);
  }

  /** Fill a RAM range from the host (zeroing BSS, clearing memory). */
  fill(addr: number, length: number, value = 0): void {
    this.u8.fill(value, addr, addr + length);
    this.wroteRange(addr, length);
  }

  /**
   * Note a write of RAM done directly on `u8` (host loads, REP MOVS/STOS bulk copies): translated
   * code derived from those pages goes.
   */
  wroteRange(addr: number, length: number): void {
    if (length <= 0) return;
    const last = Math.min((addr + length - 1) >>> PAGE_SHIFT, this.codePages.length - 1);
    for (let p = addr >>> PAGE_SHIFT; p <= last; p++) if (this.codePages[p]) this.codeWritten(p);
  }

  // --- code-page tracking --------------------------------------------------------------------------

  /** Note that translated code was derived from this physical page (`owner`: a CODE_* bit). */
  markCode(page: number, owner = CODE_DECODED): void {
    if (page >= this.codePages.length) return;
    const was = this.codePages[page];
    this.codePages[page] = was | owner;
    // Existing TLB entries may allow fast-path writes to the page: they lose that right (and only
    // that: a flush would refill them, and the emulator's own caches would show as guest TLB misses).
    if (was === 0) this.onSlowWrites?.(page);
  }

  /** Forget that a page holds code for `owner` (its translations were dropped). */
  unmarkCode(page: number, owner = CODE_DECODED): void {
    if (page < this.codePages.length) this.codePages[page] &= ~owner;
  }

  /**
   * Pages whose writes a hypervisor traces (guest page tables under shadow paging). Writes still
   * happen; afterwards onTrackedWrite reports them (the tracing fault).
   */
  readonly tracked = new Uint8Array(PAGES_4G);
  onTrackedWrite: ((addr: number, size: number) => void) | null = null;

  setTracked(page: number, on: boolean): void {
    if (!!this.tracked[page] === on) return;
    this.tracked[page] = on ? 1 : 0;
    // Existing TLB entries may allow fast-path writes to the page: they must go.
    if (on) this.onLayoutChange?.();
  }

  /** Writes to this page must take the slow path (translated code or a traced page). */
  writeTracked(page: number): boolean {
    return (page < this.codePages.length && this.codePages[page] !== 0) || this.tracked[page] !== 0;
  }

  isCode(page: number): boolean {
    return page < this.codePages.length && this.codePages[page] !== 0;
  }

  private codeWritten(page: number): void {
    this.codePages[page] = 0;
    this.onCodeWrite?.(page);
  }

  private mmioRead(addr: number, size: 1 | 2 | 4): number {
    const id = this.mmioPage[addr >>> PAGE_SHIFT];
    const name = this.mmioNames[id];
    this.mmioCounts[name]++;
    this.onMmioAccess?.(name, addr, false);
    return this.mmio[id]!.read(addr, size);
  }

  private mmioWrite(addr: number, size: 1 | 2 | 4, v: number): void {
    const id = this.mmioPage[addr >>> PAGE_SHIFT];
    const name = this.mmioNames[id];
    this.mmioCounts[name]++;
    this.onMmioAccess?.(name, addr, true);
    this.mmio[id]!.write(addr, size, v);
  }
}
