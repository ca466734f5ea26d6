// The instruction suite (expected values recorded on the host CPU) run through the JIT: with every
// block checked against the interpreter in lockstep, and compiled only — each both as first-tier
// blocks (memory helpers) and as hot blocks (memory accesses inlined, hotRuns 0).
import { beforeAll, describe, expect, it } from "vitest";
import { runSnippet, snippetCpu } from "../../src/engine/cpu/snippet.ts";
import { Jit } from "../../src/jit/jit.ts";
import { checkCase, describeCase, loadCaseFile } from "../instr/helper.ts";

const file = loadCaseFile();
// Every case runs as a 32-bit user process, where compiled code applies.
const cases = file.cases;

for (const [tier, opts] of [
  ["first-tier blocks", {}],
  ["hot blocks", { hotRuns: 0 }],
] as const) {
  describe(`instruction suite through the JIT: ${tier}`, () => {
    let lockstep: Jit;
    let compiled: Jit;
    beforeAll(async () => {
      lockstep = new Jit(snippetCpu(), {
        ...opts,
        lockstep: true,
        throwOnMismatch: true,
        threshold: 1,
        batch: 1,
      });
      compiled = new Jit(snippetCpu(), { ...opts, threshold: 1, batch: 1 });
      await lockstep.init();
      await compiled.init();
    });

    // One lookup table per guest memory: whichever JIT runs claims it.
    it("compiled blocks agree with the interpreter on every case (lockstep)", () => {
      lockstep.flush();
      const failures: string[] = [];
      for (const c of cases) {
        let diffs: string[];
        try {
          diffs = checkCase(c, (input) => runSnippet({ ...input, jit: lockstep }));
        } catch (e) {
          diffs = [(e as Error).message];
        }
        if (diffs.length) failures.push(`${describeCase(c)}\n${diffs.join("\n")}`);
      }
      const s = lockstep.stats();
      expect(failures.slice(0, 5)).toEqual([]);
      expect(s.lockstepMismatches).toBe(0);
      // Most cases contain compilable code: the comparison really ran.
      expect(s.lockstepBlocks).toBeGreaterThan(cases.length / 2);
      expect(failures.slice(0, 5)).toEqual([]);
    });

    it("compiled code alone reproduces the host CPU's results", () => {
      compiled.flush();
      const failures: string[] = [];
      for (const c of cases) {
        const diffs = checkCase(c, (input) => runSnippet({ ...input, jit: compiled }));
        if (diffs.length) failures.push(`${describeCase(c)}\n${diffs.join("\n")}`);
      }
      expect(compiled.stats().jitInstructions).toBeGreaterThan(cases.length / 2);
      expect(failures.slice(0, 5)).toEqual([]);
    });
  });
}
