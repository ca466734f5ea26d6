import { describe, expect, it } from "vitest";
import { Disk, fromBase64, toBase64 } from "../../src/engine/devices/disk.ts";

function image(sectors: number, extra = 0): Uint8Array {
  const b = new Uint8Array(sectors * 512 + extra);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 9)) & 0xff;
  return b;
}

describe("Disk (copy-on-write overlay)", () => {
  it("reads the base image", () => {
    const base = image(20);
    const d = new Disk(base);
    expect(d.sectors).toBe(20);
    expect(d.read(3, 2)).toEqual(base.subarray(3 * 512, 5 * 512));
  });

  it("writes to the overlay and never to the base", () => {
    const base = image(20);
    const copy = base.slice();
    const d = new Disk(base);
    const data = new Uint8Array(1024).fill(0xab);
    d.write(7, data); // crosses the 4 KiB chunk boundary at sector 8
    expect(base).toEqual(copy);
    expect(d.read(7, 2)).toEqual(data);
    expect(d.read(6, 1)).toEqual(base.subarray(6 * 512, 7 * 512)); // rest of the chunk intact
    expect(d.read(9, 1)).toEqual(base.subarray(9 * 512, 10 * 512));
    expect(d.overlayBytes()).toBe(8192);
    d.discardOverlay();
    expect(d.read(7, 1)).toEqual(base.subarray(7 * 512, 8 * 512));
    expect(d.overlayBytes()).toBe(0);
  });

  it("pads an unaligned image with zeros", () => {
    const base = image(2, 100);
    const d = new Disk(base);
    expect(d.sectors).toBe(3);
    const last = d.read(2, 1);
    expect(last.subarray(0, 100)).toEqual(base.subarray(1024, 1124));
    expect(last.subarray(100).every((b) => b === 0)).toBe(true);
    d.write(2, new Uint8Array(512).fill(1));
    expect(d.read(2, 1).every((b) => b === 1)).toBe(true);
    expect(base.length).toBe(1124);
  });

  it("rejects out-of-range and partial-sector accesses", () => {
    const d = new Disk(image(4));
    expect(() => d.read(3, 2)).toThrow(RangeError);
    expect(() => d.write(0, new Uint8Array(100))).toThrow(/whole number of sectors/);
    expect(() => d.read(-1, 1)).toThrow(RangeError);
  });

  it("saves and restores the overlay as JSON", () => {
    const d = new Disk(image(40));
    d.write(33, new Uint8Array(512).fill(0x5a));
    d.write(1, new Uint8Array(512).fill(0x11));
    const saved = JSON.parse(JSON.stringify(d.saveOverlay()));
    const e = new Disk(image(40));
    e.loadOverlay(saved);
    expect(e.read(0, 40)).toEqual(d.read(0, 40));
    expect(() => new Disk(image(41)).loadOverlay(saved)).toThrow(/40-sector disk/);
    const bad = { ...saved, chunks: [[99, saved.chunks[0][1]]] };
    expect(() => new Disk(image(40)).loadOverlay(bad)).toThrow(/corrupt/);
  });

  it("round-trips base64", () => {
    for (const n of [0, 1, 2, 3, 4, 5, 4096]) {
      const b = new Uint8Array(n).map((_, i) => (i * 31) & 0xff);
      expect(fromBase64(toBase64(b))).toEqual(b);
    }
    expect(toBase64(new Uint8Array([0x4d, 0x61, 0x6e]))).toBe("TWFu");
    expect(toBase64(new Uint8Array([0x4d]))).toBe("TQ==");
    expect(() => fromBase64("a")).toThrow(/corrupt/);
  });
});
