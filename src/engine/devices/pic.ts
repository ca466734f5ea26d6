// Intel 8259A programmable interrupt controller, PC/AT master/slave pair, with the PIIX3 ELCR.
//
//   master: 0x20 (command) / 0x21 (data), IRQ 0-7, slave cascaded on IRQ2
//   slave:  0xA0 (command) / 0xA1 (data), IRQ 8-15
//   ELCR:   0x4D0 (IRQ 0-7, bits 0-2 reserved 0) / 0x4D1 (IRQ 8-15, bits 0 and 5 reserved 0)
//
// Per the 82371SB (PIIX3) datasheet, the edge/level choice comes from ELCR; ICW1.LTIM is
// ignored. Edge mode: a rising edge latches IRR, which stays set until acknowledged even if the
// line drops. Level mode: IRR follows the line.
//
// The CPU side is `hasInterrupt()` / `acknowledge()`: acknowledge() performs the two INTA cycles
// (cascade included) and returns the vector. With nothing to deliver it returns the spurious
// vector for IR7 of the chip concerned (master base+7, or slave base+7 with master IR2 in service,
// as real hardware does) without setting ISR.

import type { IoBus, IoSize, IrqLine, PortHandler, Snapshotable } from "../io.ts";

interface ChipState {
  irr: number;
  isr: number;
  imr: number;
  lines: number;
  elcr: number;
  vectorBase: number;
  initStep: number;
  icw4Needed: boolean;
  single: boolean;
  icw3: number;
  autoEoi: boolean;
  rotateOnAutoEoi: boolean;
  sfnm: boolean;
  readIsr: boolean;
  poll: boolean;
  specialMask: boolean;
  lowestPriority: number;
}

export interface PicState {
  master: ChipState;
  slave: ChipState;
}

class Chip {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Current input line levels. */
  lines = 0;
  elcr = 0;
  vectorBase = 0;
  /** 0 = operational; 1..3 = waiting for ICW2..ICW4. */
  initStep = 0;
  icw4Needed = false;
  single = false;
  icw3 = 0;
  autoEoi = false;
  rotateOnAutoEoi = false;
  sfnm = false;
  readIsr = false;
  poll = false;
  specialMask = false;
  /** The IR level with the lowest priority (7 after init: IR0 highest). */
  lowestPriority = 7;

  constructor(
    readonly isMaster: boolean,
    readonly elcrMask: number,
  ) {}

  setLine(n: number, level: boolean): void {
    const m = 1 << n;
    if (this.elcr & m) {
      if (level) this.irr |= m;
      else this.irr &= ~m;
    } else if (level && !(this.lines & m)) {
      this.irr |= m;
    }
    if (level) this.lines |= m;
    else this.lines &= ~m;
  }

  /** Priority rank (0 = highest) of IR n under the current rotation. */
  rank(n: number): number {
    return (n - this.lowestPriority - 1) & 7;
  }

  /** Highest-priority IR set in mask, or -1. */
  highest(mask: number): number {
    for (let r = 0; r < 8; r++) {
      const n = (r + this.lowestPriority + 1) & 7;
      if (mask & (1 << n)) return n;
    }
    return -1;
  }

  /** The IR this chip would present to the CPU now, or -1. */
  pending(): number {
    const req = this.irr & ~this.imr;
    if (!req) return -1;
    if (this.specialMask) {
      // Special mask mode: every unmasked level not in service may interrupt.
      return this.highest(req & ~this.isr);
    }
    const n = this.highest(req);
    let inService = this.isr;
    // Special fully nested mode on the master: a slave request may interrupt its own IR2 service.
    if (this.sfnm && this.isMaster) inService &= ~(1 << 2);
    const cur = this.highest(inService);
    if (cur >= 0 && this.rank(n) >= this.rank(cur)) return -1;
    return n;
  }

  /** INTA for IR n: set ISR (unless AEOI), clear the edge latch. */
  ack(n: number): void {
    const m = 1 << n;
    if (!(this.elcr & m)) this.irr &= ~m;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowestPriority = n;
    } else {
      this.isr |= m;
    }
  }

  /** Write to the command port (0x20/0xA0): ICW1, OCW2 or OCW3. */
  writeCommand(v: number): void {
    if (v & 0x10) {
      // ICW1
      this.initStep = 1;
      this.icw4Needed = (v & 0x01) !== 0;
      this.single = (v & 0x02) !== 0;
      this.imr = 0;
      this.isr = 0;
      // Edge sense circuit reset: edge inputs need a new low-to-high transition.
      this.irr = this.lines & this.elcr;
      this.lowestPriority = 7;
      this.specialMask = false;
      this.readIsr = false;
      this.poll = false;
      this.icw3 = 0;
      if (!this.icw4Needed) {
        this.autoEoi = false;
        this.sfnm = false;
      }
      this.rotateOnAutoEoi = false;
      return;
    }
    if (v & 0x08) {
      // OCW3
      if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      if (v & 0x04) this.poll = true;
      return;
    }
    // OCW2
    const level = v & 7;
    switch (v >> 5) {
      case 0: // clear rotate in AEOI
        this.rotateOnAutoEoi = false;
        break;
      case 4: // set rotate in AEOI
        this.rotateOnAutoEoi = true;
        break;
      case 1: // non-specific EOI
      case 5: {
        // rotate on non-specific EOI
        const n = this.highest(this.isr);
        if (n >= 0) {
          this.isr &= ~(1 << n);
          if (v >> 5 === 5) this.lowestPriority = n;
        }
        break;
      }
      case 3: // specific EOI
        this.isr &= ~(1 << level);
        break;
      case 7: // rotate on specific EOI
        this.isr &= ~(1 << level);
        this.lowestPriority = level;
        break;
      case 6: // set priority
        this.lowestPriority = level;
        break;
      default: // 2: no operation
        break;
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 1:
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.icw4Needed ? 3 : 0) : 2;
        return;
      case 2:
        this.icw3 = v;
        this.initStep = this.icw4Needed ? 3 : 0;
        return;
      case 3:
        this.autoEoi = (v & 0x02) !== 0;
        this.sfnm = (v & 0x10) !== 0;
        this.initStep = 0;
        return;
      default:
        this.imr = v;
    }
  }

  save(): ChipState {
    return {
      irr: this.irr,
      isr: this.isr,
      imr: this.imr,
      lines: this.lines,
      elcr: this.elcr,
      vectorBase: this.vectorBase,
      initStep: this.initStep,
      icw4Needed: this.icw4Needed,
      single: this.single,
      icw3: this.icw3,
      autoEoi: this.autoEoi,
      rotateOnAutoEoi: this.rotateOnAutoEoi,
      sfnm: this.sfnm,
      readIsr: this.readIsr,
      poll: this.poll,
      specialMask: this.specialMask,
      lowestPriority: this.lowestPriority,
    };
  }

  load(s: ChipState): void {
    Object.assign(this, s);
  }
}

export interface PicOptions {
  /** Device name for I/O accounting (default "pic"). */
  name?: string;
  /** Called when the INTR output to the CPU changes (useful to wake a halted CPU). */
  onIntr?: (pending: boolean) => void;
}

export class Pic8259 implements PortHandler, Snapshotable<PicState> {
  private readonly master = new Chip(true, 0xf8);
  private readonly slave = new Chip(false, 0xde);
  private readonly onIntr: ((pending: boolean) => void) | undefined;
  private intr = false;
  private readonly lines: IrqLine[] = [];

  constructor(bus: IoBus, opts: PicOptions = {}) {
    const name = opts.name ?? "pic";
    this.onIntr = opts.onIntr;
    bus.register(name, 0x20, 2, this);
    bus.register(name, 0xa0, 2, this);
    bus.register(name, 0x4d0, 2, this);
    for (let i = 0; i < 16; i++) this.lines.push((level) => this.setIrq(i, level));
  }

  /**
   * Drive input line `irq` (0-15). Master IR2 is the cascade input; as on the AT bus, a device
   * asking for IRQ2 is wired to IRQ9.
   */
  setIrq(irq: number, level: boolean): void {
    if (irq < 0 || irq > 15) throw new RangeError(`IRQ ${irq} out of range 0-15`);
    if (irq === 2) irq = 9;
    if (irq < 8) this.master.setLine(irq, level);
    else this.slave.setLine(irq - 8, level);
    this.update();
  }

  /** An IrqLine bound to input `n`. */
  irqLine(n: number): IrqLine {
    if (n < 0 || n > 15) throw new RangeError(`IRQ ${n} out of range 0-15`);
    return this.lines[n]!;
  }

  /** True when the master presents an interrupt to the CPU (INTR asserted). */
  hasInterrupt(): boolean {
    return this.master.pending() >= 0;
  }

  /** INTA cycle: returns the vector and updates IRR/ISR of the chips involved. */
  acknowledge(): number {
    const m = this.master.pending();
    let vector: number;
    if (m < 0) {
      vector = this.master.vectorBase + 7; // spurious IRQ7
    } else if (m === 2 && !this.master.single) {
      this.master.ack(2);
      const s = this.slave.pending();
      if (s >= 0) {
        this.slave.ack(s);
        vector = this.slave.vectorBase + s;
      } else {
        vector = this.slave.vectorBase + 7; // spurious IRQ15
      }
    } else {
      this.master.ack(m);
      vector = this.master.vectorBase + m;
    }
    this.update();
    return vector;
  }

  /** Registers for debugging/UI. */
  get registers(): { irr: number; isr: number; imr: number; elcr: number } {
    return {
      irr: this.master.irr | (this.slave.irr << 8),
      isr: this.master.isr | (this.slave.isr << 8),
      imr: this.master.imr | (this.slave.imr << 8),
      elcr: this.master.elcr | (this.slave.elcr << 8),
    };
  }

  /** The vector base programmed by ICW2 of master (0) or slave (1). */
  vectorBase(chip: 0 | 1): number {
    return chip === 0 ? this.master.vectorBase : this.slave.vectorBase;
  }

  read(port: number, _size: IoSize): number {
    if (port === 0x4d0) return this.master.elcr;
    if (port === 0x4d1) return this.slave.elcr;
    const chip = port < 0xa0 ? this.master : this.slave;
    if (chip.poll) {
      chip.poll = false;
      const v = this.pollRead(chip);
      this.update();
      return v;
    }
    if ((port & 1) === 0) return chip.readIsr ? chip.isr : chip.irr;
    return chip.imr;
  }

  write(port: number, _size: IoSize, value: number): void {
    value &= 0xff;
    if (port === 0x4d0 || port === 0x4d1) {
      const chip = port === 0x4d0 ? this.master : this.slave;
      chip.elcr = value & chip.elcrMask;
      // Re-evaluate level-triggered inputs under the new mode.
      for (let i = 0; i < 8; i++) {
        const m = 1 << i;
        if (chip.elcr & m) {
          if (chip.lines & m) chip.irr |= m;
          else chip.irr &= ~m;
        }
      }
    } else {
      const chip = port < 0xa0 ? this.master : this.slave;
      if ((port & 1) === 0) chip.writeCommand(value);
      else chip.writeData(value);
    }
    this.update();
  }

  saveState(): PicState {
    return { master: this.master.save(), slave: this.slave.save() };
  }

  loadState(s: PicState): void {
    this.master.load(s.master);
    this.slave.load(s.slave);
    this.update();
  }

  /** Poll command: read acknowledges the highest request as an INTA would (no vector). */
  private pollRead(chip: Chip): number {
    const n = chip.pending();
    if (n < 0) return 0;
    chip.ack(n);
    if (chip === this.master && n === 2 && !this.master.single) {
      const s = this.slave.pending();
      if (s >= 0) this.slave.ack(s);
    }
    return 0x80 | n;
  }

  /** Propagate the slave INT to master IR2 and the master INT to the CPU. */
  private update(): void {
    if (!this.master.single) this.master.setLine(2, this.slave.pending() >= 0);
    const intr = this.master.pending() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntr?.(intr);
    }
  }
}
