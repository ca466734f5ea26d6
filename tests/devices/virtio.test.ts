// Virtio 1.x PCI transport and split virtqueues, driven by a hand-built driver that writes rings
// and descriptors into guest memory exactly as the virtio spec (1.2) describes. Section numbers
// refer to "Virtual I/O Device (VIRTIO) Version 1.2".
import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { PhysicalMemory } from "../../src/engine/memory/memory.ts";
import { PciBus, installI440fxPiix3 } from "../../src/engine/devices/pci.ts";
import { Pic8259 } from "../../src/engine/devices/pic.ts";
import { Disk } from "../../src/engine/devices/disk.ts";
import { VirtioDevice, VIRTIO_STATUS as S } from "../../src/engine/devices/virtio.ts";
import { VirtioBlk } from "../../src/engine/devices/virtio-blk.ts";
import { VirtioConsole } from "../../src/engine/devices/virtio-console.ts";
import { VirtioNet } from "../../src/engine/devices/virtio-net.ts";
import { attachVirtio } from "../../src/engine/devices/virtio-setup.ts";

const DESC_F_NEXT = 1;
const DESC_F_WRITE = 2;
const DESC_F_INDIRECT = 4;
const F_INDIRECT = 1n << 28n;
const F_EVENT_IDX = 1n << 29n;
const F_VERSION_1 = 1n << 32n;

interface Buf {
  addr: number;
  len: number;
  write?: boolean;
}

/** A minimal virtio-pci driver working through MMIO and guest memory. */
class Driver {
  private readonly rings = new Map<
    number,
    { size: number; desc: number; avail: number; used: number; free: number }
  >();
  /** Next free area for buffers and rings. */
  heap = 0x10000;

  constructor(
    readonly mem: PhysicalMemory,
    readonly dev: VirtioDevice,
    readonly base: number,
  ) {}

  r8 = (o: number) => this.mem.read8(this.base + o);
  r16 = (o: number) => this.mem.read16(this.base + o);
  r32 = (o: number) => this.mem.read32(this.base + o) >>> 0;
  w8 = (o: number, v: number) => this.mem.write8(this.base + o, v);
  w16 = (o: number, v: number) => this.mem.write16(this.base + o, v);
  w32 = (o: number, v: number) => this.mem.write32(this.base + o, v);

  alloc(n: number, align = 16): number {
    this.heap = Math.ceil(this.heap / align) * align;
    const a = this.heap;
    this.heap += n;
    return a;
  }

  deviceFeatures(): bigint {
    this.w32(0x00, 0);
    const lo = BigInt(this.r32(0x04));
    this.w32(0x00, 1);
    return lo | (BigInt(this.r32(0x04)) << 32n);
  }

  /** §3.1.1 driver initialization up to FEATURES_OK; returns the status read back. */
  negotiate(features: bigint): number {
    this.w8(0x14, 0);
    this.w8(0x14, S.ACKNOWLEDGE);
    this.w8(0x14, S.ACKNOWLEDGE | S.DRIVER);
    this.w32(0x08, 0);
    this.w32(0x0c, Number(features & 0xffffffffn));
    this.w32(0x08, 1);
    this.w32(0x0c, Number(features >> 32n));
    this.w8(0x14, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    return this.r8(0x14);
  }

  /** §4.1.5.1.3 virtqueue configuration. */
  setupQueue(q: number, size?: number): void {
    this.w16(0x16, q);
    const n = size ?? this.r16(0x18);
    this.w16(0x18, n);
    const desc = this.alloc(16 * n, 16);
    const avail = this.alloc(6 + 2 * n, 2);
    const used = this.alloc(6 + 8 * n, 4);
    for (const [off, a] of [
      [0x20, desc],
      [0x28, avail],
      [0x30, used],
    ] as const) {
      this.w32(off, a);
      this.w32(off + 4, 0);
    }
    this.w16(0x1c, 1);
    this.rings.set(q, { size: n, desc, avail, used, free: 0 });
  }

  init(features: bigint, queues: number[]): void {
    expect(this.negotiate(features) & S.FEATURES_OK).toBe(S.FEATURES_OK);
    for (const q of queues) this.setupQueue(q);
    this.w8(0x14, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  }

  ring(q: number) {
    return this.rings.get(q)!;
  }

  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const d = table + 16 * i;
    this.mem.write32(d, addr);
    this.mem.write32(d + 4, 0);
    this.mem.write32(d + 8, len);
    this.mem.write16(d + 12, flags);
    this.mem.write16(d + 14, next);
  }

  /** Put a chain in the descriptor table (or an indirect table) and on the available ring. */
  add(q: number, bufs: Buf[], indirect = false): number {
    const r = this.ring(q);
    const head = r.free;
    if (indirect) {
      const t = this.alloc(16 * bufs.length + 8, 16) + 8; // 8-aligned, like Linux's kmalloc
      bufs.forEach((b, i) =>
        this.writeDesc(
          t,
          i,
          b.addr,
          b.len,
          (b.write ? DESC_F_WRITE : 0) | (i < bufs.length - 1 ? DESC_F_NEXT : 0),
          i + 1,
        ),
      );
      this.writeDesc(r.desc, head, t, 16 * bufs.length, DESC_F_INDIRECT, 0);
      r.free = (r.free + 1) % r.size;
    } else {
      bufs.forEach((b, i) => {
        const idx = (head + i) % r.size;
        const flags = (b.write ? DESC_F_WRITE : 0) | (i < bufs.length - 1 ? DESC_F_NEXT : 0);
        this.writeDesc(r.desc, idx, b.addr, b.len, flags, (idx + 1) % r.size);
      });
      r.free = (r.free + bufs.length) % r.size;
    }
    const idx = this.mem.read16(r.avail + 2);
    this.mem.write16(r.avail + 4 + 2 * (idx % r.size), head);
    this.mem.write16(r.avail + 2, (idx + 1) & 0xffff); // §2.7.13.2: ring entry before idx
    return head;
  }

  /** Available buffer notification (§4.1.5.2): write the queue index at its notify address. */
  kick(q: number): void {
    this.w16(0x3000 + 4 * q, q);
  }

  usedIdx(q: number): number {
    return this.mem.read16(this.ring(q).used + 2);
  }

  usedEntry(q: number, k: number): { id: number; len: number } {
    const r = this.ring(q);
    const e = r.used + 4 + 8 * (k % r.size);
    return { id: this.mem.read32(e), len: this.mem.read32(e + 4) };
  }

  isr(): number {
    return this.r8(0x1000);
  }
}

function platform() {
  const io = new IoBus();
  const mem = new PhysicalMemory(2 << 20);
  const irqs: [number, boolean][] = [];
  const pic = new Pic8259(io);
  const pci = new PciBus(io, {
    setIrq: (irq, level) => {
      irqs.push([irq, level]);
      pic.setIrq(irq, level);
    },
  });
  installI440fxPiix3(pci);
  const cfg = (dev: number, reg: number, size: 1 | 2 | 4 = 4) => {
    io.write(0xcf8, 4, (0x80000000 | (dev << 11) | (reg & 0xfc)) >>> 0);
    return io.read(0xcfc + (reg & 3), size) >>> 0;
  };
  const cfgWrite = (dev: number, reg: number, size: 1 | 2 | 4, v: number) => {
    io.write(0xcf8, 4, (0x80000000 | (dev << 11) | (reg & 0xfc)) >>> 0);
    io.write(0xcfc + (reg & 3), size, v);
  };
  return { io, mem, pic, pci, irqs, cfg, cfgWrite };
}

function diskImage(sectors: number): Uint8Array {
  const d = new Uint8Array(sectors * 512);
  for (let i = 0; i < d.length; i++) d[i] = (i * 7 + (i >> 9)) & 0xff;
  return d;
}

function blkSetup(features = F_VERSION_1 | F_INDIRECT) {
  const p = platform();
  const base = diskImage(64);
  const disk = new Disk(base);
  const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic, disk }, { console: false, net: false });
  const blk = v.blk!;
  const drv = new Driver(p.mem, blk, blk.barAddress!);
  drv.init(features, [0]);
  return { ...p, disk, base, blk, drv };
}

/** Build a virtio-blk request (§5.2.6): header, data, status. */
function blkRequest(drv: Driver, type: number, sector: number, dataLen: number, dataWrite: boolean) {
  const hdr = drv.alloc(16);
  drv.mem.write32(hdr, type);
  drv.mem.write32(hdr + 4, 0);
  drv.mem.write32(hdr + 8, sector);
  drv.mem.write32(hdr + 12, 0);
  const data = drv.alloc(Math.max(dataLen, 1), 512);
  const status = drv.alloc(1, 1);
  drv.mem.write8(status, 0xff);
  const bufs: Buf[] = [{ addr: hdr, len: 16 }];
  if (dataLen) bufs.push({ addr: data, len: dataLen, write: dataWrite });
  bufs.push({ addr: status, len: 1, write: true });
  return { bufs, data, status };
}

describe("virtio-pci transport (§4.1)", () => {
  it("identifies as a modern virtio device with the five virtio_pci_cap structures", () => {
    const p = platform();
    attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic, disk: new Disk(diskImage(8)) });
    // §4.1.2: vendor 0x1AF4, device 0x1040 + type; revision >= 1 for non-transitional devices.
    expect(p.cfg(3, 0x00)).toBe(0x10421af4); // block
    expect(p.cfg(4, 0x00)).toBe(0x10431af4); // console
    expect(p.cfg(5, 0x00)).toBe(0x10411af4); // network
    expect(p.cfg(3, 0x08) & 0xff).toBe(1);
    expect(p.cfg(3, 0x2c) >>> 16).toBeGreaterThanOrEqual(0x40); // subsystem ID
    expect(p.cfg(3, 0x06, 2) & 0x10).toBe(0x10); // capabilities list
    expect(p.cfg(3, 0x3d, 1)).toBe(1); // INTA
    // Walk the capability list (§4.1.4): cap_vndr 0x09, cfg_type, bar, offset, length.
    const caps: Record<number, { bar: number; offset: number; length: number; at: number }> = {};
    for (let at = p.cfg(3, 0x34, 1); at; at = p.cfg(3, at + 1, 1)) {
      expect(p.cfg(3, at, 1)).toBe(0x09);
      caps[p.cfg(3, at + 3, 1)] = {
        bar: p.cfg(3, at + 4, 1),
        offset: p.cfg(3, at + 8),
        length: p.cfg(3, at + 12),
        at,
      };
    }
    expect(Object.keys(caps).map(Number).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(caps[1]).toMatchObject({ bar: 0, offset: 0x0000 });
    expect(caps[1]!.length).toBeGreaterThanOrEqual(0x38); // struct virtio_pci_common_cfg
    expect(caps[2]).toMatchObject({ bar: 0, offset: 0x3000, length: 4 });
    expect(p.cfg(3, caps[2]!.at + 16)).toBe(4); // notify_off_multiplier
    expect(caps[3]).toMatchObject({ bar: 0, offset: 0x1000, length: 1 });
    expect(caps[4]).toMatchObject({ bar: 0, offset: 0x2000 });
    // BAR0: 32-bit memory, 16 KiB (sizing protocol), assigned by attachVirtio.
    expect(p.cfg(3, 0x10)).toBe(0xfeb00000);
    expect(p.cfg(4, 0x10)).toBe(0xfeb04000);
    expect(p.cfg(5, 0x10)).toBe(0xfeb08000);
    p.cfgWrite(3, 0x10, 4, 0xffffffff);
    expect(p.cfg(3, 0x10)).toBe(0xffffc000);
  });

  it("negotiates features: VERSION_1 is required and only offered bits are accepted (§2.2, §6.1)", () => {
    const p = platform();
    const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic, disk: new Disk(diskImage(8)) });
    const drv = new Driver(p.mem, v.blk!, v.blk!.barAddress!);
    const offered = drv.deviceFeatures();
    expect(offered & F_VERSION_1).toBe(F_VERSION_1);
    expect(offered & F_INDIRECT).toBe(F_INDIRECT);
    expect(offered & F_EVENT_IDX).toBe(F_EVENT_IDX);
    expect(offered & (1n << 9n)).toBe(1n << 9n); // VIRTIO_BLK_F_FLUSH
    // Without VERSION_1 the device does not accept the features: FEATURES_OK reads back clear.
    expect(drv.negotiate(1n << 9n) & S.FEATURES_OK).toBe(0);
    // A bit the device did not offer (VIRTIO_BLK_F_RO, 5) is refused too.
    expect(drv.negotiate(F_VERSION_1 | (1n << 5n)) & S.FEATURES_OK).toBe(0);
    expect(drv.negotiate(F_VERSION_1 | (1n << 9n)) & S.FEATURES_OK).toBe(S.FEATURES_OK);
    expect(v.blk!.negotiatedFeatures).toBe(F_VERSION_1 | (1n << 9n));
    // §2.4: writing 0 to device_status resets the device.
    drv.w8(0x14, 0);
    expect(drv.r8(0x14)).toBe(0);
    expect(v.blk!.negotiatedFeatures).toBe(0n);
  });

  it("exposes num_queues, queue_size and MSI-X NO_VECTOR in the common configuration (§4.1.4.3)", () => {
    const p = platform();
    const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic });
    const drv = new Driver(p.mem, v.console!, v.console!.barAddress!);
    expect(drv.r16(0x12)).toBe(2); // receiveq, transmitq
    expect(drv.r16(0x10)).toBe(0xffff);
    drv.w16(0x16, 1);
    expect(drv.r16(0x18)).toBe(64);
    expect(drv.r16(0x1e)).toBe(1); // queue_notify_off
    drv.w16(0x16, 7);
    expect(drv.r16(0x18)).toBe(0); // §4.1.4.3: a non-existent queue reads size 0
  });

  it("reaches BAR0 through the VIRTIO_PCI_CAP_PCI_CFG window (§4.1.4.8)", () => {
    const p = platform();
    attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic, disk: new Disk(diskImage(8)) });
    p.cfgWrite(3, 0x84 + 4, 1, 0); // bar
    p.cfgWrite(3, 0x84 + 8, 4, 0x12); // offset: num_queues
    p.cfgWrite(3, 0x84 + 12, 4, 2); // length
    expect(p.cfg(3, 0x84 + 16, 2)).toBe(1);
    p.cfgWrite(3, 0x84 + 8, 4, 0x14); // device_status
    p.cfgWrite(3, 0x84 + 12, 4, 1);
    p.cfgWrite(3, 0x84 + 16, 1, S.ACKNOWLEDGE);
    expect(p.cfg(3, 0x84 + 16, 1)).toBe(S.ACKNOWLEDGE);
  });

  it("follows BAR moves and stops decoding when memory space is disabled", () => {
    const p = platform();
    const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic });
    const d = 4;
    const old = v.console!.barAddress!;
    p.cfgWrite(d, 0x10, 4, 0xfe000000);
    expect(v.console!.barAddress).toBe(0xfe000000);
    expect(p.mem.read16(0xfe000000 + 0x12)).toBe(2);
    expect(p.mem.read16(old + 0x12)).toBe(0xffff); // the old place no longer decodes
    p.cfgWrite(d, 0x04, 2, 0);
    expect(v.console!.barAddress).toBe(null);
    expect(p.mem.read16(0xfe000000 + 0x12)).toBe(0xffff);
  });
});

describe("attachVirtio: PIRQ routing, ELCR and interrupt delivery", () => {
  it("programs PIIX3 0x60-0x63, marks the IRQs level-triggered and sets Interrupt Line", () => {
    const p = platform();
    attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic, disk: new Disk(diskImage(8)) });
    expect(p.cfg(1, 0x60)).toBe(0x0b0a0b0a); // PIRQA..D -> 10, 11, 10, 11
    expect(p.pic.registers.elcr & 0x0c00).toBe(0x0c00);
    // Slot d INTA -> PIRQ[(d + 1 - 2) & 3]: 3 -> C (10), 4 -> D (11), 5 -> A (10).
    expect(p.cfg(3, 0x3c, 1)).toBe(10);
    expect(p.cfg(4, 0x3c, 1)).toBe(11);
    expect(p.cfg(5, 0x3c, 1)).toBe(10);
  });

  it("a completed request asserts IRQ 10 until the driver reads ISR (§4.1.4.5)", () => {
    const t = blkSetup();
    const r = blkRequest(t.drv, 0, 0, 512, true);
    t.drv.add(0, r.bufs);
    t.drv.kick(0);
    expect(t.irqs).toContainEqual([10, true]);
    expect(t.pic.registers.irr & (1 << 10)).toBe(1 << 10);
    expect(t.blk.pci.get16(0x06) & 0x08).toBe(0x08); // PCI status: interrupt status
    expect(t.drv.isr()).toBe(1); // queue interrupt
    expect(t.irqs.at(-1)).toEqual([10, false]);
    expect(t.drv.isr()).toBe(0); // read-to-clear
    expect(t.blk.counters.interrupts).toBe(1);
    expect(t.blk.counters.notifications).toBe(1);
  });
});

describe("virtio-blk (§5.2)", () => {
  it("reports capacity, seg_max and blk_size in its configuration (§5.2.4)", () => {
    const t = blkSetup();
    expect(t.drv.r32(0x2000)).toBe(64); // capacity in 512-byte sectors (le64)
    expect(t.drv.r32(0x2004)).toBe(0);
    expect(t.drv.r32(0x2000 + 12)).toBe(126); // seg_max = queue size - 2
    expect(t.drv.r32(0x2000 + 20)).toBe(512);
  });

  it("VIRTIO_BLK_T_IN reads sectors into the writable buffers and writes status OK", () => {
    const t = blkSetup();
    const r = blkRequest(t.drv, 0, 3, 1024, true);
    const head = t.drv.add(0, r.bufs);
    t.drv.kick(0);
    expect(t.drv.usedIdx(0)).toBe(1);
    // §2.7.8: used.len = bytes written into the device-writable part (data + status).
    expect(t.drv.usedEntry(0, 0)).toEqual({ id: head, len: 1025 });
    expect(t.mem.read8(r.status)).toBe(0);
    expect(Array.from(t.mem.u8.subarray(r.data, r.data + 1024))).toEqual(
      Array.from(t.base.subarray(1536, 2560)),
    );
    expect(t.blk.counters).toMatchObject({ requests: 1, bytesToGuest: 1024, bytes: 1024, errors: 0 });
  });

  it("VIRTIO_BLK_T_OUT writes to the copy-on-write overlay, then reads back", () => {
    const t = blkSetup();
    const r = blkRequest(t.drv, 1, 5, 512, false);
    t.mem.fill(r.data, 512, 0xa5);
    t.drv.add(0, r.bufs);
    t.drv.kick(0);
    expect(t.mem.read8(r.status)).toBe(0);
    expect(t.drv.usedEntry(0, 0).len).toBe(1);
    expect(t.disk.read(5, 1).every((b) => b === 0xa5)).toBe(true);
    expect(t.base[5 * 512]).not.toBe(0xa5); // the base image is untouched
    expect(t.blk.counters.bytesFromGuest).toBe(512);
  });

  it("header, data and status may be framed arbitrarily across descriptors (§2.6.4)", () => {
    const t = blkSetup();
    // One readable descriptor holding the header, two writable ones splitting data and status oddly.
    const hdr = t.drv.alloc(16);
    t.mem.write32(hdr, 0);
    t.mem.write32(hdr + 8, 1);
    const a = t.drv.alloc(300);
    const b = t.drv.alloc(213);
    t.drv.add(0, [
      { addr: hdr, len: 16 },
      { addr: a, len: 300, write: true },
      { addr: b, len: 213, write: true },
    ]);
    t.drv.kick(0);
    expect(t.mem.read8(b + 212)).toBe(0); // status is the last writable byte
    const got = new Uint8Array([...t.mem.u8.subarray(a, a + 300), ...t.mem.u8.subarray(b, b + 212)]);
    expect(Array.from(got)).toEqual(Array.from(t.base.subarray(512, 1024)));
  });

  it("handles indirect descriptor tables (§2.7.5.3)", () => {
    const t = blkSetup();
    const r = blkRequest(t.drv, 0, 0, 2048, true);
    t.drv.add(0, r.bufs, true);
    t.drv.kick(0);
    expect(t.mem.read8(r.status)).toBe(0);
    expect(t.drv.usedEntry(0, 0).len).toBe(2049);
    expect(Array.from(t.mem.u8.subarray(r.data, r.data + 2048))).toEqual(
      Array.from(t.base.subarray(0, 2048)),
    );
  });

  it("FLUSH and GET_ID succeed; unknown types are UNSUPP; out-of-range sectors are IOERR", () => {
    const t = blkSetup();
    const flush = blkRequest(t.drv, 4, 0, 0, false);
    const id = blkRequest(t.drv, 8, 0, 20, true);
    const bad = blkRequest(t.drv, 99, 0, 0, false);
    const oor = blkRequest(t.drv, 0, 63, 1024, true); // sectors 63-64 of a 64-sector disk
    for (const r of [flush, id, bad, oor]) t.drv.add(0, r.bufs);
    t.drv.kick(0); // one notification for four requests
    expect(t.drv.usedIdx(0)).toBe(4);
    expect(t.mem.read8(flush.status)).toBe(0);
    expect(t.mem.read8(id.status)).toBe(0);
    expect(new TextDecoder().decode(t.mem.u8.subarray(id.data, id.data + 11))).toBe("virtlab-vda");
    expect(t.mem.read8(id.data + 11)).toBe(0); // NUL-padded
    expect(t.mem.read8(bad.status)).toBe(2); // VIRTIO_BLK_S_UNSUPP
    expect(t.mem.read8(oor.status)).toBe(1); // VIRTIO_BLK_S_IOERR
    expect(t.blk.counters.notifications).toBe(1);
    expect(t.blk.counters.interrupts).toBe(1);
    expect(t.blk.counters.requests).toBe(4);
    expect(t.blk.live).toBe(true); // a failed request is not a device error
  });
});

describe("split virtqueue notification suppression", () => {
  it("VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the used buffer notification (§2.7.7)", () => {
    const t = blkSetup();
    t.mem.write16(t.drv.ring(0).avail, 1);
    t.drv.add(0, blkRequest(t.drv, 4, 0, 0, false).bufs);
    t.drv.kick(0);
    expect(t.drv.usedIdx(0)).toBe(1);
    expect(t.blk.counters.interrupts).toBe(0);
    expect(t.drv.isr()).toBe(0);
  });

  it("VIRTIO_F_EVENT_IDX: used_event gates interrupts, avail_event is published (§2.7.10)", () => {
    const t = blkSetup(F_VERSION_1 | F_EVENT_IDX);
    const r = t.drv.ring(0);
    const usedEventAddr = r.avail + 4 + 2 * r.size;
    const availEventAddr = r.used + 4 + 8 * r.size;
    t.mem.write16(usedEventAddr, 1); // interrupt only once used.idx passes 1
    t.drv.add(0, blkRequest(t.drv, 4, 0, 0, false).bufs);
    t.drv.kick(0);
    expect(t.drv.usedIdx(0)).toBe(1);
    expect(t.blk.counters.interrupts).toBe(0);
    expect(t.mem.read16(availEventAddr)).toBe(1); // next notification wanted at avail idx 1
    t.drv.add(0, blkRequest(t.drv, 4, 0, 0, false).bufs);
    t.drv.kick(0);
    expect(t.drv.usedIdx(0)).toBe(2);
    expect(t.blk.counters.interrupts).toBe(1);
    expect(t.mem.read16(availEventAddr)).toBe(2);
  });
});

describe("bad guest input sets DEVICE_NEEDS_RESET, never a host exception (§2.1.2)", () => {
  const broken = (t: ReturnType<typeof blkSetup>) => {
    expect(t.drv.r8(0x14) & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    expect(t.drv.isr() & 2).toBe(2); // configuration change notification
    expect(t.blk.live).toBe(false);
  };

  it("a descriptor chain that loops", () => {
    const t = blkSetup();
    const r = t.drv.ring(0);
    t.drv.writeDesc(r.desc, 0, 0x8000, 16, DESC_F_NEXT, 1);
    t.drv.writeDesc(r.desc, 1, 0x8000, 16, DESC_F_NEXT, 0);
    t.mem.write16(r.avail + 4, 0);
    t.mem.write16(r.avail + 2, 1);
    expect(() => t.drv.kick(0)).not.toThrow();
    broken(t);
    expect(t.blk.lastError).toMatch(/loop/);
  });

  it("a buffer outside guest RAM and a next index beyond the queue", () => {
    for (const [addr, flags, next] of [
      [0x7fff0000, 0, 0],
      [0x8000, DESC_F_NEXT, 999],
    ] as const) {
      const t = blkSetup();
      const r = t.drv.ring(0);
      t.drv.writeDesc(r.desc, 0, addr, 16, flags, next);
      t.mem.write16(r.avail + 2, 1);
      t.drv.kick(0);
      broken(t);
    }
  });

  it("an available head >= queue size, and avail.idx running ahead by more than the size", () => {
    for (const [head, idx] of [
      [500, 1],
      [0, 200],
    ] as const) {
      const t = blkSetup();
      const r = t.drv.ring(0);
      t.mem.write16(r.avail + 4, head);
      t.mem.write16(r.avail + 2, idx);
      t.drv.kick(0);
      broken(t);
    }
  });

  it("an indirect descriptor that was not negotiated, or nested", () => {
    const t = blkSetup(F_VERSION_1);
    t.drv.add(0, blkRequest(t.drv, 4, 0, 0, false).bufs, true);
    t.drv.kick(0);
    broken(t);
    expect(t.blk.lastError).toMatch(/INDIRECT_DESC/);
  });

  it("a device-readable descriptor after a device-writable one (§2.7.4.2)", () => {
    const t = blkSetup();
    t.drv.add(0, [
      { addr: 0x8000, len: 1, write: true },
      { addr: 0x8100, len: 16 },
    ]);
    t.drv.kick(0);
    broken(t);
  });

  it("a queue size that is not a power of two, and a misaligned ring", () => {
    const p = platform();
    const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic, disk: new Disk(diskImage(8)) });
    const drv = new Driver(p.mem, v.blk!, v.blk!.barAddress!);
    drv.negotiate(F_VERSION_1);
    expect(() => drv.setupQueue(0, 100)).not.toThrow();
    expect(drv.r8(0x14) & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    drv.w16(0x16, 0);
    expect(drv.r16(0x1c)).toBe(0); // queue not enabled
    // A reset clears the error (§2.4); a misaligned descriptor table errs again.
    drv.negotiate(F_VERSION_1);
    expect(drv.r8(0x14) & S.DEVICE_NEEDS_RESET).toBe(0);
    drv.w16(0x16, 0);
    drv.w32(0x20, 0x8008);
    drv.w16(0x1c, 1);
    expect(drv.r8(0x14) & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    expect(v.blk!.lastError).toMatch(/misaligned/);
  });

  it("a short blk request fails the request only", () => {
    const t = blkSetup();
    t.drv.add(0, [{ addr: 0x8000, len: 8 }]); // no room for header and status
    t.drv.kick(0);
    expect(t.drv.usedEntry(0, 0).len).toBe(0);
    expect(t.blk.live).toBe(true);
    expect(t.blk.counters.errors).toBe(1);
  });
});

describe("virtio-console (§5.3)", () => {
  function setup() {
    const p = platform();
    const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic }, { net: false });
    const con = v.console!;
    const drv = new Driver(p.mem, con, con.barAddress!);
    drv.init(F_VERSION_1 | (1n << 2n), [0, 1]);
    const tx: string[] = [];
    con.onTransmit = (b) => tx.push(new TextDecoder().decode(b));
    return { ...p, con, drv, tx };
  }

  it("transmitq buffers reach onTransmit", () => {
    const t = setup();
    const a = t.drv.alloc(16);
    t.mem.load(a, new TextEncoder().encode("hello"));
    t.drv.add(1, [{ addr: a, len: 5 }]);
    t.drv.kick(1);
    expect(t.tx).toEqual(["hello"]);
    expect(t.drv.usedEntry(1, 0).len).toBe(0);
    expect(t.con.counters).toMatchObject({ notifications: 1, requests: 1, bytesFromGuest: 5 });
  });

  it("receive() waits for receiveq buffers, then fills them (and at once when buffers exist)", () => {
    const t = setup();
    t.con.receive("abc");
    expect(t.con.pendingInput()).toBe(3);
    const b1 = t.drv.alloc(2);
    const b2 = t.drv.alloc(64);
    t.drv.add(0, [{ addr: b1, len: 2, write: true }]);
    t.drv.add(0, [{ addr: b2, len: 64, write: true }]);
    t.drv.kick(0);
    expect(t.drv.usedIdx(0)).toBe(2);
    expect(t.drv.usedEntry(0, 0).len).toBe(2);
    expect(t.drv.usedEntry(0, 1).len).toBe(1);
    expect(String.fromCharCode(t.mem.read8(b1), t.mem.read8(b1 + 1), t.mem.read8(b2))).toBe("abc");
    const b3 = t.drv.alloc(64);
    t.drv.add(0, [{ addr: b3, len: 64, write: true }]);
    t.drv.kick(0);
    t.drv.isr();
    t.con.receive("xy");
    expect(t.drv.usedIdx(0)).toBe(3);
    expect(t.drv.usedEntry(0, 2).len).toBe(2);
    expect(t.drv.isr()).toBe(1);
  });

  it("emerg_wr transmits one byte when VIRTIO_CONSOLE_F_EMERG_WRITE is negotiated (§5.3.4)", () => {
    const t = setup();
    expect(t.drv.r32(0x2004)).toBe(1); // max_nr_ports
    t.drv.w32(0x2008, 0x21);
    expect(t.tx).toEqual(["!"]);
  });
});

describe("virtio-net (§5.1)", () => {
  it("has its MAC and link status in the configuration and loops a frame back", () => {
    const p = platform();
    const v = attachVirtio(
      { pci: p.pci, mem: p.mem, pic: p.pic },
      { console: false, mac: "02:00:00:00:00:01" },
    );
    const net = v.net!;
    const drv = new Driver(p.mem, net, net.barAddress!);
    expect([0, 1, 2, 3, 4, 5].map((i) => drv.r8(0x2000 + i))).toEqual([2, 0, 0, 0, 0, 1]);
    expect(drv.r16(0x2006)).toBe(1); // VIRTIO_NET_S_LINK_UP
    drv.init(F_VERSION_1 | (1n << 5n) | (1n << 16n), [0, 1]);
    net.onTransmit = (f) => net.receive(f); // loopback
    const rx = drv.alloc(1526);
    drv.add(0, [{ addr: rx, len: 1526, write: true }]);
    drv.kick(0);
    const frame = new Uint8Array(60).map((_, i) => i);
    const hdr = drv.alloc(12);
    const data = drv.alloc(60);
    p.mem.load(data, frame);
    drv.add(1, [
      { addr: hdr, len: 12 },
      { addr: data, len: 60 },
    ]);
    drv.kick(1);
    expect(drv.usedIdx(1)).toBe(1);
    expect(drv.usedIdx(0)).toBe(1);
    // §5.1.6.4: the device writes struct virtio_net_hdr (12 bytes, num_buffers = 1) then the frame.
    expect(drv.usedEntry(0, 0).len).toBe(72);
    expect(p.mem.read16(rx + 10)).toBe(1);
    expect(Array.from(p.mem.u8.subarray(rx + 12, rx + 72))).toEqual(Array.from(frame));
    expect(net.frames).toMatchObject({ tx: 1, rx: 1 });
    expect(net.counters.bytes).toBe(120);
  });
});

describe("snapshots", () => {
  it("save and restore the transport and queue state", () => {
    const t = blkSetup();
    t.drv.add(0, blkRequest(t.drv, 4, 0, 0, false).bufs);
    t.drv.kick(0);
    const s = JSON.parse(JSON.stringify(t.blk.saveState())) as ReturnType<VirtioBlk["saveState"]>;
    const u = blkSetup(F_VERSION_1);
    u.blk.loadState(s);
    expect(u.blk.saveState()).toEqual(s);
    expect(u.blk.negotiatedFeatures).toBe(F_VERSION_1 | F_INDIRECT);
    expect(u.blk.pci.get16(0x06) & 0x08).toBe(0x08); // INTx re-asserted from ISR
  });

  it("console keeps undelivered input; net keeps pending frames", () => {
    const p = platform();
    const v = attachVirtio({ pci: p.pci, mem: p.mem, pic: p.pic });
    v.console!.receive("later");
    v.net!.receive(new Uint8Array(14));
    const q = platform();
    const w = attachVirtio({ pci: q.pci, mem: q.mem, pic: q.pic });
    w.console!.loadState(v.console!.saveState());
    w.net!.loadState(v.net!.saveState());
    expect(w.console!.pendingInput()).toBe(5);
    expect(w.net!.pendingFrames()).toBe(1);
    expect(w.console).toBeInstanceOf(VirtioConsole);
    expect(w.net).toBeInstanceOf(VirtioNet);
  });
});
