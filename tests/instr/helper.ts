// Loads tests/instr/cases.json (recorded natively by tests/instr/gen/generate.ts) and compares an
// emulator run of each case against the recorded machine state.
import { readFileSync } from "node:fs";
import type { Reg32, SnippetInput, SnippetResult } from "../../src/engine/cpu/snippet.ts";

export type CaseReg = Exclude<Reg32, "esp">;
export const CASE_REGS: readonly CaseReg[] = ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi"];

export interface CaseFault {
  vector: number;
  errorCode: number;
  eipOffset: number;
}

export interface InstrCase {
  name: string;
  mnemonic: string;
  asm: string;
  /** code bytes (hex); at each offset in `relocs` the buffer address must be added to the dword */
  code: string;
  init: Record<CaseReg, number> & { eflags: number };
  memReg: CaseReg | null;
  /** scratch buffer size in bytes (default 256) */
  memSize?: number;
  /** initial buffer contents (hex); bytes beyond the string are zero; absent = all zero */
  mem?: string;
  relocs?: number[];
  /** registers besides memReg whose expected value is relative to the buffer address */
  relRegs?: CaseReg[];
  expect: Record<CaseReg, number> & {
    espDelta: number;
    eflags: number;
    /** final buffer (hex, trailing zeros trimmed); absent = unchanged */
    mem?: string;
    fault: CaseFault | null;
  };
  flagsMask: number;
  skipRegs?: CaseReg[];
  /** [start, end) byte ranges of the buffer that are not compared */
  memIgnore?: [number, number][];
}

export interface CaseFile {
  generatedBy: string;
  cpu: string;
  cases: InstrCase[];
}

let cached: CaseFile | null = null;
export function loadCaseFile(): CaseFile {
  cached ??= JSON.parse(readFileSync(new URL("./cases.json", import.meta.url), "utf8")) as CaseFile;
  return cached;
}
export function loadCases(): InstrCase[] {
  return loadCaseFile().cases;
}

/** Mnemonic groups covered by the recorded cases (for the opcode-table coverage report). */
export function coveredMnemonics(): string[] {
  return [...new Set(loadCases().map((c) => c.mnemonic))].sort();
}

/** mnemonic -> cases, in file order */
export function groupByMnemonic(cases: InstrCase[]): Map<string, InstrCase[]> {
  const m = new Map<string, InstrCase[]>();
  for (const c of cases) {
    const list = m.get(c.mnemonic) ?? [];
    list.push(c);
    m.set(c.mnemonic, list);
  }
  return m;
}

export function fromHex(hex: string | undefined, size: number): Uint8Array {
  const out = new Uint8Array(size);
  if (!hex) return out;
  if (hex.length / 2 > size) throw new Error(`hex string longer than ${size} bytes`);
  for (let i = 0; i < hex.length / 2; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const h32 = (v: number): string => "0x" + (v >>> 0).toString(16).padStart(8, "0");
const FLAG_NAMES: [number, string][] = [
  [0x1, "CF"],
  [0x4, "PF"],
  [0x10, "AF"],
  [0x40, "ZF"],
  [0x80, "SF"],
  [0x400, "DF"],
  [0x800, "OF"],
];
function flagStr(v: number, mask: number): string {
  return FLAG_NAMES.filter(([b]) => mask & b)
    .map(([b, n]) => (v & b ? n : n.toLowerCase()))
    .join(" ");
}

export type RunSnippet = (input: SnippetInput) => SnippetResult;

/** Build the emulator input for a case (relocations applied against `memBase`). */
export function buildInput(c: InstrCase, memBase: number | null): SnippetInput {
  const code = fromHex(c.code, c.code.length / 2);
  if (c.relocs?.length) {
    if (memBase === null) throw new Error("case needs the buffer address for its relocations");
    const dv = new DataView(code.buffer);
    for (const off of c.relocs) dv.setUint32(off, (dv.getUint32(off, true) + memBase) >>> 0, true);
  }
  const regs = {} as Record<CaseReg, number>;
  for (const r of CASE_REGS) regs[r] = c.init[r] >>> 0;
  return {
    code,
    regs,
    eflags: c.init.eflags,
    mem: fromHex(c.mem, c.memSize ?? 256),
    memReg: c.memReg,
  };
}

/** Run one case in the emulator; returns a list of human-readable differences (empty = pass). */
export function checkCase(c: InstrCase, run: RunSnippet): string[] {
  const memSize = c.memSize ?? 256;
  let memBase: number | null = null;
  if (c.relocs?.length) {
    // The code embeds the buffer's absolute address: learn it with an empty snippet first.
    const probe = run({ ...buildInput({ ...c, code: "", relocs: [] }, null), memReg: null });
    memBase = probe.memBase;
  }
  const res = run(buildInput(c, memBase));
  const diffs: string[] = [];
  if (memBase !== null && res.memBase !== memBase) {
    diffs.push(
      `memBase changed between runs (${h32(memBase)} then ${h32(res.memBase)}); relocations are wrong`,
    );
  }
  const ex = c.expect;
  const fault = res.fault;
  if (JSON.stringify(fault) !== JSON.stringify(ex.fault)) {
    const f = (x: CaseFault | null): string =>
      x ? `vector ${x.vector} errorCode ${h32(x.errorCode)} eipOffset ${x.eipOffset}` : "none";
    diffs.push(`fault: expected ${f(ex.fault)}, got ${f(fault)}`);
  }
  const rel = new Set<CaseReg>([...(c.memReg ? [c.memReg] : []), ...(c.relRegs ?? [])]);
  const skip = new Set(c.skipRegs ?? []);
  for (const r of CASE_REGS) {
    if (skip.has(r)) continue;
    const got = rel.has(r) ? (res.regs[r] - res.memBase) >>> 0 : res.regs[r] >>> 0;
    if (got !== ex[r] >>> 0) {
      diffs.push(`${r}${rel.has(r) ? " (relative to buffer)" : ""}: expected ${h32(ex[r])}, got ${h32(got)}`);
    }
  }
  const espDelta = (res.regs.esp - res.espInitial) | 0;
  if (espDelta !== ex.espDelta) diffs.push(`esp delta: expected ${ex.espDelta}, got ${espDelta}`);
  const m = c.flagsMask;
  if (((res.eflags ^ ex.eflags) & m) !== 0) {
    diffs.push(
      `eflags & ${h32(m)}: expected ${h32(ex.eflags & m)} [${flagStr(ex.eflags, m)}], got ${h32(res.eflags & m)} [${flagStr(res.eflags, m)}]`,
    );
  }
  const want = ex.mem !== undefined ? fromHex(ex.mem, memSize) : fromHex(c.mem, memSize);
  const ignored = new Uint8Array(memSize);
  for (const [s, e] of c.memIgnore ?? []) ignored.fill(1, s, e);
  if (res.mem.length < memSize)
    diffs.push(`mem: result buffer has ${res.mem.length} bytes, expected ${memSize}`);
  const bad: string[] = [];
  for (let i = 0; i < memSize && i < res.mem.length; i++) {
    if (!ignored[i] && res.mem[i] !== want[i]) bad.push(i.toString(16));
  }
  if (bad.length) {
    const line = (b: Uint8Array, o: number): string =>
      Array.from(b.slice(o, o + 16), (x, k) =>
        ignored[o + k] ? "··" : x.toString(16).padStart(2, "0"),
      ).join(" ");
    const rows = new Set(bad.map((o) => parseInt(o, 16) & ~15));
    const dump = [...rows]
      .slice(0, 8)
      .map(
        (o) =>
          `  +${o.toString(16).padStart(3, "0")} expected ${line(want, o)}\n         got      ${line(res.mem, o)}`,
      );
    diffs.push(
      `mem differs at offsets ${bad.slice(0, 16).join(",")}${bad.length > 16 ? ",…" : ""}\n${dump.join("\n")}`,
    );
  }
  return diffs;
}

export function describeCase(c: InstrCase): string {
  const init = CASE_REGS.map((r) => `${r}=${c.memReg === r ? "BUF" : h32(c.init[r])}`).join(" ");
  return `asm: ${c.asm.replace(/\n/g, " | ")}\ncode: ${c.code}\ninit: ${init} eflags=${h32(c.init.eflags)}`;
}
