// Switch a running machine between native, bt, hw and hw-noept at an instruction boundary
// (DESIGN.md "Modes at run time"). The old monitor is taken off the CPU and MMU (handlers,
// interrupt hook, shadow tables, EPT) and the new one is attached as at boot; what the new strategy
// needs is rebuilt lazily: the shadow page tables fill through hidden faults, the EPT through EPT
// violations, the translation cache through fresh decoding. The new monitor's counters start at 0.
// PV is negotiated by the guest at boot (hypercall ABI, kvm-clock, virtio): switching to or from it
// is refused.

import { HANDLERS } from "../cpu/interp.ts";
import type { Machine, Mode } from "../machine.ts";
import { BtMonitor } from "./bt.ts";
import { VmxMonitor } from "./vmx.ts";

export const SWITCHABLE_MODES: readonly Mode[] = ["native", "bt", "hw", "hw-noept"];

/** The machine's monitor fields, which only this module and the constructor assign. */
type MonitorFields = { mode: Mode; vmx: VmxMonitor | null; bt: BtMonitor | null };

export function switchMode(m: Machine, to: Mode): void {
  if (to === m.mode) return;
  if (m.mode === "pv" || to === "pv")
    throw new RangeError(
      `cannot switch ${m.mode} -> ${to} on a running machine: a guest negotiates paravirtualization at boot (boot it in pv mode instead)`,
    );
  if (!SWITCHABLE_MODES.includes(to)) throw new RangeError(`unknown mode "${String(to)}"`);
  const cpu = m.cpu;
  // Off with the old monitor: the interpreter's own handlers, no event hook, no shadow/EPT.
  cpu.handlers = HANDLERS;
  cpu.interruptHook = null;
  cpu.onExternalInterrupt = null;
  cpu.mmu.shadow = null;
  cpu.mmu.ept = null;
  cpu.mmu.flush(false);
  cpu.flushDecodeCache();
  const f = m as unknown as MonitorFields;
  f.vmx = null;
  f.bt = null;
  // On with the new one, exactly as the Machine constructor attaches it.
  if (to === "hw" || to === "hw-noept") {
    const vmx = new VmxMonitor(cpu, { ept: to === "hw" });
    f.vmx = vmx;
    cpu.onExternalInterrupt = () => vmx.onExternalInterrupt();
    if (cpu.intr) vmx.onInterruptRequest();
  } else if (to === "bt") f.bt = new BtMonitor(cpu);
  f.mode = to;
}
