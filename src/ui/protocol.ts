// The typed message API between the page (src/ui/main.ts) and the engine's Web Worker
// (src/ui/worker.ts). DESIGN.md principle 3: the engine knows no DOM; the page never touches a
// Machine, it only posts PageToWorker messages and reacts to WorkerToPage messages.
// Every message is a plain, structured-clonable object discriminated by `type`.
// docs/architecture-ui.md describes the protocol in prose.

import type { Mode } from "../engine/machine.ts";
import type { MachineStats } from "../engine/stats.ts";
import type { TextScreen } from "../engine/devices/vga.ts";
import type { SnapshotInfo } from "../engine/snapshot.ts";
import type { CompareResult } from "../engine/compare.ts";
import type { WalkExplanation } from "../engine/mmu/walk-explain.ts";
import type { BlockDescription, HotBlock, JitStats } from "../jit/jit.ts";
import type { AutomationCall, AutomationReply } from "../automation/rpc.ts";
import type { VirtLabVM } from "../automation/types.ts";

/** The automation API's one generic message pair (docs/automation.md): a VirtLabVM call and its reply. */
export type { AutomationCall, AutomationReply };

// ---- page → worker ------------------------------------------------------------------------------

/** Ask for the image list from the manifest; answered by `images` (or `error`). */
export interface ListImagesRequest {
  type: "listImages";
}

/** Fetch, verify and boot an image from the manifest; replaces any machine that is running. */
export interface BootRequest {
  type: "boot";
  /** Image name in /images/manifest.json. */
  image: string;
  /** Guest RAM in MiB (2..2047). */
  memoryMiB: number;
  /** Instruction-count-based virtual time and a fixed RTC epoch (reproducible runs). */
  deterministic: boolean;
  /** How the guest runs: natively or under a simulated hypervisor design (default "native"). */
  mode?: Mode;
}

/** Type into the first serial port (COM1). Ignored when no machine exists. */
export interface SerialInRequest {
  type: "serialIn";
  data: string;
}

export interface PauseRequest {
  type: "pause";
}

export interface ResumeRequest {
  type: "resume";
}

/** Power-cycle: boot the same image with the same options again (files are not re-fetched). */
export interface ResetRequest {
  type: "reset";
}

/** Ask for the counters; answered by `stats`. */
export interface StatsRequest {
  type: "stats";
}

/** A key pressed or released on the VGA screen (KeyboardEvent.code), for the i8042 keyboard. */
export interface KeyRequest {
  type: "key";
  code: string;
  down: boolean;
}

/**
 * Switch the running machine to another mode. Between native, bt, hw and hw-noept this happens live,
 * at an instruction boundary (src/engine/vmm/switch-mode.ts): the guest keeps running. PV is
 * negotiated by the guest at boot, so a switch to or from pv reboots the same image in the new mode.
 * Answered by `mode` (or `error`).
 */
export interface SetModeRequest {
  type: "setMode";
  mode: Mode;
}

/**
 * The page's tools, each answered by one `toolReply` with the same `id` (and `progress` messages on
 * the way for long ones).
 * - saveSnapshot: the whole machine (src/engine/snapshot.ts); `meta` is stored in the snapshot
 * - restoreSnapshot: replace the current machine with the snapshot's (hash-checked first)
 * - inspectSnapshot: check a file's hash and read its info without restoring it
 * - compare: run a workload in every mode (src/engine/compare.ts); the current machine is paused
 * - hotBlocks / describeBlock / blockWasm: the JIT explorer (machine.jit); blockWasm is the block's
 *   wasm as text, separate because binaryen, which disassembles it, loads on first use
 * - walk: the page-walk visualizer for a guest-virtual address (src/engine/mmu/walk-explain.ts)
 */
export type ToolCall =
  | { tool: "saveSnapshot"; meta?: Record<string, unknown> }
  | { tool: "restoreSnapshot"; bytes: Uint8Array }
  | { tool: "inspectSnapshot"; bytes: Uint8Array }
  | { tool: "compare"; image: string; workload: string; ops?: number }
  | { tool: "hotBlocks"; limit: number; endsSensitive?: boolean }
  | { tool: "describeBlock"; id: number }
  | { tool: "blockWasm"; id: number }
  | { tool: "walk"; address: number };

/** What each tool answers with. */
export interface ToolResults {
  saveSnapshot: { bytes: Uint8Array; info: SnapshotInfo };
  restoreSnapshot: SnapshotInfo;
  inspectSnapshot: SnapshotInfo;
  compare: CompareResult;
  hotBlocks: HotBlock[];
  describeBlock: ExplorerBlock | null;
  blockWasm: string | null;
  walk: WalkExplanation;
}

/** One row of the JIT explorer's x86 listing. */
export type ExplorerInsn = BlockDescription["insns"][number] & {
  /**
   * Not compiled: the sensitive or privileged instruction that ended the block. It runs outside
   * compiled code (in BT mode as its VMM callout, described in `callout`).
   */
  exit?: boolean;
};

/** A compiled block for the JIT explorer: the JIT's description plus the instruction that ended it. */
export interface ExplorerBlock extends Omit<BlockDescription, "insns"> {
  insns: ExplorerInsn[];
  /** The machine's mode (what a sensitive instruction becomes depends on it). */
  mode: Mode;
}

export interface ToolRequest {
  type: "tool";
  id: number;
  call: ToolCall;
}

export type PageToWorker =
  | ListImagesRequest
  | BootRequest
  | SerialInRequest
  | PauseRequest
  | ResumeRequest
  | ResetRequest
  | StatsRequest
  | KeyRequest
  | SetModeRequest
  | ToolRequest
  | AutomationCall;

// ---- worker → page ------------------------------------------------------------------------------

/**
 * What the machine is doing.
 * - idle: no machine (before the first boot, or after a boot failed)
 * - loading: fetching and verifying the image files
 * - running: executing guest instructions
 * - paused: stopped by the user; `resume` continues
 * - halted: the guest executed HLT and waits for an interrupt (or for input)
 * - stopped: the guest shut down or triple-faulted; only `boot` or `reset` continue
 */
export type RunState = "idle" | "loading" | "running" | "paused" | "halted" | "stopped";

export const RUN_STATES: readonly RunState[] = ["idle", "loading", "running", "paused", "halted", "stopped"];

/** One manifest entry as the page needs it. */
export interface ImageInfo {
  name: string;
  description: string;
  boot: string;
  /** The worker knows how to boot this image's `boot` method. */
  bootable: boolean;
  /** Total bytes of the image's files. */
  size: number;
}

export interface ImagesMessage {
  type: "images";
  images: ImageInfo[];
}

/** Guest output on COM1, decoded as UTF-8; one message per run slice that produced output. */
export interface SerialMessage {
  type: "serial";
  data: string;
}

/** Sent on every state change, and about every 250 ms while a machine runs or is halted. */
export interface StateMessage {
  type: "state";
  state: RunState;
  /** Image of the current machine, if any. */
  image: string | null;
  /** Guest instructions retired since boot. */
  instructions: number;
  /** Guest instructions per second of wall time spent executing (idle sleep excluded), in millions. */
  mips: number;
}

/**
 * Something went wrong. The page shows `message`; the worker stays usable.
 * - image: the manifest or an image file is missing, truncated, corrupt or not bootable
 * - request: a bad request (e.g. an invalid memory size, resume with no machine)
 * - internal: an exception inside the engine (a bug)
 */
export interface ErrorMessage {
  type: "error";
  kind: "image" | "request" | "internal";
  message: string;
  /** The file the error is about (ImageError), if any. */
  file?: string;
}

/** The guest kernel panicked (seen on its console); the machine keeps running what the guest does next. */
export interface PanicMessage {
  type: "panic";
  message: string;
}

/** The guest reset the machine (triple fault, keyboard-controller or port 0x92 reset); it is now stopped. */
export interface ResetMessage {
  type: "reset";
  reason: string;
  /** CPU register dump at the time of the reset. */
  state: string;
}

/** Host-side counters kept by the worker (not by the guest). */
export interface HostStats {
  /** Bytes the page typed into COM1 since boot. */
  serialInBytes: number;
  /** Typed bytes still waiting on the host side for the guest to read them. */
  serialInPending: number;
  /** Bytes the guest wrote to COM1 since boot. */
  serialOutBytes: number;
  /** Wall time spent executing guest code since boot, in ms. */
  busyMs: number;
}

export interface StatsMessage {
  type: "stats";
  /** The engine's counters, or null when there is no machine. */
  machine: MachineStats | null;
  host: HostStats;
  /** The JIT's statistics when the machine has a JIT (machine.jit.stats()). */
  jit?: JitStats | null;
}

/** The answer to `setMode`. */
export interface ModeMessage {
  type: "mode";
  from: Mode;
  to: Mode;
  /** live: switched on the running machine; restart: rebooted the same image in the new mode. */
  how: "live" | "restart";
  /** Guest instructions retired when the switch happened. */
  instructions: number;
  /** What happened, in a sentence for the user. */
  message: string;
}

/** A tool's answer: `value` (see ToolResults) or a readable `error`. */
export interface ToolReply {
  type: "toolReply";
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** Progress of a long tool call (compare). */
export interface ProgressMessage {
  type: "progress";
  id: number;
  message: string;
}

/** The VGA text screen, sent when it changed (at most every 250 ms). */
export interface ScreenMessage {
  type: "screen";
  screen: TextScreen;
}

export type WorkerToPage =
  | ImagesMessage
  | SerialMessage
  | StateMessage
  | ErrorMessage
  | ResetMessage
  | PanicMessage
  | StatsMessage
  | ToolReply
  | ProgressMessage
  | ScreenMessage
  | ModeMessage
  | AutomationReply;

// ---- the page's automation hook (window.virtlab) ------------------------------------------------

/** A deliberately small hook for tests; the automation API proper is a later issue. */
export interface VirtLabHook {
  /** Everything the guest wrote to COM1 since the last Start (the last 1 MiB of it). */
  serialText(): string;
  /** The current RunState. */
  state(): RunState;
  /** Type text into COM1, as if typed in the terminal. */
  send(text: string): void;
  /** The counters (a `stats` round trip to the worker). */
  stats(): Promise<StatsMessage>;
  /** The VGA text screen as last drawn in the page (rows joined with newlines). */
  screenText(): string;
  /** The automation API (src/automation/types.ts, docs/automation.md), served by the engine Worker. */
  vm: VirtLabVM;
}
