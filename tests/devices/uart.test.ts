import { describe, expect, it } from "vitest";
import { IoBus } from "../../src/engine/io.ts";
import { Uart16550 } from "../../src/engine/devices/uart.ts";

const BASE = 0x3f8;
const RBR = BASE,
  THR = BASE,
  IER = BASE + 1,
  IIR = BASE + 2,
  FCR = BASE + 2,
  LCR = BASE + 3,
  MCR = BASE + 4,
  LSR = BASE + 5,
  MSR = BASE + 6,
  SCR = BASE + 7;

function setup() {
  const bus = new IoBus();
  const irq: boolean[] = [];
  let level = false;
  let now = 0;
  const uart = new Uart16550(bus, {
    name: "com1",
    base: BASE,
    irq: (l) => {
      level = l;
      irq.push(l);
    },
    clock: () => now,
  });
  const out: number[] = [];
  uart.onTransmit = (b) => out.push(b);
  return {
    bus,
    uart,
    out,
    irq,
    level: () => level,
    setTime: (t: number) => {
      now = t;
    },
    inb: (p: number) => bus.read(p, 1),
    outb: (p: number, v: number) => bus.write(p, 1, v),
  };
}

describe("16550A UART", () => {
  it("passes the Linux 8250 autoconfig probe (IER, scratch, loopback, FIFO type)", () => {
    const { inb, outb } = setup();
    // IER test: write 0, read 0; write 0x0F, read 0x0F (only the low nibble exists).
    outb(IER, 0);
    expect(inb(IER) & 0x0f).toBe(0);
    outb(IER, 0xff);
    expect(inb(IER)).toBe(0x0f);
    outb(IER, 0);
    // Scratch register.
    outb(SCR, 0xa5);
    expect(inb(SCR)).toBe(0xa5);
    outb(SCR, 0x5a);
    expect(inb(SCR)).toBe(0x5a);
    // Loopback test: MCR = LOOP | OUT2 | RTS -> MSR high nibble = DCD | CTS = 0x90.
    outb(MCR, 0x10 | 0x0a);
    expect(inb(MSR) & 0xf0).toBe(0x90);
    outb(MCR, 0);
    // 16550A FIFO detection: FCR bit0 set -> IIR bits 7..6 = 11.
    outb(FCR, 0x01);
    expect(inb(IIR) >> 6).toBe(3);
    outb(FCR, 0xc1);
    expect(inb(IIR) & 0xc0).toBe(0xc0);
    expect(inb(IIR) & 0x0f).toBe(0x01); // no interrupt pending
    // Not a 16750: IIR bit 5 stays 0 even with FCR bit 5 written.
    outb(FCR, 0x21);
    expect(inb(IIR) & 0x20).toBe(0);
    // FIFOs off: IIR bits 7..6 = 00.
    outb(FCR, 0);
    expect(inb(IIR) & 0xc0).toBe(0);
  });

  it("exposes divisor latch with DLAB and reports 8250 reset values", () => {
    const { inb, outb } = setup();
    expect(inb(LSR)).toBe(0x60); // THRE | TEMT
    expect(inb(IIR)).toBe(0x01);
    outb(LCR, 0x83);
    outb(BASE, 0x01);
    outb(BASE + 1, 0x00);
    expect(inb(BASE)).toBe(0x01);
    expect(inb(BASE + 1)).toBe(0x00);
    outb(LCR, 0x03);
    expect(inb(LCR)).toBe(0x03);
  });

  it("transmits bytes and raises THRE following 16550 rules", () => {
    const t = setup();
    t.outb(MCR, 0x0b); // DTR RTS OUT2
    t.outb(THR, 0x41);
    expect(t.out).toEqual([0x41]);
    expect(t.inb(LSR) & 0x60).toBe(0x60);
    expect(t.level()).toBe(false); // ETBEI off
    // Enabling ETBEI while THR is empty raises the THRE interrupt.
    t.outb(IER, 0x02);
    expect(t.level()).toBe(true);
    expect(t.inb(IIR) & 0x0f).toBe(0x02);
    // The IIR read that reported THRE cleared it.
    expect(t.level()).toBe(false);
    expect(t.inb(IIR) & 0x0f).toBe(0x01);
    // Writing THR: transmitted at once, THRE interrupt again.
    t.outb(THR, 0x42);
    expect(t.level()).toBe(true);
    expect(t.out).toEqual([0x41, 0x42]);
    // Linux's UART_BUG_THRE test: IER=THRI -> IIR shows THRI; IER=0; IER=THRI -> shows again.
    t.inb(IIR);
    t.outb(IER, 0);
    t.outb(IER, 0x02);
    expect(t.inb(IIR) & 0x0f).toBe(0x02);
  });

  it("gates the IRQ with MCR.OUT2", () => {
    const t = setup();
    t.outb(IER, 0x02);
    expect(t.level()).toBe(false); // interrupt pending but OUT2 = 0
    expect(t.inb(IIR) & 0x0f).toBe(0x02);
    t.outb(IER, 0);
    t.outb(MCR, 0x08);
    t.outb(IER, 0x02);
    expect(t.level()).toBe(true);
  });

  it("receives in non-FIFO mode through RBR, refilling from the host queue", () => {
    const t = setup();
    t.outb(MCR, 0x08);
    t.outb(IER, 0x01);
    t.uart.receive("hi");
    expect(t.level()).toBe(true);
    expect(t.inb(IIR) & 0x0f).toBe(0x04);
    expect(t.inb(LSR) & 0x01).toBe(1);
    expect(t.inb(RBR)).toBe(0x68);
    expect(t.inb(LSR) & 0x01).toBe(1); // next byte moved in
    expect(t.inb(RBR)).toBe(0x69);
    expect(t.inb(LSR) & 0x01).toBe(0);
    expect(t.level()).toBe(false);
    expect(t.inb(IIR)).toBe(0x01);
  });

  it("uses the FIFO trigger level and the character timeout", () => {
    const t = setup();
    t.outb(LCR, 0x83);
    t.outb(BASE, 1); // 115200 baud
    t.outb(BASE + 1, 0);
    t.outb(LCR, 0x03); // 8N1: 10 bits per character
    t.outb(FCR, 0x87); // enable, clear, trigger 8
    t.outb(MCR, 0x0b);
    t.outb(IER, 0x01);
    t.setTime(1000);
    t.uart.receive(new Uint8Array([1, 2, 3]));
    expect(t.level()).toBe(false); // 3 < trigger 8
    expect(t.inb(IIR)).toBe(0xc1);
    const charNs = (10 * 1e9) / 115200;
    expect(t.uart.charTimeNs()).toBeCloseTo(charNs, 6);
    expect(t.uart.nextDeadline()).toBeCloseTo(1000 + 4 * charNs, 3);
    t.uart.advance(1000 + 3 * charNs);
    expect(t.level()).toBe(false);
    t.setTime(1000 + 4 * charNs + 1);
    t.uart.advance(1000 + 4 * charNs + 1);
    expect(t.level()).toBe(true);
    expect(t.inb(IIR)).toBe(0xcc); // character timeout
    expect(t.inb(RBR)).toBe(1); // reading clears the timeout indication and restarts the timer
    expect(t.inb(IIR)).toBe(0xc1);
    expect(t.inb(RBR)).toBe(2);
    expect(t.inb(RBR)).toBe(3);
    expect(t.uart.nextDeadline()).toBe(Infinity);
    // At or above the trigger level: received data available.
    t.uart.receive(new Uint8Array(20).fill(7));
    expect(t.inb(IIR)).toBe(0xc4);
    let n = 0;
    while (t.inb(LSR) & 1) {
      t.inb(RBR);
      n++;
    }
    expect(n).toBe(20);
    expect(t.uart.pendingInput()).toBe(0);
  });

  it("holds at most 16 bytes in the FIFO; the rest waits in the host queue", () => {
    const t = setup();
    t.outb(FCR, 0x01);
    t.uart.receive(new Uint8Array(40).map((_, i) => i));
    expect(t.uart.pendingInput()).toBe(24);
    for (let i = 0; i < 40; i++) expect(t.inb(RBR)).toBe(i);
  });

  it("loops transmitted data back to the receiver in loopback mode, with overrun", () => {
    const t = setup();
    t.outb(MCR, 0x10);
    t.outb(THR, 0x55);
    expect(t.out).toEqual([]);
    expect(t.inb(LSR) & 0x01).toBe(1);
    t.outb(THR, 0x66); // RBR full (non-FIFO): overrun
    expect(t.inb(LSR) & 0x03).toBe(0x03);
    expect(t.inb(LSR) & 0x02).toBe(0); // LSR read cleared OE
    expect(t.inb(RBR)).toBe(0x55);
  });

  it("raises line status interrupts for break and clears them on LSR read", () => {
    const t = setup();
    t.outb(MCR, 0x08);
    t.outb(IER, 0x05);
    t.uart.receiveBreak();
    expect(t.inb(IIR) & 0x0f).toBe(0x06);
    expect(t.inb(LSR) & 0x11).toBe(0x11);
    expect(t.inb(IIR) & 0x0f).toBe(0x04); // the 0 byte is still there
    expect(t.inb(RBR)).toBe(0);
    expect(t.level()).toBe(false);
  });

  it("reports modem status deltas and interrupts", () => {
    const t = setup();
    t.outb(MCR, 0x08);
    t.inb(MSR);
    t.outb(IER, 0x08);
    t.uart.setModemLines({ cts: false });
    expect(t.level()).toBe(true);
    expect(t.inb(IIR) & 0x0f).toBe(0x00);
    const msr = t.inb(MSR);
    expect(msr & 0x01).toBe(1); // DCTS
    expect(msr & 0x10).toBe(0);
    expect(t.level()).toBe(false);
    // Trailing edge of RI sets TERI.
    t.uart.setModemLines({ ri: true });
    expect(t.inb(MSR) & 0x04).toBe(0);
    t.uart.setModemLines({ ri: false });
    expect(t.inb(MSR) & 0x04).toBe(0x04);
  });

  it("restores from a snapshot and behaves identically", () => {
    const a = setup();
    a.outb(FCR, 0xc1);
    a.outb(MCR, 0x0b);
    a.outb(IER, 0x03);
    a.outb(SCR, 0x12);
    a.uart.receive("abcdefghijklmnopqrstuvwxyz");
    const state = JSON.parse(JSON.stringify(a.uart.saveState()));
    const b = setup();
    b.uart.loadState(state);
    for (let i = 0; i < 30; i++) {
      expect(b.inb(IIR)).toBe(a.inb(IIR));
      expect(b.inb(LSR)).toBe(a.inb(LSR));
      expect(b.inb(RBR)).toBe(a.inb(RBR));
    }
    expect(b.inb(SCR)).toBe(0x12);
  });
});
