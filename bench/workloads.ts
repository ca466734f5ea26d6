// CPU-bound guest workloads shared by the interpreter and JIT benchmarks, and the Linux boot they
// time.

import { bootFromOptions, type RunOptions } from "../src/cli/main.ts";
import type { Cpu } from "../src/engine/cpu/cpu.ts";
import { prepareEnvironment } from "../src/engine/cpu/snippet.ts";
import type { PhysicalMemory } from "../src/engine/memory/memory.ts";
import type { Machine, Mode } from "../src/engine/machine.ts";

const hex = (s: string) =>
  new Uint8Array(
    s
      .replace(/\s+/g, "")
      .match(/../g)!
      .map((b) => parseInt(b, 16)),
  );

/** Workloads: flat 32-bit code at CPL 0 with paging on, looping forever. */
export const WORKLOADS: Record<string, { code: Uint8Array; what: string }> = {
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

/**
 * Run `code` (a workload's loop) on `cpu` from a fresh kernel environment: 2M instructions of
 * warm-up (the JIT, if the CPU has one, compiles meanwhile), then `insns` timed. Guest MIPS.
 */
export function workloadMips(cpu: Cpu, mem: PhysicalMemory, code: Uint8Array, insns: number): number {
  prepareEnvironment(cpu, mem, "kernel");
  mem.load(0x100000, code);
  cpu.eip = 0x100000;
  cpu.regs[4] = 0x380000;
  cpu.run(2_000_000);
  const t0 = performance.now();
  const n = cpu.run(insns);
  return n / (performance.now() - t0) / 1000;
}

/**
 * Boot the `linux` image (128 MiB, deterministic) once the JIT is ready and run it to
 * VIRTLAB-READY: the machine and the wall time of the run.
 */
export async function bootLinuxToReady(
  mode: Mode,
  jit: RunOptions["jit"],
): Promise<{ machine: Machine; ms: number }> {
  const { machine } = bootFromOptions({
    image: "linux",
    mode,
    memMiB: 128,
    deterministic: true,
    quiet: true,
    jit,
  });
  await machine.jitReady;
  let out = "";
  machine.on((e) => {
    if (e.type === "serial") out += String.fromCharCode(e.byte);
  });
  const t0 = performance.now();
  while (!out.includes("VIRTLAB-READY")) if (machine.runSlice(1_000_000).stopped) break;
  return { machine, ms: performance.now() - t0 };
}
