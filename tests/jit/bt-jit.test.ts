// BT mode with the JIT as translator: compiled kernel blocks (including the uncompiled data
// instructions they run inline through the interpreter) are counted once, as translated code, and
// the guest sees exactly what it sees on the interpreter.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { Machine, type Mode } from "../../src/engine/machine.ts";
import { bootMultiboot } from "../../src/engine/boot/multiboot.ts";

async function run(mode: Mode, jit: boolean) {
  const m = new Machine({ memoryMiB: 16, deterministic: true, mode, jit: jit && { threshold: 5, batch: 8 } });
  await m.jitReady;
  let out = "";
  m.on((e) => {
    if (e.type === "serial") out += String.fromCharCode(e.byte);
  });
  const path = "public/images/teachkernel.elf";
  bootMultiboot(m, new Uint8Array(readFileSync(path)), { name: path, cmdline: "workload=all ops=200" });
  for (let k = 0; k < 400 && !/TEACHKERNEL (DONE|PANIC)/.test(out); k++) {
    const r = m.runSlice(1_000_000);
    if (r.stopped || r.idleUntilNs === Infinity) break;
  }
  return { m, out };
}

it("counts compiled and inline-run kernel instructions once, as translated", async () => {
  const interp = await run("bt", false);
  const jit = await run("bt", true);
  expect(interp.out).toContain("TEACHKERNEL DONE");
  expect(jit.out).toBe(interp.out);
  expect(jit.m.cpu.icount).toBe(interp.m.cpu.icount);
  const js = jit.m.jit!.stats();
  expect(js.jitInstructions).toBeGreaterThan(jit.m.cpu.icount / 4);
  expect(Object.keys(js.fallbacks).some((k) => k.endsWith("(inline)"))).toBe(true);
  const a = interp.m.bt!.snapshot(),
    b = jit.m.bt!.snapshot();
  expect(b.translatedInsns + b.directInsns).toBe(jit.m.cpu.icount);
  expect(b.translatedInsns).toBe(a.translatedInsns);
  expect(b.callouts).toEqual(a.callouts);
}, 120_000);
