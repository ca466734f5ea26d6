// Deterministic runs (DESIGN.md principle 5): the same scripted session, run twice, gives the same
// serial output and the same counters, so a regression is a diff.
import { describe, expect, it } from "vitest";
import { createVM, type MachineStats } from "../../src/automation/node.ts";

/** The counters without the two wall-clock figures (how fast the host ran, not what the guest did). */
function counters(s: MachineStats): Omit<MachineStats, "wallMs" | "mips"> {
  const { wallMs: _w, mips: _m, ...rest } = s;
  return rest;
}

async function session(mode: "native" | "hw-noept") {
  const vm = createVM();
  await vm.boot("linux", { mode, deterministic: true });
  const results = [
    await vm.run("uname -a"),
    await vm.exec(
      "i=0; while [ $i -lt 5 ]; do (true); i=$((i+1)); done; echo forks-$i; date; cat /proc/uptime",
    ),
  ];
  await vm.type("echo typed\n");
  await vm.waitFor("typed\r\n");
  await vm.advance(250);
  return { output: await vm.output(), results, stats: counters(await vm.stats()) };
}

describe("two runs of the same scripted session", () => {
  // One mode keeps this test short; the regression suite diffs every mode against native.
  it.each(["hw-noept"] as const)("%s: identical output and counters", async (mode) => {
    const a = await session(mode);
    const b = await session(mode);
    expect(a.results[1]).toMatchObject({ status: 0 });
    expect(b.output).toBe(a.output);
    expect(b.results).toEqual(a.results);
    expect(b.stats).toEqual(a.stats);
    expect(a.stats.instructions).toBeGreaterThan(50e6); // a whole Linux boot and session
  });
});
