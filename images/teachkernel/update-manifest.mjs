// Writes/updates the "teachkernel" and "teachkernel-pv" entries of
// public/images/manifest.json, leaving every other entry untouched.
// Usage: node update-manifest.mjs
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const imagesDir = join(root, "public", "images");
const manifestPath = join(imagesDir, "manifest.json");

function entry(name, description) {
  const kernel = readFileSync(join(imagesDir, `${name}.elf`));
  return {
    name,
    description,
    boot: "multiboot",
    files: [
      {
        role: "kernel",
        path: `${name}.elf`,
        sha256: createHash("sha256").update(kernel).digest("hex"),
        size: kernel.length,
      },
    ],
    ready: "TEACHKERNEL DONE",
  };
}

const entries = [
  entry(
    "teachkernel",
    "Teaching kernel (Multiboot ELF32, C): GDT/IDT/TSS, 4 KiB paging, ring-3 processes with their own page " +
      "directories, PIT timer, serial console; runs the Adams & Agesen-style microbenchmarks " +
      "(syscall, forkwait, ctxsw, pgfault, ptemod, inout, cr3, cr8, divzero, callret) selected with the " +
      "command line 'workload=NAME ops=N', each between 'WORKLOAD <name> ops=<N> begin/end' lines on COM1.",
  ),
  entry(
    "teachkernel-pv",
    "Paravirtualized build of the teaching kernel - needs PV mode: runs at CPL 1 and uses VirtLab hypercalls " +
      "(int 0x82; docs/hypercalls.md) for page tables (batched mmu_update), CR3, traps, timer and console. " +
      "Without the hypervisor it prints 'TEACHKERNEL PV: no hypervisor' and halts.",
  ),
];

// Re-read right before writing so a concurrent edit of another entry is kept.
let manifest = { images: [] };
if (existsSync(manifestPath)) {
  manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (!Array.isArray(manifest.images)) throw new Error(`${manifestPath}: "images" is not an array`);
}
for (const e of entries) {
  const i = manifest.images.findIndex((x) => x && x.name === e.name);
  if (i >= 0) manifest.images[i] = e;
  else manifest.images.push(e);
}
const tmp = `${manifestPath}.tmp-${process.pid}`;
writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
renameSync(tmp, manifestPath);
for (const e of entries)
  console.log(`updated ${manifestPath} (${e.name}: ${e.files[0].size} bytes, ${e.files[0].sha256})`);
