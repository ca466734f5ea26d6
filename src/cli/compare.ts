// `npx virtlab compare --image NAME --workload NAME [--json] [--ops N]`: one workload in BT, PV, HW
// and HW-without-EPT (src/engine/compare.ts), printed as a table or as one JSON object (contract in
// docs/modes-comparison.md: {"image", "workload", "ops", "modes": {"bt": {"cyclesPerOp", "wallMs",
// "events"}, …}}).

import { parseArgs } from "node:util";
import { MODES, type Mode } from "../engine/machine.ts";
import {
  COMPARE_MODES,
  CompareError,
  compare,
  type CompareResult,
  type ImageLoader,
  type SnapshotFns,
} from "../engine/compare.ts";
import { loadSnapshot, saveSnapshot } from "../engine/snapshot.ts";

export const COMPARE_USAGE = `usage: virtlab compare --image NAME --workload NAME [--json] [--ops N] [--baseline N]
                       [--modes bt,pv,hw,hw-noept[,native]] [--no-snapshot]

Runs the workload in each mode and prints, per mode, modelled cycles per operation, exits /
hypercalls / faults per operation, page-walk references per TLB miss and wall time.
  teachkernel: syscall forkwait ctxsw pgfault ptemod inout cr3 cr8 divzero callret
  linux:       linux-fork linux-syscall linux-disk
  --json         print one JSON object instead of the table
  --ops N        operations in the measured run (default per workload)
  --baseline N   operations in the baseline run that is subtracted (default: the power of ten
                 below ops with as many digits, e.g. 2000 -> 1000)
  --no-snapshot  Linux: boot once per mode and run baseline then measured run on that machine,
                 instead of starting both from a snapshot of the booted machine`;

export class CompareUsageError extends Error {}

/** Linux runs start from a snapshot of the booted machine (src/engine/snapshot.ts). */
const SNAPSHOT: SnapshotFns = { save: (m) => saveSnapshot(m), load: (b) => loadSnapshot(b) };

export async function runCompare(argv: string[], loadImage: ImageLoader): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      image: { type: "string" },
      workload: { type: "string" },
      json: { type: "boolean", default: false },
      ops: { type: "string" },
      baseline: { type: "string" },
      modes: { type: "string" },
      "no-snapshot": { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.image || !values.workload) throw new CompareUsageError("compare needs --image and --workload");
  const num = (s: string | undefined, flag: string) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new CompareUsageError(`${flag} must be a positive whole number`);
    return n;
  };
  let modes: Mode[] = [...COMPARE_MODES];
  if (values.modes) {
    modes = values.modes.split(",").map((s) => s.trim()) as Mode[];
    for (const m of modes)
      if (!MODES.includes(m))
        throw new CompareUsageError(`--modes: unknown mode "${m}" (modes: ${MODES.join(", ")})`);
  }
  let result: CompareResult;
  try {
    result = await compare({
      image: values.image,
      workload: values.workload,
      ops: num(values.ops, "--ops"),
      baselineOps: num(values.baseline, "--baseline"),
      modes,
      loadImage,
      snapshot: values["no-snapshot"] ? undefined : SNAPSHOT,
      onProgress: values.json ? undefined : (msg) => process.stderr.write(`virtlab: ${msg}\n`),
    });
  } catch (e) {
    if (e instanceof CompareError) {
      process.stderr.write(`virtlab: compare: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  process.stdout.write(values.json ? JSON.stringify(result) + "\n" : formatTable(result));
  return 0;
}

function fmt(n: number | null, digits = 0): string {
  if (n === null) return "-";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function formatTable(r: CompareResult): string {
  const lines = [
    `${r.image} / ${r.workload}: ${r.ops} operations, baseline ${r.baselineOps}`,
    `per operation = ${r.method}`,
    "",
    [
      "mode".padEnd(9),
      "cycles/op".padStart(11),
      "instr/op".padStart(10),
      "exits/op".padStart(9),
      "hcalls/op".padStart(10),
      "faults/op".padStart(10),
      "refs/miss".padStart(10),
      "wall ms".padStart(9),
    ].join(" "),
  ];
  for (const [mode, c] of Object.entries(r.modes)) {
    lines.push(
      [
        mode.padEnd(9),
        fmt(c.cyclesPerOp).padStart(11),
        fmt(c.instructionsPerOp, 1).padStart(10),
        fmt(c.exitsPerOp, 2).padStart(9),
        fmt(c.hypercallsPerOp, 2).padStart(10),
        fmt(c.faultsPerOp, 2).padStart(10),
        fmt(c.walkRefsPerTlbMiss, 1).padStart(10),
        fmt(c.wallMs).padStart(9),
      ].join(" "),
    );
  }
  lines.push("", "modelled cycles per operation by cause:");
  for (const [mode, c] of Object.entries(r.modes)) {
    const causes = Object.entries(c.cycles.byCause)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(", ");
    lines.push(`  ${mode.padEnd(9)} ${causes || "-"}`);
  }
  return lines.join("\n") + "\n";
}
