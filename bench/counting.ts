// What counting costs the JIT: the same guest work with compiled blocks counting their runs (the
// default, which feeds the statistics and the explorer's hot list) and without. First-tier blocks
// count in both columns (that is how a block becomes hot and is compiled again): the difference is
// the counting in hot blocks, where the time goes once a workload has warmed up. The machine's event
// counters (TLB misses, exits, faults, callouts, ...) are plain increments on slow paths that are
// always on; the Linux rows include them in both columns. Figures to read, not a timed test.
// Run: npm run bench:counting            (BENCH_RUNS=5 for more repetitions)
import { Cpu } from "../src/engine/cpu/cpu.ts";
import { IoBus } from "../src/engine/io.ts";
import { PhysicalMemory } from "../src/engine/memory/memory.ts";
import type { Mode } from "../src/engine/machine.ts";
import { collectStats } from "../src/engine/stats.ts";
import { Jit } from "../src/jit/jit.ts";
import { bootLinuxToReady, WORKLOADS, workloadMips } from "./workloads.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const INSNS = Number(process.env.BENCH_INSNS ?? 20_000_000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const pct = (on: number, off: number) => `${(((on - off) / off) * 100).toFixed(1).padStart(5)}%`;

console.log(`Counting overhead in compiled code (Node ${process.version}, median of ${RUNS} runs)`);
console.log("  workload       counting on   counting off   slowdown");
const mem = new PhysicalMemory(8 << 20);
const cpu = new Cpu(mem, new IoBus());
const jits = { on: new Jit(cpu, { countRuns: true }), off: new Jit(cpu, { countRuns: false }) };
await jits.on.init();
await jits.off.init();
const worst: number[] = [];
for (const [name, w] of Object.entries(WORKLOADS)) {
  const mips = { on: [] as number[], off: [] as number[] };
  for (let r = 0; r < RUNS; r++) {
    for (const k of ["on", "off"] as const) {
      const jit = jits[k];
      jits.on.flush();
      jits.off.flush();
      cpu.jit = jit;
      mips[k].push(workloadMips(cpu, mem, w.code, INSNS));
    }
  }
  const on = median(mips.on),
    off = median(mips.off);
  worst.push((off - on) / on);
  console.log(
    `  ${name.padEnd(12)} ${on.toFixed(1).padStart(8)} MIPS  ${off.toFixed(1).padStart(8)} MIPS   ${pct(off, on)}`,
  );
}

// The Linux boot: real kernel code, every mode's event counters live.
async function boot(mode: Mode, countRuns: boolean): Promise<{ ms: number; stats: number }> {
  const { machine: m, ms } = await bootLinuxToReady(mode, { countRuns });
  // What a UI poll costs: one collectStats().
  const t1 = performance.now();
  for (let k = 0; k < 100; k++) collectStats(m, ms);
  return { ms, stats: (performance.now() - t1) / 100 };
}
console.log("\nLinux boot to VIRTLAB-READY (deterministic, 128 MiB):");
console.log("  mode     counting on   counting off   slowdown   collectStats()");
for (const mode of ["native", "bt", "pv", "hw"] as Mode[]) {
  const on: number[] = [],
    off: number[] = [];
  let statsMs = 0;
  for (let r = 0; r < RUNS; r++) {
    const a = await boot(mode, true);
    on.push(a.ms);
    statsMs = a.stats;
    off.push((await boot(mode, false)).ms);
  }
  const a = median(on),
    b = median(off);
  worst.push((a - b) / b);
  console.log(
    `  ${mode.padEnd(8)} ${(a / 1000).toFixed(2).padStart(8)} s   ${(b / 1000).toFixed(2).padStart(9)} s    ${pct(a, b)}   ${(statsMs * 1000).toFixed(0).padStart(6)} µs`,
  );
}
const w = Math.max(...worst) * 100;
console.log(`\nworst slowdown from counting: ${w.toFixed(1)}% (target: at most 10%)`);
