// Real-time virtual time (src/engine/realtime-clock.ts): linear in the instruction count between
// looks at the host clock, steered toward it, never ahead of it, catching up while halted one device
// deadline at a time. The host clock here is a variable the test moves.
import { describe, expect, it } from "vitest";
import { RealTimeClock } from "../src/engine/realtime-clock.ts";

/** An emulator running at `mips` for `ms` of host time in slices of `slice` instructions. */
function run(
  c: RealTimeClock,
  h: { ns: number; icount: number },
  mips: number,
  ms: number,
  slice = 20_000,
): void {
  const end = h.ns + ms * 1e6;
  while (h.ns < end) {
    c.sync(h.icount, false);
    h.icount += slice;
    h.ns += (slice / mips) * 1e3;
  }
}

describe("RealTimeClock", () => {
  it("is linear in the instruction count between syncs", () => {
    const h = { ns: 0, icount: 0 };
    const c = new RealTimeClock(() => h.ns, 10);
    c.sync(0, false);
    const t0 = c.at(1000);
    expect(c.at(2000) - t0).toBeCloseTo(c.at(3000) - c.at(2000), 6);
    expect(c.at(1000) - c.at(0)).toBeCloseTo(1000 * c.rate, 6);
  });

  it("tracks the host clock when the emulator is faster than the slowest rate", () => {
    const h = { ns: 0, icount: 0 };
    const c = new RealTimeClock(() => h.ns, 10);
    run(c, h, 300, 500); // a 300-MIPS emulator: 3.3 ns of host time per instruction
    expect(c.rate).toBeGreaterThan(2.5);
    expect(c.rate).toBeLessThan(4.5);
    expect(Math.abs(c.at(h.icount) - h.ns)).toBeLessThan(5e6);
  });

  it("never runs slower than the slowest rate: a slow emulator lags, and catches up while halted", () => {
    const h = { ns: 0, icount: 0 };
    const c = new RealTimeClock(() => h.ns, 10);
    run(c, h, 20, 200); // 20 MIPS: 50 ns of host time per instruction, but at most 10 ns of virtual
    expect(c.rate).toBe(10);
    const vt = c.at(h.icount);
    expect(vt).toBeCloseTo(h.icount * 10, -3);
    expect(h.ns - vt).toBeGreaterThan(150e6);
    // Halted with a timer due 10 ms ahead: virtual time goes to the deadline, not past it.
    c.sync(h.icount, true, vt + 10e6);
    expect(c.at(h.icount)).toBeCloseTo(vt + 10e6, 0);
    // With no deadline it catches up with the host at once.
    c.sync(h.icount, true);
    expect(c.at(h.icount)).toBeCloseTo(h.ns, 0);
  });

  it("is monotonic through speed changes, halts and stalls", () => {
    const h = { ns: 0, icount: 0 };
    const c = new RealTimeClock(() => h.ns, 10);
    let last = -1;
    const check = () => {
      const t = c.at(h.icount);
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
    };
    for (const mips of [5, 400, 50, 1000, 2]) {
      for (let k = 0; k < 200; k++) {
        c.sync(h.icount, false);
        check();
        h.icount += 10_000;
        h.ns += (10_000 / mips) * 1e3;
        check();
      }
      h.ns += 30e6; // a pause of the host (garbage collection, compiling)
      c.sync(h.icount, k2(mips));
      check();
    }
    function k2(m: number): boolean {
      return m === 50;
    }
  });

  it("jumps after a long host stall instead of racing to catch up", () => {
    const h = { ns: 0, icount: 0 };
    const c = new RealTimeClock(() => h.ns, 10);
    run(c, h, 300, 50);
    h.ns += 60e9; // a minute in a background tab
    c.sync(h.icount, false);
    expect(c.at(h.icount)).toBeCloseTo(h.ns, 0);
  });

  it("changes its rate gradually (Linux checks that TSC deltas stay within 10x of each other)", () => {
    const h = { ns: 0, icount: 0 };
    const c = new RealTimeClock(() => h.ns, 10);
    run(c, h, 500, 100);
    // A 30 ms compile pause, then 100 ms on at full speed: the lag closes at most twice as fast.
    const before = c.rate;
    h.ns += 30e6;
    let max = before;
    for (let k = 0; k < 2500; k++) {
      c.sync(h.icount, false);
      max = Math.max(max, c.rate);
      h.icount += 20_000;
      h.ns += 40e3;
    }
    expect(max / before).toBeLessThanOrEqual(2.5);
    expect(Math.abs(c.at(h.icount) - h.ns)).toBeLessThan(2e6);
  });
});
