// The JIT's wasm encoder (src/jit/wasm.ts): modules it writes are valid for V8 and for binaryen,
// and compute what the WebAssembly spec says their instructions compute. Expected values come from
// the spec's definitions (wrapping 32-bit arithmetic, signed/unsigned comparisons, little-endian
// memory), written out here, never from the encoder's own output.
import { describe, expect, it } from "vitest";
import { Module, i32, none, type Expr } from "../../src/jit/wasm.ts";
import { compileBatch } from "../../src/jit/compiler.ts";
import { runtimeBinary } from "../../src/jit/runtime.ts";
import { disassemble, validate } from "../../src/jit/binaryen.ts";
import { formBlock } from "../../src/jit/blocks.ts";

function instantiate(
  m: Module,
  imports: Record<string, unknown> = {},
): Record<string, (...a: number[]) => number> {
  const bin = m.emitBinary();
  expect(WebAssembly.validate(bin as Uint8Array<ArrayBuffer>)).toBe(true);
  const mod = new WebAssembly.Module(bin as Uint8Array<ArrayBuffer>);
  return new WebAssembly.Instance(mod, { env: imports } as WebAssembly.Imports).exports as Record<
    string,
    (...a: number[]) => number
  >;
}

/** A module exporting f(a, b) = body(a, b) for i32 parameters. */
function binary(body: (m: Module, a: Expr, b: Expr) => Expr, vars: number[] = []) {
  const m = new Module();
  m.addFunction("f", [i32, i32], i32, vars, body(m, m.local.get(0, i32), m.local.get(1, i32)));
  m.addFunctionExport("f", "f");
  return instantiate(m).f;
}

describe("wasm encoder", () => {
  it("encodes i32 arithmetic, shifts and comparisons with the spec's semantics", () => {
    const values = [0, 1, -1, 2, 31, 32, 0x7fffffff, -0x80000000, 0x12345678, -123456789];
    const cases: [string, (m: Module, a: Expr, b: Expr) => Expr, (a: number, b: number) => number][] = [
      ["add", (m, a, b) => m.i32.add(a, b), (a, b) => (a + b) | 0],
      ["sub", (m, a, b) => m.i32.sub(a, b), (a, b) => (a - b) | 0],
      ["mul", (m, a, b) => m.i32.mul(a, b), (a, b) => Math.imul(a, b)],
      ["and", (m, a, b) => m.i32.and(a, b), (a, b) => a & b],
      ["or", (m, a, b) => m.i32.or(a, b), (a, b) => a | b],
      ["xor", (m, a, b) => m.i32.xor(a, b), (a, b) => a ^ b],
      ["shl", (m, a, b) => m.i32.shl(a, b), (a, b) => a << (b & 31)],
      ["shr_s", (m, a, b) => m.i32.shr_s(a, b), (a, b) => a >> (b & 31)],
      ["shr_u", (m, a, b) => m.i32.shr_u(a, b), (a, b) => (a >>> (b & 31)) | 0],
      ["rotl", (m, a, b) => m.i32.rotl(a, b), (a, b) => (a << (b & 31)) | (a >>> (32 - (b & 31))) | 0],
      ["rotr", (m, a, b) => m.i32.rotr(a, b), (a, b) => (a >>> (b & 31)) | (a << (32 - (b & 31))) | 0],
      ["eq", (m, a, b) => m.i32.eq(a, b), (a, b) => +(a === b)],
      ["ne", (m, a, b) => m.i32.ne(a, b), (a, b) => +(a !== b)],
      ["lt_s", (m, a, b) => m.i32.lt_s(a, b), (a, b) => +(a < b)],
      ["lt_u", (m, a, b) => m.i32.lt_u(a, b), (a, b) => +(a >>> 0 < b >>> 0)],
      ["le_s", (m, a, b) => m.i32.le_s(a, b), (a, b) => +(a <= b)],
      ["le_u", (m, a, b) => m.i32.le_u(a, b), (a, b) => +(a >>> 0 <= b >>> 0)],
      ["gt_s", (m, a, b) => m.i32.gt_s(a, b), (a, b) => +(a > b)],
      ["gt_u", (m, a, b) => m.i32.gt_u(a, b), (a, b) => +(a >>> 0 > b >>> 0)],
      ["ge_s", (m, a, b) => m.i32.ge_s(a, b), (a, b) => +(a >= b)],
      ["ge_u", (m, a, b) => m.i32.ge_u(a, b), (a, b) => +(a >>> 0 >= b >>> 0)],
      ["eqz", (m, a) => m.i32.eqz(a), (a) => +(a === 0)],
      ["extend8_s", (m, a) => m.i32.extend8_s(a), (a) => (a << 24) >> 24],
      ["extend16_s", (m, a) => m.i32.extend16_s(a), (a) => (a << 16) >> 16],
      ["select", (m, a, b) => m.select(m.i32.lt_s(a, b), a, b), (a, b) => Math.min(a, b)],
      [
        "i64 multiply high half",
        (m, a, b) => m.i32.wrap(m.i64.mul(m.i64.extend_s(a), m.i64.extend_s(b))),
        (a, b) => Number(BigInt.asIntN(32, BigInt(a) * BigInt(b))),
      ],
      [
        "i64 ne",
        (m, a, b) =>
          m.i64.ne(m.i64.mul(m.i64.extend_s(a), m.i64.extend_s(b)), m.i64.extend_s(m.i32.mul(a, b))),
        (a, b) => +(BigInt(a) * BigInt(b) !== BigInt(Math.imul(a, b))),
      ],
    ];
    for (const [name, body, want] of cases) {
      const f = binary(body);
      for (const a of values) for (const b of values) expect(f(a, b), `${name}(${a}, ${b})`).toBe(want(a, b));
    }
  });

  it("encodes constants across the LEB128 boundaries", () => {
    for (const v of [
      0,
      63,
      64,
      -64,
      -65,
      8191,
      8192,
      -8192,
      -8193,
      0x7fffffff,
      -0x80000000,
      1 << 20,
      -(1 << 27),
    ]) {
      const m = new Module();
      m.addFunction("f", [], i32, [], m.i32.const(v));
      m.addFunctionExport("f", "f");
      expect(instantiate(m).f()).toBe(v);
    }
    for (const v of [0n, -1n, 1n << 40n, -(1n << 63n), (1n << 63n) - 1n]) {
      const m = new Module();
      m.addFunction("f", [], i32, [], m.i32.wrap(m.i64.const(v)));
      m.addFunctionExport("f", "f");
      expect(instantiate(m).f()).toBe(Number(BigInt.asIntN(32, v)));
    }
  });

  it("loads and stores little-endian, at every width, aligned or not", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const m = new Module();
    m.importMemory("env", "memory", 1, 65536);
    const p = m.local.get(0, i32);
    m.addFunction(
      "f",
      [i32],
      i32,
      [],
      m.block(
        null,
        [
          m.i32.store(16, 4, p, m.i32.const(0x11223344)),
          m.i32.store16(22, 2, p, m.i32.const(0xa5b6)),
          m.i32.store8(25, 1, p, m.i32.const(0x1ff)),
          m.i32.add(
            m.i32.add(m.i32.load(16, 4, p), m.i32.load8_u(17, 1, p)),
            m.i32.add(m.i32.load16_s(22, 2, p), m.i32.add(m.i32.load16_u(22, 1, p), m.i32.load8_s(25, 1, p))),
          ),
        ],
        i32,
      ),
    );
    m.addFunctionExport("f", "f");
    const f = instantiate(m, { memory }).f;
    expect(f(100)).toBe((0x11223344 + 0x33 + (0xa5b6 - 0x10000) + 0xa5b6 - 1) | 0);
    const u8 = new Uint8Array(memory.buffer);
    expect([...u8.subarray(116, 120)]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect([...u8.subarray(122, 126)]).toEqual([0xb6, 0xa5, 0, 0xff]);
  });

  it("resolves labels through blocks, loops and ifs, and types ifs from their arms", () => {
    // sum of 1..n with a loop and br_if, an early return for n < 0, and a typed if/else
    const m = new Module();
    const n = () => m.local.get(0, i32),
      acc = () => m.local.get(1, i32);
    m.addFunction(
      "sum",
      [i32],
      i32,
      [i32],
      m.block(
        null,
        [
          m.if(m.i32.lt_s(n(), m.i32.const(0)), m.return(m.i32.const(-1))),
          m.block("out", [
            m.loop(
              "again",
              m.block(null, [
                m.br("out", m.i32.eqz(n())),
                m.local.set(1, m.i32.add(acc(), n())),
                m.local.set(0, m.i32.sub(n(), m.i32.const(1))),
                m.br("again"),
              ]),
            ),
          ]),
          m.if(m.i32.gt_u(acc(), m.i32.const(1000)), m.i32.const(1000), acc()),
        ],
        i32,
      ),
    );
    m.addFunctionExport("sum", "sum");
    const sum = instantiate(m).sum;
    expect([sum(-5), sum(0), sum(10), sum(100)]).toEqual([-1, 0, 55, 1000]);
  });

  it("calls imports, internal functions and through a table, and keeps globals", async () => {
    const table = new WebAssembly.Table({ initial: 4, element: "anyfunc" });
    const seen: number[] = [];
    const m = new Module();
    m.importTable("env", "table", 1);
    m.addFunctionImport("note", "env", "note", [i32], none);
    m.addGlobal("count", i32, true, 7);
    m.addFunction(
      "twice",
      [i32],
      i32,
      [],
      m.block(
        null,
        [
          m.global.set("count", m.i32.add(m.global.get("count", i32), m.i32.const(1))),
          m.i32.shl(m.local.get(0, i32), m.i32.const(1)),
        ],
        i32,
      ),
    );
    m.addFunction(
      "f",
      [i32, i32],
      i32,
      [],
      m.block(
        null,
        [
          m.call("note", [m.call("twice", [m.local.get(0, i32)], i32)], none),
          m.callIndirect(m.local.get(1, i32), [m.i32.const(21)], [i32], i32),
        ],
        i32,
      ),
    );
    m.addFunction("count", [], i32, [], m.global.get("count", i32));
    for (const n of ["twice", "f", "count"]) m.addFunctionExport(n, n);
    const bin = m.emitBinary();
    expect(await validate(bin)).toBeNull();
    const ex = new WebAssembly.Instance(new WebAssembly.Module(bin as Uint8Array<ArrayBuffer>), {
      env: { table, note: (v: number) => seen.push(v) },
    }).exports as Record<string, (...a: number[]) => number>;
    table.set(2, ex.twice as unknown as WebAssembly.ExportValue as never);
    expect(ex.f(5, 2)).toBe(42);
    expect(seen).toEqual([10]);
    expect(ex.count()).toBe(9);
    expect(() => ex.f(5, 3)).toThrow(WebAssembly.RuntimeError); // empty table slot
  });

  it("reports an unknown label, function or global instead of writing a broken module", () => {
    const bad = (body: (m: Module) => Expr) => {
      const m = new Module();
      m.addFunction("f", [], none, [], body(m));
      return () => m.emitBinary();
    };
    expect(bad((m) => m.br("nowhere"))).toThrow(/label nowhere/);
    expect(bad((m) => m.call("nobody", [], none))).toThrow(/function named nobody/);
    expect(bad((m) => m.global.set("g", m.i32.const(0)))).toThrow(/global named g/);
  });

  it("writes a runtime and compiled blocks that binaryen validates and disassembles", async () => {
    const layout = { state: 0x10000, tlb: 0x20000, hash: 0x30000, hashMask: 0xff };
    expect(await validate(runtimeBinary(layout))).toBeNull();
    // A block with memory operands, flags and a conditional side exit into its own page (chained):
    // mov ecx,4; L: add eax,[esi]; adc edx,[esi+4]; mov [esi+8],eax; add esi,4; dec ecx; jnz L; ret
    const code = new Uint8Array([
      0xb9, 0x04, 0x00, 0x00, 0x00, 0x03, 0x06, 0x13, 0x56, 0x04, 0x89, 0x46, 0x08, 0x83, 0xc6, 0x04, 0x49,
      0x75, 0xf2, 0xc3,
    ]);
    const u8 = new Uint8Array(0x2000);
    u8.set(code, 0x1000);
    const block = formBlock(u8, 0x401000, 0x1000, true);
    expect(block.insns.length).toBe(8);
    const loop = formBlock(u8, 0x401005, 0x1005, true); // starts at L: jnz L loops inside wasm
    const { binary } = compileBatch(layout, [block, loop], {
      instrument: false,
      counters: [0x10100, 0x10104],
      chain: true,
      names: true,
    });
    expect(await validate(binary)).toBeNull();
    const text = await disassemble(binary);
    expect(text).toContain("(func $b0");
    expect(text).toContain("(loop");
    // Flat-segment accesses inline the TLB fast path and call the slow path only on a miss.
    expect(text).toMatch(/\(call \$ld\b/);
    // Blocks leave through the runtime's `next`, which tail-calls the next block through the table.
    expect(text).toMatch(/return_call \$next\b/);
    expect(await disassemble(runtimeBinary(layout))).toContain("return_call_indirect");
  });
});
