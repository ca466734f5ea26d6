import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { Pic8259 } from "../../src/engine/devices/pic.ts";

function setup() {
  const bus = new IoBus();
  const intr: boolean[] = [];
  const pic = new Pic8259(bus, { onIntr: (p) => intr.push(p) });
  const outb = (p: number, v: number) => bus.write(p, 1, v);
  const inb = (p: number) => bus.read(p, 1);
  return { bus, pic, outb, inb, intr };
}

/** Linux arch/x86/kernel/i8259.c init_8259A(auto_eoi). */
function linuxInit(outb: (p: number, v: number) => void, autoEoi = false) {
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  outb(0x20, 0x11); // ICW1: edge, cascade, ICW4
  outb(0x21, 0x30); // ICW2: vectors 0x30-0x37
  outb(0x21, 0x04); // ICW3: slave on IR2
  outb(0x21, autoEoi ? 0x03 : 0x01); // ICW4: 8086 mode (+AEOI)
  outb(0xa0, 0x11);
  outb(0xa1, 0x38);
  outb(0xa1, 0x02); // slave identity 2
  outb(0xa1, 0x01);
  outb(0x21, 0xfb); // everything masked but the cascade
  outb(0xa1, 0xff);
}

function readIsr(t: ReturnType<typeof setup>, port: number): number {
  t.outb(port, 0x0b);
  const v = t.inb(port);
  t.outb(port, 0x0a);
  return v;
}

describe("8259A PIC pair", () => {
  it("is detected by Linux's probe (IMR reads back)", () => {
    const t = setup();
    t.outb(0x21, 0xff);
    expect(t.inb(0x21)).toBe(0xff);
    t.outb(0x21, 0x5a);
    expect(t.inb(0x21)).toBe(0x5a);
  });

  it("delivers IRQ0 with the ICW2 vector after Linux's init_8259A and clears ISR on specific EOI", () => {
    const t = setup();
    linuxInit(t.outb);
    expect(t.pic.vectorBase(0)).toBe(0x30);
    expect(t.pic.vectorBase(1)).toBe(0x38);
    t.outb(0x21, 0xfa); // unmask IRQ0
    t.pic.setIrq(0, true);
    expect(t.pic.hasInterrupt()).toBe(true);
    expect(t.intr.at(-1)).toBe(true);
    expect(t.inb(0x20) & 1).toBe(1); // IRR (default read after init)
    expect(t.pic.acknowledge()).toBe(0x30);
    expect(t.pic.hasInterrupt()).toBe(false);
    expect(readIsr(t, 0x20)).toBe(0x01);
    expect(t.inb(0x20) & 1).toBe(0); // IRR cleared by INTA (edge)
    t.outb(0x20, 0x60); // specific EOI IR0 (Linux mask_and_ack_8259A)
    expect(readIsr(t, 0x20)).toBe(0);
  });

  it("masks requests with IMR and keeps them pending", () => {
    const t = setup();
    linuxInit(t.outb);
    t.pic.setIrq(1, true);
    expect(t.pic.hasInterrupt()).toBe(false);
    t.outb(0x21, 0xf8);
    expect(t.pic.hasInterrupt()).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x31);
  });

  it("applies fully nested priority: higher IR preempts, lower waits", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0x21, 0x00);
    t.pic.setIrq(3, true);
    expect(t.pic.acknowledge()).toBe(0x33);
    t.pic.setIrq(5, true);
    expect(t.pic.hasInterrupt()).toBe(false); // IR5 lower than IR3 in service
    t.pic.setIrq(1, true);
    expect(t.pic.hasInterrupt()).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x31);
    expect(readIsr(t, 0x20)).toBe(0x0a);
    t.outb(0x20, 0x20); // non-specific EOI clears the highest: IR1
    expect(readIsr(t, 0x20)).toBe(0x08);
    expect(t.pic.hasInterrupt()).toBe(false);
    t.outb(0x20, 0x20);
    expect(t.pic.acknowledge()).toBe(0x35);
  });

  it("cascades slave IRQs through master IR2", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0xa1, 0xef); // unmask IRQ12
    t.pic.setIrq(12, true);
    expect(t.pic.hasInterrupt()).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x3c);
    expect(readIsr(t, 0x20)).toBe(0x04);
    expect(readIsr(t, 0xa0)).toBe(0x10);
    t.outb(0xa0, 0x64); // specific EOI slave IR4
    t.outb(0x20, 0x62); // specific EOI master IR2
    expect(readIsr(t, 0x20)).toBe(0);
    expect(readIsr(t, 0xa0)).toBe(0);
    expect(t.pic.hasInterrupt()).toBe(false);
  });

  it("routes an AT-bus IRQ2 request to IRQ9", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0xa1, 0xfd);
    t.pic.setIrq(2, true);
    expect(t.pic.acknowledge()).toBe(0x39);
  });

  it("edge mode latches a pulse; level mode follows the line (ELCR)", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0x21, 0x00);
    // Edge: short pulse still delivered.
    t.pic.setIrq(4, true);
    t.pic.setIrq(4, false);
    expect(t.pic.acknowledge()).toBe(0x34);
    t.outb(0x20, 0x20);
    // A line held high does not re-trigger after EOI in edge mode.
    t.pic.setIrq(4, true);
    expect(t.pic.acknowledge()).toBe(0x34);
    t.outb(0x20, 0x20);
    expect(t.pic.hasInterrupt()).toBe(false);
    t.pic.setIrq(4, false);
    // Level mode via ELCR: re-asserts after EOI while the line stays high.
    t.outb(0x4d0, 0x08); // IRQ3 level
    expect(t.inb(0x4d0)).toBe(0x08);
    t.pic.setIrq(3, true);
    expect(t.pic.acknowledge()).toBe(0x33);
    t.outb(0x20, 0x63);
    expect(t.pic.hasInterrupt()).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x33);
    t.outb(0x20, 0x63);
    t.pic.setIrq(3, false);
    expect(t.pic.hasInterrupt()).toBe(false);
  });

  it("keeps the ELCR reserved bits at zero (IRQ0-2, IRQ8, IRQ13)", () => {
    const t = setup();
    t.outb(0x4d0, 0xff);
    t.outb(0x4d1, 0xff);
    expect(t.inb(0x4d0)).toBe(0xf8);
    expect(t.inb(0x4d1)).toBe(0xde);
  });

  it("returns the spurious IR7 vector without setting ISR, and IR15 through the cascade", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0x21, 0x00);
    expect(t.pic.acknowledge()).toBe(0x37);
    expect(readIsr(t, 0x20)).toBe(0);
    // Slave level request withdrawn after the master latched IR2.
    t.outb(0xa1, 0x00);
    t.outb(0x4d1, 0x04); // IRQ10 level
    t.pic.setIrq(10, true);
    t.pic.setIrq(10, false);
    expect(t.pic.hasInterrupt()).toBe(true); // master IR2 edge latched
    expect(t.pic.acknowledge()).toBe(0x3f);
    expect(readIsr(t, 0xa0)).toBe(0);
    expect(readIsr(t, 0x20)).toBe(0x04);
  });

  it("does not set ISR in auto-EOI mode", () => {
    const t = setup();
    linuxInit(t.outb, true);
    t.outb(0x21, 0x00);
    t.pic.setIrq(1, true);
    expect(t.pic.acknowledge()).toBe(0x31);
    expect(readIsr(t, 0x20)).toBe(0);
  });

  it("rotates priorities with OCW2 set-priority and rotate-on-EOI", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0x21, 0x00);
    t.outb(0x20, 0xc3); // IR3 lowest -> IR4 highest
    t.pic.setIrq(1, true);
    t.pic.setIrq(5, true);
    expect(t.pic.acknowledge()).toBe(0x35);
    t.outb(0x20, 0xa0); // rotate on non-specific EOI: IR5 becomes lowest, IR6 highest
    expect(t.pic.acknowledge()).toBe(0x31);
    t.outb(0x20, 0x20);
    t.pic.setIrq(6, true);
    t.pic.setIrq(0, true);
    expect(t.pic.acknowledge()).toBe(0x36);
    t.outb(0x20, 0xe6); // rotate on specific EOI 6
    expect(t.pic.acknowledge()).toBe(0x30);
  });

  it("answers poll commands", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0x21, 0x00);
    t.outb(0x20, 0x0c);
    expect(t.inb(0x20)).toBe(0x00);
    t.pic.setIrq(5, true);
    t.outb(0x20, 0x0c);
    expect(t.inb(0x20)).toBe(0x85);
    expect(readIsr(t, 0x20)).toBe(0x20);
  });

  it("lets lower priorities in under special mask mode", () => {
    const t = setup();
    linuxInit(t.outb);
    t.outb(0x21, 0x00);
    t.pic.setIrq(3, true);
    expect(t.pic.acknowledge()).toBe(0x33);
    t.pic.setIrq(6, true);
    expect(t.pic.hasInterrupt()).toBe(false);
    t.outb(0x21, 0x08); // mask IR3
    t.outb(0x20, 0x68); // set special mask mode
    expect(t.pic.hasInterrupt()).toBe(true);
    expect(t.pic.acknowledge()).toBe(0x36);
    t.outb(0x20, 0x48); // reset special mask mode
  });

  it("restores from a snapshot", () => {
    const a = setup();
    linuxInit(a.outb);
    a.outb(0x21, 0x00);
    a.outb(0xa1, 0x00);
    a.pic.setIrq(3, true);
    a.pic.acknowledge();
    a.pic.setIrq(9, true);
    a.pic.setIrq(1, true);
    const b = setup();
    b.pic.loadState(JSON.parse(JSON.stringify(a.pic.saveState())));
    expect(b.pic.registers).toEqual(a.pic.registers);
    expect(b.pic.acknowledge()).toBe(a.pic.acknowledge());
    expect(b.pic.acknowledge()).toBe(a.pic.acknowledge());
  });
});
