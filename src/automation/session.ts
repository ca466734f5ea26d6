// The engine side of the automation API, written once: it owns a Machine and implements VirtLabVM
// on it. It runs unchanged in Node (src/automation/node.ts) and in the page's engine Worker
// (src/automation/worker-rpc.ts). No DOM, no node:* imports: the host supplies images, the event
// loop and snapshots.
//
// The guest runs only while a call waits for it (boot, waitFor, run/exec, advance), in slices of a
// fixed number of instructions; with deterministic time the same script therefore reaches the same
// instruction, output and counters on every run.

import { ImageError } from "../engine/boot/errors.ts";
import type { Machine, Mode } from "../engine/machine.ts";
import { MODES } from "../engine/machine.ts";
import { collectStats, type MachineStats } from "../engine/stats.ts";
import { switchMode } from "../engine/vmm/switch-mode.ts";
import { MachineDriver, type DriverHost, type StopReason } from "./driver.ts";
import { defaultMemoryMiB, loadImage, machineFromImage, type ImageSource } from "./images.ts";
import { chordToSerial, parseChord, pressOnKeyboard } from "./keys.ts";
import { textScreenPng, textScreenText } from "./screen.ts";
import {
  AutomationError,
  type BootInfo,
  type BootOptions,
  type ExecResult,
  type RunOptions,
  type SessionState,
  type TypeOptions,
  type VirtLabVM,
  type WaitMatch,
  type WaitOptions,
} from "./types.ts";

/** Whole-machine snapshots (src/engine/snapshot.ts), supplied by the host. */
export interface SnapshotCodec {
  save(m: Machine): Promise<Uint8Array>;
  load(bytes: Uint8Array): Promise<Machine>;
}

export interface SessionHost extends DriverHost {
  images: ImageSource;
  /** Absent: saveSnapshot/restoreSnapshot reject with "unsupported". */
  snapshots?: () => Promise<SnapshotCodec>;
}

const DEFAULT_WAIT_MS = 60_000;
const DEFAULT_BOOT_MS = 120_000;
/** A shell prompt (busybox prints ESC[6n after it, so it is not anchored at the end). */
const PROMPT = /[#$] /;

function describeStop(
  reason: StopReason,
  what: string,
  d: MachineDriver,
  timeoutMs: number,
): AutomationError {
  const tail = d.output.slice(-800);
  const code = reason === "done" ? "internal" : reason;
  const why =
    reason === "timeout"
      ? `timeout after ${timeoutMs} ms`
      : reason === "halted"
        ? "the guest halted for good (no interrupt can wake it)"
        : reason === "panic"
          ? `the guest kernel panicked: ${d.panic}`
          : reason === "stopped"
            ? `the guest stopped (${d.machine.lastReset?.reason ?? "shutdown"})`
            : "unexpected stop";
  return new AutomationError(code, `${why} while waiting for ${what}; last output:\n${tail}`);
}

function toRegExp(p: RegExp | string): RegExp {
  if (p instanceof RegExp) return new RegExp(p.source, p.flags.replace(/[gy]/g, ""));
  if (typeof p === "string") return new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  throw new AutomationError("bad-request", "waitFor needs a RegExp or a string");
}

export class AutomationSession implements VirtLabVM {
  private driver: MachineDriver | null = null;
  private info: BootInfo | null = null;
  /** Where the next waitFor starts looking (absolute output offset). */
  private cursor = 0;
  private commands = 0;
  /** Called with new COM1 output (the page shows it in its terminal). */
  onOutput: ((text: string) => void) | null = null;
  /** Called when boot() or restoreSnapshot() replaces the machine. */
  onMachine: ((m: Machine | null) => void) | null = null;

  constructor(private readonly host: SessionHost) {}

  /** The current machine (for hosts and tests; scripts use the methods). */
  get machine(): Machine | null {
    return this.driver?.machine ?? null;
  }

  private need(): MachineDriver {
    if (!this.driver) throw new AutomationError("no-machine", "no machine: call boot() first");
    return this.driver;
  }

  private attach(m: Machine, keepOutput: boolean): void {
    const old = this.driver;
    old?.detach();
    const d = new MachineDriver(m, this.host);
    if (keepOutput && old) {
      d.output = old.output;
      d.dropped = old.dropped;
    } else this.cursor = 0;
    d.onOutput = (t) => this.onOutput?.(t);
    this.driver = d;
    this.onMachine?.(m);
  }

  async boot(image: string, opts: BootOptions = {}): Promise<BootInfo> {
    if (opts.mode !== undefined && !MODES.includes(opts.mode))
      throw new AutomationError(
        "bad-request",
        `unknown mode "${String(opts.mode)}" (modes: ${MODES.join(", ")})`,
      );
    let machine: Machine;
    let loaded;
    try {
      loaded = await loadImage(this.host.images, image);
      machine = machineFromImage(loaded, {
        mode: opts.mode,
        memoryMiB: opts.memoryMiB,
        deterministic: opts.deterministic ?? true,
        cmdline: opts.cmdline,
      });
    } catch (e) {
      if (e instanceof ImageError) throw new AutomationError("image", e.message);
      if (e instanceof RangeError || (e instanceof Error && /memory size/.test(e.message)))
        throw new AutomationError("bad-request", e.message);
      throw e;
    }
    // Deterministic runs compile the same blocks at the same points only if the JIT (when the engine
    // has one) is there from the first instruction.
    const jitReady = (machine as { jitReady?: Promise<unknown> }).jitReady;
    if (machine.deterministic && jitReady) await jitReady;
    this.driver?.detach();
    this.driver = null;
    this.attach(machine, false);
    const entry = loaded.entry;
    this.info = {
      image: entry.name,
      mode: machine.mode,
      memoryMiB: opts.memoryMiB ?? defaultMemoryMiB(entry),
      deterministic: machine.deterministic,
      cmdline: opts.cmdline ?? entry.cmdline ?? "",
      ready: entry.ready ?? null,
      instructions: 0,
    };
    if (opts.waitForReady !== false && entry.ready) {
      const timeoutMs = opts.timeoutMs ?? DEFAULT_BOOT_MS;
      const t0 = performance.now();
      await this.waitFor(entry.ready, { timeoutMs });
      // A Linux shell reads input only once its tty is open: wait for its prompt too.
      if (entry.boot === "linux")
        await this.waitFor(PROMPT, { timeoutMs: Math.max(1000, timeoutMs - (performance.now() - t0)) });
    }
    this.info.instructions = machine.cpu.icount;
    return { ...this.info };
  }

  async waitFor(pattern: RegExp | string, opts: WaitOptions = {}): Promise<WaitMatch> {
    const d = this.need();
    const re = toRegExp(pattern);
    const from = opts.from ?? this.cursor;
    if (!Number.isInteger(from) || from < 0)
      throw new AutomationError("bad-request", `from must be an offset >= 0`);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    let m: RegExpExecArray | null = null;
    // Only output since the last look can complete a match, but a match may span slices: search
    // from `from` each time (outputs of interest are small; Linux boots print ~60 KB).
    const reason = await d.runUntil(() => (m = re.exec(d.since(from))) !== null, { timeoutMs });
    if (reason !== "done" || !m) throw describeStop(reason, String(re), d, timeoutMs);
    const match = m as RegExpExecArray;
    const start = Math.max(from, d.dropped);
    const index = start + match.index;
    this.cursor = index + match[0].length;
    return {
      text: match[0],
      groups: match.slice(1),
      index,
      output: d.since(start).slice(0, match.index + match[0].length),
    };
  }

  async type(text: string, opts: TypeOptions = {}): Promise<void> {
    const d = this.need();
    if (typeof text !== "string") throw new AutomationError("bad-request", "type() needs a string");
    if ((opts.to ?? "serial") === "serial") d.machine.com1.receive(text);
    else if (opts.to === "keyboard") {
      try {
        d.machine.i8042.typeText(text);
      } catch (e) {
        throw new AutomationError("bad-request", (e as Error).message);
      }
    } else throw new AutomationError("bad-request", `type(): "to" must be "serial" or "keyboard"`);
  }

  async press(key: string, opts: TypeOptions = {}): Promise<void> {
    const d = this.need();
    try {
      const chord = parseChord(key);
      if ((opts.to ?? "serial") === "serial") d.machine.com1.receive(chordToSerial(chord));
      else pressOnKeyboard(chord, d.machine.i8042);
    } catch (e) {
      throw new AutomationError("bad-request", (e as Error).message);
    }
  }

  async exec(command: string, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const d = this.need();
    if (typeof command !== "string" || /[\r\n]/.test(command.replace(/\n$/, "")))
      throw new AutomationError(
        "bad-request",
        "exec() takes one command line (use ; or && to chain commands)",
      );
    const n = ++this.commands;
    const from = d.length;
    // The status marker: printed by printf after the command; the terminal's echo of this line
    // shows "%s" where the output has the digits, so the echo never matches.
    const tail = `'\\n__VL%s_%s__\\n' ${n} $?`;
    this.cursor = from;
    d.machine.com1.receive(`${command.replace(/\n$/, "")}; printf ${tail}\n`);
    const m = await this.waitFor(new RegExp(`__VL${n}_(\\d+)__`), { from, timeoutMs: opts.timeoutMs });
    const status = Number(m.groups[0]);
    // The output starts after the echoed command line (the last echo of its tail before the marker).
    let text = m.output.slice(0, m.output.length - m.text.length);
    const echo = text.lastIndexOf(`${n} $?`);
    if (echo >= 0) {
      const nl = text.indexOf("\n", echo);
      text = nl >= 0 ? text.slice(nl + 1) : "";
    }
    text = text.replace(/\r/g, "");
    // printf's leading newline, which puts the marker on a line of its own.
    if (text.endsWith("\n")) text = text.slice(0, -1);
    return { output: text, status };
  }

  async run(command: string, opts: RunOptions = {}): Promise<string> {
    const r = await this.exec(command, { timeoutMs: opts.timeoutMs });
    if (r.status !== 0 && opts.check !== false)
      throw new AutomationError(
        "command-failed",
        `"${command}" exited with status ${r.status}:\n${r.output}`,
        r,
      );
    return r.output;
  }

  async advance(virtualMs: number): Promise<void> {
    const d = this.need();
    if (!(virtualMs >= 0)) throw new AutomationError("bad-request", "advance() needs a time in ms >= 0");
    const target = d.machine.now() + virtualMs * 1e6;
    const timeoutMs = Math.max(DEFAULT_WAIT_MS, virtualMs * 10);
    const reason = await d.runUntil(() => d.machine.now() >= target, { timeoutMs });
    if (reason !== "done" && reason !== "halted")
      throw describeStop(reason, `${virtualMs} ms of virtual time`, d, timeoutMs);
  }

  async output(): Promise<string> {
    return this.driver?.output ?? "";
  }

  async outputLength(): Promise<number> {
    return this.driver?.length ?? 0;
  }

  async stats(): Promise<MachineStats> {
    const d = this.need();
    return collectStats(d.machine, d.busyMs);
  }

  async state(): Promise<SessionState> {
    const d = this.driver;
    return {
      image: this.info?.image ?? null,
      mode: d?.machine.mode ?? null,
      instructions: d?.machine.cpu.icount ?? 0,
      virtualNs: d ? Math.round(d.machine.now()) : 0,
      stopped: d?.stopped ?? false,
      panic: d?.panic ?? null,
    };
  }

  private async codec(): Promise<SnapshotCodec> {
    const c = await this.host.snapshots?.();
    if (!c) throw new AutomationError("unsupported", "snapshots are not available in this build");
    return c;
  }

  async saveSnapshot(): Promise<Uint8Array> {
    const d = this.need();
    d.flush();
    return (await this.codec()).save(d.machine);
  }

  async restoreSnapshot(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array))
      throw new AutomationError("bad-request", "restoreSnapshot() needs a Uint8Array");
    const codec = await this.codec();
    let m: Machine;
    try {
      m = await codec.load(bytes);
    } catch (e) {
      throw new AutomationError("bad-request", `cannot restore the snapshot: ${(e as Error).message}`);
    }
    this.attach(m, true);
    this.cursor = this.driver!.length;
    if (this.info) this.info = { ...this.info, mode: m.mode };
  }

  async screenshot(): Promise<Uint8Array> {
    return textScreenPng(this.need().machine.vga.textScreen());
  }

  async screenText(): Promise<string> {
    return textScreenText(this.need().machine.vga.textScreen());
  }

  async setMode(mode: Mode): Promise<void> {
    const d = this.need();
    try {
      switchMode(d.machine, mode);
    } catch (e) {
      throw new AutomationError("bad-request", (e as Error).message);
    }
    if (this.info) this.info.mode = mode;
  }

  async close(): Promise<void> {
    this.driver?.detach();
    this.driver = null;
    this.info = null;
    this.onMachine?.(null);
  }
}
