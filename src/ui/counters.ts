// Live counters and charts (chart.js): events per second by class, VM exits by reason, hypercalls
// by operation, shadow-paging faults, TLB misses and page-walk references, modelled cycles by cause,
// guest MIPS, and the JIT's statistics. Fed with `stats` messages (one a second); every number shown
// is a counter the engine kept (src/engine/stats.ts, the event vocabulary of src/engine/events.ts) or
// the cost model's modelled cycles, which are labelled as such and never mixed with wall time.

import { Chart, registerables, type ChartConfiguration } from "chart.js";
import { eventsOf, type EventCounts } from "../engine/events.ts";
import type { StatsMessage } from "./protocol.ts";

Chart.register(...registerables);

const HISTORY = 60;

/** Event class of an event name (docs/events.md vocabulary): what the first chart plots. */
function eventClass(name: string): string | null {
  if (name === "instructions" || name === "bt.translated" || name === "bt.direct") return null;
  if (name.startsWith("exit.")) return "VM exits";
  if (name.startsWith("hypercall.") || name === "pv.multicall-entry") return "hypercalls";
  if (name.startsWith("bt.callout.")) return "BT callouts";
  if (name.startsWith("bt.reflect.") || name.startsWith("pv.bounce.")) return "reflected events";
  if (name === "shadow.hidden-fault" || name === "shadow.tracing-fault" || name === "shadow.true-fault")
    return "shadow faults";
  if (name === "tlb.miss") return "TLB misses";
  if (name.startsWith("walk.ref.")) return "page-walk refs";
  if (name === "ept.violation") return "EPT violations";
  if (name.startsWith("io.") || name.startsWith("mmio.") || name === "bt.io-trap") return "I/O accesses";
  if (name.startsWith("vector.")) return "interrupts + exceptions";
  if (name.startsWith("virtio.")) return "virtio";
  return null;
}

const CLASS_COLOURS: Record<string, string> = {
  "VM exits": "#e4572e",
  hypercalls: "#17bebb",
  "BT callouts": "#ffc914",
  "reflected events": "#a05195",
  "shadow faults": "#76b041",
  "TLB misses": "#2e86de",
  "page-walk refs": "#6c5ce7",
  "EPT violations": "#d35400",
  "I/O accesses": "#8e8e8e",
  "interrupts + exceptions": "#f368e0",
  virtio: "#10ac84",
};
const PALETTE = Object.values(CLASS_COLOURS);

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

interface Panel {
  box: HTMLElement;
  chart: Chart;
  note: HTMLElement;
}

const fmt = (n: number) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(2)} G`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(2)} M`
      : n >= 1e4
        ? `${(n / 1e3).toFixed(1)} k`
        : String(Math.round(n));

export class CountersView {
  private readonly tiles: HTMLElement;
  private readonly jitBox: HTMLElement;
  private readonly panels: Record<string, Panel> = {};
  private prev: { events: EventCounts; at: number } | null = null;
  private readonly labels: string[] = [];
  private sample = 0;

  constructor(host: HTMLElement) {
    host.classList.add("counters");
    this.tiles = el("div", "tiles");
    host.append(this.tiles);
    const grid = el("div", "chart-grid");
    host.append(grid);
    const add = (key: string, title: string, cfg: ChartConfiguration, explain: string) => {
      const box = el("figure", "chart-box");
      box.dataset.chart = key;
      const cap = el("figcaption");
      cap.textContent = title;
      cap.title = explain;
      const wrap = el("div", "chart-wrap");
      const canvas = document.createElement("canvas");
      canvas.setAttribute("aria-label", title);
      wrap.append(canvas);
      const note = el("p", "chart-note");
      box.append(cap, wrap, note);
      grid.append(box);
      this.panels[key] = { box, chart: new Chart(canvas, cfg), note };
    };
    const line = (): ChartConfiguration => ({
      type: "line",
      data: { labels: this.labels, datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { type: "logarithmic", min: 1 } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 10 } } },
        elements: { point: { radius: 0 } },
      },
    });
    const bar = (horizontal = true): ChartConfiguration => ({
      type: "bar",
      data: { labels: [], datasets: [{ label: "count", data: [], backgroundColor: PALETTE }] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: false } },
      },
    });
    add(
      "rates",
      "Events per second, by class",
      line(),
      "Counter increase over the last second, per event class (log scale)",
    );
    add("exits", "VM exits by reason", bar(), "HW modes: each exit with its Intel basic exit reason");
    add("hypercalls", "Hypercalls by operation", bar(), "PV mode: hypercalls the guest made, by operation");
    add(
      "callouts",
      "BT callouts by instruction",
      bar(),
      "BT mode: sensitive instructions in translated kernel code",
    );
    add(
      "shadow",
      "Shadow paging",
      bar(),
      "BT and HW without EPT: hidden, tracing and true faults, CR3 switches",
    );
    add("tlb", "TLB misses and page-walk references", bar(), "1D walks: 2 refs per miss; 2D (EPT): up to 14");
    add(
      "cycles",
      "Modelled cycles by cause",
      {
        type: "doughnut",
        data: { labels: [], datasets: [{ data: [], backgroundColor: PALETTE }] },
        options: { animation: false, maintainAspectRatio: false, plugins: { legend: { position: "right" } } },
      },
      "From the cost model (src/engine/vmm/costs.ts): modelled, not measured; wall time is separate",
    );
    add(
      "mips",
      "Guest MIPS (wall time of the emulator)",
      line(),
      "Guest instructions per second of emulator wall time",
    );
    this.jitBox = el("div", "jit-stats");
    host.append(this.jitBox);
    this.reset();
  }

  /** Forget the history (a new machine). */
  reset(): void {
    this.prev = null;
    this.labels.length = 0;
    this.sample = 0;
    this.panels.rates.chart.data.datasets = [];
    this.panels.mips.chart.data.datasets = [
      { label: "MIPS", data: [], borderColor: cssVar("--accent"), backgroundColor: cssVar("--accent") },
    ];
    (this.panels.mips.chart.options.scales!.y as { type: string }).type = "linear";
    for (const p of Object.values(this.panels)) p.chart.update();
    this.tiles.replaceChildren(tile("state", "no machine"));
    this.jitBox.replaceChildren();
  }

  update(msg: StatsMessage): void {
    const s = msg.machine;
    if (!s) return;
    const events = eventsOf(s);
    const now = performance.now();
    // References the hardware walker makes per TLB miss (the VMM's own software walks excluded).
    const hwRefs =
      (events["walk.ref.guest"] ?? 0) + (events["walk.ref.shadow"] ?? 0) + (events["walk.ref.ept"] ?? 0);
    this.tiles.replaceChildren(
      tile("mode", s.mode),
      tile("instructions", fmt(s.instructions)),
      tile("MIPS", s.mips.toFixed(1)),
      tile("virtual time", `${(s.virtualNs / 1e9).toFixed(2)} s`),
      ...(s.cycles ? [tile("modelled cycles", fmt(s.cycles.total))] : []),
      tile("TLB misses", fmt(s.tlb.misses)),
      tile("walk refs / miss", s.tlb.misses ? (hwRefs / s.tlb.misses).toFixed(2) : "–"),
    );

    // Rates by class.
    this.labels.push(String(this.sample++));
    if (this.labels.length > HISTORY) this.labels.shift();
    const rates: Record<string, number> = {};
    if (this.prev) {
      const dt = (now - this.prev.at) / 1000;
      for (const [name, n] of Object.entries(events)) {
        const c = eventClass(name);
        if (!c) continue;
        const d = n - (this.prev.events[name] ?? 0);
        if (d > 0) rates[c] = (rates[c] ?? 0) + d / dt;
      }
    }
    this.prev = { events, at: now };
    const rc = this.panels.rates.chart;
    for (const c of Object.keys(rates))
      if (!rc.data.datasets.some((d) => d.label === c))
        rc.data.datasets.push({
          label: c,
          data: new Array(Math.max(0, this.labels.length - 1)).fill(null),
          borderColor: CLASS_COLOURS[c],
          backgroundColor: CLASS_COLOURS[c],
        });
    for (const d of rc.data.datasets) {
      const arr = d.data as (number | null)[];
      arr.push(rates[d.label!] ?? null);
      while (arr.length > this.labels.length) arr.shift();
    }
    rc.update();
    const mips = this.panels.mips.chart.data.datasets[0].data as number[];
    mips.push(s.mips);
    while (mips.length > this.labels.length) mips.shift();
    this.panels.mips.chart.update();

    const prefixed = (prefix: string) =>
      Object.entries(events)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, n]) => [k.slice(prefix.length), n] as [string, number])
        .sort((a, b) => b[1] - a[1]);
    this.bars("exits", s.vmx ? prefixed("exit.") : [], "No VM exits: not a VT-x mode");
    this.bars("hypercalls", prefixed("hypercall."), "No hypercalls: only PV guests make them");
    this.bars("callouts", prefixed("bt.callout.").slice(0, 12), "No BT callouts: not BT mode");
    this.bars(
      "shadow",
      s.shadow ? prefixed("shadow.") : [],
      "No shadow page tables: native paging, EPT or PV direct paging",
    );
    this.bars(
      "tlb",
      [
        ["TLB misses", s.tlb.misses] as [string, number],
        ...prefixed("walk.ref.").map(([k, n]) => [`walk refs: ${k}`, n] as [string, number]),
      ].filter(([, n]) => n > 0),
      "No TLB misses yet",
    );
    const cycles = s.cycles
      ? Object.entries(s.cycles.byCause)
          .filter(([, n]) => (n ?? 0) > 0)
          .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
      : [];
    this.bars("cycles", cycles as [string, number][], "The cost model is not available in this build");
    this.jit(msg);
  }

  private bars(key: string, rows: [string, number][], empty: string): void {
    const p = this.panels[key];
    p.box.classList.toggle("empty", rows.length === 0);
    p.note.textContent = rows.length ? "" : empty;
    p.chart.data.labels = rows.map((r) => r[0]);
    p.chart.data.datasets[0].data = rows.map((r) => r[1]);
    p.chart.update();
  }

  private jit(msg: StatsMessage): void {
    const j = msg.jit;
    if (!j) {
      this.jitBox.replaceChildren();
      return;
    }
    const h = el("h3");
    h.textContent = `JIT ${j.enabled ? (j.ready ? "running" : "starting…") : "off"}`;
    const dl = el("dl", "kv");
    const rows: [string, string][] = [
      ["blocks compiled", fmt(j.blocksCompiled)],
      ["compiled again when hot", fmt(j.hotRecompiles)],
      ["wasm modules", fmt(j.modules)],
      ["wasm bytes", fmt(j.wasmBytes)],
      ["compile time", `${j.compileMs.toFixed(0)} ms`],
      ["block runs", fmt(j.blockRuns)],
      ["invalidations", fmt(j.invalidations)],
      ["cache bytes", fmt(j.cacheBytes)],
    ];
    const fb = Object.entries(j.fallbacks ?? {})
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6);
    for (const [k, v] of fb) rows.push([`fallback: ${k}`, fmt(v)]);
    for (const [k, v] of rows) {
      const dt = el("dt");
      dt.textContent = k;
      const dd = el("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
    this.jitBox.replaceChildren(h, dl);
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

function tile(label: string, value: string): HTMLElement {
  const t = el("div", "tile");
  const v = el("div", "tile-value");
  v.textContent = value;
  const l = el("div", "tile-label");
  l.textContent = label;
  t.dataset.tile = label;
  t.append(v, l);
  return t;
}
