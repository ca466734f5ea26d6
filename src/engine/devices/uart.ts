// NS16550A UART (PC serial port, e.g. COM1 at 0x3F8 / IRQ4).
//
// Register map (offset from base), per the National Semiconductor PC16550D datasheet:
//   0  RBR (read, DLAB=0) / THR (write, DLAB=0) / DLL (DLAB=1)
//   1  IER (DLAB=0) / DLM (DLAB=1)
//   2  IIR (read) / FCR (write)
//   3  LCR   4 MCR   5 LSR   6 MSR   7 SCR
//
// Modelling choices (documented, guest-visible where noted):
// - Transmission is instantaneous: a byte written to THR goes to `onTransmit` at once, THRE and
//   TEMT re-assert immediately and the THRE interrupt is raised (cleared by an IIR read that
//   reports it or by the next THR write; re-raised when IER.ETBEI goes from 0 to 1 while THRE
//   is set — the behaviour of real parts that Linux's 8250 THRE test and Windows rely on).
// - Reception: `receive()` appends to an unbounded host-side queue. Bytes move from that queue
//   into the receiver (the 16-byte FIFO, or the single RBR when FIFOs are off) as soon as there is
//   room, i.e. the line is modelled as infinitely fast but the FIFO/RBR semantics are kept. The
//   host queue never overruns; OE only occurs for bytes looped back in loopback mode.
// - Character timeout (IIR 0x0C): in FIFO mode, when the RX FIFO holds data and neither a
//   character has arrived nor the CPU has read the FIFO for 4 character times (computed from the
//   divisor and LCR word length/parity/stop bits, 1.8432 MHz clock), the timeout interrupt is
//   indicated. This needs virtual time: the device is a TimedDevice; the current time comes from
//   the optional `clock` option or else from the last `advance(nowNs)`.
// - IRQ output is gated by MCR.OUT2 as on a PC; in loopback mode the OUT2 pin is forced inactive
//   so no IRQ reaches the PIC (the internal interrupt logic still works and is visible in IIR).
// - Line errors: only overrun (loopback) and break (`receiveBreak()`) are produced; parity and
//   framing errors never occur on a virtual line.

import {
  deviceTime,
  type IoBus,
  type IoSize,
  type IrqLine,
  type PortHandler,
  type Snapshotable,
  type TimedDevice,
} from "../io.ts";

export interface UartOptions {
  /** Device name used for I/O accounting, e.g. "com1". */
  name: string;
  /** Base I/O port (0x3F8 for COM1, 0x2F8 for COM2). */
  base: number;
  /** Interrupt line (already gated by OUT2 inside the device). */
  irq: IrqLine;
  /** Optional virtual clock in ns; if absent the device uses the time of the last advance(). */
  clock?: () => number;
}

export interface UartState {
  ier: number;
  lcr: number;
  mcr: number;
  lsr: number;
  msrLines: number;
  msrDelta: number;
  scr: number;
  dll: number;
  dlm: number;
  fifoEnabled: boolean;
  trigger: number;
  rx: number[];
  hostQueue: number[];
  thrIpending: boolean;
  timeoutPending: boolean;
  lastRxActivityNs: number;
  nowNs: number;
  extLines: number;
  irqLevel: boolean;
}

// IER bits
const IER_ERBFI = 0x01;
const IER_ETBEI = 0x02;
const IER_ELSI = 0x04;
const IER_EDSSI = 0x08;
// LSR bits
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_FIFOERR = 0x80;
const LSR_ERRORS = 0x1e;
// MCR bits
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
// MSR bits
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
// IIR identification values
const IIR_NONE = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_CTI = 0x0c;

const FIFO_SIZE = 16;
const TRIGGER_LEVELS = [1, 4, 8, 14];
/** UART input clock: 1.8432 MHz, divided by 16 per bit. */
const BAUD_BASE = 115200;

export class Uart16550 implements PortHandler, TimedDevice, Snapshotable<UartState> {
  /** Called for every byte the guest transmits (not called in loopback mode). */
  onTransmit: ((byte: number) => void) | null = null;

  private readonly base: number;
  private readonly irq: IrqLine;
  private readonly clock: (() => number) | undefined;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  /** Current modem input lines (MSR bits 7..4) as last sampled. */
  private msrLines = 0;
  private msrDelta = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud, a common power-on value
  private dlm = 0;
  private fifoEnabled = false;
  private trigger = 1;
  private rx: number[] = [];
  private hostQueue: number[] = [];
  private thrIpending = false;
  private timeoutPending = false;
  private lastRxActivityNs = 0;
  private nowNs = 0;
  /** External modem lines (MSR layout, bits 7..4) when not in loopback. Default CTS|DSR|DCD. */
  private extLines = MSR_CTS | MSR_DSR | MSR_DCD;
  private irqLevel = false;

  constructor(bus: IoBus, opts: UartOptions) {
    this.base = opts.base;
    this.irq = opts.irq;
    this.clock = opts.clock;
    this.msrLines = this.computeLines();
    bus.register(opts.name, opts.base, 8, this);
  }

  // ---- host side -------------------------------------------------------------------------

  /** Queue bytes for the guest to receive. Strings are encoded as UTF-8. */
  receive(bytes: Uint8Array | string): void {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    for (let i = 0; i < data.length; i++) this.hostQueue.push(data[i]! & 0xff);
    this.refill();
    this.update();
  }

  /** Bytes queued on the host side that have not yet entered the receiver. */
  pendingInput(): number {
    return this.hostQueue.length;
  }

  /** Signal a break condition on the line: a 0 byte with LSR.BI set (line status interrupt). */
  receiveBreak(): void {
    this.pushRx(0);
    this.lsr |= LSR_BI;
    if (this.fifoEnabled) this.lsr |= LSR_FIFOERR;
    this.update();
  }

  /** Set the external modem status inputs (ignored while in loopback mode). */
  setModemLines(lines: { cts?: boolean; dsr?: boolean; ri?: boolean; dcd?: boolean }): void {
    let v = this.extLines;
    const set = (bit: number, on: boolean | undefined) => {
      if (on !== undefined) v = on ? v | bit : v & ~bit;
    };
    set(MSR_CTS, lines.cts);
    set(MSR_DSR, lines.dsr);
    set(MSR_RI, lines.ri);
    set(MSR_DCD, lines.dcd);
    this.extLines = v;
    this.sampleModemLines();
    this.update();
  }

  /** Reset to power-on state (host queue is kept). */
  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.lsr = LSR_THRE | LSR_TEMT;
    this.msrDelta = 0;
    this.scr = 0;
    this.fifoEnabled = false;
    this.trigger = 1;
    this.rx = [];
    this.thrIpending = false;
    this.timeoutPending = false;
    this.msrLines = this.computeLines();
    this.refill();
    this.update();
  }

  // ---- TimedDevice -----------------------------------------------------------------------

  advance(nowNs: number): void {
    if (nowNs > this.nowNs) this.nowNs = nowNs;
    this.checkTimeout(this.time());
    this.update();
  }

  nextDeadline(): number {
    if (!this.fifoEnabled || this.rx.length === 0 || this.timeoutPending) return Infinity;
    return this.lastRxActivityNs + 4 * this.charTimeNs();
  }

  /** Duration of one character (start + data + parity + stop bits) at the programmed rate. */
  charTimeNs(): number {
    const divisor = (this.dlm << 8) | this.dll || 0x10000;
    const dataBits = 5 + (this.lcr & 3);
    const parity = this.lcr & 0x08 ? 1 : 0;
    const stop = this.lcr & 0x04 ? (dataBits === 5 ? 1.5 : 2) : 1;
    const bits = 1 + dataBits + parity + stop;
    return (bits * divisor * 1e9) / BAUD_BASE;
  }

  // ---- PortHandler -----------------------------------------------------------------------

  read(port: number, _size: IoSize): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch ((port - this.base) & 7) {
      case 0: {
        if (dlab) return this.dll;
        const now = this.time();
        this.checkTimeout(now);
        let v = 0;
        if (this.rx.length > 0) {
          v = this.rx.shift()!;
          this.lastRxActivityNs = now;
        }
        this.timeoutPending = false;
        this.refill();
        this.update();
        return v;
      }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        this.checkTimeout(this.time());
        const id = this.interruptId();
        if (id === IIR_THRI) this.thrIpending = false;
        this.update();
        return id | (this.fifoEnabled ? 0xc0 : 0);
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        this.checkTimeout(this.time());
        const v = this.lsr | (this.rx.length > 0 ? LSR_DR : 0);
        this.lsr &= ~(LSR_ERRORS | LSR_FIFOERR);
        this.update();
        return v;
      }
      case 6: {
        this.sampleModemLines();
        const v = this.msrLines | this.msrDelta;
        this.msrDelta = 0;
        this.update();
        return v;
      }
      default:
        return this.scr;
    }
  }

  write(port: number, _size: IoSize, value: number): void {
    value &= 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch ((port - this.base) & 7) {
      case 0:
        if (dlab) {
          this.dll = value;
          return;
        }
        this.transmit(value);
        break;
      case 1: {
        if (dlab) {
          this.dlm = value;
          return;
        }
        const old = this.ier;
        this.ier = value & 0x0f;
        if ((old ^ this.ier) & IER_ETBEI) {
          this.thrIpending = (this.ier & IER_ETBEI) !== 0 && (this.lsr & LSR_THRE) !== 0;
        }
        break;
      }
      case 2:
        this.writeFcr(value);
        break;
      case 3:
        this.lcr = value;
        return;
      case 4: {
        const oldLoop = this.mcr & MCR_LOOP;
        this.mcr = value & 0x1f;
        this.sampleModemLines();
        if (oldLoop && !(this.mcr & MCR_LOOP)) this.refill();
        break;
      }
      case 5:
      case 6:
        return; // LSR/MSR writes are factory-test only
      default:
        this.scr = value;
        return;
    }
    this.update();
  }

  // ---- Snapshotable ----------------------------------------------------------------------

  saveState(): UartState {
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      lsr: this.lsr,
      msrLines: this.msrLines,
      msrDelta: this.msrDelta,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fifoEnabled: this.fifoEnabled,
      trigger: this.trigger,
      rx: [...this.rx],
      hostQueue: [...this.hostQueue],
      thrIpending: this.thrIpending,
      timeoutPending: this.timeoutPending,
      lastRxActivityNs: this.lastRxActivityNs,
      nowNs: this.nowNs,
      extLines: this.extLines,
      irqLevel: this.irqLevel,
    };
  }

  loadState(s: UartState): void {
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.lsr = s.lsr;
    this.msrLines = s.msrLines;
    this.msrDelta = s.msrDelta;
    this.scr = s.scr;
    this.dll = s.dll;
    this.dlm = s.dlm;
    this.fifoEnabled = s.fifoEnabled;
    this.trigger = s.trigger;
    this.rx = [...s.rx];
    this.hostQueue = [...s.hostQueue];
    this.thrIpending = s.thrIpending;
    this.timeoutPending = s.timeoutPending;
    this.lastRxActivityNs = s.lastRxActivityNs;
    this.nowNs = s.nowNs;
    this.extLines = s.extLines;
    this.irqLevel = s.irqLevel;
    this.irq(this.irqLevel);
  }

  // ---- internals -------------------------------------------------------------------------

  private time(): number {
    return (this.nowNs = deviceTime(this.clock, this.nowNs));
  }

  private capacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  /** Put a byte into the receiver; sets OE if it is full (the byte is lost). */
  private pushRx(byte: number): void {
    if (this.rx.length >= this.capacity()) {
      this.lsr |= LSR_OE;
      return;
    }
    this.rx.push(byte);
    this.lastRxActivityNs = this.time();
  }

  /** Move bytes from the host queue into the receiver while there is room. */
  private refill(): void {
    if (this.mcr & MCR_LOOP) return; // serial input is disconnected in loopback
    const cap = this.capacity();
    let moved = false;
    while (this.rx.length < cap && this.hostQueue.length > 0) {
      this.rx.push(this.hostQueue.shift()!);
      moved = true;
    }
    if (moved) this.lastRxActivityNs = this.time();
  }

  private transmit(byte: number): void {
    this.thrIpending = false;
    if (this.mcr & MCR_LOOP) {
      this.pushRx(byte);
    } else if (this.onTransmit) {
      this.onTransmit(byte);
    }
    // Instantaneous transmission: THR and shift register are empty again.
    this.lsr |= LSR_THRE | LSR_TEMT;
    if (this.ier & IER_ETBEI) this.thrIpending = true;
  }

  private writeFcr(value: number): void {
    const enable = (value & 0x01) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing the FIFO enable bit clears both FIFOs.
      this.fifoEnabled = enable;
      this.rx = [];
      this.timeoutPending = false;
    }
    if (!enable) {
      this.refill();
      return; // other FCR bits are only programmed when FCR0 = 1
    }
    if (value & 0x02) {
      this.rx = [];
      this.timeoutPending = false;
      this.lsr &= ~LSR_FIFOERR;
    }
    // bit 2 (clear XMIT FIFO): the transmit FIFO is always empty here.
    this.trigger = TRIGGER_LEVELS[(value >> 6) & 3]!;
    this.refill();
  }

  private checkTimeout(now: number): void {
    if (!this.fifoEnabled || this.rx.length === 0 || this.timeoutPending) return;
    if (now >= this.lastRxActivityNs + 4 * this.charTimeNs()) this.timeoutPending = true;
  }

  private computeLines(): number {
    if (this.mcr & MCR_LOOP) {
      let v = 0;
      if (this.mcr & MCR_RTS) v |= MSR_CTS;
      if (this.mcr & MCR_DTR) v |= MSR_DSR;
      if (this.mcr & MCR_OUT1) v |= MSR_RI;
      if (this.mcr & MCR_OUT2) v |= MSR_DCD;
      return v;
    }
    return this.extLines;
  }

  /** Re-sample the modem inputs and accumulate delta bits. */
  private sampleModemLines(): void {
    const now = this.computeLines();
    const changed = now ^ this.msrLines;
    if (changed & MSR_CTS) this.msrDelta |= 0x01;
    if (changed & MSR_DSR) this.msrDelta |= 0x02;
    if (changed & MSR_RI && !(now & MSR_RI)) this.msrDelta |= 0x04; // TERI: trailing edge only
    if (changed & MSR_DCD) this.msrDelta |= 0x08;
    this.msrLines = now;
  }

  /** Highest-priority pending interrupt, as IIR bits 3..0. */
  private interruptId(): number {
    if (this.ier & IER_ELSI && this.lsr & LSR_ERRORS) return IIR_RLSI;
    if (this.ier & IER_ERBFI) {
      if (this.rx.length > 0 && (!this.fifoEnabled || this.rx.length >= this.trigger)) return IIR_RDI;
      if (this.fifoEnabled && this.timeoutPending && this.rx.length > 0) return IIR_CTI;
    }
    if (this.ier & IER_ETBEI && this.thrIpending) return IIR_THRI;
    if (this.ier & IER_EDSSI && this.msrDelta) return IIR_MSI;
    return IIR_NONE;
  }

  private update(): void {
    const pending = this.interruptId() !== IIR_NONE;
    const level = pending && (this.mcr & MCR_OUT2) !== 0 && (this.mcr & MCR_LOOP) === 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }
}
