// x87 FPU section of the opcode table (D8–DF, FWAIT-free forms) and FXSAVE/FXRSTOR (0F AE).
// Kept in its own file for size; opcodes.ts appends these entries to the one table.
//
// Semantics live in fpu.ts (X87_SEMANTICS), keyed by `sem`. Arithmetic and comparison handlers read
// the mnemonic and operands of their entry (FSUBR vs FSUB, the P / PP pop suffix, Mf32 vs Mi16, ...),
// so one sem name serves a whole family. Encodings follow the Intel SDM Vol. 2 opcode map (Table A-7
// to A-22). Undocumented aliases that the P6 core executes (FSTP1, FCOM2, FCOMP3, FXCH4, FCOMP5,
// FXCH7, FSTP8, FSTP9, FFREEP) are listed too; FISTTP (SSE3) and FRSTPM (287XL only) are not.

export interface X87Entry {
  code: number;
  mn: string;
  ops: readonly string[];
  sem: string;
  opts: { ext?: number; rm?: number; mod?: "mem" | "reg"; cls?: "innocuous" | "privileged" | "sensitive" };
}

const t: X87Entry[] = [];
function x(
  code: number,
  mn: string,
  ops: string[],
  sem: string,
  ext: number,
  mod: "mem" | "reg",
  rm?: number,
): void {
  const opts: X87Entry["opts"] = { ext, mod, cls: "innocuous" };
  if (rm !== undefined) opts.rm = rm;
  t.push({ code, mn, ops, sem, opts });
}

// --- D8 / DC / DA / DE: the arithmetic group -------------------------------------------------------
const ARITH = ["FADD", "FMUL", "FCOM", "FCOMP", "FSUB", "FSUBR", "FDIV", "FDIVR"];
const memForms: [number, string, string][] = [
  [0xd8, "Mf32", "F"],
  [0xdc, "Mf64", "F"],
  [0xda, "Mi32", "FI"],
  [0xde, "Mi16", "FI"],
];
for (const [code, m, pre] of memForms) {
  ARITH.forEach((mn, k) => {
    const com = k === 2 || k === 3;
    x(code, pre + mn.slice(1), [m], com ? "x87_com" : "x87_arith", k, "mem");
  });
}
// D8 register forms: ST(0) <- ST(0) op ST(i).
ARITH.forEach((mn, k) => {
  const com = k === 2 || k === 3;
  x(0xd8, mn, com ? ["STi"] : ["ST0", "STi"], com ? "x87_com" : "x87_arith", k, "reg");
});
// DC and DE register forms: ST(i) <- ST(i) op ST(0); note the SUB/SUBR and DIV/DIVR swap.
const REV = ["FADD", "FMUL", "", "", "FSUBR", "FSUB", "FDIVR", "FDIV"];
REV.forEach((mn, k) => {
  if (!mn) return;
  x(0xdc, mn, ["STi", "ST0"], "x87_arith", k, "reg");
  x(0xde, mn + "P", ["STi", "ST0"], "x87_arith", k, "reg");
});
x(0xdc, "FCOM2", ["STi"], "x87_com", 2, "reg");
x(0xdc, "FCOMP3", ["STi"], "x87_com", 3, "reg");
x(0xde, "FCOMP5", ["STi"], "x87_com", 2, "reg");
x(0xde, "FCOMPP", [], "x87_com", 3, "reg", 1);

// --- loads and stores -----------------------------------------------------------------------------
x(0xd9, "FLD", ["Mf32"], "x87_fld", 0, "mem");
x(0xd9, "FST", ["Mf32"], "x87_fst", 2, "mem");
x(0xd9, "FSTP", ["Mf32"], "x87_fst", 3, "mem");
x(0xdd, "FLD", ["Mf64"], "x87_fld", 0, "mem");
x(0xdd, "FST", ["Mf64"], "x87_fst", 2, "mem");
x(0xdd, "FSTP", ["Mf64"], "x87_fst", 3, "mem");
x(0xdb, "FLD", ["Mf80"], "x87_fld", 5, "mem");
x(0xdb, "FSTP", ["Mf80"], "x87_fst", 7, "mem");
x(0xd9, "FLD", ["STi"], "x87_fld", 0, "reg");
x(0xdd, "FST", ["STi"], "x87_fst", 2, "reg");
x(0xdd, "FSTP", ["STi"], "x87_fst", 3, "reg");
x(0xd9, "FSTP1", ["STi"], "x87_fst", 3, "reg");
x(0xdf, "FSTP8", ["STi"], "x87_fst", 2, "reg");
x(0xdf, "FSTP9", ["STi"], "x87_fst", 3, "reg");
x(0xdf, "FILD", ["Mi16"], "x87_fild", 0, "mem");
x(0xdb, "FILD", ["Mi32"], "x87_fild", 0, "mem");
x(0xdf, "FILD", ["Mi64"], "x87_fild", 5, "mem");
x(0xdf, "FIST", ["Mi16"], "x87_fist", 2, "mem");
x(0xdf, "FISTP", ["Mi16"], "x87_fist", 3, "mem");
x(0xdb, "FIST", ["Mi32"], "x87_fist", 2, "mem");
x(0xdb, "FISTP", ["Mi32"], "x87_fist", 3, "mem");
x(0xdf, "FISTP", ["Mi64"], "x87_fist", 7, "mem");
x(0xdf, "FBLD", ["Mbcd"], "x87_fbld", 4, "mem");
x(0xdf, "FBSTP", ["Mbcd"], "x87_fbstp", 6, "mem");

// --- register moves, conditional moves, stack management ---------------------------------------------
x(0xd9, "FXCH", ["STi"], "x87_fxch", 1, "reg");
x(0xdd, "FXCH4", ["STi"], "x87_fxch", 1, "reg");
x(0xdf, "FXCH7", ["STi"], "x87_fxch", 1, "reg");
x(0xdd, "FFREE", ["STi"], "x87_ffree", 0, "reg");
x(0xdf, "FFREEP", ["STi"], "x87_ffree", 0, "reg");
["FCMOVB", "FCMOVE", "FCMOVBE", "FCMOVU"].forEach((mn, k) =>
  x(0xda, mn, ["ST0", "STi"], "x87_fcmov", k, "reg"),
);
["FCMOVNB", "FCMOVNE", "FCMOVNBE", "FCMOVNU"].forEach((mn, k) =>
  x(0xdb, mn, ["ST0", "STi"], "x87_fcmov", k, "reg"),
);

// --- comparisons --------------------------------------------------------------------------------------
x(0xdd, "FUCOM", ["STi"], "x87_com", 4, "reg");
x(0xdd, "FUCOMP", ["STi"], "x87_com", 5, "reg");
x(0xda, "FUCOMPP", [], "x87_com", 5, "reg", 1);
x(0xdb, "FUCOMI", ["ST0", "STi"], "x87_comi", 5, "reg");
x(0xdb, "FCOMI", ["ST0", "STi"], "x87_comi", 6, "reg");
x(0xdf, "FUCOMIP", ["ST0", "STi"], "x87_comi", 5, "reg");
x(0xdf, "FCOMIP", ["ST0", "STi"], "x87_comi", 6, "reg");

// --- D9 register-only group (one instruction per ModRM byte) ----------------------------------------
x(0xd9, "FNOP", [], "x87_fnop", 2, "reg", 0);
const D9: [number, string, string][] = [
  [0xe0, "FCHS", "x87_fchs"],
  [0xe1, "FABS", "x87_fchs"],
  [0xe4, "FTST", "x87_ftst"],
  [0xe5, "FXAM", "x87_fxam"],
  [0xe8, "FLD1", "x87_fldc"],
  [0xe9, "FLDL2T", "x87_fldc"],
  [0xea, "FLDL2E", "x87_fldc"],
  [0xeb, "FLDPI", "x87_fldc"],
  [0xec, "FLDLG2", "x87_fldc"],
  [0xed, "FLDLN2", "x87_fldc"],
  [0xee, "FLDZ", "x87_fldc"],
  [0xf0, "F2XM1", "x87_ftrans"],
  [0xf1, "FYL2X", "x87_ftrans"],
  [0xf2, "FPTAN", "x87_ftrans"],
  [0xf3, "FPATAN", "x87_ftrans"],
  [0xf4, "FXTRACT", "x87_fxtract"],
  [0xf5, "FPREM1", "x87_fprem"],
  [0xf6, "FDECSTP", "x87_fstp_adj"],
  [0xf7, "FINCSTP", "x87_fstp_adj"],
  [0xf8, "FPREM", "x87_fprem"],
  [0xf9, "FYL2XP1", "x87_ftrans"],
  [0xfa, "FSQRT", "x87_fsqrt"],
  [0xfb, "FSINCOS", "x87_ftrans"],
  [0xfc, "FRNDINT", "x87_frndint"],
  [0xfd, "FSCALE", "x87_fscale"],
  [0xfe, "FSIN", "x87_ftrans"],
  [0xff, "FCOS", "x87_ftrans"],
];
for (const [m, mn, sem] of D9) x(0xd9, mn, [], sem, (m >> 3) & 7, "reg", m & 7);

// --- control instructions -------------------------------------------------------------------------
x(0xd9, "FLDENV", ["Menv"], "x87_fldenv", 4, "mem");
x(0xd9, "FLDCW", ["M2"], "x87_fldcw", 5, "mem");
x(0xd9, "FNSTENV", ["Menv"], "x87_fnstenv", 6, "mem");
x(0xd9, "FNSTCW", ["M2"], "x87_fnstcw", 7, "mem");
x(0xdd, "FRSTOR", ["Mfsave"], "x87_frstor", 4, "mem");
x(0xdd, "FNSAVE", ["Mfsave"], "x87_fnsave", 6, "mem");
x(0xdd, "FNSTSW", ["M2"], "x87_fnstsw", 7, "mem");
x(0xdf, "FNSTSW", ["AX"], "x87_fnstsw", 4, "reg", 0);
x(0xdb, "FNENI", [], "x87_fnop_legacy", 4, "reg", 0);
x(0xdb, "FNDISI", [], "x87_fnop_legacy", 4, "reg", 1);
x(0xdb, "FNCLEX", [], "x87_fnclex", 4, "reg", 2);
x(0xdb, "FNINIT", [], "x87_fninit", 4, "reg", 3);
x(0xdb, "FNSETPM", [], "x87_fnop_legacy", 4, "reg", 4);

// --- FXSAVE / FXRSTOR (0F AE /0, /1; memory forms only) ---------------------------------------------
x(0x0fae, "FXSAVE", ["Mfx"], "x87_fxsave", 0, "mem");
x(0x0fae, "FXRSTOR", ["Mfx"], "x87_fxrstor", 1, "mem");

export const X87_OPCODES: readonly X87Entry[] = t;
