// Run a short piece of 32-bit code at CPL 3 in a flat, paged protected-mode environment like a
// Linux user process: the emulator side of the instruction tests whose expected values were recorded
// from the host CPU (tests/instr).

import { Cpu, SA_DB, SA_G, SA_VALID, type CompiledCode } from "./cpu.ts";
import { SEG_CS } from "./decoder.ts";
import { IF } from "./flags.ts";
import { PhysicalMemory } from "../memory/memory.ts";
import { IoBus } from "../io.ts";
import { CR0_NE, CR0_PE, CR0_PG, CR0_WP, CR4_PSE } from "../mmu/mmu.ts";

export type Reg32 = "eax" | "ecx" | "edx" | "ebx" | "esp" | "ebp" | "esi" | "edi";
export const REG_NAMES: readonly Reg32[] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

export interface SnippetInput {
  code: Uint8Array;
  regs: Record<Exclude<Reg32, "esp">, number>;
  eflags: number;
  mem: Uint8Array;
  memReg: Reg32 | null;
  maxSteps?: number;
  /**
   * Environment: "user" (default) CPL 3 flat paged 32-bit like a Linux process; "kernel" the same
   * at CPL 0 (selectors 0x08 code, 0x10 data; GDT at 0x3000, 6 entries, TSS 0x28, IDT unset);
   * "real" real mode with paging off, code at 0x7000, scratch at 0x8000, stack below 0xA000
   * (CS = DS = ES = SS = 0).
   */
  env?: "user" | "kernel" | "real";
  /** Run with this compiled-code engine (the JIT) through the CPU's run loop instead of stepping. */
  jit?: CompiledCode;
}

export interface SnippetResult {
  regs: Record<Reg32, number>;
  eflags: number;
  mem: Uint8Array;
  memBase: number;
  codeBase: number;
  espInitial: number;
  fault: { vector: number; errorCode: number; eipOffset: number } | null;
}

const PD = 0x1000,
  PT = 0x2000,
  GDT = 0x3000,
  TSS = 0x3800;
export const SNIPPET_CODE = 0x100000;
export const SNIPPET_MEM = 0x200000;
export const SNIPPET_STACK = 0x380000;
const REAL_CODE = 0x7000,
  REAL_MEM = 0x8000,
  REAL_STACK = 0xa000;

let shared: { cpu: Cpu; mem: PhysicalMemory } | null = null;

/** A CPU in the snippet environment (reused between calls: building one costs a 4 MiB memory). */
function environment(): { cpu: Cpu; mem: PhysicalMemory } {
  if (shared) return shared;
  const mem = new PhysicalMemory(4 << 20);
  const cpu = new Cpu(mem, new IoBus());
  shared = { cpu, mem };
  return shared;
}

/** Put `cpu` into one of the snippet environments (memory is cleared). */
export function prepareEnvironment(cpu: Cpu, mem: PhysicalMemory, env: "user" | "kernel" | "real"): void {
  mem.fill(0, mem.ramSize);
  cpu.reset();
  const v = mem.view;
  if (env === "real") {
    for (let s = 0; s < 6; s++) cpu.loadRealSeg(s, 0);
    return;
  }
  // Identity-map 0–4 MiB with user/write pages, leaving page 0 unmapped (null pointers fault).
  v.setInt32(PD, PT | 7, true);
  for (let p = 1; p < 1024; p++) v.setInt32(PT + p * 4, (p << 12) | 7, true);
  // GDT: null, ring-0 code/data, ring-3 code/data, TSS (no I/O bitmap: IN/OUT at CPL 3 fault).
  const gdt = [
    [0, 0],
    [0x0000ffff, 0x00cf9a00],
    [0x0000ffff, 0x00cf9200],
    [0x0000ffff, 0x00cffa00],
    [0x0000ffff, 0x00cff200],
    [(TSS << 16) | 0x67, 0x00008900 | ((TSS >>> 16) & 0xff)],
  ];
  gdt.forEach(([lo, hi], k) => {
    v.setInt32(GDT + k * 8, lo, true);
    v.setInt32(GDT + k * 8 + 4, hi, true);
  });
  v.setUint16(TSS + 0x66, 0x68, true);
  cpu.gdtBase = GDT;
  cpu.gdtLimit = 6 * 8 - 1;
  cpu.trSel = 0x28;
  cpu.trBase = TSS;
  cpu.trLimit = 0x67;
  cpu.trAttr = 0x8b;
  cpu.setCr3(PD);
  cpu.setCr4(CR4_PSE);
  cpu.setCr0(CR0_PE | CR0_PG | CR0_WP | CR0_NE);
  const flat = SA_DB | SA_G | SA_VALID;
  const ring = env === "kernel" ? 0 : 3;
  cpu.setSegCache(SEG_CS, ring ? 0x1b : 0x08, 0, -1, (ring ? 0xfb : 0x9b) | flat);
  for (const s of [0, 2, 3, 4, 5]) cpu.setSegCache(s, ring ? 0x23 : 0x10, 0, -1, (ring ? 0xf3 : 0x93) | flat);
  cpu.setCpl(ring);
}

/** FNINIT, executed before the snippet so the FPU starts as in a fresh Linux process. */
const PROLOGUE = new Uint8Array([0xdb, 0xe3]);

export function runSnippet(input: SnippetInput): SnippetResult {
  const { cpu, mem } = environment();
  const env = input.env ?? "user";
  // Attached before memory is cleared, so the previous snippet's compiled blocks are invalidated.
  cpu.jit = input.jit ?? null;
  prepareEnvironment(cpu, mem, env);
  const real = env === "real";
  const codeBase = real ? REAL_CODE : SNIPPET_CODE;
  const memBase = real ? REAL_MEM : SNIPPET_MEM;
  const stack = real ? REAL_STACK : SNIPPET_STACK;
  if (input.mem.length > 8192) throw new Error("snippet scratch buffer is limited to 8192 bytes");
  mem.load(codeBase - PROLOGUE.length, PROLOGUE);
  mem.load(codeBase, input.code);
  mem.load(memBase, input.mem);
  REG_NAMES.forEach((r, k) => {
    if (r !== "esp") cpu.regs[k] = input.regs[r];
  });
  cpu.regs[4] = stack;
  if (input.memReg) cpu.regs[REG_NAMES.indexOf(input.memReg)] = memBase;

  let fault: SnippetResult["fault"] = null;
  cpu.interruptHook = (vector, code, _soft, retEip) => {
    fault ??= { vector, errorCode: code < 0 ? 0 : code, eipOffset: retEip - codeBase };
    cpu.halted = true;
    return true;
  };
  const end = codeBase + input.code.length;
  const max = input.maxSteps ?? 100_000;
  // With compiled code, INT3 after the snippet stops the run (it is never compiled: it ends blocks).
  if (input.jit) mem.load(end, new Uint8Array([0xcc]));
  try {
    cpu.eip = codeBase - PROLOGUE.length;
    cpu.step();
    if (fault || cpu.eip !== codeBase) throw new Error("snippet prologue (FNINIT) failed");
    cpu.flags.write(input.eflags | IF | 2, 0x3fffff);
    if (input.jit) {
      // Compiled code starts at a block whose page is in the TLB; a loop would have put it there.
      cpu.ld8(codeBase);
      cpu.run(max);
      const f = fault as SnippetResult["fault"];
      if (f && f.vector === 3 && f.eipOffset === input.code.length + 1) {
        fault = null;
        cpu.eip = end;
      }
    } else for (let n = 0; n < max && cpu.eip !== end && !fault; n++) cpu.step();
  } finally {
    cpu.interruptHook = null;
    cpu.jit = null;
  }
  if (!fault && cpu.eip !== end)
    throw new Error(`snippet did not finish within ${max} steps (EIP=${cpu.eip.toString(16)})`);
  const regs = {} as Record<Reg32, number>;
  REG_NAMES.forEach((r, k) => (regs[r] = cpu.regs[k] >>> 0));
  return {
    regs,
    eflags: cpu.getEflags() >>> 0,
    mem: mem.u8.slice(memBase, memBase + input.mem.length),
    memBase,
    codeBase,
    espInitial: stack,
    fault,
  };
}

/** The CPU of the snippet environment, for tests that inspect system state after runSnippet. */
export function snippetCpu(): Cpu {
  return environment().cpu;
}
