// Writes/updates the "testkernel" entry of public/images/manifest.json,
// leaving every other entry untouched. Usage: node update-manifest.mjs
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const imagesDir = join(root, "public", "images");
const manifestPath = join(imagesDir, "manifest.json");
const kernel = readFileSync(join(imagesDir, "testkernel.elf"));

const entry = {
  name: "testkernel",
  description:
    "Bare-metal CPU self-test (Multiboot ELF32): protected mode, segmentation, paging (4K, PSE, global), " +
    "exceptions and error codes, ring 3, call gate, #DF task gate. Prints PASS/FAIL lines on COM1.",
  boot: "multiboot",
  files: [
    {
      role: "kernel",
      path: "testkernel.elf",
      sha256: createHash("sha256").update(kernel).digest("hex"),
      size: kernel.length,
    },
  ],
  ready: "ALL PASS",
};

// Re-read right before writing so a concurrent edit of another entry is kept.
let manifest = { images: [] };
if (existsSync(manifestPath)) {
  manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (!Array.isArray(manifest.images)) throw new Error(`${manifestPath}: "images" is not an array`);
}
const i = manifest.images.findIndex((e) => e && e.name === "testkernel");
if (i >= 0) manifest.images[i] = entry;
else manifest.images.push(entry);
const tmp = `${manifestPath}.tmp-${process.pid}`;
writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
renameSync(tmp, manifestPath);
console.log(`updated ${manifestPath} (testkernel: ${entry.files[0].size} bytes, ${entry.files[0].sha256})`);
