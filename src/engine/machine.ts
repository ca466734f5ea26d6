// The PC: composes memory, CPU and devices, owns virtual time and the run loop.
//
// Virtual time (DESIGN.md "Virtual time and the run loop"): in deterministic mode it is derived
// from the instruction count (plus time skipped while halted), so the same image and input give
// the same output and counters on every run; in real-time mode it follows the host's monotonic
// clock, advancing with the instruction count in between (realtime-clock.ts). Devices only ever see
// this virtual time. The TSC counts virtual nanoseconds (1 GHz).

import { Cpu, type ResetEvent } from "./cpu/cpu.ts";
import { IF } from "./cpu/flags.ts";
import { IoBus, type TimedDevice } from "./io.ts";
import { PhysicalMemory } from "./memory/memory.ts";
import { Pic8259 } from "./devices/pic.ts";
import { Pit8254 } from "./devices/pit.ts";
import { Rtc146818 } from "./devices/rtc.ts";
import { Uart16550 } from "./devices/uart.ts";
import { I8042 } from "./devices/i8042.ts";
import { Port80, Port92 } from "./devices/port92.ts";
import { PciBus, installI440fxPiix3 } from "./devices/pci.ts";
import { IdeChannel } from "./devices/ide.ts";
import { Disk } from "./devices/disk.ts";
import { VgaText } from "./devices/vga.ts";
import { VmxMonitor } from "./vmm/vmx.ts";
import { BtMonitor } from "./vmm/bt.ts";
import { PvHypervisor } from "./vmm/pv.ts";
import { KvmParavirt } from "./vmm/kvm-pv.ts";
import { attachVirtio, type VirtioDevices } from "./devices/virtio-setup.ts";
import { Jit, type JitOptions } from "../jit/jit.ts";
import { RealTimeClock } from "./realtime-clock.ts";

/**
 * How the guest is run: "native" (no hypervisor), or under a simulated hypervisor design: "bt"
 * (binary translation with shadow paging), "pv" (Xen-style paravirtualization: hypercalls, direct
 * paging; for guests written against docs/hypercalls.md), "hw" (VT-x with EPT) and "hw-noept"
 * (VT-x with shadow paging).
 */
export type Mode = "native" | "bt" | "pv" | "hw" | "hw-noept";
export const MODES: readonly Mode[] = ["native", "bt", "pv", "hw", "hw-noept"];
/** Modes that run an unmodified guest (every mode but pv, whose guests must use hypercalls). */
export const FULL_VIRTUALIZATION_MODES: readonly Mode[] = ["native", "bt", "hw", "hw-noept"];

export interface MachineOptions {
  /** Guest RAM in MiB (default 64). */
  memoryMiB?: number;
  /** Instruction-count-based virtual time and a fixed RTC epoch (default false). */
  deterministic?: boolean;
  /** Virtual nanoseconds per guest instruction in deterministic mode (default 10: 100 MIPS). */
  nsPerInstruction?: number;
  /** RTC time at virtual time 0 (default: host time, or 2026-01-01 00:00 UTC when deterministic). */
  epochMs?: number;
  /** Host clock in ns for real-time mode (default performance.now()). */
  hostClockNs?: () => number;
  /** Virtualization mode (default "native"). */
  mode?: Mode;
  /** Base image of the primary IDE master (never modified: writes go to a copy-on-write overlay). */
  disk?: Uint8Array;
  /** The JIT (default on): false runs the interpreter only; an object tunes it (e.g. lockstep). */
  jit?: boolean | JitOptions;
}

/** See Machine.saveTimeState. */
export interface MachineTimeState {
  virtualNs: number;
  skippedNs: number;
  epochMs: number;
  consoleLine: string;
  panicMessage: string | null;
}

export const DETERMINISTIC_EPOCH_MS = Date.UTC(2026, 0, 1);

export type MachineEvent =
  | { type: "reset"; reason: string; state: string }
  | { type: "serial"; port: number; byte: number }
  | { type: "panic"; message: string };

/** Real-time mode: instructions between looks at the host clock (see RealTimeClock.sync). */
const REAL_TIME_CHUNK = 20_000;

/** Linux's panic() banner, as printed on the console. */
const PANIC_RE = /Kernel panic - not syncing: ?(.*)/;

export interface SliceResult {
  /** Guest instructions executed. */
  executed: number;
  /** The CPU is halted with nothing to do before this virtual time (real-time mode: sleep). */
  idleUntilNs: number | null;
  /** The machine stopped (triple fault / shutdown) and will not run again until reset. */
  stopped: boolean;
}

export class Machine {
  readonly mem: PhysicalMemory;
  readonly io = new IoBus();
  readonly cpu: Cpu;
  readonly pic: Pic8259;
  readonly pit: Pit8254;
  readonly rtc: Rtc146818;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  readonly i8042: I8042;
  readonly port92: Port92;
  readonly post: Port80;
  readonly pci: PciBus;
  readonly ide: IdeChannel;
  readonly disk: Disk | null;
  readonly vga: VgaText;
  readonly mode: Mode;
  /** The simulated VT-x monitor in HW modes (and for Linux in PV mode). */
  vmx: VmxMonitor | null;
  /** The binary-translation VMM in BT mode. */
  readonly bt: BtMonitor | null;
  /** The paravirtualizing hypervisor in PV mode (for guests of the VirtLab hypercall ABI). */
  pv: PvHypervisor | null;
  /** PV mode for a stock Linux: KVM's paravirtual interface and virtio devices. */
  kvm: KvmParavirt | null = null;
  virtio: VirtioDevices | null = null;
  /** The JIT (its runtime is built with the machine; jitReady settles at once). */
  readonly jit: Jit | null;
  /** Settles once the JIT is ready or has failed to load (then the interpreter carries on). */
  readonly jitReady: Promise<void>;
  /** Why the JIT could not start, if it could not. */
  jitError: string | null = null;
  private readonly epochMs: number;
  readonly deterministic: boolean;
  readonly nsPerInstruction: number;
  private readonly timed: TimedDevice[];
  /** RAM the guest may use (a hypervisor may keep the top for itself). */
  get guestRamBytes(): number {
    return this.pv ? this.pv.guestRamTop : this.mem.ramSize;
  }
  /** Virtual time skipped while halted (deterministic mode). */
  private skippedNs = 0;
  private readonly hostClock: () => number;
  private hostStart: number;
  private lastNow = 0;
  /** Real-time mode: virtual time from the instruction count, steered toward the host clock. */
  private readonly rtClock: RealTimeClock;
  /**
   * PV mode for a stock Linux guest, which cannot use the CPL 1 hypercall ABI: run it as KVM runs
   * its guests — hardware-assisted (VT-x + EPT) with KVM's paravirtual CPUID leaves and kvm-clock,
   * and virtio split drivers for its disk, console and network. Called by the Linux loader.
   */
  switchToKvmParavirt(): void {
    if (this.mode !== "pv" || this.kvm) return;
    if (this.pv) {
      this.timed.splice(this.timed.indexOf(this.pv), 1);
      this.pv = null;
      this.cpu.interruptHook = null;
      this.cpu.cpuidHook = null;
      this.cpu.pic = this.pic;
      this.cpu.intr = this.pic.hasInterrupt();
    }
    this.vmx = new VmxMonitor(this.cpu, { ept: true });
    this.cpu.onExternalInterrupt = () => this.vmx!.onExternalInterrupt();
    this.kvm = new KvmParavirt(this.cpu, () => this.now(), this.epochMs);
    this.virtio = attachVirtio({ pci: this.pci, mem: this.mem, pic: this.pic, disk: this.disk ?? undefined });
  }

  /** Listeners for serial output and reset events. */
  private readonly listeners: ((e: MachineEvent) => void)[] = [];
  lastReset: ResetEvent | null = null;

  constructor(opts: MachineOptions = {}) {
    const mib = opts.memoryMiB ?? 64;
    if (!Number.isInteger(mib) || mib < 2 || mib > 2047)
      throw new Error(`memory size must be a whole number of MiB between 2 and 2047 (got ${mib})`);
    this.deterministic = opts.deterministic ?? false;
    this.nsPerInstruction = opts.nsPerInstruction ?? 10;
    this.hostClock = opts.hostClockNs ?? (() => performance.now() * 1e6);
    this.hostStart = this.hostClock();
    this.rtClock = new RealTimeClock(() => this.hostClock() - this.hostStart);
    this.mem = new PhysicalMemory(mib << 20);
    this.cpu = new Cpu(this.mem, this.io);
    this.cpu.readTsc = () => Math.floor(this.now());
    this.jit = opts.jit === false ? null : new Jit(this.cpu, typeof opts.jit === "object" ? opts.jit : {});
    this.cpu.jit = this.jit;
    this.jitReady = this.jit
      ? this.jit.init().catch((e: unknown) => {
          this.jitError = e instanceof Error ? e.message : String(e);
          this.cpu.jit = null;
        })
      : Promise.resolve();
    const clock = () => this.now();

    this.pic = new Pic8259(this.io, {
      onIntr: (pending) => {
        // A PV guest of the hypercall ABI gets its timer as an event; the hypervisor owns INTR.
        if (this.pv) return;
        this.cpu.intr = pending;
        if (pending) this.vmx?.onInterruptRequest();
      },
    });
    this.cpu.pic = this.pic;
    this.pit = new Pit8254(this.io, { irq: this.pic.irqLine(0), clock });
    const epochMs = opts.epochMs ?? (this.deterministic ? DETERMINISTIC_EPOCH_MS : Date.now());
    this.epochMs = epochMs;
    this.rtc = new Rtc146818(this.io, { irq: this.pic.irqLine(8), memoryBytes: mib << 20, epochMs, clock });
    this.com1 = new Uart16550(this.io, { name: "com1", base: 0x3f8, irq: this.pic.irqLine(4), clock });
    this.com2 = new Uart16550(this.io, { name: "com2", base: 0x2f8, irq: this.pic.irqLine(3), clock });
    this.com1.onTransmit = (byte) => {
      this.emit({ type: "serial", port: 0, byte });
      this.watchConsole(byte);
    };
    this.com2.onTransmit = (byte) => this.emit({ type: "serial", port: 1, byte });
    this.i8042 = new I8042(this.io, { irq1: this.pic.irqLine(1), irq12: this.pic.irqLine(12) });
    this.port92 = new Port92(this.io);
    this.post = new Port80(this.io);
    // The A20 line is the OR of the keyboard controller's output port and port 0x92 bit 1.
    const a20 = () => this.mem.setA20(this.i8042.a20 || this.port92.a20);
    this.i8042.onA20 = a20;
    this.port92.onA20 = a20;
    this.i8042.onReset = () => this.requestReset("keyboard controller reset (0xFE)");
    this.port92.onReset = () => this.requestReset("fast reset via port 0x92");
    this.pci = new PciBus(this.io, {
      setIrq: (irq, level) => this.pic.setIrq(irq, level),
      onReset: () => this.requestReset("reset control register (0xCF9)"),
    });
    installI440fxPiix3(this.pci);
    this.disk = opts.disk ? new Disk(opts.disk) : null;
    // In PV mode the disk is a virtio-blk device (split driver), not an emulated IDE disk.
    const ideDisk = opts.mode === "pv" ? undefined : (this.disk ?? undefined);
    this.ide = new IdeChannel(this.io, { irq: this.pic.irqLine(14), disk: ideDisk });
    this.vga = new VgaText(this.io, { ram: this.mem.u8 });
    // x87 error reporting with CR0.NE=0: FERR# raises IRQ13; a write to port F0h asserts IGNNE#.
    this.cpu.fpu.onFerr = () => this.pic.setIrq(13, true);
    this.io.register("fpu", 0xf0, 1, {
      read: () => 0xff,
      write: () => {
        this.cpu.fpu.ignne = true;
        this.pic.setIrq(13, false);
      },
    });
    this.cpu.onReset = (e) => {
      this.lastReset = e;
      if (e.reason.startsWith("triple fault")) this.vmx?.onTripleFault();
      this.emit({ type: "reset", reason: e.reason, state: e.state });
    };
    this.timed = [this.pit, this.rtc, this.com1, this.com2];
    this.mode = opts.mode ?? "native";
    if (!MODES.includes(this.mode)) throw new Error(`unknown mode "${this.mode}"`);
    const hw = this.mode === "hw" || this.mode === "hw-noept";
    this.vmx = hw ? new VmxMonitor(this.cpu, { ept: this.mode === "hw" }) : null;
    this.bt = this.mode === "bt" ? new BtMonitor(this.cpu) : null;
    this.pv =
      this.mode === "pv"
        ? new PvHypervisor(
            this.cpu,
            () => this.now(),
            (byte) => {
              this.emit({ type: "serial", port: 0, byte });
              this.watchConsole(byte);
            },
            (reason) => this.requestReset(reason),
          )
        : null;
    if (this.pv) this.timed.push(this.pv);
    if (this.vmx) this.cpu.onExternalInterrupt = () => this.vmx!.onExternalInterrupt();
  }

  on(listener: (e: MachineEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const k = this.listeners.indexOf(listener);
      if (k >= 0) this.listeners.splice(k, 1);
    };
  }

  private emit(e: MachineEvent): void {
    for (const l of this.listeners) l(e);
  }

  private consoleLine = "";
  /** Set once the guest kernel has panicked (detected on the serial console). */
  panicMessage: string | null = null;

  /** Watch the console for a kernel panic so hosts can report it as such, not as a hang. */
  private watchConsole(byte: number): void {
    if (byte !== 10) {
      if (this.consoleLine.length < 512) this.consoleLine += String.fromCharCode(byte);
      return;
    }
    const m = PANIC_RE.exec(this.consoleLine);
    this.consoleLine = "";
    if (m && this.panicMessage === null) {
      this.panicMessage = m[1].trim();
      this.emit({ type: "panic", message: this.panicMessage });
    }
  }

  /** A guest-requested reset: the CPU stops and the event is reported (the host decides what next). */
  private requestReset(reason: string): void {
    this.cpu.shutdown = true;
    this.cpu.halted = true;
    this.lastReset = { reason, state: this.cpu.dumpState() };
    this.emit({ type: "reset", reason, state: this.lastReset.state });
  }

  /** Run-loop and clock state a snapshot needs (src/engine/snapshot.ts); virtual time, not host time. */
  saveTimeState(): MachineTimeState {
    return {
      virtualNs: this.now(),
      skippedNs: this.skippedNs,
      epochMs: this.epochMs,
      consoleLine: this.consoleLine,
      panicMessage: this.panicMessage,
    };
  }

  /** Continue virtual time from a snapshot: deterministic time from the restored instruction count,
   * real time from the host clock offset so that now() resumes at the saved virtual time. */
  loadTimeState(s: MachineTimeState): void {
    this.skippedNs = s.skippedNs;
    this.lastNow = s.virtualNs;
    this.hostStart = this.hostClock() - s.virtualNs;
    this.rtClock.reset(s.virtualNs, this.cpu.icount);
    this.consoleLine = s.consoleLine;
    this.panicMessage = s.panicMessage;
  }

  /** Current virtual time in ns. */
  now(): number {
    let t: number;
    if (this.deterministic) t = this.cpu.icount * this.nsPerInstruction + this.skippedNs;
    else t = this.rtClock.at(this.cpu.icount);
    if (t < this.lastNow) t = this.lastNow;
    this.lastNow = t;
    return t;
  }

  private nextDeadline(): number {
    let d = Infinity;
    for (const t of this.timed) d = Math.min(d, t.nextDeadline());
    return d;
  }

  private advanceDevices(): void {
    const now = this.now();
    for (const t of this.timed) t.advance(now);
  }

  /**
   * Run up to `budget` instructions in chunks bounded by the next device deadline. In deterministic
   * mode a halted CPU jumps virtual time forward to the next deadline; in real-time mode the slice
   * ends and reports how long the host may sleep.
   */
  runSlice(budget: number): SliceResult {
    const cpu = this.cpu;
    let executed = 0;
    while (executed < budget) {
      if (cpu.shutdown) return { executed, idleUntilNs: null, stopped: true };
      if (!this.deterministic) this.rtClock.sync(cpu.icount, cpu.halted, this.nextDeadline());
      this.advanceDevices();
      const now = this.now();
      const deadline = this.nextDeadline();
      if (cpu.halted && !cpu.checkInterrupts()) {
        if (cpu.shutdown) return { executed, idleUntilNs: null, stopped: true };
        // HLT with IF=0 can only be left by an NMI or a reset: no timer will ever wake it.
        const wakeable = (cpu.flags.bits & IF) !== 0 && deadline !== Infinity;
        if (!wakeable && !cpu.nmiPending) return { executed, idleUntilNs: Infinity, stopped: false };
        if (!this.deterministic) {
          if (deadline > now) return { executed, idleUntilNs: deadline, stopped: false };
          continue;
        }
        if (deadline > now) this.skippedNs += deadline - now;
        continue;
      }
      let chunk = budget - executed;
      if (!this.deterministic) chunk = Math.min(chunk, REAL_TIME_CHUNK);
      if (deadline !== Infinity) {
        const rate = this.deterministic ? this.nsPerInstruction : this.rtClock.rate;
        chunk = Math.min(chunk, Math.max(1, Math.ceil((deadline - now) / rate)));
      }
      executed += cpu.run(chunk);
    }
    this.advanceDevices();
    return { executed, idleUntilNs: null, stopped: cpu.shutdown };
  }
}
