// PV mode: a Xen-style paravirtualizing hypervisor for guests written against docs/hypercalls.md
// (the teaching kernel's PV build). The guest kernel runs deprivileged at CPL 1 and asks for
// privileged operations with `int 0x82` hypercalls; its page tables are read-only to it and change
// only through validated mmu_update/update_va_mapping (direct paging: the MMU walks the guest's own
// tables, no shadow); exceptions and software interrupts are bounced to the handlers it registered
// with set_trap_table; its timer is an event delivered to its callback under a virtual IF.

import { CPU_FAULT, type Cpu, type InterruptController, SA_DB, SA_G, SA_VALID } from "../cpu/cpu.ts";
import { SEG_CS, SEG_SS } from "../cpu/decoder.ts";
import { HANDLERS } from "../cpu/interp.ts";
import { IF, IOPL, NT, RF, TF, VM } from "../cpu/flags.ts";
import { CR0_PG, CR0_TS, CR0_WP } from "../mmu/mmu.ts";
import type { TimedDevice } from "../io.ts";

export const FLAT_RING1_CS = 0xe019,
  FLAT_RING1_DS = 0xe021,
  FLAT_RING3_CS = 0xe02b,
  FLAT_RING3_DS = 0xe033;
const HYPERVISOR_VIRT_START = 0xfc000000;
const HOLE_PDE = HYPERVISOR_VIRT_START >>> 22; // 1008
const DOMID_SELF = 0x7ff0;
/** RAM the hypervisor keeps for itself at the top of guest memory: GDT pages and its page table. */
export const PV_RESERVED_BYTES = 0x10000;
/** Offset of the hypervisor's TSS inside its GDT area (after the last descriptor). */
const TSS_OFFSET = 0xe100;
/** Pseudo-vector used internally for event delivery (outside the 0–255 x86 range). */
const EVENT_VECTOR = 256;

const EPERM = -1,
  EFAULT = -14,
  EINVAL = -22,
  ENOSYS = -38;

export const HYPERCALL_NAMES: Record<number, string> = {
  0: "set_trap_table",
  1: "mmu_update",
  3: "stack_switch",
  4: "set_callbacks",
  5: "fpu_taskswitch",
  13: "multicall",
  14: "update_va_mapping",
  15: "set_timer_op",
  18: "console_io",
  23: "iret",
  26: "mmuext_op",
  29: "sched_op",
  32: "event_channel_op",
};

const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);
const IO_SEMS = new Set(["in", "out", "ins", "outs"]);

export interface PvCounters {
  /** Hypercalls by name (multicall entries counted individually as well). */
  hypercalls: Record<string, number>;
  /** Page-table entries written by the hypervisor on the guest's behalf (mmu_update/update_va_mapping). */
  pteWrites: number;
  /** Entries checked by validation (writes and NEW_BASEPTR walks). */
  validatedEntries: number;
  /** Exceptions and software interrupts bounced to the guest, by vector. */
  bounces: Record<number, number>;
  /** Events delivered to the event callback. */
  events: number;
  /** Port I/O instructions emulated for the CPL 1 kernel. */
  ioEmulated: number;
  /** Operations run inside multicalls (each also counted under its own name in `hypercalls`). */
  multicallEntries: number;
}

const PROT_FAULT = { pvFault: true } as const;

export class PvHypervisor implements InterruptController, TimedDevice {
  readonly counters: PvCounters = {
    hypercalls: {},
    pteWrites: 0,
    validatedEntries: 0,
    bounces: {},
    events: 0,
    ioEmulated: 0,
    multicallEntries: 0,
  };
  private readonly traps: ({ dpl: number; mask: boolean; address: number } | undefined)[] = new Array(256);
  private eventCallback = 0;
  private failsafeCallback = 0;
  private ring1Stack: number | null = null;
  private pending = 0;
  private masked = true;
  private blocked = false;
  private timerDeadline = Infinity;
  private virqPort = -1;
  private pagingOn = false;
  /** Frame types for direct paging: 1 = page-table frame (read-only to the guest). */
  private readonly ptFrame: Uint8Array;
  /**
   * Present PDEs linking each frame: a frame with links is a page table (its entries are PTEs);
   * a page-table frame without links is a page directory (the guest writes a new table's PDE
   * before its PTEs, docs/hypercalls.md §9). Frames change role as the guest's pool reuses them.
   */
  private readonly links: Uint32Array;
  /** Count of validated present writable PTEs mapping each frame. */
  private readonly writableRefs: Uint32Array;
  private readonly validatedTables = new Set<number>();
  private readonly reservedBase: number;
  private readonly consoleIn: number[] = [];
  stopped: string | null = null;

  constructor(
    private readonly cpu: Cpu,
    private readonly clock: () => number,
    private readonly console: (byte: number) => void,
    private readonly stop: (reason: string) => void,
  ) {
    const ram = cpu.mem.ramSize;
    this.reservedBase = ram - PV_RESERVED_BYTES;
    this.ptFrame = new Uint8Array(ram >>> 12);
    this.writableRefs = new Uint32Array(ram >>> 12);
    this.links = new Uint32Array(ram >>> 12);
    cpu.interruptHook = (vector, code, soft, retEip) => this.onEvent(vector, code, soft, retEip);
    cpu.cpuidHook = (leaf) =>
      leaf >>> 0 === 0x40000000 ? [0x40000000, 0x74726956, 0x5662614c, 0x00004d4d] : null;
    cpu.pic = this;
  }

  /** Usable guest RAM (the loader reports this much to the guest). */
  get guestRamTop(): number {
    return this.reservedBase;
  }

  /** Console input for console_io(read). */
  receive(text: string): void {
    for (const ch of new TextEncoder().encode(text)) this.consoleIn.push(ch);
  }

  /** Turn the state a multiboot loader left into the PV start state (docs/hypercalls.md §2). */
  enterGuest(): void {
    const cpu = this.cpu,
      mem = cpu.mem;
    // Hypervisor GDT in reserved RAM with Xen's flat ring-1 and ring-3 selectors (accessed bits set,
    // so loading a selector never writes the read-only GDT).
    const gdt = this.reservedBase;
    mem.fill(gdt, PV_RESERVED_BYTES);
    const desc: [number, number][] = [
      [FLAT_RING1_CS, 0x00cfbb00],
      [FLAT_RING1_DS, 0x00cfb300],
      [FLAT_RING3_CS, 0x00cffb00],
      [FLAT_RING3_DS, 0x00cff300],
    ];
    for (const [sel, hi] of desc) {
      mem.write32(gdt + (sel & ~7), 0x0000ffff);
      mem.write32(gdt + (sel & ~7) + 4, hi);
    }
    // The hypervisor's page table for its hole: maps the GDT pages read-only, supervisor only.
    const pt = gdt + 0xf000;
    for (let k = 0; k < 15; k++) mem.write32(pt + k * 4, (gdt + k * 0x1000) | 0x61);
    cpu.gdtBase = gdt;
    cpu.gdtLimit = 0xe037;
    // The hypervisor's TSS (in the GDT's last page): its I/O bitmap offset lies beyond its limit,
    // so every port access by the CPL 1 kernel (IOPL 0) is a #GP for the hypervisor to emulate.
    mem.write16(gdt + TSS_OFFSET + 0x66, 0x68);
    cpu.trSel = 0;
    cpu.trBase = gdt + TSS_OFFSET;
    cpu.trLimit = 0x67;
    cpu.trAttr = 0x8b;
    const flat = SA_DB | SA_G | SA_VALID;
    cpu.setSegCache(SEG_CS, FLAT_RING1_CS, 0, -1, 0xbb | flat);
    for (const s of [0, 2, 3, 4, 5]) cpu.setSegCache(s, FLAT_RING1_DS, 0, -1, 0xb3 | flat);
    cpu.setCpl(1);
    cpu.flags.write(IF | 2, -1);
    this.masked = true;
    this.updateIntr();
  }

  // --- InterruptController: pending events, delivered when unmasked -----------------------------------

  hasInterrupt(): boolean {
    return this.pending !== 0 && !this.masked;
  }

  acknowledge(): number {
    return EVENT_VECTOR;
  }

  private updateIntr(): void {
    this.cpu.intr = this.pending !== 0 && !this.masked;
  }

  // --- TimedDevice: the one-shot timer (set_timer_op) ------------------------------------------------

  nextDeadline(): number {
    return this.timerDeadline;
  }

  advance(nowNs: number): void {
    if (nowNs >= this.timerDeadline) this.fireTimer();
  }

  private fireTimer(): void {
    this.timerDeadline = Infinity;
    if (this.virqPort >= 0) this.pending |= 1 << this.virqPort;
    if (this.blocked && this.pending) {
      this.blocked = false;
      this.cpu.halted = false;
    }
    this.updateIntr();
  }

  // --- events and traps --------------------------------------------------------------------------------

  private onEvent(vector: number, code: number, soft: boolean, retEip: number): boolean {
    const cpu = this.cpu;
    if (this.stopped) return true;
    try {
      if (vector === EVENT_VECTOR) {
        this.counters.events++;
        this.bounce(this.eventCallback, cpu.eip, -1, undefined, true, "event");
      } else if (soft && vector === 0x82) {
        if (cpu.cpl === 1) this.hypercall();
        else this.trap(13, 0x82 * 8 + 2, cpu.insnEip);
      } else if (!soft && vector === 13 && cpu.cpl === 1 && IO_SEMS.has(cpu.insn.def.sem)) {
        this.emulateIo();
      } else if (soft) {
        const t = this.traps[vector];
        if (t && cpu.cpl === 3 && t.dpl < 3) this.trap(13, vector * 8 + 2, cpu.insnEip);
        else this.trap(vector, -1, retEip);
      } else this.trap(vector, code, retEip);
    } catch (e) {
      if (e !== PROT_FAULT) throw e;
    }
    return true;
  }

  /** Stop the domain with a report (a PV guest cannot recover from these). */
  private fatal(why: string): never {
    this.stopped = why;
    this.stop(`PV domain stopped: ${why}`);
    throw PROT_FAULT;
  }

  private trap(vector: number, code: number, eip: number): void {
    const t = this.traps[vector];
    if (!t)
      this.fatal(
        `vector ${vector} (error ${code}) at ${(eip >>> 0).toString(16)} with no registered handler`,
      );
    this.counters.bounces[vector] = (this.counters.bounces[vector] ?? 0) + 1;
    const cr2 = vector === 14 ? this.cpu.cr2 : undefined;
    this.bounce(t.address, eip, HAS_ERROR_CODE.has(vector) ? code : -1, cr2, t.mask, `vector ${vector}`);
  }

  /** Build the ring-1 frame of docs/hypercalls.md §7 and continue at `handler`. */
  private bounce(
    handler: number,
    eip: number,
    code: number,
    cr2: number | undefined,
    mask: boolean,
    what: string,
  ): void {
    const cpu = this.cpu;
    if (!handler) this.fatal(`${what} with no registered handler`);
    const fromUser = cpu.cpl === 3;
    let esp: number;
    if (fromUser) {
      if (this.ring1Stack === null) this.fatal(`${what} from ring 3 with no stack_switch stack`);
      esp = this.ring1Stack;
    } else esp = cpu.regs[4];
    const eflags = (cpu.getEflags() & ~(IF | IOPL)) | (this.masked ? 0 : IF);
    const words: number[] = [];
    if (fromUser) words.push(cpu.sel[SEG_SS], cpu.regs[4]);
    words.push(eflags, cpu.sel[SEG_CS], eip);
    if (code >= 0) words.push(code);
    if (cr2 !== undefined) words.push(cr2);
    const saved = cpu.cpl;
    cpu.setCpl(1);
    try {
      for (const w of words) {
        esp = (esp - 4) | 0;
        cpu.st32(esp, w);
      }
    } catch (e) {
      cpu.setCpl(saved);
      if (e === CPU_FAULT)
        this.fatal(`${what}: the ring-1 stack at ${(esp >>> 0).toString(16)} is not writable`);
      throw e;
    }
    const flat = SA_DB | SA_G | SA_VALID;
    cpu.setSegCache(SEG_CS, FLAT_RING1_CS, 0, -1, 0xbb | flat);
    if (fromUser) cpu.setSegCache(SEG_SS, FLAT_RING1_DS, 0, -1, 0xb3 | flat);
    cpu.regs[4] = esp;
    cpu.eip = handler;
    cpu.flags.write(IF, IF | TF | NT | RF | VM);
    if (mask) this.masked = true;
    this.updateIntr();
  }

  /** IN/OUT/INS/OUTS at CPL 1 (IOPL 0) fault; the hypervisor performs them on the device model. */
  private emulateIo(): void {
    const cpu = this.cpu,
      i = cpu.insn;
    this.counters.ioEmulated++;
    const flags = cpu.flags.bits;
    cpu.flags.bits = flags | IOPL; // the hypervisor has the privilege the guest lacks
    try {
      cpu.eip = (cpu.insnEip + i.len) | 0;
      HANDLERS[i.def.id](cpu, i);
    } finally {
      cpu.flags.bits = (cpu.flags.bits & ~IOPL) | (flags & IOPL);
    }
  }

  // --- hypercalls -------------------------------------------------------------------------------------

  private hypercall(): void {
    const r = this.cpu.regs;
    const nr = r[0] >>> 0;
    const result = this.dispatch(nr, r[3], r[1], r[2], r[6], false);
    if (result !== undefined) r[0] = result;
  }

  /** Run hypercall `nr`; undefined means "does not return a value" (iret, blocking, shutdown). */
  private dispatch(
    nr: number,
    a1: number,
    a2: number,
    a3: number,
    a4: number,
    inMulticall: boolean,
  ): number | undefined {
    const name = HYPERCALL_NAMES[nr];
    this.counters.hypercalls[name ?? `unknown-${nr}`] =
      (this.counters.hypercalls[name ?? `unknown-${nr}`] ?? 0) + 1;
    try {
      switch (nr) {
        case 0:
          return this.setTrapTable(a1);
        case 1:
          return this.mmuUpdate(a1, a2, a3, a4);
        case 3:
          if ((a1 & 0xffff) !== FLAT_RING1_DS) return EPERM;
          this.ring1Stack = a2;
          return 0;
        case 4:
          if ((a1 & 0xffff) !== FLAT_RING1_CS || (a3 & 0xffff) !== FLAT_RING1_CS) return EPERM;
          this.eventCallback = a2;
          this.failsafeCallback = a4;
          return 0;
        case 5:
          this.cpu.setCr0(a1 ? this.cpu.cr0 | CR0_TS : this.cpu.cr0 & ~CR0_TS);
          return 0;
        case 13:
          return inMulticall ? EINVAL : this.multicall(a1, a2);
        case 14:
          return this.updateVaMapping(a1, a2, a3, a4);
        case 15: {
          const deadline = (a2 >>> 0) * 4294967296 + (a1 >>> 0);
          this.timerDeadline = deadline === 0 ? Infinity : deadline;
          if (deadline !== 0 && deadline <= this.clock()) this.fireTimer();
          return 0;
        }
        case 18:
          return this.consoleIo(a1, a2, a3);
        case 23:
          if (inMulticall) return EINVAL;
          this.iret();
          return undefined;
        case 26:
          return this.mmuextOp(a1, a2, a3, a4);
        case 29:
          return this.schedOp(a1, a2);
        case 32:
          return this.eventChannelOp(a1, a2);
      }
      return ENOSYS;
    } catch (e) {
      if (e === CPU_FAULT) return EFAULT; // a guest pointer could not be read or written
      throw e;
    }
  }

  private rd32(lin: number): number {
    return this.cpu.ld32(lin);
  }

  private wr32(lin: number, v: number): void {
    this.cpu.st32(lin, v);
  }

  private setTrapTable(table: number): number {
    for (let p = table; ; p += 8) {
      const lo = this.rd32(p),
        address = this.rd32(p + 4);
      if (address === 0) return 0;
      const vector = lo & 0xff,
        flags = (lo >>> 8) & 0xff,
        cs = lo >>> 16;
      if (vector === 0x82 || cs !== FLAT_RING1_CS) return EPERM;
      this.traps[vector] = { dpl: flags & 3, mask: (flags & 4) !== 0, address };
    }
  }

  private multicall(calls: number, nr: number): number {
    for (let k = 0; k < nr >>> 0; k++) {
      const e = calls + k * 32;
      const op = this.rd32(e);
      this.counters.multicallEntries++;
      const args = [0, 1, 2, 3, 4].map((j) => this.rd32(e + 8 + j * 4));
      const res =
        op === 23 || op === 13 ? EINVAL : this.dispatch(op, args[0], args[1], args[2], args[3], true);
      this.wr32(e + 4, res ?? 0);
    }
    return 0;
  }

  private consoleIo(cmd: number, count: number, buf: number): number {
    if (count >>> 0 > 4096) return EINVAL;
    if (cmd === 0) {
      for (let k = 0; k < count; k++) this.console(this.cpu.ld8(buf + k));
      return 0;
    }
    if (cmd === 1) {
      let n = 0;
      while (n < count && this.consoleIn.length) this.cpu.st8(buf + n++, this.consoleIn.shift()!);
      return n;
    }
    return ENOSYS;
  }

  private schedOp(cmd: number, arg: number): number | undefined {
    if (cmd === 0) return 0;
    if (cmd === 1) {
      if (!this.pending) {
        this.blocked = true;
        this.cpu.halted = true;
      }
      return 0;
    }
    if (cmd === 2) {
      const reasons = ["poweroff", "reboot", "suspend", "crash"];
      this.stopped = `shutdown (${reasons[arg] ?? arg})`;
      this.cpu.regs[0] = 0;
      this.stop(`PV domain ${this.stopped}`);
      return undefined;
    }
    return ENOSYS;
  }

  private eventChannelOp(cmd: number, arg: number): number {
    if (cmd === 1) {
      const virq = this.rd32(arg),
        vcpu = this.rd32(arg + 4);
      if (virq !== 0 || vcpu !== 0) return EINVAL;
      if (this.virqPort < 0) this.virqPort = 0;
      this.wr32(arg + 8, this.virqPort);
      return 0;
    }
    if (cmd === 0x100) {
      const now = Math.floor(this.clock());
      this.wr32(arg, this.pending);
      this.wr32(arg + 4, 0);
      this.wr32(arg + 8, now % 4294967296);
      this.wr32(arg + 12, Math.floor(now / 4294967296));
      this.pending = 0;
      this.updateIntr();
      return 0;
    }
    return ENOSYS;
  }

  /** The iret hypercall: pop the frame at ESP (EAX, EIP, CS, EFLAGS[, ESP, SS]). */
  private iret(): void {
    const cpu = this.cpu;
    const sp = cpu.regs[4];
    const eax = this.rd32(sp),
      eip = this.rd32(sp + 4),
      cs = this.rd32(sp + 8) & 0xffff,
      eflags = this.rd32(sp + 12);
    const toUser = (cs & 3) === 3;
    const bad = (why: string) => {
      if (this.failsafeCallback)
        return this.bounce(this.failsafeCallback, eip, -1, undefined, true, `iret: ${why}`);
      this.fatal(`iret with a bad frame (${why})`);
    };
    if (cs !== FLAT_RING1_CS && cs !== FLAT_RING3_CS) return bad(`CS ${cs.toString(16)}`);
    let esp3 = 0,
      ss3 = 0;
    if (toUser) {
      esp3 = this.rd32(sp + 16);
      ss3 = this.rd32(sp + 20) & 0xffff;
      if (ss3 !== FLAT_RING3_DS) return bad(`SS ${ss3.toString(16)}`);
    }
    const flat = SA_DB | SA_G | SA_VALID;
    cpu.regs[0] = eax;
    cpu.setSegCache(SEG_CS, cs, 0, -1, (toUser ? 0xfb : 0xbb) | flat);
    cpu.setCpl(cs & 3);
    if (toUser) {
      cpu.setSegCache(SEG_SS, ss3, 0, -1, 0xf3 | flat);
      cpu.regs[4] = esp3;
    } else cpu.regs[4] = (sp + 16) | 0;
    // The frame's IF is the virtual IF; the real IF stays set and IOPL stays 0.
    cpu.flags.write((eflags & ~(IOPL | VM)) | IF | 2, 0x3f7fd5 & ~VM);
    this.masked = (eflags & IF) === 0;
    cpu.eip = eip;
    this.updateIntr();
  }

  // --- direct paging ------------------------------------------------------------------------------------

  private inRam(frame: number): boolean {
    return frame < this.reservedBase >>> 12;
  }

  /** Validate and write one entry at physical `pa`: a PTE when its frame is a linked page table. */
  private writeEntry(pa: number, val: number): number {
    const mem = this.cpu.mem;
    if (pa & 3 || !this.inRam(pa >>> 12)) return EINVAL;
    const frame = pa >>> 12;
    const isPte = this.links[frame] > 0;
    const err = isPte ? this.checkPte(val) : this.checkPde((pa & 0xfff) >>> 2, val);
    if (err) return err;
    if (!this.makePt(frame)) return EPERM;
    const old = mem.read32(pa);
    if (isPte) {
      this.trackWritable(old, -1);
      this.trackWritable(val, +1);
    } else {
      if (old & 1 && this.inRam(old >>> 12)) this.links[old >>> 12]--;
      if (val & 1) this.links[val >>> 12]++;
    }
    mem.write32(pa, val);
    this.counters.pteWrites++;
    return 0;
  }

  private checkPte(val: number): number {
    this.counters.validatedEntries++;
    if (!(val & 1)) return 0;
    const f = val >>> 12;
    if (!this.inRam(f)) return EINVAL;
    if (val & 2 && this.ptFrame[f]) return EPERM; // a page table must not be writable by the guest
    return 0;
  }

  private checkPde(index: number, val: number): number {
    this.counters.validatedEntries++;
    if (index >= HOLE_PDE) return EPERM;
    if (!(val & 1)) return 0;
    if (val & 0x80) return EINVAL; // 4 MiB pages are not allowed
    const f = val >>> 12;
    if (!this.inRam(f)) return EINVAL;
    if (!this.makePt(f)) return EPERM;
    return 0;
  }

  /** Mark a frame as a page table (refused while some validated PTE maps it writable). */
  private makePt(frame: number): boolean {
    if (this.ptFrame[frame]) return true;
    if (this.writableRefs[frame]) return false;
    this.ptFrame[frame] = 1;
    return true;
  }

  private trackWritable(pte: number, delta: number): void {
    if ((pte & 3) === 3 && this.inRam(pte >>> 12)) this.writableRefs[pte >>> 12] += delta;
  }

  private mmuUpdate(reqs: number, count: number, done: number, domid: number): number {
    if ((domid & 0xffff) !== DOMID_SELF) return EPERM;
    let n = 0,
      err = 0;
    for (; n < count >>> 0; n++) {
      const r = reqs + n * 16;
      const ptrLo = this.rd32(r),
        ptrHi = this.rd32(r + 4),
        valLo = this.rd32(r + 8),
        valHi = this.rd32(r + 12);
      if (ptrLo & 3) {
        err = ENOSYS;
        break;
      }
      if (ptrHi || valHi) {
        err = EINVAL;
        break;
      }
      err = this.writeEntry(ptrLo, valLo);
      if (err) break;
    }
    if (done) this.wr32(done, n);
    return err;
  }

  private updateVaMapping(va: number, lo: number, hi: number, flags: number): number {
    if (hi || flags & ~3 || !this.pagingOn) return EINVAL;
    const mem = this.cpu.mem;
    const pde = mem.read32((this.cpu.cr3 & ~0xfff) + (va >>> 22) * 4);
    if (!(pde & 1)) return EINVAL;
    const err = this.writeEntry((pde & ~0xfff) + ((va >>> 12) & 0x3ff) * 4, lo);
    if (err) return err;
    if (flags === 1) this.cpu.mmu.flush(true);
    else if (flags === 2) this.cpu.mmu.invlpg(va);
    return 0;
  }

  private mmuextOp(ops: number, count: number, done: number, domid: number): number {
    if ((domid & 0xffff) !== DOMID_SELF) return EPERM;
    let n = 0,
      err = 0;
    for (; n < count >>> 0; n++) {
      const o = ops + n * 12;
      const cmd = this.rd32(o),
        arg1 = this.rd32(o + 4);
      if (cmd === 5) err = this.newBaseptr(arg1);
      else if (cmd === 6) this.cpu.mmu.flush(true);
      else if (cmd === 7) this.cpu.mmu.invlpg(arg1);
      else err = ENOSYS;
      if (err) break;
    }
    if (done) this.wr32(done, n);
    return err;
  }

  /** Validate a page directory and the page tables it links, then load it (the first turns paging on). */
  private newBaseptr(pa: number): number {
    const mem = this.cpu.mem;
    if (pa & 0xfff || !this.inRam(pa >>> 12)) return EINVAL;
    const pd = pa >>> 12;
    if (!this.validatedTables.has(pd)) {
      for (let i = 0; i < HOLE_PDE; i++) {
        const pde = mem.read32(pa + i * 4);
        const e = this.checkPde(i, pde);
        if (e) return e;
        if (!(pde & 1)) continue;
        const pt = pde >>> 12;
        this.links[pt]++;
        if (this.validatedTables.has(pt)) continue;
        for (let j = 0; j < 1024; j++) {
          const pte = mem.read32((pt << 12) + j * 4);
          const e2 = this.checkPte(pte);
          if (e2) return e2;
        }
        for (let j = 0; j < 1024; j++) this.trackWritable(mem.read32((pt << 12) + j * 4), +1);
        this.validatedTables.add(pt);
      }
      if (!this.makePt(pd)) return EPERM;
      this.validatedTables.add(pd);
    }
    // The hypervisor's hole: its own page table in PDE 1008 of every directory it loads.
    mem.write32(pa + HOLE_PDE * 4, (this.reservedBase + 0xf000) | 0x23);
    const cpu = this.cpu;
    cpu.setCr3(pa);
    if (!this.pagingOn) {
      this.pagingOn = true;
      cpu.setCr0(cpu.cr0 | CR0_PG | CR0_WP);
      cpu.gdtBase = HYPERVISOR_VIRT_START | 0;
      cpu.trBase = (HYPERVISOR_VIRT_START + TSS_OFFSET) | 0;
    }
    return 0;
  }

  /** Counters as plain data. */
  snapshot(): PvCounters {
    return {
      ...this.counters,
      hypercalls: { ...this.counters.hypercalls },
      bounces: { ...this.counters.bounces },
    };
  }
}
