// The page: image picker and machine controls, a status line, and the serial console in xterm.js.
// It owns no machine: everything goes through the typed message API in ./protocol.ts to the engine
// Worker (./worker.ts).

import type { Mode } from "../engine/machine.ts";
import { Terminal, type ITheme } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { AutomationProxy } from "../automation/browser.ts";
import type {
  ErrorMessage,
  ImageInfo,
  PageToWorker,
  RunState,
  StatsMessage,
  VirtLabHook,
  WorkerToPage,
} from "./protocol.ts";

declare global {
  interface Window {
    virtlab: VirtLabHook;
  }
}

const DEFAULT_IMAGE = "testkernel";
/** serialText() keeps the last this many characters. */
const SERIAL_TEXT_LIMIT = 1 << 20;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as T;
}

const ui = {
  form: $<HTMLFormElement>("controls"),
  image: $<HTMLSelectElement>("image"),
  imageDesc: $<HTMLParagraphElement>("image-desc"),
  memory: $<HTMLSelectElement>("memory"),
  mode: $<HTMLSelectElement>("mode"),
  deterministic: $<HTMLInputElement>("deterministic"),
  start: $<HTMLButtonElement>("start"),
  pause: $<HTMLButtonElement>("pause"),
  reset: $<HTMLButtonElement>("reset"),
  error: $<HTMLDivElement>("error"),
  errorTitle: $<HTMLElement>("error-title"),
  errorMessage: $<HTMLSpanElement>("error-message"),
  errorDetails: $<HTMLDetailsElement>("error-details"),
  errorState: $<HTMLPreElement>("error-state"),
  errorClose: $<HTMLButtonElement>("error-close"),
  terminal: $<HTMLDivElement>("terminal"),
  state: $<HTMLSpanElement>("state"),
  statusImage: $<HTMLSpanElement>("status-image"),
  instructions: $<HTMLSpanElement>("instructions"),
  mips: $<HTMLSpanElement>("mips"),
};

// ---- the engine worker ----------------------------------------------------------------------------

/** The Worker behind a typed post/receive pair; a crashed worker is replaced on the next boot. */
class Engine {
  private worker: Worker | null = null;
  private statsWaiters: { resolve: (m: StatsMessage) => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly onMessage: (msg: WorkerToPage) => void) {}

  post(msg: PageToWorker): void {
    if (!this.worker) this.worker = this.spawn();
    this.worker.postMessage(msg);
  }

  stats(): Promise<StatsMessage> {
    return new Promise((resolve, reject) => {
      this.statsWaiters.push({ resolve, reject });
      this.post({ type: "stats" });
    });
  }

  private spawn(): Worker {
    const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "virtlab-engine" });
    w.onmessage = (ev: MessageEvent<WorkerToPage>) => {
      if (ev.data.type === "stats") this.statsWaiters.shift()?.resolve(ev.data);
      this.onMessage(ev.data);
    };
    w.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.worker?.terminate();
      this.worker = null;
      const message = `the engine worker failed: ${ev.message || "it could not be loaded"}`;
      for (const w of this.statsWaiters) w.reject(new Error(message));
      this.statsWaiters = [];
      vm.failAll(message);
      this.onMessage({
        type: "error",
        kind: "internal",
        message,
      });
      this.onMessage({ type: "state", state: "idle", image: null, instructions: 0, mips: 0 });
    };
    return w;
  }
}

// ---- terminal -------------------------------------------------------------------------------------

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function terminalTheme(): ITheme {
  return {
    background: cssVar("--term-bg"),
    foreground: cssVar("--term-fg"),
    cursor: cssVar("--term-fg"),
    cursorAccent: cssVar("--term-bg"),
    selectionBackground: cssVar("--term-selection"),
  };
}

const term = new Terminal({
  cursorBlink: true,
  scrollback: 5000,
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
  fontSize: 14,
  theme: terminalTheme(),
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(ui.terminal);
const refit = () => {
  try {
    fit.fit();
  } catch {
    // Not laid out yet (e.g. hidden); the next resize fits.
  }
};
new ResizeObserver(refit).observe(ui.terminal);
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  term.options.theme = terminalTheme();
});

/** A note from the page (not the guest) in the terminal, dimmed. */
function note(text: string): void {
  term.write(`\r\n\x1b[2m[virtlab] ${text}\x1b[0m\r\n`);
}

// ---- page state -----------------------------------------------------------------------------------

let state: RunState = "idle";
let serialText = "";
let images: ImageInfo[] = [];

function showError(title: string, message: string, cpuState?: string): void {
  ui.errorTitle.textContent = title;
  ui.errorMessage.textContent = message;
  ui.errorDetails.hidden = cpuState === undefined;
  ui.errorState.textContent = cpuState ?? "";
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.hidden = true;
}

function errorTitle(msg: ErrorMessage): string {
  if (msg.kind === "image") return msg.file ? `Cannot use ${msg.file}` : "Bad image";
  if (msg.kind === "request") return "Cannot do that";
  return "Internal error";
}

function setState(next: RunState, image: string | null, instructions: number, mips: number): void {
  state = next;
  ui.state.textContent = next;
  ui.state.dataset.state = next;
  ui.statusImage.textContent = image ?? "";
  const live = next !== "idle" && next !== "loading";
  ui.instructions.textContent = live ? `${instructions.toLocaleString("en-US")} instructions` : "";
  ui.mips.textContent = live ? `${mips.toFixed(1)} MIPS` : "";
  ui.pause.disabled = !(next === "running" || next === "halted" || next === "paused");
  ui.pause.textContent = next === "paused" ? "Resume" : "Pause";
  ui.reset.disabled = !live;
  ui.start.disabled = next === "loading";
}

function describeImage(): void {
  const info = images.find((i) => i.name === ui.image.value);
  ui.imageDesc.textContent = info?.description ?? "";
  ui.image.title = info?.description ?? "";
}

function fillImages(list: ImageInfo[]): void {
  images = list;
  const previous = ui.image.value || DEFAULT_IMAGE;
  ui.image.replaceChildren(
    ...list.map((i) => {
      const opt = document.createElement("option");
      opt.value = i.name;
      opt.textContent = i.bootable ? i.name : `${i.name} (not bootable yet)`;
      return opt;
    }),
  );
  if (list.some((i) => i.name === previous)) ui.image.value = previous;
  ui.image.disabled = false;
  describeImage();
}

function onMessage(msg: WorkerToPage): void {
  switch (msg.type) {
    case "images":
      fillImages(msg.images);
      return;
    case "serial":
      term.write(msg.data);
      serialText += msg.data;
      if (serialText.length > SERIAL_TEXT_LIMIT) serialText = serialText.slice(-SERIAL_TEXT_LIMIT);
      return;
    case "state":
      setState(msg.state, msg.image, msg.instructions, msg.mips);
      return;
    case "error":
      showError(errorTitle(msg), msg.message);
      ui.image.disabled = false;
      return;
    case "panic":
      showError("The guest kernel panicked", msg.message);
      note(`guest kernel panic: ${msg.message}`);
      return;
    case "reset":
      showError(
        "The guest reset the machine",
        `${msg.reason}. The machine is stopped; press Reset to boot it again.`,
        msg.state,
      );
      note(`guest reset: ${msg.reason}`);
      return;
    case "stats":
      return; // answered through Engine.stats()
    case "automationReply":
      vm.receive(msg);
      return;
  }
}

const engine = new Engine(onMessage);
/** The automation API (docs/automation.md), forwarded to the engine Worker. */
const vm = new AutomationProxy((msg) => engine.post(msg));

function send(text: string): void {
  if (text) engine.post({ type: "serialIn", data: text });
}

// ---- controls -------------------------------------------------------------------------------------

ui.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  clearError();
  term.reset();
  serialText = "";
  engine.post({
    type: "boot",
    image: ui.image.value || DEFAULT_IMAGE,
    memoryMiB: Number(ui.memory.value),
    deterministic: ui.deterministic.checked,
    mode: ui.mode.value as Mode,
  });
  term.focus();
});

ui.pause.addEventListener("click", () => {
  engine.post({ type: state === "paused" ? "resume" : "pause" });
});

ui.reset.addEventListener("click", () => {
  clearError();
  note("reset");
  engine.post({ type: "reset" });
  term.focus();
});

ui.image.addEventListener("change", describeImage);
ui.errorClose.addEventListener("click", clearError);
term.onData(send);

window.virtlab = {
  serialText: () => serialText,
  state: () => state,
  send,
  stats: () => engine.stats(),
  vm,
};

setState("idle", null, 0, 0);
engine.post({ type: "listImages" });
