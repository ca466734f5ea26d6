// JIT speed: guest MIPS of the interpreter and of compiled code on the same CPU-bound loops, and the
// Linux boot to VIRTLAB-READY with the JIT off and on (figures to read, not timed tests).
// Run: npm run bench:jit            (add --linux for the boot)
import { Cpu } from "../src/engine/cpu/cpu.ts";
import { IoBus } from "../src/engine/io.ts";
import { PhysicalMemory } from "../src/engine/memory/memory.ts";
import { Jit } from "../src/jit/jit.ts";
import { bootLinuxToReady, WORKLOADS, workloadMips } from "./workloads.ts";

const INSNS = Number(process.env.BENCH_INSNS ?? 30_000_000);
const mem = new PhysicalMemory(8 << 20);
const cpu = new Cpu(mem, new IoBus());
const jit = new Jit(cpu);
await jit.init();
console.log(
  `VirtLab JIT benchmark (${INSNS / 1e6}M guest instructions per workload, Node ${process.version})`,
);
console.log("  workload   interp     JIT   ratio");
const ratios: number[] = [];
for (const [name, w] of Object.entries(WORKLOADS)) {
  const mips: number[] = [];
  for (const on of [false, true]) {
    cpu.jit = on ? jit : null;
    jit.flush();
    mips.push(workloadMips(cpu, mem, w.code, INSNS));
  }
  ratios.push(mips[1] / mips[0]);
  console.log(
    `  ${name.padEnd(8)} ${mips[0].toFixed(1).padStart(6)}  ${mips[1].toFixed(1).padStart(6)}  ${(mips[1] / mips[0]).toFixed(2).padStart(5)}x  ${w.what}`,
  );
}
const geo = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
console.log(`  geomean speed-up ${geo.toFixed(2)}x`);
const s = jit.stats();
console.log(
  `  compiled ${s.blocksCompiled} blocks (${s.hotRecompiles} again when hot) in ${s.modules} modules, ${s.wasmBytes} wasm bytes`,
);

if (process.argv.includes("--linux")) {
  console.log("\nLinux boot to VIRTLAB-READY (128 MiB, deterministic, Node):");
  for (const mode of ["off", "on"] as const) {
    const { machine: m, ms } = await bootLinuxToReady("native", mode);
    const js = m.jit?.stats();
    console.log(
      `  JIT ${mode.padEnd(3)} ${(ms / 1000).toFixed(1).padStart(5)} s  ${(m.cpu.icount / 1e6).toFixed(0)}M instructions` +
        (js
          ? `, ${((100 * js.jitInstructions) / m.cpu.icount).toFixed(0)}% compiled, ${js.blocksCompiled} blocks (${js.hotRecompiles} again when hot), compile ${(js.compileMs / 1000).toFixed(1)} s`
          : ""),
    );
  }
}
