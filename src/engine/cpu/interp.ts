// Binds one handler to every opcode-table entry, by the entry's `sem` key. An entry whose semantics
// are missing is bound to #UD and listed in UNIMPLEMENTED (a test keeps that list empty).

import { OPCODES } from "./opcodes.ts";
import type { Cpu } from "./cpu.ts";
import type { Insn } from "./decoder.ts";
import { INT_SEMANTICS, type Factory, type Handler } from "./exec-int.ts";
import { SYS_SEMANTICS } from "./exec-sys.ts";
import { X87_SEMANTICS } from "./fpu.ts";

const SEMANTICS: Record<string, Factory> = { ...INT_SEMANTICS, ...SYS_SEMANTICS, ...X87_SEMANTICS };

export const UNIMPLEMENTED: string[] = [];

export const HANDLERS: Handler[] = OPCODES.map((d) => {
  const f = SEMANTICS[d.sem];
  if (!f) {
    UNIMPLEMENTED.push(`${d.mn} (${d.sem}) ${d.code.toString(16)}${d.ext !== undefined ? "/" + d.ext : ""}`);
    return (c: Cpu, _i: Insn) => c.raise(6);
  }
  return f(d);
});
