// Differential testing on real guests: every compiled block of the test kernel and of the first
// millions of instructions of the Linux boot runs compiled, is undone, runs interpreted, and the
// registers, flags, EIP, faults and stores must agree.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../../src/engine/machine.ts";
import { bootMultiboot } from "../../src/engine/boot/multiboot.ts";
import { bootFromOptions, type RunOptions } from "../../src/cli/main.ts";

describe("JIT lockstep against the interpreter", () => {
  it("test kernel: all checks pass and every compiled block agrees", async () => {
    const m = new Machine({
      memoryMiB: 16,
      deterministic: true,
      jit: { lockstep: true, threshold: 2, batch: 8 },
    });
    await m.jitReady;
    let out = "";
    m.on((e) => {
      if (e.type === "serial") out += String.fromCharCode(e.byte);
    });
    const path = "public/images/testkernel.elf";
    bootMultiboot(m, new Uint8Array(readFileSync(path)), { name: path });
    for (let k = 0; k < 100 && !/ALL PASS|FAIL/.test(out); k++) m.runSlice(1_000_000);
    expect(out).toContain("ALL PASS");
    const s = m.jit!.stats();
    expect(m.jit!.mismatches).toEqual([]);
    expect(s.lockstepBlocks).toBeGreaterThan(3000);
  });

  const linux = (jit: RunOptions["jit"]) =>
    bootFromOptions({ image: "linux", mode: "native", memMiB: 128, deterministic: true, quiet: true, jit })
      .machine;

  it("Linux boot: the first 5M instructions agree block by block", async () => {
    const m = linux("lockstep");
    await m.jitReady;
    while (m.cpu.icount < 5_000_000) m.runSlice(1_000_000);
    const s = m.jit!.stats();
    expect(m.jit!.mismatches).toEqual([]);
    expect(s.lockstepBlocks).toBeGreaterThan(100_000);
    expect(s.blocksCompiled).toBeGreaterThan(10);
  });

  it("Linux boot: hot blocks (memory accesses inlined) agree block by block over 3M instructions", () => {
    const m = linux({ lockstep: true, throwOnMismatch: true, threshold: 20, batch: 16, hotRuns: 0 });
    while (m.cpu.icount < 3_000_000) m.runSlice(1_000_000);
    expect(m.jit!.mismatches).toEqual([]);
    expect(m.jit!.stats().lockstepBlocks).toBeGreaterThan(50_000);
  });

  it("the JIT is on by default and runs most of the Linux boot, hot blocks compiled again", async () => {
    const m = linux(undefined);
    await m.jitReady;
    while (m.cpu.icount < 30_000_000) m.runSlice(1_000_000);
    const s = m.jit!.stats();
    expect(s.jitInstructions / m.cpu.icount).toBeGreaterThan(0.5);
    // The kernel's decompressor and memory setup loops run thousands of times: compiled again.
    expect(s.hotRecompiles).toBeGreaterThan(10);
    // The explorer shows the code that runs: the most-run block is a hot one, its accesses inline.
    const wat = (await m.jit!.blockWasm(m.jit!.hotBlocks(1)[0].id))!;
    expect(wat).toMatch(/\(i32\.load offset=\d+/);
    expect(wat).not.toMatch(/\(call \$(ld|st|lw|sw)[124]f?\b/);
  });
});
