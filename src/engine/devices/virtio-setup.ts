// Puts virtio-pci devices on a PC's PCI bus and does what the firmware would do for them, since a
// directly booted kernel runs no BIOS:
// - BAR0 of each device is assigned (from `mmioBase`, 16 KiB each) and memory decode is enabled;
// - the PIIX3 PIRQ route control registers 0x60-0x63 steer PIRQA-D to ISA IRQs (default 10, 11,
//   10, 11), and those IRQs are made level-triggered in the ELCR (ports 0x4D0/0x4D1), as PCI
//   interrupts are level-triggered and shareable;
// - the Interrupt Line register (0x3C) of each device holds its routed IRQ. With no $PIR table
//   and no ACPI, Linux takes a device's IRQ from that register.
// Device d's INTA is wired to PIRQ[(d + 1 - 2) & 3] (pci.ts): slot 3 -> PIRQC, 4 -> PIRQD,
// 5 -> PIRQA. Call before the guest boots.

import type { IoSize } from "../io.ts";
import type { PhysicalMemory } from "../memory/memory.ts";
import type { Disk } from "./disk.ts";
import { PCI_COMMAND_MEMORY, type PciBus } from "./pci.ts";
import { VIRTIO_BAR_SIZE, type VirtioDevice } from "./virtio.ts";
import { VirtioBlk } from "./virtio-blk.ts";
import { VirtioConsole } from "./virtio-console.ts";
import { VirtioNet } from "./virtio-net.ts";

/** The interrupt controller as far as setup needs it: its ELCR ports 0x4D0/0x4D1 (Pic8259). */
export interface ElcrPorts {
  read(port: number, size: IoSize): number;
  write(port: number, size: IoSize, value: number): void;
}

export interface VirtioDeps {
  pci: PciBus;
  mem: PhysicalMemory;
  /** The 8259 pair with the PIIX3 ELCR (machine.pic). */
  pic: ElcrPorts;
  /** Backing disk of virtio-blk (no block device without one). */
  disk?: Disk;
}

export interface VirtioSetupOptions {
  /** Create virtio-blk (default: when a disk is given). */
  blk?: boolean;
  /** Create virtio-console (default true). */
  console?: boolean;
  /** Create virtio-net (default true). */
  net?: boolean;
  /** MAC address of virtio-net (default 52:54:00:12:34:56). */
  mac?: Uint8Array | string;
  /** PCI device numbers (default blk 3, console 4, net 5). */
  slots?: { blk?: number; console?: number; net?: number };
  /** First BAR0 address (default 0xFEB00000; each device takes 16 KiB). */
  mmioBase?: number;
  /** ISA IRQ for PIRQA..PIRQD (default [10, 11, 10, 11]). */
  pirqIrqs?: readonly [number, number, number, number];
}

export interface VirtioDevices {
  blk: VirtioBlk | null;
  console: VirtioConsole | null;
  net: VirtioNet | null;
  /** All of them, in PCI slot order. */
  all: VirtioDevice[];
}

const VALID_IRQS = new Set([3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15]);

export function attachVirtio(deps: VirtioDeps, opts: VirtioSetupOptions = {}): VirtioDevices {
  const { pci, mem, pic } = deps;
  const isa = pci.getFunction(1, 0);
  if (!isa) throw new Error("attachVirtio needs the PIIX3 ISA bridge at 00:01.0 (installI440fxPiix3)");
  const pirqIrqs = opts.pirqIrqs ?? [10, 11, 10, 11];
  for (const irq of pirqIrqs) {
    if (!VALID_IRQS.has(irq)) throw new RangeError(`IRQ ${irq} cannot be a PIRQ steering target`);
  }
  // PIIX3 PIRQRC[A:D] (0x60-0x63): bit 7 clear = routing enabled, bits 3:0 = IRQ.
  pirqIrqs.forEach((irq, n) => isa.writeConfig(0x60 + n, 1, irq));
  // ELCR: level-triggered for the steered IRQs.
  let elcr = pic.read(0x4d0, 1) | (pic.read(0x4d1, 1) << 8);
  for (const irq of pirqIrqs) elcr |= 1 << irq;
  pic.write(0x4d0, 1, elcr & 0xff);
  pic.write(0x4d1, 1, elcr >> 8);

  const slots = { blk: 3, console: 4, net: 5, ...opts.slots };
  let nextBar = opts.mmioBase ?? 0xfeb00000;
  const all: { slot: number; dev: VirtioDevice }[] = [];
  const place = <T extends VirtioDevice>(dev: T, slot: number): T => {
    pci.addFunction(slot, 0, dev.pci);
    const f = dev.pci;
    const pirq = (slot + f.get8(0x3d) - 2) & 3;
    f.writeConfig(0x3c, 1, pirqIrqs[pirq]!);
    f.writeConfig(0x10, 4, nextBar);
    f.writeConfig(0x04, 2, f.get16(0x04) | PCI_COMMAND_MEMORY);
    nextBar += VIRTIO_BAR_SIZE;
    all.push({ slot, dev });
    return dev;
  };

  const wantBlk = opts.blk ?? deps.disk !== undefined;
  if (wantBlk && !deps.disk) throw new Error("virtio-blk needs a disk");
  const blk = wantBlk && deps.disk ? place(new VirtioBlk({ mem, disk: deps.disk }), slots.blk) : null;
  const con = (opts.console ?? true) ? place(new VirtioConsole({ mem }), slots.console) : null;
  const net = (opts.net ?? true) ? place(new VirtioNet({ mem, mac: opts.mac }), slots.net) : null;
  all.sort((a, b) => a.slot - b.slot);
  return { blk, console: con, net, all: all.map((d) => d.dev) };
}
