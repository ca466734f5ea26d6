// Intel 8254 programmable interval timer (ports 0x40-0x43) and the PC's system control port B
// (port 0x61: channel 2 gate, speaker data, refresh toggle, OUT2), as in the 82371SB PIIX3.
//
// Input clock 1.193182 MHz. Channel 0 OUT drives IRQ0, channel 1 is the (unused) refresh timer,
// channel 2 OUT goes to the speaker and to port 0x61 bit 5, its gate is port 0x61 bit 0.
// Channels 0 and 1 have their gates tied high.
//
// The counters are modelled analytically from virtual time (no per-tick work): a counter
// remembers the PIT tick at which it started counting and derives count and OUT from the ticks
// elapsed since. Modes 0-5, lobyte/hibyte/both access, BCD counting, counter latch and the
// read-back command are implemented. Simplifications (documented):
// - a count is loaded immediately on the write rather than at the next CLK edge (the one-tick
//   load delay is not modelled) and a new count written in modes 2/3 restarts the period at once
//   instead of at the end of the current one;
// - the mode-3 count read back for odd initial counts follows the even-count sequence;
// - only rising edges of channel 0's OUT are scheduled (nextDeadline); each is delivered to the
//   IRQ line as a low-high pulse. If several periods elapse between two advance() calls one pulse
//   is delivered, which is what an edge-triggered 8259 would latch anyway;
// - the null-count status bit reads 0 (counts load instantly).
//
// Time: `advance(nowNs)` brings the device up to date; port reads use the optional `clock` (the
// machine's current virtual time) so that guests polling the counter see it move between two
// advance() calls. Without `clock`, the time of the last advance() is used.

import {
  deviceTime,
  type IoBus,
  type IoSize,
  type IrqLine,
  type PortHandler,
  type Snapshotable,
  type TimedDevice,
} from "../io.ts";

export const PIT_HZ = 1193182;
/** DRAM refresh request period on PIIX3: port 0x61 bit 4 toggles every 15.085 µs. */
const REFRESH_NS = 15085;

export function pitTicksAt(ns: number): number {
  const n = Math.floor(ns);
  const s = Math.floor(n / 1e9);
  const r = n - s * 1e9;
  return s * PIT_HZ + Math.floor((r * PIT_HZ) / 1e9);
}

/** First virtual time (ns) at which `pitTicksAt` reaches `tick`. */
export function pitTimeOfTick(tick: number): number {
  const q = Math.floor(tick / PIT_HZ);
  const r = tick - q * PIT_HZ;
  return q * 1e9 + Math.ceil((r * 1e9) / PIT_HZ);
}

function fromBcd(v: number): number {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}
function toBcd(v: number): number {
  return (
    ((Math.floor(v / 1000) % 10) << 12) |
    ((Math.floor(v / 100) % 10) << 8) |
    ((Math.floor(v / 10) % 10) << 4) |
    (v % 10)
  );
}

interface ChannelState {
  mode: number;
  access: number;
  bcd: boolean;
  initial: number;
  armed: boolean;
  counting: boolean;
  d0: number;
  base: number;
  gate: boolean;
  writeHi: boolean;
  writeLo: number;
  readHi: boolean;
  latch: number | null;
  latchHiNext: boolean;
  status: number | null;
  lastD: number;
  written: boolean;
}

class Channel implements ChannelState {
  mode = 0;
  /** 1 = lobyte, 2 = hibyte, 3 = lobyte then hibyte. */
  access = 3;
  bcd = false;
  /** Initial count N in counting units (1..65536 binary, 1..10000 BCD). */
  initial = 0x10000;
  /** A count has been written since the last control word (counting may begin). */
  armed = false;
  /** The counting element is currently decrementing. */
  counting = false;
  /** Ticks counted before `base`. */
  d0 = 0;
  /** Absolute PIT tick at which counting (re)started. */
  base = 0;
  gate = true;
  writeHi = false;
  writeLo = 0;
  readHi = false;
  latch: number | null = null;
  latchHiNext = false;
  status: number | null = null;
  /** Elapsed ticks at the last IRQ evaluation (channel 0 edge detection). */
  lastD = 0;
  /** A mode 1/5 counter has been triggered (or any other mode has a count). */
  written = false;

  elapsed(tick: number): number {
    return this.d0 + (this.counting ? tick - this.base : 0);
  }

  modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  out(tick: number): boolean {
    if (!this.armed) return this.mode !== 0;
    const n = this.initial;
    const d = this.elapsed(tick);
    switch (this.mode) {
      case 0:
        return d >= n;
      case 1:
        return !this.written || d >= n;
      case 2:
        if (!this.counting) return true;
        return d % n !== n - 1;
      case 3:
        if (!this.counting) return true;
        return d % n < Math.ceil(n / 2);
      case 4:
        return d !== n;
      default: // 5
        return !this.written || d !== n;
    }
  }

  /** Count value in counting units. */
  count(tick: number): number {
    if (!this.armed) return this.initial % this.modulus();
    const n = this.initial;
    const d = this.elapsed(tick);
    const mod = this.modulus();
    switch (this.mode) {
      case 2:
        return n - (d % n);
      case 3: {
        const p = d % n;
        const h = Math.ceil(n / 2);
        return (n - 2 * (p < h ? p : p - h)) % mod;
      }
      default:
        return (((n - d) % mod) + mod) % mod;
    }
  }

  /** The next elapsed-tick value strictly after d at which OUT rises, or Infinity. */
  nextRise(d: number): number {
    if (!this.armed || !this.counting) return Infinity;
    const n = this.initial;
    switch (this.mode) {
      case 0:
      case 1:
        return d < n ? n : Infinity;
      case 2:
      case 3:
        return (Math.floor(d / n) + 1) * n;
      default:
        return d < n + 1 ? n + 1 : Infinity;
    }
  }

  readValue(tick: number): number {
    let v = this.count(tick);
    if (this.bcd) v = toBcd(v);
    return v & 0xffff;
  }
}

export interface PitState {
  channels: ChannelState[];
  port61: number;
  nowNs: number;
  irqLevel: boolean;
}

export interface PitOptions {
  /** IRQ0 line (channel 0 OUT). */
  irq: IrqLine;
  /** Device name for I/O accounting (default "pit"; port 0x61 is registered as "port61"). */
  name?: string;
  /** The machine's current virtual time in ns, for reads between advance() calls. */
  clock?: () => number;
}

export class Pit8254 implements PortHandler, TimedDevice, Snapshotable<PitState> {
  private readonly ch = [new Channel(), new Channel(), new Channel()];
  private readonly irq: IrqLine;
  private readonly clock: (() => number) | undefined;
  /** Port 0x61 writable bits: 0 gate2, 1 speaker data, 2 SERR enable, 3 IOCHK enable. */
  private port61 = 0;
  private nowNs = 0;
  private irqLevel = false;

  constructor(bus: IoBus, opts: PitOptions) {
    this.irq = opts.irq;
    this.clock = opts.clock;
    bus.register(opts.name ?? "pit", 0x40, 4, this);
    bus.register("port61", 0x61, 1, this);
    this.ch[2]!.gate = false;
  }

  // ---- TimedDevice -----------------------------------------------------------------------

  advance(nowNs: number): void {
    if (nowNs > this.nowNs) this.nowNs = nowNs;
    this.sync();
  }

  nextDeadline(): number {
    const c = this.ch[0]!;
    if (!c.counting) return Infinity;
    const rise = c.nextRise(c.lastD);
    if (rise === Infinity) return Infinity;
    return pitTimeOfTick(c.base + (rise - c.d0));
  }

  // ---- host API --------------------------------------------------------------------------

  /** Frequency the PC speaker is playing, or 0 when silent (port 0x61 bits 0 and 1 clear). */
  speakerFrequencyHz(): number {
    const c = this.ch[2]!;
    if ((this.port61 & 3) !== 3 || !c.armed) return 0;
    if (c.mode !== 3 && c.mode !== 2) return 0;
    return PIT_HZ / c.initial;
  }

  /** OUT pin of a channel now (for tests and the UI). */
  out(channel: number): boolean {
    return this.ch[channel]!.out(pitTicksAt(this.time()));
  }

  // ---- PortHandler -----------------------------------------------------------------------

  read(port: number, _size: IoSize): number {
    this.sync();
    const tick = pitTicksAt(this.nowNs);
    if (port === 0x61) {
      let v = this.port61 & 0x0f;
      if (Math.floor(this.nowNs / REFRESH_NS) & 1) v |= 0x10;
      if (this.ch[2]!.out(tick)) v |= 0x20;
      return v;
    }
    if (port === 0x43) return 0xff; // control word register is write-only
    const c = this.ch[port - 0x40]!;
    if (c.status !== null) {
      const v = c.status;
      c.status = null;
      return v;
    }
    if (c.latch !== null) {
      const l = c.latch;
      if (c.access === 1) {
        c.latch = null;
        return l & 0xff;
      }
      if (c.access === 2) {
        c.latch = null;
        return l >> 8;
      }
      if (!c.latchHiNext) {
        c.latchHiNext = true;
        return l & 0xff;
      }
      c.latchHiNext = false;
      c.latch = null;
      return l >> 8;
    }
    const v = c.readValue(tick);
    if (c.access === 1) return v & 0xff;
    if (c.access === 2) return v >> 8;
    c.readHi = !c.readHi;
    return c.readHi ? v & 0xff : v >> 8;
  }

  write(port: number, _size: IoSize, value: number): void {
    value &= 0xff;
    this.sync();
    const tick = pitTicksAt(this.nowNs);
    if (port === 0x61) {
      const oldGate = (this.port61 & 1) !== 0;
      this.port61 = value & 0x0f;
      const gate = (value & 1) !== 0;
      if (gate !== oldGate) this.setGate(this.ch[2]!, gate, tick);
      return;
    }
    if (port === 0x43) {
      this.writeControl(value, tick);
    } else {
      this.writeCount(this.ch[port - 0x40]!, value, tick);
    }
    this.ch[0]!.lastD = this.ch[0]!.elapsed(tick);
    this.updateIrq(tick);
  }

  // ---- Snapshotable ----------------------------------------------------------------------

  saveState(): PitState {
    return {
      channels: this.ch.map((c) => ({
        mode: c.mode,
        access: c.access,
        bcd: c.bcd,
        initial: c.initial,
        armed: c.armed,
        counting: c.counting,
        d0: c.d0,
        base: c.base,
        gate: c.gate,
        writeHi: c.writeHi,
        writeLo: c.writeLo,
        readHi: c.readHi,
        latch: c.latch,
        latchHiNext: c.latchHiNext,
        status: c.status,
        lastD: c.lastD,
        written: c.written,
      })),
      port61: this.port61,
      nowNs: this.nowNs,
      irqLevel: this.irqLevel,
    };
  }

  loadState(s: PitState): void {
    s.channels.forEach((cs, i) => Object.assign(this.ch[i]!, cs));
    this.port61 = s.port61;
    this.nowNs = s.nowNs;
    this.irqLevel = s.irqLevel;
    this.irq(this.irqLevel);
  }

  // ---- internals -------------------------------------------------------------------------

  private time(): number {
    return (this.nowNs = deviceTime(this.clock, this.nowNs));
  }

  /** Deliver channel 0 edges that happened up to the current time. */
  private sync(): void {
    const tick = pitTicksAt(this.time());
    const c = this.ch[0]!;
    const d = c.elapsed(tick);
    if (c.nextRise(c.lastD) <= d) {
      if (this.irqLevel) this.irq(false);
      this.irq(true);
      this.irqLevel = true;
    }
    c.lastD = d;
    this.updateIrq(tick);
  }

  private updateIrq(tick: number): void {
    const level = this.ch[0]!.out(tick);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  private writeControl(v: number, tick: number): void {
    const sel = v >> 6;
    if (sel === 3) {
      // Read-back command: bit5 = 0 latch count, bit4 = 0 latch status, bits 3..1 = ch2..ch0.
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = this.ch[i]!;
        if (!(v & 0x10) && c.status === null) {
          c.status = (c.out(tick) ? 0x80 : 0) | (c.access << 4) | (c.mode << 1) | (c.bcd ? 1 : 0);
        }
        if (!(v & 0x20) && c.latch === null) {
          c.latch = c.readValue(tick);
          c.latchHiNext = false;
        }
      }
      return;
    }
    const c = this.ch[sel]!;
    const access = (v >> 4) & 3;
    if (access === 0) {
      // Counter latch command; ignored if a latch is already pending.
      if (c.latch === null) {
        c.latch = c.readValue(tick);
        c.latchHiNext = false;
      }
      return;
    }
    let mode = (v >> 1) & 7;
    if (mode > 5) mode -= 4; // 6 -> 2, 7 -> 3
    c.mode = mode;
    c.access = access;
    c.bcd = (v & 1) !== 0;
    c.armed = false;
    c.counting = false;
    c.written = false;
    c.d0 = 0;
    c.writeHi = false;
    c.readHi = false;
    c.latch = null;
    c.status = null;
  }

  private writeCount(c: Channel, v: number, tick: number): void {
    let raw: number;
    if (c.access === 1) raw = v;
    else if (c.access === 2) raw = v << 8;
    else if (!c.writeHi) {
      c.writeLo = v;
      c.writeHi = true;
      // Mode 0: writing the first byte stops counting and drives OUT low at once.
      if (c.mode === 0 && c.armed) {
        c.d0 = 0;
        c.counting = false;
      }
      return;
    } else {
      raw = c.writeLo | (v << 8);
      c.writeHi = false;
    }
    let n = c.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = c.modulus();
    c.initial = n;
    c.armed = true;
    c.d0 = 0;
    c.base = tick;
    switch (c.mode) {
      case 1:
      case 5:
        // Hardware-triggered: wait for a gate rising edge. A retrigger later uses the new count.
        if (!c.written) c.counting = false;
        break;
      case 0:
      case 4:
        c.written = true;
        c.counting = c.gate;
        break;
      default: // 2, 3
        c.written = true;
        c.counting = c.gate;
        break;
    }
  }

  private setGate(c: Channel, gate: boolean, tick: number): void {
    const d = c.elapsed(tick);
    c.gate = gate;
    switch (c.mode) {
      case 0:
      case 4:
        // Gate low suspends counting; high resumes it.
        if (!c.armed) return;
        c.d0 = d;
        c.base = tick;
        c.counting = gate;
        return;
      case 1:
      case 5:
        if (gate && c.armed) {
          c.written = true;
          c.d0 = 0;
          c.base = tick;
          c.counting = true;
        }
        return;
      default: // 2, 3: gate low stops (OUT high), rising edge reloads
        if (!c.armed) return;
        c.d0 = 0;
        c.base = tick;
        c.counting = gate;
    }
  }
}
