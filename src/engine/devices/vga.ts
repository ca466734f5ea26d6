// VGA in 80x25 colour text mode. The text buffer is ordinary guest RAM at physical 0xB8000 (the
// machine hands over a Uint8Array view of guest memory); this device owns the VGA registers:
// misc output (0x3C2 write / 0x3CC read), input status 0 (0x3C2) and 1 (0x3DA: retrace bits
// toggle on every read; the read resets the attribute-controller flip-flop), attribute
// controller (0x3C0/0x3C1, index/data flip-flop), sequencer (0x3C4/0x3C5), graphics controller
// (0x3CE/0x3CF), DAC (0x3C6 mask, 0x3C7 read index / state, 0x3C8 write index, 0x3C9 data:
// stored, not rendered), VGA enable 0x3C3, feature control (0x3CA read / 0x3DA write) and CRTC
// (0x3D4/0x3D5; registers 0-7 write-protected by CR11 bit 7). 16- and 32-bit port accesses are
// split into byte accesses at consecutive ports (outw 0x3D4 = index then data).
//
// Registers power up with the standard mode 3 values (what the VGA BIOS programs), so a directly
// booted kernel sees a valid text mode. Only the colour I/O addresses (0x3Dx) are decoded;
// graphics modes, fonts and planar memory are not modelled. `textScreen()` renders the 80x25
// cells from the CRTC start address with the CRTC offset register as row pitch.

import type { IoBus, IoSize, PortHandler, Snapshotable } from "../io.ts";

/** Code page 437 -> Unicode (0x00 shown as a space, 0xFF as NBSP). */
export const CP437 =
  " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼" +
  " !\"#$%&'()*+,-./0123456789:;<=>?" +
  "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_" +
  "`abcdefghijklmnopqrstuvwxyz{|}~⌂" +
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒ" +
  "áíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
  "└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
  "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

const TEXT_BASE = 0xb8000;
const COLS = 80;
const ROWS = 25;

// Standard VGA mode 3 register values.
// prettier-ignore
const MODE3_CRTC = [
  0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00,
  0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
];
const MODE3_SEQ = [0x03, 0x00, 0x03, 0x00, 0x02];
const MODE3_GC = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff];
// prettier-ignore
const MODE3_AC = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
  0x0c, 0x00, 0x0f, 0x08, 0x00,
];

export interface TextScreen {
  cols: 80;
  rows: 25;
  /** One string of 80 characters per row (CP437 decoded). */
  chars: string[];
  /** Attribute byte per cell, row-major (80 x 25). */
  attrs: Uint8Array;
  cursor: { row: number; col: number; visible: boolean };
}

export interface VgaState {
  crtc: number[];
  crtcIndex: number;
  seq: number[];
  seqIndex: number;
  gc: number[];
  gcIndex: number;
  ac: number[];
  acIndex: number;
  acFlip: boolean;
  misc: number;
  feature: number;
  vgaEnable: number;
  dac: number[];
  dacMask: number;
  dacReadIndex: number;
  dacWriteIndex: number;
  dacComponent: number;
  dacReading: boolean;
  statusToggle: number;
}

export class VgaText implements PortHandler, Snapshotable<VgaState> {
  private readonly ram: Uint8Array;
  private crtc = [...MODE3_CRTC];
  private crtcIndex = 0;
  private seq = [...MODE3_SEQ];
  private seqIndex = 0;
  private gc = [...MODE3_GC];
  private gcIndex = 0;
  private ac = [...MODE3_AC];
  /** Attribute index register, including bit 5 (palette address source). */
  private acIndex = 0x20;
  /** false: next 0x3C0 write is an index; true: data. */
  private acFlip = false;
  private misc = 0x67;
  private feature = 0;
  private vgaEnable = 1;
  private dac = new Array<number>(768).fill(0);
  private dacMask = 0xff;
  private dacReadIndex = 0;
  private dacWriteIndex = 0;
  private dacComponent = 0;
  private dacReading = false;
  private statusToggle = 0;

  constructor(bus: IoBus, opts: { ram: Uint8Array; name?: string }) {
    this.ram = opts.ram;
    const name = opts.name ?? "vga";
    bus.register(name, 0x3c0, 16, this);
    bus.register(name, 0x3d4, 2, this);
    bus.register(name, 0x3da, 1, this);
  }

  // ---- UI API ----------------------------------------------------------------------------

  textScreen(): TextScreen {
    const chars: string[] = [];
    const attrs = new Uint8Array(COLS * ROWS);
    for (let r = 0; r < ROWS; r++) {
      let s = "";
      for (let c = 0; c < COLS; c++) {
        const a = this.cellAddress(r, c);
        s += CP437[this.ram[a] ?? 0]!;
        attrs[r * COLS + c] = this.ram[a + 1] ?? 0;
      }
      chars.push(s);
    }
    return { cols: COLS, rows: ROWS, chars, attrs, cursor: this.cursor() };
  }

  /** Row `n` (0-24) as a string of 80 characters. */
  textRow(n: number): string {
    if (n < 0 || n >= ROWS) throw new RangeError(`text row ${n} out of range 0-${ROWS - 1}`);
    let s = "";
    for (let c = 0; c < COLS; c++) s += CP437[this.ram[this.cellAddress(n, c)] ?? 0]!;
    return s;
  }

  cursor(): { row: number; col: number; visible: boolean } {
    const loc = (this.crtc[0x0e]! << 8) | this.crtc[0x0f]!;
    const rel = loc - this.startAddress();
    const pitch = this.pitch();
    const row = rel >= 0 ? Math.floor(rel / pitch) : -1;
    const col = rel >= 0 ? rel % pitch : -1;
    const start = this.crtc[0x0a]! & 0x1f;
    const end = this.crtc[0x0b]! & 0x1f;
    const visible =
      !(this.crtc[0x0a]! & 0x20) && start <= end && row >= 0 && row < ROWS && col >= 0 && col < COLS;
    return { row, col, visible };
  }

  /** DAC palette entry (6-bit components), for a future renderer. */
  dacEntry(i: number): [number, number, number] {
    return [this.dac[i * 3]!, this.dac[i * 3 + 1]!, this.dac[i * 3 + 2]!];
  }

  // ---- PortHandler -----------------------------------------------------------------------

  read(port: number, size: IoSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(port + i) << (8 * i);
    return v >>> 0;
  }

  write(port: number, size: IoSize, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (8 * i)) & 0xff);
  }

  // ---- Snapshotable ----------------------------------------------------------------------

  saveState(): VgaState {
    return {
      crtc: [...this.crtc],
      crtcIndex: this.crtcIndex,
      seq: [...this.seq],
      seqIndex: this.seqIndex,
      gc: [...this.gc],
      gcIndex: this.gcIndex,
      ac: [...this.ac],
      acIndex: this.acIndex,
      acFlip: this.acFlip,
      misc: this.misc,
      feature: this.feature,
      vgaEnable: this.vgaEnable,
      dac: [...this.dac],
      dacMask: this.dacMask,
      dacReadIndex: this.dacReadIndex,
      dacWriteIndex: this.dacWriteIndex,
      dacComponent: this.dacComponent,
      dacReading: this.dacReading,
      statusToggle: this.statusToggle,
    };
  }

  loadState(s: VgaState): void {
    this.crtc = [...s.crtc];
    this.crtcIndex = s.crtcIndex;
    this.seq = [...s.seq];
    this.seqIndex = s.seqIndex;
    this.gc = [...s.gc];
    this.gcIndex = s.gcIndex;
    this.ac = [...s.ac];
    this.acIndex = s.acIndex;
    this.acFlip = s.acFlip;
    this.misc = s.misc;
    this.feature = s.feature;
    this.vgaEnable = s.vgaEnable;
    this.dac = [...s.dac];
    this.dacMask = s.dacMask;
    this.dacReadIndex = s.dacReadIndex;
    this.dacWriteIndex = s.dacWriteIndex;
    this.dacComponent = s.dacComponent;
    this.dacReading = s.dacReading;
    this.statusToggle = s.statusToggle;
  }

  // ---- internals -------------------------------------------------------------------------

  private startAddress(): number {
    return (this.crtc[0x0c]! << 8) | this.crtc[0x0d]!;
  }

  private pitch(): number {
    return this.crtc[0x13]! * 2 || COLS;
  }

  /** RAM address of the character byte of a cell (the 32 KiB text window wraps). */
  private cellAddress(row: number, col: number): number {
    const cell = this.startAddress() + row * this.pitch() + col;
    return TEXT_BASE + ((cell * 2) & 0x7fff);
  }

  private readByte(port: number): number {
    switch (port) {
      case 0x3c0:
        return this.acIndex;
      case 0x3c1: {
        const i = this.acIndex & 0x1f;
        return i < this.ac.length ? this.ac[i]! : 0;
      }
      case 0x3c2:
        return 0x00; // input status 0
      case 0x3c3:
        return this.vgaEnable;
      case 0x3c4:
        return this.seqIndex;
      case 0x3c5:
        return this.seqIndex < this.seq.length ? this.seq[this.seqIndex]! : 0xff;
      case 0x3c6:
        return this.dacMask;
      case 0x3c7:
        return this.dacReading ? 0x03 : 0x00;
      case 0x3c8:
        return this.dacWriteIndex;
      case 0x3c9: {
        const v = this.dac[this.dacReadIndex * 3 + this.dacComponent]!;
        if (++this.dacComponent === 3) {
          this.dacComponent = 0;
          this.dacReadIndex = (this.dacReadIndex + 1) & 0xff;
        }
        return v;
      }
      case 0x3ca:
        return this.feature;
      case 0x3cc:
        return this.misc;
      case 0x3ce:
        return this.gcIndex;
      case 0x3cf:
        return this.gcIndex < this.gc.length ? this.gc[this.gcIndex]! : 0xff;
      case 0x3d4:
        return this.crtcIndex;
      case 0x3d5:
        return this.crtcIndex < this.crtc.length ? this.crtc[this.crtcIndex]! : 0xff;
      case 0x3da:
        // Input status 1: display-enable (bit 0) and vertical retrace (bit 3) toggle per read.
        this.acFlip = false;
        this.statusToggle ^= 1;
        return this.statusToggle ? 0x09 : 0x00;
      default:
        return 0xff;
    }
  }

  private writeByte(port: number, v: number): void {
    switch (port) {
      case 0x3c0:
        if (!this.acFlip) {
          this.acIndex = v & 0x3f;
        } else {
          const i = this.acIndex & 0x1f;
          if (i < this.ac.length) this.ac[i] = v;
        }
        this.acFlip = !this.acFlip;
        return;
      case 0x3c2:
        this.misc = v;
        return;
      case 0x3c3:
        this.vgaEnable = v & 1;
        return;
      case 0x3c4:
        this.seqIndex = v & 0x07;
        return;
      case 0x3c5:
        if (this.seqIndex < this.seq.length) this.seq[this.seqIndex] = v;
        return;
      case 0x3c6:
        this.dacMask = v;
        return;
      case 0x3c7:
        this.dacReadIndex = v;
        this.dacComponent = 0;
        this.dacReading = true;
        return;
      case 0x3c8:
        this.dacWriteIndex = v;
        this.dacComponent = 0;
        this.dacReading = false;
        return;
      case 0x3c9:
        this.dac[this.dacWriteIndex * 3 + this.dacComponent] = v & 0x3f;
        if (++this.dacComponent === 3) {
          this.dacComponent = 0;
          this.dacWriteIndex = (this.dacWriteIndex + 1) & 0xff;
        }
        return;
      case 0x3ce:
        this.gcIndex = v & 0x0f;
        return;
      case 0x3cf:
        if (this.gcIndex < this.gc.length) this.gc[this.gcIndex] = v;
        return;
      case 0x3d4:
        this.crtcIndex = v;
        return;
      case 0x3d5: {
        const i = this.crtcIndex;
        if (i >= this.crtc.length) return;
        if (this.crtc[0x11]! & 0x80 && i <= 7) {
          // CR11 bit 7 protects CR00-CR07, except the line-compare bit 4 of CR07.
          if (i === 7) this.crtc[7] = (this.crtc[7]! & ~0x10) | (v & 0x10);
          return;
        }
        this.crtc[i] = v;
        return;
      }
      case 0x3da:
        this.feature = v;
        return;
      default:
        return;
    }
  }
}
