// VirtLab vs v86 in the same headless Chromium: Linux boot to VIRTLAB-READY and CPU-bound shell
// commands, on the same kernel and initramfs (figures to read, not a timed test). docs/benchmarks.md
// describes it.
//
// Run: npm run bench:race [-- --runs N] [--json] [--only virtlab|v86] [--rebuild]
//        [--boot-timeout S] [--cmd-timeout S] [--chromium PATH]
//
// VirtLab runs its production build (vite build into dist/bench/, rebuilt when src/ or public/ is
// newer) and is driven through the page's automation API (window.virtlab.vm); its clock starts at
// boot(), so fetching and checking the image counts, as it does for a user. v86 (npm package
// `v86`) runs on a page of its own with Debian's SeaBIOS. Every run gets a fresh browser context.
import { chromium, type Browser, type BrowserContext } from "playwright-core";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serve, type StaticServer } from "./race/server.ts";
import {
  startButtonInPage,
  v86InPage,
  virtlabInPage,
  type PageParams,
  type PageResult,
  type RaceCommand,
  type StartButtonResult,
} from "./race/page.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist/bench");
const STAMP = join(DIST, ".race-build");
const SEABIOS = "/usr/share/seabios";
const V86_BUILD = join(ROOT, "node_modules/v86/build");
const LINUX = join(ROOT, "public/images/linux");

/** The guest commands, typed at the shell prompt; each takes a few seconds in v86. */
const COMMANDS: RaceCommand[] = [
  {
    name: "shell loop (20000 iterations)",
    cmd: "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo END-$((6*7))",
    marker: "END-42",
  },
  {
    name: "gzip -c /bin/busybox | md5sum",
    cmd: "gzip -c /bin/busybox | md5sum; echo END-$((6*7))",
    marker: "END-42",
  },
];

const HELP = `Usage: npm run bench:race [-- options]

VirtLab vs v86 in headless Chromium: Linux boot to VIRTLAB-READY and CPU-bound shell commands.

  --runs N            runs of each emulator, a fresh browser context each (default 3)
  --json              print the results as JSON on stdout (progress goes to stderr)
  --only NAME         run only "virtlab" or only "v86"
  --rebuild           rebuild VirtLab's production bundle (dist/bench/) even if it is up to date
  --boot-timeout S    limit for boot to VIRTLAB-READY, in seconds (default 300)
  --cmd-timeout S     limit for each command, in seconds (default 300)
  --start-button N    then boot VirtLab N more times the way a user does, with the page's Start
                      button, whose machine the page reports JIT counters for (default 1; 0: skip)
  --chromium PATH     the browser (default /usr/bin/chromium, Debian's chromium package)
`;

function fail(message: string): never {
  console.error(`bench:race: ${message}`);
  process.exit(2);
}

const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        runs: { type: "string", default: "3" },
        json: { type: "boolean", default: false },
        only: { type: "string" },
        rebuild: { type: "boolean", default: false },
        "boot-timeout": { type: "string", default: "300" },
        "cmd-timeout": { type: "string", default: "300" },
        "start-button": { type: "string", default: "1" },
        chromium: { type: "string", default: "/usr/bin/chromium" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message}\n\n${HELP}`);
  }
})();
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} needs a positive number (got "${v}")`);
  return n;
};
const RUNS = Math.round(positive("runs", args.runs));
const START_RUNS =
  args["start-button"] === "0" ? 0 : Math.round(positive("start-button", args["start-button"]));
const BOOT_TIMEOUT_MS = positive("boot-timeout", args["boot-timeout"]) * 1000;
const CMD_TIMEOUT_MS = positive("cmd-timeout", args["cmd-timeout"]) * 1000;
type Emu = "virtlab" | "v86";
if (args.only !== undefined && args.only !== "virtlab" && args.only !== "v86")
  fail(`--only takes "virtlab" or "v86" (got "${args.only}")`);
const EMUS: Emu[] = args.only ? [args.only as Emu] : ["virtlab", "v86"];
const START_BUTTON_RUNS = EMUS.includes("virtlab") ? START_RUNS : 0;

/** Progress and per-run lines; stdout stays clean for --json. */
const log = (s: string) => (args.json ? console.error(s) : console.log(s));

// ---- what must be there -----------------------------------------------------------------------------

function checkPrerequisites(): void {
  if (!existsSync(args.chromium))
    fail(
      `no browser at ${args.chromium}: install Debian's chromium (sudo apt-get install -y chromium) or pass --chromium PATH`,
    );
  if (EMUS.includes("v86")) {
    for (const f of ["bios.bin", "vgabios-stdvga.bin"])
      if (!existsSync(join(SEABIOS, f)))
        fail(`v86 needs SeaBIOS (${join(SEABIOS, f)} is missing): sudo apt-get install -y seabios`);
    for (const f of ["libv86.mjs", "v86.wasm"])
      if (!existsSync(join(V86_BUILD, f)))
        fail(`${join(V86_BUILD, f)} is missing: run npm install (v86 is a devDependency)`);
  }
  for (const f of ["bzImage", "initramfs.cpio"])
    if (!existsSync(join(LINUX, f))) fail(`${join(LINUX, f)} is missing`);
}

// ---- VirtLab's production build ---------------------------------------------------------------------

/** Newest modification time of the files a build is made from. */
function newestInput(): number {
  let newest = 0;
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of [
    "src",
    "public",
    "index.html",
    "embed.html",
    "examples",
    "vite.config.ts",
    "package-lock.json",
  ])
    walk(join(ROOT, p));
  return newest;
}

function ensureBuild(): void {
  const built = existsSync(STAMP) && existsSync(join(DIST, "index.html")) ? statSync(STAMP).mtimeMs : 0;
  if (!args.rebuild && built > newestInput()) {
    log(`VirtLab build: dist/bench/ is up to date`);
    return;
  }
  log(`VirtLab build: vite build --outDir dist/bench (${built ? "src/ changed" : "no build yet"}) ...`);
  const t0 = performance.now();
  const started = new Date();
  // Its own directory: `vite build` empties its outDir, and dist/ also holds the types and the widget.
  const r = spawnSync(
    join(ROOT, "node_modules/.bin/vite"),
    ["build", "--outDir", "dist/bench", "--emptyOutDir", "--logLevel", "warn"],
    { cwd: ROOT, encoding: "utf8", timeout: 300_000 },
  );
  if (r.status !== 0)
    fail(
      `vite build failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stdout ?? "") + (r.stderr ?? "")}`,
    );
  // Dated when the build started: a source edited during the build makes the next run rebuild.
  writeFileSync(STAMP, `${started.toISOString()}\n`);
  utimesSync(STAMP, started, started);
  log(`VirtLab build: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

function gitDescription(): string {
  const git = (...a: string[]) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const head = git("rev-parse", "--short", "HEAD") || "unknown commit";
  const dirty = git("status", "--porcelain", "--", "src", "public", "index.html", "vite.config.ts");
  return dirty ? `${head} + uncommitted changes under src/ or public/` : head;
}

// ---- one run of one emulator ------------------------------------------------------------------------

interface RunRecord extends PageResult {
  emu: Emu;
  run: number;
  /** Page navigation until the emulator's script is loaded (not counted in the boot). */
  pageLoadMs: number;
  pageErrors: string[];
}

const PARAMS: PageParams = {
  commands: COMMANDS,
  bootTimeoutMs: BOOT_TIMEOUT_MS,
  cmdTimeoutMs: CMD_TIMEOUT_MS,
  v86: {
    wasm: "/v86/build/v86.wasm",
    bios: "/v86/bios/bios.bin",
    vgaBios: "/v86/bios/vgabios-stdvga.bin",
    bzimage: "/v86/images/bzImage",
    initrd: "/v86/images/initramfs.cpio",
    cmdline: "console=ttyS0",
  },
};

/** A limit on a whole run, beyond the page's own timeouts, so that nothing ever hangs. */
const RUN_LIMIT_MS = BOOT_TIMEOUT_MS + 60_000 + COMMANDS.length * (CMD_TIMEOUT_MS + 60_000) + 60_000;

async function withLimit<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => Promise<void>) {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`));
      void onTimeout().catch(() => {});
    }, ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function runOnce(browser: Browser, server: StaticServer, emu: Emu, run: number): Promise<RunRecord> {
  const context: BrowserContext = await browser.newContext();
  const pageErrors: string[] = [];
  try {
    // tsx compiles page.ts with esbuild's keepNames, which wraps inner functions in __name(): give
    // the page a no-op one, since the functions passed to page.evaluate run there.
    await context.addInitScript({ content: "globalThis.__name = (f) => f;" });
    const page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
    });
    page.on("response", (res) => {
      if (res.status() >= 400) pageErrors.push(`HTTP ${res.status()} for ${res.url()}`);
    });
    const tNav = performance.now();
    const url = emu === "virtlab" ? `${server.url}/` : `${server.url}/v86/`;
    await page.goto(url, { timeout: 60_000 });
    await page.waitForFunction(
      emu === "virtlab" ? "window.virtlab && window.virtlab.vm" : "window.V86",
      undefined,
      { timeout: 60_000 },
    );
    const pageLoadMs = performance.now() - tNav;
    const fn = emu === "virtlab" ? virtlabInPage : v86InPage;
    const r = await withLimit(page.evaluate(fn, PARAMS), RUN_LIMIT_MS, `${emu} run ${run}`, () =>
      context.close(),
    );
    const rec: RunRecord = { ...r, emu, run, pageLoadMs, pageErrors };
    return rec;
  } catch (e) {
    return {
      emu,
      run,
      ok: false,
      error: (e as Error).message.split("\n")[0],
      t0Epoch: 0,
      commands: [],
      pageLoadMs: 0,
      pageErrors,
    };
  } finally {
    await context.close().catch(() => {});
  }
}

/** VirtLab started with the page's Start button (its figures, and the JIT counters the page reports). */
async function runStartButton(browser: Browser, server: StaticServer): Promise<StartButtonResult> {
  const context = await browser.newContext();
  try {
    await context.addInitScript({ content: "globalThis.__name = (f) => f;" });
    const page = await context.newPage();
    await page.goto(`${server.url}/`, { timeout: 60_000 });
    await page.waitForFunction("window.virtlab && window.virtlab.serialText", undefined, { timeout: 60_000 });
    return await withLimit(page.evaluate(startButtonInPage, PARAMS), RUN_LIMIT_MS, "Start-button run", () =>
      context.close(),
    );
  } catch (e) {
    return { ok: false, error: (e as Error).message.split("\n")[0], commands: [] };
  } finally {
    await context.close().catch(() => {});
  }
}

// ---- figures ---------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sec = (ms: number | undefined) =>
  ms === undefined || !Number.isFinite(ms) ? "-" : (ms / 1000).toFixed(2);
const secs = (ms: number) => (Number.isFinite(ms) ? `${sec(ms)} s` : "-");

/** The sampled [ms, instructions, busy ms] timeline, interpolated at time t. */
function sampleAt(tl: [number, number, number][], t: number): [number, number, number] {
  let prev = tl[0];
  for (const p of tl) {
    if (p[0] >= t) {
      const f = p[0] === prev[0] ? 1 : (t - prev[0]) / (p[0] - prev[0]);
      return [t, prev[1] + f * (p[1] - prev[1]), prev[2] + f * (p[2] - prev[2])];
    }
    prev = p;
  }
  return prev;
}

/** Between two times: guest MIPS over wall time, the share of it the engine ran the guest, MIPS while it did. */
function segment(tl: [number, number, number][], from: number, to: number) {
  const a = sampleAt(tl, from);
  const b = sampleAt(tl, to);
  const wall = b[0] - a[0];
  const ins = b[1] - a[1];
  const busy = b[2] - a[2];
  return { wallMips: ins / wall / 1000, busyShare: busy / wall, busyMips: ins / busy / 1000 };
}

function hashes(s: string): string[] {
  return s.match(/\b[0-9a-f]{32}\b/g) ?? [];
}

// ---- main ------------------------------------------------------------------------------------------

checkPrerequisites();
/** The source the build is made from (HEAD may move while the benchmark runs). */
const VIRTLAB_SOURCE = gitDescription();
if (EMUS.includes("virtlab")) ensureBuild();

let server: StaticServer | null = null;
let browser: Browser | null = null;
let closing: Promise<void> | null = null;
const cleanup = () =>
  (closing ??= (async () => {
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
  })());
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    console.error(`bench:race: ${sig}, closing the browser`);
    void cleanup().then(() => process.exit(130));
  });

const records: RunRecord[] = [];
const startRuns: StartButtonResult[] = [];
const loadStart = loadavg()[0];
let chromiumVersion = "";
try {
  server = await serve({
    dirs: {
      "/": DIST,
      "/v86/build/": V86_BUILD,
      "/v86/images/": LINUX,
      "/v86/bios/": SEABIOS,
    },
    files: { "/v86/": join(ROOT, "bench/race/v86.html") },
  });
  try {
    browser = await chromium.launch({
      executablePath: args.chromium,
      args: ["--no-sandbox"],
      timeout: 60_000,
    });
  } catch (e) {
    throw new Error(`cannot start ${args.chromium}: ${(e as Error).message.split("\n")[0]}`, { cause: e });
  }
  chromiumVersion = browser.version();
  log(
    `VirtLab vs v86 in headless Chromium ${chromiumVersion}: ${RUNS} run(s) each, a fresh page per run (${server.url})`,
  );
  for (let run = 1; run <= RUNS; run++) {
    // Alternate which goes first, so that a drift in the machine's load hits both alike.
    const order = run % 2 ? EMUS : [...EMUS].reverse();
    for (const emu of order) {
      const r = await runOnce(browser, server, emu, run);
      records.push(r);
      const name = emu === "virtlab" ? "VirtLab" : "v86    ";
      if (r.ok)
        log(
          `  run ${run} ${name} ready ${sec(r.readyMs)} s` +
            r.commands.map((c) => `, ${c.name.split(" ")[0]} ${sec(c.ms)} s`).join("") +
            (r.pageErrors.length ? `; page errors: ${r.pageErrors.join(" | ")}` : ""),
        );
      else {
        log(`  run ${run} ${name} FAILED: ${r.error?.split("\n")[0].replace(/; last output:$/, "")}`);
        if (r.tail) log(`    last output: ${JSON.stringify(r.tail.slice(-400))}`);
        if (r.pageErrors.length) log(`    page errors: ${r.pageErrors.join(" | ")}`);
      }
    }
  }
  for (let run = 1; run <= START_BUTTON_RUNS; run++) {
    const r = await runStartButton(browser, server);
    startRuns.push(r);
    if (r.ok)
      log(
        `  Start button ${run}: ready ${sec(r.readyMs)} s` +
          r.commands.map((c) => `, ${c.name.split(" ")[0]} ${sec(c.ms)} s`).join(""),
      );
    else {
      log(`  Start button ${run} FAILED: ${r.error}`);
      if (r.tail) log(`    last output: ${JSON.stringify(r.tail.slice(-400))}`);
    }
  }
} catch (e) {
  await cleanup();
  fail((e as Error).message);
} finally {
  await cleanup();
}

// ---- report ----------------------------------------------------------------------------------------

const ok = (emu: Emu) => records.filter((r) => r.emu === emu && r.ok);
const metrics: { name: string; get: (r: RunRecord) => number | undefined }[] = [
  { name: "boot to VIRTLAB-READY", get: (r) => r.readyMs },
  ...COMMANDS.map((c, i) => ({ name: c.name, get: (r: RunRecord) => r.commands[i]?.ms })),
];
const summary = metrics.map((m) => {
  const values = (emu: Emu) => ok(emu).map((r) => m.get(r)!);
  const vl = values("virtlab");
  const v86 = values("v86");
  const mv = median(vl);
  const m8 = median(v86);
  const best = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN);
  return {
    metric: m.name,
    virtlab: { median: mv, best: best(vl), runs: vl },
    v86: { median: m8, best: best(v86), runs: v86 },
    ratio: mv / m8,
    /** Of the fastest runs: on a shared machine, interference only ever adds time. */
    ratioBest: best(vl) / best(v86),
  };
});

// Both emulators must have computed the same thing.
const warnings: string[] = [];
COMMANDS.forEach((c, i) => {
  const outputs = [...records, ...startRuns].filter((r) => r.ok).map((r) => r.commands[i].output);
  const seen = new Set(outputs.map((o) => hashes(o).join(" ")));
  if (seen.size > 1) warnings.push(`"${c.cmd}" printed different checksums: ${[...seen].join(" vs ")}`);
});

const vlRuns = ok("virtlab");
const withTimeline = vlRuns.filter((r) => r.timeline!.length > 1);
const med = <T>(rs: T[], f: (r: T) => number) => median(rs.map(f).filter(Number.isFinite));
const detail = vlRuns.length
  ? {
      pageLoadMs: med(vlRuns, (r) => r.pageLoadMs),
      loadedMs: med(vlRuns, (r) => r.loadedMs!),
      bootInstructions: med(vlRuns, (r) => r.timeline!.at(-1)?.[1] ?? NaN),
      bootBusyMs: med(vlRuns, (r) => r.timeline!.at(-1)?.[2] ?? NaN),
      toPrompt: ["wallMips", "busyShare", "busyMips"].map((k) =>
        med(withTimeline, (r) => segment(r.timeline!, r.loadedMs!, r.promptMs!)[k as "wallMips"]),
      ),
      commands: COMMANDS.map((c, i) => ({
        name: c.name,
        instructions: med(vlRuns, (r) => r.commands[i].instructions ?? NaN),
        busyMs: med(vlRuns, (r) => r.commands[i].busyMs ?? NaN),
        ms: med(vlRuns, (r) => r.commands[i].ms),
      })),
      jit: vlRuns.at(-1)?.jit ?? null,
    }
  : null;
type JitCounters = { jitInstructions: number; blocksCompiled: number; modules: number; compileMs: number };
const isJit = (j: unknown): j is JitCounters =>
  typeof j === "object" && j !== null && typeof (j as JitCounters).jitInstructions === "number";
const startOk = startRuns.filter((r) => r.ok);
/** Share of guest instructions that ran compiled, from the page's counters. */
const compiledShare = (x: { instructions: number; jit: unknown } | undefined) =>
  x && isJit(x.jit) && x.instructions > 0 ? x.jit.jitInstructions / x.instructions : NaN;
const startDetail = startOk.length
  ? {
      runs: startOk.length,
      readyMs: med(startOk, (r) => r.readyMs!),
      jitReadyMs: med(startOk, (r) => r.jitReadyMs ?? NaN),
      commands: COMMANDS.map((c, i) => ({ name: c.name, ms: med(startOk, (r) => r.commands[i].ms) })),
      compiledAtPrompt: med(startOk, (r) => compiledShare(r.atPrompt)),
      compiledAtEnd: med(startOk, (r) => compiledShare(r.atEnd)),
      /** The commands alone: instructions and compiled instructions between the prompt and the end. */
      compiledInCommands: med(startOk, (r) => {
        const a = r.atPrompt!;
        const b = r.atEnd!;
        return isJit(a.jit) && isJit(b.jit)
          ? (b.jit.jitInstructions - a.jit.jitInstructions) / (b.instructions - a.instructions)
          : NaN;
      }),
      jitAtPrompt: startOk.at(-1)!.atPrompt!.jit,
      jitAtEnd: startOk.at(-1)!.atEnd!.jit,
    }
  : null;
const v86Runs = ok("v86");
const v86Detail = v86Runs.length
  ? {
      loadedMs: median(v86Runs.map((r) => r.loadedMs ?? NaN)),
      pageLoadMs: median(v86Runs.map((r) => r.pageLoadMs)),
    }
  : null;

const v86Version = (
  JSON.parse(readFileSync(join(ROOT, "node_modules/v86/package.json"), "utf8")) as { version: string }
).version;
const env = {
  chromium: chromiumVersion,
  node: process.version,
  cpus: cpus().length,
  loadAverage: { start: loadStart, end: loadavg()[0] },
  virtlab: VIRTLAB_SOURCE,
  v86: v86Version,
  runs: RUNS,
  commands: COMMANDS.map((c) => c.cmd),
};

if (args.json) {
  console.log(
    JSON.stringify(
      {
        env,
        summary,
        virtlabBoot: detail,
        v86Boot: v86Detail,
        startButton: startDetail,
        warnings,
        records,
        startRuns,
      },
      null,
      2,
    ),
  );
} else {
  const w = Math.max(...metrics.map((m) => m.name.length)) + 2;
  console.log(
    `\nLinux (public/images/linux, console=ttyS0, 128 MiB) in headless Chromium ${env.chromium}, Node ${env.node}, ` +
      `${env.cpus} CPUs (load average ${env.loadAverage.start.toFixed(1)} at start, ${env.loadAverage.end.toFixed(1)} at end)`,
  );
  console.log(
    `VirtLab ${env.virtlab} (production build, mode native, wall-clock time, JIT on) vs v86 ${env.v86} (SeaBIOS)`,
  );
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
  console.log(
    `\n  ${"".padEnd(w)}${"VirtLab (s)".padEnd(16)}${"v86 (s)".padEnd(16)}VirtLab/v86 (ratio < 1: VirtLab faster)`,
  );
  console.log(
    `  ${"".padEnd(w)}${("median".padStart(6).padEnd(8) + "best".padStart(6).padEnd(8)).repeat(3)}`.trimEnd(),
  );
  for (const s of summary)
    console.log(
      `  ${s.metric.padEnd(w)}` +
        [s.virtlab.median, s.virtlab.best, s.v86.median, s.v86.best]
          .map((x) => sec(x).padStart(6).padEnd(8))
          .join("") +
        [s.ratio, s.ratioBest]
          .map((x) => num(x).padStart(6).padEnd(8))
          .join("")
          .trimEnd(),
    );
  console.log(`  (${RUNS} runs of each; best: the fastest run)`);
  console.log(`\n  individual runs (s):`);
  for (const s of summary)
    console.log(
      `  ${s.metric.padEnd(w)}VirtLab ${s.virtlab.runs.map(sec).join(" ") || "-"}   v86 ${s.v86.runs.map(sec).join(" ") || "-"}`,
    );
  if (detail) {
    const seg = ([wallMips, busyShare, busyMips]: number[]) =>
      `${wallMips.toFixed(1)} MIPS (running the guest ${(100 * busyShare).toFixed(0)}% of the time, ${busyMips.toFixed(1)} MIPS while it did)`;
    console.log(
      `\n  VirtLab boot (medians): page load ${sec(detail.pageLoadMs)} s before it (not counted); image fetched and ` +
        `checked at ${sec(detail.loadedMs)} s; to the prompt ${(detail.bootInstructions / 1e6).toFixed(0)}M guest ` +
        `instructions in ${sec(detail.bootBusyMs)} s of guest execution`,
    );
    console.log(`    from the image checked to the prompt: ${seg(detail.toPrompt)}`);
    for (const c of detail.commands)
      console.log(
        `    ${c.name}: ${(c.instructions / 1e6).toFixed(0)}M instructions, guest running ${sec(c.busyMs)} of ${sec(c.ms)} s ` +
          `(${(c.instructions / c.busyMs / 1000).toFixed(1)} MIPS while running)`,
      );
    if (!isJit(detail.jit))
      console.log(
        `  VirtLab JIT: vm.stats() has no JIT counters for the automation machine; the Start-button runs below have them`,
      );
  }
  if (startDetail) {
    const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : "-");
    const j = (x: unknown) =>
      isJit(x)
        ? `${x.blocksCompiled} blocks in ${x.modules} modules, compile ${sec(x.compileMs)} s`
        : "no counters";
    console.log(
      `\n  VirtLab with the page's Start button (its own run loop; medians of ${startDetail.runs}): JIT ready at ` +
        `${secs(startDetail.jitReadyMs)}, VIRTLAB-READY at ${secs(startDetail.readyMs)}` +
        startDetail.commands.map((c) => `, ${c.name.split(" ")[0]} ${secs(c.ms)}`).join(""),
    );
    console.log(
      `    guest instructions run compiled: ${pct(startDetail.compiledAtPrompt)} of the boot to the prompt ` +
        `(${j(startDetail.jitAtPrompt)}), ${pct(startDetail.compiledInCommands)} of the commands (${j(startDetail.jitAtEnd)} at the end)`,
    );
  }
  if (v86Detail)
    console.log(
      `  v86 boot (medians): page load ${sec(v86Detail.pageLoadMs)} s before it (not counted); wasm, BIOS, kernel ` +
        `and initramfs loaded at ${sec(v86Detail.loadedMs)} s`,
    );
  for (const w of warnings) console.log(`  WARNING: ${w}`);
}
const failed = [...records, ...startRuns].filter((r) => !r.ok).length;
if (failed) {
  console.error(`bench:race: ${failed} of ${records.length + startRuns.length} runs failed (see above)`);
  process.exit(1);
}
process.exit(0);
