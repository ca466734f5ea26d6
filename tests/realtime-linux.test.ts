// Linux on a real-time machine (virtual time follows the host clock, src/engine/realtime-clock.ts):
// the kernel calibrates its TSC against the PIT and keeps it as its clocksource, its clock reads the
// host's date, and a sleep lasts at least as long as it says, also right after the boot.
import { describe, expect, it } from "vitest";
import { createVM } from "../src/automation/node.ts";

describe("Linux in real time", () => {
  it("calibrates the TSC, keeps the host's time, and sleeps for as long as asked", async () => {
    const vm = createVM();
    await vm.boot("linux", { mode: "native", deterministic: false, timeoutMs: 120_000 });
    const log = await vm.output();
    expect(log).toMatch(/tsc: (Fast TSC calibration using PIT|Detected \d+\.\d+ MHz processor)/);
    expect(log).not.toMatch(/Unable to calibrate|Marking TSC unstable|Calibrating delay loop\.\.\. /);
    const guest = Number((await vm.run("date +%s")).trim());
    expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(3);
    const t0 = performance.now();
    await vm.run("sleep 1");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    await vm.close();
  }, 180_000);
});
