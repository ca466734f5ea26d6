// Run a short piece of 32-bit code at CPL 3 in a flat, paged protected-mode environment like a
// Linux user process: the emulator side of the instruction tests whose expected values were recorded
// from the host CPU (tests/instr).

import { Cpu, SA_DB, SA_G, SA_VALID } from "./cpu.ts";
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

let shared: { cpu: Cpu; mem: PhysicalMemory } | null = null;

/** A CPU in the snippet environment (reused between calls: building one costs a 4 MiB memory). */
function environment(): { cpu: Cpu; mem: PhysicalMemory } {
  if (shared) return shared;
  const mem = new PhysicalMemory(4 << 20);
  const cpu = new Cpu(mem, new IoBus());
  shared = { cpu, mem };
  return shared;
}

function setup(cpu: Cpu, mem: PhysicalMemory): void {
  mem.u8.fill(0);
  cpu.reset();
  const v = mem.view;
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
  cpu.setSegCache(SEG_CS, 0x1b, 0, -1, 0xfb | flat);
  for (const s of [0, 2, 3, 4, 5]) cpu.setSegCache(s, 0x23, 0, -1, 0xf3 | flat);
  cpu.setCpl(3);
}

/** FNINIT, executed before the snippet so the FPU starts as in a fresh Linux process. */
const PROLOGUE = new Uint8Array([0xdb, 0xe3]);

export function runSnippet(input: SnippetInput): SnippetResult {
  const { cpu, mem } = environment();
  setup(cpu, mem);
  if (input.mem.length > 4096) throw new Error("snippet scratch buffer is limited to 4096 bytes");
  mem.u8.set(PROLOGUE, SNIPPET_CODE - PROLOGUE.length);
  mem.u8.set(input.code, SNIPPET_CODE);
  mem.u8.set(input.mem, SNIPPET_MEM);
  REG_NAMES.forEach((r, k) => {
    if (r !== "esp") cpu.regs[k] = input.regs[r];
  });
  cpu.regs[4] = SNIPPET_STACK;
  if (input.memReg) cpu.regs[REG_NAMES.indexOf(input.memReg)] = SNIPPET_MEM;
  let fault: SnippetResult["fault"] = null;
  cpu.interruptHook = (vector, code, _soft, retEip) => {
    fault ??= { vector, errorCode: code < 0 ? 0 : code, eipOffset: retEip - SNIPPET_CODE };
    cpu.halted = true;
    return true;
  };
  cpu.eip = SNIPPET_CODE - PROLOGUE.length;
  cpu.step();
  if (fault || cpu.eip !== SNIPPET_CODE) throw new Error("snippet prologue (FNINIT) failed");
  cpu.flags.write(input.eflags | IF | 2, 0x3fffff);

  const end = SNIPPET_CODE + input.code.length;
  const max = input.maxSteps ?? 100_000;
  try {
    for (let n = 0; n < max && cpu.eip !== end && !fault; n++) cpu.step();
  } finally {
    cpu.interruptHook = null;
  }
  if (!fault && cpu.eip !== end)
    throw new Error(`snippet did not finish within ${max} steps (EIP=${cpu.eip.toString(16)})`);
  const regs = {} as Record<Reg32, number>;
  REG_NAMES.forEach((r, k) => (regs[r] = cpu.regs[k] >>> 0));
  return {
    regs,
    eflags: cpu.getEflags() >>> 0,
    mem: mem.u8.slice(SNIPPET_MEM, SNIPPET_MEM + input.mem.length),
    memBase: SNIPPET_MEM,
    codeBase: SNIPPET_CODE,
    espInitial: SNIPPET_STACK,
    fault,
  };
}
