// The cost model (DESIGN.md "Counters and the cost model"): modelled cycles =
//   guest instructions × CPI + Σ events × cost(event, mode)
// over the shared event vocabulary (events.ts, docs/events.md). This file is the only place a cycle
// figure lives, and every figure names where it comes from: a number published in a paper, or a
// derivation — written out next to the constant — from such numbers. Nothing here is measured on
// the emulator's host: wall time is reported separately and never mixed with these cycles.
//
// One machine, one set of figures. Almost every constant comes from one table of measurements,
// Adams & Agesen's nanobenchmarks (ASPLOS 2006, §6.2 "Nanobenchmarks" and its Figure 4), taken on
// one VT-x-capable Pentium 4 system with VMware's binary-translating VMM ("software VMM") and its
// first-generation VT-x VMM ("hardware VMM"). Using one source keeps the modes comparable: the
// ratios between BT callouts, VM exits and native operations are those of a real machine. The
// exceptions (the page-walk reference and the paravirtual operations, which A&A did not measure)
// say so and show their derivation. The text of A&A's §6.2 quoted below was checked word for word.

import type { Mode } from "../machine.ts";
import type { EventCounts } from "../events.ts";

export interface CostSource {
  /** Author(s), title, venue/year, and the precise location of the figure. */
  cite: string;
  url?: string;
  /** The sentence the number comes from (short quote). */
  quote?: string;
  /** How the constant follows from the quoted figures when it is not one of them verbatim. */
  derivation?: string;
}

/** What a cycle is spent on (the UI charts cycles by cause). */
export type Cause =
  | "guest instructions"
  | "BT callouts"
  | "reflected events"
  | "shadow paging"
  | "VM exits"
  | "hypercalls"
  | "page walks"
  | "I/O"
  | "counted elsewhere";

export interface CostEntry {
  /** Event names this entry prices (whole name). */
  match: RegExp;
  /** Modes the entry applies to; the first matching entry wins. */
  modes: readonly Mode[] | "all";
  /** Cycles per event. */
  cycles: number;
  cause: Cause;
  source: CostSource;
}

const AA =
  "K. Adams, O. Agesen, “A Comparison of Software and Hardware Techniques for x86 Virtualization”, ASPLOS 2006 (DOI 10.1145/1168918.1168860)";
const AA_URL = "https://www.vmware.com/pdf/asplos235_adams.pdf";
const AA_NANO = `${AA}, §6.2 Nanobenchmarks (Figure 4)`;

/** A&A §6.2 figures (cycles on their test machine), as printed. */
export const AA_FIGURES = {
  callretNative: 11,
  callretBt: 51,
  inNative: 3209,
  inHw: 15826,
  cr8wrBt: 35,
  pgfaultNative: 1093,
  pgfaultBt: 3927,
  pgfaultHw: 11242,
  divzeroNative: 889,
  divzeroBt: 3223,
  divzeroHw: 1014,
  ptemodBt: 391,
  ptemodHw: 12733,
  syscallBtExtra: 2000,
} as const;

const Q = {
  callret:
    "“the hardware VMM and native both execute the call/return pair in 11 cycles. The software VMM introduces an average penalty of 40 cycles, requiring 51 cycles.”",
  in: "“Native execution accesses an off-CPU register in the chipset, requiring 3209 cycles. … the software VMM executes this instruction fifteen times faster than native. The hardware VMM must perform a vmm/guest round trip to complete the I/O operation. This transition causes in to consume 15826 cycles”",
  cr8wr:
    "“The software VMM translates %cr8 writes into a short sequence of simple instructions, completing the %cr8 write in 35 cycles, about four times faster than native.”",
  pgfault:
    "“the software VMM (3927 cycles) performs much better than the hardware VMM (11242 cycles). … page faults, while by no means cheap natively (1093 cycles on this hardware), are faster than a vmrun/exit round-trip.”",
  divzero:
    "“the hardware VMM (1014 cycles) delivers near native performance (889 cycles), decisively beating the software VMM (3223 cycles).”",
  ptemod:
    "“The traces induce significant overheads for PTE writes, causing very high penalties relative to the native single cycle store. … This small program consumes 391 cycles on each iteration. The hardware VMM … requiring 12733 cycles.”",
  syscall:
    "“The software VMM introduces a layer of code and an extra privilege transition, requiring approximately 2000 more cycles than a native system call.”",
};

/** Cycles per guest instruction. */
export const CPI = {
  cycles: AA_FIGURES.callretNative / 2,
  source: {
    cite: `${AA_NANO}, call/ret`,
    url: AA_URL,
    quote: Q.callret,
    derivation:
      "A call/ret pair is two instructions: 11 cycles / 2 = 5.5 cycles per instruction on A&A's machine. Used for every guest instruction so that instruction time and event costs are on the same machine's scale.",
  } satisfies CostSource,
};

/** Derived figures, each from the A&A numbers above. */
const IN_BT = AA_FIGURES.inNative / 15; // ≈ 214: "fifteen times faster than native"
const BT_REFLECT = AA_FIGURES.divzeroBt - AA_FIGURES.divzeroNative; // 2334
const BT_PF = AA_FIGURES.pgfaultBt - AA_FIGURES.pgfaultNative; // 2834
const HW_PF = AA_FIGURES.pgfaultHw - AA_FIGURES.pgfaultNative; // 10149
const HW_TRACE = AA_FIGURES.ptemodHw - 1; // 12732: minus the native single-cycle store
/** A hardware exception/software-interrupt delivery to ring 0 plus IRET, as measured natively. */
const TRAP_ROUND_TRIP = AA_FIGURES.divzeroNative; // 889

const HW: readonly Mode[] = ["hw", "hw-noept", "pv"]; // pv: a stock Linux runs on VT-x + EPT (KVM-style)
const SHADOW: readonly Mode[] = ["bt", "hw-noept"];

/** Page-walk memory reference: one paging-structure entry read, charged as an L2 cache hit. */
const WALK_REF: CostSource = {
  cite: "M. Olano, UMBC CMSC 611 (Computer Architecture), homework 5, 2016 — on Intel Nehalem, the first Intel microarchitecture with EPT",
  url: "https://redirect.cs.umbc.edu/~olano/class/611-16-2/hw5.html",
  quote: "“The L2 cache access time is 10 cycles, and L3 is 40 cycles.”",
  derivation:
    "A&A publish no walk latency. Paging-structure entries are small and hot, so each reference is charged as an L2 hit (10 cycles) — the same for a 1D walk (guest or shadow tables) and for each reference of a 2D walk (guest + EPT), so a 2D walk costs more exactly by the extra references it makes (Bhargava, Serebrin, Spadini, Manne, “Accelerating Two-Dimensional Page Walks for Virtualized Systems”, ASPLOS 2008, abstract: the extra dimension 'increases the maximum number of architecturally-required page table references'). A&A's Pentium 4 had no EPT, hence a later machine's figure.",
};

const ZERO = (why: string): CostSource => ({ cite: "not priced separately", derivation: why });

export const COST_TABLE: readonly CostEntry[] = [
  // --- instructions and memory --------------------------------------------------------------------
  {
    match: /^instructions$/,
    modes: "all",
    cycles: CPI.cycles,
    cause: "guest instructions",
    source: CPI.source,
  },
  {
    match: /^walk\.ref\.(guest|shadow|ept)$/,
    modes: "all",
    cycles: 10,
    cause: "page walks",
    source: WALK_REF,
  },
  {
    match: /^(tlb\.(miss|flush|invlpg)|walk\.ref\.vmm)$/,
    modes: "all",
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "A TLB miss costs the page-walk references it makes (walk.ref.*); a flush or INVLPG costs the misses that follow. walk.ref.vmm are the VMM's software walks inside hidden faults, priced with shadow.hidden-fault.",
    ),
  },
  {
    match: /^vector\.\d+$/,
    modes: "all",
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "Guest-visible interrupts and exceptions: the handler's instructions are counted; the virtualization cost of delivering them is priced by the mode's own event (bt.reflect.*, pv.bounce.*, exit.*).",
    ),
  },

  // --- port I/O and MMIO -------------------------------------------------------------------------
  {
    match: /^(io|mmio)\..+$/,
    modes: ["native"],
    cycles: AA_FIGURES.inNative,
    cause: "I/O",
    source: {
      cite: `${AA_NANO}, in`,
      url: AA_URL,
      quote: Q.in,
      derivation: "Natively a device register access is an off-CPU chipset access: 3209 cycles.",
    },
  },
  {
    match: /^mmio\..+$/,
    modes: ["bt"],
    cycles: IN_BT,
    cause: "I/O",
    source: {
      cite: `${AA_NANO}, in`,
      url: AA_URL,
      quote: Q.in,
      derivation:
        "Under BT an MMIO access is emulated against the device model like a translated IN: 3209 / 15 ≈ 214 cycles.",
    },
  },
  {
    match: /^mmio\..+$/,
    modes: HW,
    cycles: AA_FIGURES.inHw,
    cause: "VM exits",
    source: {
      cite: `${AA_NANO}, in`,
      url: AA_URL,
      quote: Q.in,
      derivation:
        "Under VT-x an MMIO access to an emulated device is a VM exit (EPT violation/misconfiguration, or #PF with shadow paging) round trip to the device model, priced like A&A's I/O exit: 15826 cycles. (This monitor does not record these exits as exit.*; this entry prices them.) Virtio notifications are MMIO writes and are priced here.",
    },
  },
  {
    match: /^io\..+$/,
    modes: ["bt", "pv", "hw", "hw-noept"],
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "Port accesses by device; under virtualization each is priced by the mode's trap: bt.callout.IN/OUT…, exit.io-instruction, pv.io-emulated.",
    ),
  },

  // --- BT ----------------------------------------------------------------------------------------
  {
    match: /^bt\.callout\.(IN|OUT|INS\w*|OUTS\w*)( .*)?$/,
    modes: ["bt"],
    cycles: IN_BT,
    cause: "BT callouts",
    source: {
      cite: `${AA_NANO}, in`,
      url: AA_URL,
      quote: Q.in,
      derivation:
        "The translated IN/OUT calls the virtual chipset model: 'fifteen times faster than native' = 3209 / 15 ≈ 214 cycles.",
    },
  },
  {
    match: /^bt\.callout\..+$/,
    modes: ["bt"],
    cycles: AA_FIGURES.cr8wrBt,
    cause: "BT callouts",
    source: {
      cite: `${AA_NANO}, cr8wr`,
      url: AA_URL,
      quote: Q.cr8wr,
      derivation:
        "A privileged or sensitive instruction in translated kernel code becomes a short in-TC sequence that emulates it against the virtual CPU state; A&A's only figure for such a callout is the %cr8 write, 35 cycles, used for every non-I/O callout.",
    },
  },
  {
    match: /^bt\.reflect\.\d+$/,
    modes: ["bt"],
    cycles: BT_REFLECT,
    cause: "reflected events",
    source: {
      cite: `${AA_NANO}, divzero (cross-checked with syscall)`,
      url: AA_URL,
      quote: `${Q.divzero} ${Q.syscall}`,
      derivation:
        "Every guest exception and interrupt is taken by the VMM and reflected to the guest's handler. divzero isolates this: software VMM − native = 3223 − 889 = 2334 cycles. Consistent with syscall's 'approximately 2000 more cycles'.",
    },
  },
  {
    match: /^bt\.(translated|direct|io-trap)$/,
    modes: ["bt"],
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "Translated and direct instructions are counted in `instructions` (CPI); I/O traps are the I/O callouts (bt.callout.IN/OUT…).",
    ),
  },

  // --- shadow paging (BT and first-generation VT-x) ------------------------------------------------
  {
    match: /^shadow\.(hidden|true)-fault$/,
    modes: ["bt"],
    cycles: BT_PF,
    cause: "shadow paging",
    source: {
      cite: `${AA_NANO}, pgfault`,
      url: AA_URL,
      quote: Q.pgfault,
      derivation:
        "A true guest page fault costs the software VMM 3927 − 1093 = 2834 cycles over native. A hidden fault takes the same path into the VMM (a #PF it receives and resolves with a software walk) without the reflection; A&A give no separate figure, so it is priced the same.",
    },
  },
  {
    match: /^shadow\.tracing-fault$/,
    modes: ["bt"],
    cycles: AA_FIGURES.ptemodBt,
    cause: "shadow paging",
    source: {
      cite: `${AA_NANO}, ptemod`,
      url: AA_URL,
      quote: Q.ptemod,
      derivation:
        "A guest PTE write to a traced page under BT: 391 cycles (VMware's BT adapts the faulting store into a callout; this is that callout's cost).",
    },
  },
  {
    match: /^shadow\.(hidden|true)-fault$/,
    modes: ["hw-noept"],
    cycles: HW_PF,
    cause: "shadow paging",
    source: {
      cite: `${AA_NANO}, pgfault`,
      url: AA_URL,
      quote: Q.pgfault,
      derivation:
        "A guest page fault costs the hardware VMM 11242 − 1093 = 10149 cycles over native: a #PF VM exit, the monitor's shadow-table work and the re-entry (with injection for a true fault). A hidden fault takes the same exit path; priced the same. Includes the exit.exception-nmi it causes.",
    },
  },
  {
    match: /^shadow\.tracing-fault$/,
    modes: ["hw-noept"],
    cycles: HW_TRACE,
    cause: "shadow paging",
    source: {
      cite: `${AA_NANO}, ptemod`,
      url: AA_URL,
      quote: Q.ptemod,
      derivation:
        "A guest PTE write to a traced page under first-generation VT-x: 12733 cycles, less the 'native single cycle store' = 12732. Includes the exit.exception-nmi it causes.",
    },
  },
  {
    match: /^shadow\.(cr3-switch|cache-hit|cache-miss)$/,
    modes: SHADOW,
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "A CR3 write is priced as the callout (BT) or CR-access exit (VT-x) that performs it; a shadow-cache miss costs the hidden faults that rebuild the tables, which are counted.",
    ),
  },

  // --- VT-x ----------------------------------------------------------------------------------------
  {
    match: /^exit\.io-instruction$/,
    modes: HW,
    cycles: AA_FIGURES.inHw,
    cause: "VM exits",
    source: {
      cite: `${AA_NANO}, in`,
      url: AA_URL,
      quote: Q.in,
      derivation:
        "An I/O-instruction VM exit, device emulation and re-entry: 15826 cycles (total, as printed).",
    },
  },
  {
    match: /^exit\.exception-nmi$/,
    modes: ["hw-noept"],
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "With shadow paging these exits are the page faults the monitor intercepts; each is priced by the shadow.*-fault event that caused it.",
    ),
  },
  {
    match: /^exit\..+$/,
    modes: HW,
    cycles: HW_PF,
    cause: "VM exits",
    source: {
      cite: `${AA_NANO}, pgfault`,
      url: AA_URL,
      quote: Q.pgfault,
      derivation:
        "A&A print no bare exit round trip, only that it exceeds a native page fault. Every other exit (CR access, INVLPG, CPUID, HLT, MSR, external interrupt, interrupt window, EPT violation) is priced as their cheapest fully monitor-handled exit: the page fault's 11242 − 1093 = 10149 cycles (exit, handler, re-entry).",
    },
  },
  {
    match: /^(vmx\.(entry|injection)|ept\.(translation|violation))$/,
    modes: HW,
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "An entry and any injection are part of the exit round trip priced by exit.*; an EPT translation costs its walk.ref.ept references; an EPT violation is priced as exit.ept-violation.",
    ),
  },

  // --- PV (hypercall ABI) --------------------------------------------------------------------------
  {
    match: /^pv\.hypercall-trap$/,
    modes: ["pv"],
    cycles: TRAP_ROUND_TRIP,
    cause: "hypercalls",
    source: {
      cite: `${AA_NANO}, divzero (native)`,
      url: AA_URL,
      quote: Q.divzero,
      derivation:
        "A hypercall is `int 0x82` from the guest kernel into the hypervisor and back (Barham et al., “Xen and the Art of Virtualization”, SOSP 2003, §3.1: the hypercall interface lets a domain 'perform a synchronous software trap into the hypervisor'): the same hardware path as a native exception delivery and IRET, which A&A measured as divzero native, 889 cycles. A&A did not measure PV.",
    },
  },
  {
    match: /^pv\.(bounce\.\d+|event)$/,
    modes: ["pv"],
    cycles: TRAP_ROUND_TRIP,
    cause: "reflected events",
    source: {
      cite: `${AA_NANO}, divzero (native)`,
      url: AA_URL,
      quote: Q.divzero,
      derivation:
        "An exception bounced to the guest kernel (or an event upcall) is one hardware delivery into the hypervisor plus a transfer to the guest's handler: priced as one native exception delivery, 889 cycles. The guest's return is its `iret` hypercall, priced separately.",
    },
  },
  {
    match: /^pv\.validated-entry$/,
    modes: ["pv"],
    cycles: AA_FIGURES.ptemodBt,
    cause: "hypercalls",
    source: {
      cite: `${AA_NANO}, ptemod`,
      url: AA_URL,
      quote: Q.ptemod,
      derivation:
        "Validating and writing one page-table entry in the hypervisor is software doing what BT's adapted PTE-write callout does (check the new entry, update the table): priced at that callout's 391 cycles.",
    },
  },
  {
    match: /^pv\.io-emulated$/,
    modes: ["pv"],
    cycles: TRAP_ROUND_TRIP + IN_BT,
    cause: "I/O",
    source: {
      cite: `${AA_NANO}, divzero (native) and in`,
      url: AA_URL,
      quote: `${Q.divzero} ${Q.in}`,
      derivation:
        "The guest kernel's IN/OUT raises #GP (IOPL 0) into the hypervisor, which emulates it against the device model: one trap round trip (889) + one device-model access (3209 / 15 ≈ 214) ≈ 1103 cycles.",
    },
  },
  {
    match: /^(hypercall\..+|pv\.(multicall-entry|pte-write))$/,
    modes: ["pv"],
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "Hypercalls by operation: the trap into the hypervisor is pv.hypercall-trap (a multicall traps once for all its entries), and page-table work is priced per validated entry.",
    ),
  },

  // --- PV for Linux: KVM paravirtual interface and virtio ------------------------------------------
  {
    match: /^(kvm\..+|virtio\..+)$/,
    modes: ["pv"],
    cycles: 0,
    cause: "counted elsewhere",
    source: ZERO(
      "kvm-clock updates are written by the hypervisor during exits it takes anyway; virtio notifications are MMIO writes (priced as mmio.*), interrupts are priced as the external-interrupt exits that inject them, and requests are serviced by the back-end outside the guest.",
    ),
  },
];

/** The entry pricing `event` in `mode` (undefined: the event is not in the vocabulary's price list). */
export function costOf(event: string, mode: Mode): CostEntry | undefined {
  return COST_TABLE.find((c) => (c.modes === "all" || c.modes.includes(mode)) && c.match.test(event));
}

export interface ModelledCycles {
  total: number;
  byCause: Partial<Record<Cause, number>>;
  /** Events that no entry prices (a defect: every event should have an entry, even if 0). */
  unpriced: string[];
}

/** Modelled cycles for a set of events: instructions × CPI + Σ events × cost. */
export function modelCycles(events: EventCounts, mode: Mode): ModelledCycles {
  const byCause: Partial<Record<Cause, number>> = {};
  const unpriced: string[] = [];
  let total = 0;
  for (const [name, n] of Object.entries(events)) {
    const c = costOf(name, mode);
    if (!c) {
      unpriced.push(name);
      continue;
    }
    if (!c.cycles) continue;
    const cyc = n * c.cycles;
    total += cyc;
    byCause[c.cause] = (byCause[c.cause] ?? 0) + cyc;
  }
  const round = (x: number) => Math.round(x * 100) / 100;
  for (const k of Object.keys(byCause) as Cause[]) byCause[k] = round(byCause[k]!);
  return { total: round(total), byCause, unpriced };
}
