// Interpreter speed: guest MIPS on CPU-bound loops (a figure to read, not a timed test).
// Run: npm run bench:interp
import { Cpu } from "../src/engine/cpu/cpu.ts";
import { IoBus } from "../src/engine/io.ts";
import { PhysicalMemory } from "../src/engine/memory/memory.ts";
import { prepareEnvironment } from "../src/engine/cpu/snippet.ts";

const hex = (s: string) =>
  new Uint8Array(
    s
      .replace(/\s+/g, "")
      .match(/../g)!
      .map((b) => parseInt(b, 16)),
  );

/** Workloads: flat 32-bit code at CPL 0 with paging on, looping forever. */
const WORKLOADS: Record<string, { code: Uint8Array; what: string }> = {
  alu: {
    what: "add/xor/rol/lea/dec/jnz register loop",
    // mov ecx,-1; xor eax,eax; L: add eax,ecx; xor edx,eax; rol eax,3; lea ebx,[edx+ecx+1]; dec ecx; jnz L
    code: hex("b9ffffffff 31c0 01c8 31c2 c1c003 8d5c0a01 49 75f2"),
  },
  memory: {
    what: "checksum loop: add/adc loads, a store per iteration (64 KiB buffer)",
    // s: mov esi,0x200000; mov ecx,0x4000; L: add eax,[esi]; adc edx,[esi+4]; mov [esi+8],eax;
    //    add esi,4; dec ecx; jnz L; jmp s
    code: hex("be00002000 b900400000 0306 135604 894608 83c604 49 75f2 ebe6"),
  },
  calls: {
    what: "call/ret with a stack frame, push/pop, imul",
    // s: mov ecx,4096; L: call F; dec ecx; jnz L; jmp s; nop;
    // F: push ebp; mov ebp,esp; mov eax,[ebp+8]; imul eax,ecx; pop ebp; ret
    code: hex("b900100000 e806000000 49 75f8 ebf1 90 55 89e5 8b4508 0fafc1 5d c3"),
  },
};

const INSNS = Number(process.env.BENCH_INSNS ?? 30_000_000);
const mem = new PhysicalMemory(8 << 20);
const cpu = new Cpu(mem, new IoBus());
console.log(
  `VirtLab interpreter benchmark (${INSNS / 1e6}M guest instructions per workload, Node ${process.version})`,
);
const results: number[] = [];
for (const [name, w] of Object.entries(WORKLOADS)) {
  prepareEnvironment(cpu, mem, "kernel");
  mem.load(0x100000, w.code);
  cpu.eip = 0x100000;
  cpu.regs[4] = 0x380000;
  cpu.run(2_000_000); // warm up the JIT of the host
  const t0 = performance.now();
  const n = cpu.run(INSNS);
  const ms = performance.now() - t0;
  const mips = n / ms / 1000;
  results.push(mips);
  console.log(`  ${name.padEnd(7)} ${mips.toFixed(1).padStart(7)} MIPS   ${w.what}`);
}
const geo = Math.exp(results.reduce((a, m) => a + Math.log(m), 0) / results.length);
console.log(`  geomean ${geo.toFixed(1).padStart(7)} MIPS`);
