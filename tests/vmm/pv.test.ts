// PV mode: the teaching kernel's PV build runs deprivileged at CPL 1 and gets everything privileged
// through hypercalls (docs/hypercalls.md); the hypervisor validates, bounces and counts.
import { describe, expect, it } from "vitest";
import { Machine } from "../../src/engine/machine.ts";
import { bootImage, WORKLOADS } from "../helpers/guest.ts";
import { enterFlatProtectedMode } from "../../src/engine/boot/entry.ts";

const OPS = 40;
const END = /TEACHKERNEL (DONE|PANIC|PV: no hypervisor)/;
const boot = (file: string, mode: "pv" | "native") =>
  bootImage(file, END, { mode, cmdline: `ops=${OPS}`, memoryMiB: 64 });

describe("the teaching kernel's PV build in PV mode", () => {
  const { m, out } = boot("teachkernel-pv.elf", "pv");
  const pv = m.pv!.snapshot();

  it("runs every workload to a correct result at CPL 1 without leaking page-table frames", () => {
    expect(out).toContain("teachkernel (pv)");
    for (const w of WORKLOADS)
      expect(out).toMatch(new RegExp(`RESULT ${w} ops=${OPS} tsc=\\d+ ticks=\\d+ ok`));
    expect(out).toMatch(/free_pt=247\nTEACHKERNEL DONE/);
    expect(out).not.toMatch(/PANIC|TRAP/);
    expect(m.pv!.stopped).toBe("shutdown (poweroff)");
  });

  it("uses hypercalls instead of privileged instructions, with batched page-table updates", () => {
    expect(pv.hypercalls["mmu_update"]).toBeGreaterThan(0);
    expect(pv.pteWrites).toBeGreaterThan(pv.hypercalls["mmu_update"]); // several PTEs per call
    expect(pv.hypercalls["update_va_mapping"]).toBeGreaterThanOrEqual(OPS); // ptemod
    expect(pv.hypercalls["mmuext_op"]).toBeGreaterThanOrEqual(OPS); // cr3 (NEW_BASEPTR)
    expect(pv.hypercalls["multicall"]).toBe(pv.hypercalls["stack_switch"]); // context switches
    expect(pv.validatedEntries).toBeGreaterThanOrEqual(pv.pteWrites);
  });

  it("bounces traps to the guest and accounts for every return through the iret hypercall", () => {
    const bounces = Object.values(pv.bounces).reduce((a, b) => a + b, 0);
    expect(pv.hypercalls["iret"]).toBe(bounces + pv.events);
    expect(pv.bounces[0]).toBe(OPS); // divzero
    expect(pv.bounces[14]).toBeGreaterThanOrEqual(OPS); // pgfault
    expect(pv.bounces[0x80]).toBeGreaterThan(OPS); // system calls
    expect(pv.hypercalls["set_timer_op"]).toBeGreaterThan(0); // the tick is a one-shot timer event
  });

  it("emulates the kernel's port I/O (IOPL 0 at CPL 1)", () => {
    expect(pv.ioEmulated).toBe(2 * OPS); // inout + cr8
  });

  it("the PV build reports a missing hypervisor in native mode", () => {
    expect(boot("teachkernel-pv.elf", "native").out).toContain("TEACHKERNEL PV: no hypervisor");
  });
});

describe("hypercall error handling", () => {
  it("answers bad hypercalls with error codes and never fails the host", () => {
    const m = new Machine({ memoryMiB: 16, deterministic: true, mode: "pv" });
    // Each result is stored to memory (0x4000 + 4k):
    // mov eax,99; int 0x82                                   unknown number       -> -ENOSYS
    // mov eax,1; mov esi,1234; xor ecx,ecx; int 0x82          mmu_update, bad domid -> -EPERM
    // mov eax,0; mov ebx,0x2000; int 0x82                     trap table claims 0x82 -> -EPERM
    // mov eax,26; mov ebx,0x3000; mov ecx,1; xor edx,edx; mov esi,0x7ff0; int 0x82
    //                                                         NEW_BASEPTR unaligned -> -EINVAL
    // jmp $
    const code = [
      [0xb8, 99, 0, 0, 0, 0xcd, 0x82, 0xa3, 0x00, 0x40, 0, 0],
      [0xb8, 1, 0, 0, 0, 0xbe, 0xd2, 0x04, 0, 0, 0x31, 0xc9, 0xcd, 0x82, 0xa3, 0x04, 0x40, 0, 0],
      [0xb8, 0, 0, 0, 0, 0xbb, 0, 0x20, 0, 0, 0xcd, 0x82, 0xa3, 0x08, 0x40, 0, 0],
      [0xb8, 26, 0, 0, 0, 0xbb, 0, 0x30, 0, 0, 0xb9, 1, 0, 0, 0, 0x31, 0xd2, 0xbe, 0xf0, 0x7f, 0, 0],
      [0xcd, 0x82, 0xa3, 0x0c, 0x40, 0, 0, 0xeb, 0xfe],
    ].flat();
    m.mem.load(0x100000, new Uint8Array(code));
    m.mem.write32(0x2000, 0xe0190082); // vector 0x82, flags 0, cs FLAT_RING1_CS
    m.mem.write32(0x2004, 0x1234);
    m.mem.write32(0x3000, 5); // mmuext_op NEW_BASEPTR
    m.mem.write32(0x3004, 0x5001); // not page aligned
    enterFlatProtectedMode(m, 0x8000, 0x08, 0x10, 0x100000);
    m.pv!.enterGuest();
    expect(m.cpu.cpl).toBe(1);
    m.runSlice(40);
    expect([0, 4, 8, 12].map((k) => m.mem.read32(0x4000 + k))).toEqual([-38, -1, -1, -22]);
    expect(m.pv!.stopped).toBeNull();
  });
});
