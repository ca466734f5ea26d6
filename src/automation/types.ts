// The automation API: one interface, implemented in Node (src/automation/node.ts, the engine in the
// same process) and in the page (src/automation/browser.ts, a proxy to the engine Worker). Both are
// backed by the same engine-side code (src/automation/session.ts). docs/automation.md documents it
// with examples; `npm run build:types` emits the declarations to dist/types.
//
// Everything here is plain data so it crosses the page/Worker boundary unchanged (structured clone:
// RegExp and Uint8Array included).

import type { Mode } from "../engine/machine.ts";
import type { MachineStats } from "../engine/stats.ts";

export type { Mode, MachineStats };

export interface BootOptions {
  /** How the guest runs (default "native"). */
  mode?: Mode;
  /** Guest RAM in MiB (default 128 for Linux images, 16 for multiboot kernels). */
  memoryMiB?: number;
  /**
   * Virtual time from the instruction count and a fixed RTC epoch (default true): the same script
   * gives the same output and counters on every run. false: virtual time follows the host clock.
   */
  deterministic?: boolean;
  /** Kernel command line (default: the image's own, from the manifest). */
  cmdline?: string;
  /**
   * Wait until the image's ready marker (manifest `ready`, e.g. VIRTLAB-READY) has been printed,
   * and for Linux the shell prompt after it (default true). false: return as soon as it is booted.
   */
  waitForReady?: boolean;
  /** Wall-clock limit for waitForReady in ms (default 120000). */
  timeoutMs?: number;
}

export interface BootInfo {
  image: string;
  mode: Mode;
  memoryMiB: number;
  deterministic: boolean;
  cmdline: string;
  /** The manifest's ready marker, if the image has one. */
  ready: string | null;
  /** Guest instructions executed until boot() returned. */
  instructions: number;
}

export interface WaitOptions {
  /** Wall-clock limit in ms (default 60000). */
  timeoutMs?: number;
  /**
   * Where in the serial output to start looking, as a character offset (see `outputLength()`);
   * default: where the previous waitFor/run match ended (the "cursor"), so consecutive waits see
   * new output only.
   */
  from?: number;
}

export interface WaitMatch {
  /** The matched text. */
  text: string;
  /** Capture groups (undefined for groups that did not take part). */
  groups: (string | undefined)[];
  /** Offset of the match in the whole serial output. */
  index: number;
  /** Serial output from the start of the search to the end of the match. */
  output: string;
}

export interface RunOptions {
  /** Wall-clock limit in ms (default 60000). */
  timeoutMs?: number;
  /** run(): reject when the exit status is not 0 (default true). */
  check?: boolean;
}

export interface ExecResult {
  /** What the command printed (stdout and stderr as the terminal shows them, \r removed). */
  output: string;
  /** The shell's $? after the command. */
  status: number;
}

export interface TypeOptions {
  /** "serial" (default): COM1, where the Linux shell listens. "keyboard": PS/2 keys (tty1 on the VGA). */
  to?: "serial" | "keyboard";
}

export interface SessionState {
  image: string | null;
  mode: Mode | null;
  /** Guest instructions since boot. */
  instructions: number;
  /** Virtual time in ns. */
  virtualNs: number;
  /** The guest stopped (shutdown or triple fault); only boot() or restoreSnapshot() continue. */
  stopped: boolean;
  /** The guest kernel's panic message, if it panicked. */
  panic: string | null;
}

/** Error codes of AutomationError. */
export type AutomationErrorCode =
  | "timeout" // a wait ran out of wall-clock time
  | "halted" // the guest halted for good (nothing can wake it) before the wait matched
  | "stopped" // the guest reset or shut down
  | "panic" // the guest kernel panicked
  | "no-machine" // nothing booted yet
  | "bad-request" // invalid arguments (unknown mode, bad key name, ...)
  | "image" // the image is missing, corrupt or not bootable
  | "command-failed" // run() with a non-zero exit status
  | "unsupported" // the operation is not available (e.g. snapshots before the engine has them)
  | "internal";

/** The one error type the API rejects with, on both sides. */
export class AutomationError extends Error {
  override readonly name = "AutomationError";
  constructor(
    readonly code: AutomationErrorCode,
    message: string,
    /** For command-failed: the command's output and status. */
    readonly result?: ExecResult,
  ) {
    super(message);
  }
}

/**
 * One scripted VirtLab machine. All methods are async; the guest only runs while a call is waiting
 * for it (boot, waitFor, run/exec, advance), so a script is reproducible in deterministic mode.
 */
export interface VirtLabVM {
  /** Fetch, verify and boot an image from the manifest; replaces any current machine. */
  boot(image: string, opts?: BootOptions): Promise<BootInfo>;
  /** Run the guest until its serial output (COM1) matches `pattern`. */
  waitFor(pattern: RegExp | string, opts?: WaitOptions): Promise<WaitMatch>;
  /** Type text into COM1 (default) or as PS/2 key presses. Returns at once; the guest reads it as it runs. */
  type(text: string, opts?: TypeOptions): Promise<void>;
  /**
   * Press a key: a KeyboardEvent.code ("Enter", "KeyA", "ArrowUp", "F1") or a chord with modifiers
   * ("Control+KeyC", "Control+Alt+Delete"). On the serial port the equivalent bytes are sent.
   */
  press(key: string, opts?: TypeOptions): Promise<void>;
  /** Run a shell command on the serial console; resolves to its output. Rejects on a non-zero status unless check: false. */
  run(command: string, opts?: RunOptions): Promise<string>;
  /** Run a shell command and get its output and exit status. */
  exec(command: string, opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Run the guest for this much virtual time (ms). */
  advance(virtualMs: number): Promise<void>;
  /** All serial output since boot (COM1, UTF-8). */
  output(): Promise<string>;
  /** Length of output() — an offset for WaitOptions.from. */
  outputLength(): Promise<number>;
  /** The engine's counters (collectStats): instructions, TLB, vectors, I/O, and the mode's own. */
  stats(): Promise<MachineStats>;
  state(): Promise<SessionState>;
  /** Save the whole machine (CPU, memory, devices, monitor) as bytes. */
  saveSnapshot(): Promise<Uint8Array>;
  /** Replace the machine with one restored from saveSnapshot() bytes. */
  restoreSnapshot(bytes: Uint8Array): Promise<void>;
  /** The VGA text screen as a PNG (720x400: 80x25 cells of 9x16 pixels, VGA font). */
  screenshot(): Promise<Uint8Array>;
  /** The VGA text screen as text (25 lines). */
  screenText(): Promise<string>;
  /**
   * Switch the running machine to another mode at an instruction boundary (native, bt, hw,
   * hw-noept; the monitor rebuilds shadow tables / EPT lazily). PV is negotiated by the guest at
   * boot: switching to or from pv is refused; boot with { mode: "pv" } instead.
   */
  setMode(mode: Mode): Promise<void>;
  /** Drop the machine. */
  close(): Promise<void>;
}

/** Method names of VirtLabVM (the RPC's vocabulary). */
export type VmMethod = keyof VirtLabVM;
export const VM_METHODS: readonly VmMethod[] = [
  "boot",
  "waitFor",
  "type",
  "press",
  "run",
  "exec",
  "advance",
  "output",
  "outputLength",
  "stats",
  "state",
  "saveSnapshot",
  "restoreSnapshot",
  "screenshot",
  "screenText",
  "setMode",
  "close",
];
