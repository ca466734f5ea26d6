/// <reference types="vite/client" />
// The engine host: a dedicated Web Worker that owns the Machine. It loads and verifies images from
// the manifest, boots them, and runs the machine in time slices that yield to the event loop so
// page messages (input, pause, stats) are handled between slices. It sleeps while the guest is
// halted. The protocol is in ./protocol.ts; nothing here touches the DOM.

import { MODES, Machine, type Mode } from "../engine/machine.ts";
import { bootMultiboot } from "../engine/boot/multiboot.ts";
import { bootLinux } from "../engine/boot/linux.ts";
import {
  findImage,
  parseManifest,
  verifyImageFile,
  type ImageEntry,
  type Manifest,
} from "../engine/boot/manifest.ts";
import { ImageError } from "../engine/boot/errors.ts";
import { collectStats } from "../engine/stats.ts";
import type {
  BootRequest,
  ExplorerBlock,
  ExplorerInsn,
  HostStats,
  PageToWorker,
  RunState,
  ToolCall,
  ToolResults,
  WorkerToPage,
} from "./protocol.ts";
import { loadSnapshot, saveSnapshot, inspectSnapshot } from "../engine/snapshot.ts";
import { compare } from "../engine/compare.ts";
import { explainWalk } from "../engine/mmu/walk-explain.ts";
import { disassemble } from "../engine/cpu/disasm.ts";
import { OPCODES, type OpcodeDef } from "../engine/cpu/opcodes.ts";
import { decode, Insn } from "../engine/cpu/decoder.ts";
import { MAX_BLOCK_INSNS } from "../jit/blocks.ts";
import { createWorkerAutomation } from "../automation/worker-rpc.ts";
import { SWITCHABLE_MODES, switchMode } from "../engine/vmm/switch-mode.ts";

const scope = self as unknown as DedicatedWorkerGlobalScope;
/**
 * Where images/manifest.json lives: the page's own site, or — for the embeddable widget, whose
 * Worker may be started from another site's page — the URL the host passed in the Worker's name
 * ("virtlab-engine <images URL>").
 */
const NAME_ARGS = (scope.name ?? "").split(" ").slice(1);
const IMAGES_URL = (() => {
  const named = NAME_ARGS[0];
  if (named) return new URL(named);
  return new URL(`${import.meta.env.BASE_URL}images/`, scope.location.origin);
})();
/** Wall-clock length of one run slice before yielding to the event loop. */
const SLICE_MS = 12;
/** Instructions per runSlice() call; the wall clock is checked between calls. */
const SLICE_INSTRUCTIONS = 50_000;
/** Longest sleep while halted before looking again (also the safety net for "idle forever"). */
const MAX_SLEEP_MS = 250;
/** How often state (instructions, MIPS) is reported while a machine exists. */
const STATE_INTERVAL_MS = 250;

function post(msg: WorkerToPage): void {
  scope.postMessage(msg);
}

// ---- images ---------------------------------------------------------------------------------------

interface LoadedFile {
  path: string;
  bytes: Uint8Array;
}

interface LoadedImage {
  entry: ImageEntry;
  /** Files by role (kernel, initrd, disk, ...). */
  files: Map<string, LoadedFile>;
}

type Booter = (machine: Machine, image: LoadedImage) => void;

function fileOf(image: LoadedImage, role: string): LoadedFile {
  const f = image.files.get(role);
  if (!f) throw new ImageError(image.entry.name, `the image has no ${role} file`);
  return f;
}

/** Boot methods by the manifest's `boot` field. */
const BOOTERS: Record<string, Booter> = {
  multiboot: (machine, image) => {
    const kernel = fileOf(image, "kernel");
    bootMultiboot(machine, kernel.bytes, { cmdline: image.entry.cmdline, name: kernel.path });
  },
  linux: (machine, image) => {
    const kernel = fileOf(image, "kernel");
    const initrd = image.files.get("initrd");
    bootLinux(machine, kernel.bytes, {
      cmdline: image.entry.cmdline,
      initrd: initrd?.bytes,
      kernelName: kernel.path,
      initrdName: initrd?.path,
    });
  },
};

let manifest: Promise<Manifest> | null = null;

async function fetchBytes(path: string): Promise<Uint8Array<ArrayBuffer>> {
  let res: Response;
  try {
    res = await fetch(new URL(path, IMAGES_URL));
  } catch (e) {
    throw new ImageError(path, `cannot fetch: ${(e as Error).message}`);
  }
  if (!res.ok) throw new ImageError(path, `cannot fetch: HTTP ${res.status} ${res.statusText}`.trim());
  return new Uint8Array(await res.arrayBuffer());
}

function loadManifest(): Promise<Manifest> {
  manifest ??= fetchBytes("manifest.json").then((b) =>
    parseManifest(new TextDecoder().decode(b), "images/manifest.json"),
  );
  // A failed load is retried on the next request.
  manifest.catch(() => (manifest = null));
  return manifest;
}

async function sha256hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  if (!crypto?.subtle)
    throw new Error("crypto.subtle is unavailable: serve the page over https or from localhost");
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function loadImage(name: string): Promise<LoadedImage> {
  const entry = findImage(await loadManifest(), name);
  // Refuse before downloading megabytes we cannot use.
  if (!BOOTERS[entry.boot])
    throw new ImageError(
      entry.name,
      entry.boot === "none"
        ? "this is a data image with nothing to boot"
        : `boot method "${entry.boot}" is not supported yet (supported: ${Object.keys(BOOTERS).join(", ")})`,
    );
  const files = new Map<string, LoadedFile>();
  await Promise.all(
    entry.files.map(async (f) => {
      const bytes = await fetchBytes(f.path);
      verifyImageFile(f, bytes, await sha256hex(bytes));
      files.set(f.role, { path: f.path, bytes });
    }),
  );
  return { entry, files };
}

// ---- the running machine ----------------------------------------------------------------------------

interface Session {
  request: BootRequest;
  /** The image's files (null for a machine restored from a snapshot: reset fetches them). */
  image: LoadedImage | null;
  machine: Machine;
  decoder: TextDecoder;
  serialOut: number[];
  host: HostStats;
  paused: boolean;
  stopped: boolean;
  halted: boolean;
  /** MIPS window: instructions and busy time at its start. */
  windowInstructions: number;
  windowBusyMs: number;
  mips: number;
}

let session: Session | null = null;
/** Incremented whenever the session is replaced, so stale async boots and timers do nothing. */
let generation = 0;
let loading: string | null = null;
let lastState = "";
let lastStatePost = 0;

function currentState(): RunState {
  if (loading !== null) return "loading";
  if (!session) return "idle";
  if (session.stopped) return "stopped";
  if (session.paused) return "paused";
  return session.halted ? "halted" : "running";
}

/** Post the state if it changed, or if `periodic` and the interval has passed. */
function reportState(periodic = false): void {
  const state = currentState();
  const now = performance.now();
  if (state === lastState && !(periodic && now - lastStatePost >= STATE_INTERVAL_MS)) return;
  if (session) {
    // MIPS over a window of at least 100 ms of execution, or whatever ran before the guest halted;
    // a window with no instructions (an idle guest) keeps the last figure.
    const s = session;
    const dt = s.host.busyMs - s.windowBusyMs;
    const di = s.machine.cpu.icount - s.windowInstructions;
    if (di > 0 && dt > 0 && (dt >= 100 || state !== "running")) {
      s.mips = Math.round((di / dt / 1000) * 10) / 10;
      s.windowInstructions = s.machine.cpu.icount;
      s.windowBusyMs = s.host.busyMs;
    }
  }
  lastState = state;
  lastStatePost = now;
  reportScreen();
  post({
    type: "state",
    state,
    image: loading ?? session?.request.image ?? null,
    instructions: session?.machine.cpu.icount ?? 0,
    mips: session?.mips ?? 0,
  });
}

let lastScreen = "";

/** Post the VGA text screen if it changed since the last post. */
function reportScreen(): void {
  const m = session?.machine;
  if (!m) return;
  const screen = m.vga.textScreen();
  let attrs = 0;
  for (let k = 0; k < screen.attrs.length; k++) attrs = (Math.imul(attrs, 31) + screen.attrs[k]) | 0;
  const key = `${screen.chars.join("")}|${attrs}|${JSON.stringify(screen.cursor)}`;
  if (key === lastScreen) return;
  lastScreen = key;
  post({ type: "screen", screen });
}

setInterval(() => {
  if (session && !session.paused && !session.stopped) reportState(true);
}, STATE_INTERVAL_MS);

function flushSerial(s: Session): void {
  if (!s.serialOut.length) return;
  const data = s.decoder.decode(new Uint8Array(s.serialOut), { stream: true });
  s.host.serialOutBytes += s.serialOut.length;
  s.serialOut.length = 0;
  if (data) post({ type: "serial", data });
}

// The run loop is driven by one pending wake-up at a time: a MessageChannel message for "run again
// now" (setTimeout(0) is clamped to 4 ms when nested) or a timer for "sleep until the guest's next
// timer event".
const kick = new MessageChannel();
let wakePending = false;
let sleepTimer: ReturnType<typeof setTimeout> | null = null;

function schedule(delayMs: number): void {
  if (sleepTimer !== null) {
    clearTimeout(sleepTimer);
    sleepTimer = null;
  }
  if (delayMs <= 0) {
    if (!wakePending) {
      wakePending = true;
      kick.port2.postMessage(null);
    }
  } else sleepTimer = setTimeout(tick, delayMs);
}

kick.port1.onmessage = () => {
  wakePending = false;
  tick();
};

function tick(): void {
  sleepTimer = null;
  const s = session;
  if (!s || s.paused || s.stopped) return;
  const m = s.machine;
  const t0 = performance.now();
  let idleUntilNs: number | null = null;
  try {
    for (;;) {
      const r = m.runSlice(SLICE_INSTRUCTIONS);
      if (r.stopped) s.stopped = true;
      idleUntilNs = r.idleUntilNs;
      if (r.stopped || idleUntilNs !== null || performance.now() - t0 >= SLICE_MS) break;
    }
  } catch (e) {
    s.stopped = true;
    post({ type: "error", kind: "internal", message: `engine error: ${(e as Error).stack ?? String(e)}` });
  }
  s.host.busyMs += performance.now() - t0;
  flushSerial(s);
  s.halted = idleUntilNs !== null;
  reportState();
  if (s.stopped) return;
  if (idleUntilNs === null) schedule(0);
  else if (idleUntilNs === Infinity) schedule(MAX_SLEEP_MS);
  else schedule(Math.min(MAX_SLEEP_MS, Math.max(1, (idleUntilNs - m.now()) / 1e6)));
}

function emptyHostStats(): HostStats {
  return { serialInBytes: 0, serialInPending: 0, serialOutBytes: 0, busyMs: 0 };
}

function start(request: BootRequest, image: LoadedImage): void {
  const machine = new Machine({
    memoryMiB: request.memoryMiB,
    deterministic: request.deterministic,
    disk: image.files.get("disk")?.bytes,
    mode: request.mode ?? "native",
  });
  BOOTERS[image.entry.boot]!(machine, image);
  adopt(request, image, machine);
}

/** Make `machine` the running session (a fresh boot or a restored snapshot). */
function adopt(request: BootRequest, image: LoadedImage | null, machine: Machine): void {
  const s: Session = {
    request,
    image,
    machine,
    decoder: new TextDecoder(),
    serialOut: [],
    host: emptyHostStats(),
    paused: false,
    stopped: false,
    halted: false,
    windowInstructions: 0,
    windowBusyMs: 0,
    mips: 0,
  };
  machine.on((e) => {
    if (e.type === "serial") {
      if (e.port === 0) s.serialOut.push(e.byte);
    } else if (session === s) {
      flushSerial(s);
      if (e.type === "panic") post({ type: "panic", message: e.message });
      else post({ type: "reset", reason: e.reason, state: e.state });
    }
  });
  session = s;
  lastScreen = "";
  reportState();
  schedule(0);
}

function describe(e: unknown): WorkerToPage {
  if (e instanceof ImageError) return { type: "error", kind: "image", message: e.message, file: e.file };
  const err = e as Error;
  return { type: "error", kind: "internal", message: err?.message ?? String(e) };
}

async function boot(request: BootRequest): Promise<void> {
  const gen = ++generation;
  session = null;
  loading = request.image;
  reportState();
  try {
    if (!Number.isInteger(request.memoryMiB) || request.memoryMiB < 2 || request.memoryMiB > 2047)
      throw new RangeError(`memory size must be 2..2047 MiB (got ${request.memoryMiB})`);
    if (request.mode !== undefined && !MODES.includes(request.mode))
      throw new RangeError(`unknown mode "${String(request.mode)}" (modes: ${MODES.join(", ")})`);
    const image = await loadImage(request.image);
    if (gen !== generation) return;
    loading = null;
    start(request, image);
  } catch (e) {
    if (gen !== generation) return;
    loading = null;
    const msg = describe(e);
    if (e instanceof RangeError && msg.type === "error") msg.kind = "request";
    post(msg);
    reportState();
  }
}

function reset(): void {
  const s = session;
  if (!s) {
    post({ type: "error", kind: "request", message: "nothing to reset: start a machine first" });
    return;
  }
  if (!s.image) {
    void boot(s.request); // restored from a snapshot: fetch the image again
    return;
  }
  ++generation;
  session = null;
  try {
    start(s.request, s.image);
  } catch (e) {
    post(describe(e));
    reportState();
  }
}

/** What the new monitor rebuilds after a live switch (DESIGN.md "Modes at run time"). */
const REBUILDS: Record<Mode, string> = {
  native: "no monitor now: the guest's own page tables are used directly",
  bt: "the BT monitor translates the kernel's code afresh and fills its shadow page tables through hidden faults",
  hw: "the VT-x monitor builds its EPT as the guest touches memory (EPT violations)",
  "hw-noept": "the VT-x monitor fills its shadow page tables through hidden faults",
  pv: "",
};

/**
 * Switch the page's machine to another mode: live where switch-mode.ts can (native, bt, hw,
 * hw-noept), otherwise (to or from pv, which the guest negotiates at boot) by rebooting the same
 * image in the new mode. Either way the page is told which it was.
 */
function setMode(to: Mode): void {
  const s = session;
  if (!s) {
    post({ type: "error", kind: "request", message: "nothing to switch: start a machine first" });
    return;
  }
  if (!MODES.includes(to)) {
    post({
      type: "error",
      kind: "request",
      message: `unknown mode "${String(to)}" (modes: ${MODES.join(", ")})`,
    });
    return;
  }
  const from = s.machine.mode;
  const instructions = s.machine.cpu.icount;
  if (to === from) return;
  if (SWITCHABLE_MODES.includes(from) && SWITCHABLE_MODES.includes(to)) {
    flushSerial(s);
    try {
      switchMode(s.machine, to);
    } catch (e) {
      post({ type: "error", kind: "request", message: (e as Error).message });
      return;
    }
    s.request = { ...s.request, mode: to }; // Reset and snapshots follow the machine's mode
    post({
      type: "mode",
      from,
      to,
      how: "live",
      instructions,
      message: `switched ${from} → ${to} live at instruction ${instructions.toLocaleString("en-US")}; the guest keeps running. ${REBUILDS[to]}; the new mode's counters start at 0.`,
    });
    lastState = ""; // post the state now
    reportState();
    if (!s.paused && !s.stopped) schedule(0);
    return;
  }
  const request: BootRequest = { ...s.request, mode: to };
  post({
    type: "mode",
    from,
    to,
    how: "restart",
    instructions,
    message: `${from} → ${to} cannot be switched live: a guest negotiates paravirtualization at boot (hypercalls, kvm-clock, virtio). Rebooting ${request.image} in ${to} mode; the running machine's state is lost.`,
  });
  if (!s.image) {
    void boot(request); // restored from a snapshot: fetch the image again
    return;
  }
  ++generation;
  session = null;
  try {
    start(request, s.image);
  } catch (e) {
    post(describe(e));
    reportState();
  }
}

// The automation API (docs/automation.md): its own machine, shown in the page's terminal; booting
// it stops the machine started from the page's controls.
const automation = createWorkerAutomation({
  images: IMAGES_URL,
  post,
  onOutput: (data) => post({ type: "serial", data }),
  onMachine: (m) => {
    if (!m) return;
    ++generation;
    session = null;
    reportState();
  },
});

// ---- tools: snapshots, compare, JIT explorer, page walks --------------------------------------------

function needMachine(what: string): Session {
  if (!session) throw new Error(`${what} needs a machine: start one first`);
  return session;
}

/** What a sensitive or privileged instruction becomes in `mode` (innocuous ones run as they are). */
function calloutOf(d: OpcodeDef, mode: Mode): string | undefined {
  if (d.cls === "innocuous") return undefined;
  const what = `${d.cls}${d.why ? `: ${d.why}` : ""}`;
  if (mode === "bt") return `BT → VMM callout when the guest kernel runs it (${what})`;
  return `not compiled: the interpreter runs it (${what}); under BT it would be a VMM callout`;
}

/**
 * The instruction right after a compiled block, if the block ended there because the JIT does not
 * compile it and it is sensitive or privileged: in BT mode, the callout the translation became.
 * `insns` instructions are decoded from the block's start to find it (a block stays in one page).
 */
function blockExit(
  m: Machine,
  b: { eip: number; phys: number; insns: number },
): { insn: Insn; eip: number; phys: number } | null {
  if (b.insns >= MAX_BLOCK_INSNS) return null; // ended by the length limit
  const u8 = m.cpu.mem.u8;
  const pageEnd = (b.phys & ~0xfff) + 0x1000;
  let p = b.phys;
  let eip = b.eip;
  for (let k = 0; ; k++) {
    const i = new Insn();
    if (p >= pageEnd || decode(u8, p, Math.min(p + 16, pageEnd), true, i) !== 0) return null;
    i.def32 = true;
    if (k === b.insns) return i.def.cls === "innocuous" ? null : { insn: i, eip, phys: p };
    const end = i.def.end;
    if (k === b.insns - 1 && end !== undefined && end !== "jcc") return null; // ended by a jump
    p += i.len;
    eip = (eip + i.len) | 0;
  }
}

/** The JIT's description of a block, with the sensitive instruction that ended it as a last row. */
function explainBlock(m: Machine, id: number): ExplorerBlock | null {
  const jit = m.jit;
  if (!jit) return null;
  const d = jit.describeBlock(
    id,
    (i, eip) => disassemble(i, { eip }),
    (def) => calloutOf(def, m.mode),
  );
  if (!d) return null;
  const insns: ExplorerInsn[] = d.insns.map((i) => {
    const callout = i.callout ?? (i.cls === "innocuous" ? undefined : calloutOf(OPCODES[i.entry], m.mode));
    return callout ? { ...i, callout } : i;
  });
  const exit = blockExit(m, { eip: d.eip, phys: d.phys, insns: d.insns.length });
  if (exit && d.stop.startsWith(`${exit.insn.def.mn}:`))
    insns.push({
      eip: exit.eip,
      bytes: Array.from(m.cpu.mem.u8.subarray(exit.phys, exit.phys + exit.insn.len)),
      text: disassemble(exit.insn, { eip: exit.eip }),
      entry: exit.insn.def.id,
      cls: exit.insn.def.cls,
      callout: calloutOf(exit.insn.def, m.mode),
      exit: true,
    });
  return { ...d, insns, mode: m.mode };
}

async function runTool(id: number, call: ToolCall): Promise<ToolResults[ToolCall["tool"]]> {
  switch (call.tool) {
    case "saveSnapshot": {
      const s = needMachine("a snapshot");
      flushSerial(s);
      const meta = { ...(call.meta ?? {}), image: s.request.image, request: s.request };
      const bytes = await saveSnapshot(s.machine, { meta });
      return { bytes, info: await inspectSnapshot(bytes) };
    }
    case "inspectSnapshot":
      return inspectSnapshot(call.bytes);
    case "restoreSnapshot": {
      const info = await inspectSnapshot(call.bytes);
      const machine = await loadSnapshot(call.bytes);
      const saved = info.meta.request as BootRequest | undefined;
      const request: BootRequest = {
        type: "boot",
        image: typeof info.meta.image === "string" ? info.meta.image : (saved?.image ?? "snapshot"),
        memoryMiB: info.memoryMiB,
        deterministic: info.deterministic,
        mode: info.mode,
      };
      ++generation;
      loading = null;
      adopt(request, null, machine);
      return info;
    }
    case "compare": {
      const s = session;
      const wasPaused = s?.paused ?? true;
      if (s) s.paused = true;
      reportState();
      try {
        return await compare({
          image: call.image,
          workload: call.workload,
          ops: call.ops,
          loadImage: async (name) => {
            const img = await loadImage(name);
            return {
              entry: img.entry,
              files: Object.fromEntries([...img.files].map(([r, f]) => [r, f.bytes])),
            };
          },
          snapshot: { save: (m) => saveSnapshot(m), load: (b) => loadSnapshot(b) },
          onProgress: (message) => post({ type: "progress", id, message }),
        });
      } finally {
        if (s && session === s && !wasPaused) {
          s.paused = false;
          schedule(0);
        }
        reportState();
      }
    }
    case "hotBlocks": {
      const m = needMachine("the JIT explorer").machine;
      if (!m.jit) return [];
      if (!call.endsSensitive) return m.jit.hotBlocks(call.limit);
      return m.jit
        .hotBlocks(Number.MAX_SAFE_INTEGER)
        .filter((b) => blockExit(m, b) !== null)
        .slice(0, call.limit);
    }
    case "describeBlock":
      return explainBlock(needMachine("the JIT explorer").machine, call.id);
    case "blockWasm":
      return needMachine("the JIT explorer").machine.jit?.blockWasm(call.id) ?? null;
    case "walk":
      return explainWalk(needMachine("the page-walk visualizer").machine, call.address);
  }
}

function handle(msg: PageToWorker): void {
  switch (msg.type) {
    case "automation":
      automation.handle(msg);
      return;
    case "listImages":
      loadManifest().then(
        (m) =>
          post({
            type: "images",
            images: m.images.map((i) => ({
              name: i.name,
              description: i.description ?? "",
              boot: i.boot,
              bootable: i.boot in BOOTERS,
              size: i.files.reduce((n, f) => n + (f.size ?? 0), 0),
            })),
          }),
        (e) => post(describe(e)),
      );
      return;
    case "boot":
      void boot(msg);
      return;
    case "serialIn": {
      const s = session;
      if (!s || !msg.data) return;
      const bytes = new TextEncoder().encode(msg.data);
      s.host.serialInBytes += bytes.length;
      s.machine.com1.receive(bytes);
      if (!s.paused && !s.stopped) schedule(0); // wake a halted guest now
      return;
    }
    case "pause":
      if (session && !session.stopped) session.paused = true;
      reportState();
      return;
    case "resume":
      if (!session) {
        post({ type: "error", kind: "request", message: "nothing to resume: start a machine first" });
        return;
      }
      if (session.paused) {
        session.paused = false;
        schedule(0);
      }
      reportState();
      return;
    case "reset":
      reset();
      return;
    case "setMode":
      setMode(msg.mode);
      return;
    case "key": {
      const s = session;
      if (!s) return;
      if (msg.down) s.machine.i8042.keyDown(msg.code);
      else s.machine.i8042.keyUp(msg.code);
      if (!s.paused && !s.stopped) schedule(0);
      return;
    }
    case "tool": {
      const { id, call } = msg;
      runTool(id, call).then(
        (value) => post({ type: "toolReply", id, ok: true, value }),
        (e: unknown) =>
          post({ type: "toolReply", id, ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
      return;
    }
    case "stats": {
      const s = session;
      const host = s ? { ...s.host, serialInPending: s.machine.com1.pendingInput() } : emptyHostStats();
      post({
        type: "stats",
        machine: s ? collectStats(s.machine, s.host.busyMs) : null,
        host,
        jit: s?.machine.jit ? s.machine.jit.stats() : null,
      });
      return;
    }
    default: {
      const unknown: never = msg;
      post({ type: "error", kind: "request", message: `unknown message ${JSON.stringify(unknown)}` });
    }
  }
}

scope.onmessage = (ev: MessageEvent<PageToWorker>) => {
  try {
    handle(ev.data);
  } catch (e) {
    post(describe(e));
  }
};
