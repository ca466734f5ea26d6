// The JIT's runtime module: the dispatch loop that chains compiled blocks inside wasm, and the
// lazy-flags evaluation that compiled code calls (the same algorithm as LazyFlags in flags.ts, over
// the same record in guest memory's host area). Built once per machine.

import {
  ST_BUDGET,
  ST_EIP,
  ST_EXIT,
  ST_FLAGS,
  ST_PARITY,
  ST_RMASK,
  ST_ROK,
} from "../engine/cpu/state-layout.ts";
import { AF, CF, FlagSlot, Lazy, OF, PF, SF, ZF } from "../engine/cpu/flags.ts";
import { Module, i32, none, type Expr, type Type } from "./wasm.ts";

/** Why the dispatch loop returned to JavaScript. */
export const enum RunExit {
  EXIT_REQUEST = 1, // a slow path asked to leave (interrupt, code write, ...)
  TLB_MISS = 2, // the next EIP's page is not in the TLB: the interpreter fills it
  NO_BLOCK = 3, // nothing compiled at the next EIP
  BUDGET = 4, // the next block could overrun the instruction budget
}

export interface RuntimeLayout {
  state: number;
  tlb: number;
  hash: number;
  hashMask: number;
}

/** Index of a block's hash entry for linear EIP `eip` (also used by the JavaScript side). */
export function hashSlot(eip: number, mask: number): number {
  return (eip ^ (eip >>> 13)) & mask;
}

/** The runtime module: dispatch loop and lazy-flags evaluation over the shared state. */
export function runtimeBinary(l: RuntimeLayout): Uint8Array {
  const m = new Module();
  m.importMemory("env", "memory", 1, 65536);
  m.importTable("env", "table", 1);
  const S = l.state;
  const c = (n: number) => m.i32.const(n);
  const get = (k: number) => m.local.get(k, i32);
  const set = (k: number, v: Expr) => m.local.set(k, v);
  const ld = (addr: number) => m.i32.load(addr, 4, c(0));
  const F = (slot: FlagSlot) => S + ST_FLAGS + slot * 4;
  const or = (k: number, bits: Expr) => set(k, m.i32.or(get(k), bits));
  const seq = (list: Expr[]) => m.block(null, list);
  // The lookup slot of a linear EIP (hashSlot, 16 bytes a slot), and its physical address by TLB entry e.
  const slotAddress = (eip: Expr) =>
    m.i32.add(c(l.hash), m.i32.shl(m.i32.and(m.i32.xor(eip, m.i32.shr_u(eip, c(13))), c(l.hashMask)), c(4)));
  const physOf = (e: Expr, eip: Expr) => m.i32.or(m.i32.and(e, c(-4096)), m.i32.and(eip, c(4095)));

  // compute(which): the dirty flags in `which` from the lazy record, like LazyFlags.compute.
  {
    const which = 0,
      size = 1,
      mask = 2,
      sign = 3,
      res = 4,
      out = 5,
      d = 6,
      s = 7,
      r = 8,
      op = 9,
      cin = 10;
    const masked = (k: number) => m.i32.and(get(k), get(mask));
    const carry = (lo: number, hi: number, withCarry: number) =>
      // ADD/ADC: the result wrapped below the destination; SUB/SBB: the source exceeds it
      set(
        out,
        m.select(
          m.i32.and(m.i32.eq(get(op), c(withCarry)), m.i32.ne(get(cin), c(0))),
          m.i32.le_u(masked(lo), masked(hi)),
          m.i32.lt_u(masked(lo), masked(hi)),
        ),
      );
    const body = [
      set(size, ld(F(FlagSlot.SIZE))),
      set(
        mask,
        m.select(m.i32.eq(get(size), c(4)), c(-1), m.select(m.i32.eq(get(size), c(2)), c(0xffff), c(0xff))),
      ),
      set(sign, m.i32.xor(get(mask), m.i32.shr_u(get(mask), c(1)))),
      set(op, ld(F(FlagSlot.OP))),
      set(res, m.i32.and(ld(F(FlagSlot.RES)), get(mask))),
      set(d, ld(F(FlagSlot.DST))),
      set(s, ld(F(FlagSlot.SRC))),
      set(r, ld(F(FlagSlot.RES))),
      m.if(
        m.i32.and(get(which), c(CF)),
        seq([
          set(cin, ld(F(FlagSlot.CIN))),
          m.block("cf", [
            m.if(m.i32.le_u(get(op), c(Lazy.ADC)), seq([carry(r, d, Lazy.ADC), m.br("cf")])),
            m.if(m.i32.le_u(get(op), c(Lazy.SBB)), carry(d, s, Lazy.SBB)),
          ]),
        ]),
      ),
      m.if(
        m.i32.and(get(which), c(PF)),
        or(out, m.i32.load8_u(S + ST_PARITY, 1, m.i32.and(get(res), c(0xff)))),
      ),
      m.if(
        m.i32.and(get(which), c(AF)),
        m.if(
          m.i32.ne(get(op), c(Lazy.LOGIC)),
          or(out, m.i32.and(m.i32.xor(m.i32.xor(get(d), get(s)), get(r)), c(AF))),
        ),
      ),
      m.if(m.i32.and(get(which), c(ZF)), m.if(m.i32.eqz(get(res)), or(out, c(ZF)))),
      m.if(m.i32.and(get(which), c(SF)), m.if(m.i32.and(get(res), get(sign)), or(out, c(SF)))),
      m.if(
        m.i32.and(get(which), c(OF)),
        m.block("of", [
          // ADD ADC INC
          m.if(
            m.i32.or(m.i32.le_u(get(op), c(Lazy.ADC)), m.i32.eq(get(op), c(Lazy.INC))),
            seq([
              m.if(
                m.i32.and(m.i32.and(m.i32.xor(get(d), get(r)), m.i32.xor(get(s), get(r))), get(sign)),
                or(out, c(OF)),
              ),
              m.br("of"),
            ]),
          ),
          // SUB SBB DEC
          m.if(
            m.i32.or(
              m.i32.and(m.i32.ge_u(get(op), c(Lazy.SUB)), m.i32.le_u(get(op), c(Lazy.SBB))),
              m.i32.eq(get(op), c(Lazy.DEC)),
            ),
            m.if(
              m.i32.and(m.i32.and(m.i32.xor(get(d), get(s)), m.i32.xor(get(d), get(r))), get(sign)),
              or(out, c(OF)),
            ),
          ),
        ]),
      ),
      get(out),
    ];
    m.addFunction("compute", [i32], i32, Array<Type>(10).fill(i32), m.block(null, body, i32));
  }

  // get(flag): LazyFlags.get — flags not dirty come from the materialised bits.
  {
    const flag = 0,
      d = 1;
    m.addFunction(
      "get",
      [i32],
      i32,
      [i32],
      m.block(
        null,
        [
          set(d, m.i32.and(ld(F(FlagSlot.DIRTY)), get(flag))),
          m.if(
            get(d),
            m.i32.or(
              m.i32.and(m.i32.and(ld(F(FlagSlot.BITS)), get(flag)), m.i32.xor(get(d), c(-1))),
              m.call("compute", [get(d)], i32),
            ),
            m.i32.and(ld(F(FlagSlot.BITS)), get(flag)),
          ),
        ],
        i32,
      ),
    );
    m.addFunctionExport("get", "get");
  }

  // materialise(which): the dirty flags in `which` into the bits (before a partial flag update).
  {
    const which = 0,
      d = 1;
    m.addFunction(
      "materialise",
      [i32],
      none,
      [i32],
      seq([
        set(d, m.i32.and(ld(F(FlagSlot.DIRTY)), get(which))),
        m.if(
          get(d),
          seq([
            m.i32.store(
              F(FlagSlot.BITS),
              4,
              c(0),
              m.i32.or(
                m.i32.and(ld(F(FlagSlot.BITS)), m.i32.xor(get(d), c(-1))),
                m.call("compute", [get(d)], i32),
              ),
            ),
            m.i32.store(
              F(FlagSlot.DIRTY),
              4,
              c(0),
              m.i32.and(ld(F(FlagSlot.DIRTY)), m.i32.xor(get(d), c(-1))),
            ),
          ]),
        ),
      ]),
    );
    m.addFunctionExport("materialise", "materialise");
  }

  // cond(cc): condition code cc (Jcc order) as 0/1, like cond() in exec-int.ts.
  {
    const cc = 0,
      r = 1,
      k = 2;
    const flag = (f: number) => m.call("get", [c(f)], i32);
    const lessThan = () => m.i32.ne(m.i32.eqz(flag(SF)), m.i32.eqz(flag(OF)));
    const cases: [number, Expr][] = [
      [0, flag(OF)],
      [1, flag(CF)],
      [2, flag(ZF)],
      [3, flag(CF | ZF)],
      [4, flag(SF)],
      [5, flag(PF)],
      [6, lessThan()],
    ];
    m.addFunction(
      "cond",
      [i32],
      i32,
      [i32, i32],
      m.block(
        null,
        [
          set(k, m.i32.shr_u(get(cc), c(1))),
          m.block("done", [
            ...cases.map(([n, e]) => m.if(m.i32.eq(get(k), c(n)), seq([set(r, e), m.br("done")]))),
            set(r, m.i32.or(m.i32.ne(flag(ZF), c(0)), lessThan())),
          ]),
          m.i32.xor(m.i32.ne(get(r), c(0)), m.i32.and(get(cc), c(1))),
        ],
        i32,
      ),
    );
    m.addFunctionExport("cond", "cond");
  }

  // next(eip, n): how a block leaves when blocks chain (compiler.ts): retire its n instructions, then
  // enter the block compiled at eip (a tail call, so chains do not grow the stack) if the dispatch
  // loop below would, or else record eip and return to the loop, which says why it cannot go on.
  {
    const eip = 0,
      n = 1,
      budget = 2,
      e = 3,
      h = 4;
    m.addFunction(
      "next",
      [i32, i32],
      none,
      [i32, i32, i32],
      seq([
        set(budget, m.i32.sub(ld(S + ST_BUDGET), get(n))),
        m.i32.store(S + ST_BUDGET, 4, c(0), get(budget)),
        m.if(
          m.i32.eqz(ld(S + ST_EXIT)),
          seq([
            set(e, m.i32.load(l.tlb, 4, m.i32.shl(m.i32.shr_u(get(eip), c(12)), c(2)))),
            set(h, slotAddress(get(eip))),
            m.if(
              m.i32.and(
                m.i32.and(
                  m.i32.eq(m.i32.and(get(e), ld(S + ST_RMASK)), ld(S + ST_ROK)),
                  m.i32.eq(m.i32.load(0, 4, get(h)), get(eip)),
                ),
                m.i32.and(
                  m.i32.eq(m.i32.load(4, 4, get(h)), physOf(get(e), get(eip))),
                  m.i32.le_s(m.i32.load(12, 4, get(h)), get(budget)),
                ),
              ),
              m.returnCallIndirect(m.i32.load(8, 4, get(h)), [], [], none),
            ),
          ]),
        ),
        m.i32.store(S + ST_EIP, 4, c(0), get(eip)),
      ]),
    );
    m.addFunctionExport("next", "next");
  }

  // run(): chain compiled blocks until one of the RunExit reasons.
  {
    const eip = 0,
      e = 1,
      h = 2;
    const leave = (why: RunExit) => m.return(c(why));
    m.addFunction(
      "run",
      [],
      i32,
      [i32, i32, i32],
      m.block(
        null,
        [
          m.loop(
            "next",
            seq([
              m.if(ld(S + ST_EXIT), leave(RunExit.EXIT_REQUEST)),
              set(eip, ld(S + ST_EIP)),
              set(e, m.i32.load(l.tlb, 4, m.i32.shl(m.i32.shr_u(get(eip), c(12)), c(2)))),
              m.if(m.i32.ne(m.i32.and(get(e), ld(S + ST_RMASK)), ld(S + ST_ROK)), leave(RunExit.TLB_MISS)),
              set(h, slotAddress(get(eip))),
              m.if(m.i32.ne(m.i32.load(0, 4, get(h)), get(eip)), leave(RunExit.NO_BLOCK)),
              m.if(m.i32.ne(m.i32.load(4, 4, get(h)), physOf(get(e), get(eip))), leave(RunExit.NO_BLOCK)),
              m.if(m.i32.gt_s(m.i32.load(12, 4, get(h)), ld(S + ST_BUDGET)), leave(RunExit.BUDGET)),
              m.callIndirect(m.i32.load(8, 4, get(h)), [], [], none),
              m.br("next"),
            ]),
          ),
          c(0),
        ],
        i32,
      ),
    );
    m.addFunctionExport("run", "run");
  }
  return m.emitBinary();
}

export interface RuntimeExports {
  run(): number;
  next(eip: number, n: number): void;
  get(flag: number): number;
  materialise(which: number): void;
  cond(cc: number): number;
}

/** Instantiate the runtime on the engine's thread, over the guest memory and the shared table. */
export function instantiateRuntime(
  binary: Uint8Array,
  memory: WebAssembly.Memory,
  table: WebAssembly.Table,
): RuntimeExports {
  const mod = new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>);
  return new WebAssembly.Instance(mod, { env: { memory, table } }).exports as unknown as RuntimeExports;
}
