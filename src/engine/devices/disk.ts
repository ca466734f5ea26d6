// A disk image with a copy-on-write overlay. The base image (a Uint8Array, e.g. the downloaded
// image file) is never modified; writes go to 4 KiB chunks that are copied from the base on first
// write. The overlay can be saved and restored on its own (snapshots, IndexedDB).
//
// An image whose size is not a multiple of 512 bytes is padded with zeros up to the next sector:
// the last sector reads as the remaining image bytes followed by zeros.

export const SECTOR_SIZE = 512;
const CHUNK_SIZE = 4096;
const SECTORS_PER_CHUNK = CHUNK_SIZE / SECTOR_SIZE;

export interface DiskOverlayState {
  /** Disk size in sectors; a restore onto a disk of another size is refused. */
  sectors: number;
  chunkSize: number;
  /** [chunk index, base64 of CHUNK_SIZE bytes] */
  chunks: [number, string][];
}

export class Disk {
  /** Size in 512-byte sectors (image size rounded up). */
  readonly sectors: number;
  private readonly base: Uint8Array;
  private chunks = new Map<number, Uint8Array>();

  constructor(base: Uint8Array) {
    this.base = base;
    this.sectors = Math.ceil(base.length / SECTOR_SIZE);
  }

  get sizeBytes(): number {
    return this.sectors * SECTOR_SIZE;
  }

  /** Read `count` sectors starting at `lba`. */
  read(lba: number, count: number): Uint8Array {
    const out = new Uint8Array(count * SECTOR_SIZE);
    this.readInto(lba, count, out, 0);
    return out;
  }

  /** Read `count` sectors at `lba` into `dst` at byte offset `off`. */
  readInto(lba: number, count: number, dst: Uint8Array, off: number): void {
    this.check(lba, count);
    let pos = lba * SECTOR_SIZE;
    const end = pos + count * SECTOR_SIZE;
    while (pos < end) {
      const ci = Math.floor(pos / CHUNK_SIZE);
      const inChunk = pos - ci * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - inChunk, end - pos);
      const chunk = this.chunks.get(ci);
      if (chunk) {
        dst.set(chunk.subarray(inChunk, inChunk + n), off);
      } else {
        const avail = Math.max(0, Math.min(n, this.base.length - pos));
        if (avail > 0) dst.set(this.base.subarray(pos, pos + avail), off);
        dst.fill(0, off + avail, off + n);
      }
      pos += n;
      off += n;
    }
  }

  /** Write whole sectors at `lba` (data length must be a multiple of 512). */
  write(lba: number, data: Uint8Array): void {
    if (data.length % SECTOR_SIZE) {
      throw new RangeError(`disk write of ${data.length} bytes is not a whole number of sectors`);
    }
    this.check(lba, data.length / SECTOR_SIZE);
    let pos = lba * SECTOR_SIZE;
    let src = 0;
    while (src < data.length) {
      const ci = Math.floor(pos / CHUNK_SIZE);
      const inChunk = pos - ci * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - inChunk, data.length - src);
      let chunk = this.chunks.get(ci);
      if (!chunk) {
        chunk = new Uint8Array(CHUNK_SIZE);
        const start = ci * CHUNK_SIZE;
        const avail = Math.max(0, Math.min(CHUNK_SIZE, this.base.length - start));
        if (avail > 0) chunk.set(this.base.subarray(start, start + avail));
        this.chunks.set(ci, chunk);
      }
      chunk.set(data.subarray(src, src + n), inChunk);
      pos += n;
      src += n;
    }
  }

  /** Bytes held by the overlay. */
  overlayBytes(): number {
    return this.chunks.size * CHUNK_SIZE;
  }

  /** Drop all writes (back to the pristine base image). */
  discardOverlay(): void {
    this.chunks.clear();
  }

  saveOverlay(): DiskOverlayState {
    const chunks: [number, string][] = [];
    for (const [i, c] of [...this.chunks].sort((a, b) => a[0] - b[0])) chunks.push([i, toBase64(c)]);
    return { sectors: this.sectors, chunkSize: CHUNK_SIZE, chunks };
  }

  loadOverlay(s: DiskOverlayState): void {
    if (s.sectors !== this.sectors) {
      throw new Error(
        `disk overlay is for a ${s.sectors}-sector disk but this image has ${this.sectors} sectors; ` +
          `restore it with the image it was saved from`,
      );
    }
    if (s.chunkSize !== CHUNK_SIZE) throw new Error(`unsupported disk overlay chunk size ${s.chunkSize}`);
    const chunks = new Map<number, Uint8Array>();
    for (const [i, b64] of s.chunks) {
      const c = fromBase64(b64);
      if (c.length !== CHUNK_SIZE || !(i >= 0 && i * SECTORS_PER_CHUNK < this.sectors)) {
        throw new Error(`corrupt disk overlay: chunk ${i} is invalid`);
      }
      chunks.set(i, c);
    }
    this.chunks = chunks;
  }

  private check(lba: number, count: number): void {
    if (
      !Number.isInteger(lba) ||
      !Number.isInteger(count) ||
      lba < 0 ||
      count < 0 ||
      lba + count > this.sectors
    ) {
      throw new RangeError(`disk access ${lba}+${count} outside 0..${this.sectors} sectors`);
    }
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();

export function toBase64(data: Uint8Array): string {
  const parts: string[] = [];
  let s = "";
  for (let i = 0; i < data.length; i += 3) {
    const n = (data[i]! << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
    s += B64[n >> 18]! + B64[(n >> 12) & 63]!;
    s += i + 1 < data.length ? B64[(n >> 6) & 63]! : "=";
    s += i + 2 < data.length ? B64[n & 63]! : "=";
    if (s.length >= 4096) {
      parts.push(s);
      s = "";
    }
  }
  parts.push(s);
  return parts.join("");
}

export function fromBase64(s: string): Uint8Array {
  if (s.length % 4) throw new Error("corrupt base64: length is not a multiple of 4");
  let pad = 0;
  if (s.endsWith("==")) pad = 2;
  else if (s.endsWith("=")) pad = 1;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      const v = c === 61 ? 0 : c < 128 ? B64_INDEX[c]! : -1;
      if (v < 0) throw new Error("corrupt base64: invalid character");
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}
