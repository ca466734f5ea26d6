// Virtio console (virtio spec 1.2 §5.3, device type 3, PCI device ID 0x1043) with a single port:
// receiveq (queue 0, host -> guest) and transmitq (queue 1, guest -> host). Linux binds it as
// /dev/hvc0. VIRTIO_CONSOLE_F_MULTIPORT is not offered, so there is no control queue.
//
// VIRTIO_CONSOLE_F_EMERG_WRITE (§5.3.3) is offered: a driver write to `emerg_wr` transmits one
// byte without any queue (usable before the queues are set up).
//
// Host API like the UART: `onTransmit(bytes)` receives what the guest writes; `receive(text)`
// queues input. Input is placed into the guest's receive buffers as soon as there are any (it
// waits in an unbounded host-side queue until the driver makes buffers available).

import type { IoSize } from "../io.ts";
import type { PhysicalMemory } from "../memory/memory.ts";
import { VirtioDevice, type Virtqueue } from "./virtio.ts";

export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;

/** struct virtio_console_config offsets (§5.3.4). */
export const CONSOLE_CFG_COLS = 0;
export const CONSOLE_CFG_ROWS = 2;
export const CONSOLE_CFG_MAX_NR_PORTS = 4;
export const CONSOLE_CFG_EMERG_WR = 8;

/** Largest single transmit buffer accepted (Linux sends at most a page). */
const MAX_TX_BUFFER = 1 << 20;

export interface VirtioConsoleOptions {
  mem: PhysicalMemory;
  queueSize?: number;
  name?: string;
}

export class VirtioConsole extends VirtioDevice {
  /** Called with the bytes of each buffer the guest transmits. */
  onTransmit: ((bytes: Uint8Array) => void) | null = null;
  private input = new Uint8Array(0);

  constructor(opts: VirtioConsoleOptions) {
    const qs = opts.queueSize ?? 64;
    super({
      name: opts.name ?? "virtio-console",
      mem: opts.mem,
      type: VIRTIO_ID_CONSOLE,
      classCode: 0x078000, // simple communication controller, other
      queueSizes: [qs, qs],
      features: 1n << BigInt(VIRTIO_CONSOLE_F_EMERG_WRITE),
      configSize: 12,
    });
    new DataView(this.config.buffer).setUint32(CONSOLE_CFG_MAX_NR_PORTS, 1, true);
  }

  /** Queue input for the guest. Strings are encoded as UTF-8. */
  receive(data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const n = new Uint8Array(this.input.length + bytes.length);
    n.set(this.input);
    n.set(bytes, this.input.length);
    this.input = n;
    this.runQueue(this.queues[0]!);
  }

  /** Input bytes not yet delivered to the guest. */
  pendingInput(): number {
    return this.input.length;
  }

  protected queueNotify(q: Virtqueue): void {
    if (q.index === 0) this.fillReceive(q);
    else this.drainTransmit(q);
  }

  private fillReceive(q: Virtqueue): void {
    while (this.input.length > 0) {
      const chain = this.pop(q);
      if (!chain) break;
      const n = this.scatter(chain, 0, this.input.subarray(0, chain.writableLen));
      this.input = this.input.slice(n);
      this.countToGuest(n);
      this.push(q, chain, n);
    }
    this.signalUsed(q);
  }

  private drainTransmit(q: Virtqueue): void {
    for (let chain = this.pop(q); chain; chain = this.pop(q)) {
      if (chain.readableLen > MAX_TX_BUFFER) {
        this.requestFailed(`transmit buffer of ${chain.readableLen} bytes dropped`);
      } else {
        const bytes = this.gather(chain, 0, chain.readableLen);
        this.countFromGuest(bytes.length);
        this.onTransmit?.(bytes);
      }
      this.push(q, chain, 0);
    }
    this.signalUsed(q);
  }

  protected override configWrite(off: number, _size: IoSize, value: number): void {
    if (off === CONSOLE_CFG_EMERG_WR && this.hasFeature(VIRTIO_CONSOLE_F_EMERG_WRITE)) {
      this.countFromGuest(1);
      this.onTransmit?.(Uint8Array.of(value & 0xff));
    }
  }

  protected override saveDevice(): unknown {
    return { input: Array.from(this.input) };
  }

  protected override loadDevice(s: unknown): void {
    const st = s as { input?: number[] } | null;
    this.input = Uint8Array.from(st?.input ?? []);
  }
}
