// Multiboot v1 loader (the spec's "Machine state" section): loads an ELF32 (or a.out-kludge) kernel,
// builds the multiboot information structure with a memory map and command line, and enters the
// kernel in flat 32-bit protected mode with paging off — no BIOS involved.

import type { Machine } from "../machine.ts";
import { enterFlatProtectedMode } from "./entry.ts";
import { ImageError } from "./errors.ts";

export const MULTIBOOT_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;

interface Header {
  offset: number;
  flags: number;
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

export function findMultibootHeader(img: Uint8Array, name: string): Header {
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const end = Math.min(img.length - 12, 8192 - 12);
  for (let off = 0; off <= end; off += 4) {
    if (v.getUint32(off, true) !== MULTIBOOT_MAGIC) continue;
    const flags = v.getUint32(off + 4, true);
    const sum = (MULTIBOOT_MAGIC + flags + v.getUint32(off + 8, true)) >>> 0;
    if (sum !== 0) continue;
    const h: Header = {
      offset: off,
      flags,
      headerAddr: 0,
      loadAddr: 0,
      loadEndAddr: 0,
      bssEndAddr: 0,
      entryAddr: 0,
    };
    if (flags & 0x10000) {
      if (off + 32 > img.length) throw new ImageError(name, "multiboot header is truncated");
      h.headerAddr = v.getUint32(off + 12, true);
      h.loadAddr = v.getUint32(off + 16, true);
      h.loadEndAddr = v.getUint32(off + 20, true);
      h.bssEndAddr = v.getUint32(off + 24, true);
      h.entryAddr = v.getUint32(off + 28, true);
    }
    // Bits 0-15 that we cannot honour are "required" by the spec: refuse rather than misboot.
    if (flags & 0x4)
      throw new ImageError(name, "multiboot kernel requests a video mode (flag 2), which is not supported");
    return h;
  }
  throw new ImageError(name, "no multiboot header in the first 8 KiB (not a multiboot kernel)");
}

/** Copy the kernel's loadable segments into memory; returns the entry point and the highest address. */
function loadElf(m: Machine, img: Uint8Array, name: string): { entry: number; end: number } {
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  if (img.length < 52) throw new ImageError(name, `ELF header truncated (${img.length} bytes)`);
  if (img[4] !== 1) throw new ImageError(name, "not a 32-bit ELF (ELFCLASS32 expected)");
  if (img[5] !== 1) throw new ImageError(name, "not a little-endian ELF");
  if (v.getUint16(18, true) !== 3) throw new ImageError(name, "ELF machine is not i386 (EM_386)");
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  if (phoff + phnum * phentsize > img.length)
    throw new ImageError(name, "program headers lie beyond the end of the file (truncated?)");
  let end = 0;
  let loaded = 0;
  for (let k = 0; k < phnum; k++) {
    const p = phoff + k * phentsize;
    if (v.getUint32(p, true) !== 1) continue; // PT_LOAD
    const offset = v.getUint32(p + 4, true);
    const paddr = v.getUint32(p + 12, true);
    const filesz = v.getUint32(p + 16, true);
    const memsz = v.getUint32(p + 20, true);
    if (offset + filesz > img.length)
      throw new ImageError(
        name,
        `segment ${k} needs bytes up to ${offset + filesz} but the file has ${img.length} (truncated?)`,
      );
    if (paddr + memsz > m.mem.ramSize)
      throw new ImageError(
        name,
        `segment ${k} at 0x${paddr.toString(16)} does not fit in ${m.mem.ramSize >> 20} MiB of RAM`,
      );
    if (paddr < 0x100000 && paddr + memsz > 0xa0000)
      throw new ImageError(name, `segment ${k} at 0x${paddr.toString(16)} overlaps the VGA/BIOS hole`);
    m.mem.load(paddr, img.subarray(offset, offset + filesz));
    m.mem.fill(paddr + filesz, memsz - filesz);
    end = Math.max(end, paddr + memsz);
    loaded++;
  }
  if (!loaded) throw new ImageError(name, "ELF has no loadable segments");
  return { entry, end };
}

const INFO = 0x9000; // multiboot info, memory map and command line live in low memory
const GDT = 0x8f00;

export interface MultibootOptions {
  cmdline?: string;
  name?: string;
}

/** Load a multiboot kernel and set the CPU up to enter it. */
export function bootMultiboot(m: Machine, img: Uint8Array, opts: MultibootOptions = {}): void {
  const name = opts.name ?? "kernel";
  const h = findMultibootHeader(img, name);
  let entry: number;
  let end: number;
  const isElf = img[0] === 0x7f && img[1] === 0x45 && img[2] === 0x4c && img[3] === 0x46;
  if (isElf && !(h.flags & 0x10000)) {
    ({ entry, end } = loadElf(m, img, name));
  } else if (h.flags & 0x10000) {
    const fileStart = h.offset - (h.headerAddr - h.loadAddr);
    const loadEnd = h.loadEndAddr || h.loadAddr + (img.length - fileStart);
    if (fileStart < 0 || fileStart + (loadEnd - h.loadAddr) > img.length)
      throw new ImageError(name, "multiboot a.out addresses point outside the file (truncated?)");
    if (Math.max(loadEnd, h.bssEndAddr) > m.mem.ramSize)
      throw new ImageError(name, "kernel does not fit in RAM");
    m.mem.load(h.loadAddr, img.subarray(fileStart, fileStart + (loadEnd - h.loadAddr)));
    if (h.bssEndAddr > loadEnd) m.mem.fill(loadEnd, h.bssEndAddr - loadEnd);
    entry = h.entryAddr;
    end = Math.max(loadEnd, h.bssEndAddr);
  } else throw new ImageError(name, "neither ELF nor a multiboot a.out-kludge image");
  void end;

  // Multiboot information: mem_lower/upper, command line, memory map.
  const ram = m.guestRamBytes;
  const cmd = new TextEncoder().encode((opts.cmdline ?? "") + "\0");
  const cmdAddr = INFO + 0x100;
  const mmapAddr = INFO + 0x800;
  m.mem.load(cmdAddr, cmd.subarray(0, 0x6ff));
  const regions: [number, number, number][] = [
    [0, 0x9fc00, 1],
    [0x9fc00, 0x400, 2],
    [0xf0000, 0x10000, 2],
    [0x100000, ram - 0x100000, 1],
  ];
  regions.forEach(([base, len, type], k) => {
    const e = mmapAddr + k * 24;
    m.mem.write32(e, 20);
    m.mem.write32(e + 4, base);
    m.mem.write32(e + 8, 0);
    m.mem.write32(e + 12, len);
    m.mem.write32(e + 16, 0);
    m.mem.write32(e + 20, type);
  });
  m.mem.write32(INFO, 0x1 | 0x4 | 0x40); // mem, cmdline, mmap
  m.mem.write32(INFO + 4, 639);
  m.mem.write32(INFO + 8, (ram - 0x100000) >>> 10);
  m.mem.write32(INFO + 16, cmdAddr);
  m.mem.write32(INFO + 44, regions.length * 24);
  m.mem.write32(INFO + 48, mmapAddr);

  enterFlatProtectedMode(m, GDT, 0x08, 0x10, entry);
  m.cpu.regs[0] = MULTIBOOT_BOOTLOADER_MAGIC;
  m.cpu.regs[3] = INFO;
  // Under the PV hypervisor the kernel starts deprivileged at CPL 1 (docs/hypercalls.md §2).
  m.pv?.enterGuest();
}
