// Boot a committed multiboot image (test kernel, teaching kernel) in a deterministic machine and run
// it until its output matches `until`: the shared harness of the kernel and mode tests.
import { readFileSync } from "node:fs";
import { Machine, type Mode } from "../../src/engine/machine.ts";
import { bootMultiboot } from "../../src/engine/boot/multiboot.ts";
import { OPCODES } from "../../src/engine/cpu/opcodes.ts";
import { TEACH_WORKLOADS } from "../../src/engine/compare.ts";

/** The teaching kernel's workloads, in the order "workload=all" runs them. */
export const WORKLOADS: readonly string[] = TEACH_WORKLOADS;

export interface BootOptions {
  mode?: Mode;
  cmdline?: string;
  memoryMiB?: number;
  /** Count executions per opcode-table entry (machine.cpu.opcodeCounts). */
  countOpcodes?: boolean;
}

export function bootImage(file: string, until: RegExp, opts: BootOptions = {}): { m: Machine; out: string } {
  const m = new Machine({
    memoryMiB: opts.memoryMiB ?? 16,
    deterministic: true,
    mode: opts.mode ?? "native",
  });
  if (opts.countOpcodes) m.cpu.opcodeCounts = new Uint32Array(OPCODES.length);
  let out = "";
  m.on((e) => {
    if (e.type === "serial") out += String.fromCharCode(e.byte);
  });
  const path = `public/images/${file}`;
  bootMultiboot(m, new Uint8Array(readFileSync(path)), { name: path, cmdline: opts.cmdline });
  for (let k = 0; k < 400 && !until.test(out); k++) {
    const r = m.runSlice(1_000_000);
    if (r.stopped || r.idleUntilNs === Infinity) break;
  }
  return { m, out: out.replace(/\r/g, "") };
}

/** Guest instructions executed for every table entry with this mnemonic. */
export function executions(m: Machine, mn: string): number {
  return OPCODES.filter((d) => d.mn === mn).reduce((n, d) => n + m.cpu.opcodeCounts![d.id], 0);
}
