// HW mode (simulated VT-x with EPT): the guest sees exactly what it sees natively, while the monitor
// takes real exits with Intel exit reasons and the MMU really walks the EPT.
import { describe, expect, it } from "vitest";
import { Machine, type Mode } from "../../src/engine/machine.ts";
import { bootImage, executions } from "../helpers/guest.ts";
import { enterFlatProtectedMode } from "../../src/engine/boot/entry.ts";
import { EXIT } from "../../src/engine/vmm/vmx.ts";
import { Ept, EPT_R, EPT_W } from "../../src/engine/vmm/ept.ts";

const runTestKernel = (mode: Mode) =>
  bootImage("testkernel.elf", /ALL PASS|SOME FAILED/, { mode, countOpcodes: true });

const count = executions;

describe("HW mode on the bare-metal test kernel", () => {
  const native = runTestKernel("native");
  const hw = runTestKernel("hw");
  const vmx = hw.m.vmx!;

  it("gives the guest the same results as native", () => {
    expect(hw.out).toContain("ALL PASS");
    expect(hw.out).toBe(native.out);
    expect(hw.m.cpu.icount).toBe(native.m.cpu.icount);
  });

  it("exits on every port access (all I/O bitmap bits set) with the port in the qualification", () => {
    const ioAccesses = Object.values(hw.m.io.counts).reduce((a, b) => a + b, 0);
    expect(vmx.counters.exits[EXIT.IO_INSTRUCTION]).toBe(ioAccesses);
    expect(ioAccesses).toBeGreaterThan(1000);
  });

  it("exits on HLT and on CR0/CR4 writes that change monitor-owned bits, not on native mode", () => {
    // The kernel runs one HLT at CPL 3 (check gp-hlt): that is a #GP in the guest, not an exit.
    expect(vmx.counters.exits[EXIT.HLT]).toBe(count(hw.m, "HLT") - 1);
    expect(vmx.counters.exits[EXIT.CR_ACCESS]).toBeGreaterThan(0);
    expect(native.m.vmx).toBeNull();
  });

  it("walks the EPT: four references per guest-physical translation, one violation per first touch", () => {
    const ept = vmx.ept!.counters;
    expect(ept.refs).toBe(4 * ept.translations);
    expect(ept.violations).toBe(vmx.counters.exits[EXIT.EPT_VIOLATION]);
    // Each violation maps one new 4 KiB guest-physical page; the kernel lives in a few dozen pages.
    expect(ept.violations).toBeGreaterThan(10);
    expect(ept.violations).toBeLessThan(200);
    // Entries = exits + the initial launch.
    const exits = Object.values(vmx.counters.exits).reduce((a, b) => a + b, 0);
    expect(vmx.counters.entries).toBe(exits + 1);
  });
});

describe("EPT", () => {
  it("populates a path on the first touch and then translates without violations", () => {
    const ept = new Ept(16 << 20);
    const seen: number[] = [];
    ept.onViolation = (gpa) => seen.push(gpa);
    expect(ept.translate(0x123456, EPT_R)).toBe(0x123456);
    expect(ept.counters.violations).toBe(1);
    expect(ept.counters.tablePages).toBe(4); // PML4, PDPT, PD, PT
    expect(ept.translate(0x123ffc, EPT_W)).toBe(0x123ffc); // same page, write: already RWX
    expect(ept.translate(0x124000, EPT_R)).toBe(0x124000); // next page: new PT entry only
    expect(seen).toEqual([0x123456, 0x124000]);
    expect(ept.counters.refs).toBe(12);
  });
});

describe("CPUID in HW mode", () => {
  it("always exits, and the monitor returns the same leaves the guest sees natively", () => {
    const run = (mode: Mode) => {
      const m = new Machine({ memoryMiB: 4, deterministic: true, mode });
      // xor eax,eax; cpuid; mov esi,ebx; mov eax,1; cpuid; hlt   (flat 32-bit ring 0)
      const code = [0x31, 0xc0, 0x0f, 0xa2, 0x89, 0xde, 0xb8, 1, 0, 0, 0, 0x0f, 0xa2, 0xf4];
      m.mem.load(0x100000, new Uint8Array(code));
      enterFlatProtectedMode(m, 0x8000, 0x08, 0x10, 0x100000);
      m.runSlice(100);
      return m;
    };
    const hw = run("hw"),
      native = run("native");
    expect(hw.vmx!.counters.exits[EXIT.CPUID]).toBe(2);
    expect(hw.vmx!.counters.exits[EXIT.HLT]).toBe(1);
    expect(Array.from(hw.cpu.regs)).toEqual(Array.from(native.cpu.regs));
    expect(hw.cpu.regs[0]).toBe(0x633);
  });
});

describe("HW mode without EPT (shadow paging) on the bare-metal test kernel", () => {
  const native = runTestKernel("native");
  const hw = runTestKernel("hw-noept");
  const vmx = hw.m.vmx!;
  const sh = vmx.shadow!.counters;

  it("gives the guest the same results as native", () => {
    expect(hw.out).toContain("ALL PASS");
    expect(hw.out).toBe(native.out);
    expect(hw.m.cpu.icount).toBe(native.m.cpu.icount);
    expect(vmx.ept).toBeNull();
  });

  it("reflects exactly the guest's own page faults as true faults", () => {
    // Every #PF the guest handles natively is a true fault under shadow paging, nothing more.
    expect(sh.trueFaults).toBe(native.m.cpu.vectorCounts[14]);
    expect(hw.m.cpu.vectorCounts[14]).toBe(native.m.cpu.vectorCounts[14]);
  });

  it("builds shadow entries on hidden faults and traces guest page-table writes", () => {
    expect(sh.hiddenFaults).toBeGreaterThan(0);
    expect(sh.tracingFaults).toBeGreaterThan(0);
    // Hidden and tracing faults never reach the guest: they are #PF exits handled by the monitor.
    expect(vmx.counters.exits[EXIT.EXCEPTION_NMI]).toBe(sh.hiddenFaults + sh.tracingFaults + sh.trueFaults);
    expect(vmx.counters.exits[EXIT.INVLPG]).toBe(count(hw.m, "INVLPG"));
    expect(sh.cr3Switches).toBeGreaterThan(0);
    expect(sh.cacheHits).toBeGreaterThan(0);
  });
});
