// Shared helpers for the system-level tests: code bytes (assembled with nasm when the tests were
// written; the asm text is kept beside the bytes), descriptor builders, and runners around
// src/engine/cpu/snippet.ts. Expected values in the tests come from the Intel SDM, not from runs.

import {
  runSnippet,
  snippetCpu,
  type Reg32,
  type SnippetResult,
  SNIPPET_CODE,
  SNIPPET_MEM,
  SNIPPET_STACK,
} from "../../src/engine/cpu/snippet.ts";
import type { Cpu } from "../../src/engine/cpu/cpu.ts";
import { SEG_CS } from "../../src/engine/cpu/decoder.ts";

export { SNIPPET_CODE as CODE, SNIPPET_MEM as M, SNIPPET_STACK as STACK };
export const REAL_CODE = 0x7000,
  REAL_MEM = 0x8000,
  REAL_STACK = 0xa000;

export const DE = 0,
  UD = 6,
  NM = 7,
  TS = 10,
  NP = 11,
  SS = 12,
  GP = 13,
  PF = 14;

function bytes(hex: string): Uint8Array {
  const h = hex.replace(/\s+/g, "");
  const out = new Uint8Array(h.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = parseInt(h.slice(2 * k, 2 * k + 2), 16);
  return out;
}

/** 32-bit code assembled at ORG 0x100000 (the snippet code address in user/kernel env). */
export function c32(hex: string, _asm: string): Uint8Array {
  return bytes(hex);
}
/** 16-bit code assembled at ORG 0x7000 (the snippet code address in real env). */
export function c16(hex: string, _asm: string): Uint8Array {
  return bytes(hex);
}

export type Regs = Partial<Record<Exclude<Reg32, "esp">, number>>;

export interface RunOpts {
  code: Uint8Array;
  env?: "user" | "kernel" | "real";
  regs?: Regs;
  eflags?: number;
  mem?: Uint8Array;
  memReg?: Reg32 | null;
  maxSteps?: number;
}

const ZERO_REGS = { eax: 0, ecx: 0, edx: 0, ebx: 0, ebp: 0, esi: 0, edi: 0 };

export function run(o: RunOpts): SnippetResult {
  return runSnippet({
    code: o.code,
    env: o.env ?? "kernel",
    regs: { ...ZERO_REGS, ...o.regs },
    eflags: o.eflags ?? 0,
    mem: o.mem ?? new Uint8Array(256),
    memReg: o.memReg === undefined ? "ebx" : o.memReg,
    maxSteps: o.maxSteps,
  });
}

/** Run and also return the CPU for inspecting system state. */
export function runCpu(o: RunOpts): SnippetResult & { cpu: Cpu } {
  const r = run(o);
  return { ...r, cpu: snippetCpu() };
}

export interface FreeResult {
  cpu: Cpu;
  mem: Uint8Array;
  /** Vector/error code of the first intercepted event (only vectors listed in `intercept`). */
  fault: { vector: number; errorCode: number; eip: number } | null;
  steps: number;
}

/**
 * Like run(), but interrupts and exceptions are delivered through the guest's own IDT/IVT except
 * for the vectors in `intercept`. Stops when the linear EIP reaches the end of the code.
 */
export function runFree(o: RunOpts & { intercept?: number[] }): FreeResult {
  const env = o.env ?? "kernel";
  runSnippet({
    code: new Uint8Array(0),
    env,
    regs: { ...ZERO_REGS },
    eflags: 0,
    mem: new Uint8Array(0),
    memReg: null,
  });
  const cpu = snippetCpu();
  // Drop decoded instructions cached from earlier runs (the code bytes are replaced directly).
  (cpu as unknown as { flushDecodeCache?: () => void }).flushDecodeCache?.();
  const real = env === "real";
  const codeBase = real ? REAL_CODE : SNIPPET_CODE;
  const memBase = real ? REAL_MEM : SNIPPET_MEM;
  const mem = o.mem ?? new Uint8Array(256);
  cpu.mem.u8.set(o.code, codeBase);
  cpu.mem.u8.set(mem, memBase);
  const regs = { ...ZERO_REGS, ...o.regs };
  const names: Reg32[] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
  names.forEach((r, k) => {
    if (r !== "esp") cpu.regs[k] = regs[r];
  });
  const memReg = o.memReg === undefined ? "ebx" : o.memReg;
  if (memReg) cpu.regs[names.indexOf(memReg)] = memBase;
  cpu.flags.write((o.eflags ?? 0) | 2, 0x3fffff);
  let fault: FreeResult["fault"] = null;
  const intercept = new Set(o.intercept ?? []);
  cpu.interruptHook = (vector, code) => {
    if (!intercept.has(vector)) return false;
    fault ??= { vector, errorCode: code, eip: cpu.eip };
    cpu.halted = true;
    return true;
  };
  const end = codeBase + o.code.length;
  const max = o.maxSteps ?? 10_000;
  let n = 0;
  try {
    for (; n < max && ((cpu.segBase[SEG_CS] + cpu.eip) | 0) !== end && !fault && !cpu.shutdown; n++)
      cpu.step();
  } finally {
    cpu.interruptHook = null;
  }
  return { cpu, mem: cpu.mem.u8.slice(memBase, memBase + mem.length), fault, steps: n };
}

// --- descriptors -------------------------------------------------------------------------------------

/** A segment descriptor: `access` is byte 5 (P DPL S type), `flags` the high nibble of byte 6 (G D/B L AVL). */
export function seg(base: number, limit: number, access: number, flags: number): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi =
    (base & 0xff000000) |
    ((flags & 0xf) << 20) |
    (limit & 0xf0000) |
    ((access & 0xff) << 8) |
    ((base >>> 16) & 0xff);
  return [lo | 0, hi | 0];
}

/** A gate descriptor (call/interrupt/trap/task): `access` is byte 5, `params` the dword count. */
export function gate(sel: number, off: number, access: number, params = 0): [number, number] {
  return [
    ((sel & 0xffff) << 16) | (off & 0xffff),
    (off & 0xffff0000) | ((access & 0xff) << 8) | (params & 0x1f),
  ];
}

export const FLAT_CODE0 = seg(0, 0xfffff, 0x9a, 0xc);
export const FLAT_DATA0 = seg(0, 0xfffff, 0x92, 0xc);
export const FLAT_CODE3 = seg(0, 0xfffff, 0xfa, 0xc);
export const FLAT_DATA3 = seg(0, 0xfffff, 0xf2, 0xc);

/** A little-endian scratch buffer builder. */
export class Buf {
  readonly u8: Uint8Array;
  private readonly v: DataView;
  constructor(size = 256) {
    this.u8 = new Uint8Array(size);
    this.v = new DataView(this.u8.buffer);
  }
  d32(off: number, x: number): this {
    this.v.setInt32(off, x, true);
    return this;
  }
  w16(off: number, x: number): this {
    this.v.setUint16(off, x, true);
    return this;
  }
  b8(off: number, x: number): this {
    this.u8[off] = x;
    return this;
  }
  desc(off: number, d: [number, number]): this {
    return this.d32(off, d[0]).d32(off + 4, d[1]);
  }
  /** A pseudo-descriptor (limit, base) for LGDT/LIDT. */
  pdesc(off: number, limit: number, base: number): this {
    return this.w16(off, limit).d32(off + 2, base);
  }
  /** The snippet's flat GDT (null, 0x08, 0x10, 0x18, 0x20) at `off`. */
  flatGdt(off: number): this {
    return this.desc(off + 8, FLAT_CODE0)
      .desc(off + 16, FLAT_DATA0)
      .desc(off + 24, FLAT_CODE3)
      .desc(off + 32, FLAT_DATA3);
  }
  r32(off: number): number {
    return this.v.getUint32(off, true);
  }
}

export function rd32(m: Uint8Array, off: number): number {
  return (m[off] | (m[off + 1] << 8) | (m[off + 2] << 16) | (m[off + 3] << 24)) >>> 0;
}
export function rd16(m: Uint8Array, off: number): number {
  return m[off] | (m[off + 1] << 8);
}

/** EFLAGS bits. */
export const CF = 1,
  ZF = 0x40,
  IF = 0x200,
  DF = 0x400,
  IOPL3 = 0x3000,
  NT = 0x4000;
