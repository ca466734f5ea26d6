// Refreshes the "linux" and "disk" entries of public/images/manifest.json from the files
// on disk (sha256 and size), keeping every other entry (e.g. "testkernel") as it is.
// The file is re-read right before it is written. Usage: node images/linux/update-manifest.mjs
import { describeFile as describe, mergeEntries } from "../manifest-lib.mjs";

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

mergeEntries(ours);
