// The teaching kernel (images/teachkernel) must run every workload of its
// microbenchmark suite on VirtLab's CPU and print the begin/end markers.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/engine/machine.ts";
import { bootMultiboot } from "../src/engine/boot/multiboot.ts";

/** Every workload, in the order "workload=all" runs them (images/teachkernel/README.md). */
const WORKLOADS = [
  "syscall",
  "forkwait",
  "ctxsw",
  "pgfault",
  "ptemod",
  "inout",
  "cr3",
  "cr8",
  "divzero",
  "callret",
];

const END = /TEACHKERNEL (DONE|PANIC|ERROR)|TEACHKERNEL PV: no hypervisor/;

export function runTeachKernel(path: string, cmdline: string): string[] {
  const m = new Machine({ memoryMiB: 16, deterministic: true });
  let out = "";
  m.on((e) => {
    if (e.type === "serial") out += String.fromCharCode(e.byte);
  });
  bootMultiboot(m, new Uint8Array(readFileSync(path)), { name: path, cmdline });
  for (let k = 0; k < 200 && !END.test(out); k++) {
    const r = m.runSlice(1_000_000);
    if (r.stopped && !END.test(out))
      throw new Error(`guest stopped: ${m.lastReset?.reason}\n${m.lastReset?.state}\n${out}`);
  }
  return out.replace(/\r/g, "").split("\n").filter(Boolean);
}

describe("teaching kernel (native build)", () => {
  const OPS = 40;
  const lines = runTeachKernel("public/images/teachkernel.elf", `workload=all ops=${OPS}`);
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
    const l = runTeachKernel("public/images/teachkernel.elf", "workload=cr3,divzero");
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
    const lines = runTeachKernel("public/images/teachkernel-pv.elf", "");
    expect(lines).toEqual(["TEACHKERNEL PV: no hypervisor"]);
  });
});
