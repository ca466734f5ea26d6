import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { Rtc146818, rtcPeriodNs } from "../../src/engine/devices/rtc.ts";

// 2024-01-15 13:45:30 UTC, a Monday.
const EPOCH = Date.UTC(2024, 0, 15, 13, 45, 30);

function setup(epochMs = EPOCH, memoryBytes = 32 * 1024 * 1024) {
  const bus = new IoBus();
  let now = 0;
  let level = false;
  let rises = 0;
  const rtc = new Rtc146818(bus, {
    irq: (l) => {
      if (l && !level) rises++;
      level = l;
    },
    memoryBytes,
    epochMs,
    clock: () => now,
  });
  const cmos = (i: number) => {
    bus.write(0x70, 1, i);
    return bus.read(0x71, 1);
  };
  const setCmos = (i: number, v: number) => {
    bus.write(0x70, 1, i);
    bus.write(0x71, 1, v);
  };
  return {
    rtc,
    bus,
    cmos,
    setCmos,
    at: (t: number) => {
      now = t;
      rtc.advance(t);
    },
    setClock: (t: number) => {
      now = t;
    },
    level: () => level,
    rises: () => rises,
  };
}

describe("MC146818 RTC / CMOS", () => {
  it("reads the time in BCD, 24-hour mode (Linux mc146818_get_time)", () => {
    const t = setup();
    expect(t.cmos(0x0a) & 0x80).toBe(0); // not updating
    expect(t.cmos(0x0b) & 0x06).toBe(0x02); // BCD, 24h
    expect(t.cmos(0x00)).toBe(0x30);
    expect(t.cmos(0x02)).toBe(0x45);
    expect(t.cmos(0x04)).toBe(0x13);
    expect(t.cmos(0x06)).toBe(0x02); // Monday (Sunday = 1)
    expect(t.cmos(0x07)).toBe(0x15);
    expect(t.cmos(0x08)).toBe(0x01);
    expect(t.cmos(0x09)).toBe(0x24);
    expect(t.cmos(0x32)).toBe(0x20);
  });

  it("presents binary and 12-hour formats per register B", () => {
    const t = setup();
    t.setCmos(0x0b, 0x04); // binary, 12-hour
    expect(t.cmos(0x02)).toBe(45);
    expect(t.cmos(0x04)).toBe(0x80 | 1); // 1 PM
    t.setCmos(0x0b, 0x00); // BCD, 12-hour
    expect(t.cmos(0x04)).toBe(0x81);
    const mid = setup(Date.UTC(2024, 0, 15, 0, 5, 0));
    mid.setCmos(0x0b, 0x00);
    expect(mid.cmos(0x04)).toBe(0x12); // 12 AM
  });

  it("advances with virtual time and rolls over the date", () => {
    const t = setup(Date.UTC(1999, 11, 31, 23, 59, 58, 500));
    t.at(1.4e9);
    expect(t.cmos(0x00)).toBe(0x59);
    t.at(1.5e9);
    expect(t.cmos(0x00)).toBe(0x00);
    expect(t.cmos(0x02)).toBe(0x00);
    expect(t.cmos(0x04)).toBe(0x00);
    expect(t.cmos(0x07)).toBe(0x01);
    expect(t.cmos(0x08)).toBe(0x01);
    expect(t.cmos(0x09)).toBe(0x00);
    expect(t.cmos(0x32)).toBe(0x20);
  });

  it("sets UIP during the 244 us before an update", () => {
    const t = setup(); // updates at whole seconds of virtual time
    t.setClock(1e9 - 244_001);
    expect(t.cmos(0x0a) & 0x80).toBe(0);
    t.setClock(1e9 - 244_000);
    expect(t.cmos(0x0a) & 0x80).toBe(0x80);
    t.setClock(1e9);
    expect(t.cmos(0x0a) & 0x80).toBe(0);
    expect(t.cmos(0x00)).toBe(0x31);
  });

  it("lets the guest set the time with the SET bit", () => {
    const t = setup();
    t.setCmos(0x0b, 0x82); // SET, 24h, BCD
    t.at(5e9);
    expect(t.cmos(0x00)).toBe(0x30); // frozen while SET
    expect(t.cmos(0x0a) & 0x80).toBe(0);
    t.setCmos(0x00, 0x00);
    t.setCmos(0x02, 0x00);
    t.setCmos(0x04, 0x08);
    t.setCmos(0x07, 0x01);
    t.setCmos(0x08, 0x07);
    t.setCmos(0x09, 0x25);
    t.setCmos(0x32, 0x20);
    t.setCmos(0x0b, 0x02);
    expect(t.cmos(0x04)).toBe(0x08);
    expect(t.cmos(0x08)).toBe(0x07);
    t.at(8e9);
    expect(t.cmos(0x00)).toBe(0x03);
    expect(t.rtc.guestTimeMs()).toBe(Date.UTC(2025, 6, 1, 8, 0, 3));
  });

  it("raises the periodic interrupt at the register A rate; reading C clears it", () => {
    const t = setup();
    expect(rtcPeriodNs(6)).toBe(976562.5); // 1024 Hz
    expect(rtcPeriodNs(15)).toBe(5e8); // 2 Hz
    expect(rtcPeriodNs(3)).toBe(122070.3125); // 8192 Hz
    expect(rtcPeriodNs(1)).toBe(rtcPeriodNs(8));
    t.setCmos(0x0a, 0x26);
    t.setCmos(0x0b, 0x42); // PIE
    expect(t.rtc.nextDeadline()).toBe(976563);
    t.at(976562);
    expect(t.level()).toBe(false);
    t.at(976563);
    expect(t.level()).toBe(true);
    expect(t.cmos(0x0c)).toBe(0xc0); // IRQF | PF
    expect(t.level()).toBe(false);
    expect(t.cmos(0x0c)).toBe(0x00);
    t.at(t.rtc.nextDeadline());
    expect(t.rises()).toBe(2);
  });

  it("sets PF without an interrupt when PIE is off", () => {
    const t = setup();
    t.setCmos(0x0a, 0x2f); // 2 Hz
    t.setClock(6e8);
    expect(t.cmos(0x0c)).toBe(0x40);
    expect(t.level()).toBe(false);
  });

  it("raises update-ended and alarm interrupts", () => {
    const t = setup();
    t.setCmos(0x0b, 0x12); // UIE
    expect(t.rtc.nextDeadline()).toBe(1e9);
    t.at(1e9);
    expect(t.level()).toBe(true);
    expect(t.cmos(0x0c) & 0xb0).toBe(0x90); // IRQF | UF (PF also runs at the 0x26 rate)
    // Alarm at 13:45:33.
    t.setCmos(0x01, 0x33);
    t.setCmos(0x03, 0x45);
    t.setCmos(0x05, 0x13);
    t.setCmos(0x0b, 0x22); // AIE only
    t.at(2e9);
    expect(t.level()).toBe(false);
    t.at(3e9);
    expect(t.level()).toBe(true);
    expect(t.cmos(0x0c) & 0xb0).toBe(0xb0); // IRQF | AF | UF
    // "Don't care" alarm fields match every second.
    t.setCmos(0x01, 0xff);
    t.setCmos(0x03, 0xc0);
    t.setCmos(0x05, 0xff);
    t.at(4e9);
    expect(t.cmos(0x0c) & 0xa0).toBe(0xa0);
  });

  it("clears UIE when SET is written", () => {
    const t = setup();
    t.setCmos(0x0b, 0x92);
    expect(t.cmos(0x0b)).toBe(0x82);
  });

  it("reports valid RAM in register D and masks NMI via port 0x70 bit 7", () => {
    const t = setup();
    expect(t.cmos(0x0d)).toBe(0x80);
    t.bus.write(0x70, 1, 0x80 | 0x0f);
    expect(t.rtc.nmiMasked).toBe(true);
    t.bus.write(0x70, 1, 0x0f);
    expect(t.rtc.nmiMasked).toBe(false);
  });

  it("stores general CMOS RAM", () => {
    const t = setup();
    t.setCmos(0x50, 0xa5);
    t.setCmos(0x7f, 0x5a);
    expect(t.cmos(0x50)).toBe(0xa5);
    expect(t.cmos(0x7f)).toBe(0x5a);
  });

  it("fills in the memory size, equipment, floppy and checksum fields", () => {
    const t = setup(EPOCH, 32 * 1024 * 1024);
    expect(t.cmos(0x15) | (t.cmos(0x16) << 8)).toBe(640);
    expect(t.cmos(0x17) | (t.cmos(0x18) << 8)).toBe(31 * 1024);
    expect(t.cmos(0x30) | (t.cmos(0x31) << 8)).toBe(31 * 1024);
    expect(t.cmos(0x34) | (t.cmos(0x35) << 8)).toBe(256); // 16 MiB / 64 KiB
    expect(t.cmos(0x10)).toBe(0);
    expect(t.cmos(0x14) & 0x02).toBe(0x02); // coprocessor present
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += t.cmos(i);
    expect((t.cmos(0x2e) << 8) | t.cmos(0x2f)).toBe(sum);
    const big = setup(EPOCH, 1024 * 1024 * 1024);
    expect(big.cmos(0x17) | (big.cmos(0x18) << 8)).toBe(0xffff);
    expect(big.cmos(0x34) | (big.cmos(0x35) << 8)).toBe((1024 - 16) * 16);
    const small = setup(EPOCH, 8 * 1024 * 1024);
    expect(small.cmos(0x34) | (small.cmos(0x35) << 8)).toBe(0);
  });

  it("restores from a snapshot", () => {
    const a = setup();
    a.setCmos(0x0a, 0x26);
    a.setCmos(0x0b, 0x42);
    a.at(5_500_000);
    const b = setup(0);
    b.setClock(5_500_000);
    b.rtc.loadState(JSON.parse(JSON.stringify(a.rtc.saveState())));
    expect(b.rtc.nextDeadline()).toBe(a.rtc.nextDeadline());
    for (const r of [0x00, 0x02, 0x04, 0x0a, 0x0b, 0x0c, 0x0c]) expect(b.cmos(r)).toBe(a.cmos(r));
  });
});
