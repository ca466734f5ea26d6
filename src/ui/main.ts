// The page: image picker and machine controls, the serial console (xterm.js) and the VGA text screen,
// live counters and charts, and the tools (snapshots, compare modes, JIT explorer, page walks).
// It owns no machine: everything goes through the typed message API in ./protocol.ts to the engine
// Worker (./worker.ts), via EngineClient.

import type { Mode } from "../engine/machine.ts";
import { Terminal, type ITheme } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import "./style.css";
import { AutomationProxy } from "../automation/browser.ts";
import type {
  ErrorMessage,
  ImageInfo,
  ModeMessage,
  RunState,
  VirtLabHook,
  WorkerToPage,
} from "./protocol.ts";
import { EngineClient } from "./engine-client.ts";
import { VgaScreen } from "./screen.ts";
import { CountersView } from "./counters.ts";
import { ComparePanel, JitPanel, SnapshotsPanel, WalkPanel, type ToolHost } from "./tools.ts";

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
  ept: $<HTMLInputElement>("ept"),
  theme: $<HTMLButtonElement>("theme"),
  tabSerial: $<HTMLButtonElement>("tab-serial"),
  tabVga: $<HTMLButtonElement>("tab-vga"),
  vga: $<HTMLDivElement>("vga"),
  counters: $<HTMLDivElement>("counters"),
  note: $<HTMLSpanElement>("note"),
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

let noteTimer: ReturnType<typeof setTimeout> | null = null;

/** A short note in the status bar, for a few seconds. */
function showNote(message: string): void {
  ui.note.textContent = message;
  if (noteTimer) clearTimeout(noteTimer);
  noteTimer = setTimeout(() => (ui.note.textContent = ""), 8000);
}

// ---- page state -----------------------------------------------------------------------------------

let state: RunState = "idle";
let serialText = "";
let images: ImageInfo[] = [];
let currentImage: string | null = null;

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
      currentImage = msg.image;
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
      counters.update(msg);
      return;
    case "screen":
      vga.draw(msg.screen);
      return;
    case "mode":
      modeSwitched(msg);
      return;
    case "toolReply":
    case "progress":
      return; // answered through EngineClient.tool()
    case "automationReply":
      vm.receive(msg);
      return;
  }
}

const engine = new EngineClient(onMessage, {}, (message) => vm.failAll(message));
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
    mode: selectedMode(),
  });
  counters.reset();
  vga.clear();
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

/** The mode selector plus the EPT switch: HW without EPT is first-generation VT-x (shadow paging). */
function selectedMode(): Mode {
  const m = ui.mode.value as Mode;
  return m === "hw" && !ui.ept.checked ? "hw-noept" : m;
}
/** Show the mode `m` in the selector and the EPT switch. */
function showMode(m: Mode): void {
  ui.mode.value = m === "hw-noept" ? "hw" : m;
  if (m === "hw" || m === "hw-noept") ui.ept.checked = m === "hw";
  ui.ept.disabled = ui.mode.value !== "hw";
}

/**
 * A new mode picked while a machine runs: the worker switches it live (native, BT, HW with or
 * without EPT) or, to or from PV, reboots the image in the new mode; modeSwitched() says which.
 */
function modeChanged(): void {
  ui.ept.disabled = ui.mode.value !== "hw";
  if (state === "running" || state === "halted" || state === "paused") {
    clearError();
    engine.post({ type: "setMode", mode: selectedMode() });
  } else if (state === "loading") showNote(`${selectedMode()} takes effect at the next Start`);
}
ui.mode.addEventListener("change", modeChanged);
ui.ept.addEventListener("change", modeChanged);
ui.ept.disabled = ui.mode.value !== "hw";

function modeSwitched(msg: ModeMessage): void {
  showMode(msg.to);
  note(msg.message);
  showNote(
    msg.how === "live"
      ? `${msg.from} → ${msg.to}: switched live, the guest keeps running`
      : `${msg.from} → ${msg.to}: rebooted (PV is negotiated at boot)`,
  );
  if (msg.how === "restart") {
    counters.reset();
    vga.clear();
  }
  engine.stats().catch(() => {
    // The Worker died: its error is already shown.
  });
}

// ---- VGA screen, console tabs and focus -------------------------------------------------------------

const vga = new VgaScreen(ui.vga, (code, down) => engine.post({ type: "key", code, down }));

function showConsole(which: "serial" | "vga"): void {
  const serial = which === "serial";
  ui.tabSerial.setAttribute("aria-selected", String(serial));
  ui.tabVga.setAttribute("aria-selected", String(!serial));
  ui.terminal.hidden = !serial;
  ui.vga.hidden = serial;
  $("focus-hint").textContent = serial
    ? "Click the console to type into the guest's serial port."
    : "Click the screen to type on the guest's keyboard (tty1); Shift+Esc leaves.";
  if (serial) {
    refit();
    term.focus();
  } else vga.canvas.focus();
}
ui.tabSerial.addEventListener("click", () => showConsole("serial"));
ui.tabVga.addEventListener("click", () => showConsole("vga"));

// ---- counters -----------------------------------------------------------------------------------

const counters = new CountersView(ui.counters);
setInterval(() => {
  if (state === "running" || state === "halted" || state === "paused")
    engine.stats().catch(() => {
      // The Worker died: its error is already shown.
    });
}, 1000);

// ---- tools ------------------------------------------------------------------------------------------

const toolHost: ToolHost = {
  engine,
  error: (title, message) => showError(title, message),
  info: showNote,
  currentImage: () => currentImage,
  restored: () => {
    clearError();
    term.reset();
    serialText = "";
    counters.reset();
    vga.clear();
  },
};
new SnapshotsPanel($("tool-snapshots"), toolHost);
new ComparePanel($("tool-compare"), toolHost);
new JitPanel($("tool-jit"), toolHost);
new WalkPanel($("tool-walk"), toolHost);
for (const tab of document.querySelectorAll<HTMLButtonElement>(".tools [role=tab]")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll<HTMLButtonElement>(".tools [role=tab]"))
      t.setAttribute("aria-selected", String(t === tab));
    for (const p of document.querySelectorAll<HTMLElement>(".tools .tool"))
      p.hidden = p.id !== `tool-${tab.dataset.tool}`;
  });
}

// ---- theme ------------------------------------------------------------------------------------------

const THEMES = ["auto", "light", "dark"] as const;
function applyTheme(t: (typeof THEMES)[number]): void {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  ui.theme.textContent = `Theme: ${t}`;
  term.options.theme = terminalTheme();
  try {
    localStorage.setItem("virtlab-theme", t);
  } catch {
    // Storage may be disabled; the theme still applies for this visit.
  }
}
ui.theme.addEventListener("click", () => {
  const cur = (document.documentElement.dataset.theme ?? "auto") as (typeof THEMES)[number];
  applyTheme(THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length]);
});
try {
  const saved = localStorage.getItem("virtlab-theme") as (typeof THEMES)[number] | null;
  if (saved && THEMES.includes(saved)) applyTheme(saved);
} catch {
  // No storage: follow the system.
}

// Never a blank page: anything that escapes is shown in the banner.
window.addEventListener("error", (e) => showError("Page error", e.message));
window.addEventListener("unhandledrejection", (e) =>
  showError("Page error", e.reason instanceof Error ? e.reason.message : String(e.reason)),
);
ui.errorClose.addEventListener("click", clearError);
term.onData(send);

window.virtlab = {
  serialText: () => serialText,
  state: () => state,
  send,
  stats: () => engine.stats(),
  screenText: () => vga.text(),
  vm,
};

setState("idle", null, 0, 0);
engine.post({ type: "listImages" });
