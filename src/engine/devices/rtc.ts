// Motorola MC146818 real-time clock and 128 bytes of CMOS RAM, at ports 0x70 (index, bit 7 =
// NMI disable) and 0x71 (data). IRQ8.
//
// Time: the guest-visible clock is `epochMs` (the wall-clock time at virtual time 0, host time in
// interactive mode or a fixed value in deterministic mode) plus the virtual time, plus whatever
// offset the guest programs by writing the time registers. The RTC holds UTC (what Linux expects
// on a PC with the hardware clock in UTC).
//
// Implemented: BCD/binary (register B DM) and 12/24-hour (B 24/12) formats; SET bit (time frozen
// and writable, UIE cleared on SET); UIP (register A bit 7) high during the 244 µs before each
// update; periodic interrupt at the register A rate; alarm (with "don't care" values 0xC0-0xFF);
// update-ended interrupt; register C read clears the flags and lowers IRQ8; register D VRT.
// Simplifications: the update is instantaneous at the second boundary (UIP drops then rather than
// 1984 µs later); the divider-control bits of register A are stored but do not stop the clock;
// the day-of-week register is computed from the date; a time register written while SET = 0 is
// applied at once (the datasheet allows it but leaves the result to chance).
//
// CMOS layout for the BIOS and Linux: 0x10 floppy types (0 = none), 0x14 equipment byte,
// 0x15/0x16 base memory KiB (640), 0x17/0x18 and 0x30/0x31 extended memory KiB above 1 MiB
// (capped at 0xFFFF), 0x34/0x35 memory above 16 MiB in 64 KiB units (capped at 0xFFFF), 0x32
// century, 0x2E/0x2F checksum over 0x10-0x2D.

import {
  deviceTime,
  type IoBus,
  type IoSize,
  type IrqLine,
  type PortHandler,
  type Snapshotable,
  type TimedDevice,
} from "../io.ts";

export interface RtcOptions {
  /** IRQ8 line. */
  irq: IrqLine;
  /** Guest RAM size in bytes, for the memory-size CMOS fields. */
  memoryBytes: number;
  /** Wall-clock time (ms since 1970-01-01 UTC) at virtual time 0. */
  epochMs: number;
  /** Equipment byte at 0x14 (default 0x02: FPU present, EGA/VGA display, no floppy). */
  equipment?: number;
  /** Device name for I/O accounting (default "rtc"). */
  name?: string;
  /** The machine's current virtual time in ns, for reads between advance() calls. */
  clock?: () => number;
}

export interface RtcState {
  cmos: number[];
  index: number;
  nmiMasked: boolean;
  secBase: number;
  fracNs: number;
  regC: number;
  lastUpdateSec: number;
  lastPeriodicIdx: number;
  nowNs: number;
  irqLevel: boolean;
}

const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const UIP_NS = 244_000;
const TIME_REGS = new Set([0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32]);

const toBcd = (v: number) => ((Math.floor(v / 10) % 10) << 4) | (v % 10);
const fromBcd = (v: number) => (v >> 4) * 10 + (v & 0xf);

/** Periodic interrupt period in ns for register A rate select 1..15 (32.768 kHz time base). */
export function rtcPeriodNs(rs: number): number {
  if (rs === 0) return Infinity;
  if (rs < 3) rs += 7; // rates 1 and 2 equal rates 8 and 9 with a 32.768 kHz crystal
  return (2 ** (rs - 1) * 1e9) / 32768;
}

export class Rtc146818 implements PortHandler, TimedDevice, Snapshotable<RtcState> {
  /** Port 0x70 bit 7: NMI disabled. */
  nmiMasked = true;

  private readonly cmos = new Uint8Array(128);
  private readonly irq: IrqLine;
  private readonly clock: (() => number) | undefined;
  private index = 0;
  /** Guest seconds (since 1970) at virtual time -fracNs. */
  private secBase: number;
  /** Sub-second phase: guest time at virtual time t is secBase + (t + fracNs) / 1e9 s. */
  private fracNs: number;
  private regC = 0;
  private lastUpdateSec: number;
  private lastPeriodicIdx = 0;
  private nowNs = 0;
  private irqLevel = false;

  constructor(bus: IoBus, opts: RtcOptions) {
    this.irq = opts.irq;
    this.clock = opts.clock;
    const ms = Math.floor(opts.epochMs);
    this.secBase = Math.floor(ms / 1000);
    this.fracNs = (ms - this.secBase * 1000) * 1e6;
    this.lastUpdateSec = this.secBase;
    this.cmos[REG_A] = 0x26;
    this.cmos[REG_B] = B_24H;
    this.initMemoryFields(opts.memoryBytes, opts.equipment ?? 0x02);
    this.lastPeriodicIdx = this.periodicIdx();
    bus.register(opts.name ?? "rtc", 0x70, 2, this);
  }

  // ---- TimedDevice -----------------------------------------------------------------------

  advance(nowNs: number): void {
    if (nowNs > this.nowNs) this.nowNs = nowNs;
    this.catchUp();
  }

  nextDeadline(): number {
    const b = this.cmos[REG_B]!;
    let next = Infinity;
    const rs = this.cmos[REG_A]! & 0x0f;
    if (b & B_PIE && rs) {
      const p = rtcPeriodNs(rs);
      next = Math.ceil((this.lastPeriodicIdx + 1) * p - this.fracNs);
    }
    if (b & (B_UIE | B_AIE) && !(b & B_SET)) {
      next = Math.min(next, (this.lastUpdateSec + 1 - this.secBase) * 1e9 - this.fracNs);
    }
    return next;
  }

  // ---- host API --------------------------------------------------------------------------

  /** Current guest RTC time in ms since 1970 (UTC). */
  guestTimeMs(): number {
    return this.secBase * 1000 + (this.time() + this.fracNs) / 1e6;
  }

  /** Raw CMOS byte (for the machine/BIOS setup and tests). */
  cmosByte(i: number): number {
    return this.cmos[i & 0x7f]!;
  }

  /** Set a raw CMOS byte, e.g. boot order or disk geometry fields. Updates the checksum. */
  setCmosByte(i: number, v: number): void {
    this.cmos[i & 0x7f] = v & 0xff;
    if (i >= 0x10 && i <= 0x2d) this.updateChecksum();
  }

  // ---- PortHandler -----------------------------------------------------------------------

  read(port: number, _size: IoSize): number {
    if (port === 0x70) return 0xff; // the index register is write-only
    this.catchUp();
    const i = this.index;
    switch (i) {
      case REG_A: {
        const pos = (this.nowNs + this.fracNs) % 1e9;
        const uip = !(this.cmos[REG_B]! & B_SET) && pos >= 1e9 - UIP_NS;
        return (this.cmos[REG_A]! & 0x7f) | (uip ? 0x80 : 0);
      }
      case REG_C: {
        const v = this.regC;
        this.regC = 0;
        this.updateIrq();
        return v;
      }
      case REG_D:
        return 0x80; // valid RAM and time
      default:
        if (TIME_REGS.has(i) && !(this.cmos[REG_B]! & B_SET)) this.latchTime(this.currentSec());
        return this.cmos[i]!;
    }
  }

  write(port: number, _size: IoSize, value: number): void {
    value &= 0xff;
    if (port === 0x70) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    this.catchUp();
    const i = this.index;
    switch (i) {
      case REG_A: {
        const oldRs = this.cmos[REG_A]! & 0x0f;
        this.cmos[REG_A] = value & 0x7f;
        if ((value & 0x0f) !== oldRs) this.lastPeriodicIdx = this.periodicIdx();
        break;
      }
      case REG_B: {
        const old = this.cmos[REG_B]!;
        if (value & B_SET) value &= ~B_UIE;
        if (value & B_SET && !(old & B_SET)) this.latchTime(this.currentSec());
        this.cmos[REG_B] = value;
        if (!(value & B_SET) && old & B_SET) this.setTimeFromRegisters();
        break;
      }
      case REG_C:
      case REG_D:
        return; // read-only
      default:
        if (TIME_REGS.has(i) && !(this.cmos[REG_B]! & B_SET)) {
          this.latchTime(this.currentSec());
          this.cmos[i] = value;
          this.setTimeFromRegisters();
        } else {
          this.cmos[i] = value;
        }
    }
    this.updateIrq();
  }

  // ---- Snapshotable ----------------------------------------------------------------------

  saveState(): RtcState {
    return {
      cmos: Array.from(this.cmos),
      index: this.index,
      nmiMasked: this.nmiMasked,
      secBase: this.secBase,
      fracNs: this.fracNs,
      regC: this.regC,
      lastUpdateSec: this.lastUpdateSec,
      lastPeriodicIdx: this.lastPeriodicIdx,
      nowNs: this.nowNs,
      irqLevel: this.irqLevel,
    };
  }

  loadState(s: RtcState): void {
    this.cmos.set(s.cmos);
    this.index = s.index;
    this.nmiMasked = s.nmiMasked;
    this.secBase = s.secBase;
    this.fracNs = s.fracNs;
    this.regC = s.regC;
    this.lastUpdateSec = s.lastUpdateSec;
    this.lastPeriodicIdx = s.lastPeriodicIdx;
    this.nowNs = s.nowNs;
    this.irqLevel = s.irqLevel;
    this.irq(this.irqLevel);
  }

  // ---- internals -------------------------------------------------------------------------

  private time(): number {
    return (this.nowNs = deviceTime(this.clock, this.nowNs));
  }

  private currentSec(): number {
    return this.secBase + Math.floor((this.nowNs + this.fracNs) / 1e9);
  }

  private periodicIdx(): number {
    const rs = this.cmos[REG_A]! & 0x0f;
    if (!rs) return 0;
    return Math.floor((this.nowNs + this.fracNs) / rtcPeriodNs(rs));
  }

  /** Process updates and periodic ticks up to the current time. */
  private catchUp(): void {
    this.time();
    const b = this.cmos[REG_B]!;
    const rs = this.cmos[REG_A]! & 0x0f;
    if (rs) {
      const idx = this.periodicIdx();
      if (idx > this.lastPeriodicIdx) this.regC |= C_PF;
      this.lastPeriodicIdx = idx;
    }
    const cur = this.currentSec();
    if (b & B_SET) {
      this.lastUpdateSec = cur;
    } else if (cur > this.lastUpdateSec) {
      this.regC |= C_UF;
      // Alarms repeat at most daily: checking the last day of elapsed seconds is enough.
      const from = Math.max(this.lastUpdateSec + 1, cur - 86400);
      for (let s = from; s <= cur && !(this.regC & C_AF); s++) {
        if (this.alarmMatches(s)) this.regC |= C_AF;
      }
      this.lastUpdateSec = cur;
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const b = this.cmos[REG_B]!;
    // PIE/AIE/UIE occupy the same bit positions as PF/AF/UF.
    if (this.regC & b & (C_PF | C_AF | C_UF)) this.regC |= C_IRQF;
    else this.regC &= ~C_IRQF;
    const level = (this.regC & C_IRQF) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  private binary(): boolean {
    return (this.cmos[REG_B]! & B_DM_BINARY) !== 0;
  }

  private enc(v: number): number {
    return this.binary() ? v : toBcd(v);
  }

  private dec(v: number): number {
    return this.binary() ? v : fromBcd(v);
  }

  private encHour(h: number): number {
    if (this.cmos[REG_B]! & B_24H) return this.enc(h);
    const h12 = h % 12 || 12;
    return this.enc(h12) | (h >= 12 ? 0x80 : 0);
  }

  private decHour(v: number): number {
    if (this.cmos[REG_B]! & B_24H) return this.dec(v);
    const h = this.dec(v & 0x7f) % 12;
    return v & 0x80 ? h + 12 : h;
  }

  /** Write the time/date registers for guest second `sec`. */
  private latchTime(sec: number): void {
    const d = new Date(sec * 1000);
    this.cmos[0x00] = this.enc(d.getUTCSeconds());
    this.cmos[0x02] = this.enc(d.getUTCMinutes());
    this.cmos[0x04] = this.encHour(d.getUTCHours());
    this.cmos[0x06] = this.enc(d.getUTCDay() + 1);
    this.cmos[0x07] = this.enc(d.getUTCDate());
    this.cmos[0x08] = this.enc(d.getUTCMonth() + 1);
    const y = d.getUTCFullYear();
    this.cmos[0x09] = this.enc(y % 100);
    this.cmos[0x32] = this.enc(Math.floor(y / 100));
  }

  /** Take the time from the registers; the sub-second phase of the divider chain is kept. */
  private setTimeFromRegisters(): void {
    const year = this.dec(this.cmos[0x32]!) * 100 + this.dec(this.cmos[0x09]!);
    const ms = Date.UTC(
      year,
      this.dec(this.cmos[0x08]!) - 1,
      this.dec(this.cmos[0x07]!),
      this.decHour(this.cmos[0x04]!),
      this.dec(this.cmos[0x02]!),
      this.dec(this.cmos[0x00]!),
    );
    if (!Number.isFinite(ms)) return;
    const target = Math.floor(ms / 1000);
    this.secBase += target - this.currentSec();
    this.lastUpdateSec = this.currentSec();
  }

  private alarmMatches(sec: number): boolean {
    const d = new Date(sec * 1000);
    const match = (alarm: number, v: number) => alarm >= 0xc0 || alarm === v;
    return (
      match(this.cmos[0x01]!, this.enc(d.getUTCSeconds())) &&
      match(this.cmos[0x03]!, this.enc(d.getUTCMinutes())) &&
      match(this.cmos[0x05]!, this.encHour(d.getUTCHours()))
    );
  }

  private initMemoryFields(bytes: number, equipment: number): void {
    const c = this.cmos;
    c[0x10] = 0x00; // no floppy drives
    c[0x14] = equipment;
    c[0x15] = 640 & 0xff;
    c[0x16] = 640 >> 8;
    const extKb = Math.min(Math.max(0, Math.floor(bytes / 1024) - 1024), 0xffff);
    c[0x17] = c[0x30] = extKb & 0xff;
    c[0x18] = c[0x31] = extKb >> 8;
    const above16 = Math.min(Math.max(0, Math.floor((bytes - 16 * 1024 * 1024) / 65536)), 0xffff);
    c[0x34] = above16 & 0xff;
    c[0x35] = above16 >> 8;
    this.latchTime(this.secBase);
    this.updateChecksum();
  }

  private updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.cmos[i]!;
    this.cmos[0x2e] = (sum >> 8) & 0xff;
    this.cmos[0x2f] = sum & 0xff;
  }
}
