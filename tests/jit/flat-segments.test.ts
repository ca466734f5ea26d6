// Compiled code treats ES, SS and DS as flat (linear = offset). With a data segment that is not flat
// the guest must still see its base and limit: the JIT declines and the interpreter runs, and the
// results equal a run without the JIT. FS and GS keep their bases inside compiled code.

import { describe, expect, it } from "vitest";
import { Cpu } from "../../src/engine/cpu/cpu.ts";
import { SEG_DS, SEG_FS } from "../../src/engine/cpu/decoder.ts";
import { IoBus } from "../../src/engine/io.ts";
import { PhysicalMemory } from "../../src/engine/memory/memory.ts";
import { prepareEnvironment } from "../../src/engine/cpu/snippet.ts";
import { Jit } from "../../src/jit/jit.ts";

// L: add eax,[esi]; add edx,fs:[esi+4]; mov [esi+8],eax; add esi,4; dec ecx; jnz L; hlt
const CODE = [0x03, 0x06, 0x64, 0x03, 0x56, 0x04, 0x89, 0x46, 0x08, 0x83, 0xc6, 0x04, 0x49, 0x75, 0xf1, 0xf4];
const DATA_BASE = 0x10000;
const FS_BASE = 0x20000;

async function run(withJit: boolean, dsBase: number) {
  const mem = new PhysicalMemory(8 << 20);
  const cpu = new Cpu(mem, new IoBus());
  const jit = new Jit(cpu, { threshold: 5, batch: 1 });
  await jit.init();
  cpu.jit = withJit ? jit : null;
  prepareEnvironment(cpu, mem, "kernel");
  mem.load(0x100000, new Uint8Array(CODE));
  for (let k = 0; k < 0x1000; k++) mem.u8[0x200000 + k] = (k * 37) & 0xff;
  // DS with base dsBase (flat when 0), FS with a base: same ring-0 data descriptor otherwise.
  cpu.setSegCache(SEG_DS, cpu.sel[SEG_DS], dsBase, -1, cpu.segAttr[SEG_DS]);
  cpu.setSegCache(SEG_FS, cpu.sel[SEG_DS], FS_BASE, -1, cpu.segAttr[SEG_DS]);
  cpu.eip = 0x100000;
  cpu.regs[4] = 0x380000;
  cpu.regs[6] = 0x200000 - dsBase; // ESI: the same linear buffer whatever DS's base
  cpu.regs[1] = 500;
  cpu.run(100_000);
  return {
    regs: Array.from(cpu.regs),
    out: Array.from(mem.u8.subarray(0x200000, 0x200000 + 2100)),
    compiled: jit.stats().jitInstructions,
    halted: cpu.halted,
  };
}

describe("flat data segments in compiled code", () => {
  it("runs compiled with flat ES/SS/DS, FS keeping its base", async () => {
    const interp = await run(false, 0);
    const jit = await run(true, 0);
    expect(interp.halted).toBe(true);
    expect(jit.compiled).toBeGreaterThan(1000);
    expect(jit.regs).toEqual(interp.regs);
    expect(jit.out).toEqual(interp.out);
  });

  it("leaves a non-flat DS to the interpreter, with the same results", async () => {
    const interp = await run(false, DATA_BASE);
    const jit = await run(true, DATA_BASE);
    expect(interp.halted).toBe(true);
    expect(jit.compiled).toBe(0);
    expect(jit.regs).toEqual(interp.regs);
    expect(jit.out).toEqual(interp.out);
  });
});
