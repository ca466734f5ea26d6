// The embeddable widget: <virt-lab image="linux" mode="bt" autostart panels="terminal,counters">.
// One script (vite build --config vite.widget.config.ts → dist/widget/virtlab-widget.js) defines the
// element; every element has its own engine Worker (loaded from next to the script) and its own
// shadow DOM, so several machines on one page are isolated from each other.
//
// Attributes: image (manifest name, default "testkernel"), mode (native|bt|pv|hw|hw-noept), memory
// (MiB, default 64), deterministic, autostart, panels (any of terminal, screen, counters, controls;
// default "terminal,controls"), images-url (where images/manifest.json lives; default: the
// "images/" folder next to the widget's folder, or the page's /images/ in the dev server).
// Methods: start(), pause(), resume(), reset(), send(text), serialText(), state, stats().
// `vm`: the automation API (VirtLabVM, docs/automation.md) served by this element's own Worker.
// Events: "virtlab-state" (detail: StateMessage), "virtlab-serial" (detail: {data}), "virtlab-error".

import { Terminal } from "@xterm/xterm";
import xtermCss from "@xterm/xterm/css/xterm.css?inline";
import type { Mode } from "../engine/machine.ts";
import { attachAutomation, type AutomationProxy, type VirtLabVM } from "../automation/browser.ts";
import { EngineClient } from "./engine-client.ts";
import { CountersView } from "./counters.ts";
import { VgaScreen } from "./screen.ts";
import type { RunState, StatsMessage, WorkerToPage } from "./protocol.ts";

const PANELS = ["terminal", "screen", "counters", "controls"] as const;
type PanelName = (typeof PANELS)[number];

const STYLE = `
:host { display: block; font: 14px system-ui, sans-serif; color: #1d2330; border: 1px solid #d5d9e0;
  border-radius: 8px; overflow: hidden; background: #fff; }
@media (prefers-color-scheme: dark) { :host { color: #e3e6ec; background: #1d2129; border-color: #333a46; } }
.bar { display: flex; gap: .4rem; align-items: center; padding: .35rem .5rem; border-bottom: 1px solid #8883; flex-wrap: wrap; }
.bar .title { font-weight: 600; margin-right: auto; }
.bar button { font: inherit; padding: .15rem .6rem; border-radius: 5px; border: 1px solid #8886; background: transparent; color: inherit; cursor: pointer; }
.state { font-size: .85em; opacity: .8; }
.term { height: var(--virtlab-terminal-height, 20rem); padding: .3rem; background: #0e1014; }
.screen { background: #000; padding: .3rem; }
canvas.vga { display: block; width: 100%; max-width: 720px; margin: 0 auto; image-rendering: pixelated; }
.counters { padding: .4rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(7rem, 1fr)); gap: .3rem; }
.tile { border: 1px solid #8884; border-radius: 5px; padding: .2rem .4rem; }
.tile-value { font-weight: 600; } .tile-label { font-size: .75em; opacity: .75; }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .4rem; margin-top: .4rem; }
.chart-box { margin: 0; border: 1px solid #8884; border-radius: 5px; padding: .3rem; }
.chart-box figcaption { font-size: .8em; font-weight: 600; }
.chart-box.empty { display: none; } .chart-wrap { position: relative; height: 9rem; }
.chart-note:empty { display: none; } .chart-note { font-size: .8em; opacity: .7; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 0 .6rem; font-size: .8em; margin: 0; }
.kv dd { margin: 0; } .jit-stats h3 { font-size: .85em; margin: .4rem 0 .1rem; }
.error { background: #fdecec; color: #8a1c1c; padding: .35rem .5rem; font-size: .9em; }
.error:empty { display: none; }
`;

/** Where the images are, seen from the widget script. */
function defaultImagesUrl(): string {
  if (import.meta.env.DEV) return new URL("/images/", location.href).href;
  return new URL("../images/", import.meta.url).href;
}

export class VirtLabElement extends HTMLElement {
  static readonly observedAttributes = ["image", "mode", "memory"];
  private engine: EngineClient | null = null;
  private term: Terminal | null = null;
  private counters: CountersView | null = null;
  private vga: VgaScreen | null = null;
  private stateEl: HTMLElement | null = null;
  private errorEl: HTMLElement | null = null;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private text = "";
  private runState: RunState = "idle";
  /** The automation API of this element's machine (defined by attachAutomation). */
  declare readonly vm: VirtLabVM;
  private readonly automation: AutomationProxy;

  constructor() {
    super();
    // Calls go to this element's own Worker; its automationReply messages come back in onMessage.
    this.automation = attachAutomation(this, (msg) => {
      if (!this.engine) throw new Error("the <virt-lab> element is not on the page");
      this.engine.post(msg);
    });
  }

  get state(): RunState {
    return this.runState;
  }

  private panels(): Set<PanelName> {
    const raw = (this.getAttribute("panels") ?? "terminal,controls").split(/[\s,]+/).filter(Boolean);
    return new Set(raw.filter((p): p is PanelName => (PANELS as readonly string[]).includes(p)));
  }

  connectedCallback(): void {
    if (this.engine) return;
    const root = this.shadowRoot ?? this.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = xtermCss + STYLE;
    root.replaceChildren(style);
    const panels = this.panels();
    this.engine = new EngineClient(
      (m) => this.onMessage(m),
      { imagesUrl: this.getAttribute("images-url") ?? defaultImagesUrl() },
      (message) => this.automation.failAll(message),
    );
    const bar = document.createElement("div");
    bar.className = "bar";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = `VirtLab · ${this.getAttribute("image") ?? "testkernel"} · ${this.getAttribute("mode") ?? "native"}`;
    this.stateEl = document.createElement("span");
    this.stateEl.className = "state";
    this.stateEl.setAttribute("role", "status");
    this.stateEl.textContent = "idle";
    bar.append(title, this.stateEl);
    if (panels.has("controls")) {
      for (const [label, fn] of [
        ["Start", () => this.start()],
        ["Pause", () => (this.runState === "paused" ? this.resume() : this.pause())],
        ["Reset", () => this.reset()],
      ] as const) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.dataset.action = label.toLowerCase();
        b.addEventListener("click", fn);
        bar.append(b);
      }
    }
    this.errorEl = document.createElement("div");
    this.errorEl.className = "error";
    this.errorEl.setAttribute("role", "alert");
    root.append(bar, this.errorEl);
    if (panels.has("terminal")) {
      const host = document.createElement("div");
      host.className = "term";
      root.append(host);
      this.term = new Terminal({ convertEol: false, fontSize: 13, scrollback: 2000, rows: 20, cols: 80 });
      this.term.open(host);
      this.term.onData((d) => this.send(d));
    }
    if (panels.has("screen")) {
      const host = document.createElement("div");
      host.className = "screen";
      root.append(host);
      this.vga = new VgaScreen(host, (code, down) => this.engine?.post({ type: "key", code, down }));
    }
    if (panels.has("counters")) {
      const host = document.createElement("div");
      root.append(host);
      this.counters = new CountersView(host);
      this.statsTimer = setInterval(() => {
        if (this.runState !== "idle" && this.runState !== "loading") this.stats().catch(() => {});
      }, 1000);
    }
    if (this.hasAttribute("autostart")) this.start();
  }

  disconnectedCallback(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.engine?.terminate();
    this.engine = null;
    this.automation.failAll("the <virt-lab> element was removed from the page");
    this.term?.dispose();
    this.term = null;
  }

  /** Boot the image named by the attributes (again, if running). */
  start(): void {
    const mode = (this.getAttribute("mode") ?? "native") as Mode;
    this.text = "";
    this.term?.reset();
    this.counters?.reset();
    if (this.errorEl) this.errorEl.textContent = "";
    this.engine?.post({
      type: "boot",
      image: this.getAttribute("image") ?? "testkernel",
      memoryMiB: Number(this.getAttribute("memory") ?? 64),
      deterministic: this.hasAttribute("deterministic"),
      mode,
    });
  }

  pause(): void {
    this.engine?.post({ type: "pause" });
  }

  resume(): void {
    this.engine?.post({ type: "resume" });
  }

  reset(): void {
    this.engine?.post({ type: "reset" });
  }

  /** Type into the guest's serial console. */
  send(text: string): void {
    if (text) this.engine?.post({ type: "serialIn", data: text });
  }

  /** Everything the guest wrote to its serial console since the last start. */
  serialText(): string {
    return this.text;
  }

  stats(): Promise<StatsMessage> {
    if (!this.engine) return Promise.reject(new Error("the widget is not on the page"));
    return this.engine.stats();
  }

  private onMessage(msg: WorkerToPage): void {
    switch (msg.type) {
      case "serial":
        this.text = (this.text + msg.data).slice(-(1 << 20));
        this.term?.write(msg.data);
        this.dispatchEvent(new CustomEvent("virtlab-serial", { detail: { data: msg.data } }));
        return;
      case "state":
        this.runState = msg.state;
        if (this.stateEl)
          this.stateEl.textContent = `${msg.state}${msg.instructions ? ` · ${msg.instructions.toLocaleString("en-US")} insns` : ""}`;
        this.dispatchEvent(new CustomEvent("virtlab-state", { detail: msg }));
        return;
      case "error":
      case "panic":
      case "reset": {
        const text =
          msg.type === "error"
            ? msg.message
            : msg.type === "panic"
              ? `guest kernel panic: ${msg.message}`
              : `guest reset: ${msg.reason}`;
        if (this.errorEl) this.errorEl.textContent = text;
        this.dispatchEvent(new CustomEvent("virtlab-error", { detail: { message: text } }));
        return;
      }
      case "stats":
        this.counters?.update(msg);
        return;
      case "screen":
        this.vga?.draw(msg.screen);
        return;
      case "automationReply":
        this.automation.receive(msg);
        return;
      default:
        return;
    }
  }
}

if (!customElements.get("virt-lab")) customElements.define("virt-lab", VirtLabElement);

declare global {
  interface HTMLElementTagNameMap {
    "virt-lab": VirtLabElement;
  }
}
