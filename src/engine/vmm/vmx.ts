// HW mode: a simulated VT-x monitor (Intel SDM Vol. 3C, chapters 24–27). The guest runs natively
// at its own CPL ("VMX non-root"); the events its VMCS-like controls select cause VM exits that
// carry Intel's basic exit reason and an exit qualification; the monitor handles each exit (by
// emulating the instruction, calling the device model, or injecting an event) and re-enters.
//
// Which instructions can exit comes from the opcode table: only entries classified privileged or
// sensitive get a monitor handler, bound when the instruction is decoded; innocuous code runs the
// interpreter's handlers untouched.

import type { Cpu } from "../cpu/cpu.ts";
import type { Insn } from "../cpu/decoder.ts";
import type { Handler } from "../cpu/exec-int.ts";
import { checkIo } from "../cpu/exec-int.ts";
import { HANDLERS } from "../cpu/interp.ts";
import { OPCODES, type OpcodeDef } from "../cpu/opcodes.ts";
import { IF } from "../cpu/flags.ts";
import {
  CR0_CD,
  CR0_NE,
  CR0_NW,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_PAE,
  CR4_PGE,
  CR4_PSE,
} from "../mmu/mmu.ts";
import { Ept } from "./ept.ts";
import { ShadowPaging } from "./shadow.ts";

/** Intel basic exit reasons (SDM Vol. 3D, Appendix C). */
export const EXIT = {
  EXCEPTION_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INTERRUPT_WINDOW: 7,
  TASK_SWITCH: 9,
  CPUID: 10,
  HLT: 12,
  INVD: 13,
  INVLPG: 14,
  RDPMC: 15,
  RDTSC: 16,
  CR_ACCESS: 28,
  DR_ACCESS: 29,
  IO_INSTRUCTION: 30,
  RDMSR: 31,
  WRMSR: 32,
  EPT_VIOLATION: 48,
  WBINVD: 54,
} as const;

export const EXIT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(EXIT).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, "-")]),
);

/** Pin-based VM-execution controls (SDM 24.6.1). */
export const PIN_EXTERNAL_INTERRUPT_EXITING = 1 << 0;
export const PIN_NMI_EXITING = 1 << 3;
/** Primary processor-based VM-execution controls (SDM 24.6.2). */
export const CPU_INTERRUPT_WINDOW_EXITING = 1 << 2;
export const CPU_USE_TSC_OFFSETTING = 1 << 3;
export const CPU_HLT_EXITING = 1 << 7;
export const CPU_INVLPG_EXITING = 1 << 9;
export const CPU_RDPMC_EXITING = 1 << 11;
export const CPU_RDTSC_EXITING = 1 << 12;
export const CPU_CR3_LOAD_EXITING = 1 << 15;
export const CPU_CR3_STORE_EXITING = 1 << 16;
export const CPU_MOV_DR_EXITING = 1 << 23;
export const CPU_UNCOND_IO_EXITING = 1 << 24;
export const CPU_USE_IO_BITMAPS = 1 << 25;
export const CPU_USE_MSR_BITMAPS = 1 << 28;
export const CPU_SECONDARY_CONTROLS = 1 << 31;
/** Secondary processor-based controls (SDM 24.6.2). */
export const CPU2_ENABLE_EPT = 1 << 1;
export const CPU2_WBINVD_EXITING = 1 << 6;

/** The VMCS fields this monitor uses (a subset of the real layout, by meaning not by encoding). */
export class Vmcs {
  pinControls = PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING;
  cpuControls = CPU_HLT_EXITING | CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_SECONDARY_CONTROLS;
  cpu2Controls = CPU2_ENABLE_EPT;
  /** Exceptions that cause VM exits (bit per vector). */
  exceptionBitmap = 0;
  /** CR0/CR4 bits owned by the monitor: guest writes that change them exit; reads see the shadow. */
  cr0Mask = CR0_PE | CR0_PG | CR0_CD | CR0_NW | CR0_NE | CR0_WP;
  cr4Mask = CR4_PAE | CR4_PSE | CR4_PGE;
  /** I/O bitmaps A and B (ports 0–0xFFFF): a set bit makes the port's accesses exit. */
  readonly ioBitmap = new Uint8Array(8192).fill(0xff);
  /** MSR bitmaps: read and write, for MSRs 0–0x1FFF (others always exit). */
  readonly msrReadBitmap = new Uint8Array(1024).fill(0xff);
  readonly msrWriteBitmap = new Uint8Array(1024).fill(0xff);

  // Exit information fields of the last exit.
  exitReason = 0;
  exitQualification = 0;
  exitInstructionLength = 0;
  guestPhysicalAddress = 0;
  guestEip = 0;

  ept(): boolean {
    return (this.cpuControls & CPU_SECONDARY_CONTROLS) !== 0 && (this.cpu2Controls & CPU2_ENABLE_EPT) !== 0;
  }
}

export interface VmxCounters {
  /** VM exits by basic exit reason number. */
  exits: Record<number, number>;
  /** VM entries (each exit is followed by one; plus the initial launch). */
  entries: number;
  /** Events injected on VM entry (external interrupts, reflected exceptions). */
  injections: number;
}

/** Instruction semantics that may cause an exit, by the opcode table's `sem` key. */
type ExitRule = (vm: VmxMonitor, c: Cpu, i: Insn, d: OpcodeDef) => boolean;

const CR_MOV_TO = 0,
  CR_MOV_FROM = 1,
  CR_CLTS = 2,
  CR_LMSW = 3;

/** Exit qualification for control-register accesses (SDM Table 27-3). */
function crQual(cr: number, type: number, gpr: number): number {
  return cr | (type << 4) | (gpr << 8);
}

const RULES: Record<string, ExitRule> = {
  cpuid: (vm, c, i) => vm.exit(EXIT.CPUID, 0, c, i),
  hlt: (vm, c, i) => c.cpl === 0 && !!(vm.vmcs.cpuControls & CPU_HLT_EXITING) && vm.exit(EXIT.HLT, 0, c, i),
  invlpg: (vm, c, i) =>
    c.cpl === 0 &&
    !!(vm.vmcs.cpuControls & CPU_INVLPG_EXITING) &&
    vm.exit(EXIT.INVLPG, (c.segBase[c.segOf(i)] + c.ea(i)) | 0, c, i),
  rdtsc: (vm, c, i) => !!(vm.vmcs.cpuControls & CPU_RDTSC_EXITING) && vm.exit(EXIT.RDTSC, 0, c, i),
  rdpmc: (vm, c, i) => !!(vm.vmcs.cpuControls & CPU_RDPMC_EXITING) && vm.exit(EXIT.RDPMC, 0, c, i),
  invd: (vm, c, i, d) =>
    c.cpl === 0 &&
    (d.mn === "INVD"
      ? vm.exit(EXIT.INVD, 0, c, i)
      : !!(vm.vmcs.cpu2Controls & CPU2_WBINVD_EXITING) && vm.exit(EXIT.WBINVD, 0, c, i)),
  mov_to_cr: (vm, c, i) => {
    if (c.cpl !== 0) return false;
    const v = c.regs[i.rm];
    const s = vm.vmcs;
    let exits = false;
    if (i.reg === 3) exits = !!(s.cpuControls & CPU_CR3_LOAD_EXITING);
    else if (i.reg === 0) exits = ((v ^ c.cr0) & s.cr0Mask) !== 0;
    else if (i.reg === 4) exits = ((v ^ c.cr4) & s.cr4Mask) !== 0;
    return exits && vm.exit(EXIT.CR_ACCESS, crQual(i.reg, CR_MOV_TO, i.rm), c, i);
  },
  mov_from_cr: (vm, c, i) =>
    c.cpl === 0 &&
    i.reg === 3 &&
    !!(vm.vmcs.cpuControls & CPU_CR3_STORE_EXITING) &&
    vm.exit(EXIT.CR_ACCESS, crQual(3, CR_MOV_FROM, i.rm), c, i),
  clts: (vm, c, i) =>
    c.cpl === 0 && !!(vm.vmcs.cr0Mask & CR0_TS) && vm.exit(EXIT.CR_ACCESS, crQual(0, CR_CLTS, 0), c, i),
  lmsw: (vm, c, i) =>
    c.cpl === 0 && (vm.vmcs.cr0Mask & 0xf) !== 0 && vm.exit(EXIT.CR_ACCESS, crQual(0, CR_LMSW, 0), c, i),
  mov_to_dr: (vm, c, i) =>
    c.cpl === 0 &&
    !!(vm.vmcs.cpuControls & CPU_MOV_DR_EXITING) &&
    vm.exit(EXIT.DR_ACCESS, i.reg | (i.rm << 8), c, i),
  mov_from_dr: (vm, c, i) =>
    c.cpl === 0 &&
    !!(vm.vmcs.cpuControls & CPU_MOV_DR_EXITING) &&
    vm.exit(EXIT.DR_ACCESS, i.reg | (1 << 4) | (i.rm << 8), c, i),
  rdmsr: (vm, c, i) => c.cpl === 0 && vm.msrExits(c.regs[1], false) && vm.exit(EXIT.RDMSR, 0, c, i),
  wrmsr: (vm, c, i) => c.cpl === 0 && vm.msrExits(c.regs[1], true) && vm.exit(EXIT.WRMSR, 0, c, i),
  in: (vm, c, i, d) => vm.ioExit(c, i, d, false, false),
  out: (vm, c, i, d) => vm.ioExit(c, i, d, true, false),
  ins: (vm, c, i, d) => vm.ioExit(c, i, d, false, true),
  outs: (vm, c, i, d) => vm.ioExit(c, i, d, true, true),
};

export class VmxMonitor {
  readonly vmcs = new Vmcs();
  readonly counters: VmxCounters = { exits: {}, entries: 1, injections: 0 };
  readonly ept: Ept | null;
  readonly shadow: ShadowPaging | null;
  /** Interrupt requests that arrived while the guest had IF=0 (they need an interrupt window). */
  private maskedRequest = false;

  constructor(
    readonly cpu: Cpu,
    opts: { ept: boolean },
  ) {
    if (!opts.ept) {
      // First-generation VT-x: no EPT, so the monitor runs shadow page tables and must see every
      // CR3 load, INVLPG and page fault (exception bitmap bit 14).
      this.vmcs.cpu2Controls &= ~CPU2_ENABLE_EPT;
      this.vmcs.cpuControls |= CPU_CR3_LOAD_EXITING | CPU_CR3_STORE_EXITING | CPU_INVLPG_EXITING;
      this.vmcs.exceptionBitmap |= 1 << 14;
      this.shadow = new ShadowPaging(cpu.mmu);
      this.shadow.onFaultExit = (_kind, lin) => {
        this.vmcs.exitQualification = lin;
        this.record(EXIT.EXCEPTION_NMI, lin, cpu);
      };
      cpu.mmu.shadow = this.shadow;
    } else this.shadow = null;
    this.ept = this.vmcs.ept() ? new Ept(cpu.mem.ramSize) : null;
    if (this.ept) {
      this.ept.onViolation = (gpa, access) => {
        this.vmcs.guestPhysicalAddress = gpa;
        this.record(EXIT.EPT_VIOLATION, access, cpu);
      };
      cpu.mmu.ept = this.ept;
    }
    // Guest-physical memory changed hands: translations made without the EPT are invalid.
    cpu.mmu.flush(false);
    cpu.handlers = OPCODES.map((d) => this.bind(d, HANDLERS[d.id]));
    cpu.flushDecodeCache();
    cpu.interruptHook = (vector, _code, soft) => this.onEvent(vector, soft);
  }

  /** The handler for an entry: the interpreter's own, or one that may exit first. */
  private bind(d: OpcodeDef, base: Handler): Handler {
    const rule = d.cls === "innocuous" ? undefined : RULES[d.sem];
    if (!rule) return base;
    return (c, i) => {
      // The exit is taken (and accounted) first; the monitor then emulates the instruction with
      // the architectural semantics, which is what its instruction emulator does, and re-enters.
      rule(this, c, i, d);
      base(c, i);
    };
  }

  /** Record a VM exit caused by instruction `i` and its VM entry back into the guest. */
  exit(reason: number, qualification: number, c: Cpu, i: Insn): true {
    this.vmcs.exitInstructionLength = i.len;
    this.record(reason, qualification, c);
    return true;
  }

  private record(reason: number, qualification: number, c: Cpu): void {
    const s = this.vmcs;
    s.exitReason = reason;
    s.exitQualification = qualification;
    s.guestEip = c.insnEip;
    this.counters.exits[reason] = (this.counters.exits[reason] ?? 0) + 1;
    this.counters.entries++;
  }

  msrExits(msr: number, write: boolean): boolean {
    const s = this.vmcs;
    if (!(s.cpuControls & CPU_USE_MSR_BITMAPS)) return true;
    msr >>>= 0;
    if (msr > 0x1fff) return true; // high MSRs: all exit in this monitor
    const bm = write ? s.msrWriteBitmap : s.msrReadBitmap;
    return (bm[msr >>> 3] & (1 << (msr & 7))) !== 0;
  }

  /** I/O instructions exit after the guest's own IOPL/bitmap checks (SDM 25.1.1). */
  ioExit(c: Cpu, i: Insn, d: OpcodeDef, out: boolean, string: boolean): boolean {
    const viaImm = d.ops.includes("Ib");
    const port = viaImm ? i.imm & 0xff : c.r16[4];
    const sizeSpec = out ? d.ops[1] : d.ops[0];
    const size = sizeSpec.endsWith("b") || sizeSpec === "AL" ? 1 : i.o32 ? 4 : 2;
    checkIo(c, port, size); // a #GP here is the guest's, not an exit
    const s = this.vmcs;
    let exits = !!(s.cpuControls & CPU_UNCOND_IO_EXITING);
    if (s.cpuControls & CPU_USE_IO_BITMAPS) {
      exits = false;
      for (let p = port; p < port + size; p++)
        if (s.ioBitmap[(p & 0xffff) >>> 3] & (1 << (p & 7))) exits = true;
    }
    if (!exits) return false;
    // Qualification (SDM Table 27-5): size-1, direction (1 = IN), string, REP, immediate, port.
    const qual =
      (size - 1) |
      (out ? 0 : 1 << 3) |
      (string ? 1 << 4 : 0) |
      (i.rep ? 1 << 5 : 0) |
      (viaImm ? 1 << 6 : 0) |
      ((port & 0xffff) << 16);
    return this.exit(EXIT.IO_INSTRUCTION, qual, c, i);
  }

  /** Exceptions and interrupts on their way to the guest's IDT. */
  private onEvent(vector: number, soft: boolean): boolean {
    const s = this.vmcs;
    if (vector < 32 && (!soft || vector === 3 || vector === 4) && s.exceptionBitmap & (1 << vector)) {
      s.exitQualification = vector === 14 ? this.cpu.cr2 : 0;
      this.record(EXIT.EXCEPTION_NMI, s.exitQualification, this.cpu);
      // The monitor reflects the exception back to the guest by event injection on entry.
      this.counters.injections++;
    }
    return false;
  }

  /**
   * An external interrupt is about to be taken by the guest. With external-interrupt exiting it first
   * exits to the monitor (reason 1), which injects it on entry; if it arrived while the guest had
   * IF=0, the monitor also had to open an interrupt window (reason 7) before injecting.
   */
  onExternalInterrupt(): void {
    const s = this.vmcs;
    if (!(s.pinControls & PIN_EXTERNAL_INTERRUPT_EXITING)) return;
    this.record(EXIT.EXTERNAL_INTERRUPT, 0, this.cpu);
    if (this.maskedRequest) {
      this.record(EXIT.INTERRUPT_WINDOW, 0, this.cpu);
      this.maskedRequest = false;
    }
    this.counters.injections++;
  }

  /** The interrupt controller raised INTR; note it if the guest cannot take it yet. */
  onInterruptRequest(): void {
    if (!(this.cpu.flags.bits & IF)) this.maskedRequest = true;
  }

  /** A guest triple fault ends the VM: exit reason 2. */
  onTripleFault(): void {
    this.record(EXIT.TRIPLE_FAULT, 0, this.cpu);
  }

  /** Exits by name (for stats and the UI). */
  exitsByName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [r, n] of Object.entries(this.counters.exits)) out[EXIT_NAMES[Number(r)] ?? `reason-${r}`] = n;
    return out;
  }
}
