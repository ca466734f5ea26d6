import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { CP437, VgaText } from "../../src/engine/devices/vga.ts";

function setup() {
  const bus = new IoBus();
  const ram = new Uint8Array(1024 * 1024);
  const vga = new VgaText(bus, { ram });
  const put = (row: number, col: number, text: string, attr = 0x07) => {
    for (let i = 0; i < text.length; i++) {
      const off = 0xb8000 + (row * 80 + col + i) * 2;
      ram[off] = text.charCodeAt(i);
      ram[off + 1] = attr;
    }
  };
  const outb = (p: number, v: number) => bus.write(p, 1, v);
  const inb = (p: number) => bus.read(p, 1);
  return { bus, ram, vga, put, outb, inb };
}

/** Linux vgacon / BIOS style cursor positioning through the CRTC. */
function setCursor(t: ReturnType<typeof setup>, pos: number) {
  t.outb(0x3d4, 0x0e);
  t.outb(0x3d5, pos >> 8);
  t.outb(0x3d4, 0x0f);
  t.outb(0x3d5, pos & 0xff);
}

describe("VGA text mode", () => {
  it("maps code page 437 to Unicode", () => {
    expect(CP437.length).toBe(256);
    expect(CP437[0x41]).toBe("A");
    expect(CP437[0x01]).toBe("☺");
    expect(CP437[0xb3]).toBe("│");
    expect(CP437[0xc9]).toBe("╔");
    expect(CP437[0xdb]).toBe("█");
    expect(CP437[0xe1]).toBe("ß");
    expect(CP437[0xfe]).toBe("■");
  });

  it("renders the 80x25 text buffer at 0xB8000 with attributes", () => {
    const t = setup();
    t.put(0, 0, "Linux version", 0x07);
    t.put(24, 70, "bottom", 0x1f);
    t.ram[0xb8000 + (2 * 80 + 5) * 2] = 0xc9;
    const s = t.vga.textScreen();
    expect(s.cols).toBe(80);
    expect(s.rows).toBe(25);
    expect(s.chars).toHaveLength(25);
    expect(s.chars[0]!.startsWith("Linux version ")).toBe(true);
    expect(s.chars[0]!.length).toBe(80);
    expect(s.chars[24]!.slice(70, 76)).toBe("bottom");
    expect(s.chars[2]![5]).toBe("╔");
    expect(s.attrs[24 * 80 + 70]).toBe(0x1f);
    expect(s.attrs[0]).toBe(0x07);
    expect(t.vga.textRow(24).trimEnd().endsWith("bottom")).toBe(true);
    expect(() => t.vga.textRow(25)).toThrow(RangeError);
  });

  it("follows the CRTC cursor location and cursor-disable bit", () => {
    const t = setup();
    setCursor(t, 3 * 80 + 10);
    expect(t.vga.cursor()).toEqual({ row: 3, col: 10, visible: true });
    t.outb(0x3d4, 0x0a);
    expect(t.inb(0x3d5)).toBe(0x0d); // mode 3 cursor start
    t.outb(0x3d5, 0x20); // cursor off
    expect(t.vga.textScreen().cursor.visible).toBe(false);
    // 16-bit write: index in the low byte, data in the high byte.
    t.bus.write(0x3d4, 2, 0x0e0a);
    expect(t.vga.cursor().visible).toBe(true);
  });

  it("scrolls with the CRTC start address", () => {
    const t = setup();
    t.put(1, 0, "second line");
    t.outb(0x3d4, 0x0c);
    t.outb(0x3d5, 0);
    t.outb(0x3d4, 0x0d);
    t.outb(0x3d5, 80);
    expect(t.vga.textRow(0).trimEnd()).toBe("second line");
    setCursor(t, 80 + 3);
    expect(t.vga.cursor()).toMatchObject({ row: 0, col: 3 });
  });

  it("write-protects CRTC 0-7 while CR11 bit 7 is set", () => {
    const t = setup();
    t.outb(0x3d4, 0x01);
    t.outb(0x3d5, 0x00);
    expect(t.inb(0x3d5)).toBe(0x4f);
    t.outb(0x3d4, 0x11);
    t.outb(0x3d5, t.inb(0x3d5) & 0x7f);
    t.outb(0x3d4, 0x01);
    t.outb(0x3d5, 0x00);
    expect(t.inb(0x3d5)).toBe(0x00);
  });

  it("toggles retrace in input status 1 and resets the attribute flip-flop", () => {
    const t = setup();
    const a = t.inb(0x3da) & 0x08;
    const b = t.inb(0x3da) & 0x08;
    expect(a ^ b).toBe(0x08);
    t.inb(0x3da);
    t.outb(0x3c0, 0x10); // index: mode control
    t.outb(0x3c0, 0x0c); // data
    expect(t.inb(0x3c1)).toBe(0x0c);
    t.outb(0x3c0, 0x12); // flip-flop now at "index" again: this is an index write
    t.inb(0x3da);
    t.outb(0x3c0, 0x20 | 0x01); // index 1 with PAS
    expect(t.inb(0x3c0)).toBe(0x21);
    t.outb(0x3c0, 0x3f);
    expect(t.inb(0x3c1)).toBe(0x3f);
  });

  it("stores sequencer, graphics, misc and DAC registers", () => {
    const t = setup();
    expect(t.inb(0x3cc)).toBe(0x67);
    t.outb(0x3c2, 0x63);
    expect(t.inb(0x3cc)).toBe(0x63);
    t.outb(0x3c4, 0x04);
    expect(t.inb(0x3c5)).toBe(0x02);
    t.outb(0x3ce, 0x06);
    expect(t.inb(0x3cf)).toBe(0x0e);
    t.outb(0x3c8, 5);
    for (const v of [0x3f, 0x20, 0x01, 0x02]) t.outb(0x3c9, v);
    expect(t.inb(0x3c8)).toBe(6);
    expect(t.vga.dacEntry(5)).toEqual([0x3f, 0x20, 0x01]);
    t.outb(0x3c7, 5);
    expect(t.inb(0x3c7) & 3).toBe(3);
    expect([t.inb(0x3c9), t.inb(0x3c9), t.inb(0x3c9), t.inb(0x3c9)]).toEqual([0x3f, 0x20, 0x01, 0x02]);
  });

  it("restores from a snapshot", () => {
    const a = setup();
    setCursor(a, 500);
    a.outb(0x3c8, 1);
    a.outb(0x3c9, 9);
    const b = setup();
    b.vga.loadState(JSON.parse(JSON.stringify(a.vga.saveState())));
    expect(b.vga.cursor()).toEqual(a.vga.cursor());
    expect(b.vga.dacEntry(1)).toEqual([9, 0, 0]);
  });
});
