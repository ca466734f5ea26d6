// Virtual time for real-time machines: it follows the host clock over any stretch the user can
// notice, but inside the guest it advances with the instruction count, like a CPU's clock.
//
// Reading the host clock directly made the TSC and the PIT jump with every pause of the emulator
// (a slice boundary, a garbage collection, a batch of JIT compiling) and freeze between coarse host
// ticks (browsers round performance.now() to 5-100 µs). Linux then failed both PIT calibrations
// of the TSC ("tsc: Unable to calibrate against PIT"), marked the TSC unstable, timed its delay loop
// and ran on the PIT clocksource, where every clock read is port I/O.
//
// Here virtual time is linear in the instruction count between re-anchorings, at a rate (ns per
// instruction) steered toward the host clock: the measured emulator speed, corrected so that any
// lag or lead closes over STEER_NS. The guest sees a smooth clock whose rate drifts slowly. While
// it is halted, virtual time catches up with the host one timer event at a time (nothing runs to
// see the jump, and no tick is lost); after a long host stall (a background tab) it jumps.
//
// The virtual CPU is never slower than 10 MIPS (MAX_RATE): while the emulator runs slower than
// that (interpreting cold code on a slow host), virtual time falls behind the host instead of
// stretching each instruction, so that a stretch with interrupts off cannot span many timer
// periods — a lost tick desynchronises the PIT from the TSC, and Linux's clocksource watchdog then
// throws the TSC out. A lead over the host is steered away; a lag is made up when the guest next
// waits (or by steering, once the emulator is fast enough). Measured on the Linux image, the
// boot loses no tick even with no bound at all; the bound is for slower hosts.

/** Horizon over which a lag or lead behind the host clock is closed. */
const STEER_NS = 20e6;
/** Host time a speed measurement spans (coarse host clocks need a long enough window). */
const MEASURE_NS = 2e6;
/** A lag beyond this is a host stall: jump instead of steering. */
const MAX_LAG_NS = 5e9;
/** Fastest rate (ns per instruction): a 10-GIPS CPU. */
const MIN_RATE = 0.1;
/** Slowest rate: a 10-MIPS CPU. */
const MAX_RATE = 100;

export class RealTimeClock {
  /** Virtual time at `baseIcount`. */
  private baseNs = 0;
  private baseIcount = 0;
  /** Current rate, ns of virtual time per instruction. */
  rate: number;
  /** Measured host ns per instruction while running (smoothed). */
  private measured: number;
  private windowHost = 0;
  private windowIcount = 0;

  constructor(
    /** Host time in ns since the machine started. */
    private readonly host: () => number,
    /** Slowest rate, ns per instruction. */
    private readonly maxRate = MAX_RATE,
  ) {
    this.rate = maxRate;
    this.measured = maxRate;
    this.windowHost = host();
  }

  /** Virtual time in ns at instruction count `icount` (monotonic in `icount`). */
  at(icount: number): number {
    return this.baseNs + (icount - this.baseIcount) * this.rate;
  }

  /**
   * Called between runs of guest code: measure the emulator's speed and steer the rate so that
   * virtual time meets the host clock. `halted`: the guest waits for an interrupt, so virtual time
   * may simply catch up — but not past `deadline`, the next device event, so that a guest woken
   * late takes each timer tick it slept through instead of losing all but one.
   */
  sync(icount: number, halted: boolean, deadline = Infinity): void {
    const host = this.host();
    const vt = this.at(icount);
    const dHost = host - this.windowHost;
    const dIcount = icount - this.windowIcount;
    if (halted || dHost > MAX_LAG_NS) {
      // Idle or stalled host time says nothing about the emulator's speed.
      this.windowHost = host;
      this.windowIcount = icount;
    } else if (dHost >= MEASURE_NS && dIcount > 0) {
      // A pause of the host (garbage collection, a batch of compiling) is lag for the steering to
      // close, not a change of speed: one window moves the estimate only so far.
      const sample = Math.min(this.measured * 1.5, Math.max(this.measured / 1.5, dHost / dIcount));
      this.measured = Math.min(this.maxRate, Math.max(MIN_RATE, 0.75 * this.measured + 0.25 * sample));
      this.windowHost = host;
      this.windowIcount = icount;
    }
    const lag = host - vt;
    this.baseIcount = icount;
    if (lag > MAX_LAG_NS) {
      this.baseNs = host;
      return;
    }
    if (halted) {
      this.baseNs = Math.max(vt, Math.min(host, deadline));
      return;
    }
    this.baseNs = vt;
    const steer = Math.min(2, Math.max(0.25, 1 + lag / STEER_NS));
    this.rate = Math.min(this.maxRate, Math.max(MIN_RATE, this.measured * steer));
  }

  /** Continue from virtual time `ns` at `icount` (snapshot restore). */
  reset(ns: number, icount: number): void {
    this.baseNs = ns;
    this.baseIcount = icount;
    this.windowHost = this.host();
    this.windowIcount = icount;
  }
}
