import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { I8042, SET2_TO_SET1 } from "../../src/engine/devices/i8042.ts";

function setup(commandByte?: number) {
  const bus = new IoBus();
  let l1 = false;
  let l12 = false;
  let irq1Rises = 0;
  let irq12Rises = 0;
  const kbc = new I8042(bus, {
    irq1: (l) => {
      if (l && !l1) irq1Rises++;
      l1 = l;
    },
    irq12: (l) => {
      if (l && !l12) irq12Rises++;
      l12 = l;
    },
    ...(commandByte !== undefined ? { commandByte } : {}),
  });
  const a20: boolean[] = [];
  let resets = 0;
  kbc.onA20 = (e) => a20.push(e);
  kbc.onReset = () => resets++;
  const inb = (p: number) => bus.read(p, 1);
  const outb = (p: number, v: number) => bus.write(p, 1, v);
  /** Read everything available from the output buffer. */
  const drain = () => {
    const out: number[] = [];
    while (inb(0x64) & 1) out.push(inb(0x60));
    return out;
  };
  /** Controller command with optional data byte, as Linux's i8042_command does. */
  const cmd = (c: number, data?: number) => {
    outb(0x64, c);
    if (data !== undefined) outb(0x60, data);
  };
  return {
    kbc,
    inb,
    outb,
    drain,
    cmd,
    a20,
    resets: () => resets,
    irq1: () => l1,
    irq12: () => l12,
    irq1Rises: () => irq1Rises,
    irq12Rises: () => irq12Rises,
  };
}

describe("i8042 keyboard controller", () => {
  it("passes the controller self-test (0xAA -> 0x55) and interface tests", () => {
    const t = setup();
    expect(t.inb(0x64) & 1).toBe(0);
    t.cmd(0xaa);
    expect(t.inb(0x64) & 1).toBe(1);
    expect(t.inb(0x64) & 0x08).toBe(0x08); // last write was a command
    expect(t.drain()).toEqual([0x55]);
    expect(t.inb(0x64) & 0x04).toBe(0x04); // system flag
    t.cmd(0xab);
    expect(t.drain()).toEqual([0x00]);
    t.cmd(0xa9);
    expect(t.drain()).toEqual([0x00]);
  });

  it("reads and writes the command byte (0x20/0x60)", () => {
    const t = setup();
    t.cmd(0x20);
    expect(t.drain()).toEqual([0x45]);
    t.cmd(0x60, 0x65);
    expect(t.inb(0x64) & 0x08).toBe(0); // last write was data
    t.cmd(0x20);
    expect(t.drain()).toEqual([0x65]);
    t.cmd(0xad);
    t.cmd(0x20);
    expect(t.drain()[0]! & 0x10).toBe(0x10);
    t.cmd(0xae);
    t.cmd(0xa7);
    t.cmd(0x20);
    expect(t.drain()[0]! & 0x30).toBe(0x20);
    t.cmd(0xa8);
    t.cmd(0x20);
    expect(t.drain()[0]! & 0x30).toBe(0);
  });

  it("translates set 2 make/break codes to set 1 when XLATE is set", () => {
    const t = setup(); // 0x45: XLATE on
    t.kbc.keyDown("KeyA");
    expect(t.drain()).toEqual([0x1e]);
    t.kbc.keyUp("KeyA");
    expect(t.drain()).toEqual([0x9e]);
    t.kbc.keyDown("ArrowUp");
    t.kbc.keyUp("ArrowUp");
    expect(t.drain()).toEqual([0xe0, 0x48, 0xe0, 0xc8]);
    t.kbc.keyDown("F7"); // set 2 0x83 -> set 1 0x41
    expect(t.drain()).toEqual([0x41]);
    // Table spot checks from the 8042 translation table.
    expect(SET2_TO_SET1[0x76]).toBe(0x01); // Esc
    expect(SET2_TO_SET1[0x5a]).toBe(0x1c); // Enter
    expect(SET2_TO_SET1[0x29]).toBe(0x39); // Space
    expect(SET2_TO_SET1[0x12]).toBe(0x2a); // Left Shift
  });

  it("delivers raw set 2 when XLATE is clear", () => {
    const t = setup(0x05);
    t.kbc.keyDown("KeyA");
    t.kbc.keyUp("KeyA");
    t.kbc.keyDown("ControlRight");
    t.kbc.keyUp("ControlRight");
    expect(t.drain()).toEqual([0x1c, 0xf0, 0x1c, 0xe0, 0x14, 0xe0, 0xf0, 0x14]);
  });

  it("raises IRQ1 per byte when command byte bit 0 is set, one byte at a time", () => {
    const t = setup();
    t.kbc.keyDown("KeyB");
    t.kbc.keyUp("KeyB");
    expect(t.irq1()).toBe(true);
    expect(t.irq1Rises()).toBe(1);
    expect(t.inb(0x60)).toBe(0x30);
    expect(t.irq1Rises()).toBe(2); // next byte loaded -> new edge
    expect(t.inb(0x60)).toBe(0xb0);
    expect(t.irq1()).toBe(false);
    expect(t.inb(0x64) & 1).toBe(0);
    const noInt = setup(0x44);
    noInt.kbc.keyDown("KeyB");
    expect(noInt.irq1()).toBe(false);
    expect(noInt.inb(0x64) & 1).toBe(1);
  });

  it("answers keyboard commands: reset, identify, echo, LEDs, scan code set, resend", () => {
    const t = setup(0x05); // no translation: raw device bytes
    t.outb(0x60, 0xff);
    expect(t.drain()).toEqual([0xfa, 0xaa]);
    t.outb(0x60, 0xf2);
    expect(t.drain()).toEqual([0xfa, 0xab, 0x83]);
    t.outb(0x60, 0xee);
    expect(t.drain()).toEqual([0xee]);
    t.outb(0x60, 0xed);
    t.outb(0x60, 0x07);
    expect(t.drain()).toEqual([0xfa, 0xfa]);
    t.outb(0x60, 0xf3);
    t.outb(0x60, 0x20);
    expect(t.drain()).toEqual([0xfa, 0xfa]);
    t.outb(0x60, 0xf0);
    t.outb(0x60, 0x00);
    expect(t.drain()).toEqual([0xfa, 0xfa, 0x02]); // ACK command, ACK argument, set number
    t.outb(0x60, 0xf0);
    t.outb(0x60, 0x01);
    expect(t.drain()).toEqual([0xfa, 0xfa]);
    t.kbc.keyDown("KeyA");
    t.kbc.keyUp("KeyA");
    expect(t.drain()).toEqual([0x1e, 0x9e]); // keyboard now sends set 1
    t.outb(0x60, 0xfe); // resend the last byte
    expect(t.drain()).toEqual([0x9e]);
    t.outb(0x60, 0xf6); // defaults: back to set 2
    expect(t.drain()).toEqual([0xfa]);
    t.outb(0x60, 0x77); // not a command
    expect(t.drain()).toEqual([0xfe]);
  });

  it("returns the translated identify bytes that Linux's atkbd expects (AB 41)", () => {
    const t = setup();
    t.outb(0x60, 0xf2);
    expect(t.drain()).toEqual([0xfa, 0xab, 0x41]);
  });

  it("stops scanning on 0xF5 and resumes on 0xF4", () => {
    const t = setup();
    t.outb(0x60, 0xf5);
    expect(t.drain()).toEqual([0xfa]);
    t.kbc.keyDown("KeyA");
    expect(t.drain()).toEqual([]);
    t.outb(0x60, 0xf4);
    expect(t.drain()).toEqual([0xfa]);
    t.kbc.keyDown("KeyA");
    expect(t.drain()).toEqual([0x1e]);
  });

  it("holds keystrokes while the keyboard interface is disabled (0xAD/0xAE)", () => {
    const t = setup();
    t.cmd(0xad);
    t.kbc.keyDown("KeyQ");
    expect(t.drain()).toEqual([]);
    t.cmd(0xae);
    expect(t.drain()).toEqual([0x10]);
  });

  it("controls A20 and reset through the output port", () => {
    const t = setup();
    expect(t.kbc.a20).toBe(true);
    t.cmd(0xd0);
    const op = t.drain()[0]!;
    expect(op & 0x03).toBe(0x03); // reset line high, A20 enabled
    t.cmd(0xd1, 0xdd); // A20 off
    expect(t.a20).toEqual([false]);
    expect(t.kbc.a20).toBe(false);
    t.cmd(0xd1, 0xdf); // A20 on (the classic sequence)
    expect(t.a20).toEqual([false, true]);
    t.cmd(0xdd);
    t.cmd(0xdf);
    expect(t.a20).toEqual([false, true, false, true]);
    expect(t.resets()).toBe(0);
    t.cmd(0xfe);
    expect(t.resets()).toBe(1);
    t.cmd(0xff); // pulses nothing
    expect(t.resets()).toBe(1);
  });

  it("writes the keyboard and aux output buffers (0xD2/0xD3) with their IRQs", () => {
    const t = setup(0x47); // both interrupts enabled
    t.cmd(0xd2, 0x99);
    expect(t.inb(0x64) & 0x21).toBe(0x01);
    expect(t.irq1()).toBe(true);
    expect(t.inb(0x60)).toBe(0x99);
    t.cmd(0xd3, 0x5a);
    expect(t.inb(0x64) & 0x21).toBe(0x21);
    expect(t.irq12()).toBe(true);
    expect(t.irq1()).toBe(false);
    expect(t.inb(0x60)).toBe(0x5a);
    expect(t.irq12()).toBe(false);
  });

  it("times out bytes sent to the absent aux device (0xD4)", () => {
    const t = setup(0x47);
    t.cmd(0xd4, 0xff);
    const st = t.inb(0x64);
    expect(st & 0x61).toBe(0x61); // OBF | AUXB | timeout
    expect(t.inb(0x60)).toBe(0xfe);
    expect(t.inb(0x64) & 0x40).toBe(0);
  });

  it("types text with shift as make/break sequences", () => {
    const t = setup();
    t.kbc.typeText("Hi\n");
    expect(t.drain()).toEqual([0x2a, 0x23, 0xa3, 0xaa, 0x17, 0x97, 0x1c, 0x9c]);
    t.kbc.typeText("\t\b ~");
    expect(t.drain()).toEqual([0x0f, 0x8f, 0x0e, 0x8e, 0x39, 0xb9, 0x2a, 0x29, 0xa9, 0xaa]);
    expect(() => t.kbc.typeText("ok é")).toThrow(/cannot type/);
    expect(t.kbc.pendingBytes()).toBe(0);
    expect(t.inb(0x64) & 1).toBe(0);
    expect(t.kbc.keyDown("NoSuchKey")).toBe(false);
  });

  it("sends the PrintScreen and Pause sequences", () => {
    const t = setup(0x05);
    t.kbc.keyDown("Pause");
    expect(t.drain()).toEqual([0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]);
    t.kbc.keyDown("PrintScreen");
    expect(t.drain()).toEqual([0xe0, 0x12, 0xe0, 0x7c]);
  });

  it("restores from a snapshot", () => {
    const a = setup();
    a.kbc.typeText("abc");
    a.inb(0x60);
    const b = setup();
    b.kbc.loadState(JSON.parse(JSON.stringify(a.kbc.saveState())));
    expect(b.drain()).toEqual(a.drain());
  });
});
