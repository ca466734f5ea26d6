// Formed blocks → expression trees (wasm.ts) → one wasm module per batch.
//
// Compiled code keeps all guest state in guest memory's host area (state-layout.ts): registers,
// the lazy-flags record (same format and algorithm as the interpreter's LazyFlags), segment bases
// and the TLB. Each instruction performs its memory accesses before it changes any register or
// flag, so an exception raised by a slow-path access leaves the state of the instruction's start;
// the slow path receives the instruction's EIP and index to report a precise fault.
//
// Memory accesses inline the TLB fast path (TLB entry allows the access + no page crossing; ES, SS
// and DS are flat while compiled code runs, other segments are checked and their base added);
// everything else calls the slow path in JavaScript, which goes through the CPU's MMU and therefore
// through the mode's translation strategy (shadow paging, EPT, PV direct paging).

import { Module, i32 as I32, i64 as I64, none as NONE, type Expr } from "./wasm.ts";
import type { BlockInsn, FormedBlock } from "./blocks.ts";
import { SEG_DS, SEG_ES, SEG_SS, type Insn } from "../engine/cpu/decoder.ts";
import { opSize, specSize } from "../engine/cpu/opcodes.ts";
import { ARITH, CF, DF, FlagSlot, Lazy, OF, PF, SF, ZF, AF } from "../engine/cpu/flags.ts";
import {
  ST_BUDGET,
  ST_EIP,
  ST_EXIT,
  ST_FLAGS,
  ST_REGS,
  ST_RMASK,
  ST_ROK,
  ST_SEGBASE,
  ST_SEGOK_R,
  ST_SEGOK_W,
  ST_WMASK,
  ST_WOK,
} from "../engine/cpu/state-layout.ts";

export interface CompileLayout {
  state: number;
  tlb: number;
}

/**
 * Where compiled code calls a slow path from (the `site` argument): the instruction's index in its
 * block, its length, and whether the block goes on after it. A slow path that asks compiled code to
 * leave (ST_EXIT) records the resume point — EIP and retired count — from the site, so the check
 * compiled code makes after such an instruction is only a load and a return.
 */
export const SITE_IDX = 0xff;
export const SITE_LEN_SHIFT = 8;
export const SITE_CONTINUES = 0x8000;

/** Imports every block module receives (the slow paths are JavaScript, the rest the runtime). */
export interface BlockImports {
  /** Load `size` bytes at seg:off (segment checks, MMU, MMIO). */
  ld(seg: number, off: number, size: number, eip: number, site: number): number;
  st(seg: number, off: number, size: number, value: number, eip: number, site: number): void;
  /** Read-modify-write: check write access, load, remember the address for `stw`. */
  ldw(seg: number, off: number, size: number, eip: number, site: number): number;
  stw(size: number, value: number, eip: number, site: number): void;
  /** Lockstep builds only: a fast-path store is about to happen (linear, host address). */
  log(lin: number, host: number, size: number, value: number): void;
  get(flag: number): number;
  materialise(which: number): void;
  cond(cc: number): number;
  /** The runtime's chaining exit (see CompileOptions.chain). */
  next(eip: number, n: number): void;
  /** Run inline-table instruction `id` (at `eip`, from `site`) in the interpreter. */
  interp(id: number, eip: number, site: number): void;
}

const ALU_INDEX: Record<string, number> = { ADD: 0, OR: 1, ADC: 2, SBB: 3, AND: 4, SUB: 5, XOR: 6, CMP: 7 };
const MASK = [0, 0xff, 0xffff, 0, -1];

export interface CompileOptions {
  /** Call `log` before every fast-path store (lockstep differential testing). */
  instrument: boolean;
  /** Per block: address of an i32 counting its executions (statistics, the explorer's hot list). */
  counters?: readonly number[];
  /** Name the module's functions (a name section, for disassembly in the JIT explorer). */
  names?: boolean;
  /**
   * Chain blocks: a block leaves through a tail call of the runtime's `next`, which enters the block
   * compiled at the exit address (a tail call through the table, after the dispatch loop's checks)
   * or else returns to the loop. Off for lockstep, which runs one block at a time.
   */
  chain?: boolean;
  /**
   * Inline the TLB fast path of ES/SS/DS accesses into the block (hot blocks, recompiled: see
   * TIER2_RUNS in jit.ts) instead of calling a memory helper (smaller code, cheaper to compile).
   */
  inlineMemory?: boolean;
}

export interface CompiledModule {
  /** The module's wasm binary (compiled to a WebAssembly.Module on the thread that runs it). */
  binary: Uint8Array;
  /** Export name of each block's function, in input order. */
  names: string[];
}

/** Stack operations: memory accesses without a ModRM memory operand. */
const STACK_SEMS = new Set(["push", "pop", "leave", "call", "call_ind", "ret"]);

/** An instruction that can neither fault, leave the block, nor call out: no memory, no control. */
function registerOnly(bi: BlockInsn): boolean {
  const i = bi.insn,
    d = i.def;
  if (bi.inline || d.end !== undefined || STACK_SEMS.has(d.sem)) return false;
  if (i.modrm >= 0 && i.mod !== 3 && d.sem !== "lea" && d.sem !== "nop") return false;
  return !d.ops.some((o) => o[0] === "O" || o[0] === "X" || o[0] === "Y");
}

/**
 * Dead flag writes: per instruction, whether the arithmetic flags it writes are overwritten by a
 * later instruction of the block before anything can observe them. Flags are observed by readers
 * (Jcc, ADC, CMOVcc, ... and partial writers such as INC, which keep CF), at every exit, and at
 * every instruction that may fault or call the interpreter (a fault must see precise EFLAGS). Such
 * writes are not emitted: most ALU results' flags die at the next CMP or TEST.
 */
export function deadFlagWriters(insns: readonly BlockInsn[]): boolean[] {
  const dead = insns.map(() => false);
  let live = true; // at the block's end every flag is live
  for (let k = insns.length - 1; k >= 0; k--) {
    const bi = insns[k],
      d = bi.insn.def;
    // Shifts by zero leave the flags alone, so they read them as well.
    if (!registerOnly(bi) || d.fr !== 0 || d.sem === "shift") {
      live = true;
      continue;
    }
    const writes = d.fw & ARITH;
    if (writes === 0 || (d.fw & ~ARITH) !== 0) {
      if (writes !== 0) live = true;
      continue;
    }
    if (!live) dead[k] = true;
    else live = writes !== ARITH;
  }
  return dead;
}

/** Compile a batch of blocks into one module. */
export function compileBatch(
  layout: CompileLayout,
  blocks: readonly FormedBlock[],
  opts: CompileOptions,
): CompiledModule {
  const m = new Module();
  m.importMemory("env", "memory", 1, 65536);
  if (opts.chain) m.addFunctionImport("next", "env", "next", [I32, I32], NONE);
  const i32 = I32,
    none = NONE;
  m.addFunctionImport("ld", "env", "ld", [i32, i32, i32, i32, i32], i32);
  m.addFunctionImport("st", "env", "st", [i32, i32, i32, i32, i32, i32], none);
  m.addFunctionImport("ldw", "env", "ldw", [i32, i32, i32, i32, i32], i32);
  m.addFunctionImport("stw", "env", "stw", [i32, i32, i32, i32], none);
  m.addFunctionImport("log", "env", "log", [i32, i32, i32, i32], none);
  m.addFunctionImport("get", "env", "get", [i32], i32);
  m.addFunctionImport("materialise", "env", "materialise", [i32], none);
  m.addFunctionImport("cond", "env", "cond", [i32], i32);
  m.addFunctionImport("interp", "env", "interp", [i32, i32, i32], none);
  m.addGlobal("rmwHost", i32, true, 0);
  m.addGlobal("rmwSlow", i32, true, 0);
  m.addGlobal("rmwLin", i32, true, 0);
  const names: string[] = [];
  const helpers = new Set<string>();
  blocks.forEach((b, k) => {
    const name = `b${k}`;
    const fn = new FnEmitter(m, layout, b, opts.counters?.[k] ?? -1, helpers, opts);
    m.addFunction(name, [], none, fn.vars, fn.emit());
    m.addFunctionExport(name, name);
    names.push(name);
  });
  for (const h of helpers) addMemoryHelper(m, layout, opts.instrument, h);
  return { binary: m.emitBinary(opts.names), names };
}

/**
 * Segments whose accesses compiled code makes as flat (linear = offset): `Jit.enter` runs compiled
 * code only while ES, SS and DS are flat writable data segments (base 0, 4 GiB limit), and every
 * instruction that loads a segment register ends a block, so they stay flat while it runs.
 */
export const FLAT_SEGS = (1 << SEG_ES) | (1 << SEG_SS) | (1 << SEG_DS);

// The TLB fast path, shared by the memory helpers and the accesses hot blocks inline.

/** The TLB entry of linear address `lin`. */
function tlbEntry(m: Module, L: CompileLayout, lin: Expr): Expr {
  return m.i32.load(L.tlb, 4, m.i32.shl(m.i32.shr_u(lin, m.i32.const(12)), m.i32.const(2)));
}

/** TLB entry `e` allows the access (`e & mask` is `ok`), and one of `size` bytes stays in the page. */
function tlbAllows(m: Module, e: Expr, mask: Expr, ok: Expr, lin: Expr, size: number): Expr {
  const allows = m.i32.eq(m.i32.and(e, mask), ok);
  if (size === 1) return allows;
  return m.i32.and(allows, m.i32.le_u(m.i32.and(lin, m.i32.const(0xfff)), m.i32.const(0x1000 - size)));
}

/** Where `lin` is in guest memory, through its TLB entry `e`. */
function hostAddress(m: Module, e: Expr, lin: Expr): Expr {
  return m.i32.or(m.i32.and(e, m.i32.const(-4096)), m.i32.and(lin, m.i32.const(0xfff)));
}

function hostLoad(m: Module, size: number, addr: Expr): Expr {
  return size === 4
    ? m.i32.load(0, 1, addr)
    : size === 2
      ? m.i32.load16_u(0, 1, addr)
      : m.i32.load8_u(0, 1, addr);
}

function hostStore(m: Module, size: number, addr: Expr, v: Expr): Expr {
  return size === 4
    ? m.i32.store(0, 1, addr, v)
    : size === 2
      ? m.i32.store16(0, 1, addr, v)
      : m.i32.store8(0, 1, addr, v);
}

/**
 * The memory accesses blocks call (unless inlined: see CompileOptions.inlineMemory), for sizes 1, 2
 * and 4 — ld (read), st (write), lw (read with write access checked; remembers the address) and sw
 * (write to the remembered address); those named with an `f` are for the flat segments
 * (FLAT_SEGS), which need neither base nor segment checks. Each has the TLB fast path — TLB entry
 * allows the access, no page crossing, and for other segments a 4 GiB limit — and otherwise calls
 * the JavaScript slow path, which raises precise faults. A module gets the helpers its blocks use
 * (`name` is one of them).
 */
function addMemoryHelper(m: Module, L: CompileLayout, instrument: boolean, name: string): void {
  const i32 = I32,
    none = NONE;
  const kind = name.slice(0, 2),
    size = Number(name[2]),
    flat = name.endsWith("f");
  const c = (n: number) => m.i32.const(n | 0);
  const get = (k: number) => m.local.get(k, i32);
  const st = (off: number) => m.i32.load(L.state + off, 4, c(0));
  // Parameters (seg, off, ...) then locals lin, e.
  const resolve = (write: boolean, lin: number, e: number): Expr => {
    const [mask, allowed] = write ? [ST_WMASK, ST_WOK] : [ST_RMASK, ST_ROK];
    let ok = tlbAllows(m, get(e), st(mask), st(allowed), get(lin), size);
    if (!flat) ok = m.i32.and(m.i32.shr_u(st(write ? ST_SEGOK_W : ST_SEGOK_R), get(0)), ok);
    const linear = flat
      ? get(1)
      : m.i32.add(get(1), m.i32.load(L.state + ST_SEGBASE, 4, m.i32.shl(get(0), c(2))));
    return m.block(null, [m.local.set(lin, linear), m.local.set(e, tlbEntry(m, L, get(lin))), ok], i32);
  };
  const host = (lin: number, e: number) => hostAddress(m, get(e), get(lin));
  const hload = (h: Expr) => hostLoad(m, size, h);
  const hstore = (h: Expr, v: Expr) => hostStore(m, size, h, v);
  if (kind === "ld") {
    // ld(seg, off, eip, site) -> value; locals lin e
    m.addFunction(
      name,
      [i32, i32, i32, i32],
      i32,
      [i32, i32],
      m.if(
        resolve(false, 4, 5),
        hload(host(4, 5)),
        m.call("ld", [get(0), get(1), c(size), get(2), get(3)], i32),
      ),
    );
  } else if (kind === "st") {
    // st(seg, off, value, eip, site); locals lin e
    const fastStore: Expr[] = [];
    if (instrument) fastStore.push(m.call("log", [get(5), host(5, 6), c(size), get(2)], none));
    fastStore.push(hstore(host(5, 6), get(2)));
    m.addFunction(
      name,
      [i32, i32, i32, i32, i32],
      none,
      [i32, i32],
      m.if(
        resolve(true, 5, 6),
        m.block(null, fastStore),
        m.call("st", [get(0), get(1), c(size), get(2), get(3), get(4)], none),
      ),
    );
  } else if (kind === "lw") {
    // lw(seg, off, eip, site) -> value, remembering where; locals lin e
    m.addFunction(
      name,
      [i32, i32, i32, i32],
      i32,
      [i32, i32],
      m.if(
        resolve(true, 4, 5),
        m.block(
          null,
          [
            m.global.set("rmwSlow", c(0)),
            m.global.set("rmwHost", host(4, 5)),
            m.global.set("rmwLin", get(4)),
            hload(m.global.get("rmwHost", i32)),
          ],
          i32,
        ),
        m.block(
          null,
          [m.global.set("rmwSlow", c(1)), m.call("ldw", [get(0), get(1), c(size), get(2), get(3)], i32)],
          i32,
        ),
      ),
    );
  } else {
    // sw(value, eip, site)
    const fastRmw: Expr[] = [];
    if (instrument)
      fastRmw.push(
        m.call("log", [m.global.get("rmwLin", i32), m.global.get("rmwHost", i32), c(size), get(0)], none),
      );
    fastRmw.push(hstore(m.global.get("rmwHost", i32), get(0)));
    m.addFunction(
      name,
      [i32, i32, i32],
      none,
      [],
      m.if(
        m.global.get("rmwSlow", i32),
        m.call("stw", [c(size), get(0), get(1), get(2)], none),
        m.block(null, fastRmw),
      ),
    );
  }
}

/**
 * Where a read-modify-write operand lives: a register, or (reg -1) memory — through the block's
 * locals `host` and `slow` when the access was inlined (a flat segment), else the address the last
 * `lw` helper resolved.
 */
interface RmwRef {
  reg: number;
  size: number;
  inline?: { lin: number; host: number; slow: number };
}

class FnEmitter {
  readonly vars: number[] = [];
  private readonly i32: number;
  private readonly S: number;
  private idx = 0;
  private eip = 0;
  private nextEip = 0;
  /** The current instruction's slow-path site (SITE_*). */
  private site = 0;
  /** Maximum instructions one pass through the block retires (the dispatcher's budget check). */
  private readonly count: number;
  private readonly loopLabel = "top";
  private readonly L: CompileLayout;
  private readonly chain: boolean;
  private readonly instrument: boolean;
  private readonly inlineMemory: boolean;
  private usesLoop = false;

  constructor(
    private readonly m: Module,
    L: CompileLayout,
    private readonly block: FormedBlock,
    private readonly counter: number,
    private readonly helpers: Set<string>,
    opts: CompileOptions,
  ) {
    this.chain = opts.chain ?? false;
    this.instrument = opts.instrument;
    this.inlineMemory = opts.inlineMemory ?? false;
    this.L = L;
    this.i32 = I32;
    this.S = L.state;
    this.count = block.insns.length;
  }

  // --- small helpers -----------------------------------------------------------------------------------

  private local(): number {
    this.vars.push(this.i32);
    return this.vars.length - 1;
  }
  private get(l: number): Expr {
    return this.m.local.get(l, this.i32);
  }
  private set(l: number, e: Expr): Expr {
    return this.m.local.set(l, e);
  }
  private c(n: number): Expr {
    return this.m.i32.const(n | 0);
  }
  private ldState(off: number): Expr {
    return this.m.i32.load(this.S + off, 4, this.c(0));
  }
  private stState(off: number, v: Expr): Expr {
    return this.m.i32.store(this.S + off, 4, this.c(0), v);
  }
  private flag(slot: FlagSlot): number {
    return ST_FLAGS + slot * 4;
  }
  private seq(list: Expr[], type?: number): Expr {
    return this.m.block(null, list, type ?? NONE);
  }

  // --- registers --------------------------------------------------------------------------------------

  private reg(size: number, r: number): Expr {
    const m = this.m;
    if (size === 4) return m.i32.load(this.S + ST_REGS + r * 4, 4, this.c(0));
    if (size === 2) return m.i32.load16_u(this.S + ST_REGS + r * 4, 2, this.c(0));
    const off = r < 4 ? r * 4 : (r - 4) * 4 + 1;
    return m.i32.load8_u(this.S + ST_REGS + off, 1, this.c(0));
  }

  private setReg(size: number, r: number, v: Expr): Expr {
    const m = this.m;
    if (size === 4) return m.i32.store(this.S + ST_REGS + r * 4, 4, this.c(0), v);
    if (size === 2) return m.i32.store16(this.S + ST_REGS + r * 4, 2, this.c(0), v);
    const off = r < 4 ? r * 4 : (r - 4) * 4 + 1;
    return m.i32.store8(this.S + ST_REGS + off, 1, this.c(0), v);
  }

  private trunc(v: Expr, size: number): Expr {
    return size === 4 ? v : this.m.i32.and(v, this.c(MASK[size]));
  }

  // --- memory -----------------------------------------------------------------------------------------

  private ea(i: Insn): Expr {
    const m = this.m;
    let e: Expr = this.c(i.disp);
    if (i.base >= 0) e = m.i32.add(e, this.reg(4, i.base));
    if (i.index >= 0) e = m.i32.add(e, m.i32.shl(this.reg(4, i.index), this.c(i.scale)));
    return e;
  }

  /** The memory helper for an access through `seg` (the flat variant for FLAT_SEGS). */
  private helper(kind: "ld" | "st" | "lw" | "sw", size: number, seg: number): string {
    const name = `${kind}${size}${kind !== "sw" && (FLAT_SEGS >> seg) & 1 ? "f" : ""}`;
    this.helpers.add(name);
    return name;
  }

  private segOf(i: Insn): number {
    return i.seg >= 0 ? i.seg : i.sseg;
  }

  /**
   * The TLB fast-path masks for the block's CPL (locals loaded once at the block's start: nothing
   * inside a block changes the CPL), for reads or writes.
   */
  private masks: { rmask: number; rok: number; wmask: number; wok: number } | null = null;
  private mask(write: boolean): [number, number] {
    this.masks ??= { rmask: this.local(), rok: this.local(), wmask: this.local(), wok: this.local() };
    return write ? [this.masks.wmask, this.masks.wok] : [this.masks.rmask, this.masks.rok];
  }

  /**
   * An access through ES, SS or DS (flat while compiled code runs, see FLAT_SEGS) inlines the TLB
   * fast path: locals `lin` and `e` get the linear address and its TLB entry, and the result is the
   * condition that the entry allows the access without crossing a page. Others call the helpers.
   */
  private inlined(seg: number): boolean {
    return this.inlineMemory && ((FLAT_SEGS >> seg) & 1) === 1;
  }
  private fast(lin: number, e: number, offExpr: Expr, size: number, write: boolean): [Expr[], Expr] {
    const m = this.m;
    const [mask, ok] = this.mask(write);
    const setup = [this.set(lin, offExpr), this.set(e, tlbEntry(m, this.L, this.get(lin)))];
    return [setup, tlbAllows(m, this.get(e), this.get(mask), this.get(ok), this.get(lin), size)];
  }
  /** The host address of the access `fast` checked. */
  private host(lin: number, e: number): Expr {
    return hostAddress(this.m, this.get(e), this.get(lin));
  }
  /** Lockstep builds: report a fast-path store before it happens. */
  private logStore(lin: number, host: Expr, size: number, v: number): Expr[] {
    return this.instrument
      ? [this.m.call("log", [this.get(lin), host, this.c(size), this.get(v)], NONE)]
      : [];
  }

  private load(size: number, seg: number, offExpr: Expr): Expr {
    const m = this.m;
    if (!this.inlined(seg))
      return m.call(
        this.helper("ld", size, seg),
        [this.c(seg), offExpr, this.c(this.eip), this.c(this.site)],
        this.i32,
      );
    const lin = this.local(),
      e = this.local();
    const [setup, ok] = this.fast(lin, e, offExpr, size, false);
    const slow = m.call(
      "ld",
      [this.c(seg), this.get(lin), this.c(size), this.c(this.eip), this.c(this.site)],
      I32,
    );
    return m.block(null, [...setup, m.if(ok, hostLoad(m, size, this.host(lin, e)), slow)], I32);
  }

  private store(size: number, seg: number, offExpr: Expr, valExpr: Expr): Expr {
    const m = this.m;
    // The value is computed before the address, as the interpreter does.
    const v = this.local();
    if (!this.inlined(seg))
      return this.seq([
        this.set(v, valExpr),
        m.call(
          this.helper("st", size, seg),
          [this.c(seg), offExpr, this.get(v), this.c(this.eip), this.c(this.site)],
          NONE,
        ),
      ]);
    const lin = this.local(),
      e = this.local();
    const [setup, ok] = this.fast(lin, e, offExpr, size, true);
    const slow = m.call(
      "st",
      [this.c(seg), this.get(lin), this.c(size), this.get(v), this.c(this.eip), this.c(this.site)],
      NONE,
    );
    const fast = this.seq([
      ...this.logStore(lin, this.host(lin, e), size, v),
      hostStore(m, size, this.host(lin, e), this.get(v)),
    ]);
    return this.seq([this.set(v, valExpr), ...setup, m.if(ok, fast, slow)]);
  }

  /** Resolve a read-modify-write operand and load it (memory: write access checked first). */
  private rmwLoad(
    i: Insn,
    spec: string,
    size: number,
    out: Expr[],
    write = true,
  ): { ref: RmwRef; value: Expr } {
    let reg: number;
    if (spec[0] === "E") reg = i.mod === 3 ? i.rm : -1;
    else if (spec[0] === "G") reg = i.reg;
    else if (spec[0] === "Z") reg = i.opreg;
    else reg = 0; // AL / eAX
    if (reg >= 0) return { ref: { reg, size }, value: this.reg(size, reg) };
    if (!write) return { ref: { reg: -1, size }, value: this.readE(i, size) };
    const v = this.local();
    const seg = this.segOf(i);
    if (this.inlined(seg)) {
      const m = this.m;
      const lin = this.local(),
        e = this.local(),
        host = this.local(),
        slow = this.local();
      const [setup, ok] = this.fast(lin, e, this.ea(i), size, true);
      out.push(
        ...setup,
        this.set(
          v,
          m.if(
            ok,
            m.block(
              null,
              [
                this.set(slow, this.c(0)),
                this.set(host, this.host(lin, e)),
                hostLoad(m, size, this.get(host)),
              ],
              I32,
            ),
            m.block(
              null,
              [
                this.set(slow, this.c(1)),
                m.call(
                  "ldw",
                  [this.c(seg), this.get(lin), this.c(size), this.c(this.eip), this.c(this.site)],
                  I32,
                ),
              ],
              I32,
            ),
          ),
        ),
      );
      return { ref: { reg: -1, size, inline: { lin, host, slow } }, value: this.get(v) };
    }
    out.push(
      this.set(
        v,
        this.m.call(
          this.helper("lw", size, seg),
          [this.c(seg), this.ea(i), this.c(this.eip), this.c(this.site)],
          this.i32,
        ),
      ),
    );
    return { ref: { reg: -1, size }, value: this.get(v) };
  }

  private rmwStore(ref: RmwRef, v: Expr): Expr {
    if (ref.reg >= 0) return this.setReg(ref.size, ref.reg, v);
    if (ref.inline) {
      const m = this.m;
      const { lin, host, slow } = ref.inline;
      const t = this.local();
      return this.seq([
        this.set(t, v),
        m.if(
          this.get(slow),
          m.call("stw", [this.c(ref.size), this.get(t), this.c(this.eip), this.c(this.site)], NONE),
          this.seq([
            ...this.logStore(lin, this.get(host), ref.size, t),
            hostStore(m, ref.size, this.get(host), this.get(t)),
          ]),
        ),
      ]);
    }
    return this.m.call(this.helper("sw", ref.size, -1), [v, this.c(this.eip), this.c(this.site)], NONE);
  }

  // --- operands ---------------------------------------------------------------------------------------

  private readE(i: Insn, size: number): Expr {
    if (i.mod === 3) return this.reg(size, i.rm);
    return this.load(size, this.segOf(i), this.ea(i));
  }

  private writeE(i: Insn, size: number, v: Expr): Expr {
    if (i.mod === 3) return this.setReg(size, i.rm, v);
    return this.store(size, this.segOf(i), this.ea(i), v);
  }

  private operand(i: Insn, spec: string, size: number): Expr {
    switch (spec[0]) {
      case "E":
        return this.readE(i, size);
      case "G":
        return this.reg(size, i.reg);
      case "Z":
        return this.reg(size, i.opreg);
      case "I":
        return this.c(size === 4 ? i.imm : i.imm & MASK[size]);
      case "1":
        return this.c(1);
    }
    if (spec === "AL" || spec === "eAX") return this.reg(size, 0);
    if (spec === "CL") return this.reg(1, 1);
    throw new Error(`JIT: no reader for operand ${spec}`);
  }

  private put(i: Insn, spec: string, size: number, v: Expr): Expr {
    switch (spec[0]) {
      case "E":
        return this.writeE(i, size, v);
      case "G":
        return this.setReg(size, i.reg, v);
      case "Z":
        return this.setReg(size, i.opreg, v);
    }
    if (spec === "AL" || spec === "eAX") return this.setReg(size, 0, v);
    throw new Error(`JIT: no writer for operand ${spec}`);
  }

  // --- flags ------------------------------------------------------------------------------------------

  private setFlags(op: Lazy, size: number, dst: Expr, src: Expr, res: Expr, defines: number): Expr[] {
    if (this.flagsDead) return [];
    const out: Expr[] = [];
    if (defines !== ARITH) out.push(this.m.call("materialise", [this.c(ARITH & ~defines)], NONE));
    out.push(
      this.stState(this.flag(FlagSlot.OP), this.c(op)),
      this.stState(this.flag(FlagSlot.SIZE), this.c(size)),
      this.stState(this.flag(FlagSlot.DST), dst),
      this.stState(this.flag(FlagSlot.SRC), src),
      this.stState(this.flag(FlagSlot.RES), res),
      this.stState(this.flag(FlagSlot.DIRTY), this.c(defines)),
    );
    return out;
  }

  private logic(size: number, res: Expr): Expr[] {
    if (this.flagsDead) return [];
    return [
      this.stState(this.flag(FlagSlot.OP), this.c(Lazy.LOGIC)),
      this.stState(this.flag(FlagSlot.SIZE), this.c(size)),
      this.stState(this.flag(FlagSlot.RES), res),
      this.stState(this.flag(FlagSlot.DIRTY), this.c(ARITH)),
    ];
  }

  /** LazyFlags.write(value, mask): materialise everything, then replace the masked bits. */
  private writeFlags(value: Expr, mask: number): Expr[] {
    if (this.flagsDead && (mask & ~ARITH) === 0) return [];
    const m = this.m;
    return [
      m.call("materialise", [this.c(ARITH)], NONE),
      this.stState(
        this.flag(FlagSlot.BITS),
        m.i32.or(
          m.i32.or(
            m.i32.and(this.ldState(this.flag(FlagSlot.BITS)), this.c(~mask)),
            m.i32.and(value, this.c(mask)),
          ),
          this.c(2),
        ),
      ),
    ];
  }

  /**
   * The last flag-setting instruction of this block, while its operands are still in locals: a
   * following Jcc/SETcc/CMOVcc tests them directly instead of evaluating the lazy record.
   */
  /** The current instruction's arithmetic flags are overwritten before anything can see them. */
  private flagsDead = false;

  private producer: {
    op: "sub" | "add" | "logic" | "inc" | "dec";
    size: number;
    a: number;
    b: number;
    r: number;
  } | null = null;

  private cond(cc: number): Expr {
    const direct = this.directCond(cc);
    return direct ?? this.m.call("cond", [this.c(cc)], this.i32);
  }

  private directCond(cc: number): Expr | null {
    const p = this.producer;
    if (p === null) return null;
    const m = this.m;
    const a = () => this.get(p.a),
      b = () => this.get(p.b),
      r = () => this.get(p.r);
    const sext = (e: Expr) => (p.size === 4 ? e : p.size === 2 ? m.i32.extend16_s(e) : m.i32.extend8_s(e));
    const sign = () =>
      p.size === 4
        ? m.i32.lt_s(r(), this.c(0))
        : m.i32.ne(m.i32.and(r(), this.c(p.size === 2 ? 0x8000 : 0x80)), this.c(0));
    const zero = () => m.i32.eqz(r());
    let e: Expr | null = null;
    const k = cc >> 1;
    if (p.op === "sub") {
      if (k === 0) {
        const sb = p.size === 4 ? 0x80000000 : p.size === 2 ? 0x8000 : 0x80;
        e = m.i32.ne(m.i32.and(m.i32.and(m.i32.xor(a(), b()), m.i32.xor(a(), r())), this.c(sb)), this.c(0));
      } else if (k === 1) e = m.i32.lt_u(a(), b());
      else if (k === 2) e = m.i32.eq(a(), b());
      else if (k === 3) e = m.i32.le_u(a(), b());
      else if (k === 4) e = sign();
      else if (k === 6) e = m.i32.lt_s(sext(a()), sext(b()));
      else if (k === 7) e = m.i32.le_s(sext(a()), sext(b()));
    } else if (p.op === "logic") {
      if (k === 0 || k === 1) e = this.c(0);
      else if (k === 2 || k === 3) e = zero();
      else if (k === 4 || k === 6) e = sign();
      else if (k === 7) e = m.i32.or(zero(), sign());
    } else if (p.op === "inc" || p.op === "dec") {
      // CF is not theirs (they keep it): B, BE and their negations go through the lazy record.
      const sb = p.size === 4 ? 0x80000000 | 0 : p.size === 2 ? 0x8000 : 0x80;
      const of = () => m.i32.eq(r(), this.c(p.op === "inc" ? sb : (sb - 1) & MASK[p.size]));
      if (k === 0) e = of();
      else if (k === 2) e = zero();
      else if (k === 4) e = sign();
      else if (k === 6) e = m.i32.ne(sign(), of());
      else if (k === 7) e = m.i32.or(zero(), m.i32.ne(sign(), of()));
    } else {
      if (k === 1) e = m.i32.lt_u(r(), a());
      else if (k === 2) e = zero();
      else if (k === 4) e = sign();
    }
    if (e === null) return null;
    return cc & 1 ? m.i32.eqz(e) : e;
  }

  // --- exits --------------------------------------------------------------------------------------------

  /** Leave the block at `eip` having retired `n` instructions. */
  private exit(eip: Expr, n: number): Expr {
    const m = this.m;
    // Chained: the runtime's `next` enters the block compiled at `eip`, if the dispatch loop would.
    if (this.chain) return m.returnCall("next", [eip, this.c(n)]);
    return this.seq([
      this.stState(ST_EIP, eip),
      this.stState(ST_BUDGET, m.i32.sub(this.ldState(ST_BUDGET), this.c(n))),
      m.return(),
    ]);
  }

  /** A branch back to the block's start: iterate in wasm while the budget allows a whole pass. */
  private loopBack(n: number): Expr {
    const m = this.m;
    this.usesLoop = true;
    return this.seq([
      this.stState(ST_BUDGET, m.i32.sub(this.ldState(ST_BUDGET), this.c(n))),
      m.br(
        this.loopLabel,
        m.i32.and(m.i32.ge_s(this.ldState(ST_BUDGET), this.c(this.count)), m.i32.eqz(this.ldState(ST_EXIT))),
      ),
      this.stState(ST_EIP, this.c(this.block.lin)),
      m.return(),
    ]);
  }

  private jumpTo(target: number, n: number): Expr {
    return target === this.block.lin ? this.loopBack(n) : this.exit(this.c(target), n);
  }

  /**
   * After an instruction with memory accesses: a slow path may have asked to leave, in which case it
   * also set EIP and the budget for the next instruction (see SITE_CONTINUES).
   */
  private exitCheck(): Expr {
    return this.m.if(this.ldState(ST_EXIT), this.m.return());
  }

  // --- the block ------------------------------------------------------------------------------------

  emit(): Expr {
    const body: Expr[] = [];
    if (this.counter >= 0) {
      const m = this.m;
      body.push(
        m.i32.store(this.counter, 4, this.c(0), m.i32.add(m.i32.load(this.counter, 4, this.c(0)), this.c(1))),
      );
    }
    let ended = false;
    const dead = deadFlagWriters(this.block.insns);
    this.block.insns.forEach((bi, k) => {
      this.idx = k;
      this.flagsDead = dead[k];
      this.eip = bi.eip;
      this.nextEip = (bi.eip + bi.insn.len) | 0;
      const i = bi.insn;
      // Instructions that end the block store their own exit; the rest continue after a slow path.
      const ends = i.def.end !== undefined && i.def.end !== "jcc";
      this.site = k | (i.len << SITE_LEN_SHIFT) | (ends ? 0 : SITE_CONTINUES);
      // Anything else that writes flags invalidates what the producer's locals say.
      if (i.def.fw !== 0 && i.def.sem !== "alu" && i.def.sem !== "test") this.producer = null;
      const r = bi.inline ? this.inlineInsn(bi.inlineId ?? -1) : this.insn(i);
      body.push(...r.code);
      if (r.ended) ended = true;
      else if (r.memory) body.push(this.exitCheck());
    });
    if (!ended) body.push(this.exit(this.c(this.block.endEip), this.count));
    const inner = this.seq(body);
    const code = this.usesLoop ? this.m.loop(this.loopLabel, inner) : inner;
    if (!this.masks) return code;
    const k = this.masks;
    return this.seq([
      this.set(k.rmask, this.ldState(ST_RMASK)),
      this.set(k.rok, this.ldState(ST_ROK)),
      this.set(k.wmask, this.ldState(ST_WMASK)),
      this.set(k.wok, this.ldState(ST_WOK)),
      code,
    ]);
  }

  private push(size: number, v: Expr): Expr[] {
    const m = this.m;
    const val = this.local(),
      sp = this.local();
    return [
      this.set(val, v),
      this.set(sp, m.i32.sub(this.reg(4, 4), this.c(size))),
      this.store(size, SEG_SS, this.get(sp), this.get(val)),
      this.setReg(4, 4, this.get(sp)),
    ];
  }

  /** An uncompiled data instruction: the interpreter runs it on the shared state, in place. */
  private inlineInsn(id: number): { code: Expr[]; ended: boolean; memory: boolean } {
    if (id < 0) throw new Error("JIT: inline instruction without an inline-table id");
    this.producer = null;
    const call = this.m.call("interp", [this.c(id), this.c(this.eip), this.c(this.site)], NONE);
    return { code: [call], ended: false, memory: true };
  }

  /** Emit one instruction: its code, whether it left the block, whether it touched memory. */
  private insn(i: Insn): { code: Expr[]; ended: boolean; memory: boolean } {
    const m = this.m;
    const d = i.def;
    const fixed = opSize(d);
    const s = fixed || (i.o32 ? 4 : 2);
    const memory = i.mod !== 3 && i.modrm >= 0 && d.sem !== "lea" && d.sem !== "nop";
    const code: Expr[] = [];
    const n = this.idx + 1;
    const next = this.nextEip;
    switch (d.sem) {
      case "nop":
        return { code, ended: false, memory: false };
      case "mov": {
        const [ds, ss] = d.ops;
        if (ds[0] === "O" || ss[0] === "O") {
          const toMem = ds[0] === "O";
          const size = fixed || (toMem ? specSize(ss) : specSize(ds)) || (i.o32 ? 4 : 2);
          if (toMem) code.push(this.store(size, this.segOf(i), this.c(i.imm), this.reg(size, 0)));
          else code.push(this.setReg(size, 0, this.load(size, this.segOf(i), this.c(i.imm))));
          return { code, ended: false, memory: true };
        }
        code.push(this.put(i, ds, s, this.operand(i, ss, s)));
        return { code, ended: false, memory };
      }
      case "alu": {
        const k = ALU_INDEX[d.mn];
        const a = this.local(),
          b = this.local(),
          r = this.local();
        const { ref, value } = this.rmwLoad(i, d.ops[0], s, code, k !== 7);
        code.push(this.set(a, value), this.set(b, this.operand(i, d.ops[1], s)));
        const A = this.get(a),
          B = this.get(b);
        let rec: Expr[];
        switch (k) {
          case 0:
            code.push(this.set(r, this.trunc(m.i32.add(A, B), s)));
            rec = this.setFlags(Lazy.ADD, s, this.get(a), this.get(b), this.get(r), ARITH);
            break;
          case 1:
          case 4:
          case 6: {
            const f = k === 1 ? m.i32.or(A, B) : k === 4 ? m.i32.and(A, B) : m.i32.xor(A, B);
            code.push(this.set(r, f));
            rec = this.logic(s, this.get(r));
            break;
          }
          case 2:
          case 3: {
            const cin = this.local();
            code.push(this.set(cin, m.i32.ne(m.call("get", [this.c(CF)], this.i32), this.c(0))));
            const f =
              k === 2 ? m.i32.add(m.i32.add(A, B), this.get(cin)) : m.i32.sub(m.i32.sub(A, B), this.get(cin));
            code.push(this.set(r, this.trunc(f, s)));
            rec = this.setFlags(
              k === 2 ? Lazy.ADC : Lazy.SBB,
              s,
              this.get(a),
              this.get(b),
              this.get(r),
              ARITH,
            );
            rec.push(this.stState(this.flag(FlagSlot.CIN), this.get(cin)));
            break;
          }
          default:
            code.push(this.set(r, this.trunc(m.i32.sub(A, B), s)));
            rec = this.setFlags(Lazy.SUB, s, this.get(a), this.get(b), this.get(r), ARITH);
        }
        if (k !== 7) code.push(this.rmwStore(ref, this.get(r)));
        code.push(...rec);
        this.producer =
          k === 0
            ? { op: "add", size: s, a, b, r }
            : k === 5 || k === 7
              ? { op: "sub", size: s, a, b, r }
              : k === 2 || k === 3
                ? null
                : { op: "logic", size: s, a, b, r };
        return { code, ended: false, memory };
      }
      case "test": {
        const r = this.local();
        code.push(this.set(r, m.i32.and(this.operand(i, d.ops[0], s), this.operand(i, d.ops[1], s))));
        code.push(...this.logic(s, this.get(r)));
        this.producer = { op: "logic", size: s, a: r, b: r, r };
        return { code, ended: false, memory };
      }
      case "inc":
      case "dec": {
        const a = this.local(),
          r = this.local();
        const { ref, value } = this.rmwLoad(i, d.ops[0], s, code);
        code.push(this.set(a, value));
        const f = d.sem === "inc" ? m.i32.add(this.get(a), this.c(1)) : m.i32.sub(this.get(a), this.c(1));
        code.push(this.set(r, this.trunc(f, s)), this.rmwStore(ref, this.get(r)));
        code.push(
          ...this.setFlags(
            d.sem === "inc" ? Lazy.INC : Lazy.DEC,
            s,
            this.get(a),
            this.c(1),
            this.get(r),
            ARITH & ~CF,
          ),
        );
        this.producer = { op: d.sem, size: s, a, b: a, r };
        return { code, ended: false, memory };
      }
      case "not": {
        const { ref, value } = this.rmwLoad(i, d.ops[0], s, code);
        code.push(this.rmwStore(ref, this.trunc(m.i32.xor(value, this.c(-1)), s)));
        return { code, ended: false, memory };
      }
      case "neg": {
        const a = this.local(),
          r = this.local();
        const { ref, value } = this.rmwLoad(i, d.ops[0], s, code);
        code.push(this.set(a, value), this.set(r, this.trunc(m.i32.sub(this.c(0), this.get(a)), s)));
        code.push(this.rmwStore(ref, this.get(r)));
        code.push(...this.setFlags(Lazy.SUB, s, this.c(0), this.get(a), this.get(r), ARITH));
        return { code, ended: false, memory };
      }
      case "push": {
        const size = i.o32 ? 4 : 2;
        code.push(...this.push(size, this.operand(i, d.ops[0], size)));
        return { code, ended: false, memory: true };
      }
      case "pop": {
        const size = i.o32 ? 4 : 2;
        const v = this.local();
        code.push(
          this.set(v, this.load(size, SEG_SS, this.reg(4, 4))),
          this.setReg(4, 4, m.i32.add(this.reg(4, 4), this.c(size))),
          this.setReg(size, i.opreg, this.get(v)),
        );
        return { code, ended: false, memory: true };
      }
      case "lea": {
        const size = i.o32 ? 4 : 2;
        code.push(this.setReg(size, i.reg, this.ea(i)));
        return { code, ended: false, memory: false };
      }
      case "movzx": {
        const from = specSize(d.ops[1]);
        code.push(this.setReg(i.o32 ? 4 : 2, i.reg, this.readE(i, from)));
        return { code, ended: false, memory };
      }
      case "movsx": {
        const from = specSize(d.ops[1]);
        const v = from === 1 ? m.i32.extend8_s(this.readE(i, from)) : m.i32.extend16_s(this.readE(i, from));
        code.push(this.setReg(i.o32 ? 4 : 2, i.reg, v));
        return { code, ended: false, memory };
      }
      case "xchg": {
        const a = this.local(),
          b = this.local();
        const ra = this.rmwLoad(i, d.ops[0], s, code);
        code.push(this.set(a, ra.value));
        const rb = this.rmwLoad(i, d.ops[1], s, code);
        code.push(this.set(b, rb.value));
        code.push(this.rmwStore(ra.ref, this.get(b)), this.rmwStore(rb.ref, this.get(a)));
        return { code, ended: false, memory };
      }
      case "cbw":
        if (i.o32) code.push(this.setReg(4, 0, m.i32.extend16_s(this.reg(4, 0))));
        else code.push(this.setReg(2, 0, m.i32.extend8_s(this.reg(1, 0))));
        return { code, ended: false, memory: false };
      case "cwd":
        if (i.o32) code.push(this.setReg(4, 2, m.i32.shr_s(this.reg(4, 0), this.c(31))));
        else code.push(this.setReg(2, 2, m.i32.shr_s(m.i32.extend16_s(this.reg(2, 0)), this.c(31))));
        return { code, ended: false, memory: false };
      case "cmov": {
        const size = i.o32 ? 4 : 2;
        const v = this.local();
        code.push(this.set(v, this.readE(i, size)));
        code.push(m.if(this.cond(d.code & 0xf), this.setReg(size, i.reg, this.get(v))));
        return { code, ended: false, memory };
      }
      case "setcc":
        code.push(this.writeE(i, 1, this.cond(d.code & 0xf)));
        return { code, ended: false, memory };
      case "leave": {
        const size = i.o32 ? 4 : 2;
        const v = this.local();
        code.push(
          this.set(v, this.load(size, SEG_SS, this.reg(4, 5))),
          this.setReg(4, 4, m.i32.add(this.reg(4, 5), this.c(size))),
          this.setReg(size, 5, this.get(v)),
        );
        return { code, ended: false, memory: true };
      }
      case "imul2":
      case "imul3": {
        const size = i.o32 ? 4 : 2;
        const x = this.local(),
          y = this.local(),
          lo = this.local(),
          ovf = this.local();
        if (d.sem === "imul2")
          code.push(this.set(x, this.reg(size, i.reg)), this.set(y, this.readE(i, size)));
        else code.push(this.set(x, this.readE(i, size)), this.set(y, this.operand(i, d.ops[2], size)));
        if (size === 4) {
          const p = m.i64.mul(m.i64.extend_s(this.get(x)), m.i64.extend_s(this.get(y)));
          const p64 = this.vars.push(I64) - 1;
          code.push(
            m.local.set(p64, p),
            this.set(lo, m.i32.wrap(m.local.get(p64, I64))),
            this.set(ovf, m.i64.ne(m.local.get(p64, I64), m.i64.extend_s(this.get(lo)))),
          );
        } else {
          const r = this.local();
          code.push(
            this.set(r, m.i32.mul(m.i32.extend16_s(this.get(x)), m.i32.extend16_s(this.get(y)))),
            this.set(lo, m.i32.and(this.get(r), this.c(0xffff))),
            this.set(ovf, m.i32.ne(this.get(r), m.i32.extend16_s(this.get(r)))),
          );
        }
        code.push(this.setReg(size, i.reg, this.get(lo)));
        code.push(...this.logic(size, this.get(lo)));
        code.push(...this.writeFlags(m.select(this.get(ovf), this.c(CF | OF), this.c(0)), CF | OF));
        return { code, ended: false, memory };
      }
      case "bswap": {
        const v = this.reg(4, i.opreg);
        const r = i.o32
          ? m.i32.or(
              m.i32.or(
                m.i32.shl(v, this.c(24)),
                m.i32.shl(m.i32.and(this.reg(4, i.opreg), this.c(0xff00)), this.c(8)),
              ),
              m.i32.or(
                m.i32.and(m.i32.shr_u(this.reg(4, i.opreg), this.c(8)), this.c(0xff00)),
                m.i32.shr_u(this.reg(4, i.opreg), this.c(24)),
              ),
            )
          : m.i32.and(v, this.c(0xffff0000));
        code.push(this.setReg(4, i.opreg, r));
        return { code, ended: false, memory: false };
      }
      case "clc":
        code.push(...this.writeFlags(this.c(0), CF));
        return { code, ended: false, memory: false };
      case "stc":
        code.push(...this.writeFlags(this.c(CF), CF));
        return { code, ended: false, memory: false };
      case "cmc": {
        const v = this.local();
        code.push(this.set(v, m.i32.xor(m.call("get", [this.c(CF)], this.i32), this.c(CF))));
        code.push(...this.writeFlags(this.get(v), CF));
        return { code, ended: false, memory: false };
      }
      case "cld":
        code.push(...this.writeFlags(this.c(0), DF));
        return { code, ended: false, memory: false };
      case "std":
        code.push(...this.writeFlags(this.c(DF), DF));
        return { code, ended: false, memory: false };
      case "shift":
        return { code: this.shift(i, code), ended: false, memory };
      // --- control transfer (these end the block or leave through a side exit) ---
      case "jcc": {
        const cc = d.code & 0xf;
        const target = (next + i.imm) | 0;
        code.push(m.if(this.cond(cc), this.jumpTo(target, n)));
        return { code, ended: false, memory: false };
      }
      case "jmp":
        code.push(this.jumpTo((next + i.imm) | 0, n));
        return { code, ended: true, memory: false };
      case "call":
        code.push(...this.push(4, this.c(next)), this.exit(this.c((next + i.imm) | 0), n));
        return { code, ended: true, memory: true };
      case "call_ind": {
        const t = this.local();
        code.push(this.set(t, this.readE(i, 4)), ...this.push(4, this.c(next)), this.exit(this.get(t), n));
        return { code, ended: true, memory: true };
      }
      case "jmp_ind":
        code.push(this.exit(this.readE(i, 4), n));
        return { code, ended: true, memory };
      case "ret": {
        const t = this.local();
        const extra = d.ops.length > 0 ? i.imm & 0xffff : 0;
        code.push(
          this.set(t, this.load(4, SEG_SS, this.reg(4, 4))),
          this.setReg(4, 4, m.i32.add(this.reg(4, 4), this.c(4 + extra))),
          this.exit(this.get(t), n),
        );
        return { code, ended: true, memory: true };
      }
    }
    throw new Error(`JIT: no emitter for ${d.mn} (${d.sem})`);
  }

  /** SHL/SAL/SHR/SAR/ROL/ROR with a 32-bit operand (blocks.ts admits no other shift form). */
  private shift(i: Insn, code: Expr[]): Expr[] {
    const m = this.m;
    const d = i.def;
    const cnt = this.local(),
      a = this.local(),
      r = this.local(),
      cf = this.local(),
      of = this.local();
    const { ref, value } = this.rmwLoad(i, d.ops[0], 4, code);
    code.push(this.set(a, value));
    code.push(this.set(cnt, m.i32.and(this.operand(i, d.ops[1], 1), this.c(0x1f))));
    const A = () => this.get(a);
    const N = () => this.get(cnt);
    const body: Expr[] = [];
    if (d.mn === "ROL" || d.mn === "ROR") {
      // Rotates change only CF and OF, written through LazyFlags.write (which materialises the rest).
      const left = d.mn === "ROL";
      body.push(this.set(r, left ? m.i32.rotl(A(), N()) : m.i32.rotr(A(), N())));
      if (left) {
        body.push(
          this.set(cf, m.i32.and(this.get(r), this.c(1))),
          this.set(of, m.i32.xor(m.i32.shr_u(this.get(r), this.c(31)), this.get(cf))),
        );
      } else {
        body.push(
          this.set(cf, m.i32.shr_u(this.get(r), this.c(31))),
          this.set(of, m.i32.xor(this.get(cf), m.i32.and(m.i32.shr_u(this.get(r), this.c(30)), this.c(1)))),
        );
      }
      body.push(this.rmwStore(ref, this.get(r)));
      body.push(...this.writeFlags(m.i32.or(this.get(cf), m.i32.shl(this.get(of), this.c(11))), CF | OF));
      code.push(m.if(N(), this.seq(body)));
      return code;
    }
    if (d.mn === "SHR") {
      body.push(
        this.set(r, m.i32.shr_u(A(), N())),
        this.set(cf, m.i32.and(m.i32.shr_u(A(), m.i32.sub(N(), this.c(1))), this.c(1))),
        this.set(of, m.i32.shr_u(A(), this.c(31))),
      );
    } else if (d.mn === "SAR") {
      body.push(
        this.set(r, m.i32.shr_s(A(), N())),
        this.set(cf, m.i32.and(m.i32.shr_s(A(), m.i32.sub(N(), this.c(1))), this.c(1))),
        this.set(of, this.c(0)),
      );
    } else {
      body.push(
        this.set(r, m.i32.shl(A(), N())),
        this.set(cf, m.i32.and(m.i32.shr_u(A(), m.i32.sub(this.c(32), N())), this.c(1))),
        this.set(of, m.i32.xor(m.i32.shr_u(this.get(r), this.c(31)), this.get(cf))),
      );
    }
    body.push(this.rmwStore(ref, this.get(r)));
    body.push(...this.setFlags(Lazy.LOGIC, 4, this.c(0), this.c(0), this.get(r), SF | ZF | PF));
    body.push(
      this.stState(
        this.flag(FlagSlot.BITS),
        m.i32.or(
          m.i32.and(this.ldState(this.flag(FlagSlot.BITS)), this.c(~(CF | OF | AF))),
          m.i32.or(this.get(cf), m.i32.shl(this.get(of), this.c(11))),
        ),
      ),
    );
    code.push(m.if(N(), this.seq(body)));
    return code;
  }
}
