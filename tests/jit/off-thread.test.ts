// Off-thread compilation: batches go to a compile worker and are installed when they come back,
// unless their page was written meanwhile. The worker here is an in-process stand-in that answers
// on a later task with serveCompile, after a structured clone of each message, as a Worker would.

import { describe, expect, it } from "vitest";
import { Cpu } from "../../src/engine/cpu/cpu.ts";
import { IoBus } from "../../src/engine/io.ts";
import { PhysicalMemory } from "../../src/engine/memory/memory.ts";
import { prepareEnvironment } from "../../src/engine/cpu/snippet.ts";
import { Jit, useCompileWorker } from "../../src/jit/jit.ts";
import { loadBinaryen } from "../../src/jit/binaryen.ts";
import {
  serveCompile,
  type CompilePort,
  type CompileReply,
  type CompileRequest,
} from "../../src/jit/compile-service.ts";
import { bootFromOptions } from "../../src/cli/main.ts";

const binaryen = await loadBinaryen();
let served = 0;
/** Replies wait here until the test releases them (to write a page while a batch compiles). */
let hold: (() => void)[] | null = null;

useCompileWorker(() => {
  const port: CompilePort = {
    onmessage: null,
    postMessage(msg: CompileRequest) {
      const req = structuredClone(msg);
      const answer = () =>
        setTimeout(() => {
          served++;
          const reply: CompileReply = structuredClone(serveCompile(binaryen, req));
          port.onmessage?.({ data: reply });
        }, 1);
      if (hold && req.kind === "batch") hold.push(answer);
      else answer();
    },
  };
  return port;
});

const tick = () => new Promise((r) => setTimeout(r, 5));

// mov ecx,-1; xor eax,eax; L: add eax,ecx; xor edx,eax; rol eax,3; lea ebx,[edx+ecx+1]; dec ecx; jnz L
const LOOP = [0xb9, 0xff, 0xff, 0xff, 0xff, 0x31, 0xc0, 0x01, 0xc8, 0x31, 0xc2, 0xc1, 0xc0, 0x03];
const LOOP_TAIL = [0x8d, 0x5c, 0x0a, 0x01, 0x49, 0x75, 0xf2];

function loopMachine(): { cpu: Cpu; mem: PhysicalMemory; jit: Jit } {
  const mem = new PhysicalMemory(8 << 20);
  const cpu = new Cpu(mem, new IoBus());
  const jit = new Jit(cpu, { offThread: true, threshold: 10 });
  cpu.jit = jit;
  prepareEnvironment(cpu, mem, "kernel");
  mem.load(0x100000, new Uint8Array([...LOOP, ...LOOP_TAIL]));
  cpu.eip = 0x100000;
  cpu.regs[4] = 0x380000;
  return { cpu, mem, jit };
}

describe("compiling in a worker", () => {
  it("installs the worker's blocks and runs them, the guest never waiting", async () => {
    const { cpu, jit } = loopMachine();
    await jit.init();
    expect(jit.stats().compileThread).toBe("worker");
    // The interpreter keeps going while the batch compiles.
    cpu.run(50_000);
    expect(jit.stats().blocksLive).toBe(0);
    await jit.settled();
    await tick();
    const before = jit.stats().jitInstructions;
    cpu.run(1_000_000);
    const s = jit.stats();
    expect(s.blocksLive).toBeGreaterThan(0);
    expect(s.jitInstructions - before).toBeGreaterThan(900_000);
    expect(s.compileMs).toBeGreaterThan(0);
  });

  it("drops a block whose page was written while it compiled", async () => {
    const { cpu, mem, jit } = loopMachine();
    await jit.init();
    hold = [];
    try {
      for (let k = 0; k < 20 && hold.length === 0; k++) cpu.run(10_000);
      expect(hold.length).toBe(1);
      // The guest rewrites the loop (same code, new bytes: a write is a write) mid-compile.
      mem.load(0x100000, new Uint8Array([...LOOP, ...LOOP_TAIL]));
      for (const answer of hold.splice(0)) answer();
      await jit.settled();
    } finally {
      hold = null;
    }
    const s = jit.stats();
    expect(s.staleOnArrival).toBeGreaterThan(0);
    expect(s.blocksLive).toBe(0);
    // It is compiled again from the new bytes, and then runs.
    for (let k = 0; k < 50 && jit.stats().blocksLive === 0; k++) {
      cpu.run(10_000);
      await tick();
    }
    expect(jit.stats().blocksLive).toBeGreaterThan(0);
  });

  it("boots Linux to the same console output as with compiling on the engine's thread", async () => {
    const served0 = served;
    const boot = async (offThread: boolean) => {
      const { machine } = bootFromOptions({
        image: "linux",
        mode: "native",
        memMiB: 128,
        deterministic: true,
        quiet: true,
        jit: { offThread },
      });
      await machine.jitReady;
      let out = "";
      machine.on((e) => {
        if (e.type === "serial") out += String.fromCharCode(e.byte);
      });
      for (let k = 0; !out.includes("VIRTLAB-READY") && k < 2000; k++) {
        if (machine.runSlice(500_000).stopped) break;
        if (offThread) await new Promise((r) => setTimeout(r, 0));
      }
      return { out, stats: machine.jit!.stats(), icount: machine.cpu.icount };
    };
    const worker = await boot(true);
    const engine = await boot(false);
    expect(worker.out).toContain("VIRTLAB-READY");
    expect(worker.stats.compileThread).toBe("worker");
    expect(served - served0).toBeGreaterThan(10);
    expect(worker.stats.blocksCompiled).toBeGreaterThan(1000);
    expect(worker.stats.jitInstructions / worker.icount).toBeGreaterThan(0.5);
    // The guest's own output does not depend on when its code got compiled.
    const kernelLog = (s: string) => s.replace(/\r/g, "");
    expect(kernelLog(worker.out)).toBe(kernelLog(engine.out));
  });
});
