// Block formation: which guest instructions the JIT compiles, decided from the opcode table.
//
// A block starts at a hot EIP and runs through straight-line code and the fall-through side of
// conditional branches (a superblock with side exits), inside one 4 KiB page, until a jump, call,
// return, an instruction the JIT does not compile, or the length limit. What the JIT does not
// compile is an explicit list (`uncompiledReason`). Innocuous data instructions on it (string
// operations, MUL/DIV, BT, x87, ...) stay inside the block: the block calls the interpreter's
// handler for that one instruction in place (`inline`). The rest end the block and run in the
// interpreter — in BT mode that is where a sensitive or privileged instruction meets its callout.

import { decode, Insn } from "../engine/cpu/decoder.ts";
import type { OpcodeDef } from "../engine/cpu/opcodes.ts";

export const MAX_BLOCK_INSNS = 64;

/** Semantics the compiler emits (keys of the opcode table's `sem`). */
const COMPILED_SEMS = new Set([
  "mov",
  "alu",
  "test",
  "inc",
  "dec",
  "not",
  "neg",
  "push",
  "pop",
  "lea",
  "movzx",
  "movsx",
  "jcc",
  "jmp",
  "jmp_ind",
  "call",
  "call_ind",
  "ret",
  "nop",
  "xchg",
  "cbw",
  "cwd",
  "cmov",
  "setcc",
  "leave",
  "imul2",
  "imul3",
  "bswap",
  "clc",
  "stc",
  "cmc",
  "cld",
  "std",
  "shift",
]);

const CONTROL = new Set(["jcc", "jmp", "jmp_ind", "call", "call_ind", "ret"]);
const SHIFTS = new Set(["SHL", "SAL", "SHR", "SAR", "ROL", "ROR"]);

/**
 * Why an instruction is not compiled (null when it is). Everything listed here runs in the
 * interpreter; the reasons are what the JIT statistics report as fallbacks.
 */
export function uncompiledReason(i: Insn): string | null {
  const d = i.def;
  if (d.cls !== "innocuous") return d.cls; // privileged / sensitive: interpreter (BT callouts)
  if (!COMPILED_SEMS.has(d.sem)) return d.sem;
  if (!i.a32) return "16-bit addressing";
  if (!i.o32 && CONTROL.has(d.sem)) return "16-bit control transfer";
  if (d.sem === "pop" && d.ops[0][0] !== "Z") return "pop r/m";
  if (d.sem === "shift" && (!SHIFTS.has(d.mn) || !i.o32 || d.ops[0] === "Eb")) return "shift form";
  return null;
}

/**
 * Whether a block may run this uncompiled instruction through the interpreter's handler without
 * leaving: an innocuous instruction that does not transfer control (it reads and writes registers,
 * flags and memory like compiled code, and any fault it raises is precise).
 */
export function runsInline(i: Insn): boolean {
  return i.def.cls === "innocuous" && i.def.end === undefined;
}

export interface BlockInsn {
  insn: Insn;
  /** Run by the interpreter's handler from inside the block (see `runsInline`). */
  inline?: boolean;
  /** Index of the instruction in the JIT's inline table, when `inline`. */
  inlineId?: number;
  /** Linear address (= EIP: the JIT runs only with a flat code segment) of the instruction. */
  eip: number;
}

export interface FormedBlock {
  lin: number;
  phys: number;
  insns: BlockInsn[];
  /** EIP after the last instruction (where a fall-through exit continues). */
  endEip: number;
  /** Why the block ends: a control transfer, `page`, `limit`, `decode`, or the uncompiled entry. */
  stop: string;
  /** The first instruction not compiled (it ends the block), if that is why the block ends. */
  fallback: OpcodeDef | null;
}

/**
 * Decode a block at linear `lin` / physical `phys` from guest memory `u8`; with `inline`, innocuous
 * uncompiled instructions are kept in the block (see `runsInline`) instead of ending it.
 */
export function formBlock(u8: Uint8Array, lin: number, phys: number, inline = false): FormedBlock {
  const pageEnd = (phys & ~0xfff) + 0x1000;
  const insns: BlockInsn[] = [];
  let eip = lin,
    p = phys;
  let stop = "limit";
  let fallback: OpcodeDef | null = null;
  while (insns.length < MAX_BLOCK_INSNS) {
    const i = new Insn();
    if (p >= pageEnd || decode(u8, p, Math.min(p + 16, pageEnd), true, i) !== 0) {
      stop = p >= pageEnd ? "page" : "decode";
      break;
    }
    i.def32 = true;
    const why = uncompiledReason(i);
    const inl = why !== null && inline && runsInline(i);
    if (why !== null && !inl) {
      stop = why;
      fallback = i.def;
      break;
    }
    insns.push(inl ? { insn: i, eip, inline: true } : { insn: i, eip });
    eip = (eip + i.len) | 0;
    p += i.len;
    const end = i.def.end;
    if (end !== undefined && end !== "jcc") {
      stop = end;
      break;
    }
  }
  return { lin, phys, insns, endEip: eip, stop, fallback };
}
