// `virtlab compare` and its engine API: the contract's shape, and per-operation counts whose
// orderings are the ones the mechanisms imply — asserted from the real counters, not from the model.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  COMPARE_MODES,
  CompareError,
  TEACH_WORKLOADS,
  compare,
  type CompareResult,
} from "../../src/engine/compare.ts";
import { costOf } from "../../src/engine/vmm/costs.ts";
import { loadImage } from "../../src/cli/main.ts";

// Baselines are the power of ten below (400 → 100): same digit count, same end-marker I/O.
const OPS: Record<string, number> = {
  syscall: 400,
  forkwait: 40,
  ctxsw: 400,
  pgfault: 200,
  ptemod: 400,
  inout: 400,
  cr3: 400,
  cr8: 400,
  divzero: 400,
  callret: 4000,
};

/** Below this many exits per operation, what is left is the 100 Hz timer's (interrupt, EOI), not the operation's. */
const NONE = 0.05;

function checkShape(r: CompareResult, image: string, workload: string) {
  expect(r.image).toBe(image);
  expect(r.workload).toBe(workload);
  expect(Number.isInteger(r.ops)).toBe(true);
  expect(Object.keys(r.modes).sort()).toEqual([...COMPARE_MODES].sort());
  for (const [mode, c] of Object.entries(r.modes)) {
    expect(typeof c.cyclesPerOp, mode).toBe("number");
    expect(c.cyclesPerOp, mode).toBeGreaterThan(0);
    expect(typeof c.wallMs, mode).toBe("number");
    expect(c.events.instructions, mode).toBeGreaterThan(0);
    // Event names come from the documented vocabulary: each one has a cost-table entry.
    for (const e of Object.keys(c.events)) expect(costOf(e, mode as never), `${mode}: ${e}`).toBeDefined();
    expect(c.cycles.unpriced, mode).toEqual([]);
  }
}

describe("compare on the teaching kernel", async () => {
  const results: Record<string, CompareResult> = {};
  for (const w of TEACH_WORKLOADS)
    results[w] = await compare({ image: "teachkernel", workload: w, ops: OPS[w], loadImage });
  const ev = (w: string, mode: string, e: string) => results[w].modes[mode as "bt"]!.events[e] ?? 0;
  const c = (w: string, mode: string) => results[w].modes[mode as "bt"]!;

  it("returns the contract's shape for every workload", () => {
    for (const w of TEACH_WORKLOADS) checkShape(results[w], "teachkernel", w);
    expect(c("syscall", "pv").image).toBe("teachkernel-pv");
    expect(c("syscall", "hw").image).toBe("teachkernel");
  });

  it("syscall: no exit under VT-x, one iret hypercall under PV, a reflected int 0x80 plus callouts under BT", () => {
    expect(c("syscall", "hw").exitsPerOp).toBeLessThan(NONE);
    expect(c("syscall", "hw-noept").exitsPerOp).toBeLessThan(NONE);
    expect(c("syscall", "pv").hypercallsPerOp).toBe(1);
    expect(ev("syscall", "pv", "hypercall.iret")).toBe(1);
    expect(ev("syscall", "pv", "pv.bounce.128")).toBe(1);
    expect(ev("syscall", "bt", "bt.reflect.128")).toBe(1);
    expect(ev("syscall", "bt", "bt.callout.IRET")).toBe(1);
    expect(c("syscall", "bt").cyclesPerOp).toBeGreaterThan(5 * c("syscall", "hw").cyclesPerOp);
  });

  it("ptemod: a tracing fault, an INVLPG exit and a hidden fault without EPT; nothing with EPT", () => {
    expect(c("ptemod", "hw-noept").exitsPerOp).toBeGreaterThanOrEqual(3);
    expect(c("ptemod", "hw").exitsPerOp).toBeLessThan(NONE);
    expect(ev("ptemod", "hw-noept", "shadow.tracing-fault")).toBe(1);
    expect(ev("ptemod", "hw-noept", "exit.invlpg")).toBe(1);
    expect(ev("ptemod", "bt", "shadow.tracing-fault")).toBe(1);
    expect(ev("ptemod", "bt", "bt.callout.INVLPG M")).toBe(1);
    expect(ev("ptemod", "pv", "hypercall.update_va_mapping")).toBe(1);
    expect(ev("ptemod", "pv", "shadow.tracing-fault")).toBe(0);
    // A&A's ordering: first-generation VT-x far behind BT; EPT removes the cost.
    expect(c("ptemod", "hw-noept").cyclesPerOp).toBeGreaterThan(5 * c("ptemod", "bt").cyclesPerOp);
    expect(c("ptemod", "hw").cyclesPerOp).toBeLessThan(c("ptemod", "bt").cyclesPerOp);
  });

  it("inout and cr8: every port access traps — an I/O exit, a BT callout, a PV emulation", () => {
    for (const w of ["inout", "cr8"]) {
      expect(ev(w, "hw", "exit.io-instruction")).toBeCloseTo(1, 1);
      expect(ev(w, "hw-noept", "exit.io-instruction")).toBeCloseTo(1, 1);
      expect(ev(w, "bt", "bt.io-trap")).toBeCloseTo(1, 1);
      expect(ev(w, "pv", "pv.io-emulated")).toBeCloseTo(1, 1);
      // A&A's ordering for `in`: BT's in-VMM device model beats a VM exit round trip.
      expect(c(w, "hw").cyclesPerOp).toBeGreaterThan(10 * c(w, "bt").cyclesPerOp);
    }
    expect(ev("inout", "bt", "bt.callout.IN AL,DX") + ev("inout", "bt", "bt.callout.IN AL,Ib")).toBe(1);
  });

  it("divzero: delivered by the guest's own IDT under VT-x, reflected by BT, bounced by PV", () => {
    expect(c("divzero", "hw").exitsPerOp).toBeLessThan(NONE);
    expect(c("divzero", "hw-noept").exitsPerOp).toBeLessThan(NONE);
    expect(ev("divzero", "bt", "bt.reflect.0")).toBe(1);
    expect(ev("divzero", "pv", "pv.bounce.0")).toBe(1);
    expect(ev("divzero", "pv", "hypercall.iret")).toBe(1);
    expect(c("divzero", "bt").cyclesPerOp).toBeGreaterThan(c("divzero", "hw").cyclesPerOp);
  });

  it("pgfault: true + hidden faults under shadow paging, a first-touch EPT violation with EPT", () => {
    for (const m of ["bt", "hw-noept"]) {
      expect(ev("pgfault", m, "shadow.true-fault"), m).toBe(1);
      expect(ev("pgfault", m, "shadow.hidden-fault"), m).toBeGreaterThanOrEqual(1);
    }
    expect(ev("pgfault", "hw", "ept.violation")).toBe(1);
    expect(ev("pgfault", "pv", "pv.bounce.14")).toBe(1);
    expect(c("pgfault", "hw-noept").cyclesPerOp).toBeGreaterThan(c("pgfault", "bt").cyclesPerOp);
  });

  it("cr3: an exit only without EPT; a flushed TLB refilled by 2D walks with EPT, 1D walks of the shadow", () => {
    expect(ev("cr3", "hw-noept", "exit.cr-access")).toBe(1);
    expect(ev("cr3", "hw", "exit.cr-access")).toBe(0);
    expect(ev("cr3", "bt", "bt.callout.MOV Cd,Rd")).toBe(1);
    expect(ev("cr3", "pv", "hypercall.mmuext_op")).toBe(1);
    expect(c("cr3", "hw").walkRefsPerTlbMiss).toBeGreaterThan(10); // (2 + 1) × 4 + 2 = 14
    expect(c("cr3", "hw-noept").walkRefsPerTlbMiss).toBe(2);
    expect(c("cr3", "bt").walkRefsPerTlbMiss).toBe(2);
  });

  it("forkwait: A&A's headline — BT beats shadow paging on VT-x; EPT beats both; PV batches", () => {
    expect(c("forkwait", "hw-noept").cyclesPerOp).toBeGreaterThan(c("forkwait", "bt").cyclesPerOp);
    expect(c("forkwait", "bt").cyclesPerOp).toBeGreaterThan(c("forkwait", "hw").cyclesPerOp);
    expect(c("forkwait", "hw-noept").faultsPerOp).toBeGreaterThan(5);
    expect(c("forkwait", "hw").exitsPerOp).toBeLessThan(1);
    // PV: more validated page-table entries than traps into the hypervisor (mmu_update batches them).
    expect(ev("forkwait", "pv", "pv.validated-entry")).toBeGreaterThan(
      2 * c("forkwait", "pv").hypercallsPerOp,
    );
  });

  it("ctxsw: PV switches stack and address space in one multicall", () => {
    expect(ev("ctxsw", "pv", "hypercall.multicall")).toBe(1);
    expect(ev("ctxsw", "pv", "pv.multicall-entry")).toBe(2);
    expect(ev("ctxsw", "hw-noept", "exit.cr-access")).toBe(1);
    expect(ev("ctxsw", "hw", "exit.cr-access")).toBe(0);
  });

  it("callret: pure unprivileged code costs the same everywhere", () => {
    const base = c("callret", "hw").cyclesPerOp;
    for (const m of COMPARE_MODES) {
      expect(
        c("callret", m).exitsPerOp + c("callret", m).hypercallsPerOp + c("callret", m).faultsPerOp,
        m,
      ).toBe(0);
      expect(Math.abs(c("callret", m).cyclesPerOp - base) / base, m).toBeLessThan(0.15);
    }
  });

  it("refuses unknown workloads and mismatched images with a clear error", async () => {
    await expect(compare({ image: "teachkernel", workload: "nope", loadImage })).rejects.toThrow(
      CompareError,
    );
    await expect(compare({ image: "linux", workload: "syscall", loadImage })).rejects.toThrow(/teachkernel/);
  });
});

describe("virtlab compare --json", () => {
  it("prints one JSON object in the contract's shape", () => {
    const r = spawnSync(
      process.execPath,
      [
        join(process.cwd(), "bin/virtlab.mjs"),
        "compare",
        "--image",
        "teachkernel",
        "--workload",
        "ptemod",
        "--ops",
        "300",
        "--json",
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    expect(r.stderr.replace(/npm warn.*\n/g, "")).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const j = JSON.parse(r.stdout) as CompareResult;
    checkShape(j, "teachkernel", "ptemod");
    expect(j.ops).toBe(300);
    expect(j.modes["hw-noept"]!.events["exit.invlpg"]).toBe(1);
  });

  it("exits 2 with a message for an unknown workload", () => {
    const r = spawnSync(
      process.execPath,
      [join(process.cwd(), "bin/virtlab.mjs"), "compare", "--image", "teachkernel", "--workload", "bogus"],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown workload "bogus"/);
  });
});

describe("compare on Linux", () => {
  // One mode keeps this under a minute (a Linux boot is ~115 M interpreted instructions); the HW
  // side of the comparison (PIO exits per block) is in docs/modes-comparison.md.
  it("linux-disk under PV: blocks read through virtio-blk, no IDE port I/O, every event priced", async () => {
    const r = await compare({ image: "linux", workload: "linux-disk", ops: 40, modes: ["pv"], loadImage });
    const pv = r.modes.pv!;
    expect(r).toMatchObject({ image: "linux", workload: "linux-disk", ops: 40, baselineOps: 10 });
    expect(Object.keys(r.modes)).toEqual(["pv"]);
    expect(pv.image).toBe("linux");
    expect(pv.events["io.ide0"] ?? 0).toBe(0);
    expect(pv.windowEvents["virtio.virtio-blk.request"]).toBeGreaterThan(0);
    expect(pv.windowEvents["mmio.virtio-blk"]).toBeGreaterThan(0);
    expect(pv.exitsPerOp).toBeLessThan(5);
    expect(pv.instructionsPerOp).toBeGreaterThan(0);
    expect(pv.cycles.unpriced).toEqual([]);
    for (const e of Object.keys(pv.windowEvents)) expect(costOf(e, "pv"), e).toBeDefined();
  }, 180_000);
});
