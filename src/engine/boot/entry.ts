// The CPU state both direct-boot protocols (multiboot, Linux 32-bit) hand to a kernel: flat 4 GiB
// ring-0 segments in protected mode, paging and interrupts off, registers zero. The loader is the
// firmware here, so the GDT behind the selectors is real and lives in guest memory.

import type { Machine } from "../machine.ts";
import { SA_DB, SA_G, SA_VALID } from "../cpu/cpu.ts";
import { SEG_CS } from "../cpu/decoder.ts";
import { CR0_PE } from "../mmu/mmu.ts";

export function enterFlatProtectedMode(m: Machine, gdt: number, cs: number, ds: number, eip: number): void {
  const mem = m.mem;
  mem.write32(gdt + cs, 0x0000ffff);
  mem.write32(gdt + cs + 4, 0x00cf9a00);
  mem.write32(gdt + ds, 0x0000ffff);
  mem.write32(gdt + ds + 4, 0x00cf9200);
  const cpu = m.cpu;
  cpu.reset();
  cpu.gdtBase = gdt;
  cpu.gdtLimit = Math.max(cs, ds) + 7;
  cpu.setCr0(cpu.cr0 | CR0_PE);
  const flat = SA_DB | SA_G | SA_VALID;
  cpu.setSegCache(SEG_CS, cs, 0, -1, 0x9b | flat);
  for (const s of [0, 2, 3, 4, 5]) cpu.setSegCache(s, ds, 0, -1, 0x93 | flat);
  cpu.setCpl(0);
  cpu.flags.write(2, -1);
  cpu.regs.fill(0);
  cpu.eip = eip;
}
