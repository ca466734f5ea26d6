// The JIT: hot guest blocks compiled to WebAssembly (wasm.ts), run by a dispatch loop that
// stays inside wasm while consecutive blocks are compiled.
//
// Life of a block: the interpreter stops at block boundaries (branches, and instructions the JIT
// does not compile) and calls `enter`; an EIP with no compiled block gains hotness, and at the
// threshold joins the compile queue; the queue compiles in batches into one module whose functions
// go into the shared table and the lookup table in guest memory's host area. A write to a physical
// page holding compiled code drops that page's blocks (self-modifying code, module loading, page
// reuse); the page is tracked through PhysicalMemory's code pages like the decode cache.
//
// Exactness: compiled code retires instructions against the same budget as the interpreter and
// leaves at the next instruction boundary when a slow path raises an interrupt request or writes
// code, so interrupts and faults happen at the same instruction counts as in the interpreter.

import { CPU_FAULT, type CompiledCode, type Cpu, SA_DB } from "../engine/cpu/cpu.ts";
import { SEG_CS, SEG_SS, type Insn } from "../engine/cpu/decoder.ts";
import { IF, VM } from "../engine/cpu/flags.ts";
import { OPCODES, type OpcodeDef } from "../engine/cpu/opcodes.ts";
import { ST_BUDGET, ST_EIP, ST_EXIT, ST_RMASK, ST_ROK } from "../engine/cpu/state-layout.ts";
import { CODE_JIT, JIT_HASH_ENTRIES, PageKind } from "../engine/memory/memory.ts";
import { CR0_PE } from "../engine/mmu/mmu.ts";
import { disassemble } from "./binaryen.ts";
import { HANDLERS } from "../engine/cpu/interp.ts";
import { formBlock, uncompiledReason, type FormedBlock } from "./blocks.ts";
import {
  compileBatch,
  FLAT_SEGS,
  SITE_CONTINUES,
  SITE_IDX,
  SITE_LEN_SHIFT,
  type BlockImports,
  type CompileLayout,
  type CompileOptions,
} from "./compiler.ts";
import { hashSlot, instantiateRuntime, runtimeBinary, RunExit, type RuntimeExports } from "./runtime.ts";

export interface JitOptions {
  /** Executions of a block start before it is queued for compilation. */
  threshold?: number;
  /** Blocks per compiled module. */
  batch?: number;
  /** Misses (block starts with no code) after which a partial batch compiles anyway. */
  missInterval?: number;
  /**
   * Count each hot block's runs in compiled code (default on: statistics and the explorer's hot
   * list). Off only to measure what counting costs (bench/counting.ts); first-tier blocks count
   * always, which is how they become hot (TIER2_RUNS).
   */
  countRuns?: boolean;
  /**
   * Runs after which a block is compiled again with its memory accesses inlined (default
   * TIER2_RUNS); 0 inlines them from the first compile (tests of that code, lockstep included).
   */
  hotRuns?: number;
  /** Run every compiled block against the interpreter and compare (differential testing). */
  lockstep?: boolean;
  /** With lockstep: throw on the first mismatch instead of recording it. */
  throwOnMismatch?: boolean;
}

export interface JitStats {
  enabled: boolean;
  ready: boolean;
  blocksCompiled: number;
  /** Blocks compiled again once hot, with their memory accesses inlined. */
  hotRecompiles: number;
  blocksLive: number;
  modules: number;
  wasmBytes: number;
  compileMs: number;
  /** Compiled block executions. */
  blockRuns: number;
  /** Guest instructions retired by compiled code. */
  jitInstructions: number;
  invalidations: number;
  /** Blocks cut short by an instruction the JIT leaves to the interpreter, by mnemonic and reason. */
  fallbacks: Record<string, number>;
  /** Host memory held for compiled code (wasm bytes of live modules + runtime). */
  cacheBytes: number;
  lockstepBlocks: number;
  lockstepMismatches: number;
}

export interface HotBlock {
  id: number;
  eip: number;
  phys: number;
  insns: number;
  runs: number;
}

export interface BlockDescription {
  eip: number;
  phys: number;
  insns: {
    eip: number;
    bytes: number[];
    text: string;
    entry: number;
    cls: OpcodeDef["cls"];
    callout?: string;
    /** Not compiled: the block runs it through the interpreter's handler in place. */
    inline?: boolean;
  }[];
  /** The instruction that ended the block when the interpreter takes it over (e.g. a BT callout). */
  stop: string;
}

interface BlockRecord {
  idx: number;
  slot: number;
  form: FormedBlock;
  module: ModuleRecord;
  /** Compiled again once hot, with its memory accesses inlined (TIER2_RUNS). */
  hot: boolean;
}

interface ModuleRecord {
  bytes: number;
  live: number;
}

const MAX_BLOCKS = 15000; // bounded by the run counters' area (ST_COUNTERS)
const ST_COUNTERS = 0x1000; // per-table-index run counters, in the state area's 64 KiB
const MAX_BATCH = 256; // blocks in one module, counting length-limit continuations
// Blocks are first compiled small and quick to compile: memory accesses call helpers. A block that
// has run TIER2_RUNS times is compiled again with the TLB fast path of its accesses inlined (larger,
// faster code); the JIT looks for such blocks every TIER2_SCAN_INSNS retired instructions (a count,
// so deterministic machines recompile at the same points on every run).
const TIER2_RUNS = 10_000;
const TIER2_SCAN_INSNS = 1 << 21;

interface WriteLog {
  lin: number;
  size: number;
  value: number;
  phys: number[];
  old: number[];
}

export class Jit implements CompiledCode {
  readonly boundary = new Uint8Array(OPCODES.length);
  private rt: RuntimeExports | null = null;
  private runtimeBytes = 0;
  private liveBytes = 0;
  private readonly table = new WebAssembly.Table({ initial: 1024, element: "anyfunc" });
  private readonly hash: Int32Array;
  private readonly counters: Int32Array;
  private readonly hot = new Uint16Array(JIT_HASH_ENTRIES);
  private readonly hashMask = JIT_HASH_ENTRIES - 1;
  private readonly missInterval: number;
  private readonly countRuns: boolean;
  private readonly hotRuns: number;
  private readonly queue = new Map<number, { lin: number; phys: number }>();
  private readonly noCompile = new Set<number>();
  private readonly blocks = new Map<number, BlockRecord>();
  private readonly pageBlocks = new Map<number, Set<BlockRecord>>();
  private readonly freeIdx: number[] = [];
  private nextIdx = 1; // table index 0 stays empty
  private missesSinceCompile = 0;
  private nextTierScan = TIER2_SCAN_INSNS;
  private readonly layout: CompileLayout;
  private readonly threshold: number;
  private readonly batch: number;
  private readonly lockstep: boolean;
  private readonly throwOnMismatch: boolean;
  private readonly imports: BlockImports & Record<string, unknown>;
  // Uncompiled instructions that compiled blocks run through the interpreter (see runsInline).
  private readonly inlineInsns: Insn[] = [];
  private readonly freeInline: number[] = [];
  // Slow-path state: the instruction being executed (precise faults) and the RMW address.
  private faultEip = 0;
  private faultIdx = 0;
  private faultSite = 0;
  /** Instructions a slow path already retired from the budget when it asked to leave (once a run). */
  private exitRetired = 0;
  private rmwLin = 0;
  private jitLog: WriteLog[] | null = null;
  private unreplayable = false;
  readonly mismatches: string[] = [];
  retiredAtCpl0 = 0;
  private readonly s: JitStats = {
    enabled: true,
    ready: false,
    blocksCompiled: 0,
    hotRecompiles: 0,
    blocksLive: 0,
    modules: 0,
    wasmBytes: 0,
    compileMs: 0,
    blockRuns: 0,
    jitInstructions: 0,
    invalidations: 0,
    fallbacks: {},
    cacheBytes: 0,
    lockstepBlocks: 0,
    lockstepMismatches: 0,
  };

  constructor(
    private readonly cpu: Cpu,
    opts: JitOptions = {},
  ) {
    this.threshold = opts.threshold ?? 200;
    this.missInterval = opts.missInterval ?? 50000;
    this.countRuns = opts.countRuns ?? true;
    this.hotRuns = opts.hotRuns ?? TIER2_RUNS;
    this.batch = opts.batch ?? 64;
    this.lockstep = opts.lockstep ?? false;
    this.throwOnMismatch = opts.throwOnMismatch ?? false;
    const mem = cpu.mem;
    const buf = mem.wasmMemory.buffer;
    this.hash = new Int32Array(buf, mem.jitHashOffset, JIT_HASH_ENTRIES * 4);
    this.counters = new Int32Array(buf, mem.stateOffset + ST_COUNTERS, MAX_BLOCKS + 1);
    this.layout = { state: mem.stateOffset, tlb: mem.tlbOffset };
    this.clearHash();
    for (const d of OPCODES) {
      const probe = { def: d, a32: true, o32: true, mod: 3, modrm: 0xc0 } as unknown as Insn;
      if (d.end !== undefined || uncompiledReason(probe) !== null) this.boundary[d.id] = 1;
    }
    this.imports = this.makeImports();
  }

  /**
   * Build the runtime (the dispatch loop and the lazy-flags code). It runs synchronously when called;
   * until it has run, `enter` declines and the interpreter runs.
   */
  async init(): Promise<void> {
    if (this.rt) return;
    const mem = this.cpu.mem;
    const binary = runtimeBinary({
      state: mem.stateOffset,
      tlb: mem.tlbOffset,
      hash: mem.jitHashOffset,
      hashMask: this.hashMask,
    });
    const rt = instantiateRuntime(binary, mem.wasmMemory, this.table);
    this.rt = rt;
    this.runtimeBytes = binary.length;
    Object.assign(this.imports, { get: rt.get, materialise: rt.materialise, cond: rt.cond, next: rt.next });
    this.s.ready = true;
  }

  get ready(): boolean {
    return this.rt !== null;
  }

  // --- the entry from the CPU's run loop ----------------------------------------------------------------

  enter(cpu: Cpu, end: number): boolean {
    if (this.rt === null) return false;
    if (cpu.icount >= this.nextTierScan) this.tierUp();
    // Compiled code assumes a flat 32-bit code segment and a 32-bit stack, in protected mode.
    if (!(cpu.cr0 & CR0_PE) || cpu.flags.bits & VM || !(cpu.flatR & (1 << SEG_CS))) return false;
    if (!(cpu.segAttr[SEG_CS] & SA_DB) || !(cpu.segAttr[SEG_SS] & SA_DB)) return false;
    // ES, SS and DS flat (compiled code accesses them as linear addresses: see FLAT_SEGS).
    if ((cpu.flatW & FLAT_SEGS) !== FLAT_SEGS) return false;
    const st = cpu.state;
    const eip = cpu.eip;
    const e = cpu.mmu.tlb[eip >>> 12];
    if ((e & st[ST_RMASK >> 2]) !== st[ST_ROK >> 2]) return false;
    const phys = (e & ~0xfff) | (eip & 0xfff);
    const slot = hashSlot(eip, this.hashMask);
    const h = slot << 2;
    if (this.hash[h] !== eip || this.hash[h + 1] !== phys) {
      // A miss may complete a batch that includes this very block: then run it at once.
      if (!this.miss(eip, phys, slot) || this.hash[h] !== eip || this.hash[h + 1] !== phys) return false;
    }
    if (this.hash[h + 3] > end - cpu.icount) return false;
    return this.lockstep
      ? this.runLockstep(cpu, this.blocks.get(this.hash[h + 2])!)
      : this.runCompiled(cpu, end);
  }

  private runCompiled(cpu: Cpu, end: number): boolean {
    const st = cpu.state;
    const budget = end - cpu.icount;
    st[ST_EIP >> 2] = cpu.eip;
    st[ST_BUDGET >> 2] = budget;
    st[ST_EXIT >> 2] = 0;
    this.exitRetired = 0;
    let reason: number;
    try {
      reason = this.rt!.run();
    } catch (e) {
      if (e === CPU_FAULT) {
        // Instructions before the faulting one retired; the run loop delivers the fault.
        const n = budget - st[ST_BUDGET >> 2] - this.exitRetired + this.faultIdx;
        cpu.icount += n;
        this.s.jitInstructions += n;
        if (cpu.cpl === 0) this.retiredAtCpl0 += n;
        cpu.insnEip = this.faultEip;
      }
      throw e;
    }
    const n = budget - st[ST_BUDGET >> 2];
    cpu.icount += n;
    this.s.jitInstructions += n;
    if (cpu.cpl === 0) this.retiredAtCpl0 += n;
    cpu.eip = st[ST_EIP >> 2];
    if (reason === RunExit.EXIT_REQUEST) st[ST_EXIT >> 2] = 0;
    return n > 0;
  }

  /** Count a block start with no compiled code; true if a batch was compiled. */
  private miss(eip: number, phys: number, slot: number): boolean {
    this.missesSinceCompile++;
    if (this.hot[slot] < 0xffff) this.hot[slot]++;
    if (this.hot[slot] >= this.threshold && !this.noCompile.has(phys) && !this.queue.has(phys)) {
      this.hot[slot] = 0;
      this.queue.set(phys, { lin: eip, phys });
    }
    if (
      this.queue.size >= this.batch ||
      (this.queue.size > 0 && this.missesSinceCompile >= this.missInterval)
    ) {
      this.compileQueue();
      return true;
    }
    return false;
  }

  // --- compilation ------------------------------------------------------------------------------------

  /** Compile everything queued now (also used by tests and by the explorer). */
  compileQueue(): void {
    if (this.rt === null || this.queue.size === 0) return;
    this.missesSinceCompile = 0;
    const t0 = performance.now();
    const u8 = this.cpu.mem.u8;
    const forms: FormedBlock[] = [];
    const starts = [...this.queue.values()];
    for (let k = 0; k < starts.length; k++) {
      const { lin, phys } = starts[k];
      const f = formBlock(u8, lin, phys, !this.lockstep);
      this.assignInline(f);
      // Straight-line code cut by the length limit goes on in the same page: compile the rest now.
      // Reached only from compiled code, it would otherwise gain hotness one block at a time.
      if (f.stop === "limit" && (f.endEip & ~0xfff) === (lin & ~0xfff) && starts.length < MAX_BATCH) {
        const next = { lin: f.endEip, phys: phys + (f.endEip - lin) };
        const h = hashSlot(next.lin, this.hashMask) << 2;
        if (this.hash[h] !== next.lin || this.hash[h + 1] !== next.phys) starts.push(next);
      }
      if (f.fallback) {
        const key = `${f.fallback.mn} (${f.stop})`;
        this.countFallback(key);
      }
      if (f.insns.length === 0) {
        // Remember not to try again until the page is written (tracked like compiled code).
        this.noCompile.add(phys);
        this.cpu.mem.markCode(phys >>> 12, CODE_JIT);
      } else forms.push(f);
    }
    this.queue.clear();
    if (forms.length === 0) return;
    if (this.blocks.size + forms.length > MAX_BLOCKS) this.flush();
    this.compileAndInstall(forms, this.hotRuns === 0, t0);
  }

  /** How blocks of either tier compile (hot: memory accesses inlined), to table indices `idxs`. */
  private compileOptions(hot: boolean, idxs: readonly number[]): CompileOptions {
    return {
      instrument: this.lockstep,
      chain: !this.lockstep,
      inlineMemory: hot,
      // First-tier blocks always count their runs: that is how they become hot.
      counters:
        hot && !this.countRuns ? undefined : idxs.map((idx) => this.layout.state + ST_COUNTERS + idx * 4),
    };
  }

  /** Compile formed blocks into one module and install them (compiling began at `t0`). */
  private compileAndInstall(forms: FormedBlock[], hot: boolean, t0: number): void {
    const idxs = forms.map(() => this.allocIndex());
    const compiled = compileBatch(this.layout, forms, this.compileOptions(hot, idxs));
    this.s.compileMs += performance.now() - t0;
    this.installBatch(forms, idxs, compiled.binary, compiled.names, hot);
  }

  /** Compile blocks that have become hot again, with their memory accesses inlined (TIER2_RUNS). */
  private tierUp(): void {
    this.nextTierScan = this.cpu.icount + TIER2_SCAN_INSNS;
    if (this.lockstep || this.hotRuns === 0) return;
    const hot: BlockRecord[] = [];
    for (const rec of this.blocks.values())
      if (!rec.hot && this.counters[rec.idx] >= this.hotRuns && hot.length < MAX_BATCH) hot.push(rec);
    if (hot.length === 0) return;
    if (this.blocks.size + hot.length > MAX_BLOCKS) {
      this.flush();
      return;
    }
    const t0 = performance.now();
    const u8 = this.cpu.mem.u8;
    // Formed anew (their code has not changed, or they would be gone), with inline ids of their own.
    const forms = hot.map((rec) => {
      const f = formBlock(u8, rec.form.lin, rec.form.phys, true);
      this.assignInline(f);
      return f;
    });
    this.s.hotRecompiles += forms.length;
    this.compileAndInstall(forms, true, t0);
  }

  private countFallback(key: string): void {
    this.s.fallbacks[key] = (this.s.fallbacks[key] ?? 0) + 1;
  }

  /** Give back a block's table index and inline ids (dropped, or never installed). */
  private release(f: FormedBlock, idx: number): void {
    this.freeIdx.push(idx);
    for (const bi of f.insns) if (bi.inlineId !== undefined) this.freeInline.push(bi.inlineId);
  }

  /** Instantiate a compiled module and install the blocks exported under `names`. */
  private installBatch(
    forms: FormedBlock[],
    idxs: number[],
    binary: Uint8Array,
    names: string[],
    hot: boolean,
  ): void {
    const module = new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>);
    const inst = new WebAssembly.Instance(module, {
      env: { memory: this.cpu.mem.wasmMemory, ...this.imports },
    });
    const mod: ModuleRecord = { bytes: binary.length, live: 0 };
    forms.forEach((f, k) => {
      // A block replacing another in its lookup slot frees that slot's table index first.
      const h = hashSlot(f.lin, this.hashMask) << 2;
      const old = this.blocks.get(this.hash[h + 2]);
      // The same block compiled again keeps its run count (the explorer's hot list).
      const runs = old && old.form.lin === f.lin && old.form.phys === f.phys ? this.counters[old.idx] : 0;
      if (old) this.drop(old);
      const fn = inst.exports[names[k]] as () => void;
      this.install(f, fn, mod, idxs[k], hot);
      this.counters[idxs[k]] = runs;
    });
    this.s.modules++;
  }

  /** Give a block's inline instructions slots in the inline table (the interpreter runs them). */
  private assignInline(f: FormedBlock): void {
    for (const bi of f.insns) {
      if (!bi.inline) continue;
      const i = bi.insn;
      // The interpreter's own handler: a monitor's wrapper (BT) would count the instruction again,
      // and compiled code already retires it. Only innocuous instructions run inline.
      i.handler = HANDLERS[i.def.id];
      const id = this.freeInline.pop() ?? this.inlineInsns.length;
      this.inlineInsns[id] = i;
      bi.inlineId = id;
      const key = `${i.def.mn} (inline)`;
      this.countFallback(key);
    }
  }

  private allocIndex(): number {
    const idx = this.freeIdx.pop() ?? this.nextIdx++;
    if (idx >= this.table.length) this.table.grow(Math.max(1024, this.table.length));
    this.counters[idx] = 0;
    return idx;
  }

  private install(f: FormedBlock, fn: () => void, mod: ModuleRecord, idx: number, hot: boolean): void {
    this.table.set(idx, fn);
    const slot = hashSlot(f.lin, this.hashMask);
    const h = slot << 2;
    this.hash[h] = f.lin;
    this.hash[h + 1] = f.phys;
    this.hash[h + 2] = idx;
    this.hash[h + 3] = f.insns.length;
    const rec: BlockRecord = { idx, slot, form: f, module: mod, hot };
    // A module's bytes count while any of its blocks is live.
    if (mod.live++ === 0) this.liveBytes += mod.bytes;
    this.blocks.set(idx, rec);
    const page = f.phys >>> 12;
    let set = this.pageBlocks.get(page);
    if (!set) this.pageBlocks.set(page, (set = new Set()));
    set.add(rec);
    this.cpu.mem.markCode(page, CODE_JIT);
    this.s.blocksCompiled++;
  }

  /** Forget one block (its hash entry, table slot and page membership). */
  private drop(rec: BlockRecord): void {
    const h = rec.slot << 2;
    if (this.hash[h + 2] === rec.idx) {
      this.hash[h] = -1;
      this.hash[h + 1] = -1;
      this.hash[h + 2] = 0;
    }
    this.table.set(rec.idx, null);
    this.release(rec.form, rec.idx);
    this.blocks.delete(rec.idx);
    this.pageBlocks.get(rec.form.phys >>> 12)?.delete(rec);
    if (--rec.module.live === 0) this.liveBytes -= rec.module.bytes;
  }

  invalidatePage(page: number): void {
    this.noCompile.forEach((p) => {
      if (p >>> 12 === page) this.noCompile.delete(p);
    });
    const set = this.pageBlocks.get(page);
    if (!set || set.size === 0) return;
    for (const rec of [...set]) this.drop(rec);
    this.pageBlocks.delete(page);
    this.s.invalidations++;
    // A block running now may have written its own page: leave at the next instruction boundary.
    this.cpu.state[ST_EXIT >> 2] = 1;
  }

  /** Drop all compiled code (cache full, layout change, snapshot restore). */
  flush(): void {
    for (const rec of [...this.blocks.values()]) this.drop(rec);
    for (const page of this.pageBlocks.keys()) this.cpu.mem.unmarkCode(page, CODE_JIT);
    this.pageBlocks.clear();
    this.noCompile.clear();
    this.queue.clear();
    this.hot.fill(0);
    this.clearHash();
    this.cpu.state[ST_EXIT >> 2] = 1;
  }

  private clearHash(): void {
    this.hash.fill(-1);
  }

  // --- slow paths (called from compiled code) -------------------------------------------------------------

  private makeImports(): BlockImports & Record<string, unknown> {
    const cpu = this.cpu;
    const st = cpu.state;
    const at = (eip: number, site: number) => {
      this.faultEip = eip;
      this.faultIdx = site & SITE_IDX;
      this.faultSite = site;
      cpu.insnEip = eip;
    };
    // Asked to leave (an interrupt to take, code written): compiled code returns after this
    // instruction; a block that goes on past it gets its resume point here (see SITE_CONTINUES).
    const after = () => {
      if ((cpu.intr && cpu.flags.bits & IF) || cpu.nmiPending) st[ST_EXIT >> 2] = 1;
      if (st[ST_EXIT >> 2] !== 0 && this.exitRetired === 0 && this.faultSite & SITE_CONTINUES) {
        const n = (this.faultSite & SITE_IDX) + 1;
        st[ST_EIP >> 2] = (this.faultEip + ((this.faultSite >>> SITE_LEN_SHIFT) & 0x7f)) | 0;
        st[ST_BUDGET >> 2] -= n;
        this.exitRetired = n;
      }
    };
    return {
      ld: (seg, off, size, eip, site) => {
        at(eip, site);
        const lin = cpu.segLin(seg, off, size, false);
        if (this.jitLog) this.noteRead(lin, size);
        const v = cpu.ld(size, lin);
        after();
        return v;
      },
      st: (seg, off, size, value, eip, site) => {
        at(eip, site);
        const lin = cpu.segLin(seg, off, size, true);
        if (this.jitLog) this.noteWrite(lin, size, value);
        cpu.st(size, lin, value);
        after();
      },
      ldw: (seg, off, size, eip, site) => {
        at(eip, site);
        const lin = cpu.segLin(seg, off, size, true);
        cpu.probeWrite(lin, size);
        this.rmwLin = lin;
        if (this.jitLog) this.noteRead(lin, size);
        const v = cpu.ld(size, lin);
        after();
        return v;
      },
      stw: (size, value, eip, site) => {
        at(eip, site);
        if (this.jitLog) this.noteWrite(this.rmwLin, size, value);
        cpu.st(size, this.rmwLin, value);
        after();
      },
      log: (lin, host, size, value) => {
        const e = cpu.mmu.tlb[lin >>> 12];
        const expect = (e & ~0xfff) | (lin & 0xfff);
        if (expect !== host)
          this.mismatch(`fast-path store to ${hex(lin)} used host ${hex(host)}, TLB says ${hex(expect)}`);
        const phys: number[] = [],
          old: number[] = [];
        for (let k = 0; k < size; k++) {
          phys.push(host + k);
          old.push(cpu.mem.u8[host + k]);
        }
        this.jitLog?.push({ lin, size, value: mask(value, size), phys, old });
      },
      interp: (id, eip, site) => {
        at(eip, site);
        const i = this.inlineInsns[id];
        cpu.insn = i;
        cpu.eip = (eip + i.len) | 0;
        i.handler(cpu, i);
        after();
      },
      // Replaced by the runtime's exports in init().
      get: () => 0,
      materialise: () => {},
      cond: () => 0,
      next: () => {},
    };
  }

  // --- lockstep differential execution ----------------------------------------------------------------

  private noteRead(lin: number, size: number): void {
    for (let k = 0; k < size; k++) {
      const p = this.cpu.mmu.translate((lin + k) | 0, false, this.cpu.cpl === 3);
      if (this.cpu.mem.pageKind(p) !== PageKind.RAM) this.unreplayable = true;
    }
  }

  private noteWrite(lin: number, size: number, value: number): void {
    const cpu = this.cpu;
    cpu.probeWrite(lin, size);
    const phys: number[] = [],
      old: number[] = [];
    for (let k = 0; k < size; k++) {
      const p = cpu.mmu.translate((lin + k) | 0, true, cpu.cpl === 3);
      if (cpu.mem.pageKind(p) !== PageKind.RAM) this.unreplayable = true;
      phys.push(p);
      old.push(cpu.mem.u8[p]);
    }
    this.jitLog!.push({ lin, size, value: mask(value, size), phys, old });
  }

  private mismatch(msg: string): void {
    this.s.lockstepMismatches++;
    if (this.mismatches.length < 100) this.mismatches.push(msg);
    if (this.throwOnMismatch) throw new Error(`JIT lockstep mismatch: ${msg}`);
  }

  /** Run one block compiled, undo it, run it interpreted, and compare everything observable. */
  private runLockstep(cpu: Cpu, rec: BlockRecord): boolean {
    this.s.lockstepBlocks++;
    const st = cpu.state;
    const regs0 = Int32Array.from(cpu.regs);
    const flags0 = Int32Array.from(cpu.flags.slots);
    const eip0 = cpu.eip;
    const count = rec.form.insns.length;
    this.jitLog = [];
    this.unreplayable = false;
    st[ST_EIP >> 2] = eip0;
    st[ST_BUDGET >> 2] = count;
    st[ST_EXIT >> 2] = 0;
    this.exitRetired = 0;
    let jitFault = -1;
    let jitCode = -1;
    const fn = this.table.get(rec.idx) as () => void;
    try {
      fn();
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      jitFault = cpu.excVector;
      jitCode = cpu.excCode;
    }
    const log = this.jitLog;
    this.jitLog = null;
    const executed = jitFault >= 0 ? this.faultIdx : count - st[ST_BUDGET >> 2];
    this.s.blockRuns++;
    if (this.unreplayable) {
      // Device memory was touched: it cannot be replayed, so the compiled result stands.
      cpu.icount += executed;
      this.s.jitInstructions += executed;
      if (cpu.cpl === 0) this.retiredAtCpl0 += executed;
      if (jitFault >= 0) {
        cpu.insnEip = this.faultEip;
        throw CPU_FAULT;
      }
      cpu.eip = st[ST_EIP >> 2];
      return true;
    }
    const regsJ = Int32Array.from(cpu.regs);
    const eflagsJ = cpu.flags.read();
    const eipJ = st[ST_EIP >> 2];
    for (let k = log.length - 1; k >= 0; k--) {
      const w = log[k];
      for (let b = 0; b < w.size; b++) cpu.mem.u8[w.phys[b]] = w.old[b];
    }
    cpu.regs.set(regs0);
    cpu.flags.slots.set(flags0);
    cpu.eip = eip0;
    // The interpreter, with its stores logged.
    const ilog: { lin: number; size: number; value: number }[] = [];
    const saved = { st8: cpu.st8, st16: cpu.st16, st32: cpu.st32 };
    const wrap =
      (size: number, f: (l: number, v: number) => void) =>
      (l: number, v: number): void => {
        f.call(cpu, l, v);
        ilog.push({ lin: l, size, value: mask(v, size) });
      };
    cpu.st8 = wrap(1, saved.st8);
    cpu.st16 = wrap(2, saved.st16);
    cpu.st32 = wrap(4, saved.st32);
    let intFault = -1;
    let intCode = -1;
    let n = 0;
    const want = executed + (jitFault >= 0 ? 1 : 0);
    const where = `block ${hex(rec.form.lin)}`;
    try {
      while (n < want) {
        cpu.runBlock(cpu.icount + 1);
        n++;
      }
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      intFault = cpu.excVector;
      intCode = cpu.excCode;
    } finally {
      delete (cpu as Partial<typeof saved>).st8;
      delete (cpu as Partial<typeof saved>).st16;
      delete (cpu as Partial<typeof saved>).st32;
    }
    if (jitFault !== intFault || jitCode !== intCode)
      this.mismatch(`${where}: fault ${jitFault}/${jitCode} compiled vs ${intFault}/${intCode} interpreted`);
    else if (jitFault < 0) {
      for (let r = 0; r < 8; r++)
        if (regsJ[r] !== cpu.regs[r])
          this.mismatch(`${where}: reg ${r} ${hex(regsJ[r])} compiled vs ${hex(cpu.regs[r])} interpreted`);
      const ef = cpu.flags.read();
      if (ef !== eflagsJ)
        this.mismatch(`${where}: eflags ${hex(eflagsJ)} compiled vs ${hex(ef)} interpreted`);
      if (eipJ !== cpu.eip)
        this.mismatch(`${where}: eip ${hex(eipJ)} compiled vs ${hex(cpu.eip)} interpreted`);
    }
    const same =
      log.length === ilog.length &&
      log.every((w, k) => w.lin === ilog[k].lin && w.size === ilog[k].size && w.value === ilog[k].value);
    if (!same) {
      const fmt = (l: { lin: number; size: number; value: number }[]) =>
        l.map((w) => `${hex(w.lin)}:${w.size}=${hex(w.value)}`).join(" ");
      this.mismatch(`${where}: stores [${fmt(log)}] compiled vs [${fmt(ilog)}] interpreted`);
    }
    if (intFault >= 0) throw CPU_FAULT;
    return n > 0;
  }

  // --- statistics and the explorer ----------------------------------------------------------------------

  stats(): JitStats {
    let runs = 0;
    for (const rec of this.blocks.values()) runs += this.counters[rec.idx];
    return {
      ...this.s,
      blockRuns: this.s.blockRuns + runs,
      blocksLive: this.blocks.size,
      wasmBytes: this.liveBytes,
      cacheBytes: this.liveBytes + this.runtimeBytes,
      fallbacks: { ...this.s.fallbacks },
    };
  }

  hotBlocks(limit: number): HotBlock[] {
    return [...this.blocks.values()]
      .map((r) => ({
        id: r.idx,
        eip: r.form.lin,
        phys: r.form.phys,
        insns: r.form.insns.length,
        runs: this.counters[r.idx],
      }))
      .sort((a, b) => b.runs - a.runs || a.eip - b.eip)
      .slice(0, limit);
  }

  /** The guest instructions of a block (blockWasm gives the wasm it became). */
  describeBlock(
    id: number,
    disassemble: (i: Insn, eip: number) => string = (i) => i.def.mn.toLowerCase(),
    callout?: (d: OpcodeDef) => string | undefined,
  ): BlockDescription | null {
    const rec = this.blocks.get(id);
    if (!rec || this.rt === null) return null;
    const u8 = this.cpu.mem.u8;
    const f = rec.form;
    const insns = f.insns.map(({ insn, eip, inline }) => {
      const off = f.phys + (eip - f.lin);
      return {
        eip,
        bytes: Array.from(u8.subarray(off, off + insn.len)),
        text: disassemble(insn, eip),
        entry: insn.def.id,
        cls: insn.def.cls,
        ...(inline ? { inline } : {}),
      };
    });
    const stop = f.fallback ? `${f.fallback.mn}: ${f.stop}` : f.stop;
    const described: BlockDescription = { eip: f.lin, phys: f.phys, insns, stop };
    if (f.fallback && callout) {
      const c = callout(f.fallback);
      if (c) described.stop += ` → ${c}`;
    }
    return described;
  }

  /**
   * A block's wasm as text: compiled again alone, as its tier compiles it (with function names),
   * and disassembled by binaryen, which loads on first use; null if the block is gone.
   */
  async blockWasm(id: number): Promise<string | null> {
    const rec = this.blocks.get(id);
    if (!rec) return null;
    const opts = { ...this.compileOptions(rec.hot, [rec.idx]), names: true };
    return disassemble(compileBatch(this.layout, [rec.form], opts).binary);
  }
}

function mask(v: number, size: number): number {
  return size === 4 ? v | 0 : v & (size === 2 ? 0xffff : 0xff);
}

function hex(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}
