// The teaching kernel (images/teachkernel) must run every workload of its
// microbenchmark suite on VirtLab's CPU and print the begin/end markers.
import { describe, expect, it } from "vitest";
import { bootImage, WORKLOADS } from "./helpers/guest.ts";

const END = /TEACHKERNEL (DONE|PANIC|ERROR)|TEACHKERNEL PV: no hypervisor/;

function runTeachKernel(file: string, cmdline: string): string[] {
  const { m, out } = bootImage(file, END, { cmdline });
  if (!END.test(out)) throw new Error(`no end marker: ${m.lastReset?.reason ?? "timeout"}\n${out}`);
  return out.split("\n").filter(Boolean);
}

describe("teaching kernel (native build)", () => {
  const OPS = 40;
  const lines = runTeachKernel("teachkernel.elf", `workload=all ops=${OPS}`);
  it("boots and reads its command line", () => {
    expect(lines[0]).toBe(`teachkernel (native) ram=16384K cmdline="workload=all ops=${OPS}"`);
  });
  for (const w of WORKLOADS) {
    it(`workload ${w}`, () => {
      const b = lines.indexOf(`WORKLOAD ${w} ops=${OPS} begin`);
      const e = lines.indexOf(`WORKLOAD ${w} ops=${OPS} end`);
      expect(b).toBeGreaterThan(0);
      expect(e).toBe(b + 1);
      expect(lines[e + 1]).toMatch(new RegExp(`^RESULT ${w} ops=${OPS} tsc=\\d+ ticks=\\d+ ok$`));
    });
  }
  it("runs the workloads in order, without traps, and ends with TEACHKERNEL DONE", () => {
    const begins = lines.filter((l) => l.endsWith(" begin")).map((l) => l.split(" ")[1]);
    expect(begins).toEqual(WORKLOADS);
    expect(lines.filter((l) => /FAIL|TRAP|PANIC/.test(l))).toEqual([]);
    expect(lines[lines.length - 1]).toBe("TEACHKERNEL DONE");
  });
  it("frees every frame and page table it allocated", () => {
    expect(lines[lines.length - 2]).toMatch(/^ticks=\d+ free_frames=2816 free_pt=251$/);
  });
  it("selects single workloads and default ops", () => {
    const l = runTeachKernel("teachkernel.elf", "workload=cr3,divzero");
    expect(l.filter((x) => x.startsWith("WORKLOAD"))).toEqual([
      "WORKLOAD cr3 ops=10000 begin",
      "WORKLOAD cr3 ops=10000 end",
      "WORKLOAD divzero ops=10000 begin",
      "WORKLOAD divzero ops=10000 end",
    ]);
    expect(l[l.length - 1]).toBe("TEACHKERNEL DONE");
  });
});

describe("teaching kernel (PV build) without a hypervisor", () => {
  it("says so and halts", () => {
    const lines = runTeachKernel("teachkernel-pv.elf", "");
    expect(lines).toEqual(["TEACHKERNEL PV: no hypervisor"]);
  });
});
