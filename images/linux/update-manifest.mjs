// Refreshes the "linux" and "disk" entries of public/images/manifest.json from the files
// on disk (sha256 and size), keeping every other entry (e.g. "testkernel") as it is.
// The file is re-read right before it is written. Usage: node images/linux/update-manifest.mjs
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const imagesDir = join(root, "public", "images");
const manifestPath = join(imagesDir, "manifest.json");

function describe(role, path) {
  const abs = join(imagesDir, path);
  if (!existsSync(abs)) throw new Error(`missing ${abs}: build it first`);
  const data = readFileSync(abs);
  return {
    role,
    path,
    sha256: createHash("sha256").update(data).digest("hex"),
    size: statSync(abs).size,
  };
}

const disk = describe("disk", "disk.img");
const ours = [
  {
    name: "linux",
    description:
      "Linux 6.1 (Debian linux-source-6.1, i386 tinyconfig for a P6-class CPU, PIC+PIT only, " +
      "no APIC) with a busybox initramfs; shells on ttyS0 and tty1; the ext2 test disk as /dev/sda " +
      "(or /dev/vda over virtio-blk).",
    boot: "linux",
    cmdline: "console=ttyS0",
    files: [describe("kernel", "linux/bzImage"), describe("initrd", "linux/initramfs.cpio"), disk],
    ready: "VIRTLAB-READY",
  },
  {
    name: "disk",
    description: "Small unpartitioned ext2 test disk (hello.txt, numbers.txt, pattern-64k.bin, SHA256SUMS).",
    boot: "none",
    files: [disk],
  },
];

let manifest = { images: [] };
if (existsSync(manifestPath)) {
  manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (!Array.isArray(manifest.images)) manifest.images = [];
}
for (const entry of ours) {
  const i = manifest.images.findIndex((e) => e && e.name === entry.name);
  if (i >= 0) manifest.images[i] = entry;
  else manifest.images.push(entry);
}
const tmp = `${manifestPath}.tmp-${process.pid}`;
writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
renameSync(tmp, manifestPath);
console.log(`updated ${manifestPath}: ${manifest.images.map((e) => e.name).join(", ")}`);
