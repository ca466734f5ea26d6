import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { Port80, Port92 } from "../../src/engine/devices/port92.ts";

describe("port 0x92 (fast A20 / fast reset)", () => {
  it("gates A20 with bit 1 and resets on a 0 -> 1 transition of bit 0", () => {
    const bus = new IoBus();
    const p = new Port92(bus);
    const a20: boolean[] = [];
    let resets = 0;
    p.onA20 = (e) => a20.push(e);
    p.onReset = () => resets++;
    expect(bus.read(0x92, 1)).toBe(0);
    bus.write(0x92, 1, bus.read(0x92, 1) | 0x02); // Linux's enable_a20_fast
    expect(a20).toEqual([true]);
    expect(p.a20).toBe(true);
    expect(bus.read(0x92, 1) & 0x02).toBe(0x02);
    expect(resets).toBe(0);
    bus.write(0x92, 1, 0x03);
    expect(resets).toBe(1);
    bus.write(0x92, 1, 0x03); // no new transition
    expect(resets).toBe(1);
    bus.write(0x92, 1, 0x02);
    bus.write(0x92, 1, 0x03);
    expect(resets).toBe(2);
    bus.write(0x92, 1, 0x00);
    expect(a20).toEqual([true, false]);
    const q = new Port92(new IoBus());
    q.loadState(JSON.parse(JSON.stringify(p.saveState())));
    expect(q.a20).toBe(false);
  });
});

describe("port 0x80 (POST code)", () => {
  it("records the last POST code", () => {
    const bus = new IoBus();
    const p = new Port80(bus);
    const seen: number[] = [];
    p.onPostCode = (c) => seen.push(c);
    bus.write(0x80, 1, 0x55);
    bus.write(0x80, 1, 0x1ab);
    expect(p.lastPostCode).toBe(0xab);
    expect(bus.read(0x80, 1)).toBe(0xab);
    expect(seen).toEqual([0x55, 0xab]);
    expect(bus.counts["post"]).toBe(3);
  });
});
