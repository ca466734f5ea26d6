// PV mode with a stock Linux: the guest negotiates KVM's paravirtual interface (hypervisor CPUID
// leaves, kvm-clock) and uses virtio split drivers; its disk is /dev/vda.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../../src/engine/machine.ts";
import { bootLinux } from "../../src/engine/boot/linux.ts";
import { collectStats } from "../../src/engine/stats.ts";

const img = (p: string) => new Uint8Array(readFileSync(`public/images/${p}`));

describe("Linux in PV mode", () => {
  const m = new Machine({ memoryMiB: 128, deterministic: true, disk: img("disk.img"), mode: "pv" });
  let out = "";
  m.on((e) => {
    if (e.type === "serial" && e.port === 0) out += String.fromCharCode(e.byte);
  });
  bootLinux(m, img("linux/bzImage"), { cmdline: "console=ttyS0", initrd: img("linux/initramfs.cpio") });
  const until = (re: RegExp) => {
    for (let n = 0; n < 800 && !re.test(out); n++) m.runSlice(1_000_000);
    return re.test(out);
  };
  until(/virtlab:\/# /);
  m.com1.receive(
    "mount /dev/vda /mnt && cat /mnt/hello.txt; ls /dev/sda; cat /sys/devices/system/clocksource/clocksource0/current_clocksource; " +
      "date; cat /proc/uptime; sleep 1; cat /proc/uptime; echo END$((40+2))\n",
  );
  until(/END42/);
  const s = collectStats(m, 0);

  it("detects the hypervisor and uses kvm-clock as its clocksource", () => {
    expect(out).toContain("Hypervisor detected: KVM");
    expect(out).toContain("kvm-clock: Using msrs 4b564d01 and 4b564d00");
    expect(out).toMatch(/Switched to clocksource kvm-clock/);
    expect(out).toMatch(/\nkvm-clock\r?\n/);
    expect(s.kvm!.pvclockUpdates).toBeGreaterThan(0);
    expect(s.vmx!.exits["wrmsr"]).toBeGreaterThanOrEqual(2); // the two kvm-clock MSRs
  });

  it("keeps time through kvm-clock: the RTC date, and one second of sleep", () => {
    expect(out).toMatch(/Thu Jan {2}1 00:00:\d\d UTC 2026/);
    const up = [...out.matchAll(/\n(\d+\.\d+) \d+\.\d+/g)].map((x) => parseFloat(x[1]));
    expect(up.length).toBeGreaterThanOrEqual(2);
    const dt = up[up.length - 1] - up[up.length - 2];
    expect(dt).toBeGreaterThanOrEqual(1.0);
    expect(dt).toBeLessThan(1.1);
  });

  it("binds the virtio drivers and its disk is /dev/vda (no emulated IDE disk)", () => {
    expect(out).toMatch(/virtio_blk virtio0: \[vda\] 2048 512-byte logical blocks/);
    expect(out).toContain("Hello from the VirtLab disk");
    expect(out).toMatch(/ls: \/dev\/sda: No such file or directory/);
    const blk = s.virtio!["virtio-blk"];
    expect(blk.notifications).toBeGreaterThan(0);
    expect(blk.interrupts).toBeGreaterThan(0);
    expect(blk.requests).toBeGreaterThan(0);
  });
});
