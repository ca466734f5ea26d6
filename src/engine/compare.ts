// The comparison (issue 5, "Comparison"): run one named workload in BT, PV, HW and HW-without-EPT
// and report, per mode, modelled cycles per operation, exits / hypercalls / faults per operation,
// page-walk references per TLB miss and wall time. The CLI (`virtlab compare`) and the UI call this;
// it imports nothing from Node (the engine also runs in Web Workers), so images come from a loader
// the host supplies.
//
// Isolating one operation. Every workload prints `WORKLOAD <name> ops=<n> begin` before its measured
// loop and `… end` after it, and the counters are captured the moment each line reaches the serial
// port. The window between the two still holds fixed costs that are not the operation: the end line
// itself (dozens of emulated UART accesses — each a VM exit or callout), the loop's setup, the cold
// TLB/shadow/EPT state at the start. So each mode runs the workload twice, with N and with a smaller
// baseline B, and one operation is (window(N) − window(B)) / (N − B): the fixed part cancels, what
// is left grows with the operation count. B has as many digits as N (2000 and 1000), because the end
// marker inside the window prints the count: one more digit is one more emulated UART write. (The window alone would put 500+ I/O exits into a
// 1000-syscall window under HW; two whole runs differenced without the markers would mix in boot
// and teardown, which differ slightly with the command line.)

import { Machine, type Mode } from "./machine.ts";
import { bootMultiboot } from "./boot/multiboot.ts";
import { bootLinux } from "./boot/linux.ts";
import type { ImageEntry } from "./boot/manifest.ts";
import { collectStats } from "./stats.ts";
import { diffEvents, eventsOf, summarize, type EventCounts } from "./events.ts";
import { modelCycles, type ModelledCycles } from "./vmm/costs.ts";

/** The modes a comparison runs by default (the contract's four). */
export const COMPARE_MODES: readonly Mode[] = ["bt", "pv", "hw", "hw-noept"];

/** The teaching kernel's microbenchmarks (image `teachkernel`; PV uses `teachkernel-pv`). */
export const TEACH_WORKLOADS = [
  "syscall",
  "forkwait",
  "ctxsw",
  "pgfault",
  "ptemod",
  "inout",
  "cr3",
  "cr8",
  "divzero",
  "callret",
] as const;
/** Linux shell workloads (image `linux`). */
export const LINUX_WORKLOADS = ["linux-fork", "linux-syscall", "linux-disk"] as const;

/** Default operation counts: large enough that the per-op difference is stable, small enough to be quick. */
export const DEFAULT_OPS: Record<string, number> = {
  syscall: 2000,
  forkwait: 200,
  ctxsw: 2000,
  pgfault: 500,
  ptemod: 2000,
  inout: 2000,
  cr3: 2000,
  cr8: 2000,
  divzero: 2000,
  callret: 20000,
  "linux-fork": 40,
  "linux-syscall": 200,
  "linux-disk": 128,
};

/**
 * The baseline run's operation count: the power of ten just below `ops` when it has as many digits
 * (2000 → 1000), so that both runs' end markers — which are inside the window — print the same number
 * of characters and cost the same console I/O; otherwise a tenth of `ops`.
 */
export function defaultBaseline(ops: number): number {
  const p = 10 ** (String(ops).length - 1);
  return ops > p ? p : Math.max(1, Math.round(ops / 10));
}

/** An image as the host loaded (and verified) it: manifest entry and files by role. */
export interface LoadedImage {
  entry: ImageEntry;
  files: Record<string, Uint8Array>;
}
export type ImageLoader = (name: string) => LoadedImage | Promise<LoadedImage>;

/** Whole-machine snapshots (src/engine/snapshot.ts), used to start every run from one booted state. */
export interface SnapshotFns {
  save(m: Machine): Promise<Uint8Array>;
  load(bytes: Uint8Array): Promise<Machine>;
}

export interface CompareOptions {
  image: string;
  workload: string;
  /** Operations in the measured run (default DEFAULT_OPS[workload]). */
  ops?: number;
  /** Operations in the baseline run (default defaultBaseline(ops)). */
  baselineOps?: number;
  modes?: readonly Mode[];
  loadImage: ImageLoader;
  /** When given, Linux workloads boot once per mode and start both runs from a snapshot. */
  snapshot?: SnapshotFns;
  onProgress?: (message: string) => void;
}

export interface ModeComparison {
  /** The image actually booted (PV runs the teaching kernel's PV build). */
  image: string;
  cyclesPerOp: number;
  /** Modelled cycles of one operation by cause. */
  cycles: ModelledCycles;
  instructionsPerOp: number;
  exitsPerOp: number;
  hypercallsPerOp: number;
  /** VMM-handled memory faults: hidden, tracing and true shadow faults, EPT violations. */
  faultsPerOp: number;
  /** Page-walk memory references per TLB miss (1D: 2 on this 2-level MMU; 2D with EPT: up to 14). */
  walkRefsPerTlbMiss: number | null;
  /** Wall time of everything this mode ran (boots included), and of the measured window alone. */
  wallMs: number;
  windowWallMs: number;
  /** Events per operation, in the shared vocabulary (docs/events.md). */
  events: EventCounts;
  /** Raw event counts inside the measured run's begin/end window. */
  windowEvents: EventCounts;
  /** Started from a snapshot of the booted machine (Linux) rather than a fresh boot. */
  fromSnapshot: boolean;
}

export interface CompareResult {
  image: string;
  workload: string;
  ops: number;
  baselineOps: number;
  /** How one operation was isolated. */
  method: string;
  modes: Partial<Record<Mode, ModeComparison>>;
}

export class CompareError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CompareError";
  }
}

interface Mark {
  events: EventCounts;
  wallMs: number;
}

/** A machine with its console watched for workload markers. */
class Console {
  out = "";
  private line = "";
  /** Counters at each `WORKLOAD <name> ops=<n> begin|end` line, keyed "ops:phase". */
  readonly marks = new Map<string, Mark>();
  private readonly detach: () => void;

  constructor(
    readonly m: Machine,
    private readonly workload: string,
  ) {
    this.detach = m.on((e) => {
      if (e.type !== "serial" || e.port !== 0) return;
      const ch = String.fromCharCode(e.byte);
      if (this.out.length < 1 << 20) this.out += ch;
      else this.out = this.out.slice(-(1 << 19)) + ch;
      if (ch !== "\n") {
        if (this.line.length < 256) this.line += ch;
        return;
      }
      const mk = /^WORKLOAD (\S+) ops=(\d+) (begin|end)\r?$/.exec(this.line);
      this.line = "";
      if (mk && mk[1] === this.workload)
        this.marks.set(`${mk[2]}:${mk[3]}`, {
          events: eventsOf(collectStats(m, 0)),
          wallMs: performance.now(),
        });
    });
  }

  dispose(): void {
    this.detach();
  }

  window(ops: number): { events: EventCounts; wallMs: number } | null {
    const b = this.marks.get(`${ops}:begin`),
      e = this.marks.get(`${ops}:end`);
    return b && e ? { events: diffEvents(e.events, b.events), wallMs: e.wallMs - b.wallMs } : null;
  }

  /** Run until `done()` or trouble; yields to the host's event loop between slices. */
  async runUntil(done: () => boolean, what: string, maxInstructions: number): Promise<void> {
    const m = this.m;
    const start = m.cpu.icount;
    for (let k = 0; !done(); k++) {
      if (m.panicMessage !== null)
        throw new CompareError(`guest kernel panic while ${what}: ${m.panicMessage}`);
      const r = m.runSlice(1_000_000);
      if (done()) break;
      if (r.stopped)
        throw new CompareError(`the guest stopped (${m.lastReset?.reason ?? "shutdown"}) while ${what}`);
      if (r.idleUntilNs === Infinity)
        throw new CompareError(
          `the guest halted for good while ${what}; last output:\n${this.out.slice(-600)}`,
        );
      if (m.cpu.icount - start > maxInstructions)
        throw new CompareError(`no progress after ${maxInstructions} instructions while ${what}`);
      if (k % 8 === 7) await new Promise((res) => setTimeout(res, 0));
    }
  }
}

const TEACH_MAX_INSNS = 400e6;
const LINUX_MAX_INSNS = 2e9;

function isTeach(w: string): boolean {
  return (TEACH_WORKLOADS as readonly string[]).includes(w);
}
function isLinux(w: string): boolean {
  return (LINUX_WORKLOADS as readonly string[]).includes(w);
}

/** The shell loop of a Linux workload with `n` operations (disk: `skip` 4 KiB blocks first). */
function linuxLoop(workload: string, n: number, disk: string, skip: number): string {
  switch (workload) {
    case "linux-fork": // one fork + exit + wait of a subshell per operation
      return `i=0; while [ $i -lt ${n} ]; do (true); i=$((i+1)); done`;
    case "linux-syscall": // open, dup2, close and friends of a redirected builtin: no fork
      return `i=0; while [ $i -lt ${n} ]; do : </dev/null; i=$((i+1)); done`;
    default: // linux-disk: one uncached 4 KiB block read from the raw disk per operation
      return `dd if=${disk} of=/dev/null bs=4096 skip=${skip} count=${n} 2>/dev/null`;
  }
}

const DISK_BLOCKS = 256; // the 1 MiB test disk in 4 KiB blocks

export async function compare(opts: CompareOptions): Promise<CompareResult> {
  const { workload } = opts;
  const teach = isTeach(workload);
  if (!teach && !isLinux(workload))
    throw new CompareError(
      `unknown workload "${workload}"; workloads are ${[...TEACH_WORKLOADS, ...LINUX_WORKLOADS].join(", ")}`,
    );
  const wantImage = teach ? "teachkernel" : "linux";
  if (opts.image !== wantImage && !(teach && opts.image === "teachkernel-pv"))
    throw new CompareError(`workload "${workload}" runs on image "${wantImage}", not "${opts.image}"`);
  const ops = opts.ops ?? DEFAULT_OPS[workload];
  const baselineOps = opts.baselineOps ?? defaultBaseline(ops);
  if (!Number.isInteger(ops) || !Number.isInteger(baselineOps) || baselineOps < 1 || ops <= baselineOps)
    throw new CompareError(
      `need whole numbers ops > baseline ops ≥ 1 (got ops=${ops}, baseline=${baselineOps})`,
    );
  if (workload === "linux-disk" && ops + baselineOps > DISK_BLOCKS)
    throw new CompareError(`linux-disk reads distinct 4 KiB blocks: ops + baseline must be ≤ ${DISK_BLOCKS}`);
  const modes = opts.modes ?? COMPARE_MODES;
  const result: CompareResult = {
    image: opts.image,
    workload,
    ops,
    baselineOps,
    method: `(window(ops=${ops}) − window(ops=${baselineOps})) / ${ops - baselineOps}, each window the counters between the workload's begin/end console lines`,
    modes: {},
  };
  for (const mode of modes) {
    opts.onProgress?.(`${mode}: running ${workload}`);
    result.modes[mode] = teach
      ? await runTeach(opts, mode, ops, baselineOps)
      : await runLinux(opts, mode, ops, baselineOps);
  }
  return result;
}

function perOp(
  image: string,
  mode: Mode,
  main: { events: EventCounts; wallMs: number },
  base: { events: EventCounts; wallMs: number },
  n: number,
  wallMs: number,
  fromSnapshot: boolean,
): ModeComparison {
  const d = diffEvents(main.events, base.events);
  const events: EventCounts = {};
  for (const [k, v] of Object.entries(d)) events[k] = Math.round((v / n) * 1e4) / 1e4;
  const exact: EventCounts = {};
  for (const [k, v] of Object.entries(d)) exact[k] = v / n;
  const cycles = modelCycles(exact, mode);
  const s = summarize(exact);
  // Refs per miss from the per-op figures when the operation itself misses the TLB; else the window's.
  const w = s.tlbMisses > 0 ? s : summarize(main.events);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    image,
    cyclesPerOp: Math.round(cycles.total),
    cycles: {
      total: Math.round(cycles.total),
      byCause: Object.fromEntries(Object.entries(cycles.byCause).map(([k, v]) => [k, Math.round(v)])),
      unpriced: cycles.unpriced,
    },
    instructionsPerOp: r2(exact.instructions ?? 0),
    exitsPerOp: r2(s.exits),
    hypercallsPerOp: r2(s.hypercalls),
    faultsPerOp: r2(s.faults),
    walkRefsPerTlbMiss: w.tlbMisses > 0 ? r2(w.walkRefs / w.tlbMisses) : null,
    wallMs: Math.round(wallMs),
    windowWallMs: Math.round(main.wallMs),
    events,
    windowEvents: main.events,
    fromSnapshot,
  };
}

async function runTeach(o: CompareOptions, mode: Mode, n: number, b: number): Promise<ModeComparison> {
  const imageName = mode === "pv" ? "teachkernel-pv" : "teachkernel";
  const img = await o.loadImage(imageName);
  const kernel = img.files.kernel;
  if (!kernel) throw new CompareError(`image ${imageName} has no kernel`);
  const t0 = performance.now();
  const windows = [];
  // The workload is chosen on the kernel command line at boot, so each run is its own
  // (deterministic) boot; there is no booted state to share between the two runs.
  for (const ops of [b, n]) {
    const m = new Machine({ memoryMiB: 32, deterministic: true, mode });
    const c = new Console(m, o.workload);
    bootMultiboot(m, kernel, { name: imageName, cmdline: `workload=${o.workload} ops=${ops}` });
    const what = `running ${o.workload} ops=${ops} in ${mode}`;
    await c.runUntil(() => /TEACHKERNEL (DONE|ERROR|PANIC|TRAP)/.test(c.out), what, TEACH_MAX_INSNS);
    c.dispose();
    const res = new RegExp(`RESULT ${o.workload} ops=${ops} .* (ok|FAIL)`).exec(c.out);
    if (!res || res[1] !== "ok" || !c.out.includes("TEACHKERNEL DONE"))
      throw new CompareError(`${what}: the kernel did not report success:\n${c.out.slice(-800)}`);
    const w = c.window(ops);
    if (!w) throw new CompareError(`${what}: no begin/end markers seen`);
    windows.push(w);
  }
  return perOp(imageName, mode, windows[1], windows[0], n - b, performance.now() - t0, false);
}

async function runLinux(o: CompareOptions, mode: Mode, n: number, b: number): Promise<ModeComparison> {
  const img = await o.loadImage(o.image);
  const { kernel, initrd, disk } = img.files;
  if (!kernel) throw new CompareError(`image ${o.image} has no kernel`);
  const t0 = performance.now();
  const m = new Machine({ memoryMiB: 128, deterministic: true, disk, mode });
  const c = new Console(m, o.workload);
  bootLinux(m, kernel, {
    cmdline: img.entry.cmdline,
    initrd,
    kernelName: "bzImage",
    initrdName: "initramfs",
  });
  const ready = img.entry.ready ?? "VIRTLAB-READY";
  const booted = () => c.out.includes(ready) && /virtlab:\/# /.test(c.out);
  await c.runUntil(booted, `booting ${o.image} in ${mode}`, LINUX_MAX_INSNS);
  // Kernel messages may still follow the prompt: let the console settle before typing.
  const settle = m.cpu.icount + 20e6;
  await c.runUntil(() => m.cpu.icount >= settle, `booting ${o.image} in ${mode}`, LINUX_MAX_INSNS);
  const dev = mode === "pv" ? "/dev/vda" : "/dev/sda";
  // The marker is split in the typed command (WORK""LOAD) so the terminal's echo of the command
  // line is not mistaken for the marker the shell prints.
  const marker = (ops: number, phase: string) => `echo WORK""LOAD ${o.workload} ops=${ops} ${phase}`;
  const cmd = (ops: number, skip: number) =>
    `${marker(ops, "begin")}; ${linuxLoop(o.workload, ops, dev, skip)}; ${marker(ops, "end")}`;
  // Disk: the baseline reads the last blocks and the measured run the first ones, so neither finds
  // the other's blocks (or their read-ahead) in the page cache.
  const baseCmd = cmd(b, DISK_BLOCKS - b);
  const mainCmd = cmd(n, 0);
  const what = `running ${o.workload} in ${mode}`;
  const snap = o.snapshot;
  let fromSnapshot = false;
  let base: Mark | null, main: Mark | null;
  if (snap) {
    // Boot once; both runs start from the same booted state.
    c.dispose();
    o.onProgress?.(`${mode}: booted ${o.image}; both runs start from a snapshot of this machine`);
    const bytes = await snap.save(m);
    const runFrom = async (command: string, ops: number) => {
      const mm = await snap.load(bytes);
      const cc = new Console(mm, o.workload);
      mm.com1.receive(`${command}\n`);
      await cc.runUntil(() => cc.window(ops) !== null, what, LINUX_MAX_INSNS);
      cc.dispose();
      return cc.window(ops);
    };
    base = await runFrom(baseCmd, b);
    main = await runFrom(mainCmd, n);
    fromSnapshot = true;
  } else {
    // One machine: the baseline run, then the measured run, typed as one command line.
    o.onProgress?.(`${mode}: booted ${o.image}; baseline then measured run on this machine (no snapshots)`);
    // A one-operation warm-up first (disk: a block between the two ranges), so that first-use costs
    // (page cache, binaries, driver state) do not land in the baseline window alone.
    m.com1.receive(`${linuxLoop(o.workload, 1, dev, n)}; ${baseCmd}; ${mainCmd}\n`);
    await c.runUntil(() => c.window(n) !== null, what, LINUX_MAX_INSNS);
    c.dispose();
    base = c.window(b);
    main = c.window(n);
  }
  if (!base || !main) throw new CompareError(`${what}: no begin/end markers for the baseline`);
  return perOp(o.image, mode, main, base, n - b, performance.now() - t0, fromSnapshot);
}
