import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { Pit8254, pitTicksAt, pitTimeOfTick } from "../../src/engine/devices/pit.ts";

const FREQ = 1193182;
/** Virtual time of PIT tick k, from the 1.193182 MHz input clock. */
const tickNs = (k: number) => Math.ceil((k * 1e9) / FREQ);

function setup() {
  const bus = new IoBus();
  let now = 0;
  let level = false;
  let rises = 0;
  const pit = new Pit8254(bus, {
    irq: (l) => {
      if (l && !level) rises++;
      level = l;
    },
    clock: () => now,
  });
  return {
    pit,
    outb: (p: number, v: number) => bus.write(p, 1, v),
    inb: (p: number) => bus.read(p, 1),
    at: (t: number) => {
      now = t;
      pit.advance(t);
    },
    setClock: (t: number) => {
      now = t;
    },
    rises: () => rises,
    level: () => level,
  };
}

describe("8254 PIT", () => {
  it("converts between ticks and ns at 1.193182 MHz", () => {
    expect(pitTicksAt(1e9)).toBe(FREQ);
    expect(pitTicksAt(3e9 + 5e8)).toBe(3 * FREQ + FREQ / 2);
    for (const k of [1, 1193, 65536, 123456789]) {
      const t = pitTimeOfTick(k);
      expect(pitTicksAt(t)).toBe(k);
      expect(pitTicksAt(t - 1)).toBe(k - 1);
    }
  });

  it("generates periodic IRQ0 in mode 2 as Linux's PIT clockevent (HZ=1000)", () => {
    const t = setup();
    const latch = Math.floor((FREQ + 500) / 1000); // 1193
    t.outb(0x43, 0x34); // ch0, lo/hi, mode 2, binary
    t.outb(0x40, latch & 0xff);
    t.outb(0x40, latch >> 8);
    const r0 = t.rises();
    expect(t.pit.nextDeadline()).toBe(tickNs(latch));
    t.at(tickNs(latch) - 1);
    expect(t.rises()).toBe(r0);
    t.at(tickNs(latch));
    expect(t.rises()).toBe(r0 + 1);
    expect(t.pit.nextDeadline()).toBe(tickNs(2 * latch));
    // Ten more periods, advancing at each deadline: one IRQ each.
    for (let i = 0; i < 10; i++) t.at(t.pit.nextDeadline());
    expect(t.rises()).toBe(r0 + 11);
    expect(t.level()).toBe(true);
  });

  it("counts down in mode 2 and latches the count", () => {
    const t = setup();
    t.outb(0x43, 0x34);
    t.outb(0x40, 0x00);
    t.outb(0x40, 0x10); // 4096
    t.at(tickNs(100));
    t.outb(0x43, 0x00); // latch channel 0
    t.setClock(tickNs(1000)); // time passes, latched value stays
    const lo = t.inb(0x40);
    const hi = t.inb(0x40);
    expect((hi << 8) | lo).toBe(4096 - 100);
    // Unlatched reads follow the counter.
    const lo2 = t.inb(0x40);
    const hi2 = t.inb(0x40);
    expect((hi2 << 8) | lo2).toBe(4096 - 1000);
  });

  it("fires one-shot mode 4 (Linux oneshot) once, N+1 ticks after the count write", () => {
    const t = setup();
    t.outb(0x43, 0x38); // ch0, lo/hi, mode 4
    const r0 = t.rises();
    t.outb(0x40, 0xe8);
    t.outb(0x40, 0x03); // 1000
    expect(t.pit.nextDeadline()).toBe(tickNs(1001));
    t.at(tickNs(1000));
    expect(t.level()).toBe(false); // strobe low at terminal count
    t.at(tickNs(1001));
    expect(t.rises()).toBe(r0 + 1);
    expect(t.pit.nextDeadline()).toBe(Infinity);
    t.at(tickNs(100000));
    expect(t.rises()).toBe(r0 + 1);
  });

  it("raises OUT at terminal count in mode 0 and lowers it on a new count", () => {
    const t = setup();
    t.outb(0x43, 0x30); // ch0, lo/hi, mode 0
    expect(t.level()).toBe(false);
    t.outb(0x40, 100);
    t.outb(0x40, 0);
    t.at(tickNs(99));
    expect(t.level()).toBe(false);
    t.at(tickNs(100));
    expect(t.level()).toBe(true);
    expect(t.rises()).toBe(1);
    t.outb(0x40, 50); // first byte: OUT low immediately
    expect(t.level()).toBe(false);
    t.outb(0x40, 0);
    t.at(tickNs(100) + tickNs(50) + 1);
    expect(t.rises()).toBe(2);
    expect(t.pit.nextDeadline()).toBe(Infinity);
  });

  it("answers the read-back command with status then count", () => {
    const t = setup();
    t.outb(0x43, 0xb6); // ch2, lo/hi, mode 3, binary
    t.outb(0x42, 0x00);
    t.outb(0x42, 0x10);
    t.outb(0x43, 0xc8); // read-back: count + status of channel 2
    const status = t.inb(0x42);
    expect(status & 0x3f).toBe(0x36); // RW=11, mode 3, binary
    expect(status & 0x80).toBe(0x80); // OUT high (mode 3 initial, gate low)
    const lo = t.inb(0x42);
    const hi = t.inb(0x42);
    expect((hi << 8) | lo).toBe(0x1000);
  });

  it("drives channel 2 through port 0x61 as Linux's pit_calibrate_tsc does", () => {
    const t = setup();
    const latch = Math.floor(FREQ / 20); // 50 ms
    t.outb(0x61, (t.inb(0x61) & ~0x02) | 0x01); // gate high, speaker off
    t.outb(0x43, 0xb0); // ch2, lo/hi, mode 0
    t.outb(0x42, latch & 0xff);
    t.outb(0x42, latch >> 8);
    expect(t.inb(0x61) & 0x20).toBe(0);
    t.setClock(tickNs(latch) - 1);
    expect(t.inb(0x61) & 0x20).toBe(0);
    t.setClock(tickNs(latch));
    expect(t.inb(0x61) & 0x20).toBe(0x20);
    expect(t.inb(0x61) & 0x01).toBe(1);
  });

  it("suspends mode 0 counting while gate 2 is low", () => {
    const t = setup();
    t.outb(0x43, 0xb0);
    t.outb(0x42, 0x00);
    t.outb(0x42, 0x01); // 256, gate low: not counting
    t.setClock(tickNs(1000));
    expect(t.inb(0x61) & 0x20).toBe(0);
    t.outb(0x61, 0x01);
    t.setClock(tickNs(1200));
    t.outb(0x43, 0x80);
    expect(t.inb(0x42) | (t.inb(0x42) << 8)).toBe(56);
    t.outb(0x61, 0x00);
    t.setClock(tickNs(5000));
    expect(t.inb(0x61) & 0x20).toBe(0);
    t.outb(0x61, 0x01);
    t.setClock(tickNs(5056));
    expect(t.inb(0x61) & 0x20).toBe(0x20);
  });

  it("plays a square wave on the speaker (mode 3) and reports its frequency", () => {
    const t = setup();
    t.outb(0x43, 0xb6);
    t.outb(0x42, 0xa9);
    t.outb(0x42, 0x04); // 1193 -> ~1000 Hz
    expect(t.pit.speakerFrequencyHz()).toBe(0);
    t.outb(0x61, 0x03);
    expect(t.pit.speakerFrequencyHz()).toBeCloseTo(FREQ / 1193, 6);
    t.outb(0x43, 0xb6);
    t.outb(0x42, 0x00);
    t.outb(0x42, 0x01); // 256: high 128 ticks, low 128
    const start = 0; // programmed at virtual time 0
    t.setClock(tickNs(start + 127));
    expect(t.inb(0x61) & 0x20).toBe(0x20);
    t.setClock(tickNs(start + 128));
    expect(t.inb(0x61) & 0x20).toBe(0);
    t.setClock(tickNs(start + 256));
    expect(t.inb(0x61) & 0x20).toBe(0x20);
    t.outb(0x61, 0x01);
    expect(t.pit.speakerFrequencyHz()).toBe(0);
  });

  it("counts in BCD when asked", () => {
    const t = setup();
    t.outb(0x43, 0x35); // ch0, lo/hi, mode 2, BCD
    t.outb(0x40, 0x00);
    t.outb(0x40, 0x10); // BCD 1000
    expect(t.pit.nextDeadline()).toBe(tickNs(1000));
    t.setClock(tickNs(1));
    t.outb(0x43, 0x00);
    expect(t.inb(0x40)).toBe(0x99);
    expect(t.inb(0x40)).toBe(0x09); // 0999 in BCD
  });

  it("supports lobyte-only and hibyte-only access", () => {
    const t = setup();
    t.outb(0x43, 0x14); // ch0, lobyte, mode 2
    t.outb(0x40, 200);
    expect(t.pit.nextDeadline()).toBe(tickNs(200));
    t.outb(0x43, 0x24); // ch0, hibyte, mode 2
    t.outb(0x40, 0x02); // 512
    expect(t.inb(0x40)).toBe(0x02);
  });

  it("toggles the refresh bit of port 0x61 every 15.085 us", () => {
    const t = setup();
    t.setClock(1000);
    const a = t.inb(0x61) & 0x10;
    t.setClock(1000 + 15085);
    const b = t.inb(0x61) & 0x10;
    expect(a ^ b).toBe(0x10);
  });

  it("restores from a snapshot", () => {
    const a = setup();
    a.outb(0x43, 0x34);
    a.outb(0x40, 0xa9);
    a.outb(0x40, 0x04);
    a.at(tickNs(500));
    const b = setup();
    b.setClock(tickNs(500));
    b.pit.loadState(JSON.parse(JSON.stringify(a.pit.saveState())));
    expect(b.pit.nextDeadline()).toBe(a.pit.nextDeadline());
    a.setClock(tickNs(700));
    b.setClock(tickNs(700));
    a.outb(0x43, 0);
    b.outb(0x43, 0);
    expect(b.inb(0x40)).toBe(a.inb(0x40));
    expect(b.inb(0x40)).toBe(a.inb(0x40));
  });
});

describe("PIT channel 0 -> 8259A IRQ0", () => {
  it("delivers each mode-2 period as a latched edge on the PIC", async () => {
    const { Pic8259 } = await import("../../src/engine/devices/pic.ts");
    const bus = new IoBus();
    const pic = new Pic8259(bus);
    let now = 0;
    const pit = new Pit8254(bus, { irq: pic.irqLine(0), clock: () => now });
    for (const [p, v] of [
      [0x20, 0x11],
      [0x21, 0x30],
      [0x21, 0x04],
      [0x21, 0x01],
      [0x21, 0xfe],
    ]) {
      bus.write(p!, 1, v!);
    }
    bus.write(0x43, 1, 0x34);
    bus.write(0x40, 1, 1193 & 0xff);
    bus.write(0x40, 1, 1193 >> 8);
    // Programming mode 2 drives OUT high (8254: "OUT goes high after the control word"), which
    // the edge-triggered PIC sees as a first request, as on real hardware.
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x30);
    bus.write(0x20, 1, 0x60);
    expect(pic.hasInterrupt()).toBe(false);
    for (let i = 0; i < 3; i++) {
      now = pit.nextDeadline();
      pit.advance(now);
      expect(pic.hasInterrupt()).toBe(true);
      expect(pic.acknowledge()).toBe(0x30);
      bus.write(0x20, 1, 0x60);
      expect(pic.hasInterrupt()).toBe(false);
    }
  });
});
