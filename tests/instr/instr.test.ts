// Instruction tests: every case in cases.json was recorded by running the same bytes natively on the
// host CPU in a 32-bit process (see tests/instr/README.md). The emulator must reproduce it.
import { describe, it } from "vitest";
import { runSnippet } from "../../src/engine/cpu/snippet.ts";
import { checkCase, describeCase, groupByMnemonic, loadCaseFile } from "./helper.ts";

const file = loadCaseFile();

describe(`instructions recorded on ${file.cpu}`, () => {
  for (const [mnemonic, cases] of groupByMnemonic(file.cases)) {
    describe(mnemonic, () => {
      for (const c of cases) {
        it(c.name, () => {
          const diffs = checkCase(c, runSnippet);
          if (diffs.length) throw new Error(`${describeCase(c)}\n${diffs.join("\n")}`);
        });
      }
    });
  }
});
