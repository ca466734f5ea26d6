// The JIT's WebAssembly back end: expression trees built through an API in the shape of binaryen's
// (the subset the block compiler and the runtime use) and encoded straight to the binary format.
//
// binaryen was the back end first. Measured on the 2-core machines the emulator targets, it cost
// more than the guest code it compiled: ~1 s to load its 10 MB of wasm in the engine's Worker,
// 85-200 µs of calls across the JS/wasm boundary per block, and — the largest part — V8's TurboFan
// recompiling binaryen's own giant functions in the background: 4.1 s of CPU during a 6 s Linux
// boot in Chromium, on a machine with two cores. The JIT's code needs no optimizer (V8 optimizes
// it), so a direct encoder does the whole job in a few µs per block. binaryen stays for what it is
// good at and where its cost does not matter: disassembling compiled blocks for the JIT explorer
// and validating the encoder's output in tests (jit/binaryen.ts).

/** Value types and block types, as encoded. */
export const none = 0x40;
export const i32 = 0x7f;
export const i64 = 0x7e;
/** The type of an expression that never completes (return, br). */
const UNREACHABLE = 0;
export type Type = number;

/** An expression: a node of the tree the encoder walks once. */
export class Expr {
  constructor(
    /** Opcode, or one of the structured forms below (K_*). */
    readonly op: number,
    readonly type: Type,
    readonly kids: readonly Expr[] | null = null,
    /** Immediates: memarg offset, constant, local index, label/function/global name, ... */
    readonly a: number | string | bigint = 0,
    readonly b: number = 0,
  ) {}
}

// Structured forms (not opcodes).
const K_BLOCK = 0x102,
  K_LOOP = 0x103,
  K_IF = 0x104,
  K_BR = 0x10c,
  K_BR_IF = 0x10d,
  K_CALL = 0x110,
  K_CALL_INDIRECT = 0x111,
  K_RETURN_CALL = 0x112,
  K_RETURN_CALL_INDIRECT = 0x113,
  K_GLOBAL_GET = 0x123,
  K_GLOBAL_SET = 0x124,
  K_CONST32 = 0x141,
  K_CONST64 = 0x142,
  K_LOAD = 0x200,
  K_STORE = 0x201;

const un = (op: number, type: Type) => (x: Expr) => new Expr(op, type, [x]);
const bin = (op: number, type: Type) => (x: Expr, y: Expr) => new Expr(op, type, [x, y]);
/** binaryen's alignment argument is in bytes; the binary format takes its log2. */
const log2 = (align: number) => (align >= 8 ? 3 : align >= 4 ? 2 : align >= 2 ? 1 : 0);
const load =
  (op: number, type: Type, natural: number) =>
  (offset: number, align: number, ptr: Expr): Expr =>
    new Expr(K_LOAD, type, [ptr], offset >>> 0, (op << 8) | log2(align || natural));
const store =
  (op: number, natural: number) =>
  (offset: number, align: number, ptr: Expr, value: Expr): Expr =>
    new Expr(K_STORE, none, [ptr, value], offset >>> 0, (op << 8) | log2(align || natural));

interface FunctionDef {
  name: string;
  params: Type[];
  result: Type;
  vars: Type[];
  body: Expr;
}

interface ImportDef {
  name: string;
  module: string;
  base: string;
  params: Type[];
  result: Type;
}

const I32_OPS = {
  const: (v: number) => new Expr(K_CONST32, i32, null, v | 0),
  add: bin(0x6a, i32),
  sub: bin(0x6b, i32),
  mul: bin(0x6c, i32),
  and: bin(0x71, i32),
  or: bin(0x72, i32),
  xor: bin(0x73, i32),
  shl: bin(0x74, i32),
  shr_s: bin(0x75, i32),
  shr_u: bin(0x76, i32),
  rotl: bin(0x77, i32),
  rotr: bin(0x78, i32),
  eqz: un(0x45, i32),
  eq: bin(0x46, i32),
  ne: bin(0x47, i32),
  lt_s: bin(0x48, i32),
  lt_u: bin(0x49, i32),
  gt_s: bin(0x4a, i32),
  gt_u: bin(0x4b, i32),
  le_s: bin(0x4c, i32),
  le_u: bin(0x4d, i32),
  ge_s: bin(0x4e, i32),
  ge_u: bin(0x4f, i32),
  wrap: un(0xa7, i32),
  extend8_s: un(0xc0, i32),
  extend16_s: un(0xc1, i32),
  load: load(0x28, i32, 4),
  load8_s: load(0x2c, i32, 1),
  load8_u: load(0x2d, i32, 1),
  load16_s: load(0x2e, i32, 2),
  load16_u: load(0x2f, i32, 2),
  store: store(0x36, 4),
  store8: store(0x3a, 1),
  store16: store(0x3b, 2),
};
const I64_OPS = {
  const: (v: bigint) => new Expr(K_CONST64, i64, null, v),
  mul: bin(0x7e, i64),
  ne: bin(0x52, i32),
  extend_s: un(0xac, i64),
};
const LOCAL_OPS = {
  get: (index: number, type: Type) => new Expr(0x20, type, null, index),
  set: (index: number, value: Expr) => new Expr(0x21, none, [value], index),
};
const GLOBAL_OPS = {
  get: (name: string, type: Type) => new Expr(K_GLOBAL_GET, type, null, name),
  set: (name: string, value: Expr) => new Expr(K_GLOBAL_SET, none, [value], name),
};

/** A module under construction (the part of binaryen's Module API the JIT uses). */
export class Module {
  readonly i32 = I32_OPS;
  readonly i64 = I64_OPS;
  readonly local = LOCAL_OPS;
  readonly global = GLOBAL_OPS;

  private readonly imports: ImportDef[] = [];
  private readonly functions: FunctionDef[] = [];
  private readonly exports: [string, string][] = [];
  private readonly globals: { name: string; type: Type; mutable: boolean; init: number }[] = [];
  private memory: { module: string; base: string; min: number; max: number } | null = null;
  private table: { module: string; base: string; min: number } | null = null;

  block(label: string | null, children: readonly Expr[], type: Type = none): Expr {
    return new Expr(K_BLOCK, type, children, label ?? "");
  }
  loop(label: string, body: Expr): Expr {
    return new Expr(K_LOOP, body.type === UNREACHABLE ? none : body.type, [body], label);
  }
  if(cond: Expr, ifTrue: Expr, ifFalse?: Expr): Expr {
    let type: Type = none;
    if (ifFalse) {
      if (ifTrue.type === ifFalse.type) type = ifTrue.type === UNREACHABLE ? none : ifTrue.type;
      else if (ifTrue.type === UNREACHABLE) type = ifFalse.type;
      else if (ifFalse.type === UNREACHABLE) type = ifTrue.type;
    }
    return new Expr(K_IF, type, ifFalse ? [cond, ifTrue, ifFalse] : [cond, ifTrue]);
  }
  /** br (unconditional) or br_if. */
  br(label: string, cond?: Expr): Expr {
    return cond ? new Expr(K_BR_IF, none, [cond], label) : new Expr(K_BR, UNREACHABLE, null, label);
  }
  return(value?: Expr): Expr {
    return new Expr(0x0f, UNREACHABLE, value ? [value] : null);
  }
  select(cond: Expr, ifTrue: Expr, ifFalse: Expr): Expr {
    return new Expr(0x1b, ifTrue.type, [ifTrue, ifFalse, cond]);
  }
  call(name: string, operands: readonly Expr[], type: Type): Expr {
    return new Expr(K_CALL, type, operands, name);
  }
  /** call_indirect through the imported table, to a function of type params -> result. */
  callIndirect(target: Expr, operands: readonly Expr[], params: Type[], result: Type): Expr {
    return new Expr(K_CALL_INDIRECT, result, [...operands, target], sig(params, result));
  }
  /** return_call (a tail call; the tail-call proposal, in V8 since 11.2). */
  returnCall(name: string, operands: readonly Expr[]): Expr {
    return new Expr(K_RETURN_CALL, UNREACHABLE, operands, name);
  }
  /** return_call_indirect (a tail call through the imported table). */
  returnCallIndirect(target: Expr, operands: readonly Expr[], params: Type[], result: Type): Expr {
    return new Expr(K_RETURN_CALL_INDIRECT, UNREACHABLE, [...operands, target], sig(params, result));
  }

  addFunctionImport(name: string, module: string, base: string, params: Type[], result: Type): void {
    this.imports.push({ name, module, base, params, result });
  }
  addFunction(name: string, params: Type[], result: Type, vars: Type[], body: Expr): void {
    this.functions.push({ name, params, result, vars, body });
  }
  addFunctionExport(name: string, external: string): void {
    this.exports.push([name, external]);
  }
  addGlobal(name: string, type: Type, mutable: boolean, init: number): void {
    this.globals.push({ name, type, mutable, init });
  }
  importMemory(module: string, base: string, min: number, max: number): void {
    this.memory = { module, base, min, max };
  }
  importTable(module: string, base: string, min: number): void {
    this.table = { module, base, min };
  }

  /** The module's binary; `names` adds a name section (function names, for disassembly). */
  emitBinary(names = false): Uint8Array {
    const e = new Encoder(this.imports, this.functions, this.exports, this.globals, this.memory, this.table);
    return e.run(names);
  }
}

/** A function signature's key (type section entries are shared by equal signatures). */
function sig(params: readonly Type[], result: Type): string {
  return `${params.join(",")}:${result}`;
}

/** A growable byte buffer with LEB128 writers. */
class Bytes {
  buf = new Uint8Array(4096);
  n = 0;
  byte(b: number): void {
    if (this.n === this.buf.length) this.grow(1);
    this.buf[this.n++] = b;
  }
  private grow(need: number): void {
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + need));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  u32(v: number): void {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }
  s32(v: number): void {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }
  s64(v: bigint): void {
    v = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }
  name(s: string): void {
    this.u32(s.length);
    for (let k = 0; k < s.length; k++) this.byte(s.charCodeAt(k));
  }
  append(other: Bytes): void {
    if (this.n + other.n > this.buf.length) this.grow(other.n);
    this.buf.set(other.buf.subarray(0, other.n), this.n);
    this.n += other.n;
  }
  /** A section: id, then its contents' size and the contents. */
  section(id: number, body: Bytes): void {
    if (body.n === 0) return;
    this.byte(id);
    this.u32(body.n);
    this.append(body);
  }
}

class Encoder {
  private readonly types = new Map<string, number>();
  private readonly typeList: [Type[], Type][] = [];
  private readonly funcIndex = new Map<string, number>();
  private readonly globalIndex = new Map<string, number>();
  /** Labels of the enclosing blocks, loops and ifs while a body is encoded ("" = unnamed). */
  private labels: string[] = [];

  constructor(
    private readonly imports: ImportDef[],
    private readonly functions: FunctionDef[],
    private readonly exports: [string, string][],
    private readonly globals: { name: string; type: Type; mutable: boolean; init: number }[],
    private readonly memory: { module: string; base: string; min: number; max: number } | null,
    private readonly table: { module: string; base: string; min: number } | null,
  ) {
    imports.forEach((f, k) => this.funcIndex.set(f.name, k));
    functions.forEach((f, k) => this.funcIndex.set(f.name, imports.length + k));
    globals.forEach((g, k) => this.globalIndex.set(g.name, k));
  }

  private typeOf(params: readonly Type[], result: Type): number {
    const key = sig(params, result);
    let t = this.types.get(key);
    if (t === undefined) {
      t = this.typeList.length;
      this.types.set(key, t);
      this.typeList.push([[...params], result]);
    }
    return t;
  }

  run(names: boolean): Uint8Array {
    // Bodies first: they discover the signatures call_indirect needs.
    const code = new Bytes();
    code.u32(this.functions.length);
    for (const f of this.functions) {
      const body = new Bytes();
      const runs: [number, Type][] = [];
      for (const t of f.vars) {
        const last = runs[runs.length - 1];
        if (last && last[1] === t) last[0]++;
        else runs.push([1, t]);
      }
      body.u32(runs.length);
      for (const [count, t] of runs) {
        body.u32(count);
        body.byte(t);
      }
      this.labels = [];
      this.expr(body, f.body);
      body.byte(0x0b);
      code.u32(body.n);
      code.append(body);
    }
    for (const f of this.imports) this.typeOf(f.params, f.result);
    for (const f of this.functions) this.typeOf(f.params, f.result);

    const out = new Bytes();
    out.buf.set([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    out.n = 8;
    const types = new Bytes();
    types.u32(this.typeList.length);
    for (const [params, result] of this.typeList) {
      types.byte(0x60);
      types.u32(params.length);
      for (const p of params) types.byte(p);
      if (result === none) types.u32(0);
      else {
        types.u32(1);
        types.byte(result);
      }
    }
    out.section(1, types);
    const imports = new Bytes();
    imports.u32(this.imports.length + (this.memory ? 1 : 0) + (this.table ? 1 : 0));
    for (const f of this.imports) {
      imports.name(f.module);
      imports.name(f.base);
      imports.byte(0x00);
      imports.u32(this.typeOf(f.params, f.result));
    }
    if (this.table) {
      imports.name(this.table.module);
      imports.name(this.table.base);
      imports.byte(0x01);
      imports.byte(0x70); // funcref
      imports.byte(0x00);
      imports.u32(this.table.min);
    }
    if (this.memory) {
      imports.name(this.memory.module);
      imports.name(this.memory.base);
      imports.byte(0x02);
      imports.byte(0x01);
      imports.u32(this.memory.min);
      imports.u32(this.memory.max);
    }
    out.section(2, imports);
    const funcs = new Bytes();
    funcs.u32(this.functions.length);
    for (const f of this.functions) funcs.u32(this.typeOf(f.params, f.result));
    out.section(3, funcs);
    const globals = new Bytes();
    globals.u32(this.globals.length);
    for (const g of this.globals) {
      globals.byte(g.type);
      globals.byte(g.mutable ? 1 : 0);
      globals.byte(0x41);
      globals.s32(g.init);
      globals.byte(0x0b);
    }
    out.section(6, globals);
    const exports = new Bytes();
    exports.u32(this.exports.length);
    for (const [name, external] of this.exports) {
      exports.name(external);
      exports.byte(0x00);
      exports.u32(this.func(name));
    }
    out.section(7, exports);
    out.section(10, code);
    if (names) {
      const fnNames = new Bytes();
      const all = [...this.imports.map((f) => f.name), ...this.functions.map((f) => f.name)];
      fnNames.u32(all.length);
      all.forEach((n, k) => {
        fnNames.u32(k);
        fnNames.name(n);
      });
      const section = new Bytes();
      section.name("name");
      section.byte(1);
      section.u32(fnNames.n);
      section.append(fnNames);
      out.section(0, section);
    }
    return out.buf.slice(0, out.n);
  }

  private func(name: string): number {
    const k = this.funcIndex.get(name);
    if (k === undefined) throw new Error(`wasm: no function named ${name}`);
    return k;
  }

  private depth(label: string): number {
    for (let d = this.labels.length - 1; d >= 0; d--)
      if (this.labels[d] === label) return this.labels.length - 1 - d;
    throw new Error(`wasm: no enclosing label ${label}`);
  }

  private expr(w: Bytes, e: Expr): void {
    const kids = e.kids;
    switch (e.op) {
      case K_CONST32:
        w.byte(0x41);
        w.s32(e.a as number);
        return;
      case K_CONST64:
        w.byte(0x42);
        w.s64(e.a as bigint);
        return;
      case K_LOAD:
      case K_STORE:
        for (const k of kids!) this.expr(w, k);
        w.byte(e.b >> 8); // opcode, then the memarg: log2 alignment and offset
        w.u32(e.b & 0xff);
        w.u32(e.a as number);
        return;
      case K_BLOCK:
      case K_LOOP: {
        w.byte(e.op === K_BLOCK ? 0x02 : 0x03);
        w.byte(e.type === UNREACHABLE ? none : e.type);
        this.labels.push(e.a as string);
        for (const k of kids!) this.expr(w, k);
        this.labels.pop();
        w.byte(0x0b);
        return;
      }
      case K_IF: {
        this.expr(w, kids![0]);
        w.byte(0x04);
        w.byte(e.type);
        this.labels.push("");
        this.expr(w, kids![1]);
        if (kids!.length > 2) {
          w.byte(0x05);
          this.expr(w, kids![2]);
        }
        this.labels.pop();
        w.byte(0x0b);
        return;
      }
      case K_BR:
      case K_BR_IF:
        if (kids) this.expr(w, kids[0]);
        w.byte(e.op === K_BR ? 0x0c : 0x0d);
        w.u32(this.depth(e.a as string));
        return;
      case K_CALL:
      case K_RETURN_CALL:
        for (const k of kids!) this.expr(w, k);
        w.byte(e.op === K_CALL ? 0x10 : 0x12);
        w.u32(this.func(e.a as string));
        return;
      case K_CALL_INDIRECT:
      case K_RETURN_CALL_INDIRECT: {
        for (const k of kids!) this.expr(w, k);
        const [params, result] = (e.a as string).split(":");
        w.byte(e.op === K_CALL_INDIRECT ? 0x11 : 0x13);
        w.u32(this.typeOf(params ? params.split(",").map(Number) : [], Number(result)));
        w.byte(0x00);
        return;
      }
      case K_GLOBAL_GET:
      case K_GLOBAL_SET: {
        if (kids) this.expr(w, kids[0]);
        const g = this.globalIndex.get(e.a as string);
        if (g === undefined) throw new Error(`wasm: no global named ${String(e.a)}`);
        w.byte(e.op === K_GLOBAL_GET ? 0x23 : 0x24);
        w.u32(g);
        return;
      }
      case 0x20:
      case 0x21:
        if (kids) this.expr(w, kids[0]);
        w.byte(e.op);
        w.u32(e.a as number);
        return;
      default:
        if (kids) for (const k of kids) this.expr(w, k);
        w.byte(e.op);
    }
  }
}
