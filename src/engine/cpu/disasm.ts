// Intel-syntax disassembly of a decoded instruction, driven only by its opcode-table entry (`mn`,
// `ops` in the SDM operand notation of opcodes.ts) and the decoder's fields (DESIGN.md principle 2:
// no second table of instructions). The output follows `objdump -d -M intel`: lower-case mnemonics,
// "DWORD PTR [ebx+0x4]" memory operands, hexadecimal immediates, absolute branch targets.
//
// Spelling rules that are not per-instruction data but follow from the notation:
// - a far operand (Ap, Mp) carries "far", so the table's CALLF/JMPF print as call/jmp;
// - string instructions print their explicit X/Y operands, so a size suffix B in the mnemonic
//   (MOVSB, STOSB, ...) is dropped as objdump does;
// - CBW/CWD, PUSHA/POPA, PUSHF/POPF and IRET are named by their operand size (cwde/cdq, pushaw,
//   iretw...) because the SDM names the forms so;
// - F3/F2 print as rep (for "rep" string instructions) or repz/repnz ("repcc"), F0 as lock.

import type { Insn } from "./decoder.ts";

const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const SEG = ["es", "cs", "ss", "ds", "fs", "gs"];
const FIXED_REGS = new Set([...R32, ...R16, ...R8, ...SEG]);

/** Size names of memory operands by byte count. */
const PTR: Record<number, string> = {
  1: "BYTE PTR ",
  2: "WORD PTR ",
  4: "DWORD PTR ",
  6: "FWORD PTR ",
  8: "QWORD PTR ",
  10: "TBYTE PTR ",
};

/** Sizes of the x87 and other fixed-size memory operand kinds (opcodes.ts notation). */
const MEM_KIND_SIZE: Record<string, number> = {
  Mf32: 4,
  Mf64: 8,
  Mf80: 10,
  Mi16: 2,
  Mi32: 4,
  Mi64: 8,
  Mbcd: 10,
  Mq: 8,
  Mw: 2,
  Md: 4,
  Mb: 1,
  M2: 2,
};

function hex(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}

export interface DisasmOptions {
  /** Address (offset in CS) of the instruction; relative branch targets are shown from it. */
  eip?: number;
}

function regName(size: number, r: number): string {
  return size === 4 ? R32[r] : size === 2 ? R16[r] : R8[r];
}

/** The size in bytes an operand's suffix selects (b, w, d, v, ...), or 0 if none. */
function suffixSize(spec: string, i: Insn): number {
  const s = spec.slice(1);
  if (s === "b" || s === "bs") return 1;
  if (s === "w") return 2;
  if (s === "d") return 4;
  if (s === "v") return i.o32 ? 4 : 2;
  if (s === "p") return i.o32 ? 6 : 4;
  if (s === "a") return i.o32 ? 8 : 4;
  if (s === "q") return 8;
  return 0;
}

/** The address part of a ModRM memory operand: "[ebx+ecx*4+0x8]" or "ds:0x1234". */
function address(i: Insn): string {
  const regs = i.a32 ? R32 : R16;
  const parts: string[] = [];
  if (i.base >= 0) parts.push(regs[i.base]);
  if (i.index >= 0) parts.push(i.a32 ? `${regs[i.index]}*${1 << i.scale}` : regs[i.index]);
  const seg = i.seg >= 0 ? `${SEG[i.seg]}:` : "";
  if (!parts.length) return `${seg || "ds:"}${hex(i.a32 ? i.disp : i.disp & 0xffff)}`;
  let text = parts.join("+");
  const disp = i.a32 ? i.disp | 0 : (i.disp << 16) >> 16;
  if (disp > 0 || (disp === 0 && i.base < 0)) text += `+${hex(disp)}`;
  else if (disp < 0) text += `-${hex(-disp)}`;
  return `${seg}[${text}]`;
}

function memory(i: Insn, size: number): string {
  return (PTR[size] ?? "") + address(i);
}

/** A string operand: DS:eSI (X, segment overridable) or ES:eDI (Y). */
function stringOperand(spec: string, i: Insn): string {
  const size = suffixSize(spec, i);
  const reg = spec[0] === "X" ? (i.a32 ? "esi" : "si") : i.a32 ? "edi" : "di";
  const seg = spec[0] === "X" ? SEG[i.seg >= 0 ? i.seg : 3] : "es";
  return `${PTR[size]}${seg}:[${reg}]`;
}

function immediate(spec: string, i: Insn, k: number): string {
  const v = k === 0 ? i.imm : i.imm2;
  if (spec === "Ibs") return hex(i.o32 ? v : v & 0xffff);
  if (spec === "Ib") return hex(v & 0xff);
  if (spec === "Iw") return hex(v & 0xffff);
  return hex(i.o32 ? v : v & 0xffff);
}

function operand(spec: string, i: Insn, immIndex: number, eip: number): string {
  const c = spec[0];
  if (spec === "1") return "1";
  if (spec === "ST0") return "st";
  if (spec === "STi") return `st(${i.rm})`;
  if (spec === "eAX") return i.o32 ? "eax" : "ax";
  if (FIXED_REGS.has(spec.toLowerCase()) && spec === spec.toUpperCase()) return spec.toLowerCase();
  switch (c) {
    case "E":
    case "R":
    case "M": {
      if (i.mod === 3) return regName(suffixSize(spec, i) || (i.o32 ? 4 : 2), i.rm);
      const kind = MEM_KIND_SIZE[spec];
      if (kind) return memory(i, kind);
      if (c === "M" && spec.length === 1) return address(i); // LEA, INVLPG: an address, no size
      const size = suffixSize(spec, i);
      return size ? memory(i, size) : address(i);
    }
    case "G":
      return regName(suffixSize(spec, i), i.reg);
    case "Z":
      return regName(suffixSize(spec, i), i.opreg);
    case "S":
      return SEG[i.reg] ?? `seg${i.reg}`;
    case "C":
      return `cr${i.reg}`;
    case "D":
      return `db${i.reg}`;
    case "I":
      return immediate(spec, i, immIndex);
    case "J": {
      const next = eip + i.len;
      const target = next + (immIndex === 0 ? i.imm : i.imm2);
      return hex(i.o32 ? target : target & 0xffff);
    }
    case "O": {
      const seg = SEG[i.seg >= 0 ? i.seg : 3];
      return `${seg}:${hex(i.a32 ? i.imm : i.imm & 0xffff)}`;
    }
    case "A":
      return `${hex(i.imm2 & 0xffff)}:${hex(i.o32 ? i.imm : i.imm & 0xffff)}`;
    case "X":
    case "Y":
      return stringOperand(spec, i);
  }
  return spec.toLowerCase();
}

/** Mnemonics the SDM names by operand size: [16-bit form, 32-bit form]. */
function sizedMnemonic(mn: string, i: Insn): string {
  const m = mn.toLowerCase();
  switch (mn) {
    case "CBW":
      return i.o32 ? "cwde" : "cbw";
    case "CWD":
      return i.o32 ? "cdq" : "cwd";
    case "PUSHA":
    case "POPA":
    case "PUSHF":
    case "POPF":
    case "IRET":
      return i.o32 === i.def32 ? m : m + (i.o32 ? "d" : "w");
    case "JECXZ":
      return i.a32 ? "jecxz" : "jcxz";
  }
  return m;
}

/** Intel-syntax text of a decoded instruction, e.g. "mov eax,DWORD PTR [ebx+0x4]". */
export function disassemble(i: Insn, opts: DisasmOptions = {}): string {
  const d = i.def;
  const eip = opts.eip ?? 0;
  let mn = sizedMnemonic(d.mn, i);
  const ops = d.ops;
  if (ops.some((o) => o === "Ap" || o === "Mp") && /f$/.test(mn) && mn !== "retf") mn = mn.slice(0, -1);
  if (ops.some((o) => o[0] === "X" || o[0] === "Y") && /^[a-z]+sb$/.test(mn)) mn = mn.slice(0, -1);
  let prefix = "";
  if (i.lock) prefix += "lock ";
  if (i.rep && d.rep === "rep") prefix += "rep ";
  else if (i.rep && d.rep === "repcc") prefix += i.rep === 0xf3 ? "repz " : "repnz ";
  let immIndex = 0;
  const parts = ops.map((spec) => {
    // Immediates (I, J, A, O operands) fill imm then imm2 in operand order, as the decoder reads them.
    const usesImm = /^[IJAO][a-z]/.test(spec);
    const text = operand(spec, i, usesImm ? immIndex : 0, eip);
    if (usesImm) immIndex++;
    return text;
  });
  return parts.length ? `${prefix}${mn} ${parts.join(",")}` : prefix + mn;
}
