// The bare-metal test kernel (images/testkernel) must pass every check on VirtLab's CPU.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/engine/machine.ts";
import { bootMultiboot } from "../src/engine/boot/multiboot.ts";

/** Every check the kernel prints, in order (images/testkernel/README.md). */
const CHECKS = [
  "multiboot",
  "pmode",
  "gdt-reload",
  "far-transfer",
  "seg-accessed",
  "seg-base",
  "lsl-lar",
  "ltr-busy",
  "gp-selector",
  "gp-ss",
  "np-segment",
  "ud-ud2",
  "ud-invalid",
  "ud-lock",
  "ud-sse",
  "de-div0",
  "de-idiv-overflow",
  "de-div-overflow",
  "bp-int3",
  "of-into",
  "db-single-step",
  "fpu-basic",
  "nm-ts",
  "nm-em",
  "nm-wait",
  "int-gate-if",
  "trap-gate-if",
  "smc",
  "smc-loop",
  "paging-4k",
  "page-cross",
  "paging-pse",
  "invlpg",
  "cr3-reload",
  "paging-global",
  "accessed-dirty",
  "smc-alias",
  "pf-notpresent",
  "pf-fetch",
  "pf-wp",
  "wp0-write",
  "ring3-roundtrip",
  "iret-ring3",
  "pf-user-write",
  "pf-user-super",
  "gp-priv",
  "gp-hlt",
  "gp-cli",
  "gp-io",
  "gp-int-dpl",
  "call-gate",
  "df-taskgate",
];

export function runTestKernel(path = "public/images/testkernel.elf"): string[] {
  const m = new Machine({ memoryMiB: 16, deterministic: true });
  let out = "";
  m.on((e) => {
    if (e.type === "serial") out += String.fromCharCode(e.byte);
  });
  bootMultiboot(m, new Uint8Array(readFileSync(path)), { name: path });
  for (let k = 0; k < 200 && !/ALL PASS|SOME FAILED/.test(out); k++) {
    const r = m.runSlice(1_000_000);
    if (r.stopped) throw new Error(`guest stopped: ${m.lastReset?.reason}\n${m.lastReset?.state}`);
  }
  return out.replace(/\r/g, "").split("\n").filter(Boolean);
}

describe("bare-metal test kernel", () => {
  const lines = runTestKernel();
  it("starts", () => expect(lines[0]).toBe("VirtLab testkernel"));
  for (const name of CHECKS) it(`check ${name}`, () => expect(lines).toContain(`PASS ${name}`));
  it("prints no FAIL line and ends with ALL PASS", () => {
    expect(lines.filter((l) => l.startsWith("FAIL"))).toEqual([]);
    expect(lines[lines.length - 1]).toBe("ALL PASS");
    expect(lines.length).toBe(CHECKS.length + 2);
  });
});
