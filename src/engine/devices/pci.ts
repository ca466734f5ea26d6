// PCI bus 0 with configuration mechanism #1 (0xCF8 CONFIG_ADDRESS, 0xCFC-0xCFF CONFIG_DATA),
// a general `PciFunction` (256-byte type-0 configuration space with writable and
// write-1-to-clear masks, BARs with the sizing protocol, INTx), and the functions of an
// i440FX/PIIX3 PC: 82441FX host bridge (00.0), 82371SB PIIX3 ISA bridge (01.0) and IDE (01.1).
//
// Also the PIIX3 reset control register at 0xCF9 (byte access; bit 2 0->1 resets, "reboot=pci").
//
// Interrupts: a function asserts INTx with `setIntx(level)`. Device d's pin p (1 = INTA) is
// wired to PIRQ[(d + p - 2) & 3] (the i440FX/PIIX3 board swizzle that SeaBIOS and QEMU use),
// and PIRQ n is steered to an ISA IRQ by PIIX3 register 0x60+n (bit 7 = routing disabled, bits
// 3:0 = IRQ). PCI interrupts are level-triggered and shareable: the IRQ line is the OR of every
// asserted PIRQ routed to it. PIIX3 does not program the ELCR itself; the BIOS (or whoever sets
// the routing) must mark those IRQs level-triggered in ELCR (0x4D0/0x4D1) so that the 8259 keeps
// requesting while the line stays asserted. With the ELCR left at edge the interrupt still fires
// on each assertion, but a second device asserting a shared line is not seen until it drops.

import type { IoBus, IoSize, PortHandler } from "../io.ts";

export interface PciFunctionOptions {
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  revision?: number;
  headerType?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** Interrupt pin (0 = none, 1 = INTA ... 4 = INTD). */
  interruptPin?: number;
  /** Initial command register. */
  command?: number;
  /** Initial status register (capability bits, DEVSEL timing). */
  status?: number;
}

interface BarDef {
  size: number;
  io: boolean;
}

/** Command register bits. */
export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;

export class PciFunction {
  readonly config = new Uint8Array(256);
  /** Bits the guest may change. */
  readonly wmask = new Uint8Array(256);
  /** Bits a guest write of 1 clears. */
  readonly w1cmask = new Uint8Array(256);
  /** Called when a BAR's decoded address changes (address null: not decoded). */
  onBarMoved: ((bar: number, address: number | null, size: number, io: boolean) => void) | null = null;
  /** Called after every configuration write (offset of the access, size, value). */
  onConfigWrite: ((offset: number, size: IoSize, value: number) => void) | null = null;
  /** Set by the bus when the function is added: drives the routed interrupt line. */
  intxSink: ((level: boolean) => void) | null = null;

  private readonly bars: (BarDef | null)[] = [null, null, null, null, null, null];
  private readonly decoded: (number | null)[] = [null, null, null, null, null, null];
  private intx = false;

  constructor(opts: PciFunctionOptions) {
    this.set16(0x00, opts.vendorId);
    this.set16(0x02, opts.deviceId);
    this.set16(0x04, opts.command ?? 0);
    this.set16(0x06, opts.status ?? 0);
    this.config[0x08] = opts.revision ?? 0;
    this.config[0x09] = opts.classCode & 0xff;
    this.config[0x0a] = (opts.classCode >> 8) & 0xff;
    this.config[0x0b] = (opts.classCode >> 16) & 0xff;
    this.config[0x0e] = opts.headerType ?? 0;
    this.set16(0x2c, opts.subsystemVendorId ?? 0);
    this.set16(0x2e, opts.subsystemId ?? 0);
    this.config[0x3d] = opts.interruptPin ?? 0;
    // Standard writable fields of a type-0 header.
    this.setWritable(0x04, 2, 0x0547); // IO, memory, bus master, parity, SERR, INTx disable
    this.w1cmask[0x07] = 0xf9; // status bits 15..11 and 8 are write-1-to-clear
    this.setWritable(0x0c, 2, 0xffff); // cache line size, latency timer
    this.setWritable(0x3c, 1, 0xff); // interrupt line
  }

  // ---- setup helpers (for device models) -------------------------------------------------

  set8(off: number, v: number): void {
    this.config[off] = v & 0xff;
  }
  set16(off: number, v: number): void {
    this.config[off] = v & 0xff;
    this.config[off + 1] = (v >> 8) & 0xff;
  }
  set32(off: number, v: number): void {
    for (let i = 0; i < 4; i++) this.config[off + i] = (v >>> (8 * i)) & 0xff;
  }
  get8(off: number): number {
    return this.config[off]!;
  }
  get16(off: number): number {
    return this.config[off]! | (this.config[off + 1]! << 8);
  }
  get32(off: number): number {
    return (this.get16(off) | (this.get16(off + 2) << 16)) >>> 0;
  }

  /** Make `size` bytes at `off` writable with the given bit mask (little-endian). */
  setWritable(off: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.wmask[off + i] = (mask / 2 ** (8 * i)) & 0xff;
  }

  /**
   * Define BAR `index` (0-5) of `size` bytes (a power of two; >= 4 for I/O, >= 16 for memory).
   * 32-bit memory BARs only; `prefetchable` sets bit 3.
   */
  defineBar(index: number, size: number, kind: "io" | "mem", prefetchable = false): void {
    if (index < 0 || index > 5) throw new RangeError(`BAR index ${index} out of range 0-5`);
    const io = kind === "io";
    if (size & (size - 1) || size < (io ? 4 : 16)) {
      throw new RangeError(`BAR size ${size} must be a power of two >= ${io ? 4 : 16}`);
    }
    this.bars[index] = { size, io };
    const off = 0x10 + 4 * index;
    this.set32(off, io ? 0x1 : prefetchable ? 0x8 : 0x0);
    const mask = (~(size - 1) & (io ? 0xfffffffc : 0xfffffff0)) >>> 0;
    this.setWritable(off, 4, mask);
  }

  /** Currently decoded address of a BAR (null when unassigned or decoding is disabled). */
  barAddress(index: number): number | null {
    return this.decoded[index] ?? null;
  }

  /** Assert or deassert this function's INTx pin. */
  setIntx(level: boolean): void {
    this.intx = level;
    if (level) this.config[0x06]! |= 0x08;
    else this.config[0x06]! &= ~0x08;
    this.propagateIntx();
  }

  // ---- configuration access --------------------------------------------------------------

  readConfig(off: number, size: IoSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.config[(off + i) & 0xff]! << (8 * i);
    return v >>> 0;
  }

  writeConfig(off: number, size: IoSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = (off + i) & 0xff;
      const b = (value >>> (8 * i)) & 0xff;
      const wm = this.wmask[o]!;
      let n = (this.config[o]! & ~wm) | (b & wm);
      n &= ~(b & this.w1cmask[o]!);
      this.config[o] = n;
    }
    if (off <= 0x05 && off + size > 0x04) this.propagateIntx();
    if ((off < 0x28 && off + size > 0x10) || (off <= 0x05 && off + size > 0x04)) this.updateBars();
    this.onConfigWrite?.(off, size, value);
  }

  private propagateIntx(): void {
    const disabled = (this.get16(0x04) & PCI_COMMAND_INTX_DISABLE) !== 0;
    this.intxSink?.(this.intx && !disabled);
  }

  private updateBars(): void {
    const cmd = this.get16(0x04);
    for (let i = 0; i < 6; i++) {
      const bar = this.bars[i];
      if (!bar) continue;
      const raw = this.get32(0x10 + 4 * i);
      const addr = (raw & (bar.io ? 0xfffffffc : 0xfffffff0)) >>> 0;
      const enabled = cmd & (bar.io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
      let eff: number | null = enabled && addr !== 0 ? addr : null;
      if (eff !== null && bar.io && eff + bar.size > 0x10000) eff = null;
      if (eff !== null && !bar.io && eff + bar.size > 0x100000000) eff = null;
      if (eff !== this.decoded[i]) {
        this.decoded[i] = eff;
        this.onBarMoved?.(i, eff, bar.size, bar.io);
      }
    }
  }

  saveState(): { config: number[]; intx: boolean } {
    return { config: Array.from(this.config), intx: this.intx };
  }

  loadState(s: { config: number[]; intx: boolean }): void {
    this.config.set(s.config);
    this.intx = s.intx;
    this.updateBars();
    this.propagateIntx();
  }
}

export interface PciBusOptions {
  name?: string;
  /** Drive an ISA IRQ (the PIC input) for routed PCI interrupts. */
  setIrq?: (irq: number, level: boolean) => void;
  /** Reset control register (0xCF9) requested a reset. */
  onReset?: () => void;
}

export interface PciBusState {
  address: number;
  rc: number;
  functions: Record<string, { config: number[]; intx: boolean }>;
}

export class PciBus implements PortHandler {
  private readonly functions = new Map<number, PciFunction>();
  private readonly intxLevels = new Map<number, boolean>();
  private readonly irqLevels = new Map<number, boolean>();
  private address = 0;
  private rc = 0;
  private readonly setIrq: ((irq: number, level: boolean) => void) | undefined;
  private readonly onReset: (() => void) | undefined;
  /** PIRQ n -> ISA IRQ, or null when routing is disabled. Installed by the ISA bridge. */
  pirqRouter: ((pirq: number) => number | null) | null = null;

  constructor(bus: IoBus, opts: PciBusOptions = {}) {
    this.setIrq = opts.setIrq;
    this.onReset = opts.onReset;
    bus.register(opts.name ?? "pci", 0xcf8, 8, this);
  }

  /** Attach a function at device `dev` (0-31), function `fn` (0-7) of bus 0. */
  addFunction(dev: number, fn: number, f: PciFunction): void {
    if (dev < 0 || dev > 31 || fn < 0 || fn > 7) throw new RangeError(`bad PCI address ${dev}.${fn}`);
    const key = (dev << 3) | fn;
    if (this.functions.has(key)) throw new Error(`PCI slot ${dev}.${fn} already occupied`);
    this.functions.set(key, f);
    f.intxSink = (level) => {
      this.intxLevels.set(key, level);
      this.updateIrqs();
    };
    // A multi-function device advertises it in function 0's header type bit 7.
    const f0 = this.functions.get(dev << 3);
    if (fn !== 0 && f0) f0.config[0x0e]! |= 0x80;
    if (fn === 0) {
      for (let i = 1; i < 8; i++) if (this.functions.has((dev << 3) | i)) f.config[0x0e]! |= 0x80;
    }
  }

  getFunction(dev: number, fn: number): PciFunction | undefined {
    return this.functions.get((dev << 3) | fn);
  }

  /** Recompute the ISA IRQ levels from INTx states and the PIRQ routing. */
  updateIrqs(): void {
    const pirq = [false, false, false, false];
    for (const [key, level] of this.intxLevels) {
      if (!level) continue;
      const f = this.functions.get(key)!;
      const pin = f.config[0x3d]!;
      if (pin < 1 || pin > 4) continue;
      pirq[((key >> 3) + pin - 2) & 3] = true;
    }
    const want = new Map<number, boolean>();
    for (let n = 0; n < 4; n++) {
      const irq = this.pirqRouter?.(n) ?? null;
      if (irq === null) continue;
      want.set(irq, (want.get(irq) ?? false) || pirq[n]!);
    }
    for (const irq of this.irqLevels.keys()) if (!want.has(irq)) want.set(irq, false);
    for (const [irq, level] of want) {
      if ((this.irqLevels.get(irq) ?? false) !== level) {
        this.irqLevels.set(irq, level);
        this.setIrq?.(irq, level);
      }
    }
  }

  read(port: number, size: IoSize): number {
    if (port === 0xcf8 && size === 4) return this.address;
    if (port === 0xcf9 && size === 1) return this.rc;
    if (port < 0xcfc) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    const f = this.target();
    const ones = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    if (!f) return ones;
    return f.readConfig((this.address & 0xfc) + (port - 0xcfc), size);
  }

  write(port: number, size: IoSize, value: number): void {
    if (port === 0xcf8 && size === 4) {
      this.address = (value & 0x80fffffc) >>> 0;
      return;
    }
    if (port === 0xcf9 && size === 1) {
      const old = this.rc;
      this.rc = value & 0x02;
      if (value & 0x04 && !(old & 0x04)) this.onReset?.();
      return;
    }
    if (port < 0xcfc) return;
    const f = this.target();
    if (f) f.writeConfig((this.address & 0xfc) + (port - 0xcfc), size, value);
  }

  saveState(): PciBusState {
    const functions: Record<string, { config: number[]; intx: boolean }> = {};
    for (const [key, f] of this.functions) functions[String(key)] = f.saveState();
    return { address: this.address, rc: this.rc, functions };
  }

  loadState(s: PciBusState): void {
    this.address = s.address;
    this.rc = s.rc;
    for (const [key, st] of Object.entries(s.functions)) {
      const f = this.functions.get(Number(key));
      if (!f) throw new Error(`snapshot has a PCI function at devfn ${key} that this machine lacks`);
      f.loadState(st);
    }
  }

  private target(): PciFunction | undefined {
    const a = this.address;
    if (!(a & 0x80000000)) return undefined;
    if ((a >> 16) & 0xff) return undefined; // only bus 0
    return this.functions.get((a >> 8) & 0xff);
  }
}

// ---- i440FX / PIIX3 functions ----------------------------------------------------------

/** Intel 82441FX PMC (i440FX host bridge), 00.0. PAM registers 0x59-0x5F are writable. */
export class I440fxHostBridge extends PciFunction {
  constructor() {
    super({
      vendorId: 0x8086,
      deviceId: 0x1237,
      revision: 0x02,
      classCode: 0x060000,
      command: 0x0006,
      status: 0x0280,
    });
    this.setWritable(0x0c, 2, 0xff00); // latency timer only
    for (const off of [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x57, 0x58, 0x68, 0x70, 0x71, 0x72, 0x93]) {
      this.setWritable(off, 1, 0xff);
    }
    for (let off = 0x59; off <= 0x5f; off++) this.setWritable(off, 1, 0x77); // PAM0-6
    for (let off = 0x60; off <= 0x67; off++) this.setWritable(off, 1, 0xff); // DRB0-7
    this.set8(0x72, 0x02); // SMRAM default
  }

  /** PAM register n (0-6): read/write enables for the BIOS shadow areas. */
  pam(n: number): number {
    return this.get8(0x59 + n);
  }
}

/** Intel 82371SB PIIX3 PCI-to-ISA bridge, 01.0, with the PIRQ route control registers. */
export class Piix3IsaBridge extends PciFunction {
  /** Called when a PIRQ route register changes. */
  onRouteChange: (() => void) | null = null;

  constructor() {
    super({
      vendorId: 0x8086,
      deviceId: 0x7000,
      classCode: 0x060100,
      headerType: 0x80,
      command: 0x0007,
      status: 0x0200,
    });
    this.setWritable(0x0c, 2, 0);
    this.set8(0x4c, 0x4d); // IORT
    this.setWritable(0x4c, 1, 0xff);
    this.set16(0x4e, 0x0003); // XBCS
    this.setWritable(0x4e, 2, 0x07ff);
    for (let n = 0; n < 4; n++) {
      this.set8(0x60 + n, 0x80); // PIRQ routing disabled
      this.setWritable(0x60 + n, 1, 0x8f);
    }
    this.set8(0x69, 0x02); // TOM
    this.setWritable(0x69, 1, 0xfe);
    this.setWritable(0x6a, 2, 0xffff); // MSTAT
    this.set8(0x70, 0x80); // MBIRQ0
    this.set8(0x71, 0x80); // MBIRQ1
    this.setWritable(0x70, 2, 0xefef);
    this.set16(0x76, 0x0c0c); // MBDMA
    this.setWritable(0x76, 2, 0x8f8f);
    this.set16(0x78, 0x0002); // PCSC
    this.setWritable(0x78, 2, 0xffff);
    this.setWritable(0x80, 1, 0x7f); // APICBASE
    this.setWritable(0x82, 1, 0x0f); // DLC
    this.set8(0xa0, 0x08); // SMICNTL
    this.setWritable(0xa0, 1, 0x1f);
    this.setWritable(0xa2, 2, 0x00ff); // SMIEN
    this.setWritable(0xa4, 4, 0xffffffff); // SEE
    this.set8(0xa8, 0x0f); // FTMR
    this.setWritable(0xa8, 1, 0xff);
    this.setWritable(0xaa, 2, 0x01ff); // SMIREQ
    this.setWritable(0xac, 1, 0xff);
    this.setWritable(0xae, 1, 0xff);
    this.onConfigWrite = (off, size) => {
      if (off < 0x64 && off + size > 0x60) this.onRouteChange?.();
    };
  }

  /** ISA IRQ that PIRQ n (0 = PIRQA) is routed to, or null when disabled or invalid. */
  pirqRoute(n: number): number | null {
    const v = this.get8(0x60 + n);
    if (v & 0x80) return null;
    const irq = v & 0x0f;
    // Valid steering targets: IRQ 3-7, 9-12, 14, 15.
    if (irq < 3 || irq === 8 || irq === 13) return null;
    return irq;
  }
}

/**
 * Intel 82371SB PIIX3 IDE function, 01.1: class 01 01 80 (both channels fixed in compatibility
 * mode at 0x1F0/0x3F6 IRQ14 and 0x170/0x376 IRQ15, bus-master capable in the class code). BAR0-3
 * do not exist. BAR4 (bus-master IDE) is not implemented and reads 0, so Linux's ata_piix finds
 * "BAR4 is zero" and uses PIO. IDETIM (0x40/0x42) bit 15 is the channel decode enable that
 * ata_piix checks before probing a channel; the primary is preset enabled (what a BIOS does,
 * since a directly booted kernel runs no BIOS) and the secondary disabled (no drives there).
 */
export class Piix3Ide extends PciFunction {
  constructor(opts: { primaryEnabled?: boolean; secondaryEnabled?: boolean } = {}) {
    super({
      vendorId: 0x8086,
      deviceId: 0x7010,
      classCode: 0x010180,
      status: 0x0280,
    });
    this.setWritable(0x3c, 1, 0);
    this.setWritable(0x0c, 2, 0xff00);
    this.set16(0x40, opts.primaryEnabled === false ? 0 : 0x8000);
    this.set16(0x42, opts.secondaryEnabled ? 0x8000 : 0);
    this.setWritable(0x40, 4, 0xf3fff3ff);
    this.setWritable(0x44, 1, 0xff); // SIDETIM
  }
}

/** Attach the i440FX host bridge and PIIX3 ISA bridge + IDE at 00.0, 01.0 and 01.1. */
export function installI440fxPiix3(pci: PciBus): {
  host: I440fxHostBridge;
  isa: Piix3IsaBridge;
  ide: Piix3Ide;
} {
  const host = new I440fxHostBridge();
  const isa = new Piix3IsaBridge();
  const ide = new Piix3Ide();
  pci.addFunction(0, 0, host);
  pci.addFunction(1, 0, isa);
  pci.addFunction(1, 1, ide);
  pci.pirqRouter = (n) => isa.pirqRoute(n);
  isa.onRouteChange = () => pci.updateIrqs();
  return { host, isa, ide };
}
