// Same guest, same results: one Linux workload in every implemented mode gives identical output and
// executes the same guest instructions; only the monitor's counters differ, as the designs do.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FULL_VIRTUALIZATION_MODES as MODES, Machine, type Mode } from "../../src/engine/machine.ts";
import { bootLinux } from "../../src/engine/boot/linux.ts";
import { collectStats } from "../../src/engine/stats.ts";

const img = (p: string) => new Uint8Array(readFileSync(`public/images/${p}`));
const WORKLOAD =
  "mount /dev/sda /mnt && cd /mnt && sha256sum -c SHA256SUMS 2>&1 | tail -3; cd /; i=0; while [ $i -lt 50 ]; do (true); i=$((i+1)); done; echo forks-$i; echo END$((40+2))\n";

function run(mode: Mode) {
  const m = new Machine({ memoryMiB: 128, deterministic: true, disk: img("disk.img"), mode });
  let out = "";
  m.on((e) => {
    if (e.type === "serial" && e.port === 0) out += String.fromCharCode(e.byte);
  });
  bootLinux(m, img("linux/bzImage"), { cmdline: "console=ttyS0", initrd: img("linux/initramfs.cpio") });
  let sent = false;
  while (!out.includes("END42")) {
    if (!sent && out.includes("virtlab:/# ")) {
      m.com1.receive(WORKLOAD);
      sent = true;
    }
    const r = m.runSlice(1_000_000);
    if (r.stopped || m.cpu.icount > 800e6) throw new Error(`${mode}: no END42 in\n${out.slice(-2000)}`);
  }
  return { out, icount: m.cpu.icount, stats: collectStats(m, 0) };
}

describe("one Linux workload in every mode", () => {
  const runs = Object.fromEntries(MODES.map((mode) => [mode, run(mode)])) as Record<
    Mode,
    ReturnType<typeof run>
  >;

  it("prints the same output and runs the same guest instructions everywhere", () => {
    expect(runs.native.out).toMatch(/pattern-64k\.bin: OK/);
    expect(runs.native.out).toContain("forks-50");
    for (const mode of MODES) {
      expect(runs[mode].out, mode).toBe(runs.native.out);
      expect(runs[mode].icount, mode).toBe(runs.native.icount);
    }
  });

  it("counts what each design does: callouts only in bt, EPT only in hw, shadow faults in bt and hw-noept", () => {
    const { hw, "hw-noept": noept, native, bt } = runs;
    expect(bt.stats.vmx).toBeUndefined();
    expect(bt.stats.bt!.callouts["CLI"]).toBeGreaterThan(0);
    expect(bt.stats.bt!.directInsns).toBeGreaterThan(0);
    expect(bt.stats.shadow!.hiddenFaults).toBeGreaterThan(0);
    expect(bt.stats.shadow!.hiddenFaults).toBe(noept.stats.shadow!.hiddenFaults);
    expect(hw.stats.bt).toBeUndefined();
    expect(native.stats.vmx).toBeUndefined();
    expect(hw.stats.ept!.violations).toBeGreaterThan(0);
    expect(hw.stats.shadow).toBeUndefined();
    expect(noept.stats.ept).toBeUndefined();
    expect(noept.stats.shadow!.hiddenFaults).toBeGreaterThan(0);
    expect(noept.stats.shadow!.tracingFaults).toBeGreaterThan(0);
    // Without EPT the monitor sees page faults, CR3 loads and INVLPG; with EPT it sees none of them.
    expect(noept.stats.vmx!.exits["exception-nmi"]).toBeGreaterThan(
      hw.stats.vmx!.exits["exception-nmi"] ?? 0,
    );
    expect(noept.stats.vmx!.exits["invlpg"]).toBeGreaterThan(0);
    expect(hw.stats.vmx!.exits["invlpg"]).toBeUndefined();
    // Both see the same device I/O (every port access exits) and CPUID.
    expect(noept.stats.vmx!.exits["io-instruction"]).toBe(hw.stats.vmx!.exits["io-instruction"]);
    expect(noept.stats.vmx!.exits["cpuid"]).toBe(hw.stats.vmx!.exits["cpuid"]);
  });
});
