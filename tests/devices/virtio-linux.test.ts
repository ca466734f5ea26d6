// Linux 6.1 (virtio_pci modern, virtio_blk, virtio_console, virtio_net built in) on the emulated PC
// with the virtio devices attached: one boot, then the block device, console and net are used.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../../src/engine/machine.ts";
import { bootLinux } from "../../src/engine/boot/linux.ts";
import { Disk } from "../../src/engine/devices/disk.ts";
import { attachVirtio } from "../../src/engine/devices/virtio-setup.ts";

const img = (p: string) => new Uint8Array(readFileSync(`public/images/${p}`));

describe("Linux drives the virtio-pci devices", () => {
  const m = new Machine({ memoryMiB: 128, deterministic: true, disk: img("disk.img") });
  const vdisk = new Disk(img("disk.img")); // a second copy as the virtio-blk backing
  const v = attachVirtio({ pci: m.pci, mem: m.mem, pic: m.pic, disk: vdisk }, { mac: "52:54:00:ab:cd:ef" });
  let out = "";
  let hvc = "";
  m.on((e) => {
    if (e.type === "serial" && e.port === 0) out += String.fromCharCode(e.byte);
  });
  v.console!.onTransmit = (b) => (hvc += new TextDecoder().decode(b));
  const netTx: Uint8Array[] = [];
  v.net!.onTransmit = (f) => netTx.push(f);
  bootLinux(m, img("linux/bzImage"), { cmdline: "console=ttyS0", initrd: img("linux/initramfs.cpio") });

  const waitFor = (cond: () => boolean, what: string, maxInsns = 600e6) => {
    const start = m.cpu.icount;
    while (!cond()) {
      if (m.cpu.icount - start > maxInsns)
        throw new Error(`timed out waiting for ${what}:\n${out.slice(-3000)}`);
      const r = m.runSlice(1_000_000);
      if (r.stopped) throw new Error(`guest stopped: ${m.lastReset?.reason}`);
      if (r.idleUntilNs === Infinity) throw new Error(`guest idle forever waiting for ${what}`);
    }
  };
  const run = (cmd: string) => {
    const from = out.length;
    const tag = `END-${from}`;
    m.com1.receive(`${cmd}; echo ${tag.slice(0, 4)}""${tag.slice(4)}\n`);
    const re = new RegExp(`\\n([\\s\\S]*)${tag}`);
    waitFor(() => re.test(out.slice(from)), cmd);
    return re.exec(out.slice(from))![1]!.replace(/\r/g, "");
  };

  const t0 = performance.now();
  // Kernel messages may follow the prompt (and ESC[6n), so it is not anchored at the end.
  waitFor(() => /virtlab:\/# /.test(out), "the shell prompt");
  const bootMs = performance.now() - t0;

  it("binds virtio_pci, virtio_blk, virtio_console and virtio_net", () => {
    console.log(
      `boot with virtio: ${(m.cpu.icount / 1e6).toFixed(0)}M instructions, ${(bootMs / 1000).toFixed(1)} s`,
    );
    expect(out).toContain("virtio_blk virtio0: [vda] 2048 512-byte logical blocks");
    expect(out).not.toMatch(/Kernel panic|BUG:|Oops|virtio.*(refuses features|error)/i);
    const lsDrivers = run("ls /sys/bus/virtio/drivers/*/");
    expect(lsDrivers).toMatch(/virtio0/);
    expect(lsDrivers).toMatch(/virtio1/);
    expect(lsDrivers).toMatch(/virtio2/);
    expect(v.blk!.deviceStatus & 0x0f).toBe(0x0f); // ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    expect(v.console!.deviceStatus & 0x0f).toBe(0x0f);
    expect(v.net!.deviceStatus & 0x0f).toBe(0x0f);
    expect(v.blk!.negotiatedFeatures >> 32n).toBe(1n); // VIRTIO_F_VERSION_1
  });

  it("mounts /dev/vda and reads a file from it", () => {
    const before = { ...v.blk!.counters };
    expect(run("mount /dev/vda /mnt && cat /mnt/hello.txt")).toContain("Hello from the VirtLab disk");
    const c = v.blk!.counters;
    expect(c.notifications).toBeGreaterThan(before.notifications);
    expect(c.interrupts).toBeGreaterThan(before.interrupts);
    expect(c.requests).toBeGreaterThan(before.requests);
    expect(c.bytesToGuest).toBeGreaterThan(before.bytesToGuest);
    expect(c.errors).toBe(0);
  });

  it("writes through virtio-blk into the copy-on-write overlay", () => {
    expect(run("echo written-by-guest > /mnt/new.txt && sync && umount /mnt && echo ok")).toContain("ok");
    expect(vdisk.overlayBytes()).toBeGreaterThan(0);
    expect(run("mount /dev/vda /mnt && cat /mnt/new.txt")).toContain("written-by-guest");
    expect(v.blk!.requestCounts.write).toBeGreaterThan(0);
  });

  it("data written to /dev/hvc0 reaches onTransmit, and receive() reaches the guest", () => {
    run("echo hi > /dev/hvc0");
    expect(hvc).toContain("hi\r\n"); // the tty's onlcr adds the CR
    const from = out.length;
    m.com1.receive("read -r line < /dev/hvc0; echo got-$line\n");
    // Let the shell block in read() first, then type on the virtio console.
    for (let k = 0; k < 20; k++) m.runSlice(1_000_000);
    v.console!.receive("pong\n");
    waitFor(() => out.slice(from).includes("got-pong"), "got-pong");
    expect(v.console!.counters.bytesToGuest).toBeGreaterThanOrEqual(5);
  });

  it("virtio-net shows up as eth0 with the configured MAC", () => {
    expect(run("cat /sys/class/net/eth0/address")).toContain("52:54:00:ab:cd:ef");
  });
});
