// Random bytes must never raise a host exception: not in the decoder, not when executed.
import { describe, expect, it } from "vitest";
import { decode, Insn } from "../../src/engine/cpu/decoder.ts";
import { runSnippet } from "../../src/engine/cpu/snippet.ts";
import { UNIMPLEMENTED } from "../../src/engine/cpu/interp.ts";

/** xorshift32: a fixed seed keeps the fuzz reproducible. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe("decoder fuzz", () => {
  it("decodes 2,000,000 random byte windows in 16- and 32-bit modes without a host exception", () => {
    const next = rng(0x5eed);
    const buf = new Uint8Array(1 << 16);
    for (let k = 0; k < buf.length; k++) buf[k] = next() & 0xff;
    const insn = new Insn();
    const results = [0, 0, 0, 0];
    let badLength = 0;
    for (let n = 0; n < 2_000_000; n++) {
      const pos = next() & 0xffef;
      // Bias toward prefixes and 0F escapes, which reach the rarer paths.
      if ((n & 7) === 0) buf[pos] = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x0f, 0x26, 0x64][next() & 7];
      const r = decode(buf, pos, pos + 16, (n & 1) === 0, insn);
      results[r]++;
      if (r === 0 && (insn.len < 1 || insn.len > 15)) badLength++;
    }
    expect(badLength).toBe(0);
    expect(results[0]).toBeGreaterThan(500_000); // many random windows are valid x86
    expect(results[1]).toBeGreaterThan(0); // some are #UD
  });

  it("rejects instructions longer than 15 bytes with #GP", () => {
    const insn = new Insn();
    const bytes = new Uint8Array(20).fill(0x66);
    bytes[15] = 0x90;
    expect(decode(bytes, 0, 20, true, insn)).toBe(2);
  });
});

describe("execution fuzz", () => {
  it("executes 3,000 random code snippets at CPL 0 and 3; guest faults stay guest faults", () => {
    const next = rng(0xc0ffee);
    const vectors = new Set<number>();
    for (let n = 0; n < 3000; n++) {
      const code = new Uint8Array(24);
      for (let k = 0; k < code.length; k++) code[k] = next() & 0xff;
      const regs = {
        eax: next(),
        ecx: next() & 0xff,
        edx: next(),
        ebx: next(),
        ebp: next(),
        esi: next(),
        edi: next(),
      };
      let r;
      try {
        r = runSnippet({
          code,
          regs,
          eflags: next() & 0xcd5,
          mem: new Uint8Array(64),
          memReg: "ebx",
          maxSteps: 2000,
          env: n & 1 ? "kernel" : "user",
        });
      } catch (e) {
        // Random code may loop forever; that is the guest's business, not a host failure.
        if (/did not finish/.test((e as Error).message)) continue;
        throw e;
      }
      if (r.fault) vectors.add(r.fault.vector);
    }
    expect(vectors.has(6)).toBe(true); // #UD for undefined opcodes
    expect(vectors.has(13) || vectors.has(14)).toBe(true);
  });
});

describe("opcode table", () => {
  it("has semantics for every entry", () => {
    expect(UNIMPLEMENTED).toEqual([]);
  });
});
