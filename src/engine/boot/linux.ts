// The Linux/x86 32-bit boot protocol (Documentation/x86/boot.rst): load the protected-mode part of
// a bzImage at 1 MiB, an initrd high in memory, build boot_params ("zero page") with the setup
// header, command line, e820 map and screen info, and enter at code32_start in flat protected mode
// with ESI pointing at boot_params. No BIOS and no real-mode setup code run on this path.
// Like QEMU's direct kernel boot, the loader hands the kernel a random seed (setup_data
// SETUP_RNG_SEED), so that its RNG is initialised from the start.

import type { Machine } from "../machine.ts";
import { enterFlatProtectedMode } from "./entry.ts";
import { ImageError } from "./errors.ts";

const BOOT_PARAMS = 0x10000;
const CMDLINE = 0x20000;
/** setup_data list (after the longest command line a 2.06+ kernel may take, 2 KiB here). */
const SETUP_DATA = 0x21000;
const GDT = 0x9f000 - 0x100; // below the EBDA-reserved area
const KERNEL_BASE = 0x100000;
/** Boot protocol 2.06+ (cmdline_size; relocatable kernels) is required. */
const MIN_PROTOCOL = 0x0206;

// Offsets inside boot_params (arch/x86/include/uapi/asm/bootparam.h).
const BP_SCREEN_INFO = 0x000;
const BP_ALT_MEM_K = 0x1e0;
const BP_E820_ENTRIES = 0x1e8;
const BP_HDR = 0x1f1;
const BP_E820_TABLE = 0x2d0;
/** Setup header: 64-bit physical address of the setup_data list (protocol 2.09+). */
const HDR_SETUP_DATA = 0x250;
/** setup_data type: a seed for the kernel's RNG (credited with CONFIG_RANDOM_TRUST_BOOTLOADER). */
const SETUP_RNG_SEED = 9;
const RNG_SEED_BYTES = 32;

export interface LinuxBootOptions {
  cmdline?: string;
  initrd?: Uint8Array;
  kernelName?: string;
  initrdName?: string;
  /** The RNG seed (32 bytes) to pass; default: fixed on a deterministic machine, else random. */
  rngSeed?: Uint8Array;
}

export interface LinuxBootInfo {
  protocol: number;
  kernelBytes: number;
  initrdAddr: number;
  initrdBytes: number;
  cmdline: string;
}

/** Does this look like a Linux bzImage (boot sector signature and "HdrS" setup header)? */
export function isBzImage(b: Uint8Array): boolean {
  const hdrS = b[0x202] === 0x48 && b[0x203] === 0x64 && b[0x204] === 0x72 && b[0x205] === 0x53;
  return b.length > 0x210 && b[0x1fe] === 0x55 && b[0x1ff] === 0xaa && hdrS;
}

/** Magic numbers of the compressors Linux can unpack an initramfs with. */
const COMPRESSED_MAGIC: [string, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["lzma", [0x5d, 0x00, 0x00]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["lzo", [0x89, 0x4c, 0x5a, 0x4f]],
];

/**
 * Check that an initrd is a newc cpio archive that is complete up to its TRAILER!!! entry, or
 * starts like a compressed one (which the kernel itself will check). Garbage and truncated archives
 * are refused here with the file named, instead of surfacing later as a kernel panic.
 */
export function checkInitrd(b: Uint8Array, name: string): void {
  for (const [kind, magic] of COMPRESSED_MAGIC) if (magic.every((x, k) => b[k] === x)) return void kind;
  const text = (off: number, n: number) => String.fromCharCode(...b.subarray(off, off + n));
  let off = 0;
  for (;;) {
    if (off + 110 > b.length)
      throw new ImageError(
        name,
        `truncated cpio archive: entry header at ${off} runs past the end (${b.length} bytes)`,
      );
    const magic = text(off, 6);
    if (magic !== "070701" && magic !== "070702")
      throw new ImageError(
        name,
        off === 0
          ? "not an initramfs (neither a newc cpio archive nor a known compressed format)"
          : `corrupt cpio archive: bad entry header at offset ${off}`,
      );
    const field = (k: number) => parseInt(text(off + 6 + k * 8, 8), 16);
    const fileSize = field(6),
      nameSize = field(11);
    if (!Number.isFinite(fileSize) || !Number.isFinite(nameSize))
      throw new ImageError(name, `corrupt cpio archive: bad sizes in the entry at offset ${off}`);
    const entryName = text(off + 110, Math.max(0, nameSize - 1));
    const dataStart = (off + 110 + nameSize + 3) & ~3;
    const next = (dataStart + fileSize + 3) & ~3;
    if (dataStart + fileSize > b.length)
      throw new ImageError(
        name,
        `truncated cpio archive: "${entryName}" needs bytes up to ${dataStart + fileSize}, the file has ${b.length}`,
      );
    if (entryName === "TRAILER!!!") return;
    off = next;
  }
}

export function bootLinux(m: Machine, bz: Uint8Array, opts: LinuxBootOptions = {}): LinuxBootInfo {
  const name = opts.kernelName ?? "bzImage";
  // In PV mode a stock Linux uses KVM's paravirtual interface (it cannot run at CPL 1 on hypercalls).
  m.switchToKvmParavirt();
  if (bz.length < 0x1000) throw new ImageError(name, `too small for a bzImage (${bz.length} bytes)`);
  const v = new DataView(bz.buffer, bz.byteOffset, bz.byteLength);
  if (v.getUint16(0x1fe, true) !== 0xaa55)
    throw new ImageError(name, "no boot sector signature 0xAA55 (not a bzImage)");
  if (v.getUint32(0x202, true) !== 0x53726448)
    throw new ImageError(name, 'no "HdrS" setup header (not a bzImage)');
  const protocol = v.getUint16(0x206, true);
  if (protocol < MIN_PROTOCOL)
    throw new ImageError(
      name,
      `boot protocol ${protocol >> 8}.${protocol & 0xff} is too old (2.06 or later needed)`,
    );
  const loadflags = bz[0x211];
  if (!(loadflags & 1))
    throw new ImageError(name, "not a bzImage (zImage kernels loaded low are not supported)");
  const setupSects = bz[0x1f1] || 4;
  const pmOffset = (setupSects + 1) * 512;
  const syssize = v.getUint32(0x1f4, true) * 16;
  if (pmOffset + syssize > bz.length)
    throw new ImageError(
      name,
      `truncated: the header announces ${pmOffset + syssize} bytes but the file has ${bz.length}`,
    );
  const kernel = bz.subarray(pmOffset);
  const ram = m.mem.ramSize;
  // The decompressor needs room above the image: init_size (2.10+) tells how much.
  const initSize = protocol >= 0x020a ? v.getUint32(0x260, true) : kernel.length * 4;
  if (KERNEL_BASE + Math.max(initSize, kernel.length) > ram)
    throw new ImageError(
      name,
      `needs ${((KERNEL_BASE + initSize) / 1048576).toFixed(1)} MiB of RAM to decompress; give the guest more memory`,
    );

  const mem = m.mem;
  mem.fill(0, 0x100000); // low memory: zero page, command line, BIOS data area all start clean
  mem.load(KERNEL_BASE, kernel);

  // boot_params: the setup header is copied from the image (from 0x1f1 to the end given at 0x201).
  const hdrEnd = 0x202 + bz[0x201];
  mem.load(BOOT_PARAMS + BP_HDR, bz.subarray(BP_HDR, hdrEnd));
  const bp = (off: number) => BOOT_PARAMS + off;
  const w8 = (off: number, x: number) => mem.write8(bp(off), x);
  const w16 = (off: number, x: number) => mem.write16(bp(off), x);
  const w32 = (off: number, x: number) => mem.write32(bp(off), x);
  w8(0x210, 0xff); // type_of_loader: undefined loader
  w8(0x211, (loadflags & ~0x60) | 0x80); // CAN_USE_HEAP; KEEP_SEGMENTS and QUIET clear

  // Command line.
  const cmdline = opts.cmdline ?? "";
  const cmdMax = protocol >= 0x0206 ? v.getUint32(0x238, true) : 255;
  const enc = new TextEncoder().encode(cmdline);
  if (enc.length > cmdMax)
    throw new ImageError(name, `command line longer than the kernel accepts (${cmdMax} bytes)`);
  mem.load(CMDLINE, enc);
  mem.write8(CMDLINE + enc.length, 0);
  w32(0x228, CMDLINE);

  // Initrd: as high as allowed, page aligned, below initrd_addr_max and the end of RAM.
  let initrdAddr = 0;
  const initrd = opts.initrd;
  if (initrd) checkInitrd(initrd, opts.initrdName ?? "initrd");
  if (initrd && initrd.length) {
    const maxAddr = Math.min(v.getUint32(0x22c, true) >>> 0, ram - 1);
    initrdAddr = Math.floor((maxAddr + 1 - initrd.length) / 4096) * 4096;
    if (initrdAddr < KERNEL_BASE + initSize)
      throw new ImageError(
        opts.initrdName ?? "initrd",
        `does not fit in RAM beside the kernel; give the guest more memory`,
      );
    mem.load(initrdAddr, initrd);
    w32(0x218, initrdAddr);
    w32(0x21c, initrd.length);
  }

  // A seed for the kernel's RNG: struct setup_data { u64 next; u32 type; u32 len; u8 data[]; }.
  if (protocol >= 0x0209) {
    const seed = opts.rngSeed ?? rngSeed(m.deterministic);
    mem.fill(SETUP_DATA, 16);
    mem.write32(SETUP_DATA + 8, SETUP_RNG_SEED);
    mem.write32(SETUP_DATA + 12, seed.length);
    mem.load(SETUP_DATA + 16, seed);
    w32(HDR_SETUP_DATA, SETUP_DATA);
    w32(HDR_SETUP_DATA + 4, 0);
  }

  // e820 memory map (no BIOS: the loader is the firmware).
  const e820: [number, number, number][] = [
    [0, 0x9fc00, 1],
    [0x9fc00, 0x400, 2],
    [0xe0000, 0x20000, 2],
    [0x100000, ram - 0x100000, 1],
  ];
  e820.forEach(([base, len, type], k) => {
    const e = BP_E820_TABLE + k * 20;
    w32(e, base);
    w32(e + 4, 0);
    w32(e + 8, len);
    w32(e + 12, 0);
    w32(e + 16, type);
  });
  w8(BP_E820_ENTRIES, e820.length);
  w32(BP_ALT_MEM_K, (ram - 0x100000) >>> 10);

  // screen_info: an 80x25 colour VGA text console (mode 3), cursor at the top left.
  w8(BP_SCREEN_INFO + 0x06, 3); // orig_video_mode
  w8(BP_SCREEN_INFO + 0x07, 80); // orig_video_cols
  w16(BP_SCREEN_INFO + 0x0a, 3); // orig_video_ega_bx (non-zero: EGA or better)
  w8(BP_SCREEN_INFO + 0x0e, 25); // orig_video_lines
  w8(BP_SCREEN_INFO + 0x0f, 1); // orig_video_isVGA
  w16(BP_SCREEN_INFO + 0x10, 16); // orig_video_points

  // __BOOT_CS = 0x10 and __BOOT_DS = 0x18, as the protocol requires; ESI points at boot_params.
  enterFlatProtectedMode(m, GDT, 0x10, 0x18, v.getUint32(0x214, true) || KERNEL_BASE);
  m.cpu.regs[6] = BOOT_PARAMS;
  return { protocol, kernelBytes: kernel.length, initrdAddr, initrdBytes: initrd?.length ?? 0, cmdline };
}

/**
 * The seed the loader passes: random from the host, or on a deterministic machine a fixed sequence
 * (the same guest run after run; a guest's "random" numbers are then reproducible, as they must be).
 */
function rngSeed(deterministic: boolean): Uint8Array {
  const seed = new Uint8Array(RNG_SEED_BYTES);
  if (!deterministic) return globalThis.crypto.getRandomValues(seed);
  let x = 0x9e3779b9;
  for (let k = 0; k < seed.length; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    seed[k] = x & 0xff;
  }
  return seed;
}
