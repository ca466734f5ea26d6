import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { PciBus, PciFunction, installI440fxPiix3 } from "../../src/engine/devices/pci.ts";

function setup() {
  const bus = new IoBus();
  const irqs: [number, boolean][] = [];
  let resets = 0;
  const pci = new PciBus(bus, { setIrq: (i, l) => irqs.push([i, l]), onReset: () => resets++ });
  const fns = installI440fxPiix3(pci);
  const addr = (dev: number, fn: number, reg: number) =>
    (0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
  /** Mechanism #1 read, as Linux's pci_conf1_read. */
  const cfgRead = (dev: number, fn: number, reg: number, size: 1 | 2 | 4 = 4) => {
    bus.write(0xcf8, 4, addr(dev, fn, reg));
    return bus.read(0xcfc + (reg & 3), size) >>> 0;
  };
  const cfgWrite = (dev: number, fn: number, reg: number, size: 1 | 2 | 4, v: number) => {
    bus.write(0xcf8, 4, addr(dev, fn, reg));
    bus.write(0xcfc + (reg & 3), size, v);
  };
  return { bus, pci, ...fns, cfgRead, cfgWrite, irqs, resets: () => resets };
}

describe("PCI configuration mechanism #1 and i440FX/PIIX3 functions", () => {
  it("enumerates 00.0, 01.0 and 01.1 with Intel vendor/device IDs and classes", () => {
    const t = setup();
    expect(t.cfgRead(0, 0, 0x00)).toBe(0x12378086);
    expect(t.cfgRead(0, 0, 0x08) >>> 8).toBe(0x060000); // host bridge
    expect(t.cfgRead(0, 0, 0x08) & 0xff).toBe(0x02);
    expect(t.cfgRead(1, 0, 0x00)).toBe(0x70008086);
    expect(t.cfgRead(1, 0, 0x08) >>> 8).toBe(0x060100); // ISA bridge
    expect(t.cfgRead(1, 0, 0x0e, 1) & 0x80).toBe(0x80); // multi-function
    expect(t.cfgRead(0, 0, 0x0e, 1)).toBe(0x00);
    expect(t.cfgRead(1, 1, 0x00)).toBe(0x70108086);
    expect(t.cfgRead(1, 1, 0x08) >>> 8).toBe(0x010180); // IDE, compatibility mode, bus master
    expect(t.cfgRead(1, 1, 0x0b, 1)).toBe(0x01);
    expect(t.cfgRead(1, 1, 0x0a, 1)).toBe(0x01);
    expect(t.cfgRead(1, 1, 0x09, 1)).toBe(0x80);
  });

  it("returns all ones for absent functions, other buses and a disabled address", () => {
    const t = setup();
    expect(t.cfgRead(2, 0, 0x00)).toBe(0xffffffff);
    expect(t.cfgRead(1, 2, 0x00)).toBe(0xffffffff);
    t.bus.write(0xcf8, 4, 0x80010000); // bus 1
    expect(t.bus.read(0xcfc, 4) >>> 0).toBe(0xffffffff);
    t.bus.write(0xcf8, 4, 0x00000000); // enable bit clear
    expect(t.bus.read(0xcfc, 2)).toBe(0xffff);
  });

  it("supports byte and word accesses at CONFIG_DATA offsets", () => {
    const t = setup();
    expect(t.cfgRead(1, 1, 0x02, 2)).toBe(0x7010);
    expect(t.cfgRead(1, 1, 0x01, 1)).toBe(0x80);
    expect(t.cfgRead(1, 1, 0x03, 1)).toBe(0x70);
    // CONFIG_ADDRESS reads back (reserved bits and low bits zero).
    t.bus.write(0xcf8, 4, 0x8000fbff);
    expect(t.bus.read(0xcf8, 4) >>> 0).toBe(0x8000fbfc);
  });

  it("keeps read-only fields and clears write-1-to-clear status bits", () => {
    const t = setup();
    t.cfgWrite(0, 0, 0x00, 4, 0);
    expect(t.cfgRead(0, 0, 0x00)).toBe(0x12378086);
    t.host.config[0x07] |= 0x20; // received master abort (bit 13)
    t.cfgWrite(0, 0, 0x06, 2, 0x2000);
    expect(t.cfgRead(0, 0, 0x06, 2) & 0x2000).toBe(0);
    expect(t.cfgRead(0, 0, 0x06, 2)).toBe(0x0280);
  });

  it("has no IDE BAR0-4 (BAR4 zero so Linux ata_piix uses PIO) and enables only the primary", () => {
    const t = setup();
    for (let bar = 0; bar < 6; bar++) {
      t.cfgWrite(1, 1, 0x10 + 4 * bar, 4, 0xffffffff);
      expect(t.cfgRead(1, 1, 0x10 + 4 * bar)).toBe(0);
    }
    expect(t.cfgRead(1, 1, 0x41, 1) & 0x80).toBe(0x80); // IDETIM primary decode enable
    expect(t.cfgRead(1, 1, 0x43, 1) & 0x80).toBe(0x00);
  });

  it("sizes and moves BARs of a general function, notifying the owner", () => {
    const t = setup();
    const f = new PciFunction({ vendorId: 0x1af4, deviceId: 0x1000, classCode: 0x020000, interruptPin: 1 });
    f.defineBar(0, 32, "io");
    f.defineBar(1, 4096, "mem");
    const moves: [number, number | null][] = [];
    f.onBarMoved = (bar, a) => moves.push([bar, a]);
    t.pci.addFunction(3, 0, f);
    expect(t.cfgRead(3, 0, 0x10)).toBe(0x00000001);
    t.cfgWrite(3, 0, 0x10, 4, 0xffffffff);
    expect(t.cfgRead(3, 0, 0x10)).toBe(0xffffffe1); // I/O, 32 bytes
    t.cfgWrite(3, 0, 0x14, 4, 0xffffffff);
    expect(t.cfgRead(3, 0, 0x14)).toBe(0xfffff000); // memory, 4 KiB, non-prefetchable
    expect(moves).toEqual([]); // decoding disabled
    t.cfgWrite(3, 0, 0x10, 4, 0xc001);
    t.cfgWrite(3, 0, 0x14, 4, 0xfebf1234);
    expect(t.cfgRead(3, 0, 0x14)).toBe(0xfebf1000);
    t.cfgWrite(3, 0, 0x04, 2, 0x0003);
    expect(moves).toEqual([
      [0, 0xc000],
      [1, 0xfebf1000],
    ]);
    expect(f.barAddress(0)).toBe(0xc000);
    t.cfgWrite(3, 0, 0x04, 2, 0x0002); // I/O decode off
    expect(moves.at(-1)).toEqual([0, null]);
    expect(() => f.defineBar(2, 24, "mem")).toThrow(/power of two/);
  });

  it("routes INTx through PIIX3 PIRQ registers to ISA IRQs (level, shared)", () => {
    const t = setup();
    expect(t.cfgRead(1, 0, 0x60)).toBe(0x80808080); // all routing disabled
    const a = new PciFunction({ vendorId: 0x1af4, deviceId: 0x1000, classCode: 0x020000, interruptPin: 1 });
    const b = new PciFunction({ vendorId: 0x1af4, deviceId: 0x1001, classCode: 0x010000, interruptPin: 2 });
    t.pci.addFunction(3, 0, a); // INTA of device 3 -> PIRQC
    t.pci.addFunction(2, 0, b); // INTB of device 2 -> PIRQC
    a.setIntx(true);
    expect(t.irqs).toEqual([]); // not routed yet
    t.cfgWrite(1, 0, 0x62, 1, 0x0b); // PIRQC -> IRQ11
    expect(t.isa.pirqRoute(2)).toBe(11);
    expect(t.irqs).toEqual([[11, true]]);
    expect(t.cfgRead(3, 0, 0x06, 2) & 0x08).toBe(0x08); // interrupt status
    b.setIntx(true);
    a.setIntx(false);
    expect(t.irqs).toEqual([[11, true]]); // still asserted by b
    b.setIntx(false);
    expect(t.irqs).toEqual([
      [11, true],
      [11, false],
    ]);
    // INTx disable in the command register masks the pin.
    t.cfgWrite(3, 0, 0x04, 2, 0x0400);
    a.setIntx(true);
    expect(t.irqs.length).toBe(2);
    t.cfgWrite(3, 0, 0x04, 2, 0x0000);
    expect(t.irqs.at(-1)).toEqual([11, true]);
    // Moving the route lowers the old IRQ and raises the new one.
    t.cfgWrite(1, 0, 0x62, 1, 0x0a);
    expect(t.irqs.slice(-2)).toEqual([
      [10, true],
      [11, false],
    ]);
    t.cfgWrite(1, 0, 0x62, 1, 0x08); // IRQ8 is not a valid steering target
    expect(t.isa.pirqRoute(2)).toBe(null);
  });

  it("resets through the 0xCF9 reset control register", () => {
    const t = setup();
    t.bus.write(0xcf9, 1, 0x02);
    expect(t.resets()).toBe(0);
    t.bus.write(0xcf9, 1, 0x06);
    expect(t.resets()).toBe(1);
    expect(t.bus.read(0xcf9, 1)).toBe(0x02);
  });

  it("exposes the host bridge PAM registers and restores from a snapshot", () => {
    const t = setup();
    t.cfgWrite(0, 0, 0x59, 1, 0x30);
    expect(t.host.pam(0)).toBe(0x30);
    const u = setup();
    u.pci.loadState(JSON.parse(JSON.stringify(t.pci.saveState())));
    expect(u.cfgRead(0, 0, 0x58)).toBe(t.cfgRead(0, 0, 0x58));
  });
});
