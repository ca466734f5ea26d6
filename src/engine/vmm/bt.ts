// BT mode: software full virtualization in the style of VMware's binary translator (Adams & Agesen,
// ASPLOS 2006), running on the interpreter until the JIT becomes the translator.
//
// - Translation: guest code is decoded once into the translation cache (the CPU's decode cache).
//   Code running at guest CPL 0 is the deprivileged kernel: each instruction the opcode table
//   classifies as privileged or sensitive (Robin & Irvine's IA-32 list) is translated into a call
//   out to the VMM, which emulates it and gives the guest exactly the native result; innocuous
//   instructions are translated as themselves. Guest CPL 3 code runs directly (no callouts).
// - Memory: shadow page tables (shadow.ts), with hidden and tracing faults handled by the VMM.
// - Events: the VMM owns the real IDT; every guest exception and interrupt is taken by the VMM and
//   reflected to the guest's handlers (counted), and I/O instructions trap to the device model.

import type { Cpu } from "../cpu/cpu.ts";
import type { Insn } from "../cpu/decoder.ts";
import type { Handler } from "../cpu/exec-int.ts";
import { HANDLERS } from "../cpu/interp.ts";
import { OPCODES, type OpcodeDef } from "../cpu/opcodes.ts";
import { ShadowPaging } from "./shadow.ts";

export interface BtCounters {
  /** Callouts from translated kernel code, by instruction (opcode-table mnemonic). */
  callouts: Record<string, number>;
  /** Guest instructions executed in translated (CPL 0) code and directly (CPL 3). */
  translatedInsns: number;
  directInsns: number;
  /** Exceptions and interrupts the VMM reflected to the guest, by vector. */
  reflected: Record<number, number>;
  /** Port I/O instructions trapped to the device model. */
  ioTraps: number;
}

const IO_SEMS = new Set(["in", "out", "ins", "outs"]);

export class BtMonitor {
  readonly shadow: ShadowPaging;
  // Raw tallies; snapshot() turns them into BtCounters.
  private readonly calloutCounts: Float64Array;
  private readonly names: string[];
  private readonly reflected: Record<number, number> = {};
  private readonly icount0: number;
  private kernelInsns = 0;
  private ioTraps = 0;

  constructor(readonly cpu: Cpu) {
    this.shadow = new ShadowPaging(cpu.mmu);
    cpu.mmu.shadow = this.shadow;
    cpu.mmu.flush(false);
    this.names = OPCODES.map((d) => (d.ops.length ? `${d.mn} ${d.ops.join(",")}` : d.mn));
    this.calloutCounts = new Float64Array(OPCODES.length);
    cpu.handlers = OPCODES.map((d) => this.translate(d, HANDLERS[d.id]));
    cpu.flushDecodeCache();
    cpu.interruptHook = (vector) => {
      this.reflected[vector] = (this.reflected[vector] ?? 0) + 1;
      return false; // reflected through the guest's IDT with native semantics
    };
    this.icount0 = cpu.icount;
    this.jitKernel0 = cpu.jit?.retiredAtCpl0 ?? 0;
  }
  private readonly jitKernel0: number;

  /** The translation of one opcode-table entry: itself, or a callout when run by the guest kernel. */
  private translate(d: OpcodeDef, base: Handler): Handler {
    const io = IO_SEMS.has(d.sem);
    if (d.cls === "innocuous") {
      return (c, i) => {
        if (c.cpl === 0) this.kernelInsns++;
        base(c, i);
      };
    }
    return (c: Cpu, i: Insn) => {
      if (c.cpl === 0) {
        this.kernelInsns++;
        this.calloutCounts[d.id]++;
      }
      base(c, i);
      if (io) this.ioTraps++;
    };
  }

  /** Counters with the per-entry tallies folded into names. */
  snapshot(): BtCounters {
    const callouts: Record<string, number> = {};
    this.calloutCounts.forEach((n, id) => {
      if (n) callouts[this.names[id]] = (callouts[this.names[id]] ?? 0) + n;
    });
    const total = this.cpu.icount - this.icount0;
    // Kernel code the JIT ran was translated too (its innocuous instructions, compiled as themselves).
    const translated = this.kernelInsns + (this.cpu.jit?.retiredAtCpl0 ?? 0) - this.jitKernel0;
    return {
      callouts,
      translatedInsns: translated,
      directInsns: total - translated,
      reflected: { ...this.reflected },
      ioTraps: this.ioTraps,
    };
  }
}
