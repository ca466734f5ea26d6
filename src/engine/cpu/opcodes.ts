// The one declarative x86 opcode table (DESIGN.md principle 2).
//
// Every instruction VirtLab knows is one entry here. The decoder builds its lookup maps from this
// table, the interpreter binds one handler per entry (by `sem`), the disassembler prints `mn` and
// `ops`, the future JIT reads `end`/flags, and the BT translator classifies by `cls`.
//
// Operand notation follows the Intel SDM opcode map (Vol. 2, Appendix A):
//   E = ModRM r/m (register or memory), G = ModRM reg, M = ModRM memory only, R = ModRM r/m register
//   only, S = segment register in ModRM reg, C/D = control/debug register in ModRM reg,
//   I = immediate (Ibs = byte sign-extended to the operand size), J = relative branch target,
//   O = absolute offset (moffs), A = far pointer immediate, Z = register in the opcode's low 3 bits,
//   X/Y = string source DS:eSI / destination ES:eDI.
//   Size suffix: b byte, w word, d dword, v word or dword by operand size, p far pointer,
//   s 6-byte descriptor-table pointer, q quadword, a BOUND pair.
//   x87 memory forms: Mf32/Mf64/Mf80 reals, Mi16/Mi32/Mi64 integers, Mbcd, Menv, Mfsave, Mfx;
//   ST0 / STi are the stack top and ST(ModRM.rm).
//   Fixed operands: AL, CL, DX, eAX, 1, and segment registers by name.

import { AF, CF, DF, IF, OF, PF, SF, ZF } from "./flags.ts";
import { X87_OPCODES } from "./opcodes-x87.ts";

/** Virtualization class (Popek & Goldberg; IA-32 sensitive list from Robin & Irvine 2000). */
export type OpClass = "innocuous" | "privileged" | "sensitive";

/** How an instruction ends a basic block, if it does. */
export type BlockEnd =
  | "jmp" // unconditional direct or indirect jump
  | "jcc" // conditional branch (two successors)
  | "call"
  | "ret"
  | "int" // software interrupt / trap
  | "iret"
  | "hlt"
  | "far" // far transfer: CS changes
  | "mode"; // changes state the translator depends on (CR0, CR3, CR4, segment D bit, IF...)

export interface OpcodeDef {
  /** Position in OPCODES; dense ids for coverage and per-opcode counters. */
  id: number;
  /** Opcode byte; two-byte opcodes are 0x0F00 | second byte. */
  code: number;
  /** Required ModRM.reg (group opcodes). */
  ext?: number;
  /** Required ModRM.rm when mod == 3 (e.g. x87 register forms, 0F 01 /7 reg). */
  rm?: number;
  /** Restrict to the memory (mod != 3) or register (mod == 3) form. */
  mod?: "mem" | "reg";
  /** A mandatory prefix that selects this entry (F3 90 = PAUSE). */
  mandatory?: number;
  mn: string;
  ops: readonly string[];
  /** Interpreter semantic handler key. */
  sem: string;
  /** Arithmetic flags read / written / left undefined (EFLAGS bit masks). */
  fr: number;
  fw: number;
  fu: number;
  cls: OpClass;
  end?: BlockEnd;
  /** Accepts a LOCK prefix (with a memory destination). */
  lock?: boolean;
  /** String instruction: "rep" honours REP, "repcc" honours REPE/REPNE. */
  rep?: "rep" | "repcc";
  /** Why the instruction is privileged or sensitive (for the BT view). */
  why?: string;
}

type Opts = Partial<Omit<OpcodeDef, "id" | "code" | "mn" | "ops" | "fr" | "fw" | "fu">> & {
  fr?: string;
  fw?: string;
  fu?: string;
};

const FLAG_LETTERS: Record<string, number> = { o: OF, s: SF, z: ZF, a: AF, p: PF, c: CF, d: DF, i: IF };
function fl(s: string | undefined): number {
  let m = 0;
  for (const ch of s ?? "") m |= FLAG_LETTERS[ch] ?? 0;
  return m;
}

const table: OpcodeDef[] = [];
function op(code: number, mn: string, ops: string[], o: Opts = {}): void {
  const { fr, fw, fu, ...rest } = o;
  table.push({
    id: table.length,
    code,
    mn,
    ops,
    sem: rest.sem ?? mn.toLowerCase(),
    fr: fl(fr),
    fw: fl(fw),
    fu: fl(fu),
    cls: rest.cls ?? "innocuous",
    ...rest,
  });
}
const SENS = "sensitive" as const;
const PRIV = "privileged" as const;
const ALL = "oszapc";
const CC = ["O", "NO", "B", "AE", "E", "NE", "BE", "A", "S", "NS", "P", "NP", "L", "GE", "LE", "G"];
const CC_READS = ["o", "o", "c", "c", "z", "z", "cz", "cz", "s", "s", "p", "p", "so", "so", "zso", "zso"];

// --- ALU: ADD OR ADC SBB AND SUB XOR CMP (00-3F pattern and group 1) -------------------------------
const ALU = ["ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"];
ALU.forEach((mn, k) => {
  const base = k * 8;
  const logic = mn === "OR" || mn === "AND" || mn === "XOR";
  const f: Opts = {
    sem: "alu",
    fw: ALL,
    fu: logic ? "a" : "",
    fr: mn === "ADC" || mn === "SBB" ? "c" : "",
    lock: mn !== "CMP",
  };
  op(base + 0, mn, ["Eb", "Gb"], f);
  op(base + 1, mn, ["Ev", "Gv"], f);
  op(base + 2, mn, ["Gb", "Eb"], { ...f, lock: false });
  op(base + 3, mn, ["Gv", "Ev"], { ...f, lock: false });
  op(base + 4, mn, ["AL", "Ib"], { ...f, lock: false });
  op(base + 5, mn, ["eAX", "Iv"], { ...f, lock: false });
  op(0x80, mn, ["Eb", "Ib"], { ...f, ext: k });
  op(0x81, mn, ["Ev", "Iv"], { ...f, ext: k });
  op(0x82, mn, ["Eb", "Ib"], { ...f, ext: k });
  op(0x83, mn, ["Ev", "Ibs"], { ...f, ext: k });
});

// --- segment register push/pop (sensitive: they reveal or load selectors) ---------------------------
const SEGNAMES = ["ES", "CS", "SS", "DS", "FS", "GS"];
const segPush: [number, string][] = [
  [0x06, "ES"],
  [0x0e, "CS"],
  [0x16, "SS"],
  [0x1e, "DS"],
  [0x0fa0, "FS"],
  [0x0fa8, "GS"],
];
for (const [c, s] of segPush) op(c, "PUSH", [s], { sem: "push_seg", cls: SENS, why: "reveals selector RPL" });
const segPop: [number, string][] = [
  [0x07, "ES"],
  [0x17, "SS"],
  [0x1f, "DS"],
  [0x0fa1, "FS"],
  [0x0fa9, "GS"],
];
for (const [c, s] of segPop)
  op(c, "POP", [s], { sem: "pop_seg", cls: SENS, why: "loads a descriptor; checks RPL/DPL" });

// --- BCD ------------------------------------------------------------------------------------------
op(0x27, "DAA", [], { fr: "ac", fw: ALL, fu: "o" });
op(0x2f, "DAS", [], { fr: "ac", fw: ALL, fu: "o" });
op(0x37, "AAA", [], { fr: "a", fw: "ac", fu: "oszp" });
op(0x3f, "AAS", [], { fr: "a", fw: "ac", fu: "oszp" });
op(0xd4, "AAM", ["Ib"], { fw: "szp", fu: "oac" });
op(0xd5, "AAD", ["Ib"], { fw: "szp", fu: "oac" });

// --- INC/DEC/PUSH/POP register -------------------------------------------------------------------------
for (let r = 0; r < 8; r++) {
  op(0x40 + r, "INC", ["Zv"], { fw: "oszap" });
  op(0x48 + r, "DEC", ["Zv"], { fw: "oszap" });
  op(0x50 + r, "PUSH", ["Zv"]);
  op(0x58 + r, "POP", ["Zv"]);
}
op(0x60, "PUSHA", []);
op(0x61, "POPA", []);
op(0x62, "BOUND", ["Gv", "Ma"]);
op(0x63, "ARPL", ["Ew", "Gw"], { fw: "z" });
op(0x68, "PUSH", ["Iv"], { sem: "push" });
op(0x69, "IMUL", ["Gv", "Ev", "Iv"], { sem: "imul3", fw: ALL, fu: "szap" });
op(0x6a, "PUSH", ["Ibs"], { sem: "push" });
op(0x6b, "IMUL", ["Gv", "Ev", "Ibs"], { sem: "imul3", fw: ALL, fu: "szap" });
const IO = { cls: PRIV, why: "I/O: traps when CPL > IOPL (or by the TSS I/O bitmap)" };
op(0x6c, "INSB", ["Yb", "DX"], { ...IO, sem: "ins", rep: "rep" });
op(0x6d, "INS", ["Yv", "DX"], { ...IO, sem: "ins", rep: "rep" });
op(0x6e, "OUTSB", ["DX", "Xb"], { ...IO, sem: "outs", rep: "rep" });
op(0x6f, "OUTS", ["DX", "Xv"], { ...IO, sem: "outs", rep: "rep" });
for (let c = 0; c < 16; c++) op(0x70 + c, "J" + CC[c], ["Jb"], { sem: "jcc", fr: CC_READS[c], end: "jcc" });

op(0x84, "TEST", ["Eb", "Gb"], { sem: "test", fw: ALL, fu: "a" });
op(0x85, "TEST", ["Ev", "Gv"], { sem: "test", fw: ALL, fu: "a" });
op(0x86, "XCHG", ["Eb", "Gb"], { lock: true });
op(0x87, "XCHG", ["Ev", "Gv"], { lock: true });
op(0x88, "MOV", ["Eb", "Gb"]);
op(0x89, "MOV", ["Ev", "Gv"]);
op(0x8a, "MOV", ["Gb", "Eb"]);
op(0x8b, "MOV", ["Gv", "Ev"]);
op(0x8c, "MOV", ["Ev", "Sw"], { sem: "mov_from_seg", cls: SENS, why: "reveals selector RPL" });
op(0x8d, "LEA", ["Gv", "M"]);
op(0x8e, "MOV", ["Sw", "Ew"], { sem: "mov_to_seg", cls: SENS, why: "loads a descriptor; checks RPL/DPL" });
op(0x8f, "POP", ["Ev"], { ext: 0 });
op(0x90, "NOP", []);
op(0x90, "PAUSE", [], { mandatory: 0xf3, sem: "nop" });
for (let r = 1; r < 8; r++) op(0x90 + r, "XCHG", ["Zv", "eAX"]);
op(0x98, "CBW", [], { sem: "cbw" }); // CWDE with 32-bit operand size
op(0x99, "CWD", [], { sem: "cwd" }); // CDQ with 32-bit operand size
op(0x9a, "CALLF", ["Ap"], { sem: "callf", cls: SENS, end: "far", why: "far transfer checks CPL/RPL" });
op(0x9b, "FWAIT", [], { sem: "fwait" });
op(0x9c, "PUSHF", [], { fr: ALL, cls: SENS, why: "reveals IF and IOPL" });
op(0x9d, "POPF", [], {
  fw: ALL,
  cls: SENS,
  end: "mode",
  why: "silently ignores IF/IOPL writes when deprivileged",
});
op(0x9e, "SAHF", [], { fw: "szapc" });
op(0x9f, "LAHF", [], { fr: "szapc" });
op(0xa0, "MOV", ["AL", "Ob"]);
op(0xa1, "MOV", ["eAX", "Ov"]);
op(0xa2, "MOV", ["Ob", "AL"]);
op(0xa3, "MOV", ["Ov", "eAX"]);
op(0xa4, "MOVSB", ["Yb", "Xb"], { sem: "movs", rep: "rep", fr: "d" });
op(0xa5, "MOVS", ["Yv", "Xv"], { sem: "movs", rep: "rep", fr: "d" });
op(0xa6, "CMPSB", ["Xb", "Yb"], { sem: "cmps", rep: "repcc", fr: "d", fw: ALL });
op(0xa7, "CMPS", ["Xv", "Yv"], { sem: "cmps", rep: "repcc", fr: "d", fw: ALL });
op(0xa8, "TEST", ["AL", "Ib"], { sem: "test", fw: ALL, fu: "a" });
op(0xa9, "TEST", ["eAX", "Iv"], { sem: "test", fw: ALL, fu: "a" });
op(0xaa, "STOSB", ["Yb", "AL"], { sem: "stos", rep: "rep", fr: "d" });
op(0xab, "STOS", ["Yv", "eAX"], { sem: "stos", rep: "rep", fr: "d" });
op(0xac, "LODSB", ["AL", "Xb"], { sem: "lods", rep: "rep", fr: "d" });
op(0xad, "LODS", ["eAX", "Xv"], { sem: "lods", rep: "rep", fr: "d" });
op(0xae, "SCASB", ["AL", "Yb"], { sem: "scas", rep: "repcc", fr: "d", fw: ALL });
op(0xaf, "SCAS", ["eAX", "Yv"], { sem: "scas", rep: "repcc", fr: "d", fw: ALL });
for (let r = 0; r < 8; r++) {
  op(0xb0 + r, "MOV", ["Zb", "Ib"]);
  op(0xb8 + r, "MOV", ["Zv", "Iv"]);
}

// --- shifts and rotates (group 2) ---------------------------------------------------------------------
const SHIFT = ["ROL", "ROR", "RCL", "RCR", "SHL", "SHR", "SAL", "SAR"];
SHIFT.forEach((mn, k) => {
  const rot = k < 4;
  const f: Opts = {
    ext: k,
    sem: "shift",
    fr: k === 2 || k === 3 ? "c" : "",
    fw: rot ? "oc" : ALL,
    fu: rot ? "o" : "oa",
  };
  op(0xc0, mn, ["Eb", "Ib"], f);
  op(0xc1, mn, ["Ev", "Ib"], f);
  op(0xd0, mn, ["Eb", "1"], f);
  op(0xd1, mn, ["Ev", "1"], f);
  op(0xd2, mn, ["Eb", "CL"], f);
  op(0xd3, mn, ["Ev", "CL"], f);
});

op(0xc2, "RET", ["Iw"], { end: "ret" });
op(0xc3, "RET", [], { end: "ret" });
const SEGLOAD = { cls: SENS, why: "loads a descriptor; checks RPL/DPL" };
op(0xc4, "LES", ["Gv", "Mp"], { ...SEGLOAD, sem: "lseg" });
op(0xc5, "LDS", ["Gv", "Mp"], { ...SEGLOAD, sem: "lseg" });
op(0x0fb2, "LSS", ["Gv", "Mp"], { ...SEGLOAD, sem: "lseg" });
op(0x0fb4, "LFS", ["Gv", "Mp"], { ...SEGLOAD, sem: "lseg" });
op(0x0fb5, "LGS", ["Gv", "Mp"], { ...SEGLOAD, sem: "lseg" });
op(0xc6, "MOV", ["Eb", "Ib"], { ext: 0 });
op(0xc7, "MOV", ["Ev", "Iv"], { ext: 0 });
op(0xc8, "ENTER", ["Iw", "Ib"]);
op(0xc9, "LEAVE", []);
const FAR = { cls: SENS, end: "far" as const, why: "far transfer checks CPL/RPL" };
op(0xca, "RETF", ["Iw"], { ...FAR, sem: "retf" });
op(0xcb, "RETF", [], { ...FAR, sem: "retf" });
const INTN = { cls: SENS, end: "int" as const, why: "gate DPL check against CPL" };
op(0xcc, "INT3", [], { ...INTN, sem: "int3" });
op(0xcd, "INT", ["Ib"], { ...INTN, sem: "int" });
op(0xce, "INTO", [], { ...INTN, sem: "into", fr: "o" });
op(0xcf, "IRET", [], { cls: SENS, end: "iret", fw: ALL, why: "restores IF/IOPL and may change CPL" });
op(0xd6, "SALC", [], { fr: "c" });
op(0xd7, "XLAT", []);
op(0xe0, "LOOPNE", ["Jb"], { sem: "loop", fr: "z", end: "jcc" });
op(0xe1, "LOOPE", ["Jb"], { sem: "loop", fr: "z", end: "jcc" });
op(0xe2, "LOOP", ["Jb"], { sem: "loop", end: "jcc" });
op(0xe3, "JECXZ", ["Jb"], { sem: "jcxz", end: "jcc" });
op(0xe4, "IN", ["AL", "Ib"], { ...IO, sem: "in" });
op(0xe5, "IN", ["eAX", "Ib"], { ...IO, sem: "in" });
op(0xe6, "OUT", ["Ib", "AL"], { ...IO, sem: "out" });
op(0xe7, "OUT", ["Ib", "eAX"], { ...IO, sem: "out" });
op(0xe8, "CALL", ["Jv"], { end: "call" });
op(0xe9, "JMP", ["Jv"], { end: "jmp" });
op(0xea, "JMPF", ["Ap"], { ...FAR, sem: "jmpf" });
op(0xeb, "JMP", ["Jb"], { end: "jmp" });
op(0xec, "IN", ["AL", "DX"], { ...IO, sem: "in" });
op(0xed, "IN", ["eAX", "DX"], { ...IO, sem: "in" });
op(0xee, "OUT", ["DX", "AL"], { ...IO, sem: "out" });
op(0xef, "OUT", ["DX", "eAX"], { ...IO, sem: "out" });
op(0xf1, "INT1", [], { ...INTN, sem: "int1" });
op(0xf4, "HLT", [], { cls: PRIV, end: "hlt", why: "CPL 0 only" });
op(0xf5, "CMC", [], { fr: "c", fw: "c" });

// --- group 3 -----------------------------------------------------------------------------------------
for (const [c, sz] of [
  [0xf6, "b"],
  [0xf7, "v"],
] as const) {
  const E = "E" + sz;
  op(c, "TEST", [E, "I" + sz], { ext: 0, sem: "test", fw: ALL, fu: "a" });
  op(c, "TEST", [E, "I" + sz], { ext: 1, sem: "test", fw: ALL, fu: "a" });
  op(c, "NOT", [E], { ext: 2, lock: true });
  op(c, "NEG", [E], { ext: 3, fw: ALL, lock: true });
  op(c, "MUL", [E], { ext: 4, sem: "mul", fw: ALL, fu: "szap" });
  op(c, "IMUL", [E], { ext: 5, sem: "imul1", fw: ALL, fu: "szap" });
  op(c, "DIV", [E], { ext: 6, sem: "div", fu: ALL });
  op(c, "IDIV", [E], { ext: 7, sem: "idiv", fu: ALL });
}
op(0xf8, "CLC", [], { fw: "c" });
op(0xf9, "STC", [], { fw: "c" });
op(0xfa, "CLI", [], { cls: PRIV, end: "mode", why: "IOPL-sensitive; writes IF" });
op(0xfb, "STI", [], { cls: PRIV, end: "mode", why: "IOPL-sensitive; writes IF, interrupt shadow" });
op(0xfc, "CLD", [], { fw: "d" });
op(0xfd, "STD", [], { fw: "d" });
op(0xfe, "INC", ["Eb"], { ext: 0, fw: "oszap", lock: true });
op(0xfe, "DEC", ["Eb"], { ext: 1, fw: "oszap", lock: true });
op(0xff, "INC", ["Ev"], { ext: 0, fw: "oszap", lock: true });
op(0xff, "DEC", ["Ev"], { ext: 1, fw: "oszap", lock: true });
op(0xff, "CALL", ["Ev"], { ext: 2, sem: "call_ind", end: "call" });
op(0xff, "CALLF", ["Mp"], { ext: 3, ...FAR, sem: "callf" });
op(0xff, "JMP", ["Ev"], { ext: 4, sem: "jmp_ind", end: "jmp" });
op(0xff, "JMPF", ["Mp"], { ext: 5, ...FAR, sem: "jmpf" });
op(0xff, "PUSH", ["Ev"], { ext: 6, sem: "push" });

// --- two-byte opcodes ------------------------------------------------------------------------------
const DT = { cls: SENS, why: "reveals the host's descriptor tables (Robin & Irvine)" };
op(0x0f00, "SLDT", ["Ew"], { ext: 0, ...DT });
op(0x0f00, "STR", ["Ew"], { ext: 1, ...DT });
op(0x0f00, "LLDT", ["Ew"], { ext: 2, cls: PRIV, why: "CPL 0 only" });
op(0x0f00, "LTR", ["Ew"], { ext: 3, cls: PRIV, why: "CPL 0 only" });
op(0x0f00, "VERR", ["Ew"], { ext: 4, sem: "verx", fw: "z", ...DT });
op(0x0f00, "VERW", ["Ew"], { ext: 5, sem: "verx", fw: "z", ...DT });
op(0x0f01, "SGDT", ["Ms"], { ext: 0, mod: "mem", sem: "sdt", ...DT });
op(0x0f01, "SIDT", ["Ms"], { ext: 1, mod: "mem", sem: "sdt", ...DT });
op(0x0f01, "LGDT", ["Ms"], { ext: 2, mod: "mem", sem: "ldt_reg", cls: PRIV, why: "CPL 0 only" });
op(0x0f01, "LIDT", ["Ms"], { ext: 3, mod: "mem", sem: "ldt_reg", cls: PRIV, why: "CPL 0 only" });
op(0x0f01, "SMSW", ["Ew"], { ext: 4, ...DT, why: "reveals CR0 (PE, TS) unprivileged" });
op(0x0f01, "LMSW", ["Ew"], { ext: 6, cls: PRIV, end: "mode", why: "CPL 0 only; writes CR0" });
op(0x0f01, "INVLPG", ["M"], { ext: 7, mod: "mem", cls: PRIV, end: "mode", why: "CPL 0 only; TLB" });
op(0x0f02, "LAR", ["Gv", "Ew"], { sem: "lar", fw: "z", ...DT });
op(0x0f03, "LSL", ["Gv", "Ew"], { sem: "lsl", fw: "z", ...DT });
op(0x0f06, "CLTS", [], { cls: PRIV, why: "CPL 0 only; writes CR0.TS" });
op(0x0f08, "INVD", [], { cls: PRIV, why: "CPL 0 only" });
op(0x0f09, "WBINVD", [], { cls: PRIV, sem: "invd", why: "CPL 0 only" });
op(0x0f0b, "UD2", [], { end: "int" });
op(0x0f1f, "NOP", ["Ev"], { sem: "nop" });
op(0x0f20, "MOV", ["Rd", "Cd"], { sem: "mov_from_cr", cls: PRIV, why: "CPL 0 only" });
op(0x0f21, "MOV", ["Rd", "Dd"], { sem: "mov_from_dr", cls: PRIV, why: "CPL 0 only" });
op(0x0f22, "MOV", ["Cd", "Rd"], { sem: "mov_to_cr", cls: PRIV, end: "mode", why: "CPL 0 only" });
op(0x0f23, "MOV", ["Dd", "Rd"], { sem: "mov_to_dr", cls: PRIV, why: "CPL 0 only" });
op(0x0f30, "WRMSR", [], { cls: PRIV, end: "mode", why: "CPL 0 only" });
op(0x0f31, "RDTSC", [], { cls: SENS, why: "reveals real time unless offset (CR4.TSD makes it privileged)" });
op(0x0f32, "RDMSR", [], { cls: PRIV, why: "CPL 0 only" });
op(0x0f33, "RDPMC", [], { cls: PRIV, why: "CPL 0 unless CR4.PCE" });
op(0x0f34, "SYSENTER", [], { cls: SENS, end: "far", why: "enters CPL 0 from MSR state" });
op(0x0f35, "SYSEXIT", [], { cls: PRIV, end: "far", why: "CPL 0 only" });
for (let c = 0; c < 16; c++) {
  op(0x0f40 + c, "CMOV" + CC[c], ["Gv", "Ev"], { sem: "cmov", fr: CC_READS[c] });
  op(0x0f80 + c, "J" + CC[c], ["Jv"], { sem: "jcc", fr: CC_READS[c], end: "jcc" });
  op(0x0f90 + c, "SET" + CC[c], ["Eb"], { sem: "setcc", fr: CC_READS[c] });
}
op(0x0fa2, "CPUID", [], { cls: SENS, why: "reveals the processor; always exits under VT-x" });
const BT = ["BT", "BTS", "BTR", "BTC"];
BT.forEach((mn, k) => {
  const f: Opts = { sem: "bt", fw: "c", fu: "osap", lock: k !== 0 };
  op([0x0fa3, 0x0fab, 0x0fb3, 0x0fbb][k], mn, ["Ev", "Gv"], f);
  op(0x0fba, mn, ["Ev", "Ib"], { ...f, ext: 4 + k });
});
op(0x0fa4, "SHLD", ["Ev", "Gv", "Ib"], { sem: "shld", fw: ALL, fu: "oa" });
op(0x0fa5, "SHLD", ["Ev", "Gv", "CL"], { sem: "shld", fw: ALL, fu: "oa" });
op(0x0fac, "SHRD", ["Ev", "Gv", "Ib"], { sem: "shrd", fw: ALL, fu: "oa" });
op(0x0fad, "SHRD", ["Ev", "Gv", "CL"], { sem: "shrd", fw: ALL, fu: "oa" });
op(0x0faf, "IMUL", ["Gv", "Ev"], { sem: "imul2", fw: ALL, fu: "szap" });
op(0x0fb0, "CMPXCHG", ["Eb", "Gb"], { fw: ALL, lock: true });
op(0x0fb1, "CMPXCHG", ["Ev", "Gv"], { fw: ALL, lock: true });
op(0x0fb6, "MOVZX", ["Gv", "Eb"]);
op(0x0fb7, "MOVZX", ["Gv", "Ew"]);
op(0x0fbc, "BSF", ["Gv", "Ev"], { sem: "bsf", fw: "z", fu: "osapc" });
op(0x0fbd, "BSR", ["Gv", "Ev"], { sem: "bsr", fw: "z", fu: "osapc" });
op(0x0fbe, "MOVSX", ["Gv", "Eb"]);
op(0x0fbf, "MOVSX", ["Gv", "Ew"]);
op(0x0fc0, "XADD", ["Eb", "Gb"], { fw: ALL, lock: true });
op(0x0fc1, "XADD", ["Ev", "Gv"], { fw: ALL, lock: true });
op(0x0fc7, "CMPXCHG8B", ["Mq"], { ext: 1, mod: "mem", fw: "z", lock: true });
for (let r = 0; r < 8; r++) op(0x0fc8 + r, "BSWAP", ["Zd"]);

// --- x87 and FXSAVE/FXRSTOR come from the FPU's own section of the table ----------------------------
for (const x of X87_OPCODES) op(x.code, x.mn, [...x.ops], { sem: x.sem, ...x.opts });

export const OPCODES: readonly OpcodeDef[] = table;
export const SEGMENT_NAMES = SEGNAMES;
export const CONDITION_NAMES = CC;

/** Bytes that are prefixes (never opcodes) in 32-bit code. */
export const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

/** Does this entry need a ModRM byte? (Derived from its operands, so it cannot disagree.) */
export function hasModrm(d: { ops: readonly string[]; ext?: number; code: number }): boolean {
  if (d.ext !== undefined) return true;
  if (d.code >= 0xd8 && d.code <= 0xdf) return true;
  return d.ops.some(
    (o) => /^[EGMR][a-z0-9]*$/.test(o) || o === "Sw" || o === "Cd" || o === "Dd" || o === "STi",
  );
}

/** Operand size of a spec: 1, 2, 4, or 0 for "by operand-size attribute". */
export function specSize(spec: string): number {
  if (spec === "AL" || spec === "CL") return 1;
  if (spec === "DX") return 2;
  if (spec === "eAX") return 0;
  const last = spec[spec.length - 1];
  if (last === "b" || spec === "Ibs") return spec === "Ibs" ? 0 : 1;
  if (last === "w") return 2;
  if (last === "d") return 4;
  return 0;
}

/** Size of the instruction's main operand, from its first operand spec. */
export function opSize(d: OpcodeDef): number {
  return d.ops.length ? specSize(d.ops[0]) : 0;
}
