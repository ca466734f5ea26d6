// Boot-path input checking (Linux boot protocol, initrd) and the triple-fault reset event.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine, type MachineEvent } from "../src/engine/machine.ts";
import { bootLinux, checkInitrd, isBzImage } from "../src/engine/boot/linux.ts";
import { ImageError } from "../src/engine/boot/errors.ts";
import { enterFlatProtectedMode } from "../src/engine/boot/entry.ts";
import { SA_DB, SA_G, SA_VALID } from "../src/engine/cpu/cpu.ts";

const bz = new Uint8Array(readFileSync("public/images/linux/bzImage"));
const cpio = new Uint8Array(readFileSync("public/images/linux/initramfs.cpio"));

function bootError(f: () => void): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return (e as Error).message;
  }
  throw new Error("expected an ImageError");
}

describe("Linux boot protocol input", () => {
  it("recognises the committed bzImage and boots it into protected mode at code32_start", () => {
    expect(isBzImage(bz)).toBe(true);
    const m = new Machine({ memoryMiB: 64 });
    const info = bootLinux(m, bz, { cmdline: "console=ttyS0", initrd: cpio });
    expect(info.protocol).toBeGreaterThanOrEqual(0x20f);
    expect(m.cpu.eip).toBe(0x100000);
    expect(m.cpu.regs[6]).toBe(0x10000); // ESI -> boot_params
    expect(m.cpu.sel[1]).toBe(0x10); // __BOOT_CS
    expect(m.mem.read32(0x10000 + 0x218)).toBe(info.initrdAddr); // ramdisk_image
    expect(m.mem.read32(0x10000 + 0x21c)).toBe(cpio.length); // ramdisk_size
    expect(info.initrdAddr % 4096).toBe(0);
    expect(info.initrdAddr + cpio.length).toBeLessThanOrEqual(64 << 20);
    expect(m.mem.read8(0x10000 + 0x1e8)).toBe(4); // e820 entries
  });

  it("passes an RNG seed as setup_data: fixed on a deterministic machine, random otherwise", () => {
    // Boot protocol 2.09+: setup_data (0x250) -> { u64 next; u32 type = SETUP_RNG_SEED (9); u32 len; data }
    const seedOf = (m: Machine) => {
      const sd = m.mem.read32(0x10000 + 0x250);
      expect(m.mem.read32(0x10000 + 0x254)).toBe(0);
      expect(sd).toBeGreaterThan(0);
      expect([m.mem.read32(sd), m.mem.read32(sd + 4)]).toEqual([0, 0]); // the last of the list
      expect(m.mem.read32(sd + 8)).toBe(9);
      expect(m.mem.read32(sd + 12)).toBe(32);
      return Array.from({ length: 32 }, (_, k) => m.mem.read8(sd + 16 + k));
    };
    const boot = (deterministic: boolean) => {
      const m = new Machine({ memoryMiB: 64, deterministic });
      bootLinux(m, bz, { cmdline: "console=ttyS0", initrd: cpio });
      return seedOf(m);
    };
    const d = boot(true);
    expect(boot(true)).toEqual(d);
    expect(new Set(d).size).toBeGreaterThan(16);
    const r1 = boot(false),
      r2 = boot(false);
    expect(r1).not.toEqual(r2);
    expect(r1).not.toEqual(d);
  });

  it("refuses a truncated kernel, naming the file", () => {
    const m = new Machine({ memoryMiB: 64 });
    expect(bootError(() => bootLinux(m, bz.subarray(0, 500_000), { kernelName: "k.bz" }))).toMatch(
      /^k\.bz: truncated/,
    );
  });

  it("refuses garbage as a kernel", () => {
    const m = new Machine({ memoryMiB: 64 });
    expect(bootError(() => bootLinux(m, new Uint8Array(8192).fill(7), { kernelName: "g" }))).toMatch(
      /not a bzImage/,
    );
  });

  it("refuses a kernel that cannot decompress in the given memory", () => {
    const m = new Machine({ memoryMiB: 4 });
    expect(bootError(() => bootLinux(m, bz, {}))).toMatch(/give the guest more memory/);
  });

  it("accepts the committed initramfs and refuses garbage and truncated ones", () => {
    expect(() => checkInitrd(cpio, "i")).not.toThrow();
    expect(bootError(() => checkInitrd(new Uint8Array(4096).fill(0x41), "junk.cpio"))).toMatch(
      /^junk\.cpio: not an initramfs/,
    );
    expect(bootError(() => checkInitrd(cpio.subarray(0, cpio.length >> 1), "half.cpio"))).toMatch(
      /^half\.cpio: truncated cpio archive/,
    );
    expect(() => checkInitrd(new Uint8Array([0x1f, 0x8b, 8, 0]), "gz")).not.toThrow();
  });
});

describe("triple fault", () => {
  it("becomes a reported reset event with a CPU state dump, never a host exception", () => {
    const m = new Machine({ memoryMiB: 4, deterministic: true });
    const events: MachineEvent[] = [];
    m.on((e) => events.push(e));
    const cpu = m.cpu;
    // Flat protected mode with an empty IDT: UD2 -> #UD -> #GP (no gate) -> #DF -> triple fault.
    cpu.setCr0(cpu.cr0 | 1);
    cpu.setSegCache(1, 0x08, 0, -1, 0x9b | SA_DB | SA_G | SA_VALID);
    for (const s of [0, 2, 3, 4, 5]) cpu.setSegCache(s, 0x10, 0, -1, 0x93 | SA_DB | SA_G | SA_VALID);
    cpu.idtLimit = 0;
    m.mem.load(0x100000, new Uint8Array([0x0f, 0x0b]));
    cpu.eip = 0x100000;
    const r = m.runSlice(1000);
    expect(r.stopped).toBe(true);
    const reset = events.find((e) => e.type === "reset");
    expect(reset).toBeDefined();
    if (reset?.type !== "reset") return;
    expect(reset.reason).toMatch(/^triple fault/);
    expect(reset.state).toMatch(/EIP=00100000/);
    expect(reset.state).toMatch(/CR0=/);
    expect(cpu.vectorCounts[6]).toBe(1);
    expect(cpu.vectorCounts[8]).toBe(1);
  });
});

describe("a halted CPU", () => {
  it("with IF=0 is idle for good even while timers are programmed (no endless time skipping)", () => {
    const m = new Machine({ memoryMiB: 4, deterministic: true });
    // Program PIT channel 0 (mode 2, 100 Hz) and unmask IRQ0, then cli; hlt.
    // mov al,0x34; out 0x43,al; mov al,0x9c; out 0x40,al; mov al,0x2e; out 0x40,al; cli; hlt
    const code = [0xb0, 0x34, 0xe6, 0x43, 0xb0, 0x9c, 0xe6, 0x40, 0xb0, 0x2e, 0xe6, 0x40, 0xfa, 0xf4];
    m.mem.load(0x100000, new Uint8Array(code));
    enterFlatProtectedMode(m, 0x8000, 0x08, 0x10, 0x100000);
    expect(m.pit.nextDeadline()).toBe(Infinity); // before programming
    const r = m.runSlice(1_000_000);
    expect(m.cpu.halted).toBe(true);
    expect(m.pit.nextDeadline()).toBeLessThan(Infinity);
    expect(r.idleUntilNs).toBe(Infinity);
    expect(r.executed).toBe(8); // three mov/out pairs, cli, hlt
  });
});
