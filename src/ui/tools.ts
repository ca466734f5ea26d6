// The page's tool panels: snapshots, "Compare modes", the JIT explorer and the page-walk
// visualizer. Each is plain DOM built here and talks to the engine Worker only through
// EngineClient.tool() (src/ui/protocol.ts ToolCall).

import { Chart } from "chart.js";
import type { EngineClient } from "./engine-client.ts";
import { download, SnapshotStore, type StoredSnapshot } from "./snapshots.ts";
import type { CompareResult } from "../engine/compare.ts";
import type { WalkExplanation, WalkResult } from "../engine/mmu/walk-explain.ts";

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const hex = (v: number) => "0x" + (v >>> 0).toString(16).padStart(8, "0");

export interface ToolHost {
  engine: EngineClient;
  /** Show an error in the page's banner. */
  error(title: string, message: string): void;
  /** A short note in the status area. */
  info(message: string): void;
  /** Name of the image the current machine runs (for snapshot names). */
  currentImage(): string | null;
  /** A restore replaced the machine: the page clears its terminal. */
  restored(): void;
}

// ---- snapshots --------------------------------------------------------------------------------------

export class SnapshotsPanel {
  private readonly list: HTMLElement;
  private readonly store = new SnapshotStore();
  private readonly nameInput: HTMLInputElement;

  constructor(
    root: HTMLElement,
    private readonly host: ToolHost,
  ) {
    this.nameInput = el("input", {
      id: "snap-name",
      placeholder: "snapshot name",
      "aria-label": "Snapshot name",
    });
    const save = el("button", { id: "snap-save", type: "button", class: "primary", text: "Save snapshot" });
    const file = el("input", {
      id: "snap-file",
      type: "file",
      accept: ".vlsnap,application/octet-stream",
      hidden: "",
    });
    const imp = el("button", { id: "snap-import", type: "button", text: "Import from file…" });
    this.list = el("ul", { id: "snap-list", class: "snap-list" });
    root.append(
      el(
        "p",
        { class: "help" },
        "A snapshot holds the whole machine — CPU, memory, devices, disk overlay, mode and counters — in this browser's storage. " +
          "Each carries a SHA-256; damaged or foreign files are refused. In deterministic mode a restored machine continues exactly as the original would.",
      ),
      el("div", { class: "row" }, this.nameInput, save, imp, file),
      this.list,
    );
    save.addEventListener("click", () => void this.save());
    imp.addEventListener("click", () => file.click());
    file.addEventListener("change", () => {
      const f = file.files?.[0];
      file.value = "";
      if (f) void this.import(f);
    });
    void this.refresh();
  }

  async refresh(): Promise<void> {
    let items: StoredSnapshot[];
    try {
      items = await this.store.list();
    } catch (e) {
      this.list.replaceChildren(
        el("li", { class: "muted", text: `Snapshots are unavailable: ${(e as Error).message}` }),
      );
      return;
    }
    if (!items.length) {
      this.list.replaceChildren(el("li", { class: "muted", text: "No snapshots yet." }));
      return;
    }
    this.list.replaceChildren(
      ...items.map((s) => {
        const restore = el("button", { type: "button", class: "snap-restore", text: "Restore" });
        const exp = el("button", { type: "button", class: "snap-export", text: "Export" });
        const rm = el("button", { type: "button", class: "snap-delete", text: "Delete" });
        restore.addEventListener("click", () => void this.restore(s));
        exp.addEventListener("click", () => void this.export(s));
        rm.addEventListener("click", () => void this.remove(s));
        const when = new Date(s.info.created).toLocaleString();
        return el(
          "li",
          { "data-id": s.id, class: "snap" },
          el("strong", { class: "snap-name", text: s.name }),
          el("span", {
            class: "muted",
            text: ` ${String(s.info.meta.image ?? "?")} · ${s.info.mode} · ${s.info.memoryMiB} MiB · ${(s.bytes / 1e6).toFixed(1)} MB · ${when}${s.info.deterministic ? " · deterministic" : ""}`,
          }),
          el("span", { class: "snap-actions" }, restore, exp, rm),
        );
      }),
    );
  }

  private async save(): Promise<void> {
    const name =
      this.nameInput.value.trim() ||
      `${this.host.currentImage() ?? "machine"} ${new Date().toLocaleTimeString()}`;
    try {
      const { bytes, info } = await this.host.engine.tool({ tool: "saveSnapshot", meta: { label: name } });
      await this.store.save(name, bytes, info);
      this.nameInput.value = "";
      this.host.info(`Saved snapshot "${name}" (${(bytes.length / 1e6).toFixed(1)} MB)`);
    } catch (e) {
      this.host.error("Cannot save the snapshot", (e as Error).message);
    }
    await this.refresh();
  }

  private async restore(s: StoredSnapshot): Promise<void> {
    try {
      const bytes = await this.store.bytes(s.id);
      this.host.restored();
      await this.host.engine.tool({ tool: "restoreSnapshot", bytes });
      this.host.info(`Restored "${s.name}"`);
    } catch (e) {
      this.host.error("Cannot restore the snapshot", (e as Error).message);
    }
  }

  private async export(s: StoredSnapshot): Promise<void> {
    try {
      download(await this.store.bytes(s.id), `${s.name.replace(/[^\w.-]+/g, "_")}.vlsnap`);
    } catch (e) {
      this.host.error("Cannot export the snapshot", (e as Error).message);
    }
  }

  private async remove(s: StoredSnapshot): Promise<void> {
    await this.store.delete(s.id);
    await this.refresh();
  }

  /** Import a file: the Worker checks its hash and reads its info before it is stored. */
  async import(file: File): Promise<void> {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const info = await this.host.engine.tool({ tool: "inspectSnapshot", bytes });
      await this.store.save(file.name.replace(/\.vlsnap$/, ""), bytes, info);
      this.host.info(`Imported "${file.name}"`);
    } catch (e) {
      this.host.error(`Cannot import ${file.name}`, (e as Error).message);
    }
    await this.refresh();
  }
}

// ---- compare modes ------------------------------------------------------------------------------------

const MODE_NOTES: Record<string, string> = {
  bt: "BT: sensitive kernel instructions become VMM callouts; shadow page tables make page-table updates and fresh mappings cost hidden and tracing faults.",
  pv: "PV: the guest asks the hypervisor directly (hypercalls, batched page-table updates); no trap-and-emulate, but every privileged operation is a call.",
  hw: "HW (VT-x + EPT): the guest runs at its own privilege; listed events exit to the monitor. TLB misses walk two dimensions (up to 14 references).",
  "hw-noept":
    "HW without EPT: VT-x exits plus shadow paging — every guest page-table write and new mapping is a #PF exit the monitor handles.",
};

export class ComparePanel {
  private readonly out: HTMLElement;
  private charts: Chart[] = [];
  private readonly status: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly host: ToolHost,
  ) {
    const workload = el("select", { id: "cmp-workload", "aria-label": "Workload" });
    const groups: [string, string[]][] = [
      [
        "teachkernel",
        ["syscall", "forkwait", "ctxsw", "pgfault", "ptemod", "inout", "cr3", "cr8", "divzero", "callret"],
      ],
      ["linux", ["linux-fork", "linux-syscall", "linux-disk"]],
    ];
    for (const [image, ws] of groups) {
      const g = el("optgroup", { label: image });
      for (const w of ws) g.append(el("option", { value: `${image}:${w}`, text: w }));
      workload.append(g);
    }
    const ops = el("input", {
      id: "cmp-ops",
      type: "number",
      min: "10",
      step: "10",
      placeholder: "default ops",
      "aria-label": "Operations",
    });
    const run = el("button", { id: "cmp-run", type: "button", class: "primary", text: "Run in every mode" });
    this.status = el("p", { id: "cmp-status", class: "muted", role: "status" });
    this.out = el("div", { id: "cmp-out" });
    root.append(
      el(
        "p",
        { class: "help" },
        "Runs one workload in BT, PV, HW and HW-without-EPT and isolates the cost of one operation (two runs, N and a smaller baseline, differenced). Modelled cycles come from the cost table; wall time is the emulator's own.",
      ),
      el("div", { class: "row" }, workload, ops, run),
      this.status,
      this.out,
    );
    run.addEventListener("click", () => {
      const [image, w] = workload.value.split(":");
      void this.run(image, w, ops.value ? Number(ops.value) : undefined, run);
    });
  }

  private async run(image: string, workload: string, ops: number | undefined, button: HTMLButtonElement) {
    button.disabled = true;
    this.status.textContent = `Running ${workload} in every mode…`;
    try {
      const r = await this.host.engine.tool(
        { tool: "compare", image, workload, ops },
        (m) => (this.status.textContent = m),
      );
      this.status.textContent = `${r.workload}: ${r.ops} operations (baseline ${r.baselineOps}). ${r.method}`;
      this.render(r);
    } catch (e) {
      this.status.textContent = "";
      this.host.error("Compare failed", (e as Error).message);
    } finally {
      button.disabled = false;
    }
  }

  render(r: CompareResult): void {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    const modes = Object.keys(r.modes) as (keyof CompareResult["modes"])[];
    const rows: [string, (m: NonNullable<CompareResult["modes"]["bt"]>) => string][] = [
      ["modelled cycles / op", (m) => m.cyclesPerOp.toFixed(0)],
      ["instructions / op", (m) => m.instructionsPerOp.toFixed(1)],
      ["VM exits / op", (m) => m.exitsPerOp.toFixed(2)],
      ["hypercalls / op", (m) => m.hypercallsPerOp.toFixed(2)],
      ["VMM memory faults / op", (m) => m.faultsPerOp.toFixed(2)],
      [
        "walk refs / TLB miss",
        (m) => (m.walkRefsPerTlbMiss === null ? "–" : m.walkRefsPerTlbMiss.toFixed(2)),
      ],
      ["wall ms (emulator)", (m) => m.wallMs.toFixed(0)],
    ];
    const table = el(
      "table",
      { class: "cmp-table", id: "cmp-table" },
      el(
        "thead",
        {},
        el("tr", {}, el("th", { text: "per operation" }), ...modes.map((m) => el("th", { text: m }))),
      ),
      el(
        "tbody",
        {},
        ...rows.map(([label, f]) =>
          el("tr", {}, el("th", { text: label }), ...modes.map((m) => el("td", { text: f(r.modes[m]!) }))),
        ),
      ),
    );
    const chartRow = el("div", { class: "cmp-charts" });
    const mk = (title: string, values: number[], colour: string) => {
      const c = el("canvas", { "aria-label": title });
      chartRow.append(
        el(
          "figure",
          { class: "chart-box" },
          el("figcaption", { text: title }),
          el("div", { class: "chart-wrap" }, c),
        ),
      );
      this.charts.push(
        new Chart(c, {
          type: "bar",
          data: { labels: modes, datasets: [{ label: title, data: values, backgroundColor: colour }] },
          options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
        }),
      );
    };
    mk(
      "Modelled cycles per operation",
      modes.map((m) => r.modes[m]!.cyclesPerOp),
      "#2e86de",
    );
    mk(
      "VM exits + hypercalls + VMM faults per operation",
      modes.map((m) => r.modes[m]!.exitsPerOp + r.modes[m]!.hypercallsPerOp + r.modes[m]!.faultsPerOp),
      "#e4572e",
    );
    const notes = el(
      "ul",
      { class: "cmp-notes" },
      ...modes.map((m) => el("li", { text: MODE_NOTES[m] ?? m })),
    );
    this.out.replaceChildren(table, chartRow, notes);
  }
}

// ---- JIT explorer ---------------------------------------------------------------------------------------

export class JitPanel {
  private readonly blocks: HTMLSelectElement;
  private readonly sensitive: HTMLInputElement;
  private readonly view: HTMLElement;
  /** The block on display (a late disassembly of another one is dropped). */
  private shown = -1;
  private readonly status: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly host: ToolHost,
  ) {
    const refresh = el("button", { id: "jit-refresh", type: "button", text: "Hot blocks" });
    this.blocks = el("select", { id: "jit-blocks", "aria-label": "Hot block" });
    this.sensitive = el("input", { id: "jit-sensitive", type: "checkbox" });
    this.status = el("p", { class: "muted", id: "jit-status" });
    this.view = el("div", { class: "jit-view", id: "jit-view" });
    root.append(
      el(
        "p",
        { class: "help" },
        "Pick one of the most-run compiled blocks: the guest's x86 instructions (disassembled from the opcode table, at their own addresses) beside the WebAssembly the JIT made of them. The JIT never compiles a sensitive or privileged instruction: it ends the block and is shown highlighted after it, with what it becomes — in BT mode, a VMM callout. Innocuous instructions the JIT has no code for yet (string operations, MUL/DIV, BT, x87) stay in the block in italics: it calls the interpreter for each of them and goes on.",
      ),
      el(
        "div",
        { class: "row" },
        refresh,
        this.blocks,
        el("label", { class: "check" }, this.sensitive, " only blocks ending in a sensitive instruction"),
      ),
      this.status,
      this.view,
    );
    refresh.addEventListener("click", () => void this.refresh());
    this.sensitive.addEventListener("change", () => void this.refresh());
    this.blocks.addEventListener("change", () => void this.show(Number(this.blocks.value)));
  }

  async refresh(): Promise<void> {
    try {
      const list = await this.host.engine.tool({
        tool: "hotBlocks",
        limit: 30,
        endsSensitive: this.sensitive.checked,
      });
      this.status.textContent = list.length ? "" : await this.whyEmpty();
      this.blocks.replaceChildren(
        ...list.map((b) =>
          el("option", {
            value: String(b.id),
            text: `${hex(b.eip)} · ${b.insns} insns · ${b.runs.toLocaleString("en-US")} runs`,
          }),
        ),
      );
      if (list.length) await this.show(list[0].id);
      else this.view.replaceChildren();
    } catch (e) {
      this.host.error("JIT explorer", (e as Error).message);
    }
  }

  /** Why the list is empty, from the JIT's own statistics. */
  private async whyEmpty(): Promise<string> {
    const j = (await this.host.engine.stats()).jit;
    if (!j || !j.enabled) return "This machine runs without the JIT: nothing is compiled.";
    if (!j.ready) return "The JIT is not running yet; the interpreter runs meanwhile. Try again in a moment.";
    if (this.sensitive.checked) return "No compiled block ends in a sensitive or privileged instruction yet.";
    return "No compiled blocks yet: the guest has not run any code hot enough yet (a guest that has already halted, like the test kernel after ALL PASS, runs none).";
  }

  private async show(id: number): Promise<void> {
    const d = await this.host.engine.tool({ tool: "describeBlock", id });
    if (!d) {
      this.view.replaceChildren(
        el("p", { class: "muted", text: "That block is gone (invalidated or flushed)." }),
      );
      return;
    }
    // binaryen disassembles the wasm; it loads on first use, so the x86 side shows first.
    const wat = el("pre", { class: "wat", text: "disassembling…" });
    const asm = el(
      "table",
      { class: "asm" },
      ...d.insns.map((i) =>
        el(
          "tr",
          {
            class: `cls-${i.cls}${i.exit ? " exit" : ""}${i.inline ? " inline" : ""}`,
            title:
              i.callout ??
              (i.inline
                ? "not compiled: the block calls the interpreter for this one instruction and goes on"
                : i.cls === "innocuous"
                  ? "innocuous: runs as is"
                  : i.cls),
          },
          el("td", { class: "addr", text: hex(i.eip) }),
          el("td", { class: "bytes", text: i.bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ") }),
          el("td", { class: "text", text: i.text }),
          el("td", {
            class: "callout",
            text: i.inline ? "interpreter, in place" : i.cls === "innocuous" ? "" : (i.callout ?? i.cls),
          }),
        ),
      ),
    );
    this.view.replaceChildren(
      el(
        "div",
        { class: "jit-col" },
        el("h4", { text: `guest x86 at ${hex(d.eip)} (phys ${hex(d.phys)}), ${d.mode} mode` }),
        asm,
        el("p", {
          class: "muted",
          id: "jit-stop",
          text: d.insns.at(-1)?.exit
            ? "block ends before the highlighted instruction: the JIT does not compile it, so it runs outside the block"
            : `block ends: ${d.stop}`,
        }),
      ),
      el("div", { class: "jit-col" }, el("h4", { text: "generated WebAssembly (text)" }), wat),
    );
    this.shown = id;
    try {
      const text = await this.host.engine.tool({ tool: "blockWasm", id });
      if (this.shown === id) wat.textContent = text ?? "That block is gone (invalidated or flushed).";
    } catch (e) {
      if (this.shown === id) wat.textContent = `Could not disassemble the block: ${(e as Error).message}`;
    }
  }
}

// ---- page-walk visualizer ---------------------------------------------------------------------------------

export class WalkPanel {
  private readonly out: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly host: ToolHost,
  ) {
    const input = el("input", {
      id: "walk-addr",
      placeholder: "guest virtual address, e.g. 0xc0100000",
      "aria-label": "Guest virtual address",
      value: "0xc0100000",
    });
    const go = el("button", { id: "walk-go", type: "submit", class: "primary", text: "Walk" });
    this.out = el("div", { id: "walk-out", class: "walk-out" });
    root.append(
      el(
        "p",
        { class: "help" },
        "Enter a guest-virtual address of the running machine: the native two-level walk, the shadow-table lookup (BT, HW without EPT) and the two-dimensional EPT walk (HW), every memory reference numbered. Looking changes nothing in the machine.",
      ),
      el("form", { class: "row", id: "walk-form" }, input, go),
      this.out,
    );
    root.querySelector("form")!.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.walk(input.value);
    });
  }

  private async walk(text: string): Promise<void> {
    const v = Number(text.trim());
    if (!Number.isFinite(v) || v < 0 || v > 0xffffffff) {
      this.host.error("Page walk", `"${text}" is not an address: enter a number such as 0xc0100000`);
      return;
    }
    try {
      this.render(await this.host.engine.tool({ tool: "walk", address: v }));
    } catch (e) {
      this.host.error("Page walk", (e as Error).message);
    }
  }

  render(w: WalkExplanation): void {
    const section = (title: string, r: WalkResult, cls: string) =>
      el(
        "section",
        { class: `walk ${cls}` },
        el("h4", { text: `${title} — ${r.refs.length} memory reference${r.refs.length === 1 ? "" : "s"}` }),
        el(
          "ol",
          { class: "refs" },
          ...r.refs.map((ref) =>
            el(
              "li",
              { class: `ref dim-${ref.dimension}`, value: String(ref.n) },
              el("span", { class: "ref-n", text: String(ref.n) }),
              el("span", { class: "ref-what", text: `${ref.what}[${ref.index}]` }),
              el("span", { class: "ref-addr", text: ref.address }),
              el("span", { class: "ref-val", text: ref.value }),
              el("span", { class: "ref-note", text: ref.note }),
            ),
          ),
        ),
        el("p", { class: "outcome", text: r.outcome }),
      );
    const parts: HTMLElement[] = [
      el(
        "p",
        { class: "walk-head" },
        `${hex(w.linear)} in ${w.mode} mode: CR3 ${hex(w.cr3)}, directory index ${w.pdi}, table index ${w.pti}, offset 0x${w.offset.toString(16)}. ` +
          `TLB: ${w.tlb.present ? `cached → ${hex(w.tlb.frame)} (${w.tlb.flags})` : "not cached"}.`,
      ),
      section("Native walk (guest page tables)", w.native, "native"),
    ];
    if (w.shadow)
      parts.push(
        section(
          `Shadow-table lookup (VMM's tables for guest CR3 ${hex(w.shadow.guestCr3)}, ${w.shadow.roots} cached)`,
          w.shadow,
          "shadow",
        ),
      );
    if (w.ept) parts.push(section("2D walk: guest tables through the EPT", w.ept, "ept"));
    if (!w.shadow && !w.ept)
      parts.push(
        el("p", {
          class: "muted",
          text: "This mode has no shadow tables or EPT: the hardware walks the guest's tables directly (start the machine in BT, HW or HW without EPT to compare).",
        }),
      );
    this.out.replaceChildren(...parts);
  }
}
