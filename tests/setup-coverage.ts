// Every test process counts which opcode-table entries its CPUs executed and leaves the counts in
// coverage/opcodes/; tests/opcode-coverage.ts adds them up after the run.
import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, expect } from "vitest";
import { Cpu } from "../src/engine/cpu/cpu.ts";
import { OPCODES } from "../src/engine/cpu/opcodes.ts";

const counts = new Uint32Array(OPCODES.length);
Cpu.sharedOpcodeCounts = counts;

afterAll(() => {
  mkdirSync("coverage/opcodes", { recursive: true });
  const name = (expect.getState().testPath ?? "unknown").replace(/[^a-zA-Z0-9]+/g, "_").slice(-80);
  writeFileSync(`coverage/opcodes/${name}.json`, JSON.stringify(Array.from(counts)));
});
