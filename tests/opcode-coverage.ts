// Prints how much of the opcode table the unit tests executed (from coverage/opcodes/, written by
// tests/setup-coverage.ts during `vitest run`) and fails below the target.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { OPCODES } from "../src/engine/cpu/opcodes.ts";

const TARGET = 0.95;
const dir = "coverage/opcodes";
if (!existsSync(dir)) {
  console.error("opcode coverage: no data in coverage/opcodes — run `vitest run` first");
  process.exit(1);
}
const total = new Float64Array(OPCODES.length);
for (const f of readdirSync(dir)) {
  const a = JSON.parse(readFileSync(`${dir}/${f}`, "utf8")) as number[];
  if (a.length !== OPCODES.length) continue; // stale data from an older table
  a.forEach((n, k) => (total[k] += n));
}
const missed = OPCODES.filter((d) => total[d.id] === 0);
const covered = OPCODES.length - missed.length;
const ratio = covered / OPCODES.length;
const label = (d: (typeof OPCODES)[number]) =>
  `${d.mn} ${d.ops.join(",")} [${d.code.toString(16)}${d.ext !== undefined ? "/" + d.ext : ""}${d.rm !== undefined ? " rm" + d.rm : ""}]`;
console.log(
  `opcode table coverage: ${covered}/${OPCODES.length} entries executed by the tests = ${(ratio * 100).toFixed(1)}% (target ${TARGET * 100}%)`,
);
if (missed.length) console.log(`not executed (${missed.length}): ${missed.map(label).join("; ")}`);
if (ratio < TARGET) {
  console.error("opcode coverage below target");
  process.exit(1);
}
