// The shared event vocabulary (docs/events.md): the machine's counters flattened into one
// name → count map that reads the same in every mode. A mode reports the events its mechanisms
// produce and no others (an event that did not happen is absent, not 0), so a comparison can put
// any two modes side by side and the cost model (vmm/costs.ts) can price each event.

import type { MachineStats } from "./stats.ts";

export type EventCounts = Record<string, number>;

function add(out: EventCounts, name: string, n: number | undefined): void {
  if (n) out[name] = (out[name] ?? 0) + n;
}

/** Flatten collectStats() counters into the event vocabulary. */
export function eventsOf(s: Omit<MachineStats, "cycles">): EventCounts {
  const e: EventCounts = {};
  add(e, "instructions", s.instructions);
  add(e, "tlb.miss", s.tlb.misses);
  add(e, "tlb.flush", s.tlb.flushes);
  add(e, "tlb.invlpg", s.tlb.invlpg);
  // Page-walk memory references. mmu walkRefs counts every guest paging-structure entry read; under
  // shadow paging those reads are the VMM's software walks inside hidden faults (walk.ref.vmm), and
  // the hardware walk reads the shadow tables instead (walk.ref.shadow).
  const vmmRefs = s.shadow?.guestWalkRefs ?? 0;
  add(e, "walk.ref.guest", s.tlb.walkRefs - vmmRefs);
  add(e, "walk.ref.vmm", vmmRefs);
  add(e, "walk.ref.shadow", s.shadow?.shadowRefs);
  add(e, "walk.ref.ept", s.ept?.refs);
  for (const [v, n] of Object.entries(s.vectors)) add(e, `vector.${v}`, n);
  for (const [d, n] of Object.entries(s.io)) add(e, `io.${d}`, n);
  for (const [d, n] of Object.entries(s.mmio)) add(e, `mmio.${d}`, n);
  if (s.vmx) {
    for (const [r, n] of Object.entries(s.vmx.exits)) add(e, `exit.${r}`, n);
    add(e, "vmx.entry", s.vmx.entries);
    add(e, "vmx.injection", s.vmx.injections);
  }
  if (s.ept) {
    add(e, "ept.translation", s.ept.translations);
    add(e, "ept.violation", s.ept.violations);
  }
  if (s.shadow) {
    const sh = s.shadow;
    add(e, "shadow.hidden-fault", sh.hiddenFaults);
    add(e, "shadow.tracing-fault", sh.tracingFaults);
    add(e, "shadow.true-fault", sh.trueFaults);
    add(e, "shadow.cr3-switch", sh.cr3Switches);
    add(e, "shadow.cache-hit", sh.cacheHits);
    add(e, "shadow.cache-miss", sh.cacheMisses);
  }
  if (s.bt) {
    for (const [k, n] of Object.entries(s.bt.callouts)) add(e, `bt.callout.${k}`, n);
    add(e, "bt.translated", s.bt.translatedInsns);
    add(e, "bt.direct", s.bt.directInsns);
    for (const [v, n] of Object.entries(s.bt.reflected)) add(e, `bt.reflect.${v}`, n);
    add(e, "bt.io-trap", s.bt.ioTraps);
  }
  if (s.pv) {
    const pv = s.pv;
    let calls = 0;
    for (const [k, n] of Object.entries(pv.hypercalls)) {
      add(e, `hypercall.${k}`, n);
      calls += n;
    }
    // A multicall is one trap into the hypervisor however many entries it carries.
    add(e, "pv.hypercall-trap", calls - (pv.multicallEntries ?? 0));
    add(e, "pv.multicall-entry", pv.multicallEntries);
    add(e, "pv.pte-write", pv.pteWrites);
    add(e, "pv.validated-entry", pv.validatedEntries);
    for (const [v, n] of Object.entries(pv.bounces)) add(e, `pv.bounce.${v}`, n);
    add(e, "pv.event", pv.events);
    add(e, "pv.io-emulated", pv.ioEmulated);
  }
  if (s.kvm) for (const [k, n] of Object.entries(s.kvm)) add(e, `kvm.${k}`, n);
  if (s.virtio)
    for (const [dev, c] of Object.entries(s.virtio))
      for (const k of ["notifications", "interrupts", "requests"])
        add(
          e,
          `virtio.${dev}.${k === "notifications" ? "notify" : k === "interrupts" ? "interrupt" : "request"}`,
          c[k],
        );
  return e;
}

/** a − b for every event (absent counts as 0); zero results are dropped. */
export function diffEvents(a: EventCounts, b: EventCounts): EventCounts {
  const out: EventCounts = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (a[k] ?? 0) - (b[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

/** VM exits (all reasons), hypercall traps and VMM-handled memory faults in a set of events. */
export function summarize(e: EventCounts): {
  exits: number;
  hypercalls: number;
  faults: number;
  tlbMisses: number;
  walkRefs: number;
} {
  let exits = 0;
  for (const [k, n] of Object.entries(e)) if (k.startsWith("exit.")) exits += n;
  // Entries into the hypervisor: a multicall counts once, not once per batched operation.
  const hypercalls = e["pv.hypercall-trap"] ?? 0;
  const faults =
    (e["shadow.hidden-fault"] ?? 0) +
    (e["shadow.tracing-fault"] ?? 0) +
    (e["shadow.true-fault"] ?? 0) +
    (e["ept.violation"] ?? 0);
  return {
    exits,
    hypercalls,
    faults,
    tlbMisses: e["tlb.miss"] ?? 0,
    walkRefs: (e["walk.ref.guest"] ?? 0) + (e["walk.ref.shadow"] ?? 0) + (e["walk.ref.ept"] ?? 0),
  };
}
