// Writes/updates the "teachkernel" and "teachkernel-pv" entries of
// public/images/manifest.json, leaving every other entry untouched.
// Usage: node update-manifest.mjs
import { describeFile, mergeEntries } from "../manifest-lib.mjs";

function entry(name, description) {
  return {
    name,
    description,
    boot: "multiboot",
    files: [describeFile("kernel", `${name}.elf`)],
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

mergeEntries(entries);
