// Writes/updates the "testkernel" entry of public/images/manifest.json,
// leaving every other entry untouched. Usage: node update-manifest.mjs
import { describeFile, mergeEntries } from "../manifest-lib.mjs";

const entry = {
  name: "testkernel",
  description:
    "Bare-metal CPU self-test (Multiboot ELF32): protected mode, segmentation, paging (4K, PSE, global), " +
    "exceptions and error codes, ring 3, call gate, #DF task gate. Prints PASS/FAIL lines on COM1.",
  boot: "multiboot",
  files: [describeFile("kernel", "testkernel.elf")],
  ready: "ALL PASS",
};

mergeEntries([entry]);
