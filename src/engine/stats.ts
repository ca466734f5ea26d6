// The machine's counters as one JSON-able object (CLI --stats, UI, benchmarks). Every number here
// counts events that happened in the engine; nothing is estimated.

import type { Machine } from "./machine.ts";
import type { BtCounters } from "./vmm/bt.ts";
import type { PvCounters } from "./vmm/pv.ts";
import { eventsOf } from "./events.ts";
import { modelCycles, type ModelledCycles } from "./vmm/costs.ts";

export interface MachineStats {
  instructions: number;
  wallMs: number;
  mips: number;
  virtualNs: number;
  tlb: { misses: number; walkRefs: number; flushes: number; invlpg: number };
  vectors: Record<string, number>;
  io: Record<string, number>;
  mmio: Record<string, number>;
  mode: string;
  /** HW mode: VM exits by reason name, entries, injected events; EPT walk references/violations. */
  vmx?: { exits: Record<string, number>; entries: number; injections: number };
  ept?: { translations: number; refs: number; violations: number; tablePages: number };
  shadow?: Record<string, number>;
  /** BT mode: callouts by instruction, translated vs direct instructions, reflected events, I/O traps. */
  bt?: BtCounters;
  /** PV mode: hypercalls by name, page-table writes and validations, bounces, events, emulated I/O. */
  pv?: PvCounters;
  /** PV mode with Linux: kvm-clock activity and virtio notifications/interrupts per device. */
  kvm?: Record<string, number>;
  virtio?: Record<string, Record<string, number>>;
  /** Modelled cycles from the cost model (vmm/costs.ts) over these counters, total and by cause. */
  cycles: ModelledCycles;
}

export function collectStats(m: Machine, wallMs: number): MachineStats {
  const vectors: Record<string, number> = {};
  m.cpu.vectorCounts.forEach((n, v) => {
    if (n) vectors[v] = n;
  });
  const c = m.cpu.mmu.counters;
  const stats: Omit<MachineStats, "cycles"> = {
    instructions: m.cpu.icount,
    wallMs: Math.round(wallMs),
    mips: wallMs > 0 ? Math.round((m.cpu.icount / wallMs / 1000) * 10) / 10 : 0,
    virtualNs: Math.round(m.now()),
    tlb: { misses: c.tlbMisses, walkRefs: c.walkRefs, flushes: c.flushes, invlpg: c.invlpg },
    vectors,
    io: { ...m.io.counts },
    mmio: { ...m.mem.mmioCounts },
    mode: m.mode,
    ...(m.vmx
      ? {
          vmx: {
            exits: m.vmx.exitsByName(),
            entries: m.vmx.counters.entries,
            injections: m.vmx.counters.injections,
          },
          ept: m.vmx.ept ? { ...m.vmx.ept.counters } : undefined,
          shadow: m.vmx.shadow ? { ...m.vmx.shadow.counters } : undefined,
        }
      : {}),
    ...(m.bt ? { bt: m.bt.snapshot(), shadow: { ...m.bt.shadow.counters } } : {}),
    ...(m.pv ? { pv: m.pv.snapshot() } : {}),
    ...(m.kvm ? { kvm: { ...m.kvm.counters } } : {}),
    ...(m.virtio
      ? {
          virtio: Object.fromEntries(m.virtio.all.map((d) => [d.name, { ...d.counters }])),
        }
      : {}),
  };
  return { ...stats, cycles: modelCycles(eventsOf(stats), m.mode) };
}
