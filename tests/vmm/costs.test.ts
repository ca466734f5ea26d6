// The cost model: one table, a source for every entry, and a price for every event the modes really
// produce (DESIGN.md "Counters and the cost model").
import { describe, expect, it } from "vitest";
import type { Mode } from "../../src/engine/machine.ts";
import { collectStats } from "../../src/engine/stats.ts";
import { eventsOf } from "../../src/engine/events.ts";
import { AA_FIGURES, COST_TABLE, CPI, costOf, modelCycles } from "../../src/engine/vmm/costs.ts";
import { bootImage } from "../helpers/guest.ts";

describe("the cost table", () => {
  it("cites a source for every entry: a published figure with its location, or a written derivation", () => {
    expect(COST_TABLE.length).toBeGreaterThan(15);
    for (const e of [...COST_TABLE, { match: /instructions/, cycles: CPI.cycles, source: CPI.source }]) {
      const s = e.source;
      expect(Number.isFinite(e.cycles) && e.cycles >= 0, String(e.match)).toBe(true);
      expect(s.cite.length, String(e.match)).toBeGreaterThan(10);
      if (e.cycles > 0) {
        // A priced entry names where its number comes from: a quoted figure, at a location, at an address.
        expect(s.quote, String(e.match)).toMatch(/\d/);
        expect(s.url, String(e.match)).toMatch(/^https?:\/\//);
        expect(s.cite, String(e.match)).toMatch(/§|homework|Figure|Table/);
      } else {
        expect(s.derivation, `${e.match} costs 0: say why`).toBeTruthy();
      }
    }
  });

  it("uses Adams & Agesen's printed figures and derives the rest from them in the open", () => {
    expect(CPI.cycles).toBe(AA_FIGURES.callretNative / 2);
    expect(costOf("exit.io-instruction", "hw-noept")!.cycles).toBe(15826);
    expect(costOf("bt.callout.IN AL,DX", "bt")!.cycles).toBeCloseTo(3209 / 15);
    expect(costOf("bt.callout.CLI", "bt")!.cycles).toBe(35);
    expect(costOf("bt.reflect.0", "bt")!.cycles).toBe(3223 - 889);
    expect(costOf("shadow.tracing-fault", "bt")!.cycles).toBe(391);
    expect(costOf("shadow.tracing-fault", "hw-noept")!.cycles).toBe(12733 - 1);
    expect(costOf("shadow.hidden-fault", "hw-noept")!.cycles).toBe(11242 - 1093);
    expect(costOf("io.post", "native")!.cycles).toBe(3209);
    // The same event is priced by the mechanism of the mode it happened in.
    expect(costOf("io.post", "hw")!.cycles).toBe(0); // priced as exit.io-instruction
    expect(costOf("exit.exception-nmi", "hw-noept")!.cycles).toBe(0); // priced as shadow.*-fault
    for (const e of COST_TABLE)
      if (e.cycles > 0 && e.source.derivation) expect(e.source.derivation).toMatch(/\d/);
  });

  it("models instructions × CPI + Σ events × cost, by cause", () => {
    const m = modelCycles(
      { instructions: 100, "exit.io-instruction": 2, "walk.ref.ept": 14, "tlb.miss": 1 },
      "hw",
    );
    expect(m.total).toBeCloseTo(100 * 5.5 + 2 * 15826 + 14 * 10);
    expect(m.byCause).toEqual({ "guest instructions": 550, "VM exits": 31652, "page walks": 140 });
    expect(m.unpriced).toEqual([]);
    expect(modelCycles({ "no.such.event": 1 }, "bt").unpriced).toEqual(["no.such.event"]);
  });
});

describe("every event the modes produce has a price", () => {
  const runs: [Mode, string][] = [
    ["native", "teachkernel.elf"],
    ["bt", "teachkernel.elf"],
    ["hw", "teachkernel.elf"],
    ["hw-noept", "teachkernel.elf"],
    ["pv", "teachkernel-pv.elf"],
  ];
  for (const [mode, file] of runs)
    it(`${mode}: all teaching-kernel workloads`, () => {
      const { m, out } = bootImage(file, /TEACHKERNEL DONE/, {
        mode,
        cmdline: "workload=all ops=40",
        memoryMiB: 32,
      });
      expect(out).toContain("TEACHKERNEL DONE");
      const stats = collectStats(m, 1);
      const events = eventsOf(stats);
      expect(Object.keys(events).length).toBeGreaterThan(8);
      for (const name of Object.keys(events)) expect(costOf(name, mode), `${mode}: ${name}`).toBeDefined();
      expect(stats.cycles.unpriced).toEqual([]);
      expect(stats.cycles.total).toBeCloseTo(modelCycles(events, mode).total);
      expect(stats.cycles.total).toBeGreaterThan(stats.instructions * CPI.cycles);
    });
});
