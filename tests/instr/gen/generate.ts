// Records tests/instr/cases.json: assembles every snippet of snippets.ts with nasm (bits 32, flat
// binary), runs it natively in a 32-bit process (harness.c) and writes the observed machine state.
//
//   npx tsx tests/instr/gen/generate.ts [--out <file>]
//
// Needs nasm and a 32-bit capable gcc (Debian: apt-get install -y nasm gcc-multilib).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL, REGS, buildCases, type CaseDef, type Reg } from "./snippets.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../../..");
const REG_INDEX: Record<Reg, number> = { eax: 0, ecx: 1, edx: 2, ebx: 3, ebp: 5, esi: 6, edi: 7 };
const RELOC_PROBE = 0x10000000;

function fail(msg: string): never {
  console.error(`generate: ${msg}`);
  process.exit(1);
}

function run(
  cmd: string,
  args: string[],
  input?: string,
): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    if (e.code === "ENOENT") {
      fail(
        `'${cmd}' not found. Install the tools with: apt-get update && apt-get install -y nasm gcc-multilib`,
      );
    }
    throw r.error;
  }
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

function toolVersion(cmd: string, args: string[]): string {
  return run(cmd, args).stdout.split("\n")[0].trim();
}

/** deterministic per-case register noise (FNV-1a of the name, then xorshift) */
function noiseFor(name: string): () => number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  let x = h || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const toHex = (b: Uint8Array | number[]): string => Buffer.from(b).toString("hex");
function trimHex(b: Uint8Array | number[]): string {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return toHex(Array.from(b).slice(0, n));
}

interface Prepared {
  def: CaseDef;
  init: Record<Reg, number> & { eflags: number };
  memSize: number;
  mem: Uint8Array;
  code: Uint8Array;
  relocs: number[];
}

function assemble(defs: CaseDef[], buf: number, dir: string): Uint8Array[] {
  const lines: string[] = ["bits 32", `%define BUF ${buf}`];
  const lineOwner: number[] = [-1, -1];
  defs.forEach((d, i) => {
    const body = [`c${i}:`, ...d.asm.split("\n"), ".end:", `c${i}_e:`];
    for (const l of body) {
      lines.push(l);
      lineOwner.push(i);
    }
  });
  lines.push("align 4", "tbl:");
  defs.forEach((_, i) => lines.push(`dd c${i}, c${i}_e`));
  const src = join(dir, "snippets.asm");
  const out = join(dir, `snippets-${buf}.bin`);
  writeFileSync(src, lines.join("\n") + "\n");
  const r = run("nasm", ["-f", "bin", "-o", out, src]);
  if (r.status !== 0 || r.stderr.trim()) {
    const msgs = r.stderr
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => {
        const m = /:(\d+): /.exec(l);
        const owner = m ? lineOwner[Number(m[1]) - 1] : -1;
        return owner >= 0 ? `${l}\n    in case "${defs[owner].name}": ${JSON.stringify(defs[owner].asm)}` : l;
      });
    if (r.status !== 0) fail(`nasm failed:\n${msgs.join("\n")}`);
    console.warn(`nasm warnings:\n${msgs.join("\n")}`);
  }
  const bin = new Uint8Array(readFileSync(out));
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const tbl = bin.length - 8 * defs.length;
  return defs.map((_, i) => bin.slice(dv.getUint32(tbl + 8 * i, true), dv.getUint32(tbl + 8 * i + 4, true)));
}

function findRelocs(a: Uint8Array, b: Uint8Array, name: string): number[] {
  if (a.length !== b.length) fail(`case "${name}": code length depends on BUF`);
  const relocs: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const p = i - 3;
    const va = new DataView(a.buffer, a.byteOffset).getUint32(p, true);
    const vb = new DataView(b.buffer, b.byteOffset).getUint32(p, true);
    if (p < 0 || (vb - va) >>> 0 !== RELOC_PROBE)
      fail(`case "${name}": unexpected use of BUF at code offset ${i}`);
    relocs.push(p);
  }
  return relocs;
}

interface Native {
  regs: Record<Reg, number>;
  esp: number;
  eflags: number;
  espInitial: number;
  memBase: number;
  fault: { vector: number; errorCode: number; eipOffset: number } | null;
  mem: Uint8Array;
}

function runHarness(exe: string, variant: number, cases: Prepared[]): Native[] {
  const input = cases
    .map((c) => {
      const mr = c.def.memReg ? REG_INDEX[c.def.memReg] : -1;
      const regs = REGS.map((r) => (c.init[r] >>> 0).toString(16));
      return [
        c.code.length ? toHex(c.code) : "-",
        mr.toString(16),
        c.relocs.length.toString(16),
        ...c.relocs.map((x) => x.toString(16)),
        ...regs,
        (c.init.eflags >>> 0).toString(16),
        c.memSize.toString(16),
        c.mem.length ? toHex(c.mem) : "-",
      ].join(" ");
    })
    .join("\n");
  const r = run(exe, [String(variant)], input + "\n");
  if (r.status !== 0) fail(`harness failed (status ${r.status}): ${r.stderr}`);
  const out = r.stdout.split("\n").filter((l) => l);
  if (out.length !== cases.length)
    fail(`harness returned ${out.length} results for ${cases.length} cases: ${r.stderr}`);
  return out.map((line) => {
    const t = line.split(" ");
    const n = (i: number): number => parseInt(t[i], 16) >>> 0;
    const order: Reg[] = ["eax", "ecx", "edx", "ebx"];
    const regs = {} as Record<Reg, number>;
    order.forEach((r2, i) => (regs[r2] = n(i)));
    regs.ebp = n(5);
    regs.esi = n(6);
    regs.edi = n(7);
    return {
      regs,
      esp: n(4),
      eflags: n(8),
      espInitial: n(9),
      memBase: n(10),
      fault: t[12] === "1" ? { vector: n(13), errorCode: n(14), eipOffset: n(15) } : null,
      mem: new Uint8Array(Buffer.from(t[16], "hex")),
    };
  });
}

interface Expect {
  [k: string]: unknown;
}

function expectFor(c: Prepared, nat: Native): Expect {
  const rel = new Set<Reg>([...(c.def.memReg ? [c.def.memReg] : []), ...(c.def.relRegs ?? [])]);
  const skip = new Set(c.def.skipRegs ?? []);
  const e: Expect = {};
  for (const r of REGS) {
    const v = rel.has(r) ? (nat.regs[r] - nat.memBase) >>> 0 : nat.regs[r];
    e[r] = skip.has(r) ? 0 : v;
  }
  e.espDelta = (nat.esp - nat.espInitial) | 0;
  e.eflags = nat.eflags & ALL;
  const mem = nat.mem.slice();
  for (const [s, t] of c.def.memIgnore ?? []) mem.fill(0, s, t);
  const init = c.mem;
  const changed = mem.some((b, i) => b !== (init[i] ?? 0));
  if (changed || c.def.memReg || c.relocs.length) e.mem = trimHex(mem);
  e.fault = nat.fault;
  return e;
}

function main(): void {
  const outArg = process.argv.indexOf("--out");
  const outFile = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(ROOT, "tests/instr/cases.json");
  const nasmV = toolVersion("nasm", ["-v"]);
  const gccV = toolVersion("gcc", ["--version"]);
  const dir = mkdtempSync(join(tmpdir(), "virtlab-instr-"));
  try {
    const exe = join(dir, "harness");
    const cc = run("gcc", ["-m32", "-O1", "-no-pie", "-Wall", "-o", exe, join(HERE, "harness.c")]);
    if (cc.status !== 0) {
      fail(
        `could not build the 32-bit harness (is gcc-multilib installed? apt-get install -y gcc-multilib):\n${cc.stderr}`,
      );
    }

    const defs = buildCases();
    const seen = new Map<string, number>();
    for (const d of defs) {
      const k = seen.get(d.name) ?? 0;
      seen.set(d.name, k + 1);
      if (k > 0) d.name = `${d.name} #${k + 1}`;
    }

    const codes0 = assemble(defs, 0, dir);
    const codes1 = assemble(defs, RELOC_PROBE, dir);
    const prepared: Prepared[] = defs.map((def, i) => {
      const rnd = noiseFor(def.name);
      const init = { eflags: def.init?.eflags ?? 0 } as Record<Reg, number> & { eflags: number };
      for (const r of REGS) init[r] = (def.init?.[r] ?? rnd()) >>> 0;
      if (def.memReg) init[def.memReg] = 0;
      const memSize = def.memSize ?? 256;
      const mem = new Uint8Array(def.mem ?? []);
      if (mem.length > memSize) fail(`case "${def.name}": mem longer than memSize`);
      if ((init.eflags & ~ALL) !== 0) fail(`case "${def.name}": eflags init has bits outside 0xcd5`);
      return { def, init, memSize, mem, code: codes0[i], relocs: findRelocs(codes0[i], codes1[i], def.name) };
    });

    const nat0 = runHarness(exe, 0, prepared);
    // second run: other placement, other stack fill, reverse order (catches state leaking between cases)
    const nat1 = runHarness(exe, 1, [...prepared].reverse()).reverse();
    const problems: string[] = [];
    const cases = prepared.map((c, i) => {
      const e0 = expectFor(c, nat0[i]);
      const e1 = expectFor(c, nat1[i]);
      if (JSON.stringify(e0) !== JSON.stringify(e1)) {
        problems.push(
          `case "${c.def.name}" depends on addresses or uninitialised memory:\n  ${JSON.stringify(e0)}\n  ${JSON.stringify(e1)}`,
        );
      }
      const init: Record<string, number> = {};
      for (const r of REGS) init[r] = c.init[r];
      init.eflags = c.init.eflags;
      const rec: Record<string, unknown> = {
        name: c.def.name,
        mnemonic: c.def.mnemonic,
        asm: c.def.asm,
        code: toHex(c.code),
        init,
        memReg: c.def.memReg ?? null,
      };
      if (c.memSize !== 256) rec.memSize = c.memSize;
      if (c.mem.some((b) => b !== 0)) rec.mem = trimHex(c.mem);
      if (c.relocs.length) rec.relocs = c.relocs;
      if (c.def.relRegs?.length) rec.relRegs = c.def.relRegs;
      rec.expect = e0;
      rec.flagsMask = c.def.flagsMask ?? ALL;
      if (c.def.skipRegs?.length) rec.skipRegs = c.def.skipRegs;
      if (c.def.memIgnore?.length) rec.memIgnore = c.def.memIgnore;
      return rec;
    });
    if (problems.length) fail(problems.join("\n"));

    const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown";
    const head = {
      generatedBy: `tests/instr/gen/generate.ts (${nasmV}; ${gccV}; harness.c gcc -m32 -O1)`,
      cpu,
    };
    const body = cases.map((c) => JSON.stringify(c)).join(",\n");
    const json = `${JSON.stringify(head).slice(0, -1)},"cases":[\n${body}\n]}\n`;
    writeFileSync(outFile, json);
    const counts = new Map<string, number>();
    for (const c of defs) counts.set(c.mnemonic, (counts.get(c.mnemonic) ?? 0) + 1);
    console.log(
      `wrote ${cases.length} cases (${(json.length / 1024).toFixed(0)} KiB) to ${outFile}; cpu: ${cpu}`,
    );
    console.log([...counts].map(([m, n]) => `${m}:${n}`).join(" "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
