// Guest physical memory: RAM bounds, ROM, MMIO dispatch and counting, the A20 gate (an 8086
// compatibility feature: with A20 masked, physical address bit 20 is forced to 0), and code-page
// tracking with onCodeWrite — directly and through the CPU's TLB paths.
import { describe, it, expect } from "vitest";
import { PageKind, PhysicalMemory, type MmioHandler } from "../../src/engine/memory/memory.ts";
import { Cpu } from "../../src/engine/cpu/cpu.ts";
import { IoBus } from "../../src/engine/io.ts";
import { CR0_PE } from "../../src/engine/mmu/mmu.ts";
import { SEG_DS } from "../../src/engine/cpu/decoder.ts";

function recorder(readValue = 0x12345678): MmioHandler & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    read(addr, size) {
      log.push(`r ${addr.toString(16)} ${size}`);
      return size === 1 ? readValue & 0xff : size === 2 ? readValue & 0xffff : readValue;
    },
    write(addr, size, value) {
      log.push(`w ${addr.toString(16)} ${size} ${(value >>> 0).toString(16)}`);
    },
  };
}

describe("RAM", () => {
  it.each([0, 1 << 19, (1 << 20) + 4096, 0xc001_0000])("rejects a size of %s bytes", (n) => {
    expect(() => new PhysicalMemory(n)).toThrow();
  });
  it("reads back little-endian writes of every width, including across a page boundary", () => {
    const m = new PhysicalMemory(1 << 20);
    m.write32(0x1ffe, 0x11223344);
    expect(m.read8(0x1ffe)).toBe(0x44);
    expect(m.read16(0x1fff)).toBe(0x2233);
    expect(m.read32(0x1ffe) >>> 0).toBe(0x11223344);
    m.write16(0x2fff, 0xabcd);
    expect([m.u8[0x2fff], m.u8[0x3000]]).toEqual([0xcd, 0xab]);
  });
  it("addresses with no backing read as all ones and ignore writes", () => {
    const m = new PhysicalMemory(1 << 20);
    expect(m.pageKind(0x200000)).toBe(PageKind.NONE);
    expect(m.read8(0x200000)).toBe(0xff);
    expect(m.read16(0x200000)).toBe(0xffff);
    expect(m.read32(0x200000)).toBe(-1);
    expect(() => m.write32(0x200000, 5)).not.toThrow();
  });
});

describe("ROM", () => {
  it("loadRom copies the image and makes its pages read-only", () => {
    const m = new PhysicalMemory(1 << 20);
    m.loadRom(0xf0000, new Uint8Array([1, 2, 3, 4]));
    expect(m.pageKind(0xf0000)).toBe(PageKind.ROM);
    m.write8(0xf0000, 9);
    m.write16(0xf0001, 0x9999);
    m.write32(0xf0000, 0);
    expect([...m.u8.slice(0xf0000, 0xf0004)]).toEqual([1, 2, 3, 4]);
    expect(m.read32(0xf0000)).toBe(0x04030201);
  });
  it("a ROM outside RAM is refused", () => {
    const m = new PhysicalMemory(1 << 20);
    expect(() => m.loadRom(0xfffff, new Uint8Array(2))).toThrow();
  });
  it("CPU writes to ROM are ignored even after a read filled the TLB", () => {
    const m = new PhysicalMemory(1 << 20);
    const cpu = new Cpu(m, new IoBus());
    m.loadRom(0xf0000, new Uint8Array([0x5a, 0x5a, 0x5a, 0x5a]));
    expect(cpu.ld8(0xf0000)).toBe(0x5a);
    cpu.st8(0xf0000, 0);
    cpu.st32(0xf0000, 0);
    cpu.st16(0xf0fff, 0xabcd); // last ROM byte, then the first byte of the RAM page after it
    expect(m.u8[0xf0000]).toBe(0x5a);
    expect(m.u8[0xf0fff]).toBe(0);
    expect(m.u8[0xf1000]).toBe(0xab);
  });
});

describe("MMIO", () => {
  it("handlers get the address, size and value; accesses are counted per device", () => {
    const m = new PhysicalMemory(1 << 20);
    const h = recorder(0xa1b2c3d4);
    m.mapMmio("dev", 0x80000, 0x2000, h);
    expect(m.pageKind(0x81fff)).toBe(PageKind.MMIO);
    expect(m.read8(0x80001)).toBe(0xd4);
    expect(m.read16(0x80002)).toBe(0xc3d4);
    expect(m.read32(0x81004) >>> 0).toBe(0xa1b2c3d4);
    m.write8(0x80010, 0x1ff);
    m.write16(0x80012, 0x12345);
    m.write32(0x80014, 0xdeadbeef);
    expect(h.log).toEqual([
      "r 80001 1",
      "r 80002 2",
      "r 81004 4",
      "w 80010 1 ff",
      "w 80012 2 2345",
      "w 80014 4 deadbeef",
    ]);
    expect(m.mmioCounts.dev).toBe(6);
  });
  it("onMmioAccess reports device, address and direction", () => {
    const m = new PhysicalMemory(1 << 20);
    m.mapMmio("x", 0x90000, 0x1000, recorder());
    const seen: string[] = [];
    m.onMmioAccess = (d, a, w) => seen.push(`${d} ${a.toString(16)} ${w}`);
    m.read8(0x90000);
    m.write8(0x90004, 1);
    expect(seen).toEqual(["x 90000 false", "x 90004 true"]);
  });
  it("regions must be 4 KiB aligned", () => {
    const m = new PhysicalMemory(1 << 20);
    expect(() => m.mapMmio("bad", 0x80800, 0x1000, recorder())).toThrow();
    expect(() => m.mapMmio("bad", 0x80000, 0x800, recorder())).toThrow();
  });
  it("CPU loads and stores reach the handler with the access size (after a RAM translation was cached)", () => {
    const m = new PhysicalMemory(1 << 20);
    const cpu = new Cpu(m, new IoBus());
    expect(cpu.ld32(0xa0000)).toBe(0); // RAM, cached in the TLB
    const h = recorder(0x01020304);
    m.mapMmio("fb", 0xa0000, 0x1000, h);
    expect(cpu.ld32(0xa0000)).toBe(0x01020304);
    cpu.st16(0xa0010, 0xbeef);
    cpu.st8(0xa0020, 0x7f);
    expect(h.log).toEqual(["r a0000 4", "w a0010 2 beef", "w a0020 1 7f"]);
    expect(m.mmioCounts.fb).toBe(3);
  });
  it("a CPU access crossing from RAM into MMIO splits at the page boundary", () => {
    const m = new PhysicalMemory(1 << 20);
    const cpu = new Cpu(m, new IoBus());
    const h = recorder(0xffffffff);
    m.mapMmio("dev", 0xb0000, 0x1000, h);
    cpu.st32(0xafffe, 0x11223344);
    expect([m.u8[0xafffe], m.u8[0xaffff]]).toEqual([0x44, 0x33]);
    expect(h.log.length).toBeGreaterThan(0);
    expect(h.log.every((l) => l.startsWith("w b000"))).toBe(true);
  });
});

describe("A20 gate", () => {
  it("a20Mask clears only bit 20 when disabled", () => {
    const m = new PhysicalMemory(4 << 20);
    expect(m.a20Mask(0x1fffff)).toBe(0x1fffff);
    m.setA20(false);
    expect(m.a20Mask(0x100000)).toBe(0);
    expect(m.a20Mask(0x1fffff)).toBe(0x0fffff);
    expect(m.a20Mask(0x300010)).toBe(0x200010);
  });
  it("through the CPU, linear 0x100000 aliases 0 when A20 is disabled (and a cached translation is dropped)", () => {
    const m = new PhysicalMemory(4 << 20);
    const cpu = new Cpu(m, new IoBus());
    m.u8[0] = 0x11;
    m.u8[0x100000] = 0x22;
    expect(cpu.ld8(0x100000)).toBe(0x22);
    m.setA20(false);
    expect(cpu.ld8(0x100000)).toBe(0x11);
    cpu.st8(0x100001, 0x33);
    expect(m.u8[1]).toBe(0x33);
    expect(m.u8[0x100001]).toBe(0);
    m.setA20(true);
    expect(cpu.ld8(0x100000)).toBe(0x22);
  });
  it("real mode FFFF:0010 wraps to 0 with A20 disabled", () => {
    const m = new PhysicalMemory(4 << 20);
    const cpu = new Cpu(m, new IoBus());
    cpu.loadRealSeg(SEG_DS, 0xffff);
    m.u8[0] = 0x44;
    m.u8[0x100000] = 0x55;
    m.setA20(false);
    expect(cpu.ld8(cpu.segLin(SEG_DS, 0x10, 1, false))).toBe(0x44);
    m.setA20(true);
    expect(cpu.ld8(cpu.segLin(SEG_DS, 0x10, 1, false))).toBe(0x55);
  });
});

describe("code-page tracking", () => {
  it("a write to a marked page fires onCodeWrite once and unmarks the page", () => {
    const m = new PhysicalMemory(1 << 20);
    const hits: number[] = [];
    m.onCodeWrite = (p) => hits.push(p);
    m.markCode(5);
    expect(m.isCode(5)).toBe(true);
    m.write8(0x5001, 1);
    expect(hits).toEqual([5]);
    expect(m.isCode(5)).toBe(false);
    m.write8(0x5002, 1);
    expect(hits).toEqual([5]);
  });
  it.each([
    ["write16", (m: PhysicalMemory) => m.write16(0x6ffe, 1)],
    ["write32", (m: PhysicalMemory) => m.write32(0x6004, 1)],
    ["write32 crossing into the page", (m: PhysicalMemory) => m.write32(0x5ffe, 1)],
  ])("%s fires it too", (_n, f) => {
    const m = new PhysicalMemory(1 << 20);
    const hits: number[] = [];
    m.onCodeWrite = (p) => hits.push(p);
    m.markCode(6);
    f(m);
    expect(hits).toEqual([6]);
  });
  it("reads do not fire it; marking beyond RAM is ignored", () => {
    const m = new PhysicalMemory(1 << 20);
    const hits: number[] = [];
    m.onCodeWrite = (p) => hits.push(p);
    m.markCode(7);
    m.read32(0x7000);
    m.markCode(0x100000);
    expect(hits).toEqual([]);
    expect(m.isCode(0x100000)).toBe(false);
  });
  it("through the CPU: a store to a page marked after its translation was cached still fires", () => {
    const m = new PhysicalMemory(1 << 20);
    const cpu = new Cpu(m, new IoBus());
    cpu.st32(0x8000, 1); // fast-path TLB entry for page 8 (writable)
    const hits: number[] = [];
    m.onCodeWrite = (p) => hits.push(p);
    m.markCode(8);
    cpu.st32(0x8010, 2);
    expect(hits).toEqual([8]);
    expect(m.u8[0x8010]).toBe(2);
    cpu.st32(0x8020, 3); // unmarked now: no second notification
    expect(hits).toEqual([8]);
  });
  it("through the CPU with paging: the physical page is reported", () => {
    const m = new PhysicalMemory(1 << 20);
    const cpu = new Cpu(m, new IoBus());
    m.view.setUint32(0x1000, 0x2000 | 7, true);
    m.view.setUint32(0x2000 + 0x40 * 4, 0x9000 | 7, true); // linear 0x40000 -> physical 0x9000
    cpu.setCr3(0x1000);
    cpu.setCr0(CR0_PE | 0x80000000);
    const hits: number[] = [];
    m.onCodeWrite = (p) => hits.push(p);
    m.markCode(9);
    cpu.st8(0x40123, 0xee);
    expect(hits).toEqual([9]);
    expect(m.u8[0x9123]).toBe(0xee);
  });
});
