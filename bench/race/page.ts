// The parts of bench:race that run inside the browser page (passed to page.evaluate, so each
// function is self-contained: no imports at run time, no references to this module's scope). Both
// time everything with the page's performance.now() and return plain data, errors included.
import type { VirtLabVM } from "../../src/automation/types.ts";
import type { V86, V86Options } from "v86";

export interface RaceCommand {
  /** Short name for the report. */
  name: string;
  /** One shell command line; it ends by printing `marker`. */
  cmd: string;
  /** The unique end marker the command prints last (e.g. END-42). */
  marker: string;
}

export interface PageParams {
  commands: RaceCommand[];
  /** Wall-clock limit for boot to VIRTLAB-READY, in ms. */
  bootTimeoutMs: number;
  /** Wall-clock limit for each command, in ms. */
  cmdTimeoutMs: number;
  /** v86 only: URLs of its files. */
  v86?: { wasm: string; bios: string; vgaBios: string; bzimage: string; initrd: string; cmdline: string };
}

export interface CommandTiming {
  name: string;
  ms: number;
  /** What the command printed (for checking that both emulators computed the same thing). */
  output: string;
  /** VirtLab: guest instructions the command took, and ms the engine spent running the guest. */
  instructions?: number;
  busyMs?: number;
}

export interface PageResult {
  ok: boolean;
  /** On failure: what happened, and the tail of the serial output. */
  error?: string;
  tail?: string;
  /** performance.timeOrigin + the start time: the run's t = 0 in ms since the epoch. */
  t0Epoch: number;
  /** Files fetched (and, in VirtLab, checked) and the machine created: boot() returned / emulator-loaded. */
  loadedMs?: number;
  /** VIRTLAB-READY printed. */
  readyMs?: number;
  /** The shell prompt after it. */
  promptMs?: number;
  commands: CommandTiming[];
  /**
   * VirtLab: sampled during the boot from vm.stats(): [ms since t0, guest instructions, ms the engine
   * spent running the guest (the rest is waiting for guest timers while it idles, and messages)].
   */
  timeline?: [number, number, number][];
  /** VirtLab: guest instructions at the end, and its own stats() (wallMs, mips). */
  instructions?: number;
  /** VirtLab: JIT statistics if the page exposes them for the automation machine, else null. */
  jit?: unknown;
}

/** VirtLab: boot Linux through window.virtlab.vm, wait for VIRTLAB-READY and the prompt, run the commands. */
export async function virtlabInPage(p: PageParams): Promise<PageResult> {
  type Hook = { vm: VirtLabVM; stats?: () => Promise<{ jit?: unknown }> };
  const hook = (window as unknown as { virtlab: Hook }).virtlab;
  const vm = hook.vm;
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  const r: PageResult = { ok: false, t0Epoch: performance.timeOrigin + t0, commands: [], timeline: [] };
  // Sample the counters while it boots (stats() is answered at once, even while a call runs).
  let sampling = true;
  const sample = async (last = false) => {
    const s = await vm.stats();
    if (sampling || last) r.timeline!.push([since(), s.instructions, s.wallMs]);
  };
  const sampler = (async () => {
    while (sampling) {
      try {
        await sample();
      } catch {
        // no machine yet
      }
      await new Promise((ok) => setTimeout(ok, 250));
    }
  })();
  let step = "boot";
  try {
    await vm.boot("linux", { mode: "native", deterministic: false, waitForReady: false });
    r.loadedMs = since();
    step = "waiting for VIRTLAB-READY";
    await vm.waitFor("VIRTLAB-READY", { timeoutMs: p.bootTimeoutMs });
    r.readyMs = since();
    step = "waiting for the shell prompt";
    await vm.waitFor(/[#$] /, { timeoutMs: 60_000 });
    r.promptMs = since();
    sampling = false;
    await sample(true);
    for (const c of p.commands) {
      step = `running "${c.cmd}"`;
      const before = await vm.stats();
      const t = performance.now();
      const output = await vm.run(c.cmd, { timeoutMs: p.cmdTimeoutMs });
      const ms = performance.now() - t;
      const after = await vm.stats();
      if (!output.includes(c.marker)) throw new Error(`the output lacks ${c.marker}: ${output.slice(-300)}`);
      r.commands.push({
        name: c.name,
        ms,
        output,
        instructions: after.instructions - before.instructions,
        busyMs: after.wallMs - before.wallMs,
      });
    }
    const stats = (await vm.stats()) as { instructions: number; jit?: unknown };
    r.instructions = stats.instructions;
    // The JIT's counters: from vm.stats() if the engine reports them there, else the page's own stats
    // (which cover the machine started with the page's Start button, not the automation machine).
    const pageJit = hook.stats ? (await hook.stats()).jit : null;
    r.jit = stats.jit ?? pageJit ?? null;
    r.ok = true;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    r.error = `${step}: ${err.code ? `[${err.code}] ` : ""}${err.message ?? String(e)}`;
    try {
      r.tail = (await vm.output()).slice(-1500);
    } catch {
      // no output to show
    }
  } finally {
    sampling = false;
  }
  await sampler;
  try {
    await vm.close();
  } catch {
    // the page is closed next anyway
  }
  return r;
}

/** v86: the same kernel and initramfs, the same waits and the same commands typed on ttyS0. */
export async function v86InPage(p: PageParams): Promise<PageResult> {
  const Ctor = (window as unknown as { V86: new (o: V86Options) => V86 }).V86;
  const files = p.v86!;
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  const r: PageResult = { ok: false, t0Epoch: performance.timeOrigin + t0, commands: [] };
  let out = "";
  // One waiter at a time: resolves with the time at which the output since `from` first contained
  // one of `needles` (checked as each byte arrives, so the time is that of its last byte), and the
  // offset just past that match. Output that arrived before the wait began is searched first: v86
  // prints in bursts, so the prompt may already be there when the wait for it starts.
  type Match = { at: number; end: number };
  let waiter: { from: number; needles: string[]; resolve: (m: Match) => void } | null = null;
  const waitFor = (needles: string[], from: number, timeoutMs: number, what: string) =>
    new Promise<Match>((resolve, reject) => {
      for (const n of needles) {
        const i = out.indexOf(n, from);
        if (i >= 0) return resolve({ at: since(), end: i + n.length });
      }
      const timer = setTimeout(() => {
        waiter = null;
        reject(new Error(`timeout after ${timeoutMs / 1000} s ${what}`));
      }, timeoutMs);
      waiter = {
        from,
        needles,
        resolve: (m) => {
          clearTimeout(timer);
          waiter = null;
          resolve(m);
        },
      };
    });
  let emu: V86 | null = null;
  let step = "starting v86";
  try {
    const v = new Ctor({
      wasm_path: files.wasm,
      memory_size: 128 << 20,
      vga_memory_size: 2 << 20,
      bios: { url: files.bios },
      vga_bios: { url: files.vgaBios },
      bzimage: { url: files.bzimage },
      initrd: { url: files.initrd },
      cmdline: files.cmdline,
      autostart: true,
      disable_speaker: true,
      disable_keyboard: true,
      disable_mouse: true,
    });
    emu = v;
    v.add_listener("emulator-loaded", () => (r.loadedMs = since()));
    v.add_listener("serial0-output-byte", (b: number) => {
      out += String.fromCharCode(b);
      const w = waiter;
      if (w)
        for (const n of w.needles)
          if (out.length - n.length >= w.from && out.endsWith(n)) {
            w.resolve({ at: since(), end: out.length });
            break;
          }
    });
    const PROMPT = ["# ", "$ "];
    step = "waiting for VIRTLAB-READY";
    const ready = await waitFor(["VIRTLAB-READY"], 0, p.bootTimeoutMs, "waiting for VIRTLAB-READY");
    r.readyMs = ready.at;
    step = "waiting for the shell prompt";
    const prompt = await waitFor(PROMPT, ready.end, 60_000, "waiting for the shell prompt");
    r.promptMs = prompt.at;
    for (const c of p.commands) {
      step = `running "${c.cmd}"`;
      const from = out.length;
      const t = since();
      v.serial0_send(c.cmd + "\n");
      const end = await waitFor([c.marker], from, p.cmdTimeoutMs, `running "${c.cmd}"`);
      r.commands.push({ name: c.name, ms: end.at - t, output: out.slice(from, end.end) });
      // Back at the prompt before the next command, as VirtLab's run() is.
      await waitFor(PROMPT, end.end, 60_000, "waiting for the shell prompt");
    }
    r.ok = true;
  } catch (e) {
    r.error = `${step}: ${(e as Error).message ?? String(e)}`;
    r.tail = out.slice(-1500);
  }
  const e = emu as V86 | null;
  if (e) await Promise.race([e.destroy().catch(() => {}), new Promise((ok) => setTimeout(ok, 5000))]);
  return r;
}

export interface StartButtonResult {
  ok: boolean;
  error?: string;
  tail?: string;
  readyMs?: number;
  promptMs?: number;
  /** When the page's counters first showed the JIT ready, polled every 100 ms. */
  jitReadyMs?: number;
  commands: { name: string; ms: number; output: string }[];
  /** Guest instructions and the JIT's counters (window.virtlab.stats()) at the prompt and at the end. */
  atPrompt?: { instructions: number; jit: unknown };
  atEnd?: { instructions: number; jit: unknown };
}

/**
 * VirtLab as a user starts it: pick linux, 128 MiB, native, not deterministic, press Start; type the
 * commands into COM1 with window.virtlab.send and watch window.virtlab.serialText() (polled every
 * 10 ms). This machine runs in the Worker's own run loop, and the page reports its JIT counters.
 */
export async function startButtonInPage(p: PageParams): Promise<StartButtonResult> {
  type Hook = {
    serialText(): string;
    send(text: string): void;
    stats(): Promise<{ machine: { instructions: number } | null; jit?: unknown }>;
  };
  const hook = (window as unknown as { virtlab: Hook }).virtlab;
  const r: StartButtonResult = { ok: false, commands: [] };
  const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
  const el = <T extends HTMLElement>(id: string): T => {
    const e = document.getElementById(id);
    if (!e) throw new Error(`the page has no #${id}`);
    return e as T;
  };
  // Poll serialText() from `from` until it contains `needle` (or one of several); the time is when seen.
  const waitFor = async (needles: string[], from: number, timeoutMs: number, what: string) => {
    const limit = performance.now() + timeoutMs;
    for (;;) {
      const text = hook.serialText();
      for (const n of needles) {
        const i = text.indexOf(n, from);
        if (i >= 0) return { at: performance.now(), end: i + n.length };
      }
      if (performance.now() > limit) throw new Error(`timeout after ${timeoutMs / 1000} s ${what}`);
      await sleep(10);
    }
  };
  const snapshot = async () => {
    const s = await hook.stats();
    return { instructions: s.machine?.instructions ?? 0, jit: s.jit ?? null };
  };
  let step = "setting up the page's controls";
  try {
    const image = el<HTMLSelectElement>("image");
    for (let i = 0; image.disabled || ![...image.options].some((o) => o.value === "linux"); i++) {
      if (i > 3000) throw new Error("the image list never offered linux");
      await sleep(10);
    }
    const set = (id: string, value: string) => {
      const s = el<HTMLSelectElement>(id);
      s.value = value;
      if (s.value !== value) throw new Error(`#${id} has no option ${value}`);
      s.dispatchEvent(new Event("change", { bubbles: true }));
    };
    set("image", "linux");
    set("memory", "128");
    set("mode", "native");
    const det = el<HTMLInputElement>("deterministic");
    if (det.checked) det.click();
    step = "waiting for VIRTLAB-READY";
    const t0 = performance.now();
    el<HTMLButtonElement>("start").click();
    let watching = true;
    const jitWatch = (async () => {
      while (watching && r.jitReadyMs === undefined) {
        try {
          const s = await hook.stats();
          if ((s.jit as { ready?: boolean } | null | undefined)?.ready) r.jitReadyMs = performance.now() - t0;
        } catch {
          // no machine yet
        }
        await sleep(100);
      }
    })();
    const ready = await waitFor(["VIRTLAB-READY"], 0, p.bootTimeoutMs, "waiting for VIRTLAB-READY").finally(
      () => (watching = false),
    );
    await jitWatch;
    r.readyMs = ready.at - t0;
    step = "waiting for the shell prompt";
    const prompt = await waitFor(["# ", "$ "], ready.end, 60_000, "waiting for the shell prompt");
    r.promptMs = prompt.at - t0;
    r.atPrompt = await snapshot();
    for (const c of p.commands) {
      step = `running "${c.cmd}"`;
      const from = hook.serialText().length;
      const t = performance.now();
      hook.send(c.cmd + "\n");
      const end = await waitFor([c.marker], from, p.cmdTimeoutMs, `running "${c.cmd}"`);
      r.commands.push({ name: c.name, ms: end.at - t, output: hook.serialText().slice(from, end.end) });
      await waitFor(["# ", "$ "], end.end, 60_000, "waiting for the shell prompt");
    }
    r.atEnd = await snapshot();
    r.ok = true;
  } catch (e) {
    r.error = `${step}: ${(e as Error).message ?? String(e)}`;
    r.tail = hook.serialText().slice(-1500);
  }
  return r;
}
