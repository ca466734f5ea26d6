// Intel 8042 keyboard controller (ports 0x60 data, 0x64 status/command) with a PS/2 keyboard.
//
// Controller: status register, 32-byte internal RAM (byte 0 = command byte, via 0x20-0x3F and
// 0x60-0x7F), self-test 0xAA -> 0x55, interface tests 0xAB/0xA9 -> 0x00, keyboard/aux
// enable/disable 0xAE/0xAD/0xA8/0xA7, output port 0xD0/0xD1 (bit 0 = reset, bit 1 = A20),
// 0xD2/0xD3 write keyboard/aux output buffer, 0xD4 write to aux device, 0xDD/0xDF A20 off/on,
// 0xF0-0xFF pulse output port (0xFE = CPU reset), 0xC0 input port, 0xE0 test inputs.
// IRQ1 while the output buffer holds a keyboard/controller byte and command byte bit 0 is set;
// IRQ12 for aux bytes with bit 1 set.
//
// No mouse is attached: bytes sent to the aux device (0xD4) come back as 0xFE with the status
// timeout bit set, as an AT controller does when no device answers; Linux then gives up on the
// mouse at once. The aux loopback (0xD3) works, so Linux's AUX port probe behaves normally.
//
// Keyboard: scan code set 2 (set 1 selectable with 0xF0), commands 0xED LEDs, 0xEE echo, 0xF0
// scan code set, 0xF2 identify (0xAB 0x83), 0xF3 typematic, 0xF4/0xF5 enable/disable, 0xF6
// defaults, 0xF7-0xFD (set 3 key types, acknowledged), 0xFE resend, 0xFF reset (0xFA 0xAA).
// When command byte bit 6 (XLATE) is set, every byte from the keyboard goes through the 8042
// set 2 -> set 1 translation table and a 0xF0 break prefix is folded into bit 7 of the next byte.
// Typematic repeat is not generated (host key-repeat events produce repeated makes); the
// keyboard's buffer is unbounded (no 0x00 overrun code). Responses, queued input and
// scancodes are delivered one byte at a time: the next byte enters the output buffer when the
// guest reads port 0x60.

import type { IoBus, IoSize, IrqLine, PortHandler, Snapshotable } from "../io.ts";

/** The 8042's scan code set 2 -> set 1 translation table (IBM PC/AT technical reference). */
// prettier-ignore
export const SET2_TO_SET1 = new Uint8Array([
  0xff,0x43,0x41,0x3f,0x3d,0x3b,0x3c,0x58,0x64,0x44,0x42,0x40,0x3e,0x0f,0x29,0x59,
  0x65,0x38,0x2a,0x70,0x1d,0x10,0x02,0x5a,0x66,0x71,0x2c,0x1f,0x1e,0x11,0x03,0x5b,
  0x67,0x2e,0x2d,0x20,0x12,0x05,0x04,0x5c,0x68,0x39,0x2f,0x21,0x14,0x13,0x06,0x5d,
  0x69,0x31,0x30,0x23,0x22,0x15,0x07,0x5e,0x6a,0x72,0x32,0x24,0x16,0x08,0x09,0x5f,
  0x6b,0x33,0x25,0x17,0x18,0x0b,0x0a,0x60,0x6c,0x34,0x35,0x26,0x27,0x19,0x0c,0x61,
  0x6d,0x73,0x28,0x74,0x1a,0x0d,0x62,0x6e,0x3a,0x36,0x1c,0x1b,0x75,0x2b,0x63,0x76,
  0x55,0x56,0x77,0x78,0x79,0x7a,0x0e,0x7b,0x7c,0x4f,0x7d,0x4b,0x47,0x7e,0x7f,0x6f,
  0x52,0x53,0x50,0x4c,0x4d,0x48,0x01,0x45,0x57,0x4e,0x51,0x4a,0x37,0x49,0x46,0x54,
  0x80,0x81,0x82,0x41,0x54,0x85,0x86,0x87,0x88,0x89,0x8a,0x8b,0x8c,0x8d,0x8e,0x8f,
  0x90,0x91,0x92,0x93,0x94,0x95,0x96,0x97,0x98,0x99,0x9a,0x9b,0x9c,0x9d,0x9e,0x9f,
  0xa0,0xa1,0xa2,0xa3,0xa4,0xa5,0xa6,0xa7,0xa8,0xa9,0xaa,0xab,0xac,0xad,0xae,0xaf,
  0xb0,0xb1,0xb2,0xb3,0xb4,0xb5,0xb6,0xb7,0xb8,0xb9,0xba,0xbb,0xbc,0xbd,0xbe,0xbf,
  0xc0,0xc1,0xc2,0xc3,0xc4,0xc5,0xc6,0xc7,0xc8,0xc9,0xca,0xcb,0xcc,0xcd,0xce,0xcf,
  0xd0,0xd1,0xd2,0xd3,0xd4,0xd5,0xd6,0xd7,0xd8,0xd9,0xda,0xdb,0xdc,0xdd,0xde,0xdf,
  0xe0,0xe1,0xe2,0xe3,0xe4,0xe5,0xe6,0xe7,0xe8,0xe9,0xea,0xeb,0xec,0xed,0xee,0xef,
  0xf0,0xf1,0xf2,0xf3,0xf4,0xf5,0xf6,0xf7,0xf8,0xf9,0xfa,0xfb,0xfc,0xfd,0xfe,0xff,
]);

/** Scan code set 2 make codes by KeyboardEvent.code; 0xE0xx = extended (E0 prefix). */
export const SET2_CODES: Readonly<Record<string, number>> = {
  Escape: 0x76,
  F1: 0x05,
  F2: 0x06,
  F3: 0x04,
  F4: 0x0c,
  F5: 0x03,
  F6: 0x0b,
  F7: 0x83,
  F8: 0x0a,
  F9: 0x01,
  F10: 0x09,
  F11: 0x78,
  F12: 0x07,
  Backquote: 0x0e,
  Digit1: 0x16,
  Digit2: 0x1e,
  Digit3: 0x26,
  Digit4: 0x25,
  Digit5: 0x2e,
  Digit6: 0x36,
  Digit7: 0x3d,
  Digit8: 0x3e,
  Digit9: 0x46,
  Digit0: 0x45,
  Minus: 0x4e,
  Equal: 0x55,
  Backspace: 0x66,
  Tab: 0x0d,
  KeyQ: 0x15,
  KeyW: 0x1d,
  KeyE: 0x24,
  KeyR: 0x2d,
  KeyT: 0x2c,
  KeyY: 0x35,
  KeyU: 0x3c,
  KeyI: 0x43,
  KeyO: 0x44,
  KeyP: 0x4d,
  BracketLeft: 0x54,
  BracketRight: 0x5b,
  Backslash: 0x5d,
  CapsLock: 0x58,
  KeyA: 0x1c,
  KeyS: 0x1b,
  KeyD: 0x23,
  KeyF: 0x2b,
  KeyG: 0x34,
  KeyH: 0x33,
  KeyJ: 0x3b,
  KeyK: 0x42,
  KeyL: 0x4b,
  Semicolon: 0x4c,
  Quote: 0x52,
  Enter: 0x5a,
  ShiftLeft: 0x12,
  KeyZ: 0x1a,
  KeyX: 0x22,
  KeyC: 0x21,
  KeyV: 0x2a,
  KeyB: 0x32,
  KeyN: 0x31,
  KeyM: 0x3a,
  Comma: 0x41,
  Period: 0x49,
  Slash: 0x4a,
  ShiftRight: 0x59,
  ControlLeft: 0x14,
  MetaLeft: 0xe01f,
  AltLeft: 0x11,
  Space: 0x29,
  AltRight: 0xe011,
  MetaRight: 0xe027,
  ContextMenu: 0xe02f,
  ControlRight: 0xe014,
  ScrollLock: 0x7e,
  NumLock: 0x77,
  Insert: 0xe070,
  Home: 0xe06c,
  PageUp: 0xe07d,
  Delete: 0xe071,
  End: 0xe069,
  PageDown: 0xe07a,
  ArrowUp: 0xe075,
  ArrowLeft: 0xe06b,
  ArrowDown: 0xe072,
  ArrowRight: 0xe074,
  NumpadDivide: 0xe04a,
  NumpadMultiply: 0x7c,
  NumpadSubtract: 0x7b,
  NumpadAdd: 0x79,
  NumpadEnter: 0xe05a,
  NumpadDecimal: 0x71,
  Numpad0: 0x70,
  Numpad1: 0x69,
  Numpad2: 0x72,
  Numpad3: 0x7a,
  Numpad4: 0x6b,
  Numpad5: 0x73,
  Numpad6: 0x74,
  Numpad7: 0x6c,
  Numpad8: 0x75,
  Numpad9: 0x7d,
  IntlBackslash: 0x61,
  IntlRo: 0x51,
  IntlYen: 0x6a,
};

/** US layout: printable ASCII -> [code, shifted]. */
const ASCII_KEYS: Record<string, [string, boolean]> = (() => {
  const m: Record<string, [string, boolean]> = {};
  for (let c = 0; c < 26; c++) {
    const k = "Key" + String.fromCharCode(65 + c);
    m[String.fromCharCode(97 + c)] = [k, false];
    m[String.fromCharCode(65 + c)] = [k, true];
  }
  const digitsShifted = ")!@#$%^&*(";
  for (let d = 0; d < 10; d++) {
    m[String(d)] = ["Digit" + d, false];
    m[digitsShifted[d]!] = ["Digit" + d, true];
  }
  const pairs: [string, string, string][] = [
    ["-", "_", "Minus"],
    ["=", "+", "Equal"],
    ["[", "{", "BracketLeft"],
    ["]", "}", "BracketRight"],
    ["\\", "|", "Backslash"],
    [";", ":", "Semicolon"],
    ["'", '"', "Quote"],
    ["`", "~", "Backquote"],
    [",", "<", "Comma"],
    [".", ">", "Period"],
    ["/", "?", "Slash"],
  ];
  for (const [a, b, k] of pairs) {
    m[a] = [k, false];
    m[b] = [k, true];
  }
  m[" "] = ["Space", false];
  m["\n"] = ["Enter", false];
  m["\t"] = ["Tab", false];
  m["\b"] = ["Backspace", false];
  return m;
})();

type Source = "kbd" | "aux";
interface OutByte {
  v: number;
  src: Source;
  timeout?: boolean;
}

export interface I8042State {
  ram: number[];
  outBuf: OutByte | null;
  ctrlQueue: OutByte[];
  kbdResponses: number[];
  kbdScancodes: number[];
  outport: number;
  pendingCommand: number;
  lastWasCommand: boolean;
  xlatBreak: boolean;
  kbd: {
    scanning: boolean;
    set: number;
    leds: number;
    typematic: number;
    expect: number;
    lastSent: number;
  };
  irq1: boolean;
  irq12: boolean;
}

export interface I8042Options {
  /** IRQ1 (keyboard). */
  irq1: IrqLine;
  /** IRQ12 (aux); optional. */
  irq12?: IrqLine;
  /** Device name for I/O accounting (default "i8042"). */
  name?: string;
  /** Initial command byte (default 0x45: XLATE, system flag, keyboard interrupt). */
  commandByte?: number;
  /** Initial A20 state of the output port (default true). */
  a20?: boolean;
}

const ST_OBF = 0x01;
const ST_SYS = 0x04;
const ST_CMD = 0x08;
const ST_UNLOCKED = 0x10;
const ST_AUXB = 0x20;
const ST_TIMEOUT = 0x40;
const CB_KBD_INT = 0x01;
const CB_AUX_INT = 0x02;
const CB_SYS = 0x04;
const CB_KBD_DISABLE = 0x10;
const CB_AUX_DISABLE = 0x20;
const CB_XLATE = 0x40;

export class I8042 implements PortHandler, Snapshotable<I8042State> {
  /** Output port bit 1 changed (A20 gate). */
  onA20: ((enabled: boolean) => void) | null = null;
  /** Output port bit 0 pulsed/driven low: reset the CPU. */
  onReset: (() => void) | null = null;

  private readonly irq1: IrqLine;
  private readonly irq12: IrqLine | undefined;
  /** Internal RAM; byte 0 is the command byte. */
  private ram = new Array<number>(32).fill(0);
  private outBuf: OutByte | null = null;
  /** Controller-generated bytes waiting for the output buffer (ahead of device data). */
  private ctrlQueue: OutByte[] = [];
  private kbdResponses: number[] = [];
  private kbdScancodes: number[] = [];
  private outport: number;
  /** Controller command waiting for its data byte on port 0x60, or 0. */
  private pendingCommand = 0;
  private lastWasCommand = false;
  /** Translator saw 0xF0 from the keyboard: set bit 7 of the next byte. */
  private xlatBreak = false;
  private kbd = {
    scanning: true,
    set: 2,
    leds: 0,
    typematic: 0x2b,
    /** Command awaiting an argument byte (0xED, 0xF0, 0xF3), or 0. */
    expect: 0,
    lastSent: 0,
  };
  private irq1Level = false;
  private irq12Level = false;
  /** Last byte read from port 0x60 (returned again if the buffer is empty). */
  private lastRead = 0;

  constructor(bus: IoBus, opts: I8042Options) {
    this.irq1 = opts.irq1;
    this.irq12 = opts.irq12;
    this.ram[0] = opts.commandByte ?? CB_XLATE | CB_SYS | CB_KBD_INT;
    this.outport = 0xcd | (opts.a20 === false ? 0 : 0x02);
    const name = opts.name ?? "i8042";
    bus.register(name, 0x60, 1, this);
    bus.register(name, 0x64, 1, this);
  }

  /** A20 state as driven by the output port. */
  get a20(): boolean {
    return (this.outport & 0x02) !== 0;
  }

  get commandByte(): number {
    return this.ram[0]!;
  }

  // ---- host keyboard API -----------------------------------------------------------------

  /** Key pressed (KeyboardEvent.code). Returns false for an unknown code. */
  keyDown(code: string): boolean {
    return this.key(code, true);
  }

  /** Key released (KeyboardEvent.code). Returns false for an unknown code. */
  keyUp(code: string): boolean {
    return this.key(code, false);
  }

  /**
   * Queue make/break sequences (US layout, with Shift) for printable ASCII and \n \t \b.
   * Throws without queueing anything if the text contains another character.
   */
  typeText(text: string): void {
    const seq: [string, boolean][] = [];
    for (const ch of text) {
      const k = ch === "\r" ? ASCII_KEYS["\n"] : ASCII_KEYS[ch];
      if (!k) {
        throw new Error(
          `typeText: cannot type ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).padStart(4, "0")}); only printable ASCII, \\n, \\t and \\b are supported`,
        );
      }
      seq.push(k);
    }
    for (const [code, shift] of seq) {
      if (shift) this.keyDown("ShiftLeft");
      this.keyDown(code);
      this.keyUp(code);
      if (shift) this.keyUp("ShiftLeft");
    }
  }

  /** Bytes waiting to reach the guest (output buffer excluded). */
  pendingBytes(): number {
    return this.ctrlQueue.length + this.kbdResponses.length + this.kbdScancodes.length;
  }

  /** Controller reset (machine reset): keeps queued host input. */
  reset(): void {
    this.outBuf = null;
    this.ctrlQueue = [];
    this.kbdResponses = [];
    this.pendingCommand = 0;
    this.xlatBreak = false;
    this.kbd.expect = 0;
    this.updateIrq();
  }

  // ---- PortHandler -----------------------------------------------------------------------

  read(port: number, _size: IoSize): number {
    if (port === 0x64) return this.status();
    const b = this.outBuf;
    this.outBuf = null;
    this.updateIrq(); // the IRQ output drops when the buffer empties...
    this.fill();
    this.updateIrq(); // ...and rises again for the next byte (a new edge for the 8259)
    // Reading an empty buffer returns the last byte again on real controllers.
    if (b) this.lastRead = b.v;
    return this.lastRead;
  }

  write(port: number, _size: IoSize, value: number): void {
    value &= 0xff;
    if (port === 0x64) {
      this.lastWasCommand = true;
      this.command(value);
    } else {
      this.lastWasCommand = false;
      this.data(value);
    }
    this.fill();
    this.updateIrq();
  }

  // ---- Snapshotable ----------------------------------------------------------------------

  saveState(): I8042State {
    return {
      ram: [...this.ram],
      outBuf: this.outBuf ? { ...this.outBuf } : null,
      ctrlQueue: this.ctrlQueue.map((b) => ({ ...b })),
      kbdResponses: [...this.kbdResponses],
      kbdScancodes: [...this.kbdScancodes],
      outport: this.outport,
      pendingCommand: this.pendingCommand,
      lastWasCommand: this.lastWasCommand,
      xlatBreak: this.xlatBreak,
      kbd: { ...this.kbd },
      irq1: this.irq1Level,
      irq12: this.irq12Level,
    };
  }

  loadState(s: I8042State): void {
    this.ram = [...s.ram];
    this.outBuf = s.outBuf ? { ...s.outBuf } : null;
    this.ctrlQueue = s.ctrlQueue.map((b) => ({ ...b }));
    this.kbdResponses = [...s.kbdResponses];
    this.kbdScancodes = [...s.kbdScancodes];
    this.outport = s.outport;
    this.pendingCommand = s.pendingCommand;
    this.lastWasCommand = s.lastWasCommand;
    this.xlatBreak = s.xlatBreak;
    this.kbd = { ...s.kbd };
    this.irq1Level = s.irq1;
    this.irq12Level = s.irq12;
    this.irq1(this.irq1Level);
    this.irq12?.(this.irq12Level);
  }

  // ---- controller ------------------------------------------------------------------------

  private status(): number {
    let s = ST_UNLOCKED;
    if (this.outBuf) {
      s |= ST_OBF;
      if (this.outBuf.src === "aux") s |= ST_AUXB;
      if (this.outBuf.timeout) s |= ST_TIMEOUT;
    }
    if (this.ram[0]! & CB_SYS) s |= ST_SYS; // system flag: set by a passed self-test
    if (this.lastWasCommand) s |= ST_CMD;
    return s;
  }

  private reply(v: number, src: Source = "kbd", timeout = false): void {
    this.ctrlQueue.push(timeout ? { v, src, timeout } : { v, src });
  }

  private command(c: number): void {
    this.pendingCommand = 0;
    if (c >= 0x20 && c <= 0x3f) {
      this.reply(this.ram[c & 0x1f]!);
      return;
    }
    if (c >= 0x60 && c <= 0x7f) {
      this.pendingCommand = c;
      return;
    }
    if (c >= 0xf0) {
      // Pulse output port bits 0-3 low for ~6 µs where the command bit is 0.
      if (!(c & 0x01)) this.onReset?.();
      return;
    }
    switch (c) {
      case 0xa1: // controller version
        this.reply(0x00);
        break;
      case 0xa4: // password installed? F1 = no
        this.reply(0xf1);
        break;
      case 0xa7:
        this.ram[0]! |= CB_AUX_DISABLE;
        break;
      case 0xa8:
        this.ram[0]! &= ~CB_AUX_DISABLE;
        break;
      case 0xa9: // aux interface test: 0 = no error
        this.reply(0x00);
        break;
      case 0xaa: // controller self-test
        this.ram[0]! |= CB_SYS;
        this.reply(0x55);
        break;
      case 0xab: // keyboard interface test
        this.reply(0x00);
        break;
      case 0xad:
        this.ram[0]! |= CB_KBD_DISABLE;
        break;
      case 0xae:
        this.ram[0]! &= ~CB_KBD_DISABLE;
        break;
      case 0xc0: // input port: keyboard not inhibited
        this.reply(0x80);
        break;
      case 0xd0: {
        let v = this.outport & ~0x30;
        if (this.outBuf && this.outBuf.src === "kbd") v |= 0x10;
        if (this.outBuf && this.outBuf.src === "aux") v |= 0x20;
        this.reply(v);
        break;
      }
      case 0xd1:
      case 0xd2:
      case 0xd3:
      case 0xd4:
        this.pendingCommand = c;
        break;
      case 0xdd:
        this.setOutport(this.outport & ~0x02);
        break;
      case 0xdf:
        this.setOutport(this.outport | 0x02);
        break;
      case 0xe0: // test inputs
        this.reply(0x00);
        break;
      default:
        break; // unknown commands are ignored
    }
  }

  private data(v: number): void {
    const c = this.pendingCommand;
    this.pendingCommand = 0;
    if (c >= 0x60 && c <= 0x7f) {
      this.ram[c & 0x1f] = v;
      return;
    }
    switch (c) {
      case 0xd1:
        this.setOutport(v);
        return;
      case 0xd2:
        this.reply(v, "kbd");
        return;
      case 0xd3:
        this.reply(v, "aux");
        return;
      case 0xd4:
        // No aux device: the transmission times out.
        this.reply(0xfe, "aux", true);
        return;
      default:
        // Data for the keyboard; this also re-enables the keyboard interface.
        this.ram[0]! &= ~CB_KBD_DISABLE;
        this.keyboardCommand(v);
    }
  }

  private setOutport(v: number): void {
    const old = this.outport;
    this.outport = v | 0x01;
    if ((old ^ v) & 0x02) this.onA20?.((v & 0x02) !== 0);
    if (!(v & 0x01)) this.onReset?.();
  }

  /** Move the next byte into the empty output buffer. */
  private fill(): void {
    if (this.outBuf) return;
    const c = this.ctrlQueue.shift();
    if (c) {
      this.outBuf = c;
      return;
    }
    if (this.ram[0]! & CB_KBD_DISABLE) return; // keyboard clock inhibited
    for (;;) {
      const fromResp = this.kbdResponses.length > 0;
      const raw = fromResp ? this.kbdResponses.shift() : this.kbdScancodes.shift();
      if (raw === undefined) return;
      this.kbd.lastSent = raw;
      if (!(this.ram[0]! & CB_XLATE)) {
        this.outBuf = { v: raw, src: "kbd" };
        return;
      }
      if (raw === 0xf0) {
        this.xlatBreak = true;
        continue;
      }
      let v = SET2_TO_SET1[raw]!;
      if (this.xlatBreak) {
        v |= 0x80;
        this.xlatBreak = false;
      }
      this.outBuf = { v, src: "kbd" };
      return;
    }
  }

  private updateIrq(): void {
    const b = this.outBuf;
    const l1 = !!b && b.src === "kbd" && (this.ram[0]! & CB_KBD_INT) !== 0;
    const l12 = !!b && b.src === "aux" && (this.ram[0]! & CB_AUX_INT) !== 0;
    if (l1 !== this.irq1Level) {
      this.irq1Level = l1;
      this.irq1(l1);
    }
    if (l12 !== this.irq12Level) {
      this.irq12Level = l12;
      this.irq12?.(l12);
    }
  }

  // ---- PS/2 keyboard ---------------------------------------------------------------------

  private respond(...bytes: number[]): void {
    this.kbdResponses.push(...bytes);
  }

  private keyboardDefaults(): void {
    this.kbd.set = 2;
    this.kbd.leds = 0;
    this.kbd.typematic = 0x2b;
  }

  private keyboardCommand(v: number): void {
    const k = this.kbd;
    if (k.expect && v < 0x80) {
      const cmd = k.expect;
      k.expect = 0;
      if (cmd === 0xed) {
        k.leds = v & 7;
        this.respond(0xfa);
      } else if (cmd === 0xf3) {
        k.typematic = v & 0x7f;
        this.respond(0xfa);
      } else if (cmd === 0xf0) {
        if (v === 0) this.respond(0xfa, k.set);
        else if (v === 1 || v === 2) {
          k.set = v;
          this.respond(0xfa);
        } else {
          this.respond(0xfe); // set 3 is not supported
        }
      }
      return;
    }
    k.expect = 0;
    switch (v) {
      case 0xed:
      case 0xf0:
      case 0xf3:
        k.expect = v;
        this.respond(0xfa);
        break;
      case 0xee:
        this.respond(0xee);
        break;
      case 0xf2:
        this.respond(0xfa, 0xab, 0x83);
        break;
      case 0xf4:
        this.kbdScancodes = [];
        k.scanning = true;
        this.respond(0xfa);
        break;
      case 0xf5:
        this.kbdScancodes = [];
        this.keyboardDefaults();
        k.scanning = false;
        this.respond(0xfa);
        break;
      case 0xf6:
        this.kbdScancodes = [];
        this.keyboardDefaults();
        k.scanning = true;
        this.respond(0xfa);
        break;
      case 0xf7:
      case 0xf8:
      case 0xf9:
      case 0xfa:
      case 0xfb:
      case 0xfc:
      case 0xfd:
        this.respond(0xfa);
        break;
      case 0xfe:
        this.respond(k.lastSent);
        break;
      case 0xff:
        this.kbdScancodes = [];
        this.keyboardDefaults();
        k.scanning = true;
        this.respond(0xfa, 0xaa);
        break;
      default:
        this.respond(0xfe);
    }
  }

  /** The set-2 byte sequence for a key event. */
  private sequence(code: string, down: boolean): number[] | null {
    if (code === "PrintScreen") {
      return down ? [0xe0, 0x12, 0xe0, 0x7c] : [0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12];
    }
    if (code === "Pause") return down ? [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77] : [];
    const c = SET2_CODES[code];
    if (c === undefined) return null;
    const ext = c > 0xff ? [0xe0] : [];
    return down ? [...ext, c & 0xff] : [...ext, 0xf0, c & 0xff];
  }

  private key(code: string, down: boolean): boolean {
    const seq = this.sequence(code, down);
    if (!seq) return false;
    if (!this.kbd.scanning) return true;
    if (this.kbd.set === 1) {
      // The keyboard itself emits set 1: translate here (the controller may translate again
      // only if the guest also left XLATE on, which real hardware would do as well).
      let brk = false;
      for (const b of seq) {
        if (b === 0xf0) {
          brk = true;
          continue;
        }
        this.kbdScancodes.push(b >= 0xe0 ? b : SET2_TO_SET1[b]! | (brk ? 0x80 : 0));
        brk = false;
      }
    } else {
      this.kbdScancodes.push(...seq);
    }
    this.fill();
    this.updateIrq();
    return true;
  }
}
