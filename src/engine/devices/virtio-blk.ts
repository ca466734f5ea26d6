// Virtio block device (virtio spec 1.2 §5.2, device type 2, PCI device ID 0x1042) backed by the
// same copy-on-write `Disk` as the IDE disk.
//
// Features offered (§5.2.3): VIRTIO_BLK_F_SEG_MAX (seg_max = queue size - 2, so a request with
// header and status fits the ring even without indirect descriptors), VIRTIO_BLK_F_BLK_SIZE
// (512) and VIRTIO_BLK_F_FLUSH (the disk is host memory, so a flush completes at once).
// Requests (§5.2.6): IN, OUT, FLUSH, GET_ID; anything else completes with UNSUPP. With
// VIRTIO_F_VERSION_1 the message framing is independent of descriptor boundaries (§2.6.4): the
// 16-byte header is the start of the device-readable part, the status byte the last byte of the
// device-writable part. A request outside the disk, or with a data length that is not a whole
// number of sectors, completes with IOERR; a chain too short for header and status is returned
// with nothing written and counted as an error.

import type { Disk } from "./disk.ts";
import { SECTOR_SIZE } from "./disk.ts";
import type { PhysicalMemory } from "../memory/memory.ts";
import { VirtioDevice, type Chain, type Virtqueue } from "./virtio.ts";

export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** Length of the device ID string returned by GET_ID (§5.2.6). */
export const VIRTIO_BLK_ID_BYTES = 20;

/** struct virtio_blk_config offsets (§5.2.4). */
export const BLK_CFG_CAPACITY = 0;
export const BLK_CFG_SIZE_MAX = 8;
export const BLK_CFG_SEG_MAX = 12;
export const BLK_CFG_BLK_SIZE = 20;
const BLK_CONFIG_SIZE = 0x3c;

export interface VirtioBlkOptions {
  mem: PhysicalMemory;
  disk: Disk;
  /** Device ID string for GET_ID (ASCII, at most 20 bytes). */
  serial?: string;
  /** Maximum queue size (default 128). */
  queueSize?: number;
  name?: string;
}

export class VirtioBlk extends VirtioDevice {
  readonly disk: Disk;
  private readonly serial: Uint8Array;
  /** Per-type request counts. */
  readonly requestCounts = { read: 0, write: 0, flush: 0, getId: 0, unsupported: 0 };

  constructor(opts: VirtioBlkOptions) {
    const qs = opts.queueSize ?? 128;
    super({
      name: opts.name ?? "virtio-blk",
      mem: opts.mem,
      type: VIRTIO_ID_BLOCK,
      classCode: 0x010000, // mass storage, SCSI (what virtio-blk traditionally reports)
      queueSizes: [qs],
      features:
        (1n << BigInt(VIRTIO_BLK_F_SEG_MAX)) |
        (1n << BigInt(VIRTIO_BLK_F_BLK_SIZE)) |
        (1n << BigInt(VIRTIO_BLK_F_FLUSH)),
      configSize: BLK_CONFIG_SIZE,
    });
    this.disk = opts.disk;
    this.serial = new TextEncoder().encode((opts.serial ?? "virtlab-vda").slice(0, VIRTIO_BLK_ID_BYTES));
    const v = new DataView(this.config.buffer);
    v.setBigUint64(BLK_CFG_CAPACITY, BigInt(this.disk.sectors), true);
    v.setUint32(BLK_CFG_SEG_MAX, Math.max(1, qs - 2), true);
    v.setUint32(BLK_CFG_BLK_SIZE, SECTOR_SIZE, true);
  }

  protected queueNotify(q: Virtqueue): void {
    for (let chain = this.pop(q); chain; chain = this.pop(q)) this.push(q, chain, this.handle(chain));
    this.signalUsed(q);
  }

  /** Execute one request; returns the bytes written into the device-writable part. */
  private handle(chain: Chain): number {
    if (chain.readableLen < 16 || chain.writableLen < 1) {
      this.requestFailed(`request ${chain.head}: no room for header and status`);
      return 0;
    }
    const hdr = this.gather(chain, 0, 16);
    const hv = new DataView(hdr.buffer);
    const type = hv.getUint32(0, true);
    const sector = Number(hv.getBigUint64(8, true));
    const statusOff = chain.writableLen - 1;
    const finish = (status: number, dataBytes: number) => {
      this.scatter(chain, statusOff, Uint8Array.of(status));
      if (status !== VIRTIO_BLK_S_OK)
        this.requestFailed(`request type ${type} sector ${sector}: status ${status}`);
      return dataBytes + 1;
    };
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        this.requestCounts.read++;
        const len = chain.writableLen - 1;
        if (len % SECTOR_SIZE || !this.inRange(sector, len / SECTOR_SIZE))
          return finish(VIRTIO_BLK_S_IOERR, 0);
        const data = this.disk.read(sector, len / SECTOR_SIZE);
        this.scatter(chain, 0, data);
        this.countToGuest(len);
        return finish(VIRTIO_BLK_S_OK, len);
      }
      case VIRTIO_BLK_T_OUT: {
        this.requestCounts.write++;
        const len = chain.readableLen - 16;
        if (len % SECTOR_SIZE || !this.inRange(sector, len / SECTOR_SIZE))
          return finish(VIRTIO_BLK_S_IOERR, 0);
        this.disk.write(sector, this.gather(chain, 16, len));
        this.countFromGuest(len);
        return finish(VIRTIO_BLK_S_OK, 0);
      }
      case VIRTIO_BLK_T_FLUSH:
        this.requestCounts.flush++;
        return finish(VIRTIO_BLK_S_OK, 0);
      case VIRTIO_BLK_T_GET_ID: {
        this.requestCounts.getId++;
        const id = new Uint8Array(VIRTIO_BLK_ID_BYTES); // NUL-padded
        id.set(this.serial);
        const n = this.scatter(
          chain,
          0,
          id.subarray(0, Math.min(VIRTIO_BLK_ID_BYTES, chain.writableLen - 1)),
        );
        this.countToGuest(n);
        return finish(VIRTIO_BLK_S_OK, n);
      }
      default:
        this.requestCounts.unsupported++;
        return finish(VIRTIO_BLK_S_UNSUPP, 0);
    }
  }

  private inRange(sector: number, count: number): boolean {
    return Number.isSafeInteger(sector) && sector >= 0 && sector + count <= this.disk.sectors;
  }
}
