import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { Disk } from "../../src/engine/devices/disk.ts";
import { IdeChannel } from "../../src/engine/devices/ide.ts";

const SECTORS = 16 * 63 * 20; // 20 cylinders of the default 16/63 geometry

function setup(sectors = SECTORS) {
  const bus = new IoBus();
  const base = new Uint8Array(sectors * 512);
  for (let s = 0; s < sectors; s++) base.fill(s & 0xff, s * 512, s * 512 + 512);
  for (let s = 0; s < sectors; s++) base[s * 512 + 1] = s >> 8;
  const pristine = base.slice();
  const disk = new Disk(base);
  let level = false;
  let rises = 0;
  const ide = new IdeChannel(bus, {
    irq: (l) => {
      if (l && !level) rises++;
      level = l;
    },
    disk,
  });
  const inb = (p: number) => bus.read(p, 1);
  const outb = (p: number, v: number) => bus.write(p, 1, v);
  const inw = (p: number) => bus.read(p, 2);
  const outw = (p: number, v: number) => bus.write(p, 2, v);
  const lba28 = (lba: number, count: number, cmd: number) => {
    outb(0x1f6, 0xe0 | ((lba >> 24) & 0x0f));
    outb(0x1f2, count);
    outb(0x1f3, lba & 0xff);
    outb(0x1f4, (lba >> 8) & 0xff);
    outb(0x1f5, (lba >> 16) & 0xff);
    outb(0x1f7, cmd);
  };
  const readBlock = (bytes: number) => {
    const out = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 2) {
      const w = inw(0x1f0);
      out[i] = w & 0xff;
      out[i + 1] = w >> 8;
    }
    return out;
  };
  return {
    bus,
    ide,
    disk,
    base,
    pristine,
    inb,
    outb,
    inw,
    outw,
    lba28,
    readBlock,
    level: () => level,
    rises: () => rises,
  };
}

function differingBytes(a: Uint8Array, b: Uint8Array): number {
  let n = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
  return n;
}

function identify(t: ReturnType<typeof setup>): Uint16Array {
  t.outb(0x1f6, 0xa0);
  t.outb(0x1f7, 0xec);
  expect(t.inb(0x3f6) & 0x89).toBe(0x08); // DRQ, not BSY, no ERR
  const bytes = t.readBlock(512);
  return new Uint16Array(bytes.buffer);
}

function ataString(w: Uint16Array, first: number, words: number): string {
  let s = "";
  for (let i = 0; i < words; i++) s += String.fromCharCode(w[first + i]! >> 8, w[first + i]! & 0xff);
  return s.trimEnd();
}

describe("ATA/IDE channel", () => {
  it("answers IDENTIFY DEVICE with ATA-6 words", () => {
    const t = setup();
    const w = identify(t);
    expect(t.level()).toBe(true);
    expect(t.inb(0x1f7) & 0xc9).toBe(0x40); // DRDY, DRQ gone after 256 words
    expect(t.level()).toBe(false); // status read cleared INTRQ
    expect(w[0]! & 0x8000).toBe(0); // ATA device
    expect(ataString(w, 27, 20)).toBe("VirtLab disk");
    expect(ataString(w, 10, 10).length).toBeGreaterThan(0);
    expect(ataString(w, 23, 4).length).toBeGreaterThan(0);
    expect(w[1]).toBe(20);
    expect(w[3]).toBe(16);
    expect(w[6]).toBe(63);
    expect(w[47]! & 0xff).toBe(16);
    expect(w[47]! & 0xff00).toBe(0x8000);
    expect(w[49]! & 0x0200).toBe(0x0200); // LBA supported
    expect(w[49]! & 0x0100).toBe(0); // no DMA
    expect(w[53]! & 0x0003).toBe(0x0003);
    expect(w[59]).toBe(0); // multiple mode not yet set
    expect(w[60]! | (w[61]! << 16)).toBe(SECTORS);
    expect(w[63]).toBe(0);
    expect(w[64]! & 0x03).toBe(0x03); // PIO 3 and 4
    expect(w[80]! & 0x0040).toBe(0x0040); // ATA/ATAPI-6
    expect(w[83]! & 0xc000).toBe(0x4000);
    expect(w[83]! & 0x0400).toBe(0); // no 48-bit
    expect(w[83]! & 0x1000).toBe(0x1000); // FLUSH CACHE
    expect(w[88]).toBe(0);
    expect(w[255]! & 0xff).toBe(0xa5);
    const bytes = new Uint8Array(w.buffer);
    expect(bytes.reduce((a, b) => a + b, 0) & 0xff).toBe(0); // integrity checksum
  });

  it("reads sectors in LBA28 mode with one interrupt per sector", () => {
    const t = setup();
    t.lba28(300, 3, 0x20);
    for (let s = 0; s < 3; s++) {
      expect(t.level()).toBe(true);
      expect(t.inb(0x1f7) & 0x08).toBe(0x08); // reading status acknowledges INTRQ
      expect(t.level()).toBe(false);
      const data = t.readBlock(512);
      expect(data).toEqual(t.base.subarray((300 + s) * 512, (301 + s) * 512));
    }
    expect(t.rises()).toBe(3);
    expect(t.inb(0x1f7)).toBe(0x50);
  });

  it("writes sectors into the overlay, interrupting after each block, base untouched", () => {
    const t = setup();
    t.lba28(1000, 2, 0x30);
    expect(t.level()).toBe(false); // no interrupt before the first data-out block
    expect(t.inb(0x1f7) & 0x08).toBe(0x08);
    for (let i = 0; i < 256; i++) t.outw(0x1f0, 0xbeef);
    expect(t.level()).toBe(true);
    expect(t.inb(0x1f7) & 0x08).toBe(0x08);
    for (let i = 0; i < 128; i++) t.bus.write(0x1f0, 4, 0x12345678); // 32-bit PIO
    expect(t.level()).toBe(true);
    expect(t.inb(0x1f7)).toBe(0x50);
    expect(t.rises()).toBe(2);
    expect(differingBytes(t.base, t.pristine)).toBe(0); // the base image is never written
    expect(t.disk.overlayBytes()).toBeGreaterThan(0);
    t.lba28(1000, 2, 0x20);
    t.inb(0x1f7);
    const a = t.readBlock(512);
    expect(a[0]).toBe(0xef);
    expect(a[1]).toBe(0xbe);
    t.inb(0x1f7);
    const lo = t.bus.read(0x1f0, 4) >>> 0;
    expect(lo).toBe(0x12345678);
  });

  it("supports READ/WRITE MULTIPLE after SET MULTIPLE MODE", () => {
    const t = setup();
    t.lba28(0, 4, 0xc4);
    expect(t.inb(0x1f7) & 0x01).toBe(0x01); // aborted: multiple mode off
    expect(t.inb(0x1f1)).toBe(0x04);
    t.outb(0x1f2, 3);
    t.outb(0x1f7, 0xc6);
    expect(t.inb(0x1f7) & 0x01).toBe(0x01); // 3 is not a power of two
    t.outb(0x1f2, 4);
    t.outb(0x1f7, 0xc6);
    expect(t.inb(0x1f7)).toBe(0x50);
    const before = t.rises();
    t.lba28(50, 6, 0xc4); // blocks of 4 + 2 sectors
    t.inb(0x1f7);
    expect(t.readBlock(4 * 512)).toEqual(t.base.subarray(50 * 512, 54 * 512));
    t.inb(0x1f7);
    expect(t.readBlock(2 * 512)).toEqual(t.base.subarray(54 * 512, 56 * 512));
    expect(t.rises() - before).toBe(2);
    const w = identify(t);
    expect(w[59]).toBe(0x0104);
    t.lba28(60, 5, 0xc5);
    for (let i = 0; i < 5 * 256; i++) t.outw(0x1f0, i);
    expect(t.inb(0x1f7)).toBe(0x50);
    expect(t.disk.read(64, 1)[0]).toBe((4 * 256) & 0xff);
  });

  it("addresses by CHS, honouring INITIALIZE DEVICE PARAMETERS", () => {
    const t = setup();
    // C=1 H=2 S=3 with 16 heads, 63 sectors/track: LBA (1*16+2)*63+2 = 1136
    t.outb(0x1f6, 0xa0 | 2);
    t.outb(0x1f2, 1);
    t.outb(0x1f3, 3);
    t.outb(0x1f4, 1);
    t.outb(0x1f5, 0);
    t.outb(0x1f7, 0x20);
    t.inb(0x1f7);
    expect(t.readBlock(512)).toEqual(t.base.subarray(1136 * 512, 1137 * 512));
    // Translate to 4 heads, 17 sectors: C=2 H=3 S=5 -> (2*4+3)*17+4 = 191
    t.outb(0x1f6, 0xa0 | 3);
    t.outb(0x1f2, 17);
    t.outb(0x1f7, 0x91);
    expect(t.inb(0x1f7)).toBe(0x50);
    t.outb(0x1f6, 0xa0 | 3);
    t.outb(0x1f2, 1);
    t.outb(0x1f3, 5);
    t.outb(0x1f4, 2);
    t.outb(0x1f5, 0);
    t.outb(0x1f7, 0x20);
    t.inb(0x1f7);
    expect(t.readBlock(512)).toEqual(t.base.subarray(191 * 512, 192 * 512));
    const w = identify(t);
    expect([w[54], w[55], w[56]]).toEqual([Math.floor(SECTORS / 68), 4, 17]);
    // Sector 0 does not exist in CHS.
    t.outb(0x1f6, 0xa0);
    t.outb(0x1f3, 0);
    t.outb(0x1f7, 0x20);
    expect(t.inb(0x1f7) & 0x01).toBe(1);
    expect(t.inb(0x1f1)).toBe(0x10);
  });

  it("reports IDNF beyond the disk and ABRT for unsupported commands", () => {
    const t = setup();
    t.lba28(SECTORS - 1, 2, 0x20);
    expect(t.inb(0x1f7)).toBe(0x51);
    expect(t.inb(0x1f1)).toBe(0x10);
    t.lba28(SECTORS - 1, 1, 0x40); // READ VERIFY of the last sector
    expect(t.inb(0x1f7)).toBe(0x50);
    t.outb(0x1f7, 0xa1); // IDENTIFY PACKET DEVICE: not an ATAPI device
    expect(t.inb(0x1f7)).toBe(0x51);
    expect(t.inb(0x1f1)).toBe(0x04);
    t.outb(0x1f7, 0x00); // NOP always aborts
    expect(t.inb(0x1f1)).toBe(0x04);
  });

  it("handles SET FEATURES, FLUSH CACHE and power commands", () => {
    const t = setup();
    t.outb(0x1f1, 0x03);
    t.outb(0x1f2, 0x0c); // PIO mode 4
    t.outb(0x1f7, 0xef);
    expect(t.inb(0x1f7)).toBe(0x50);
    t.outb(0x1f1, 0x03);
    t.outb(0x1f2, 0x45); // UDMA 5: not supported
    t.outb(0x1f7, 0xef);
    expect(t.inb(0x1f7)).toBe(0x51);
    t.outb(0x1f7, 0xe7);
    expect(t.inb(0x1f7)).toBe(0x50);
    t.outb(0x1f7, 0xe5);
    expect(t.inb(0x1f2)).toBe(0xff);
    t.outb(0x1f7, 0xe0);
    expect(t.inb(0x1f7)).toBe(0x50);
  });

  it("lets Linux find no slave: shared registers, status 00h, commands ignored", () => {
    const t = setup();
    t.outb(0x1f6, 0xb0); // select device 1
    // ata_devchk pattern: the registers are shared, so they read back.
    t.outb(0x1f2, 0x55);
    t.outb(0x1f3, 0xaa);
    expect(t.inb(0x1f2)).toBe(0x55);
    expect(t.inb(0x1f7)).toBe(0x00);
    expect(t.inb(0x3f6)).toBe(0x00);
    t.outb(0x1f7, 0xec);
    expect(t.inb(0x1f7)).toBe(0x00);
    expect(t.level()).toBe(false);
    t.outb(0x1f6, 0xa0);
    expect(t.inb(0x1f7) & 0x08).toBe(0); // the master did not start a transfer
  });

  it("performs a software reset with the ATA signature", () => {
    const t = setup();
    t.outb(0x1f2, 0x33);
    t.outb(0x3f6, 0x06); // SRST + nIEN
    expect(t.inb(0x3f6) & 0x80).toBe(0x80);
    t.outb(0x3f6, 0x02);
    expect(t.inb(0x3f6)).toBe(0x50);
    expect([t.inb(0x1f2), t.inb(0x1f3), t.inb(0x1f4), t.inb(0x1f5)]).toEqual([1, 1, 0, 0]);
    expect(t.inb(0x1f1)).toBe(0x01); // diagnostics passed
    expect(t.inb(0x1f6) & 0x10).toBe(0);
  });

  it("executes EXECUTE DEVICE DIAGNOSTIC with an interrupt", () => {
    const t = setup();
    t.outb(0x1f6, 0xb0);
    t.outb(0x1f7, 0x90);
    expect(t.level()).toBe(true);
    expect(t.inb(0x1f1)).toBe(0x01);
    expect(t.inb(0x1f6) & 0x10).toBe(0);
  });

  it("masks INTRQ with nIEN; alternate status does not acknowledge", () => {
    const t = setup();
    t.outb(0x3f6, 0x02);
    t.lba28(0, 1, 0x20);
    expect(t.level()).toBe(false);
    t.outb(0x3f6, 0x00);
    expect(t.level()).toBe(true);
    t.inb(0x3f6);
    expect(t.level()).toBe(true);
    t.inb(0x1f7);
    expect(t.level()).toBe(false);
  });

  it("reads 0xFF on an empty channel", () => {
    const bus = new IoBus();
    new IdeChannel(bus, { irq: () => {}, base: 0x170, control: 0x376, name: "ide1" });
    expect(bus.read(0x177, 1)).toBe(0xff);
    expect(bus.read(0x376, 1)).toBe(0xff);
  });

  it("restores a transfer in progress from a snapshot", () => {
    const a = setup();
    a.lba28(10, 2, 0x20);
    a.inb(0x1f7);
    a.readBlock(100);
    const b = setup();
    b.ide.loadState(JSON.parse(JSON.stringify(a.ide.saveState())));
    expect(b.readBlock(412)).toEqual(a.readBlock(412));
    expect(b.inb(0x1f7)).toBe(a.inb(0x1f7));
    expect(b.readBlock(512)).toEqual(a.base.subarray(11 * 512, 12 * 512));
  });
});
