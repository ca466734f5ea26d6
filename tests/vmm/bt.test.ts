// BT mode on the interpreter: translated kernel code calls out to the VMM for exactly the
// instructions the opcode table classifies as privileged or sensitive; user code runs directly.
import { describe, expect, it } from "vitest";
import type { Mode } from "../../src/engine/machine.ts";
import { bootImage } from "../helpers/guest.ts";
import { OPCODES } from "../../src/engine/cpu/opcodes.ts";

const runTestKernel = (mode: Mode) =>
  bootImage("testkernel.elf", /ALL PASS|SOME FAILED/, { mode, countOpcodes: true });

describe("BT mode on the bare-metal test kernel", () => {
  const native = runTestKernel("native");
  const bt = runTestKernel("bt");
  const s = bt.m.bt!.snapshot();

  it("gives the guest the same results as native", () => {
    expect(bt.out).toContain("ALL PASS");
    expect(bt.out).toBe(native.out);
    expect(bt.m.cpu.icount).toBe(native.m.cpu.icount);
    expect(bt.m.vmx).toBeNull();
  });

  it("calls out only for privileged and sensitive instructions, named by kind", () => {
    const sensitive = new Set(
      OPCODES.filter((d) => d.cls !== "innocuous").map((d) =>
        d.ops.length ? `${d.mn} ${d.ops.join(",")}` : d.mn,
      ),
    );
    expect(Object.keys(s.callouts).length).toBeGreaterThan(10);
    for (const k of Object.keys(s.callouts)) expect(sensitive.has(k), k).toBe(true);
    // Robin & Irvine's classics from kernel code: POPF, PUSHF, segment loads, descriptor-table stores.
    expect(s.callouts["POPF"]).toBeGreaterThan(0);
    expect(s.callouts["PUSHF"]).toBeGreaterThan(0);
    expect(s.callouts["SGDT Ms"]).toBeGreaterThan(0);
    expect(s.callouts["MOV Sw,Ew"]).toBeGreaterThan(0);
    expect(s.callouts["MOV Cd,Rd"]).toBeGreaterThan(0);
  });

  it("counts every CPL 0 instruction as translated and CPL 3 ones as direct execution", () => {
    expect(s.translatedInsns + s.directInsns).toBe(bt.m.cpu.icount);
    expect(s.directInsns).toBeGreaterThan(0); // the kernel's ring-3 checks
    expect(s.translatedInsns).toBeGreaterThan(s.directInsns);
  });

  it("reflects the guest's exceptions and traps I/O to the device model", () => {
    for (const v of [0, 3, 6, 13, 14])
      expect(s.reflected[v], `vector ${v}`).toBe(native.m.cpu.vectorCounts[v]);
    const ioAccesses = Object.values(bt.m.io.counts).reduce((a, b) => a + b, 0);
    expect(s.ioTraps).toBe(ioAccesses);
  });

  it("runs the kernel on shadow page tables", () => {
    const sh = bt.m.bt!.shadow.counters;
    expect(sh.hiddenFaults).toBeGreaterThan(0);
    expect(sh.trueFaults).toBe(native.m.cpu.vectorCounts[14]);
  });
});
