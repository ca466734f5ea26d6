// `npx virtlab run ...`: the headless runner. Its flags and exit codes are a contract that tests and
// benchmarks rely on (see README): exit 0 when --expect matched, 1 on timeout, 2 on any error.

import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Machine, MODES, type Mode } from "../engine/machine.ts";
import { bootMultiboot } from "../engine/boot/multiboot.ts";
import { bootLinux, isBzImage } from "../engine/boot/linux.ts";
import { findImage, parseManifest, verifyImageFile, type ImageEntry } from "../engine/boot/manifest.ts";
import { ImageError } from "../engine/boot/errors.ts";
import { collectStats } from "../engine/stats.ts";
import type { JitOptions } from "../jit/jit.ts";
import { MachineDriver } from "../automation/driver.ts";
import { nodeHost } from "../automation/node.ts";
import { COMPARE_USAGE, CompareUsageError, runCompare } from "./compare.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Where images and manifest.json live (VIRTLAB_IMAGES_DIR overrides, e.g. for tests). */
export const IMAGES_DIR = process.env.VIRTLAB_IMAGES_DIR ?? join(ROOT, "public/images");

const USAGE = `usage: virtlab run (--image NAME | --kernel FILE [--initrd FILE] [--cmdline S])
                   [--mode native|bt|pv|hw|hw-noept] [--mem MiB] [--expect REGEX] [--send TEXT]
                   [--timeout SECONDS] [--deterministic] [--stats FILE] [--quiet]

Streams the guest's first serial port to stdout.
  --expect REGEX   exit 0 as soon as the serial output matches, 1 on timeout
  --send TEXT      type TEXT (\\n allowed) into the serial port once the guest listens
  --timeout S      wall-clock limit in seconds (default: none without --expect, 60 with it)
  --deterministic  virtual time from the instruction count; fixed RTC time
  --stats FILE     write the counters as JSON when the run ends
Exit codes: 0 success, 1 timeout, 2 error (message on stderr).

${COMPARE_USAGE}`;

class UsageError extends Error {}

export interface RunOptions {
  image?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  mode: string;
  memMiB: number;
  expect?: RegExp;
  send?: string;
  timeoutS?: number;
  deterministic: boolean;
  stats?: string;
  quiet: boolean;
  /**
   * on (default), off (interpreter only), lockstep (compiled blocks checked against the interpreter),
   * or the JIT's own options (benchmarks).
   */
  jit?: "on" | "off" | "lockstep" | JitOptions;
}

function parseRun(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      image: { type: "string" },
      kernel: { type: "string" },
      initrd: { type: "string" },
      cmdline: { type: "string" },
      mode: { type: "string", default: "native" },
      mem: { type: "string", default: "64" },
      expect: { type: "string" },
      send: { type: "string" },
      timeout: { type: "string" },
      deterministic: { type: "boolean", default: false },
      stats: { type: "string" },
      quiet: { type: "boolean", default: false },
      jit: { type: "string", default: "on" },
    },
    strict: true,
  });
  if (!["on", "off", "lockstep"].includes(values.jit))
    throw new UsageError(`--jit must be on, off or lockstep (got ${values.jit})`);
  if (!values.image === !values.kernel)
    throw new UsageError("give exactly one of --image NAME or --kernel FILE");
  const memMiB = Number(values.mem);
  if (!Number.isInteger(memMiB) || memMiB < 2 || memMiB > 2047)
    throw new UsageError(`--mem must be 2..2047 MiB`);
  let expect: RegExp | undefined;
  if (values.expect !== undefined) {
    try {
      expect = new RegExp(values.expect);
    } catch (e) {
      throw new UsageError(`--expect is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  let timeoutS: number | undefined;
  if (values.timeout !== undefined) {
    timeoutS = Number(values.timeout);
    if (!(timeoutS > 0)) throw new UsageError("--timeout must be a positive number of seconds");
  } else if (expect) timeoutS = 60;
  if (!MODES.includes(values.mode as Mode))
    throw new UsageError(
      `--mode ${values.mode}: not available; implemented modes are ${MODES.join(", ")} (bt, pv and hw-noept are not implemented yet)`,
    );
  return {
    image: values.image,
    kernel: values.kernel,
    initrd: values.initrd,
    cmdline: values.cmdline,
    mode: values.mode,
    memMiB,
    expect,
    send: values.send?.replace(/\\n/g, "\n").replace(/\\r/g, "\r").replace(/\\t/g, "\t"),
    timeoutS,
    deterministic: values.deterministic,
    stats: values.stats,
    quiet: values.quiet,
    jit: values.jit as RunOptions["jit"],
  };
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function readFile(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new ImageError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Load an image from the manifest, verifying every file's size and sha256. */
export function loadImage(name: string): { entry: ImageEntry; files: Record<string, Uint8Array> } {
  const manifestPath = join(IMAGES_DIR, "manifest.json");
  const manifest = parseManifest(readFileSync(manifestPath, "utf8"), manifestPath);
  const entry = findImage(manifest, name);
  const files: Record<string, Uint8Array> = {};
  for (const f of entry.files) {
    const bytes = readFile(join(IMAGES_DIR, f.path));
    verifyImageFile(f, bytes, sha256(bytes));
    files[f.role] = bytes;
  }
  return { entry, files };
}

/** Build a machine and boot the requested kernel. */
export function bootFromOptions(o: RunOptions): { machine: Machine; ready?: string } {
  const image = o.image ? loadImage(o.image) : null;
  const machine = new Machine({
    memoryMiB: o.memMiB,
    deterministic: o.deterministic,
    disk: image?.files.disk,
    mode: o.mode as Mode,
    jit:
      o.jit === "off"
        ? false
        : o.jit === "lockstep"
          ? { lockstep: true, throwOnMismatch: true, threshold: 20, batch: 16 }
          : typeof o.jit === "object"
            ? o.jit
            : true,
  });
  let kernel: Uint8Array,
    kernelName: string,
    cmdline: string | undefined,
    boot: string,
    ready: string | undefined;
  let initrd: Uint8Array | undefined, initrdName: string | undefined;
  if (o.image) {
    const { entry, files } = image!;
    if (!files.kernel) throw new ImageError(o.image, "image has no kernel to boot");
    kernel = files.kernel;
    kernelName = entry.files.find((f) => f.role === "kernel")!.path;
    initrd = files.initrd;
    initrdName = entry.files.find((f) => f.role === "initrd")?.path;
    cmdline = o.cmdline ?? entry.cmdline;
    boot = entry.boot;
    ready = entry.ready;
  } else {
    kernel = readFile(o.kernel!);
    kernelName = o.kernel!;
    cmdline = o.cmdline;
    boot = isBzImage(kernel) ? "linux" : "multiboot";
  }
  if (o.initrd) {
    initrd = readFile(o.initrd);
    initrdName = o.initrd;
  }
  if (boot === "linux") {
    bootLinux(machine, kernel, { cmdline, initrd, kernelName, initrdName });
  } else if (boot === "multiboot") {
    if (initrd) throw new UsageError("--initrd needs a Linux kernel (Linux boot protocol)");
    bootMultiboot(machine, kernel, { cmdline, name: kernelName });
  } else throw new ImageError(kernelName, `boot method "${boot}" is not supported`);
  return { machine, ready };
}

async function run(o: RunOptions): Promise<number> {
  const { machine, ready } = bootFromOptions(o);
  // Deterministic runs compile the same blocks at the same points only if the JIT is there from the start.
  if (o.deterministic) await machine.jitReady;
  const out = process.stdout;
  let seen = "";
  let matched = false;
  machine.on((e) => {
    if (e.type === "reset") process.stderr.write(`\nvirtlab: guest reset: ${e.reason}\n${e.state}\n`);
  });
  // The run loop (slices, serial decoding, panics, resets, sleeping while halted) is the one the
  // automation API uses.
  const driver = new MachineDriver(machine, nodeHost, 2_000_000);
  driver.onOutput = (text) => {
    if (!o.quiet) out.write(text);
    sendIfReady(text);
    if (o.expect) {
      seen = (seen + text).slice(-65536);
      if (o.expect.test(seen)) matched = true;
    }
  };
  // Input typed before the guest listens is lost (an unopened tty discards it), so with an image
  // that announces readiness the text is typed once the ready marker has been printed.
  let toSend = o.send ?? null;
  let readyTail = "";
  const sendIfReady = (text: string) => {
    if (toSend === null) return;
    if (ready) {
      readyTail = (readyTail + text).slice(-4096);
      if (!readyTail.includes(ready)) return;
    }
    machine.com1.receive(toSend);
    toSend = null;
  };
  sendIfReady("");
  const start = performance.now();
  const timeoutMs = o.timeoutS !== undefined ? o.timeoutS * 1000 : undefined;
  const reason = await driver.runUntil(() => matched, { timeoutMs });
  let status = 0;
  if (reason === "panic") {
    process.stderr.write(`\nvirtlab: guest kernel panic: ${driver.panic}\n`);
    status = 2;
  } else if (reason === "stopped") {
    process.stderr.write(`virtlab: the guest stopped (${machine.lastReset?.reason ?? "shutdown"})\n`);
    status = 2;
  } else if (reason === "timeout" && o.expect) {
    process.stderr.write(`virtlab: timeout after ${o.timeoutS} s without seeing /${o.expect.source}/\n`);
    status = 1;
  } else if (reason === "halted" && o.expect) {
    // Halted with interrupts off or nothing scheduled: nothing can ever happen again.
    process.stderr.write(`virtlab: the guest halted for good without printing /${o.expect.source}/\n`);
    status = 1;
  }
  const wallMs = performance.now() - start;
  if (o.stats) writeFileSync(o.stats, JSON.stringify(collectStats(machine, wallMs), null, 2) + "\n");
  return status;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === "run") return await run(parseRun(rest));
    if (cmd === "compare") return await runCompare(rest, loadImage);
    if (cmd === "--help" || cmd === "-h" || cmd === "help") {
      console.log(USAGE);
      return 0;
    }
    throw new UsageError(cmd ? `unknown command "${cmd}"` : "no command given");
  } catch (e) {
    if (
      e instanceof UsageError ||
      e instanceof CompareUsageError ||
      (e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
    ) {
      process.stderr.write(`virtlab: ${(e as Error).message}\n${USAGE}\n`);
    } else if (e instanceof ImageError) {
      process.stderr.write(`virtlab: bad image: ${e.message}\n`);
    } else {
      process.stderr.write(`virtlab: internal error: ${(e as Error).stack ?? e}\n`);
    }
    return 2;
  }
}

const isEntry = process.argv[1] && resolve(process.argv[1]).endsWith(join("src", "cli", "main.ts"));
const viaBin = process.argv[1] && /virtlab(\.mjs)?$/.test(process.argv[1]);
if (isEntry || viaBin) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
