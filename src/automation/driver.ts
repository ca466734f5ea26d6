// The host side of running a Machine: slices of guest instructions until a condition holds, with
// the serial output decoded as it comes, kernel panics and guest resets noticed, wall-clock limits,
// and sleeping while a real-time guest is halted. Shared by the automation session (Node and the
// page's Worker) and the `virtlab run` CLI. No DOM and no node:* imports: the host supplies how to
// yield to its event loop.

import type { Machine } from "../engine/machine.ts";

/** How the driver gives the event loop a turn (setImmediate in Node, a MessageChannel in a Worker). */
export interface DriverHost {
  /** Let other work run, then continue as soon as possible. */
  yield(): Promise<void>;
  /** Sleep for about this long (the guest is halted in real-time mode). */
  sleep(ms: number): Promise<void>;
}

export type StopReason =
  | "done" // the condition holds
  | "timeout" // the wall-clock limit passed
  | "halted" // the guest halted for good (no interrupt can ever wake it)
  | "stopped" // the guest reset or shut down
  | "panic"; // the guest kernel panicked

export interface RunUntilOptions {
  /** Wall-clock limit in ms (default: none). */
  timeoutMs?: number;
}

/** Instructions per runSlice() call. Fixed, so deterministic runs stop at the same instruction. */
export const SLICE_INSTRUCTIONS = 1_000_000;
/** Serial output kept in memory (characters); older output is dropped from the front. */
const OUTPUT_LIMIT = 32 << 20;

export class MachineDriver {
  /** COM1 output since boot, decoded as UTF-8 (the last 32 Mi characters). */
  output = "";
  /** Characters dropped from the front of `output` (so offsets stay absolute). */
  dropped = 0;
  /** Called with each piece of decoded COM1 output, once per slice that produced any. */
  onOutput: ((text: string) => void) | null = null;
  /** Wall time spent executing guest code (ms). */
  busyMs = 0;
  private readonly decoder = new TextDecoder();
  private pending: number[] = [];
  private readonly unlisten: () => void;

  constructor(
    readonly machine: Machine,
    private readonly host: DriverHost,
    private readonly sliceInstructions = SLICE_INSTRUCTIONS,
  ) {
    this.unlisten = machine.on((e) => {
      if (e.type === "serial" && e.port === 0) this.pending.push(e.byte);
    });
  }

  /** Offset just past the last character of output (absolute, counting dropped characters). */
  get length(): number {
    return this.dropped + this.output.length;
  }

  /** Output from absolute offset `from` on. */
  since(from: number): string {
    return this.output.slice(Math.max(0, from - this.dropped));
  }

  get panic(): string | null {
    return this.machine.panicMessage;
  }

  get stopped(): boolean {
    return this.machine.cpu.shutdown;
  }

  /** Decode the serial bytes of the last slice. */
  flush(): void {
    if (!this.pending.length) return;
    const text = this.decoder.decode(new Uint8Array(this.pending), { stream: true });
    this.pending = [];
    if (!text) return;
    this.output += text;
    if (this.output.length > OUTPUT_LIMIT) {
      const cut = this.output.length - OUTPUT_LIMIT;
      this.output = this.output.slice(cut);
      this.dropped += cut;
    }
    this.onOutput?.(text);
  }

  /**
   * Run the guest until `done()` holds (checked before the first slice and after every slice).
   * In deterministic mode every slice is the same number of instructions, so the same calls stop
   * at the same instruction on every run.
   */
  async runUntil(done: () => boolean, opts: RunUntilOptions = {}): Promise<StopReason> {
    const m = this.machine;
    const start = performance.now();
    const deadline = opts.timeoutMs !== undefined ? start + opts.timeoutMs : Infinity;
    let lastYield = start;
    for (;;) {
      this.flush();
      if (done()) return "done";
      if (this.panic !== null) return "panic";
      if (m.cpu.shutdown) return "stopped";
      const now = performance.now();
      if (now >= deadline) return "timeout";
      const t0 = performance.now();
      const r = m.runSlice(this.sliceInstructions);
      const t1 = performance.now();
      this.busyMs += t1 - t0;
      if (r.stopped) continue; // reported above, after the output is flushed
      if (r.idleUntilNs === Infinity && m.deterministic) {
        this.flush();
        return done() ? "done" : "halted";
      }
      if (r.idleUntilNs !== null) {
        // Real-time mode: the guest waits for a timer; sleep until then (at most 50 ms at a time).
        this.flush();
        if (done()) return "done";
        const waitMs = r.idleUntilNs === Infinity ? 50 : Math.min(50, (r.idleUntilNs - m.now()) / 1e6);
        await this.host.sleep(Math.max(0, waitMs));
        lastYield = performance.now();
      } else if (t1 - lastYield >= 30) {
        await this.host.yield();
        lastYield = performance.now();
      }
    }
  }

  /** Stop listening to the machine. */
  detach(): void {
    this.flush();
    this.unlisten();
  }
}
