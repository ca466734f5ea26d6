// Machine snapshots (src/engine/snapshot.ts): a restored machine in deterministic mode behaves
// exactly like the original from the snapshot on (same serial output, instruction count and
// counters), in every mode; corrupt, truncated and foreign files are refused with clear errors.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine, type Mode } from "../src/engine/machine.ts";
import { bootMultiboot } from "../src/engine/boot/multiboot.ts";
import { bootLinux } from "../src/engine/boot/linux.ts";
import { collectStats } from "../src/engine/stats.ts";
import {
  inspectSnapshot,
  loadSnapshot,
  saveSnapshot,
  SnapshotError,
  SNAPSHOT_VERSION,
} from "../src/engine/snapshot.ts";

const img = (p: string) => new Uint8Array(readFileSync(`public/images/${p}`));

function capture(m: Machine): { text: () => string } {
  let out = "";
  m.on((e) => {
    if (e.type === "serial" && e.port === 0) out += String.fromCharCode(e.byte);
  });
  return { text: () => out };
}

/** Run exactly `n` instructions (or until the guest stops), in slices as a host would. */
function runFor(m: Machine, n: number): void {
  const end = m.cpu.icount + n;
  for (let k = 0; k < 10_000 && m.cpu.icount < end; k++) {
    const r = m.runSlice(Math.min(200_000, end - m.cpu.icount));
    if (r.stopped || r.idleUntilNs === Infinity) break;
  }
}

function runUntil(m: Machine, out: { text: () => string }, re: RegExp, max = 2_000): void {
  for (let k = 0; k < max && !re.test(out.text()); k++) {
    const r = m.runSlice(500_000);
    if (r.stopped || r.idleUntilNs === Infinity) break;
  }
}

/** Stats without wall time (the one number that is host time, not guest behaviour). */
function counters(m: Machine) {
  const s = collectStats(m, 1);
  return { ...s, wallMs: 0, mips: 0 };
}

async function checkContinuation(m: Machine, out: { text: () => string }, n: number) {
  const before = out.text().length;
  const bytes = await saveSnapshot(m, { meta: { image: "test" } });
  const r = await loadSnapshot(bytes);
  const rOut = capture(r);
  expect(r.cpu.icount).toBe(m.cpu.icount);
  expect(counters(r)).toEqual(counters(m));
  runFor(m, n);
  runFor(r, n);
  expect(r.cpu.icount).toBe(m.cpu.icount);
  expect(rOut.text()).toBe(out.text().slice(before));
  expect(counters(r)).toEqual(counters(m));
  expect(r.cpu.dumpState()).toBe(m.cpu.dumpState());
  return { bytes, restored: r, produced: rOut.text() };
}

describe("snapshots of the teaching kernel", () => {
  const modes: [Mode, string][] = [
    ["native", "teachkernel.elf"],
    ["bt", "teachkernel.elf"],
    ["hw", "teachkernel.elf"],
    ["hw-noept", "teachkernel.elf"],
    ["pv", "teachkernel-pv.elf"],
  ];
  for (const [mode, file] of modes) {
    it(`${mode}: the restored machine continues exactly like the original`, async () => {
      const m = new Machine({ memoryMiB: 16, deterministic: true, mode });
      const out = capture(m);
      bootMultiboot(m, img(file), { name: file, cmdline: "workload=all ops=20" });
      runUntil(m, out, /WORKLOAD ctxsw ops=20 begin/);
      expect(out.text()).toContain("WORKLOAD ctxsw");
      const { restored } = await checkContinuation(m, out, 3_000_000);
      // Run both to the end: still the same.
      const rOut = capture(restored);
      const before = out.text().length;
      runUntil(m, out, /TEACHKERNEL DONE/);
      runUntil(restored, rOut, /TEACHKERNEL DONE/);
      expect(out.text()).toContain("TEACHKERNEL DONE");
      expect(rOut.text()).toBe(out.text().slice(before));
      expect(counters(restored)).toEqual(counters(m));
    });
  }
});

describe("snapshots of Linux", () => {
  // HW, and PV (KVM paravirtual interface, kvm-clock and virtio devices: their state too).
  for (const mode of ["hw", "pv"] as Mode[]) {
    it(`${mode}: boots, snapshots at the prompt, and both answer a command identically`, async () => {
      const m = new Machine({ memoryMiB: 64, deterministic: true, mode, disk: img("disk.img") });
      const out = capture(m);
      bootLinux(m, img("linux/bzImage"), { cmdline: "console=ttyS0", initrd: img("linux/initramfs.cpio") });
      runUntil(m, out, /VIRTLAB-READY/, 4_000);
      runUntil(m, out, /virtlab:\/# /, 400);
      expect(out.text()).toContain("VIRTLAB-READY");
      const bytes = await saveSnapshot(m);
      const info = await inspectSnapshot(bytes);
      expect(info).toMatchObject({ mode, memoryMiB: 64, deterministic: true, instructions: m.cpu.icount });
      const r = await loadSnapshot(bytes);
      const rOut = capture(r);
      const before = out.text().length;
      const cmd = new TextEncoder().encode("echo snap-$((6*7)) > /tmp/x; cat /tmp/x; uname -m\n");
      m.com1.receive(cmd);
      r.com1.receive(cmd);
      runUntil(m, out, /i686/, 400);
      runUntil(r, rOut, /i686/, 400);
      expect(out.text().slice(before)).toMatch(/snap-42\r?\n/);
      runFor(m, 2_000_000);
      runFor(r, r.cpu.icount > m.cpu.icount ? 0 : m.cpu.icount - r.cpu.icount);
      expect(r.cpu.icount).toBe(m.cpu.icount);
      expect(rOut.text()).toBe(out.text().slice(before));
      expect(counters(r)).toEqual(counters(m));
    }, 900_000);
  }
});

describe("bad snapshot files", () => {
  let good: Uint8Array;
  async function goodSnapshot(): Promise<Uint8Array> {
    if (good) return good;
    const m = new Machine({ memoryMiB: 4, deterministic: true });
    bootMultiboot(m, img("testkernel.elf"), { name: "testkernel.elf" });
    runFor(m, 100_000);
    good = await saveSnapshot(m);
    return good;
  }
  async function refused(bytes: Uint8Array, re: RegExp): Promise<void> {
    const err = await loadSnapshot(bytes).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(re);
  }

  it("refuses a flipped byte anywhere in the content", async () => {
    const b = await goodSnapshot();
    for (const at of [70, Math.floor(b.length / 2), b.length - 1]) {
      const bad = b.slice();
      bad[at] ^= 0x40;
      await refused(bad, /corrupt: its SHA-256 does not match/);
    }
  });
  it("refuses a truncated file", async () => {
    const b = await goodSnapshot();
    await refused(b.subarray(0, b.length - 100), /truncated/);
    await refused(b.subarray(0, 30), /truncated/);
    await refused(new Uint8Array(0), /empty/);
  });
  it("refuses foreign files and other versions", async () => {
    await refused(
      new TextEncoder().encode("PK\x03\x04 this is a zip file, not a snapshot"),
      /not a VirtLab snapshot/,
    );
    const b = (await goodSnapshot()).slice();
    new DataView(b.buffer).setUint32(16, SNAPSHOT_VERSION + 1, true);
    await refused(b, /format version 2; this VirtLab reads version 1.*newer/);
  });
  it("restores the same machine twice from one file", async () => {
    const b = await goodSnapshot();
    const [x, y] = await Promise.all([loadSnapshot(b), loadSnapshot(b)]);
    expect(x.cpu.dumpState()).toBe(y.cpu.dumpState());
    expect(b.length).toBeLessThan(200_000); // 4 MiB of RAM compresses
  });
});
