// Virtio 1.x PCI transport ("modern" virtio-pci, virtio spec 1.2 §4.1) with split virtqueues
// (§2.7). Device types (net, blk, console) live in virtio-*.ts and extend `VirtioDevice`.
//
// Why the modern transport and not legacy 0.9.5 I/O ports: it is the current standard (the legacy
// interface is frozen and documented only as "transitional" in §4.1.4.8), its registers sit in a
// memory BAR so every driver access is an MMIO access the VMM can count and price like any other
// trap, and it carries the features a PV lecture wants to show (feature negotiation with
// VIRTIO_F_VERSION_1, EVENT_IDX notification suppression). Linux 6.1's virtio_pci drives it with
// `virtio_pci_modern_probe` for device IDs 0x1040 + type.
//
// Layout of BAR0 (32-bit, non-prefetchable memory, 16 KiB; one 4 KiB page per structure so the
// MMIO regions are page aligned as PhysicalMemory.mapMmio requires):
//   0x0000  common configuration (§4.1.4.3), 0x3C bytes
//   0x1000  ISR status (§4.1.4.5), 1 byte, read-to-clear
//   0x2000  device-specific configuration (§4.1.4.6)
//   0x3000  notifications (§4.1.4.4): queue n at 0x3000 + 4n (queue_notify_off = n, multiplier 4)
// PCI capabilities (vendor-specific, cap ID 0x09, `struct virtio_pci_cap` §4.1.4) at 0x40 (common),
// 0x50 (notify, with notify_off_multiplier), 0x64 (ISR), 0x74 (device), 0x84 (PCI configuration
// access, §4.1.4.8 "VIRTIO_PCI_CAP_PCI_CFG", which a device MUST present).
//
// Interrupts: INTx only (no MSI-X capability: the guest kernel has no local APIC). A used buffer
// notification sets ISR bit 0, a configuration change notification ISR bit 1 (§4.1.4.5); INTx is
// asserted while ISR is non-zero, and a read of ISR returns it, clears it and deasserts INTx.
//
// Timing model: the device completes requests synchronously at the notification (the "kick"), like
// the UART's instantaneous transmission; the cost model prices notifications and interrupts as
// events. Host-side input (console/net `receive`) is placed into the guest's receive buffers at
// once when buffers are available, or when the driver next makes some available.
//
// Guest memory: rings and buffers are read through `mem.u8`/`mem.view` and written only through
// `mem.write16/32` and `mem.load` so that code-page tracking sees the DMA. Bad guest input (a ring
// outside RAM, an index past the queue size, a descriptor loop, an unnegotiated indirect table, a
// queue size that is not a power of two ...) sets DEVICE_NEEDS_RESET (§2.1.2) and stops the
// device; it never raises a host exception.
//
// Limitation: PhysicalMemory has no unmap, so when the guest moves BAR0 the old pages stay routed
// to this device; accesses there are ignored (reads return all ones).

import type { IoSize, Snapshotable } from "../io.ts";
import { PageKind, type PhysicalMemory } from "../memory/memory.ts";
import { PciFunction } from "./pci.ts";

export const VIRTIO_PCI_VENDOR = 0x1af4;
/** Modern (non-transitional) PCI device ID = 0x1040 + virtio device type (§4.1.2). */
export const VIRTIO_PCI_MODERN_DEVICE_BASE = 0x1040;

/** Device status bits (§2.1). */
export const VIRTIO_STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** Reserved (transport) feature bits (§6). */
export const VIRTIO_F_RING_INDIRECT_DESC = 28;
export const VIRTIO_F_RING_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

/** Split virtqueue descriptor flags (§2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** avail.flags (§2.7.6) and used.flags (§2.7.8). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** virtio_pci_cap cfg_type values (§4.1.4). */
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;

/** BAR0 layout. */
export const VIRTIO_BAR_SIZE = 0x4000;
export const VIRTIO_COMMON_OFFSET = 0x0000;
export const VIRTIO_COMMON_LENGTH = 0x3c;
export const VIRTIO_ISR_OFFSET = 0x1000;
export const VIRTIO_DEVICE_OFFSET = 0x2000;
export const VIRTIO_NOTIFY_OFFSET = 0x3000;
export const VIRTIO_NOTIFY_MULTIPLIER = 4;
/** Configuration-space offsets of the capabilities. */
export const VIRTIO_CAP_COMMON = 0x40;
export const VIRTIO_CAP_NOTIFY = 0x50;
export const VIRTIO_CAP_ISR = 0x64;
export const VIRTIO_CAP_DEVICE = 0x74;
export const VIRTIO_CAP_PCI_CFG = 0x84;

/** Largest queue size of a split virtqueue (§2.7). */
const MAX_QUEUE_SIZE = 32768;
const NO_VECTOR = 0xffff;

export interface VirtioCounters {
  /** Driver -> device available buffer notifications (writes to the notify area). */
  notifications: number;
  /** Device -> driver interrupts (INTx assertions). */
  interrupts: number;
  /** Requests (descriptor chains) completed into the used ring. */
  requests: number;
  /** Payload bytes moved in both directions. */
  bytes: number;
  /** Payload bytes the device read from guest memory (driver -> device). */
  bytesFromGuest: number;
  /** Payload bytes the device wrote to guest memory (device -> driver). */
  bytesToGuest: number;
  /** Failed requests and DEVICE_NEEDS_RESET events. */
  errors: number;
}

export type VirtioEvent =
  | { type: "notify"; device: string; queue: number }
  | { type: "interrupt"; device: string; isr: number }
  | { type: "error"; device: string; message: string };

/** One guest-physical buffer segment of a descriptor chain. */
export interface Segment {
  addr: number;
  len: number;
}

/** A descriptor chain taken from the available ring (§2.7.5). */
export interface Chain {
  head: number;
  readable: Segment[];
  writable: Segment[];
  readableLen: number;
  writableLen: number;
}

export interface VirtqueueState {
  size: number;
  enabled: boolean;
  desc: number;
  driver: number;
  device: number;
  lastAvail: number;
  usedIdx: number;
  signalledUsed: number;
}

export interface VirtioState {
  status: number;
  deviceFeatureSelect: number;
  driverFeatureSelect: number;
  driverFeatures: string;
  queueSelect: number;
  isr: number;
  configGeneration: number;
  lastError: string | null;
  queues: VirtqueueState[];
  counters: VirtioCounters;
  device: unknown;
}

export interface VirtioDeviceOptions {
  /** Name for MMIO accounting and events, e.g. "virtio-blk". */
  name: string;
  mem: PhysicalMemory;
  /** Virtio device type (§5): 1 net, 2 block, 3 console. */
  type: number;
  /** 24-bit PCI class code. */
  classCode: number;
  /** Maximum size of each virtqueue (a power of two). */
  queueSizes: number[];
  /** Device-specific feature bits offered (VERSION_1, INDIRECT_DESC, EVENT_IDX are added). */
  features?: bigint;
  /** Size of the device-specific configuration structure in bytes. */
  configSize: number;
}

/** Split virtqueue state and ring access (§2.7). */
export class Virtqueue {
  size: number;
  enabled = false;
  desc = 0;
  driver = 0;
  device = 0;
  /** Next available ring entry the device will take (free-running 16-bit). */
  lastAvail = 0;
  /** Shadow of used.idx (free-running 16-bit). */
  usedIdx = 0;
  /** used.idx at the last interrupt decision (for EVENT_IDX, §2.7.7.2). */
  signalledUsed = 0;

  constructor(
    readonly index: number,
    readonly maxSize: number,
  ) {
    this.size = maxSize;
  }

  reset(): void {
    this.size = this.maxSize;
    this.enabled = false;
    this.desc = 0;
    this.driver = 0;
    this.device = 0;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.signalledUsed = 0;
  }

  save(): VirtqueueState {
    return {
      size: this.size,
      enabled: this.enabled,
      desc: this.desc,
      driver: this.driver,
      device: this.device,
      lastAvail: this.lastAvail,
      usedIdx: this.usedIdx,
      signalledUsed: this.signalledUsed,
    };
  }

  load(s: VirtqueueState): void {
    this.size = s.size;
    this.enabled = s.enabled;
    this.desc = s.desc;
    this.driver = s.driver;
    this.device = s.device;
    this.lastAvail = s.lastAvail;
    this.usedIdx = s.usedIdx;
    this.signalledUsed = s.signalledUsed;
  }
}

/** Thrown internally for malformed guest input; always caught inside the transport. */
class GuestError extends Error {}

/**
 * The virtio-pci transport plus the split-virtqueue engine. A device type subclasses it and
 * implements `queueNotify` (and, when it has any, device configuration and reset hooks).
 */
export abstract class VirtioDevice implements Snapshotable<VirtioState> {
  readonly name: string;
  readonly pci: PciFunction;
  readonly queues: Virtqueue[];
  readonly counters: VirtioCounters = {
    notifications: 0,
    interrupts: 0,
    requests: 0,
    bytes: 0,
    bytesFromGuest: 0,
    bytesToGuest: 0,
    errors: 0,
  };
  /** Events for the VMM (notifications are the PV "kick"). */
  onEvent: ((e: VirtioEvent) => void) | null = null;
  /** Last reason the device set DEVICE_NEEDS_RESET or failed a request. */
  lastError: string | null = null;
  /** Device-specific configuration bytes (little-endian fields), readable by the driver. */
  protected readonly config: Uint8Array;
  protected readonly mem: PhysicalMemory;
  readonly deviceFeatures: bigint;

  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private queueSelect = 0;
  private isr = 0;
  private configGeneration = 0;
  private barBase: number | null = null;
  private readonly mapped = new Set<number>();

  constructor(opts: VirtioDeviceOptions) {
    this.name = opts.name;
    this.mem = opts.mem;
    this.config = new Uint8Array(opts.configSize);
    this.deviceFeatures =
      (opts.features ?? 0n) |
      (1n << BigInt(VIRTIO_F_VERSION_1)) |
      (1n << BigInt(VIRTIO_F_RING_INDIRECT_DESC)) |
      (1n << BigInt(VIRTIO_F_RING_EVENT_IDX));
    this.queues = opts.queueSizes.map((n, i) => {
      if (n < 1 || n > MAX_QUEUE_SIZE || n & (n - 1)) throw new RangeError(`bad virtqueue size ${n}`);
      return new Virtqueue(i, n);
    });
    this.pci = new VirtioPciFunction(this, opts.type, opts.classCode);
    this.pci.defineBar(0, VIRTIO_BAR_SIZE, "mem");
    this.buildCapabilities(opts.configSize);
    this.pci.onBarMoved = (bar, address) => {
      if (bar === 0) this.barMoved(address);
    };
  }

  // ---- what device types implement ---------------------------------------------------------

  /** The driver made buffers available on queue `q` (or DRIVER_OK was just set). */
  protected abstract queueNotify(q: Virtqueue): void;
  /** Device reset (status 0): drop device-specific state other than host-side queues. */
  protected deviceReset(): void {}
  /** A driver write to the device configuration (default: read-only). */
  protected configWrite(_off: number, _size: IoSize, _value: number): void {}
  protected saveDevice(): unknown {
    return null;
  }
  protected loadDevice(_s: unknown): void {}

  // ---- public state ------------------------------------------------------------------------

  /** Device status register (§2.1). */
  get deviceStatus(): number {
    return this.status;
  }
  /** Features the driver accepted. */
  get negotiatedFeatures(): bigint {
    return this.driverFeatures;
  }
  /** The driver has set DRIVER_OK and the device is not in an error state. */
  get live(): boolean {
    return (
      (this.status & VIRTIO_STATUS.DRIVER_OK) !== 0 && (this.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) === 0
    );
  }
  /** Address of BAR0 as decoded now (null when unassigned or memory decode is off). */
  get barAddress(): number | null {
    return this.barBase;
  }

  hasFeature(bit: number): boolean {
    return ((this.driverFeatures >> BigInt(bit)) & 1n) === 1n;
  }

  // ---- BAR0 (MMIO) ---------------------------------------------------------------------------

  private barMoved(address: number | null): void {
    this.barBase = address;
    if (address === null || this.mapped.has(address)) return;
    // Refuse to shadow RAM or ROM with a BAR the guest placed over it.
    for (let p = address; p < address + VIRTIO_BAR_SIZE; p += 0x1000) {
      const k = this.mem.pageKind(p);
      if (k === PageKind.RAM || k === PageKind.ROM) return;
    }
    this.mapped.add(address);
    const base = address;
    this.mem.mapMmio(this.name, base, VIRTIO_BAR_SIZE, {
      read: (addr, size) => (this.barBase === base ? this.barRead(addr - base, size) : ones(size)),
      write: (addr, size, value) => {
        if (this.barBase === base) this.barWrite(addr - base, size, value);
      },
    });
  }

  /** Read from BAR0 at `off` (also used by the PCI configuration access capability). */
  barRead(off: number, size: IoSize): number {
    if (off < VIRTIO_COMMON_OFFSET + 0x1000) {
      let v = 0;
      for (let i = 0; i < size; i++) v |= this.commonByte(off + i) << (8 * i);
      return v >>> 0;
    }
    if (off < VIRTIO_ISR_OFFSET + 0x1000) {
      if (off !== VIRTIO_ISR_OFFSET) return 0;
      // §4.1.4.5.1: reading ISR resets it to 0 and deasserts the interrupt.
      const v = this.isr;
      this.isr = 0;
      this.pci.setIntx(false);
      return v;
    }
    if (off < VIRTIO_DEVICE_OFFSET + 0x1000) {
      const o = off - VIRTIO_DEVICE_OFFSET;
      let v = 0;
      for (let i = 0; i < size; i++) v |= (this.config[o + i] ?? 0) << (8 * i);
      return v >>> 0;
    }
    return 0; // notify area reads as 0
  }

  barWrite(off: number, size: IoSize, value: number): void {
    if (off < VIRTIO_COMMON_OFFSET + 0x1000) {
      this.commonWrite(off, size, value >>> 0);
    } else if (off < VIRTIO_ISR_OFFSET + 0x1000) {
      // ISR is read-only.
    } else if (off < VIRTIO_DEVICE_OFFSET + 0x1000) {
      const o = off - VIRTIO_DEVICE_OFFSET;
      if (o + size <= this.config.length) this.configWrite(o, size, value >>> 0);
    } else {
      const o = off - VIRTIO_NOTIFY_OFFSET;
      if (o % VIRTIO_NOTIFY_MULTIPLIER === 0) this.notify(o / VIRTIO_NOTIFY_MULTIPLIER);
    }
  }

  // ---- common configuration (§4.1.4.3) -----------------------------------------------------

  private selectedQueue(): Virtqueue | undefined {
    return this.queues[this.queueSelect];
  }

  /** Value of the 16- or 32-bit common configuration field that contains byte `off`. */
  private commonField(off: number): { start: number; width: number; value: number } | null {
    const q = this.selectedQueue();
    const f = (start: number, width: number, value: number) => ({ start, width, value: value >>> 0 });
    if (off < 0x04) return f(0x00, 4, this.deviceFeatureSelect);
    if (off < 0x08) {
      const sel = this.deviceFeatureSelect;
      return f(0x04, 4, sel < 2 ? Number((this.deviceFeatures >> BigInt(32 * sel)) & 0xffffffffn) : 0);
    }
    if (off < 0x0c) return f(0x08, 4, this.driverFeatureSelect);
    if (off < 0x10) {
      const sel = this.driverFeatureSelect;
      return f(0x0c, 4, sel < 2 ? Number((this.driverFeatures >> BigInt(32 * sel)) & 0xffffffffn) : 0);
    }
    if (off < 0x12) return f(0x10, 2, NO_VECTOR); // config_msix_vector
    if (off < 0x14) return f(0x12, 2, this.queues.length);
    if (off < 0x15) return f(0x14, 1, this.status);
    if (off < 0x16) return f(0x15, 1, this.configGeneration);
    if (off < 0x18) return f(0x16, 2, this.queueSelect);
    if (off < 0x1a) return f(0x18, 2, q ? q.size : 0);
    if (off < 0x1c) return f(0x1a, 2, NO_VECTOR); // queue_msix_vector
    if (off < 0x1e) return f(0x1c, 2, q?.enabled ? 1 : 0);
    if (off < 0x20) return f(0x1e, 2, q ? q.index : 0); // queue_notify_off
    if (off < 0x38) {
      const start = off & ~3;
      const which = (start - 0x20) >> 3;
      const hi = (start & 4) !== 0;
      const addr = !q ? 0 : which === 0 ? q.desc : which === 1 ? q.driver : q.device;
      return f(start, 4, hi ? Math.floor(addr / 2 ** 32) : addr % 2 ** 32);
    }
    if (off < 0x3a) return f(0x38, 2, q ? q.index : 0); // queue_notify_data (§4.1.4.3, 1.2)
    if (off < 0x3c) return f(0x3a, 2, 0); // queue_reset: VIRTIO_F_RING_RESET not offered
    return null;
  }

  private commonByte(off: number): number {
    const fld = this.commonField(off);
    return fld ? (fld.value >>> (8 * (off - fld.start))) & 0xff : 0;
  }

  private commonWrite(off: number, size: IoSize, value: number): void {
    // Merge the written bytes into each field they touch, then apply the field write.
    let i = 0;
    while (i < size) {
      const fld = this.commonField(off + i);
      if (!fld) return;
      let v = fld.value;
      while (i < size && off + i < fld.start + fld.width) {
        const sh = 8 * (off + i - fld.start);
        v = ((v & ~(0xff << sh)) | (((value >>> (8 * i)) & 0xff) << sh)) >>> 0;
        i++;
      }
      this.commonFieldWrite(fld.start, v);
    }
  }

  private commonFieldWrite(start: number, v: number): void {
    const q = this.selectedQueue();
    switch (start) {
      case 0x00:
        this.deviceFeatureSelect = v;
        return;
      case 0x08:
        this.driverFeatureSelect = v;
        return;
      case 0x0c: {
        // §2.2.2: the driver must not change features after FEATURES_OK.
        if (this.status & VIRTIO_STATUS.FEATURES_OK || this.driverFeatureSelect > 1) return;
        const sh = BigInt(32 * this.driverFeatureSelect);
        this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << sh)) | (BigInt(v) << sh);
        return;
      }
      case 0x14:
        this.writeStatus(v & 0xff);
        return;
      case 0x16:
        this.queueSelect = v & 0xffff;
        return;
    }
    // Queue registers: ignored for a non-existent queue or once the queue is enabled (§4.1.4.3.2).
    if (!q || q.enabled) return;
    switch (start) {
      case 0x18:
        q.size = v & 0xffff;
        return;
      case 0x1c:
        if (v & 1) this.enableQueue(q);
        return;
      case 0x20:
      case 0x24:
      case 0x28:
      case 0x2c:
      case 0x30:
      case 0x34: {
        const which = (start - 0x20) >> 3;
        const old = which === 0 ? q.desc : which === 1 ? q.driver : q.device;
        const lo = start & 4 ? old % 2 ** 32 : v;
        const hi = start & 4 ? v : Math.floor(old / 2 ** 32);
        const addr = hi * 2 ** 32 + lo;
        if (which === 0) q.desc = addr;
        else if (which === 1) q.driver = addr;
        else q.device = addr;
        return;
      }
    }
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    // DEVICE_NEEDS_RESET belongs to the device; the driver cannot clear it except by reset.
    let s = (v & ~VIRTIO_STATUS.DEVICE_NEEDS_RESET) | (old & VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    if (s & VIRTIO_STATUS.FEATURES_OK && !(old & VIRTIO_STATUS.FEATURES_OK)) {
      // §2.2.2 / §6.1: accept only a subset of the offered features that includes VERSION_1.
      const ok = (this.driverFeatures & ~this.deviceFeatures) === 0n && this.hasFeature(VIRTIO_F_VERSION_1);
      if (!ok) s &= ~VIRTIO_STATUS.FEATURES_OK;
    }
    this.status = s;
    if (s & VIRTIO_STATUS.DRIVER_OK && !(old & VIRTIO_STATUS.DRIVER_OK)) {
      // Buffers made available before DRIVER_OK are processed now (§3.1.1).
      for (const q of this.queues) if (q.enabled) this.runQueue(q);
    }
  }

  /** Device reset (§2.4): status 0, features and queues cleared, interrupt deasserted. */
  reset(): void {
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.queueSelect = 0;
    this.isr = 0;
    for (const q of this.queues) q.reset();
    this.pci.setIntx(false);
    this.deviceReset();
  }

  private enableQueue(q: Virtqueue): void {
    const n = q.size;
    // §2.7: a split virtqueue's size is a power of two (and at most the device maximum, §4.1.4.3.2).
    if (n === 0 || n & (n - 1) || n > q.maxSize) {
      this.needsReset(`queue ${q.index}: size ${n} is not a power of two <= ${q.maxSize}`);
      return;
    }
    // §2.7 alignment: descriptor table 16, available ring 2, used ring 4.
    const check = (what: string, addr: number, len: number, align: number) => {
      if (addr % align) throw new GuestError(`queue ${q.index}: ${what} 0x${addr.toString(16)} misaligned`);
      this.checkRam(addr, len, true, `queue ${q.index}: ${what}`);
    };
    try {
      check("descriptor table", q.desc, 16 * n, 16);
      check("available ring", q.driver, 6 + 2 * n, 2);
      check("used ring", q.device, 6 + 8 * n, 4);
    } catch (e) {
      if (e instanceof GuestError) {
        this.needsReset(e.message);
        return;
      }
      throw e;
    }
    q.enabled = true;
    q.lastAvail = 0;
    q.usedIdx = 0;
    q.signalledUsed = 0;
  }

  // ---- notifications and interrupts ----------------------------------------------------------

  /** Available buffer notification for queue `index` (§4.1.5.2). */
  notify(index: number): void {
    this.counters.notifications++;
    this.onEvent?.({ type: "notify", device: this.name, queue: index });
    const q = this.queues[index];
    if (!q || !q.enabled || !this.live) return;
    this.runQueue(q);
  }

  /** Run the device's queue handler; guest errors inside it set DEVICE_NEEDS_RESET. */
  protected runQueue(q: Virtqueue): void {
    if (!this.live || !q.enabled) return;
    try {
      this.queueNotify(q);
    } catch (e) {
      if (e instanceof GuestError) this.needsReset(e.message);
      else throw e;
    }
    this.publishAvailEvent(q);
  }

  /** Raise an interrupt with the given ISR bits (bit 0 queue, bit 1 configuration). */
  protected raiseIsr(bits: number): void {
    const was = this.isr;
    this.isr |= bits;
    if (was === 0 && this.isr !== 0) {
      this.counters.interrupts++;
      this.onEvent?.({ type: "interrupt", device: this.name, isr: this.isr });
    }
    this.pci.setIntx(true);
  }

  /** Enter the error state (§2.1.2); a live driver gets a configuration change interrupt. */
  protected needsReset(message: string): void {
    this.lastError = message;
    this.counters.errors++;
    this.onEvent?.({ type: "error", device: this.name, message });
    const wasLive = this.live;
    this.status |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    if (wasLive) this.raiseIsr(2);
  }

  /** Count a request the device failed (reported to the driver through the used buffer). */
  protected requestFailed(message: string): void {
    this.lastError = message;
    this.counters.errors++;
    this.onEvent?.({ type: "error", device: this.name, message });
  }

  // ---- split virtqueue engine (§2.7) --------------------------------------------------------

  private checkRam(addr: number, len: number, write: boolean, what: string): void {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr + len > this.mem.ramSize) {
      throw new GuestError(`${what}: 0x${addr.toString(16)}+${len} is outside guest RAM`);
    }
    if (!write || len === 0) return;
    for (let p = Math.floor(addr / 4096); p <= Math.floor((addr + len - 1) / 4096); p++) {
      if (this.mem.kind[p] !== PageKind.RAM) {
        throw new GuestError(`${what}: 0x${addr.toString(16)}+${len} is not writable RAM`);
      }
    }
  }

  private rd16(a: number): number {
    return this.mem.view.getUint16(a, true);
  }
  private rd32(a: number): number {
    return this.mem.view.getUint32(a, true);
  }

  /** Number of buffers the driver has made available and the device has not taken yet. */
  pending(q: Virtqueue): number {
    if (!q.enabled) return 0;
    return (this.rd16(q.driver + 2) - q.lastAvail) & 0xffff;
  }

  /**
   * Take the next available descriptor chain, or null if there is none. Malformed rings or
   * chains throw GuestError, which `runQueue` turns into DEVICE_NEEDS_RESET.
   */
  protected pop(q: Virtqueue): Chain | null {
    if (!this.live || !q.enabled) return null;
    const n = q.size;
    const avail = this.pending(q);
    if (avail === 0) return null;
    // §2.7.13.3: the driver never makes more than Queue Size buffers available at once.
    if (avail > n) throw new GuestError(`queue ${q.index}: avail.idx ran ${avail} entries ahead (size ${n})`);
    const head = this.rd16(q.driver + 4 + 2 * (q.lastAvail % n));
    if (head >= n) throw new GuestError(`queue ${q.index}: available head ${head} >= queue size ${n}`);
    const chain: Chain = { head, readable: [], writable: [], readableLen: 0, writableLen: 0 };
    let table = q.desc;
    let tableSize = n;
    let i = head;
    let count = 0;
    let indirect = false;
    for (;;) {
      // §2.7.5.3.1: a chain is never longer than the queue (or the indirect table): a loop otherwise.
      if (++count > tableSize)
        throw new GuestError(`queue ${q.index}: descriptor chain loops or is too long`);
      const d = table + 16 * i;
      const addr = this.rd32(d) + this.rd32(d + 4) * 2 ** 32;
      const len = this.rd32(d + 8);
      const flags = this.rd16(d + 12);
      const next = this.rd16(d + 14);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        // §2.7.5.3: indirect only if negotiated, not nested, not combined with NEXT, whole entries.
        if (!this.hasFeature(VIRTIO_F_RING_INDIRECT_DESC)) {
          throw new GuestError(`queue ${q.index}: indirect descriptor without VIRTIO_F_INDIRECT_DESC`);
        }
        if (indirect) throw new GuestError(`queue ${q.index}: nested indirect descriptor`);
        if (flags & VIRTQ_DESC_F_NEXT)
          throw new GuestError(`queue ${q.index}: indirect descriptor with NEXT`);
        if (len === 0 || len % 16 || len / 16 > MAX_QUEUE_SIZE) {
          throw new GuestError(`queue ${q.index}: indirect table length ${len} invalid`);
        }
        // (No alignment is required of an indirect table; Linux kmallocs it, 8-byte aligned.)
        this.checkRam(addr, len, false, `queue ${q.index}: indirect table`);
        indirect = true;
        table = addr;
        tableSize = len / 16;
        i = 0;
        count = 0;
        continue;
      }
      const write = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      this.checkRam(addr, len, write, `queue ${q.index}: buffer`);
      if (write) {
        chain.writable.push({ addr, len });
        chain.writableLen += len;
      } else {
        // §2.7.4.2: device-readable descriptors come before device-writable ones.
        if (chain.writable.length) {
          throw new GuestError(`queue ${q.index}: device-readable descriptor after a writable one`);
        }
        chain.readable.push({ addr, len });
        chain.readableLen += len;
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      if (next >= tableSize) throw new GuestError(`queue ${q.index}: next index ${next} out of range`);
      i = next;
    }
    q.lastAvail = (q.lastAvail + 1) & 0xffff;
    return chain;
  }

  /** Put a chain on the used ring with `written` bytes written into its writable part (§2.7.8). */
  protected push(q: Virtqueue, chain: Chain, written: number): void {
    const n = q.size;
    const e = q.device + 4 + 8 * (q.usedIdx % n);
    this.mem.write32(e, chain.head);
    this.mem.write32(e + 4, written);
    q.usedIdx = (q.usedIdx + 1) & 0xffff;
    this.mem.write16(q.device + 2, q.usedIdx); // the entry is written before used.idx
    this.counters.requests++;
  }

  /**
   * After pushing used buffers: send a used buffer notification unless the driver suppressed it
   * (used_event with EVENT_IDX, §2.7.10; else avail.flags NO_INTERRUPT, §2.7.7).
   */
  protected signalUsed(q: Virtqueue): void {
    const old = q.signalledUsed;
    const now = q.usedIdx;
    if (old === now) return;
    q.signalledUsed = now;
    let need: boolean;
    if (this.hasFeature(VIRTIO_F_RING_EVENT_IDX)) {
      const usedEvent = this.rd16(q.driver + 4 + 2 * q.size);
      // vring_need_event(): notify if used_event lies in [old, now).
      need = ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    } else {
      need = (this.rd16(q.driver) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (need) this.raiseIsr(1);
  }

  /** With EVENT_IDX, ask for a notification as soon as any new buffer is made available. */
  private publishAvailEvent(q: Virtqueue): void {
    if (!q.enabled || !this.hasFeature(VIRTIO_F_RING_EVENT_IDX)) return;
    this.mem.write16(q.device + 4 + 8 * q.size, q.lastAvail);
  }

  /** Copy `len` bytes at byte offset `off` of a chain's readable part out of guest memory. */
  protected gather(chain: Chain, off: number, len: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(len, chain.readableLen - off)));
    let o = 0;
    let pos = 0;
    for (const s of chain.readable) {
      if (o >= out.length) break;
      if (off < pos + s.len) {
        const start = Math.max(0, off - pos);
        const n = Math.min(s.len - start, out.length - o);
        out.set(this.mem.u8.subarray(s.addr + start, s.addr + start + n), o);
        o += n;
      }
      pos += s.len;
    }
    return out;
  }

  /** Write `data` at byte offset `off` of a chain's writable part; returns the bytes written. */
  protected scatter(chain: Chain, off: number, data: Uint8Array): number {
    let o = 0;
    let pos = 0;
    for (const s of chain.writable) {
      if (o >= data.length) break;
      if (off + o < pos + s.len) {
        const start = off + o - pos;
        const n = Math.min(s.len - start, data.length - o);
        this.mem.load(s.addr + start, data.subarray(o, o + n));
        o += n;
      }
      pos += s.len;
    }
    return o;
  }

  protected countFromGuest(n: number): void {
    this.counters.bytesFromGuest += n;
    this.counters.bytes += n;
  }
  protected countToGuest(n: number): void {
    this.counters.bytesToGuest += n;
    this.counters.bytes += n;
  }

  // ---- PCI configuration and capabilities ----------------------------------------------------

  private buildCapabilities(configSize: number): void {
    const c = this.pci;
    c.set8(0x34, VIRTIO_CAP_COMMON);
    const cap = (at: number, next: number, len: number, type: number, offset: number, length: number) => {
      c.set8(at, 0x09); // PCI_CAP_ID_VNDR
      c.set8(at + 1, next);
      c.set8(at + 2, len);
      c.set8(at + 3, type);
      c.set8(at + 4, 0); // bar
      c.set32(at + 8, offset);
      c.set32(at + 12, length);
    };
    cap(
      VIRTIO_CAP_COMMON,
      VIRTIO_CAP_NOTIFY,
      16,
      VIRTIO_PCI_CAP_COMMON_CFG,
      VIRTIO_COMMON_OFFSET,
      VIRTIO_COMMON_LENGTH,
    );
    cap(
      VIRTIO_CAP_NOTIFY,
      VIRTIO_CAP_ISR,
      20,
      VIRTIO_PCI_CAP_NOTIFY_CFG,
      VIRTIO_NOTIFY_OFFSET,
      this.queues.length * VIRTIO_NOTIFY_MULTIPLIER,
    );
    c.set32(VIRTIO_CAP_NOTIFY + 16, VIRTIO_NOTIFY_MULTIPLIER);
    cap(VIRTIO_CAP_ISR, VIRTIO_CAP_DEVICE, 16, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_ISR_OFFSET, 1);
    cap(
      VIRTIO_CAP_DEVICE,
      VIRTIO_CAP_PCI_CFG,
      16,
      VIRTIO_PCI_CAP_DEVICE_CFG,
      VIRTIO_DEVICE_OFFSET,
      configSize,
    );
    cap(VIRTIO_CAP_PCI_CFG, 0, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
    // §4.1.4.8: bar, offset, length and pci_cfg_data of the PCI_CFG capability are driver-writable.
    c.setWritable(VIRTIO_CAP_PCI_CFG + 4, 1, 0xff);
    c.setWritable(VIRTIO_CAP_PCI_CFG + 8, 4, 0xffffffff);
    c.setWritable(VIRTIO_CAP_PCI_CFG + 12, 4, 0xffffffff);
  }

  /** pci_cfg_data window (§4.1.4.8): forward to BAR `cap.bar` at `cap.offset`. */
  pciCfgAccess(write: boolean, value: number): number {
    const c = this.pci;
    const bar = c.get8(VIRTIO_CAP_PCI_CFG + 4);
    const offset = c.get32(VIRTIO_CAP_PCI_CFG + 8);
    const length = c.get32(VIRTIO_CAP_PCI_CFG + 12);
    if (bar !== 0 || (length !== 1 && length !== 2 && length !== 4) || offset % length) return 0;
    if (offset + length > VIRTIO_BAR_SIZE) return 0;
    if (write) {
      this.barWrite(offset, length, value & (length === 4 ? 0xffffffff : (1 << (8 * length)) - 1));
      return 0;
    }
    return this.barRead(offset, length);
  }

  // ---- Snapshotable --------------------------------------------------------------------------

  saveState(): VirtioState {
    return {
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures.toString(16),
      queueSelect: this.queueSelect,
      isr: this.isr,
      configGeneration: this.configGeneration,
      lastError: this.lastError,
      queues: this.queues.map((q) => q.save()),
      counters: { ...this.counters },
      device: this.saveDevice(),
    };
  }

  loadState(s: VirtioState): void {
    if (s.queues.length !== this.queues.length) {
      throw new Error(
        `snapshot of ${this.name} has ${s.queues.length} queues, this device has ${this.queues.length}`,
      );
    }
    this.status = s.status;
    this.deviceFeatureSelect = s.deviceFeatureSelect;
    this.driverFeatureSelect = s.driverFeatureSelect;
    this.driverFeatures = BigInt(`0x${s.driverFeatures}`);
    this.queueSelect = s.queueSelect;
    this.isr = s.isr;
    this.configGeneration = s.configGeneration;
    this.lastError = s.lastError;
    s.queues.forEach((qs, i) => this.queues[i]!.load(qs));
    Object.assign(this.counters, s.counters);
    this.loadDevice(s.device);
    this.pci.setIntx(this.isr !== 0);
  }
}

function ones(size: IoSize): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

/** The PCI function of a virtio device: a type-0 header whose PCI_CFG window reaches BAR0. */
class VirtioPciFunction extends PciFunction {
  constructor(
    private readonly dev: VirtioDevice,
    type: number,
    classCode: number,
  ) {
    super({
      vendorId: VIRTIO_PCI_VENDOR,
      deviceId: VIRTIO_PCI_MODERN_DEVICE_BASE + type,
      classCode,
      revision: 1, // §4.1.2.1: non-transitional devices SHOULD have a revision ID of 1 or higher
      subsystemVendorId: VIRTIO_PCI_VENDOR,
      subsystemId: 0x40 + type, // §4.1.2.1: SHOULD be >= 0x40
      interruptPin: 1,
      status: 0x0010, // capabilities list
    });
  }

  private static readonly DATA = VIRTIO_CAP_PCI_CFG + 16;

  override readConfig(off: number, size: IoSize): number {
    const d = VirtioPciFunction.DATA;
    if (off < d + 4 && off + size > d) {
      const v = this.dev.pciCfgAccess(false, 0);
      this.set32(d, v);
    }
    return super.readConfig(off, size);
  }

  override writeConfig(off: number, size: IoSize, value: number): void {
    const d = VirtioPciFunction.DATA;
    if (off < d + 4 && off + size > d) {
      // Data is aligned to the start of pci_cfg_data (§4.1.4.8).
      const shift = 8 * (off - d);
      const v = shift >= 0 ? value << shift : value >>> -shift;
      this.dev.pciCfgAccess(true, v >>> 0);
    }
    super.writeConfig(off, size, value);
  }
}
