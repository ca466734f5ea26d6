// Virtio network device (virtio spec 1.2 §5.1, device type 1, PCI device ID 0x1041): one queue
// pair, receiveq1 (queue 0) and transmitq1 (queue 1), no control queue and no offloads.
//
// Features offered (§5.1.3): VIRTIO_NET_F_MAC (the MAC address is in the configuration) and
// VIRTIO_NET_F_STATUS (link reported up). Every packet is preceded by `struct virtio_net_hdr`,
// 12 bytes with VIRTIO_F_VERSION_1 (§5.1.6); on receive the device writes flags 0,
// GSO_NONE and num_buffers = 1. Without VIRTIO_NET_F_MRG_RXBUF a received frame must fit one
// buffer; a buffer too small for the frame is returned empty and the frame is dropped.
//
// Host API: `onTransmit(frame)` for each Ethernet frame the guest sends (without the header),
// `receive(frame)` to deliver one (queued, up to 256 frames, until the guest posts buffers).
// There is no network backend: connect onTransmit to receive for a loopback.

import type { PhysicalMemory } from "../memory/memory.ts";
import { VirtioDevice, type Virtqueue } from "./virtio.ts";

export const VIRTIO_ID_NET = 1;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_S_LINK_UP = 1;
/** sizeof(struct virtio_net_hdr) with VIRTIO_F_VERSION_1 (includes num_buffers). */
export const VIRTIO_NET_HDR_LEN = 12;
/** Largest frame accepted in either direction (64 KiB GSO-free payload + Ethernet header). */
export const VIRTIO_NET_MAX_FRAME = 65535 + 14;
const MAX_PENDING_RX = 256;

export interface VirtioNetOptions {
  mem: PhysicalMemory;
  /** MAC address (6 bytes or "52:54:00:12:34:56"); default 52:54:00:12:34:56. */
  mac?: Uint8Array | string;
  queueSize?: number;
  name?: string;
}

export class VirtioNet extends VirtioDevice {
  /** Called with each Ethernet frame the guest transmits. */
  onTransmit: ((frame: Uint8Array) => void) | null = null;
  readonly mac: Uint8Array;
  /** Frame counts (drops: no buffer space, oversized or short frames). */
  readonly frames = { tx: 0, rx: 0, rxDropped: 0, txDropped: 0 };
  private rxPending: Uint8Array[] = [];

  constructor(opts: VirtioNetOptions) {
    const qs = opts.queueSize ?? 128;
    super({
      name: opts.name ?? "virtio-net",
      mem: opts.mem,
      type: VIRTIO_ID_NET,
      classCode: 0x020000, // network controller, Ethernet
      queueSizes: [qs, qs],
      features: (1n << BigInt(VIRTIO_NET_F_MAC)) | (1n << BigInt(VIRTIO_NET_F_STATUS)),
      configSize: 12,
    });
    this.mac = parseMac(opts.mac ?? "52:54:00:12:34:56");
    this.config.set(this.mac, 0);
    new DataView(this.config.buffer).setUint16(6, VIRTIO_NET_S_LINK_UP, true);
  }

  /** Deliver a frame to the guest (queued until it has a receive buffer). */
  receive(frame: Uint8Array): void {
    if (frame.length > VIRTIO_NET_MAX_FRAME || this.rxPending.length >= MAX_PENDING_RX) {
      this.frames.rxDropped++;
      return;
    }
    this.rxPending.push(frame.slice());
    this.runQueue(this.queues[0]!);
  }

  /** Frames waiting for guest receive buffers. */
  pendingFrames(): number {
    return this.rxPending.length;
  }

  protected queueNotify(q: Virtqueue): void {
    if (q.index === 0) this.fillReceive(q);
    else this.drainTransmit(q);
  }

  private fillReceive(q: Virtqueue): void {
    while (this.rxPending.length > 0) {
      const chain = this.pop(q);
      if (!chain) break;
      const frame = this.rxPending.shift()!;
      if (chain.writableLen < VIRTIO_NET_HDR_LEN + frame.length) {
        this.frames.rxDropped++;
        this.requestFailed(
          `receive buffer of ${chain.writableLen} bytes too small for a ${frame.length}-byte frame`,
        );
        this.push(q, chain, 0);
        continue;
      }
      const hdr = new Uint8Array(VIRTIO_NET_HDR_LEN);
      hdr[10] = 1; // num_buffers = 1 (le16)
      this.scatter(chain, 0, hdr);
      this.scatter(chain, VIRTIO_NET_HDR_LEN, frame);
      this.countToGuest(frame.length);
      this.frames.rx++;
      this.push(q, chain, VIRTIO_NET_HDR_LEN + frame.length);
    }
    this.signalUsed(q);
  }

  private drainTransmit(q: Virtqueue): void {
    for (let chain = this.pop(q); chain; chain = this.pop(q)) {
      const len = chain.readableLen - VIRTIO_NET_HDR_LEN;
      if (len < 0 || len > VIRTIO_NET_MAX_FRAME) {
        this.frames.txDropped++;
        this.requestFailed(`transmit chain of ${chain.readableLen} bytes is not header + frame`);
      } else {
        const frame = this.gather(chain, VIRTIO_NET_HDR_LEN, len);
        this.countFromGuest(len);
        this.frames.tx++;
        this.onTransmit?.(frame);
      }
      this.push(q, chain, 0);
    }
    this.signalUsed(q);
  }

  protected override saveDevice(): unknown {
    return { rxPending: this.rxPending.map((f) => Array.from(f)), frames: { ...this.frames } };
  }

  protected override loadDevice(s: unknown): void {
    const st = s as { rxPending?: number[][]; frames?: VirtioNet["frames"] } | null;
    this.rxPending = (st?.rxPending ?? []).map((f) => Uint8Array.from(f));
    if (st?.frames) Object.assign(this.frames, st.frames);
  }
}

function parseMac(mac: Uint8Array | string): Uint8Array {
  if (typeof mac !== "string") {
    if (mac.length !== 6) throw new RangeError("a MAC address has 6 bytes");
    return mac.slice();
  }
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new RangeError(`bad MAC address "${mac}"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
