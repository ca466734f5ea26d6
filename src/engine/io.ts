// Port I/O bus shared by the CPU (which issues IN/OUT) and the devices (which answer them).
// Devices never import the CPU; the CPU only knows this bus.

export type IoSize = 1 | 2 | 4;

export interface PortHandler {
  /** Read `size` bytes at `port` (the port is absolute, not relative to the range start). */
  read(port: number, size: IoSize): number;
  write(port: number, size: IoSize, value: number): void;
}

interface Range {
  device: string;
  handler: PortHandler;
}

/** Counters per device name, used by the VMM's I/O statistics. */
export interface IoCounts {
  [device: string]: number;
}

export class IoBus {
  private readonly ports: (Range | undefined)[] = new Array(0x10000);
  readonly counts: IoCounts = Object.create(null) as IoCounts;
  /** Called for every access with the owning device (or "unassigned"); the VMM hooks in here. */
  onAccess: ((device: string, port: number, write: boolean) => void) | null = null;

  register(device: string, base: number, count: number, handler: PortHandler): void {
    for (let p = base; p < base + count; p++) {
      const prev = this.ports[p];
      if (prev) throw new Error(`I/O port 0x${p.toString(16)} already owned by ${prev.device}`);
      this.ports[p] = { device, handler };
    }
    this.counts[device] ??= 0;
  }

  unregister(base: number, count: number): void {
    for (let p = base; p < base + count; p++) this.ports[p] = undefined;
  }

  read(port: number, size: IoSize): number {
    port &= 0xffff;
    const r = this.ports[port];
    this.account(r, port, false);
    if (!r) return size === 1 ? 0xff : size === 2 ? 0xffff : -1;
    return r.handler.read(port, size);
  }

  write(port: number, size: IoSize, value: number): void {
    port &= 0xffff;
    const r = this.ports[port];
    this.account(r, port, true);
    if (r) r.handler.write(port, size, value);
  }

  deviceAt(port: number): string | undefined {
    return this.ports[port & 0xffff]?.device;
  }

  private account(r: Range | undefined, port: number, write: boolean): void {
    const name = r ? r.device : "unassigned";
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    if (this.onAccess) this.onAccess(name, port, write);
  }
}

/** An interrupt request line as seen by a device: raise or lower it. */
export type IrqLine = (level: boolean) => void;

/**
 * A device with timed behaviour. Time is in nanoseconds of *virtual* time supplied by the machine
 * (instruction-count based in deterministic mode, wall-clock based otherwise).
 */
export interface TimedDevice {
  /** Bring the device up to `nowNs`, firing whatever events fell due. */
  advance(nowNs: number): void;
  /** The next virtual time at which the device has something to do, or Infinity. */
  nextDeadline(): number;
}

/** Devices and CPU state are saved as plain JSON-able objects. */
export interface Snapshotable<S> {
  saveState(): S;
  loadState(state: S): void;
}

/**
 * A device's view of virtual time: the machine clock when the device has one (so port reads between
 * two advance() calls see time move), never earlier than the last time it was advanced to.
 */
export function deviceTime(clock: (() => number) | undefined, last: number): number {
  if (clock) {
    const t = clock();
    if (t > last) return t;
  }
  return last;
}
