// The MMU against the Intel SDM Vol. 3 chapter 4 (32-bit paging): walks with accessed/dirty bits,
// 4 MiB pages (PSE), U/S and R/W with CR0.WP, #PF error codes and CR2, global pages and PGE,
// INVLPG, and page-crossing accesses through the CPU.
import { describe, it, expect, beforeEach } from "vitest";
import { Mmu, CR0_PE, CR0_PG, CR0_WP, CR4_PGE, CR4_PSE } from "../../src/engine/mmu/mmu.ts";
import { PhysicalMemory } from "../../src/engine/memory/memory.ts";
import { Cpu, CPU_FAULT } from "../../src/engine/cpu/cpu.ts";
import { IoBus } from "../../src/engine/io.ts";

const P = 1,
  W = 2,
  U = 4,
  A = 0x20,
  D = 0x40,
  PS = 0x80,
  G = 0x100;
const PD = 0x1000;

class PageFault {
  constructor(
    readonly lin: number,
    readonly code: number,
  ) {}
}

const mem = new PhysicalMemory(4 << 20);
const mmu = new Mmu(mem);
mmu.pageFault = (lin, code) => {
  throw new PageFault(lin >>> 0, code);
};
const pde = (i: number) => mem.view.getUint32(PD + i * 4, true);
const setPde = (i: number, v: number) => mem.view.setUint32(PD + i * 4, v >>> 0, true);
const pte = (pt: number, i: number) => mem.view.getUint32(pt + i * 4, true);
const setPte = (pt: number, i: number, v: number) => mem.view.setUint32(pt + i * 4, v >>> 0, true);

function fault(f: () => unknown): PageFault {
  try {
    f();
  } catch (e) {
    if (e instanceof PageFault) return e;
    throw e;
  }
  throw new Error("no page fault");
}

beforeEach(() => {
  mem.u8.fill(0, 0, 0x10000);
  mmu.cr0 = CR0_PE | CR0_PG | CR0_WP;
  mmu.cr4 = 0;
  mmu.setCr3(PD);
  mmu.flush(false);
});

describe("paging disabled", () => {
  it("linear = physical", () => {
    mmu.cr0 = CR0_PE;
    mmu.flush(false);
    expect(mmu.translate(0x123456, true, true)).toBe(0x123456);
  });
});

describe("4 KiB walk: accessed and dirty bits (Vol. 3 4.8)", () => {
  beforeEach(() => {
    setPde(0, 0x2000 | P | W | U);
    setPte(0x2000, 5, 0x7000 | P | W | U);
  });
  it("a read translates and sets A in the PDE and the PTE but not D", () => {
    expect(mmu.translate(0x5123, false, false)).toBe(0x7123);
    expect(pde(0) & (A | D)).toBe(A);
    expect(pte(0x2000, 5) & (A | D)).toBe(A);
  });
  it("a write sets D in the PTE (D in a PDE that references a page table is not set)", () => {
    mmu.translate(0x5123, true, false);
    expect(pte(0x2000, 5) & (A | D)).toBe(A | D);
    expect(pde(0) & D).toBe(0);
  });
  it("a write after a read (translation cached without D) still sets D", () => {
    mmu.translate(0x5000, false, true);
    expect(pte(0x2000, 5) & D).toBe(0);
    mmu.translate(0x5004, true, true);
    expect(pte(0x2000, 5) & D).toBe(D);
  });
  it("the walk references two entries and counts one TLB miss; a second access hits", () => {
    const m0 = mmu.counters.tlbMisses,
      r0 = mmu.counters.walkRefs;
    mmu.translate(0x5000, false, false);
    mmu.translate(0x5ffc, false, false);
    expect(mmu.counters.tlbMisses - m0).toBe(1);
    expect(mmu.counters.walkRefs - r0).toBe(2);
  });
});

describe("#PF error codes (Vol. 3 4.7): P=1 protection, W/R=2 write, U/S=4 user", () => {
  it.each([
    [false, false, 0],
    [true, false, W],
    [false, true, U],
    [true, true, W | U],
  ])("not-present PDE: write=%s user=%s -> %s", (write, user, code) => {
    const f = fault(() => mmu.translate(0x00401234, write, user));
    expect(f).toEqual(new PageFault(0x00401234, code));
  });
  it.each([
    [false, false, 0],
    [true, true, W | U],
  ])("not-present PTE: write=%s user=%s -> %s", (write, user, code) => {
    setPde(0, 0x2000 | P | W | U);
    const f = fault(() => mmu.translate(0x3abc, write, user));
    expect(f).toEqual(new PageFault(0x3abc, code));
  });
  it("a not-present PDE leaves A clear", () => {
    setPde(1, 0x2000 | W | U);
    fault(() => mmu.translate(0x400000, false, false));
    expect(pde(1) & A).toBe(0);
  });
  const cases: [string, number, number, boolean, boolean, boolean, number | null][] = [
    // name, PDE flags, PTE flags, write, user, WP, expected error code (null = allowed)
    ["user read of a supervisor page", P | W | U, P | W, false, true, true, P | U],
    ["user write of a supervisor page", P | W | U, P | W, true, true, true, P | W | U],
    ["user read through a supervisor PDE", P | W, P | W | U, false, true, true, P | U],
    ["user write of a read-only page", P | W | U, P | U, true, true, true, P | W | U],
    ["user write through a read-only PDE", P | U, P | W | U, true, true, true, P | W | U],
    ["user read of a read-only page", P | U, P | U, false, true, true, null],
    ["supervisor write of a read-only page, WP=1", P | W | U, P | U, true, false, true, P | W],
    ["supervisor write of a read-only page, WP=0", P | W | U, P | U, true, false, false, null],
    ["supervisor write of a read-only user page via PDE, WP=0", P | U, P | W | U, true, false, false, null],
    ["supervisor read of a user page", P | W | U, P | W | U, false, false, true, null],
    ["user write with WP=0 is still checked", P | W | U, P | U, true, true, false, P | W | U],
  ];
  it.each(cases)("%s", (_n, pdeF, pteF, write, user, wp, code) => {
    mmu.cr0 = CR0_PE | CR0_PG | (wp ? CR0_WP : 0);
    mmu.flush(false);
    setPde(0, 0x2000 | pdeF);
    setPte(0x2000, 9, 0x9000 | pteF);
    if (code === null) {
      expect(mmu.translate(0x9010, write, user)).toBe(0x9010);
      if (write) expect(pte(0x2000, 9) & D).toBe(D);
    } else {
      expect(fault(() => mmu.translate(0x9010, write, user))).toEqual(new PageFault(0x9010, code));
    }
  });
  it("a supervisor write allowed by WP=0 does not let a later user write through", () => {
    mmu.cr0 = CR0_PE | CR0_PG;
    mmu.flush(false);
    setPde(0, 0x2000 | P | W | U);
    setPte(0x2000, 9, 0x9000 | P | U);
    mmu.translate(0x9000, true, false);
    expect(fault(() => mmu.translate(0x9000, true, true)).code).toBe(P | W | U);
  });
});

describe("4 MiB pages (PSE, Vol. 3 4.3)", () => {
  it("with CR4.PSE=1 a PDE with PS=1 maps 4 MiB; A and D are set in the PDE", () => {
    mmu.cr4 = CR4_PSE;
    mmu.flush(false);
    setPde(2, 0x00400000 | PS | P | W | U);
    expect(mmu.translate(0x00812345, false, false)).toBe(0x00412345);
    expect(pde(2) & (A | D)).toBe(A);
    mmu.translate(0x00bffffc, true, true);
    expect(pde(2) & (A | D)).toBe(A | D);
  });
  it("a 4 MiB walk references one entry", () => {
    mmu.cr4 = CR4_PSE;
    mmu.flush(false);
    setPde(2, 0x00400000 | PS | P | W | U);
    const r0 = mmu.counters.walkRefs;
    mmu.translate(0x00800000, false, false);
    expect(mmu.counters.walkRefs - r0).toBe(1);
  });
  it("with CR4.PSE=0 the PS bit is ignored and the PDE points to a page table", () => {
    setPde(0, 0x3000 | PS | P | W | U);
    setPte(0x3000, 4, 0x8000 | P | W | U);
    expect(mmu.translate(0x4321, false, false)).toBe(0x8321);
  });
  it("4 MiB page protection: user write to a read-only large page is #PF(P|W|U)", () => {
    mmu.cr4 = CR4_PSE;
    mmu.flush(false);
    setPde(2, 0x00400000 | PS | P | U);
    expect(fault(() => mmu.translate(0x00800010, true, true))).toEqual(new PageFault(0x00800010, P | W | U));
  });
});

describe("TLB: CR3 reloads, global pages, INVLPG (Vol. 3 4.10)", () => {
  const remap = (phys: number, g: number) => setPte(0x2000, 5, phys | P | W | U | g);
  beforeEach(() => {
    setPde(0, 0x2000 | P | W | U);
  });
  it("a CR3 load flushes non-global translations", () => {
    remap(0x7000, 0);
    expect(mmu.translate(0x5000, false, false)).toBe(0x7000);
    remap(0x8000, 0);
    mmu.setCr3(PD);
    expect(mmu.translate(0x5000, false, false)).toBe(0x8000);
  });
  it("with CR4.PGE=1, a global translation survives a CR3 load", () => {
    mmu.cr4 = CR4_PGE;
    remap(0x7000, G);
    expect(mmu.translate(0x5000, false, false)).toBe(0x7000);
    remap(0x8000, G);
    mmu.setCr3(PD);
    expect(mmu.translate(0x5000, false, false)).toBe(0x7000);
    // ... and flush(false) (a CR4.PGE toggle) removes it
    mmu.flush(false);
    expect(mmu.translate(0x5000, false, false)).toBe(0x8000);
  });
  it("with CR4.PGE=0 the G bit is ignored", () => {
    remap(0x7000, G);
    mmu.translate(0x5000, false, false);
    remap(0x8000, G);
    mmu.setCr3(PD);
    expect(mmu.translate(0x5000, false, false)).toBe(0x8000);
  });
  it("INVLPG invalidates one page, including a global one", () => {
    mmu.cr4 = CR4_PGE;
    remap(0x7000, G);
    setPte(0x2000, 6, 0x9000 | P | W | U);
    mmu.translate(0x5000, false, false);
    mmu.translate(0x6000, false, false);
    remap(0x8000, G);
    setPte(0x2000, 6, 0xa000 | P | W | U);
    mmu.invlpg(0x5abc);
    expect(mmu.translate(0x5000, false, false)).toBe(0x8000);
    expect(mmu.translate(0x6000, false, false)).toBe(0x9000); // not invalidated
  });
  it("global 4 MiB pages survive a CR3 load too", () => {
    mmu.cr4 = CR4_PGE | CR4_PSE;
    mmu.flush(false);
    setPde(2, 0x00400000 | PS | P | W | U | G);
    expect(mmu.translate(0x00800000, false, false)).toBe(0x00400000);
    setPde(2, 0x00000000 | PS | P | W | U | G);
    mmu.setCr3(PD);
    expect(mmu.translate(0x00800000, false, false)).toBe(0x00400000);
    mmu.flush(false);
    expect(mmu.translate(0x00800000, false, false)).toBe(0);
  });
  it("flush/invlpg counters", () => {
    const f0 = mmu.counters.flushes,
      i0 = mmu.counters.invlpg;
    mmu.setCr3(PD);
    mmu.invlpg(0x1000);
    expect(mmu.counters.flushes - f0).toBe(1);
    expect(mmu.counters.invlpg - i0).toBe(1);
  });
});

// --- through the CPU -------------------------------------------------------------------------------

describe("CPU accesses: unaligned and page-crossing (Vol. 3 4.7, 6.15 #PF)", () => {
  const cmem = new PhysicalMemory(4 << 20);
  const cpu = new Cpu(cmem, new IoBus());
  const setup = (page1: number, cpl = 0) => {
    cpu.reset();
    cmem.u8.fill(0, 0, 0x10000);
    const v = cmem.view;
    v.setUint32(PD, 0x2000 | P | W | U, true);
    v.setUint32(0x2000, 0x5000 | P | W | U, true); // linear page 0 -> physical 0x5000
    v.setUint32(0x2004, page1 >>> 0, true); // linear page 1
    cpu.setCr3(PD);
    cpu.setCr0(CR0_PE | CR0_PG | CR0_WP);
    cpu.setCpl(cpl);
    cmem.u8.fill(0xaa, 0x5ff0, 0x6000);
    cmem.u8.fill(0xbb, 0x6000, 0x6010);
  };
  const cpuFault = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e === CPU_FAULT) return { vector: cpu.excVector, code: cpu.excCode, cr2: cpu.cr2 >>> 0 };
      throw e;
    }
    return null;
  };
  it("st32 at 0xFFE with the next page not present faults and writes nothing", () => {
    setup(0);
    const f = cpuFault(() => cpu.st32(0xffe, 0x11223344));
    expect(f?.vector).toBe(14);
    expect(f?.code).toBe(W);
    expect((f?.cr2 ?? 0) >>> 12).toBe(1);
    expect([...cmem.u8.slice(0x5ffe, 0x6000)]).toEqual([0xaa, 0xaa]);
  });
  it("st16 at 0xFFF with the next page read-only (WP=1) faults #PF(P|W) and writes nothing", () => {
    setup(0x6000 | P | U);
    const f = cpuFault(() => cpu.st16(0xfff, 0x1122));
    expect(f).toMatchObject({ vector: 14, code: P | W });
    expect(cmem.u8[0x5fff]).toBe(0xaa);
    expect(cmem.u8[0x6000]).toBe(0xbb);
  });
  it("st32 at 0xFFE at CPL 3 with the next page supervisor-only faults #PF(P|W|U)", () => {
    setup(0x6000 | P | W, 3);
    const f = cpuFault(() => cpu.st32(0xffe, 0x11223344));
    expect(f).toMatchObject({ vector: 14, code: P | W | U });
    expect(cmem.u8[0x5ffe]).toBe(0xaa);
  });
  it("ld32 at 0xFFE with the next page not present faults #PF(0)", () => {
    setup(0);
    const f = cpuFault(() => cpu.ld32(0xffe));
    expect(f).toMatchObject({ vector: 14, code: 0 });
    expect(f!.cr2 >>> 12).toBe(1);
  });
  it("a page-crossing st32/ld32 with both pages present splits little-endian across the frames", () => {
    setup(0x6000 | P | W | U);
    cpu.st32(0xffe, 0x11223344);
    expect([...cmem.u8.slice(0x5ffe, 0x6002)]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect(cpu.ld32(0xffe) >>> 0).toBe(0x11223344);
    expect(cpu.ld16(0xfff)).toBe(0x2233);
  });
  it("unaligned accesses inside a page", () => {
    setup(0x6000 | P | W | U);
    cpu.st32(0x101, 0xa1b2c3d4);
    expect([...cmem.u8.slice(0x5101, 0x5105)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    expect(cpu.ld16(0x103)).toBe(0xa1b2);
  });
  it("a CPU #PF sets CR2 to the faulting linear address", () => {
    setup(0);
    cpuFault(() => cpu.ld8(0x1234));
    expect(cpu.cr2).toBe(0x1234);
  });
});
