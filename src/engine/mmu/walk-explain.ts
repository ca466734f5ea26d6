// The page-walk visualizer's engine side: for one guest-virtual address, every memory reference that
// translating it takes under each strategy, numbered in the order the hardware (or VMM) makes them.
// Side-effect free: it reads guest RAM and the VMM's structures directly, so no accessed/dirty bit,
// counter, EPT entry or shadow entry changes — looking does not disturb what is looked at.
//
// - native: the i386 two-level walk — the PDE at CR3 + 4·PDI, then (unless a 4 MiB PSE page) the
//   PTE at PDE.frame + 4·PTI; 2 references (1 for a large page).
// - shadow (BT, HW without EPT): the TLB is filled from the VMM's shadow tables, a 1D walk of 2
//   references that yields the host-physical page directly; if the entry is not built yet the miss
//   is a hidden page fault, after which the VMM walks the guest tables (the native walk above).
// - 2D (HW with EPT): the guest's CR3 and every guest paging-structure address are guest-physical,
//   so each is first translated through the four-level EPT (4 references), then the guest entry is
//   read; finally the resulting guest-physical page is translated through the EPT too:
//   (2 + 1) × 4 + 2 = 14 references for a 4 KiB page.

import type { Machine } from "../machine.ts";
import {
  CR0_PG,
  CR4_PSE,
  PTE_P,
  PTE_PS,
  PTE_U,
  PTE_W,
  PTE_A,
  PTE_D,
  T_VALID,
  T_USER,
  T_WSUP,
  T_WUSER,
} from "./mmu.ts";

export type WalkDimension = "guest" | "ept" | "shadow";

export interface WalkRef {
  /** 1-based position in the order the references are made. */
  n: number;
  dimension: WalkDimension;
  /** Which structure is read, e.g. "guest PDE", "EPT PML4E", "shadow PTE". */
  what: string;
  /** Entry index within its table. */
  index: number;
  /**
   * Address read: guest-physical (= host-physical in this machine) for guest tables, or
   * "VMM page N" offsets for EPT and shadow tables (they live in VMM memory, not guest RAM).
   */
  address: string;
  /** The entry, in hex. */
  value: string;
  /** Decoded flags or what the entry means. */
  note: string;
}

export interface WalkResult {
  refs: WalkRef[];
  /** Physical address the walk arrives at, or null if it faults / is not mapped. */
  physical: number | null;
  /** Why there is no result, or what would happen on a real access. */
  outcome: string;
}

export interface WalkExplanation {
  linear: number;
  mode: string;
  paging: boolean;
  cr3: number;
  pdi: number;
  pti: number;
  offset: number;
  /** The current TLB entry for the page (0 if none). */
  tlb: { present: boolean; frame: number; flags: string };
  native: WalkResult;
  /** Present under BT and HW without EPT. */
  shadow?: WalkResult & { guestCr3: number; roots: number };
  /** Present under HW with EPT (and Linux in PV mode, which runs on VT-x with EPT). */
  ept?: WalkResult;
}

const hex = (v: number, w = 8) => "0x" + (v >>> 0).toString(16).padStart(w, "0");

function pteFlags(e: number): string {
  const f: string[] = [];
  if (e & PTE_P) f.push("P");
  f.push(e & PTE_W ? "W" : "R");
  f.push(e & PTE_U ? "U" : "S");
  if (e & PTE_A) f.push("A");
  if (e & PTE_D) f.push("D");
  if (e & PTE_PS) f.push("PS");
  if (e & 0x100) f.push("G");
  return f.join(" ");
}

function tlbFlags(e: number): string {
  if (!(e & T_VALID)) return "not present";
  const f = ["valid"];
  if (e & T_USER) f.push("user");
  if (e & T_WSUP) f.push("sup-write");
  if (e & T_WUSER) f.push("user-write");
  return f.join(" ");
}

/** Read a guest-physical dword from RAM without side effects (null if not RAM). */
function peek32(m: Machine, addr: number): number | null {
  addr >>>= 0;
  if (addr + 4 > m.mem.ramSize) return null;
  return m.mem.view.getInt32(addr, true);
}

const EPT_LEVELS = ["EPT PML4E", "EPT PDPTE", "EPT PDE", "EPT PTE"];

/** Explain the translation of `linear` in machine `m`'s current address space. */
export function explainWalk(m: Machine, linear: number): WalkExplanation {
  linear >>>= 0;
  const mmu = m.cpu.mmu;
  const pdi = linear >>> 22,
    pti = (linear >>> 12) & 1023,
    offset = linear & 0xfff;
  const paging = (mmu.cr0 & CR0_PG) !== 0;
  const tlbEntry = mmu.tlb[linear >>> 12];
  const out: WalkExplanation = {
    linear,
    mode: m.mode,
    paging,
    cr3: mmu.cr3 >>> 0,
    pdi,
    pti,
    offset,
    tlb: { present: (tlbEntry & T_VALID) !== 0, frame: (tlbEntry & ~0xfff) >>> 0, flags: tlbFlags(tlbEntry) },
    native: nativeWalk(m, linear, null),
  };
  const shadow = m.bt?.shadow ?? m.vmx?.shadow ?? null;
  if (shadow) {
    const s = shadow.peek(linear);
    const refs: WalkRef[] = [
      {
        n: 1,
        dimension: "shadow",
        what: "shadow PDE",
        index: pdi,
        address: `shadow root of CR3 ${hex(s.guestCr3)} [${pdi}]`,
        value: s.ptPresent ? "→ shadow PT" : "0",
        note: s.ptPresent ? "shadow page table exists" : "no shadow page table for this 4 MiB region",
      },
    ];
    if (s.ptPresent)
      refs.push({
        n: 2,
        dimension: "shadow",
        what: "shadow PTE",
        index: pti,
        address: `shadow PT [${pti}]`,
        value: hex(s.entry),
        note: tlbFlags(s.entry),
      });
    const built = s.ptPresent && (s.entry & T_VALID) !== 0;
    out.shadow = {
      guestCr3: s.guestCr3,
      roots: s.roots,
      refs,
      physical: built ? ((s.entry & ~0xfff) | offset) >>> 0 : null,
      outcome: built
        ? "the shadow entry is built: a TLB miss is filled from it (1D walk, no guest table read)"
        : "not built yet: the next access is a hidden page fault — the VMM walks the guest tables " +
          "(the native walk), fills the shadow entry and write-protects the guest PD/PT pages",
    };
  }
  if (m.vmx?.ept) out.ept = twoDimensionalWalk(m, linear);
  return out;
}

/** The guest's own walk; with `ept`, each guest-physical address goes through the EPT first. */
function nativeWalk(m: Machine, linear: number, eptRefs: WalkRef[] | null): WalkResult {
  const mmu = m.cpu.mmu;
  const refs: WalkRef[] = eptRefs ?? [];
  const offset = linear & 0xfff;
  if (!(mmu.cr0 & CR0_PG)) return { refs, physical: linear, outcome: "paging is off: linear = physical" };
  const pdi = linear >>> 22,
    pti = (linear >>> 12) & 1023;
  const ept = eptRefs ? m.vmx!.ept! : null;
  const translate = (gpa: number, why: string): number | null => {
    if (!ept) return gpa;
    const { steps, hpa } = ept.peek(gpa);
    for (const s of steps)
      refs.push({
        n: refs.length + 1,
        dimension: "ept",
        what: EPT_LEVELS[s.level],
        index: s.index,
        address: `VMM page ${s.table} [${s.index}]`,
        value: "0x" + s.entry.toString(16),
        note:
          s.entry & 7n
            ? `${why}: ${s.level === 3 ? `host page ${hex(Number(s.entry >> 12n) << 12)}` : "next table"}`
            : "not present",
      });
    return hpa;
  };
  const pdBase = (mmu.cr3 & ~0xfff) >>> 0;
  const pdeGpa = (pdBase + pdi * 4) >>> 0;
  const pdeHpa = translate(pdeGpa, "guest PD page");
  if (pdeHpa === null)
    return { refs, physical: null, outcome: "EPT violation on the guest page directory (first touch)" };
  const pde = peek32(m, pdeHpa);
  if (pde === null)
    return { refs, physical: null, outcome: `the page directory at ${hex(pdeGpa)} is not in RAM` };
  refs.push({
    n: refs.length + 1,
    dimension: "guest",
    what: "guest PDE",
    index: pdi,
    address: hex(pdeGpa),
    value: hex(pde),
    note: pteFlags(pde),
  });
  if (!(pde & PTE_P)) return { refs, physical: null, outcome: "PDE not present: #PF for the guest" };
  let gpa: number;
  if (pde & PTE_PS && mmu.cr4 & CR4_PSE) {
    gpa = ((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0;
  } else {
    const pteGpa = ((pde & ~0xfff) + pti * 4) >>> 0;
    const pteHpa = translate(pteGpa, "guest PT page");
    if (pteHpa === null)
      return { refs, physical: null, outcome: "EPT violation on the guest page table (first touch)" };
    const pte = peek32(m, pteHpa);
    if (pte === null)
      return { refs, physical: null, outcome: `the page table at ${hex(pteGpa)} is not in RAM` };
    refs.push({
      n: refs.length + 1,
      dimension: "guest",
      what: "guest PTE",
      index: pti,
      address: hex(pteGpa),
      value: hex(pte),
      note: pteFlags(pte),
    });
    if (!(pte & PTE_P)) return { refs, physical: null, outcome: "PTE not present: #PF for the guest" };
    gpa = ((pte & ~0xfff) | offset) >>> 0;
  }
  if (!ept)
    return {
      refs,
      physical: gpa,
      outcome: `${refs.length} reference${refs.length > 1 ? "s" : ""}: guest-physical ${hex(gpa)}`,
    };
  const hpa = translate(gpa, "data page");
  if (hpa === null)
    return { refs, physical: null, outcome: `EPT violation on the data page ${hex(gpa)} (first touch)` };
  return { refs, physical: hpa, outcome: `${refs.length} references (2D): host-physical ${hex(hpa)}` };
}

function twoDimensionalWalk(m: Machine, linear: number): WalkResult {
  return nativeWalk(m, linear, []);
}
