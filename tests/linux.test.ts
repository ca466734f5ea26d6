// Issue "PC platform and a real Linux": the committed `linux` image boots on VirtLab's PC to a busybox
// shell that answers commands on the serial console and on the VGA console (via the i8042 keyboard).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/engine/machine.ts";
import { bootLinux } from "../src/engine/boot/linux.ts";

const img = (p: string) => new Uint8Array(readFileSync(`public/images/${p}`));

/** A booted guest with helpers to run a serial command and wait for output. */
class Guest {
  readonly m: Machine;
  out = "";
  constructor(cmdline = "console=ttyS0") {
    this.m = new Machine({ memoryMiB: 128, deterministic: true, disk: img("disk.img") });
    this.m.on((e) => {
      if (e.type === "serial" && e.port === 0) this.out += String.fromCharCode(e.byte);
    });
    bootLinux(this.m, img("linux/bzImage"), { cmdline, initrd: img("linux/initramfs.cpio") });
  }
  /** Run until `re` matches the output after `from`; returns the match. */
  waitFor(re: RegExp, from = 0, maxInsns = 600e6): RegExpExecArray {
    const start = this.m.cpu.icount;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      if (this.m.cpu.icount - start > maxInsns) throw new Error(`no ${re} in:\n${this.out.slice(from)}`);
      const r = this.m.runSlice(1_000_000);
      if (r.stopped) throw new Error(`guest stopped: ${this.m.lastReset?.reason}`);
      if (r.idleUntilNs === Infinity) throw new Error(`guest idle forever waiting for ${re}`);
    }
  }
  /** Type a command on ttyS0 and return its output (up to a unique end marker). */
  run(cmd: string): string {
    const from = this.out.length;
    const tag = `END-${from}`;
    this.m.com1.receive(`${cmd}; echo ${tag.slice(0, 4)}""${tag.slice(4)}\n`);
    const m = this.waitFor(new RegExp(`\\n([\\s\\S]*)${tag}`), from);
    return m[1].replace(/\r/g, "");
  }
}

describe("Linux on the emulated PC (interpreter, deterministic)", () => {
  const g = new Guest();
  const t0 = performance.now();
  g.waitFor(/VIRTLAB-READY/);
  const bootInsns = g.m.cpu.icount;
  const bootMs = performance.now() - t0;
  // Kernel messages may still follow the prompt, so it is not anchored at the end.
  g.waitFor(/virtlab:\/# /);

  it("boots to VIRTLAB-READY with the devices found", () => {
    console.log(
      `boot to VIRTLAB-READY: ${(bootInsns / 1e6).toFixed(0)}M instructions, ${(bootMs / 1000).toFixed(1)} s`,
    );
    expect(g.out).toContain("Linux version 6.1");
    expect(g.out).toMatch(/serial8250: ttyS0 at I\/O 0x3f8 \(irq = 4[^)]*\) is a 16550A/);
    expect(g.out).toMatch(/ata1\.00: ATA-6: VirtLab disk/);
    expect(g.out).toMatch(/rtc_cmos rtc_cmos: setting system clock to 2026-01-01T00:00:0\d UTC/);
    expect(g.out).not.toMatch(/Kernel panic|BUG:|Oops/);
  });

  it("uname -a", () => {
    expect(g.run("uname -a")).toMatch(/Linux virtlab 6\.1\.\d+\S* #1 .* i686 GNU\/Linux/);
  });

  it("cat /proc/cpuinfo shows the P6-class CPU and its features", () => {
    const c = g.run("cat /proc/cpuinfo");
    expect(c).toMatch(/vendor_id\s*: GenuineIntel/);
    expect(c).toMatch(/cpu family\s*: 6/);
    expect(c).toMatch(/model name\s*: VirtLab P6-class virtual CPU/);
    expect(c).toMatch(/flags\s*: fpu de pse tsc msr cx8 sep pge cmov fxsr/);
  });

  it("ls /", () => {
    expect(g.run("ls /").split(/\s+/)).toEqual(
      expect.arrayContaining(["bin", "dev", "etc", "proc", "sys", "tmp"]),
    );
  });

  it("mounts the ext2 disk and reads a file", () => {
    expect(g.run("mount /dev/sda /mnt && cat /mnt/hello.txt")).toContain("Hello from the VirtLab disk");
  });

  it("reads the whole disk with dd", () => {
    const r = g.run("dd if=/dev/sda of=/dev/null bs=64k");
    expect(r).toContain("16+0 records in"); // 1 MiB disk in 64 KiB blocks
    expect(r).toContain("16+0 records out");
  });

  it("forks 1000 processes in a shell loop", () => {
    expect(g.run("i=0; while [ $i -lt 1000 ]; do (true); i=$((i+1)); done; echo forks-$i")).toContain(
      "forks-1000",
    );
  });

  it("date shows the RTC time (fixed epoch in deterministic mode)", () => {
    expect(g.run("date")).toMatch(/Thu Jan {2}1 00:00:\d\d UTC 2026/);
  });

  it("sleep 1 takes about a second of virtual time", () => {
    // The guest's clock is virtual time: uptime before and after must differ by about one second.
    const t0 = g.m.now();
    const [a, b] = g
      .run("cat /proc/uptime; sleep 1; cat /proc/uptime")
      .split("\n")
      .filter((l) => /^\d+\.\d+ /.test(l))
      .map((l) => parseFloat(l));
    expect(b - a).toBeGreaterThanOrEqual(1.0);
    expect(b - a).toBeLessThan(1.1);
    // Seen from the host the command lasts at least that second (plus the shell's own latency:
    // busybox waits for an answer to its ESC[6n cursor query, which a raw serial line never sends).
    expect((g.m.now() - t0) / 1e9).toBeGreaterThanOrEqual(1.0);
  });

  it("keyboard input reaches the shell on tty1 and shows in the VGA text buffer", () => {
    const screen = () =>
      g.m.vga
        .textScreen()
        .chars.map((r) => r.trimEnd())
        .join("\n");
    g.m.i8042.typeText("\n");
    for (let k = 0; k < 200 && !/virtlab:\/# /.test(screen()); k++) g.m.runSlice(1_000_000);
    g.m.i8042.typeText("echo kbd-$((2*21))\n");
    for (let k = 0; k < 400 && !screen().includes("kbd-42\n"); k++) g.m.runSlice(1_000_000);
    expect(screen()).toMatch(/^kbd-42$/m);
  });
});

describe("a guest kernel panic", () => {
  it("is detected on the console and reported", () => {
    const g = new Guest("console=ttyS0 rdinit=/nonexistent root=/dev/nonexistent");
    let panic: string | null = null;
    g.m.on((e) => {
      if (e.type === "panic") panic = e.message;
    });
    g.waitFor(/Kernel panic - not syncing/);
    g.m.runSlice(100_000);
    expect(panic).toMatch(/VFS: Unable to mount root fs|No working init found/);
    expect(g.m.panicMessage).toBe(panic);
  });
});
