// The page-walk visualizer's engine function (src/engine/mmu/walk-explain.ts): every memory
// reference of the native, shadow and 2D EPT walks, numbered, and no side effects on the machine.
import { describe, expect, it } from "vitest";
import { bootImage } from "./helpers/guest.ts";
import { explainWalk } from "../src/engine/mmu/walk-explain.ts";
import type { Machine } from "../src/engine/machine.ts";

function fingerprint(m: Machine): string {
  let h = 0;
  const u = m.mem.u8;
  for (let k = 0; k < m.mem.ramSize; k += 4) h = (Math.imul(h, 31) + m.mem.view.getInt32(k, true)) | 0;
  void u;
  return JSON.stringify([
    h,
    m.cpu.mmu.counters,
    m.vmx?.ept?.counters,
    m.bt?.shadow.counters,
    m.vmx?.shadow?.counters,
  ]);
}

function boot(mode: "native" | "bt" | "hw" | "hw-noept"): Machine {
  // Stop in the middle of a workload so that a ring-3 process's address space is live.
  return bootImage("teachkernel.elf", /WORKLOAD pgfault ops=20 begin/, {
    mode,
    cmdline: "workload=all ops=20",
  }).m;
}

/** A linear address in the current address space mapped by a 4 KiB page and present in the TLB. */
function mappedAddress(m: Machine): number {
  const tlb = m.cpu.mmu.tlb;
  for (let vp = 0; vp < tlb.length; vp++) {
    if (!(tlb[vp] & 1)) continue;
    const lin = (vp << 12) >>> 0;
    const w = explainWalk(m, lin);
    if (w.native.refs.length === 2 && w.native.physical !== null && (!w.ept || w.ept.physical !== null))
      return lin;
  }
  throw new Error("no 4 KiB mapping in the TLB");
}

describe("explainWalk", () => {
  it("native: two numbered references (PDE then PTE) arriving where the MMU arrives", () => {
    const m = boot("native");
    const lin = mappedAddress(m) + 0x123;
    const before = fingerprint(m);
    const w = explainWalk(m, lin);
    expect(fingerprint(m)).toBe(before);
    expect(w.paging).toBe(true);
    expect(w.native.refs.map((r) => [r.n, r.what])).toEqual([
      [1, "guest PDE"],
      [2, "guest PTE"],
    ]);
    expect(w.native.refs[0].address).toBe(
      "0x" + ((w.cr3 & ~0xfff) + w.pdi * 4).toString(16).padStart(8, "0"),
    );
    expect(w.native.physical).toBe(m.cpu.mmu.translate(lin, false, m.cpu.cpl === 3) >>> 0);
    expect(w.shadow).toBeUndefined();
    expect(w.ept).toBeUndefined();
  });

  it("hw with EPT: a 2D walk of (2 + 1) × 4 + 2 = 14 references", () => {
    const m = boot("hw");
    const lin = mappedAddress(m) + 0x123;
    const before = fingerprint(m);
    const w = explainWalk(m, lin);
    expect(fingerprint(m)).toBe(before);
    const refs = w.ept!.refs;
    expect(refs.map((r) => r.n)).toEqual([...Array(14).keys()].map((k) => k + 1));
    expect(refs.map((r) => r.dimension).join(",")).toBe(
      [
        "ept",
        "ept",
        "ept",
        "ept",
        "guest",
        "ept",
        "ept",
        "ept",
        "ept",
        "guest",
        "ept",
        "ept",
        "ept",
        "ept",
      ].join(","),
    );
    expect(refs[0].what).toBe("EPT PML4E");
    expect(refs[4].what).toBe("guest PDE");
    expect(refs[9].what).toBe("guest PTE");
    // Guest RAM is backed 1:1, so host-physical equals the native walk's guest-physical.
    expect(w.ept!.physical).toBe(w.native.physical);
    expect(w.native.refs).toHaveLength(2);
  });

  it("an unmapped address stops with a not-present PDE or PTE (and no fault is raised)", () => {
    const m = boot("hw");
    const w = explainWalk(m, 0xbff00000);
    expect(w.native.physical).toBeNull();
    expect(w.native.outcome).toMatch(/not present: #PF/);
  });

  for (const mode of ["bt", "hw-noept"] as const) {
    it(`${mode}: the shadow lookup is a 1D walk of the VMM's tables`, () => {
      const m = boot(mode);
      const lin = mappedAddress(m) + 0x123;
      const before = fingerprint(m);
      const w = explainWalk(m, lin);
      expect(fingerprint(m)).toBe(before);
      expect(w.shadow).toBeDefined();
      expect(w.shadow!.guestCr3).toBe(w.cr3 & ~0xfff);
      // The code being executed was translated through the shadow tables, so its entry is built.
      expect(w.shadow!.refs.map((r) => r.what)).toEqual(["shadow PDE", "shadow PTE"]);
      expect(w.shadow!.physical).toBe(w.native.physical);
      expect(w.shadow!.outcome).toMatch(/built/);
      // A page nobody touched in this address space is not built: a hidden fault would build it.
      const cold = explainWalk(m, 0xbff00000);
      expect(cold.shadow!.physical).toBeNull();
      expect(cold.shadow!.outcome).toMatch(/hidden page fault/);
    });
  }
});
