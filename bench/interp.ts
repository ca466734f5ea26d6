// Interpreter speed: guest MIPS on CPU-bound loops (a figure to read, not a timed test).
// Run: npm run bench:interp
import { Cpu } from "../src/engine/cpu/cpu.ts";
import { IoBus } from "../src/engine/io.ts";
import { PhysicalMemory } from "../src/engine/memory/memory.ts";
import { WORKLOADS, workloadMips } from "./workloads.ts";

const INSNS = Number(process.env.BENCH_INSNS ?? 30_000_000);
const mem = new PhysicalMemory(8 << 20);
const cpu = new Cpu(mem, new IoBus());
console.log(
  `VirtLab interpreter benchmark (${INSNS / 1e6}M guest instructions per workload, Node ${process.version})`,
);
const results: number[] = [];
for (const [name, w] of Object.entries(WORKLOADS)) {
  const mips = workloadMips(cpu, mem, w.code, INSNS); // no JIT: the interpreter alone
  results.push(mips);
  console.log(`  ${name.padEnd(7)} ${mips.toFixed(1).padStart(7)} MIPS   ${w.what}`);
}
const geo = Math.exp(results.reduce((a, m) => a + Math.log(m), 0) / results.length);
console.log(`  geomean ${geo.toFixed(1).padStart(7)} MIPS`);
