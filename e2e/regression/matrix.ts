// The regression matrix: every bootable image × every mode, what each run must print, and the
// counter invariants each mode must satisfy. Used by the Node half (matrix.spec.ts, through the
// Node automation API) and the page half (page.spec.ts, through the Playwright fixture): the same
// script and the same checks, whichever side runs the engine.

import type { MachineStats, Mode, VirtLabVM } from "../../src/automation/types.ts";
import { TEACH_WORKLOADS } from "../../src/engine/compare.ts";

export const MODES: readonly Mode[] = ["native", "bt", "pv", "hw", "hw-noept"];
export const FULL_VIRT: readonly Mode[] = ["native", "bt", "hw", "hw-noept"];

export type ImageName = "testkernel" | "teachkernel" | "linux";
export const IMAGES: readonly ImageName[] = ["testkernel", "teachkernel", "linux"];

/** The manifest image that runs `image` in `mode`: the teaching kernel has its own PV build. */
export function imageFor(image: ImageName, mode: Mode): string {
  return image === "teachkernel" && mode === "pv" ? "teachkernel-pv" : image;
}

/** The test kernel is not paravirtualized: PV mode cannot run it (it has no registered trap handlers). */
export function expectedToRun(image: ImageName, mode: Mode): boolean {
  return !(image === "testkernel" && mode === "pv");
}

export const TEACH_CMDLINE = "workload=all ops=20";
/** The teaching kernel's workloads, in the order TEACH_CMDLINE runs them (one list: compare.ts). */
export { TEACH_WORKLOADS };

/**
 * The Linux workload: the disk (IDE natively, virtio-blk in PV), its checksums, processes, pipes,
 * arithmetic, a file in tmpfs. Each entry's output must be the same in every mode.
 */
export const LINUX_COMMANDS = [
  "uname -srm",
  "d=$(ls /dev/vda /dev/sda /dev/hda 2>/dev/null | head -1); mount $d /mnt && cd /mnt && sha256sum -c SHA256SUMS; cd /; umount /mnt",
  "i=0; while [ $i -lt 10 ]; do (true); i=$((i+1)); done; echo forks-$i",
  "seq 1 200 | sort -rn | head -3 | tr '\\n' ' '; echo $((123456789 * 3))",
  "echo hello > /tmp/x && cat /tmp/x /tmp/x | wc -l",
  "grep -c processor /proc/cpuinfo; grep 'model name' /proc/cpuinfo",
];

export interface RunRecord {
  image: string;
  mode: Mode;
  /** Whole serial output. */
  output: string;
  /** Outputs of the scripted commands (Linux), or the result lines (teaching kernel). */
  results: string[];
  instructions: number;
  stats: MachineStats;
}

/** Boot and script one cell of the matrix. */
export async function runCell(vm: VirtLabVM, image: ImageName, mode: Mode): Promise<RunRecord> {
  const name = imageFor(image, mode);
  const cmdline = image === "teachkernel" ? TEACH_CMDLINE : undefined;
  await vm.boot(name, { mode, cmdline, deterministic: true, timeoutMs: 240_000 });
  const results: string[] = [];
  if (image === "linux") {
    for (const c of LINUX_COMMANDS) results.push(await vm.run(c, { timeoutMs: 120_000 }));
  } else if (image === "teachkernel") {
    // Timings (tsc=, ticks=) are the measurement and differ by design; the rest must not.
    const out = await vm.output();
    for (const m of out.matchAll(/^RESULT (\S+) ops=(\d+) .* (ok|FAIL)\r?$/gm))
      results.push(`${m[1]} ${m[2]} ${m[3]}`);
  } else {
    const out = await vm.output();
    for (const m of out.matchAll(/^(PASS|FAIL)\b.*$/gm)) results.push(m[0].replace(/\r$/, ""));
  }
  const stats = await vm.stats();
  return { image: name, mode, output: await vm.output(), results, instructions: stats.instructions, stats };
}

const sum = (r: Record<string, number> | undefined) => Object.values(r ?? {}).reduce((a, b) => a + b, 0);

/**
 * Counter invariants, as a list of violations (empty = all hold).
 *
 * - Hypercalls (stats.pv: the VirtLab hypercall ABI) only in PV mode, and there for every guest of
 *   that ABI (the teaching kernel's PV build). A stock Linux in PV mode runs as KVM runs its
 *   guests: hardware-assisted with EPT plus KVM's paravirtual interface (kvm-clock MSRs, pvclock
 *   updates) and virtio — so it has VM exits and EPT violations, kvm and virtio counters, and no
 *   stats.pv.
 * - VM exits (stats.vmx) only in hw and hw-noept, and in pv for Linux (KVM-style, above); EPT
 *   violations only in hw and Linux-in-pv.
 * - Shadow paging (stats.shadow: hidden and tracing faults) only in bt and hw-noept, and hidden
 *   faults there for every guest that pages.
 * - BT callouts only in bt.
 */
export function invariantViolations(image: ImageName, mode: Mode, s: MachineStats): string[] {
  const v: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) v.push(what);
  };
  const linuxPv = image === "linux" && mode === "pv";
  check(s.mode === mode, `stats.mode is ${s.mode}`);
  check(s.instructions > 0, "no instructions executed");
  // Hypercalls.
  if (mode === "pv" && !linuxPv) check(sum(s.pv?.hypercalls) > 0, "PV guest made no hypercalls");
  else check(s.pv === undefined, "hypercall counters outside PV mode (or for Linux in PV)");
  // KVM paravirtual interface and virtio: Linux in PV only.
  if (linuxPv) {
    check(
      (s.kvm?.msrWrites ?? 0) >= 2 && (s.kvm?.pvclockUpdates ?? 0) > 0,
      "Linux in PV does not use kvm-clock",
    );
    check((s.virtio?.["virtio-blk"]?.notifications ?? 0) > 0, "Linux in PV made no virtio-blk notifications");
  } else {
    check(s.kvm === undefined, "kvm-clock counters outside Linux in PV");
    check(s.virtio === undefined, "virtio counters outside Linux in PV");
  }
  // VM exits and EPT.
  const exits = mode === "hw" || mode === "hw-noept" || linuxPv;
  const ept = mode === "hw" || linuxPv;
  if (exits) check(sum(s.vmx?.exits) > 0, "no VM exits in a hardware-assisted mode");
  else check(s.vmx === undefined, "VM exits outside the hardware-assisted modes");
  if (ept) check((s.ept?.violations ?? 0) > 0, "no EPT violations with EPT on");
  else check(s.ept === undefined, "EPT counters without EPT");
  // Shadow paging.
  const shadow = mode === "bt" || mode === "hw-noept";
  if (shadow) {
    check((s.shadow?.hiddenFaults ?? 0) > 0, "no hidden faults under shadow paging");
    check(s.shadow?.tracingFaults !== undefined, "no tracing-fault counter under shadow paging");
    if (image !== "testkernel")
      check((s.shadow?.tracingFaults ?? 0) > 0, "no tracing faults under shadow paging");
  } else check(s.shadow === undefined, "shadow-paging faults outside bt and hw-noept");
  // Binary translation.
  if (mode === "bt") check(sum(s.bt?.callouts) > 0, "no BT callouts in bt mode");
  else check(s.bt === undefined, "BT counters outside bt mode");
  return v;
}

/** The counters without the wall-clock figures (which measure the host, not the guest). */
export function guestCounters(s: MachineStats): Omit<MachineStats, "wallMs" | "mips"> {
  const { wallMs: _w, mips: _m, ...rest } = s;
  return rest;
}
