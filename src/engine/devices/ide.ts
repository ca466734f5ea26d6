// ATA/IDE channel (primary: command block 0x1F0-0x1F7, control block 0x3F6, IRQ14) with one ATA
// disk as device 0 and no device 1, following ATA/ATAPI-6 for PIO.
//
// Registers: 0 data (16- or 32-bit), 1 error/features, 2 sector count, 3 LBA low / sector,
// 4 LBA mid / cylinder low, 5 LBA high / cylinder high, 6 device/head, 7 status/command;
// 0x3F6 alternate status (read; does not clear INTRQ) / device control (write: nIEN, SRST).
// The taskfile registers are written to both devices, as on a real cable. With device 1
// selected, Status and Alternate Status read 00h (ATA: device 0 answers for an absent device 1)
// and commands are ignored; other registers read back the shared values. Linux classifies the
// slave as "none" from the 00h status right after its reset wait.
//
// Commands: IDENTIFY DEVICE, READ/WRITE SECTOR(S) (0x20/0x21/0x30/0x31), READ/WRITE MULTIPLE
// (0xC4/0xC5), SET MULTIPLE MODE, READ VERIFY (0x40/0x41), INITIALIZE DEVICE PARAMETERS, SET
// FEATURES (PIO transfer modes, write cache, look-ahead, defaults), FLUSH CACHE (0xE7/0xEA),
// EXECUTE DEVICE DIAGNOSTIC, RECALIBRATE, SEEK, power-management no-ops (0xE0-0xE3, 0xE5, 0xE6
// and their 0x94-0x99 aliases); everything else, including IDENTIFY PACKET DEVICE and NOP,
// aborts with ABRT. LBA28 and CHS addressing. No LBA48, no DMA.
//
// Timing: commands complete instantly (BSY is never observed except during SRST). PIO data-in
// raises INTRQ at the start of each DRQ block; PIO data-out does not interrupt before the first
// block, then interrupts after each block (including the last, as command completion).
// On success the address registers are left as the host wrote them (ATA-6: "na").

import type { IoBus, IoSize, IrqLine, PortHandler, Snapshotable } from "../io.ts";
import { Disk, SECTOR_SIZE, fromBase64, toBase64 } from "./disk.ts";

const ST_ERR = 0x01;
const ST_DRQ = 0x08;
const ST_DSC = 0x10;
const ST_DRDY = 0x40;
const ST_BSY = 0x80;
const ER_ABRT = 0x04;
const ER_IDNF = 0x10;
const CTL_NIEN = 0x02;
const CTL_SRST = 0x04;
const MAX_MULTIPLE = 16;
const LBA28_MAX = 0x0fffffff;

export interface IdeOptions {
  /** INTRQ line (IRQ14 for the primary channel). */
  irq: IrqLine;
  /** Device 0 (master). Without a disk the channel is empty and reads float high (0xFF). */
  disk?: Disk;
  /** Device name for I/O accounting (default "ide0"). */
  name?: string;
  /** Command block base (default 0x1F0) and control block port (default 0x3F6). */
  base?: number;
  control?: number;
  model?: string;
  serial?: string;
  firmware?: string;
}

export interface IdeState {
  features: number;
  nsect: number;
  sector: number;
  lcyl: number;
  hcyl: number;
  select: number;
  control: number;
  status: number;
  error: number;
  intrq: boolean;
  irqLevel: boolean;
  mode: "idle" | "in" | "out";
  buf: string;
  pos: number;
  end: number;
  lba: number;
  remaining: number;
  blockSectors: number;
  multiple: number;
  heads: number;
  spt: number;
}

export class IdeChannel implements PortHandler, Snapshotable<IdeState> {
  private readonly irq: IrqLine;
  private readonly disk: Disk | undefined;
  private readonly base: number;
  private readonly ctrlPort: number;
  private readonly model: string;
  private readonly serial: string;
  private readonly firmware: string;
  /** Default CHS geometry (IDENTIFY words 1, 3, 6). */
  private readonly defCyl: number;
  private readonly defHeads: number;
  private readonly defSpt: number;

  // Shared taskfile
  private features = 0;
  private nsect = 1;
  private sector = 1;
  private lcyl = 0;
  private hcyl = 0;
  private select = 0;
  private control = 0;
  // Device 0 state
  private status = ST_DRDY | ST_DSC;
  private error = 0x01;
  private intrq = false;
  private irqLevel = false;
  private mode: "idle" | "in" | "out" = "idle";
  private buf = new Uint8Array(MAX_MULTIPLE * SECTOR_SIZE);
  private pos = 0;
  private end = 0;
  private lba = 0;
  /** Sectors left after the current block. */
  private remaining = 0;
  private blockSectors = 1;
  private multiple = 0;
  /** Current logical CHS translation (INITIALIZE DEVICE PARAMETERS). */
  private heads: number;
  private spt: number;

  constructor(bus: IoBus, opts: IdeOptions) {
    this.irq = opts.irq;
    this.disk = opts.disk;
    this.base = opts.base ?? 0x1f0;
    this.ctrlPort = opts.control ?? 0x3f6;
    this.model = opts.model ?? "VirtLab disk";
    this.serial = opts.serial ?? "VL0000000001";
    this.firmware = opts.firmware ?? "1.0";
    const total = this.totalSectors();
    this.defHeads = 16;
    this.defSpt = 63;
    this.defCyl = Math.max(1, Math.min(16383, Math.floor(total / (16 * 63))));
    this.heads = this.defHeads;
    this.spt = this.defSpt;
    const name = opts.name ?? "ide0";
    bus.register(name, this.base, 8, this);
    bus.register(name, this.ctrlPort, 1, this);
  }

  // ---- PortHandler -----------------------------------------------------------------------

  read(port: number, size: IoSize): number {
    if (!this.disk) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    const slave = (this.select & 0x10) !== 0;
    if (port === this.ctrlPort) return slave ? 0 : this.status;
    switch (port - this.base) {
      case 0:
        return this.readData(size);
      case 1:
        return this.error;
      case 2:
        return this.nsect;
      case 3:
        return this.sector;
      case 4:
        return this.lcyl;
      case 5:
        return this.hcyl;
      case 6:
        return this.select | 0xa0;
      default:
        if (slave) return 0;
        this.intrq = false;
        this.updateIrq();
        return this.status;
    }
  }

  write(port: number, size: IoSize, value: number): void {
    if (port === this.ctrlPort) {
      this.writeControl(value & 0xff);
      return;
    }
    const reg = port - this.base;
    if (reg === 0) {
      this.writeData(size, value);
      return;
    }
    value &= 0xff;
    // Writes to the command block are ignored while BSY (here: during SRST).
    if (this.status & ST_BSY) return;
    switch (reg) {
      case 1:
        this.features = value;
        break;
      case 2:
        this.nsect = value;
        break;
      case 3:
        this.sector = value;
        break;
      case 4:
        this.lcyl = value;
        break;
      case 5:
        this.hcyl = value;
        break;
      case 6:
        this.select = value & 0x5f;
        break;
      default:
        this.command(value);
    }
  }

  // ---- Snapshotable ----------------------------------------------------------------------

  /** Channel state; the disk contents are saved separately with `Disk.saveOverlay()`. */
  saveState(): IdeState {
    return {
      features: this.features,
      nsect: this.nsect,
      sector: this.sector,
      lcyl: this.lcyl,
      hcyl: this.hcyl,
      select: this.select,
      control: this.control,
      status: this.status,
      error: this.error,
      intrq: this.intrq,
      irqLevel: this.irqLevel,
      mode: this.mode,
      buf: this.mode === "idle" ? "" : toBase64(this.buf.subarray(0, this.end)),
      pos: this.pos,
      end: this.end,
      lba: this.lba,
      remaining: this.remaining,
      blockSectors: this.blockSectors,
      multiple: this.multiple,
      heads: this.heads,
      spt: this.spt,
    };
  }

  loadState(s: IdeState): void {
    this.features = s.features;
    this.nsect = s.nsect;
    this.sector = s.sector;
    this.lcyl = s.lcyl;
    this.hcyl = s.hcyl;
    this.select = s.select;
    this.control = s.control;
    this.status = s.status;
    this.error = s.error;
    this.intrq = s.intrq;
    this.irqLevel = s.irqLevel;
    this.mode = s.mode;
    this.buf.fill(0);
    if (s.buf) this.buf.set(fromBase64(s.buf));
    this.pos = s.pos;
    this.end = s.end;
    this.lba = s.lba;
    this.remaining = s.remaining;
    this.blockSectors = s.blockSectors;
    this.multiple = s.multiple;
    this.heads = s.heads;
    this.spt = s.spt;
    this.irq(this.irqLevel);
  }

  // ---- internals -------------------------------------------------------------------------

  private totalSectors(): number {
    return Math.min(this.disk?.sectors ?? 0, LBA28_MAX);
  }

  private updateIrq(): void {
    const level = this.intrq && !(this.control & CTL_NIEN);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  private raise(): void {
    this.intrq = true;
    this.updateIrq();
  }

  private writeControl(v: number): void {
    const old = this.control;
    this.control = v & (CTL_NIEN | CTL_SRST);
    if (v & CTL_SRST && !(old & CTL_SRST)) {
      this.status = ST_BSY;
      this.mode = "idle";
      this.intrq = false;
    } else if (!(v & CTL_SRST) && old & CTL_SRST) {
      this.setSignature();
      this.status = ST_DRDY | ST_DSC;
    }
    this.updateIrq();
  }

  /** Reset/diagnostic signature of an ATA device; error 01h = device 0 passed, device 1 absent. */
  private setSignature(): void {
    this.nsect = 1;
    this.sector = 1;
    this.lcyl = 0;
    this.hcyl = 0;
    this.select = 0;
    this.error = 0x01;
  }

  private readData(size: IoSize): number {
    if (this.mode !== "in") return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    let v = 0;
    for (let i = 0; i < size && this.pos < this.end; i++) v |= this.buf[this.pos++]! << (8 * i);
    if (this.pos >= this.end) this.dataInBlockDone();
    return v >>> 0;
  }

  private writeData(size: IoSize, value: number): void {
    if (this.mode !== "out") return;
    for (let i = 0; i < size && this.pos < this.end; i++) this.buf[this.pos++] = (value >>> (8 * i)) & 0xff;
    if (this.pos >= this.end) this.dataOutBlockDone();
  }

  private abort(err = ER_ABRT): void {
    this.mode = "idle";
    this.error = err;
    this.status = ST_DRDY | ST_DSC | ST_ERR;
    this.raise();
  }

  private complete(): void {
    this.mode = "idle";
    this.error = 0;
    this.status = ST_DRDY | ST_DSC;
    this.raise();
  }

  /** Decode the starting sector from the taskfile (LBA28 or CHS); -1 when invalid. */
  private address(): number {
    if (this.select & 0x40) {
      return ((this.select & 0x0f) << 24) | (this.hcyl << 16) | (this.lcyl << 8) | this.sector;
    }
    const cyl = (this.hcyl << 8) | this.lcyl;
    const head = this.select & 0x0f;
    if (this.sector === 0 || this.sector > this.spt || head >= this.heads) return -1;
    return (cyl * this.heads + head) * this.spt + this.sector - 1;
  }

  /** Validate the range of a sector command; returns [lba, count] or null after aborting. */
  private range(): [number, number] | null {
    const count = this.nsect || 256;
    const lba = this.address();
    if (lba < 0 || lba + count > this.totalSectors()) {
      this.abort(ER_IDNF);
      return null;
    }
    return [lba, count];
  }

  private command(cmd: number): void {
    if (!this.disk) return;
    const slave = (this.select & 0x10) !== 0;
    if (cmd === 0x90) {
      // EXECUTE DEVICE DIAGNOSTIC is addressed to both devices; device 0 reports.
      this.setSignature();
      this.mode = "idle";
      this.status = ST_DRDY | ST_DSC;
      this.raise();
      return;
    }
    if (slave) return; // device 1 is absent
    this.intrq = false;
    this.updateIrq();
    switch (cmd) {
      case 0xec: // IDENTIFY DEVICE
        this.identify();
        this.startIn(0, 0, 1, true);
        return;
      case 0x20:
      case 0x21:
      case 0xc4: {
        if (cmd === 0xc4 && !this.multiple) return this.abort();
        const r = this.range();
        if (!r) return;
        this.startIn(r[0], r[1], cmd === 0xc4 ? this.multiple : 1, false);
        return;
      }
      case 0x30:
      case 0x31:
      case 0xc5: {
        if (cmd === 0xc5 && !this.multiple) return this.abort();
        const r = this.range();
        if (!r) return;
        this.lba = r[0];
        this.remaining = r[1];
        this.blockSectors = cmd === 0xc5 ? this.multiple : 1;
        this.nextOutBlock();
        return;
      }
      case 0x40:
      case 0x41: // READ VERIFY SECTOR(S)
        if (this.range()) this.complete();
        return;
      case 0x91: // INITIALIZE DEVICE PARAMETERS
        if (this.nsect === 0) return this.abort();
        this.heads = (this.select & 0x0f) + 1;
        this.spt = this.nsect;
        return this.complete();
      case 0xc6: {
        // SET MULTIPLE MODE
        const n = this.nsect;
        if (n > MAX_MULTIPLE || n & (n - 1)) return this.abort();
        this.multiple = n;
        return this.complete();
      }
      case 0xef:
        return this.setFeatures();
      case 0xe7:
      case 0xea: // FLUSH CACHE (EXT): writes are already in the overlay
        return this.complete();
      case 0xe0:
      case 0xe1:
      case 0xe2:
      case 0xe3:
      case 0xe6:
      case 0x94:
      case 0x95:
      case 0x96:
      case 0x97:
      case 0x99: // standby/idle/sleep: no power states to model
        return this.complete();
      case 0xe5:
      case 0x98: // CHECK POWER MODE: active or idle
        this.nsect = 0xff;
        return this.complete();
      case 0x70: // SEEK
        if (this.address() < 0 || this.address() >= this.totalSectors()) return this.abort(ER_IDNF);
        return this.complete();
      default:
        if (cmd >= 0x10 && cmd <= 0x1f) return this.complete(); // RECALIBRATE
        return this.abort(); // includes 0xA1 IDENTIFY PACKET DEVICE, 0xA0 PACKET, 0x00 NOP
    }
  }

  private setFeatures(): void {
    switch (this.features) {
      case 0x03: {
        // Set transfer mode: PIO default (00h/01h) or PIO flow-control mode 0-4 (08h-0Ch).
        const m = this.nsect;
        if (m === 0x00 || m === 0x01 || (m >= 0x08 && m <= 0x0c)) return this.complete();
        return this.abort(); // no DMA modes
      }
      case 0x02: // enable write cache
      case 0x82: // disable write cache
      case 0xaa: // enable read look-ahead
      case 0x55: // disable read look-ahead
      case 0x66: // disable reverting to power-on defaults
      case 0xcc: // enable reverting to power-on defaults
        return this.complete();
      default:
        return this.abort();
    }
  }

  private startIn(lba: number, count: number, block: number, identify: boolean): void {
    if (identify) {
      this.remaining = 0;
      this.pos = 0;
      this.end = SECTOR_SIZE;
      this.mode = "in";
      this.error = 0;
      this.status = ST_DRDY | ST_DSC | ST_DRQ;
      this.raise();
      return;
    }
    this.lba = lba;
    this.remaining = count;
    this.blockSectors = block;
    this.nextInBlock();
  }

  private nextInBlock(): void {
    const n = Math.min(this.blockSectors, this.remaining);
    this.disk!.readInto(this.lba, n, this.buf, 0);
    this.lba += n;
    this.remaining -= n;
    this.pos = 0;
    this.end = n * SECTOR_SIZE;
    this.mode = "in";
    this.error = 0;
    this.status = ST_DRDY | ST_DSC | ST_DRQ;
    this.raise();
  }

  private dataInBlockDone(): void {
    if (this.remaining > 0) {
      this.nextInBlock();
    } else {
      this.mode = "idle";
      this.status = ST_DRDY | ST_DSC;
    }
  }

  private nextOutBlock(): void {
    const n = Math.min(this.blockSectors, this.remaining);
    this.pos = 0;
    this.end = n * SECTOR_SIZE;
    this.mode = "out";
    this.error = 0;
    this.status = ST_DRDY | ST_DSC | ST_DRQ;
  }

  private dataOutBlockDone(): void {
    const n = this.end / SECTOR_SIZE;
    this.disk!.write(this.lba, this.buf.subarray(0, this.end));
    this.lba += n;
    this.remaining -= n;
    if (this.remaining > 0) {
      this.nextOutBlock();
      this.raise();
    } else {
      this.complete();
    }
  }

  /** Build the IDENTIFY DEVICE data (ATA/ATAPI-6 word layout) into the transfer buffer. */
  private identify(): void {
    const w = new Uint16Array(256);
    const total = this.totalSectors();
    const str = (first: number, words: number, s: string) => {
      const p = s.padEnd(words * 2, " ").slice(0, words * 2);
      for (let i = 0; i < words; i++) w[first + i] = (p.charCodeAt(2 * i) << 8) | p.charCodeAt(2 * i + 1);
    };
    w[0] = 0x0040; // ATA device, fixed (not removable)
    w[1] = this.defCyl;
    w[3] = this.defHeads;
    w[6] = this.defSpt;
    str(10, 10, this.serial);
    str(23, 4, this.firmware);
    str(27, 20, this.model);
    w[47] = 0x8000 | MAX_MULTIPLE; // READ/WRITE MULTIPLE: up to 16 sectors per block
    w[49] = 0x0e00; // IORDY supported, IORDY may be disabled, LBA supported (no DMA)
    w[50] = 0x4000;
    w[51] = 0x0200; // PIO timing mode 2 (obsolete field)
    w[53] = 0x0007; // words 54-58, 64-70 and 88 are valid
    const curCyl = Math.min(Math.floor(total / (this.heads * this.spt)), 0xffff);
    const curCap = curCyl * this.heads * this.spt;
    w[54] = curCyl;
    w[55] = this.heads;
    w[56] = this.spt;
    w[57] = curCap & 0xffff;
    w[58] = curCap >>> 16;
    w[59] = this.multiple ? 0x0100 | this.multiple : 0;
    w[60] = total & 0xffff;
    w[61] = total >>> 16;
    w[63] = 0x0000; // no multiword DMA
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = 120; // min multiword DMA cycle (ns)
    w[66] = 120;
    w[67] = 120; // min PIO cycle without flow control
    w[68] = 120; // min PIO cycle with IORDY
    w[80] = 0x0070; // ATA-4, ATA-5, ATA/ATAPI-6
    w[82] = 0x4008; // NOP, power management feature set
    w[83] = 0x5000; // FLUSH CACHE; bit 14 set, no 48-bit
    w[84] = 0x4000;
    w[85] = 0x4008;
    w[86] = 0x1000;
    w[87] = 0x4000;
    w[88] = 0x0000; // no Ultra DMA
    w[93] = 0x6001; // hardware reset result: device 0, 80-wire cable detect
    // Integrity word: signature A5h, checksum so that all 512 bytes sum to 0 mod 256.
    let sum = 0xa5;
    for (let i = 0; i < 255; i++) sum += (w[i]! & 0xff) + (w[i]! >> 8);
    w[255] = ((-sum & 0xff) << 8) | 0xa5;
    for (let i = 0; i < 256; i++) {
      this.buf[2 * i] = w[i]! & 0xff;
      this.buf[2 * i + 1] = w[i]! >> 8;
    }
  }
}
