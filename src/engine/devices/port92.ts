// System control port A at 0x92 (82371SB PIIX3 "Port 92"): fast A20 gate and fast CPU reset.
// And the POST diagnostic port 0x80, which BIOSes write progress codes to and Linux uses as an
// I/O delay (outb_p): writes are recorded in `lastPostCode`, reads return it.
//
// Port 0x92: bit 0 FAST_INIT (a 0 -> 1 transition resets the CPU; reads back as written), bit 1
// ALT_A20 (1 = A20 enabled), bit 3 password lock (stored). On a PIIX3 the A20M# input of the
// CPU is the OR of this bit and the keyboard controller's output-port A20 bit: the machine should
// combine `Port92.a20` with `I8042.a20`.

import type { IoBus, IoSize, PortHandler, Snapshotable } from "../io.ts";

export interface Port92State {
  value: number;
}

export class Port92 implements PortHandler, Snapshotable<Port92State> {
  onA20: ((enabled: boolean) => void) | null = null;
  onReset: (() => void) | null = null;
  private value: number;

  constructor(bus: IoBus, opts: { name?: string; a20?: boolean } = {}) {
    this.value = opts.a20 ? 0x02 : 0x00;
    bus.register(opts.name ?? "port92", 0x92, 1, this);
  }

  get a20(): boolean {
    return (this.value & 0x02) !== 0;
  }

  read(_port: number, _size: IoSize): number {
    return this.value;
  }

  write(_port: number, _size: IoSize, v: number): void {
    const old = this.value;
    this.value = v & 0x0b;
    if ((old ^ this.value) & 0x02) this.onA20?.(this.a20);
    if (this.value & 0x01 && !(old & 0x01)) this.onReset?.();
  }

  /** Machine reset: FAST_INIT and A20 bits return to 0. */
  reset(): void {
    this.value = 0;
  }

  saveState(): Port92State {
    return { value: this.value };
  }

  loadState(s: Port92State): void {
    this.value = s.value;
  }
}

export interface Port80State {
  lastPostCode: number;
}

export class Port80 implements PortHandler, Snapshotable<Port80State> {
  lastPostCode = 0;
  /** Optional observer of POST codes (BIOS progress). */
  onPostCode: ((code: number) => void) | null = null;

  constructor(bus: IoBus, opts: { name?: string } = {}) {
    bus.register(opts.name ?? "post", 0x80, 1, this);
  }

  read(_port: number, _size: IoSize): number {
    return this.lastPostCode;
  }

  write(_port: number, _size: IoSize, v: number): void {
    this.lastPostCode = v & 0xff;
    this.onPostCode?.(this.lastPostCode);
  }

  saveState(): Port80State {
    return { lastPostCode: this.lastPostCode };
  }

  loadState(s: Port80State): void {
    this.lastPostCode = s.lastPostCode;
  }
}
