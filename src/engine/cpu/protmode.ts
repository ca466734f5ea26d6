// Protected-mode mechanics (Intel SDM Vol. 3, chapters 3, 5, 6, 7): descriptor loads with their
// checks, interrupt and exception delivery through IDT gates, far JMP/CALL/RET through code
// segments and call gates, IRET, and the hardware task switch.
//
// Everything that writes guest state first does every check and every stack write that can fault,
// and only then commits registers, so a fault leaves the instruction restartable.

import { type Cpu, EXC_GP, EXC_NP, EXC_SS, EXC_TS, SA_DB, SA_DPL, SA_P, SA_S, SA_VALID } from "./cpu.ts";
import { SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS } from "./decoder.ts";
import { AC, IF, NT, RF, TF, VM } from "./flags.ts";
import { CR0_TS } from "../mmu/mmu.ts";

// --- descriptors ----------------------------------------------------------------------------------

/** Last descriptor read by readDesc: low and high dwords. */
export let dLo = 0;
export let dHi = 0;

/** Linear address of the descriptor for `sel`, or -1 if outside its table's limit. */
export function descAddr(cpu: Cpu, sel: number): number {
  const idx = sel & ~7;
  if (sel & 4) {
    if (!cpu.ldtSel || idx + 7 > cpu.ldtLimit >>> 0) return -1;
    return (cpu.ldtBase + idx) | 0;
  }
  if (idx + 7 > cpu.gdtLimit >>> 0) return -1;
  return (cpu.gdtBase + idx) | 0;
}

/** Read the descriptor for `sel` into dLo/dHi; raises `vec`(sel) if it is outside the table. */
export function readDesc(cpu: Cpu, sel: number, vec = EXC_GP, ext = 0): number {
  const a = descAddr(cpu, sel);
  if (a === -1) cpu.raise(vec, (sel & 0xfffc) | ext);
  dLo = cpu.sysLd32(a);
  dHi = cpu.sysLd32((a + 4) | 0);
  return a;
}

export function descBase(lo: number, hi: number): number {
  return (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000) | 0;
}

export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & 0x800000 ? (raw << 12) | 0xfff | 0 : raw;
}

export function descAttr(hi: number): number {
  return ((hi >>> 8) & 0xf0ff) | SA_VALID;
}

function dpl(hi: number): number {
  return (hi >>> 13) & 3;
}
function present(hi: number): boolean {
  return (hi & 0x8000) !== 0;
}
function isCode(hi: number): boolean {
  return (hi & 0x1800) === 0x1800;
}
function isConforming(hi: number): boolean {
  return (hi & 0x1c00) === 0x1c00;
}
function isSystem(hi: number): boolean {
  return (hi & 0x1000) === 0;
}
function sysType(hi: number): number {
  return (hi >>> 8) & 0xf;
}

/** Set the accessed bit of the descriptor at linear address `a` (as the hardware does). */
function setAccessed(cpu: Cpu, a: number, hi: number): void {
  if (!(hi & 0x100)) cpu.sysSt8((a + 5) | 0, (hi >>> 8) | 1);
}

// --- segment register loads --------------------------------------------------------------------------

/** MOV/POP/LxS to a data segment register or SS, with all protected-mode checks. */
export function loadSeg(cpu: Cpu, s: number, sel: number): void {
  sel &= 0xffff;
  if (!cpu.protectedMode || cpu.flags.bits & VM) {
    cpu.loadRealSeg(s, sel);
    return;
  }
  if (s === SEG_CS) throw new Error("CS is loaded by far transfers only");
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) {
    if (s === SEG_SS) cpu.raise(EXC_GP, 0);
    cpu.setSegCache(s, sel, 0, 0, 0); // null selector: usable until accessed
    return;
  }
  const a = readDesc(cpu, sel);
  const lo = dLo,
    hi = dHi;
  const d = dpl(hi);
  if (s === SEG_SS) {
    // Writable data segment with RPL = DPL = CPL.
    if (rpl !== cpu.cpl || d !== cpu.cpl || isSystem(hi) || isCode(hi) || !(hi & 0x200))
      cpu.raise(EXC_GP, sel & 0xfffc);
    if (!present(hi)) cpu.raise(EXC_SS, sel & 0xfffc);
  } else {
    // Data or readable code; for data and non-conforming code the privilege must allow access.
    if (isSystem(hi) || (isCode(hi) && !(hi & 0x200))) cpu.raise(EXC_GP, sel & 0xfffc);
    if (!isConforming(hi) && (rpl > d || cpu.cpl > d)) cpu.raise(EXC_GP, sel & 0xfffc);
    if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
  }
  setAccessed(cpu, a, hi);
  cpu.setSegCache(s, sel, descBase(lo, hi), descLimit(lo, hi), descAttr(hi | 0x100));
}

/** Load CS for a far transfer whose checks have been done. */
function loadCs(cpu: Cpu, sel: number, lo: number, hi: number, cpl: number, a: number): void {
  setAccessed(cpu, a, hi);
  cpu.setSegCache(SEG_CS, (sel & 0xfffc) | cpl, descBase(lo, hi), descLimit(lo, hi), descAttr(hi | 0x100));
  cpu.setCpl(cpl);
}

/** After a return to an outer level, data segments the new CPL may not use become null. */
function nullifyInaccessible(cpu: Cpu): void {
  for (const s of [SEG_ES, SEG_DS, SEG_FS, SEG_GS]) {
    const at = cpu.segAttr[s];
    if (!(at & SA_VALID)) continue;
    const code = (at & 0x18) === 0x18;
    const conforming = code && (at & 4) !== 0;
    if (!conforming && (at & SA_DPL) >> 5 < cpu.cpl) cpu.setSegCache(s, 0, 0, 0, 0);
  }
}

/** Limit check for a (possibly not yet loaded) stack segment. */
function stackOk(attr: number, limit: number, off: number, size: number): boolean {
  const o = off >>> 0,
    last = (o + size - 1) >>> 0,
    lim = limit >>> 0;
  if ((attr & 0x1c) === 0x14) return o > lim && last <= (attr & SA_DB ? 0xffffffff : 0xffff);
  return last <= lim;
}

/** Stack writer for frames built on a stack that may not be the current SS (interrupts, calls). */
class Frame {
  sp = 0;
  private base = 0;
  private limit = 0;
  private attr = 0;
  private size = 4;
  private cpl = 0;
  constructor(private readonly cpu: Cpu) {}
  open(
    base: number,
    limit: number,
    attr: number,
    sp: number,
    size: number,
    cpl: number,
    faultSel: number,
  ): this {
    this.base = base;
    this.limit = limit;
    this.attr = attr;
    this.sp = sp;
    this.size = size;
    this.cpl = cpl;
    this.faultSel = faultSel;
    return this;
  }
  private faultSel = 0;
  push(v: number): void {
    const size = this.size;
    const sp = this.attr & SA_DB ? (this.sp - size) | 0 : (this.sp - size) & 0xffff;
    if (!stackOk(this.attr, this.limit, sp, size)) this.cpu.raise(EXC_SS, this.faultSel);
    const l = (this.base + sp) | 0;
    const cpu = this.cpu;
    const saved = cpu.cpl;
    if (saved !== this.cpl) cpu.setCpl(this.cpl);
    try {
      if (size === 4) cpu.st32(l, v);
      else cpu.st16(l, v);
    } finally {
      if (saved !== this.cpl) cpu.setCpl(saved);
    }
    this.sp = sp;
  }
  /** Write the new stack pointer into ESP/SP according to the stack segment's B bit. */
  commit(): void {
    if (this.attr & SA_DB) this.cpu.regs[4] = this.sp;
    else this.cpu.r16[8] = this.sp;
  }
}

// --- interrupts and exceptions ----------------------------------------------------------------------

/** Vectors whose exceptions push an error code. */
const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);

/**
 * Deliver interrupt/exception `vec`. `soft` for INT n / INT3 / INTO (gate DPL is checked),
 * `retEip` is the EIP to return to, `ext` marks events external to the program (error codes get EXT).
 */
export function deliverInterrupt(
  cpu: Cpu,
  vec: number,
  code: number,
  soft: boolean,
  retEip: number,
  ext: boolean,
): void {
  cpu.halted = false;
  cpu.vectorCounts[vec]++;
  if (cpu.interruptHook?.(vec, code, soft, retEip)) return;
  if (!cpu.protectedMode) {
    realModeInterrupt(cpu, vec, retEip);
    return;
  }
  if (cpu.flags.bits & VM) cpu.raise(EXC_GP, 0); // virtual-8086 mode is not implemented
  const e = ext ? 1 : 0;
  const idtErr = vec * 8 + 2 + e;
  if (vec * 8 + 7 > cpu.idtLimit >>> 0) cpu.raise(EXC_GP, idtErr);
  const ga = (cpu.idtBase + vec * 8) | 0;
  const glo = cpu.sysLd32(ga),
    ghi = cpu.sysLd32((ga + 4) | 0);
  const gtype = (ghi >>> 8) & 0x1f;
  if (![0x05, 0x06, 0x07, 0x0e, 0x0f].includes(gtype)) cpu.raise(EXC_GP, idtErr);
  if (soft && dpl(ghi) < cpu.cpl) cpu.raise(EXC_GP, idtErr);
  if (!present(ghi)) cpu.raise(EXC_NP, idtErr);
  const pushCode = code >= 0 && HAS_ERROR_CODE.has(vec) ? code : -1;

  if (gtype === 0x05) {
    taskSwitch(cpu, glo >>> 16, TaskSource.INT, retEip, e);
    if (pushCode >= 0) {
      const size = cpu.trAttr & 8 ? 4 : 2;
      cpu.push(size, pushCode);
    }
    return;
  }

  const gate32 = (gtype & 8) !== 0;
  const size = gate32 ? 4 : 2;
  const csSel = glo >>> 16;
  const off = gate32 ? (glo & 0xffff) | (ghi & 0xffff0000) : glo & 0xffff;
  if ((csSel & 0xfffc) === 0) cpu.raise(EXC_GP, e);
  const ca = readDesc(cpu, csSel, EXC_GP, e);
  const clo = dLo,
    chi = dHi;
  if (isSystem(chi) || !isCode(chi) || dpl(chi) > cpu.cpl) cpu.raise(EXC_GP, (csSel & 0xfffc) | e);
  if (!present(chi)) cpu.raise(EXC_NP, (csSel & 0xfffc) | e);
  const newDpl = dpl(chi);
  const flagsVal = cpu.getEflags();
  const frame = new Frame(cpu);

  if (!isConforming(chi) && newDpl < cpu.cpl) {
    // Inter-privilege: switch to the stack for newDpl from the TSS.
    const { ss, esp, ssLo, ssHi } = tssStack(cpu, newDpl, e);
    const ssAttr = descAttr(ssHi);
    frame.open(descBase(ssLo, ssHi), descLimit(ssLo, ssHi), ssAttr, esp, size, newDpl, (ss & 0xfffc) | e);
    frame.push(cpu.sel[SEG_SS]);
    frame.push(cpu.regs[4]);
    frame.push(flagsVal);
    frame.push(cpu.sel[SEG_CS]);
    frame.push(retEip);
    if (pushCode >= 0) frame.push(pushCode);
    // Commit.
    cpu.setSegCache(SEG_SS, ss, descBase(ssLo, ssHi), descLimit(ssLo, ssHi), ssAttr);
    frame.commit();
  } else {
    if (!isConforming(chi) && newDpl !== cpu.cpl) cpu.raise(EXC_GP, (csSel & 0xfffc) | e);
    const ssAttr = cpu.segAttr[SEG_SS];
    frame.open(cpu.segBase[SEG_SS], cpu.segLimit[SEG_SS], ssAttr, cpu.regs[4], size, cpu.cpl, e);
    frame.push(flagsVal);
    frame.push(cpu.sel[SEG_CS]);
    frame.push(retEip);
    if (pushCode >= 0) frame.push(pushCode);
    frame.commit();
  }
  const newCpl = isConforming(chi) ? cpu.cpl : newDpl;
  loadCs(cpu, csSel, clo, chi, newCpl, ca);
  cpu.eip = off;
  let clear = TF | NT | RF | VM;
  if (!(gtype & 1)) clear |= IF; // interrupt gate (not trap gate)
  cpu.flags.write(0, clear);
}

function realModeInterrupt(cpu: Cpu, vec: number, retEip: number): void {
  if (vec * 4 + 3 > cpu.idtLimit >>> 0) cpu.raise(EXC_GP, 0);
  const a = (cpu.idtBase + vec * 4) | 0;
  const ip = cpu.ld16(a),
    cs = cpu.ld16((a + 2) | 0);
  const sp = cpu.regs[4];
  const fr = new Frame(cpu).open(
    cpu.segBase[SEG_SS],
    cpu.segLimit[SEG_SS],
    cpu.segAttr[SEG_SS],
    sp,
    2,
    cpu.cpl,
    0,
  );
  fr.push(cpu.getEflags());
  fr.push(cpu.sel[SEG_CS]);
  fr.push(retEip);
  fr.commit();
  cpu.loadRealSeg(SEG_CS, cs);
  cpu.eip = ip;
  cpu.flags.write(0, IF | TF | AC | RF);
}

/** SS:ESP for privilege level `level` from the current TSS, with the SS descriptor validated. */
function tssStack(
  cpu: Cpu,
  level: number,
  e: number,
): { ss: number; esp: number; ssLo: number; ssHi: number } {
  const t32 = (cpu.trAttr & 8) !== 0;
  const off = t32 ? 4 + level * 8 : 2 + level * 4;
  const need = t32 ? off + 5 : off + 3;
  if (need > cpu.trLimit >>> 0) cpu.raise(EXC_TS, (cpu.trSel & 0xfffc) | e);
  const base = cpu.trBase;
  const esp = t32 ? cpu.sysLd32((base + off) | 0) : cpu.sysLd16((base + off) | 0);
  const ss = cpu.sysLd16((base + off + (t32 ? 4 : 2)) | 0);
  if ((ss & 0xfffc) === 0) cpu.raise(EXC_TS, e);
  if ((ss & 3) !== level) cpu.raise(EXC_TS, (ss & 0xfffc) | e);
  readDesc(cpu, ss, EXC_TS, e);
  const lo = dLo,
    hi = dHi;
  if (dpl(hi) !== level || isSystem(hi) || isCode(hi) || !(hi & 0x200)) cpu.raise(EXC_TS, (ss & 0xfffc) | e);
  if (!present(hi)) cpu.raise(EXC_SS, (ss & 0xfffc) | e);
  return { ss, esp, ssLo: lo, ssHi: hi };
}

// --- far transfers ------------------------------------------------------------------------------------

/** Far JMP to sel:off. */
export function farJump(cpu: Cpu, sel: number, off: number, o32: boolean): void {
  if (!o32) off &= 0xffff;
  if (!cpu.protectedMode || cpu.flags.bits & VM) {
    cpu.loadRealSeg(SEG_CS, sel);
    cpu.eip = off;
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  const a = readDesc(cpu, sel);
  let lo = dLo,
    hi = dHi;
  const rpl = sel & 3;
  if (!isSystem(hi)) {
    checkDirectCodeTarget(cpu, sel, off, lo, hi);
    loadCs(cpu, sel, lo, hi, cpu.cpl, a);
    cpu.eip = off;
    return;
  }
  const t = sysType(hi);
  if (t === 1 || t === 9 || t === 5) {
    if (dpl(hi) < cpu.cpl || dpl(hi) < rpl) cpu.raise(EXC_GP, sel & 0xfffc);
    if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
    taskSwitch(cpu, t === 5 ? lo >>> 16 : sel, TaskSource.JMP, cpu.eip, 0);
    return;
  }
  if (t !== 4 && t !== 0xc) cpu.raise(EXC_GP, sel & 0xfffc);
  // Call gate used by JMP: no privilege change.
  if (dpl(hi) < cpu.cpl || dpl(hi) < rpl) cpu.raise(EXC_GP, sel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
  const tsel = lo >>> 16;
  const toff = t === 0xc ? (lo & 0xffff) | (hi & 0xffff0000) : lo & 0xffff;
  if ((tsel & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  const ta = readDesc(cpu, tsel);
  lo = dLo;
  hi = dHi;
  if (isSystem(hi) || !isCode(hi)) cpu.raise(EXC_GP, tsel & 0xfffc);
  if (isConforming(hi) ? dpl(hi) > cpu.cpl : dpl(hi) !== cpu.cpl) cpu.raise(EXC_GP, tsel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, tsel & 0xfffc);
  if (toff >>> 0 > descLimit(lo, hi) >>> 0) cpu.raise(EXC_GP, 0);
  loadCs(cpu, tsel, lo, hi, cpu.cpl, ta);
  cpu.eip = toff;
}

/** Checks for a far JMP/CALL straight to a code segment (no gate): type, privilege, presence, limit. */
function checkDirectCodeTarget(cpu: Cpu, sel: number, off: number, lo: number, hi: number): void {
  if (!isCode(hi)) cpu.raise(EXC_GP, sel & 0xfffc);
  if (isConforming(hi)) {
    if (dpl(hi) > cpu.cpl) cpu.raise(EXC_GP, sel & 0xfffc);
  } else if ((sel & 3) > cpu.cpl || dpl(hi) !== cpu.cpl) cpu.raise(EXC_GP, sel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
  if (off >>> 0 > descLimit(lo, hi) >>> 0) cpu.raise(EXC_GP, 0);
}

/** Far CALL to sel:off; `retEip` is the return offset. */
export function farCall(cpu: Cpu, sel: number, off: number, o32: boolean, retEip: number): void {
  const size = o32 ? 4 : 2;
  if (!o32) off &= 0xffff;
  const frame = new Frame(cpu);
  const curStack = () =>
    frame.open(cpu.segBase[SEG_SS], cpu.segLimit[SEG_SS], cpu.segAttr[SEG_SS], cpu.regs[4], size, cpu.cpl, 0);
  if (!cpu.protectedMode || cpu.flags.bits & VM) {
    curStack();
    frame.push(cpu.sel[SEG_CS]);
    frame.push(retEip);
    frame.commit();
    cpu.loadRealSeg(SEG_CS, sel);
    cpu.eip = off;
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  const a = readDesc(cpu, sel);
  let lo = dLo,
    hi = dHi;
  const rpl = sel & 3;
  if (!isSystem(hi)) {
    checkDirectCodeTarget(cpu, sel, off, lo, hi);
    curStack();
    frame.push(cpu.sel[SEG_CS]);
    frame.push(retEip);
    frame.commit();
    loadCs(cpu, sel, lo, hi, cpu.cpl, a);
    cpu.eip = off;
    return;
  }
  const t = sysType(hi);
  if (t === 1 || t === 9 || t === 5) {
    if (dpl(hi) < cpu.cpl || dpl(hi) < rpl) cpu.raise(EXC_GP, sel & 0xfffc);
    if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
    taskSwitch(cpu, t === 5 ? lo >>> 16 : sel, TaskSource.CALL, retEip, 0);
    return;
  }
  if (t !== 4 && t !== 0xc) cpu.raise(EXC_GP, sel & 0xfffc);
  if (dpl(hi) < cpu.cpl || dpl(hi) < rpl) cpu.raise(EXC_GP, sel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
  const gate32 = t === 0xc;
  const gsize = gate32 ? 4 : 2;
  const params = hi & 0x1f;
  const tsel = lo >>> 16;
  const toff = gate32 ? (lo & 0xffff) | (hi & 0xffff0000) : lo & 0xffff;
  if ((tsel & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  const ta = readDesc(cpu, tsel);
  lo = dLo;
  hi = dHi;
  if (isSystem(hi) || !isCode(hi) || dpl(hi) > cpu.cpl) cpu.raise(EXC_GP, tsel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, tsel & 0xfffc);
  if (toff >>> 0 > descLimit(lo, hi) >>> 0) cpu.raise(EXC_GP, 0);
  const newDpl = dpl(hi);
  if (!isConforming(hi) && newDpl < cpu.cpl) {
    // More privileged: new stack from the TSS, parameters copied from the old stack.
    const { ss, esp, ssLo, ssHi } = tssStack(cpu, newDpl, 0);
    const ssAttr = descAttr(ssHi);
    const oldSs = cpu.sel[SEG_SS],
      oldEsp = cpu.regs[4];
    const vals: number[] = [];
    for (let k = params - 1; k >= 0; k--) vals.push(cpu.peek(gsize, k * gsize));
    frame.open(descBase(ssLo, ssHi), descLimit(ssLo, ssHi), ssAttr, esp, gsize, newDpl, ss & 0xfffc);
    frame.push(oldSs);
    frame.push(oldEsp);
    for (const v of vals) frame.push(v);
    frame.push(cpu.sel[SEG_CS]);
    frame.push(retEip);
    cpu.setSegCache(SEG_SS, ss, descBase(ssLo, ssHi), descLimit(ssLo, ssHi), ssAttr);
    frame.commit();
    loadCs(cpu, tsel, lo, hi, newDpl, ta);
  } else {
    frame.open(
      cpu.segBase[SEG_SS],
      cpu.segLimit[SEG_SS],
      cpu.segAttr[SEG_SS],
      cpu.regs[4],
      gsize,
      cpu.cpl,
      0,
    );
    frame.push(cpu.sel[SEG_CS]);
    frame.push(retEip);
    frame.commit();
    loadCs(cpu, tsel, lo, hi, cpu.cpl, ta);
  }
  cpu.eip = toff;
}

/** Far RET (RETF imm16): pops CS:EIP, and SS:ESP when returning to an outer privilege level. */
export function farReturn(cpu: Cpu, o32: boolean, imm: number): void {
  const size = o32 ? 4 : 2;
  const eip = size === 4 ? cpu.peek(4, 0) : cpu.peek(2, 0);
  const cs = cpu.peek(2, size);
  if (!cpu.protectedMode || cpu.flags.bits & VM) {
    cpu.adjustSp(2 * size + imm);
    cpu.loadRealSeg(SEG_CS, cs);
    cpu.eip = eip;
    return;
  }
  const rpl = cs & 3;
  if ((cs & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  const a = readDesc(cpu, cs);
  const lo = dLo,
    hi = dHi;
  if (isSystem(hi) || !isCode(hi) || rpl < cpu.cpl) cpu.raise(EXC_GP, cs & 0xfffc);
  if (isConforming(hi) ? dpl(hi) > rpl : dpl(hi) !== rpl) cpu.raise(EXC_GP, cs & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, cs & 0xfffc);
  if (rpl === cpu.cpl) {
    if (eip >>> 0 > descLimit(lo, hi) >>> 0) cpu.raise(EXC_GP, 0);
    cpu.adjustSp(2 * size + imm);
    loadCs(cpu, cs, lo, hi, cpu.cpl, a);
    cpu.eip = eip;
    return;
  }
  // Return to an outer level.
  const esp = cpu.peek(size, 2 * size + imm);
  const ss = cpu.peek(2, 3 * size + imm);
  const { ssLo, ssHi } = checkOuterSs(cpu, ss, rpl);
  if (eip >>> 0 > descLimit(lo, hi) >>> 0) cpu.raise(EXC_GP, 0);
  loadCs(cpu, cs, lo, hi, rpl, a);
  cpu.setSegCache(SEG_SS, ss, descBase(ssLo, ssHi), descLimit(ssLo, ssHi), descAttr(ssHi));
  if (cpu.segAttr[SEG_SS] & SA_DB) cpu.regs[4] = (esp + imm) | 0;
  else cpu.r16[8] = esp + imm;
  cpu.eip = eip;
  nullifyInaccessible(cpu);
}

function checkOuterSs(cpu: Cpu, ss: number, rpl: number): { ssLo: number; ssHi: number } {
  if ((ss & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  readDesc(cpu, ss);
  const lo = dLo,
    hi = dHi;
  if ((ss & 3) !== rpl || dpl(hi) !== rpl || isSystem(hi) || isCode(hi) || !(hi & 0x200))
    cpu.raise(EXC_GP, ss & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_SS, ss & 0xfffc);
  return { ssLo: lo, ssHi: hi | 0x100 };
}

/** IRET / IRETD. */
export function iret(cpu: Cpu, o32: boolean): void {
  const size = o32 ? 4 : 2;
  if (!cpu.protectedMode) {
    const eip = cpu.peek(size, 0);
    const cs = cpu.peek(2, size);
    const fl = cpu.peek(size, 2 * size);
    cpu.adjustSp(3 * size);
    cpu.loadRealSeg(SEG_CS, cs);
    cpu.eip = o32 ? eip : eip & 0xffff;
    const mask = o32 ? 0x257fd5 : 0x7fd5;
    cpu.flags.write(fl, mask);
    return;
  }
  if (cpu.flags.bits & VM) cpu.raise(EXC_GP, 0);
  if (cpu.flags.bits & NT) {
    // Return from a nested task through the back link.
    const back = cpu.sysLd16(cpu.trBase);
    taskSwitch(cpu, back, TaskSource.IRET, cpu.eip, 0);
    return;
  }
  const eip = cpu.peek(size, 0);
  const cs = cpu.peek(2, size);
  const fl = size === 4 ? cpu.peek(4, 2 * size) : cpu.peek(2, 2 * size);
  if (size === 4 && fl & VM && cpu.cpl === 0) cpu.raise(EXC_GP, 0); // return to virtual-8086 mode: unsupported
  const rpl = cs & 3;
  if ((cs & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  const a = readDesc(cpu, cs);
  const lo = dLo,
    hi = dHi;
  if (isSystem(hi) || !isCode(hi) || rpl < cpu.cpl) cpu.raise(EXC_GP, cs & 0xfffc);
  if (isConforming(hi) ? dpl(hi) > rpl : dpl(hi) !== rpl) cpu.raise(EXC_GP, cs & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, cs & 0xfffc);
  if (eip >>> 0 > descLimit(lo, hi) >>> 0) cpu.raise(EXC_GP, 0);
  const oldCpl = cpu.cpl;
  let ssInfo: { ssLo: number; ssHi: number } | null = null;
  let esp = 0,
    ss = 0;
  if (rpl > oldCpl) {
    esp = cpu.peek(size, 3 * size);
    ss = cpu.peek(2, 4 * size);
    ssInfo = checkOuterSs(cpu, ss, rpl);
  }
  // Commit.
  if (!ssInfo) cpu.adjustSp(3 * size);
  loadCs(cpu, cs, lo, hi, rpl, a);
  cpu.eip = o32 ? eip : eip & 0xffff;
  writeFlagsPrivileged(cpu, fl, o32, oldCpl);
  if (ssInfo) {
    cpu.setSegCache(
      SEG_SS,
      ss,
      descBase(ssInfo.ssLo, ssInfo.ssHi),
      descLimit(ssInfo.ssLo, ssInfo.ssHi),
      descAttr(ssInfo.ssHi),
    );
    if (cpu.segAttr[SEG_SS] & SA_DB) cpu.regs[4] = esp;
    else cpu.r16[8] = esp;
    nullifyInaccessible(cpu);
  }
}

/**
 * EFLAGS update by POPF/IRET: IOPL changes only at CPL 0, IF only when CPL <= IOPL; VM and RF/VIF/VIP
 * handling per the SDM for the instruction.
 */
export function writeFlagsPrivileged(cpu: Cpu, v: number, o32: boolean, cpl: number): void {
  let mask = 0x4dd5 | 0x100; // CF PF AF ZF SF TF DF OF NT (+ bit 1)
  if (o32) mask |= AC | 0x200000 /* ID */ | RF;
  const iopl = (cpu.flags.bits >> 12) & 3;
  if (cpl === 0) mask |= 0x3000;
  if (cpl <= iopl) mask |= IF;
  cpu.flags.write(v, mask);
}

// --- task switching -------------------------------------------------------------------------------

export const enum TaskSource {
  JMP = 0,
  CALL = 1,
  IRET = 2,
  INT = 3,
}

/** Switch to the task whose TSS selector is `sel` (Intel SDM 7.3). */
export function taskSwitch(cpu: Cpu, sel: number, src: TaskSource, retEip: number, e: number): void {
  if (sel & 4) cpu.raise(EXC_TS, (sel & 0xfffc) | e);
  const da = readDesc(cpu, sel, EXC_TS, e);
  const lo = dLo,
    hi = dHi;
  const t = sysType(hi);
  const busyOk = src === TaskSource.IRET;
  if (!isSystem(hi) || !(t === 1 || t === 9 || t === 3 || t === 0xb)) cpu.raise(EXC_TS, (sel & 0xfffc) | e);
  if (busyOk ? !(t & 2) : (t & 2) !== 0) cpu.raise(EXC_GP, (sel & 0xfffc) | e);
  if (!present(hi)) cpu.raise(EXC_NP, (sel & 0xfffc) | e);
  const new32 = (t & 8) !== 0;
  const nbase = descBase(lo, hi),
    nlimit = descLimit(lo, hi);
  if (nlimit >>> 0 < (new32 ? 0x67 : 0x2b)) cpu.raise(EXC_TS, (sel & 0xfffc) | e);

  // Save the outgoing task's state.
  const ob = cpu.trBase;
  const old32 = (cpu.trAttr & 8) !== 0;
  let fl = cpu.getEflags();
  if (src === TaskSource.IRET) fl &= ~NT;
  if (old32) {
    cpu.sysSt32((ob + 0x20) | 0, retEip);
    cpu.sysSt32((ob + 0x24) | 0, fl);
    for (let r = 0; r < 8; r++) cpu.sysSt32((ob + 0x28 + r * 4) | 0, cpu.regs[r]);
    for (let s = 0; s < 6; s++) cpu.sysSt16((ob + 0x48 + s * 4) | 0, cpu.sel[s]);
  } else {
    cpu.sysSt16((ob + 0x0e) | 0, retEip);
    cpu.sysSt16((ob + 0x10) | 0, fl);
    for (let r = 0; r < 8; r++) cpu.sysSt16((ob + 0x12 + r * 2) | 0, cpu.regs[r]);
    for (let s = 0; s < 4; s++) cpu.sysSt16((ob + 0x22 + s * 2) | 0, cpu.sel[s]);
  }
  if (src === TaskSource.JMP || src === TaskSource.IRET) {
    // Clear the busy bit of the old TSS descriptor.
    const oa = descAddr(cpu, cpu.trSel);
    if (oa >= 0) cpu.sysSt32((oa + 4) | 0, cpu.sysLd32((oa + 4) | 0) & ~0x200);
  }
  if (src === TaskSource.CALL || src === TaskSource.INT) cpu.sysSt16(nbase, cpu.trSel);
  if (src !== TaskSource.IRET) cpu.sysSt32((da + 4) | 0, hi | 0x200);

  // Load the incoming task.
  cpu.trSel = sel & 0xffff;
  cpu.trBase = nbase;
  cpu.trLimit = nlimit;
  cpu.trAttr = descAttr(hi | 0x200) & 0xffff;
  let neip: number, nfl: number, ldt: number;
  const segs = [0, 0, 0, 0, 0, 0];
  if (new32) {
    cpu.setCr3(cpu.sysLd32((nbase + 0x1c) | 0));
    neip = cpu.sysLd32((nbase + 0x20) | 0);
    nfl = cpu.sysLd32((nbase + 0x24) | 0);
    for (let r = 0; r < 8; r++) cpu.regs[r] = cpu.sysLd32((nbase + 0x28 + r * 4) | 0);
    for (let s = 0; s < 6; s++) segs[s] = cpu.sysLd16((nbase + 0x48 + s * 4) | 0);
    ldt = cpu.sysLd16((nbase + 0x60) | 0);
  } else {
    neip = cpu.sysLd16((nbase + 0x0e) | 0);
    nfl = cpu.sysLd16((nbase + 0x10) | 0);
    for (let r = 0; r < 8; r++) cpu.regs[r] = cpu.sysLd16((nbase + 0x12 + r * 2) | 0);
    for (let s = 0; s < 4; s++) segs[s] = cpu.sysLd16((nbase + 0x22 + s * 2) | 0);
    ldt = cpu.sysLd16((nbase + 0x2a) | 0);
  }
  if (src === TaskSource.CALL || src === TaskSource.INT) nfl |= NT;
  cpu.flags.write(nfl, -1);
  cpu.eip = neip;
  cpu.setCr0(cpu.cr0 | CR0_TS);

  // LDT, then CS (which sets CPL), then the data segments, all checked against the new task.
  loadLdtr(cpu, ldt, EXC_TS);
  const csSel = segs[SEG_CS];
  const newCpl = csSel & 3;
  if ((csSel & 0xfffc) === 0) cpu.raise(EXC_TS, e);
  const ca = readDesc(cpu, csSel, EXC_TS, e);
  const clo = dLo,
    chi = dHi;
  if (isSystem(chi) || !isCode(chi)) cpu.raise(EXC_TS, (csSel & 0xfffc) | e);
  if (!present(chi)) cpu.raise(EXC_NP, (csSel & 0xfffc) | e);
  loadCs(cpu, csSel, clo, chi, newCpl, ca);
  for (const s of [SEG_SS, SEG_ES, SEG_DS, SEG_FS, SEG_GS]) {
    try {
      loadSeg(cpu, s, segs[s]);
    } catch (err) {
      // Segment faults while loading the new task are reported as #TS with the selector.
      if (cpu.excVector === EXC_GP) cpu.excVector = EXC_TS;
      throw err;
    }
  }
}

/** LLDT / task-switch load of the LDT register. */
export function loadLdtr(cpu: Cpu, sel: number, vec = EXC_GP): void {
  if ((sel & 0xfffc) === 0) {
    cpu.ldtSel = 0;
    cpu.ldtBase = 0;
    cpu.ldtLimit = 0;
    return;
  }
  if (sel & 4) cpu.raise(vec, sel & 0xfffc);
  readDesc(cpu, sel, vec);
  const lo = dLo,
    hi = dHi;
  if (!isSystem(hi) || sysType(hi) !== 2) cpu.raise(vec, sel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
  cpu.ldtSel = sel;
  cpu.ldtBase = descBase(lo, hi);
  cpu.ldtLimit = descLimit(lo, hi);
}

/** LTR: load the task register and mark the TSS busy. */
export function loadTr(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) cpu.raise(EXC_GP, 0);
  if (sel & 4) cpu.raise(EXC_GP, sel & 0xfffc);
  const a = readDesc(cpu, sel);
  const lo = dLo,
    hi = dHi;
  const t = sysType(hi);
  if (!isSystem(hi) || (t !== 1 && t !== 9)) cpu.raise(EXC_GP, sel & 0xfffc);
  if (!present(hi)) cpu.raise(EXC_NP, sel & 0xfffc);
  cpu.sysSt32((a + 4) | 0, hi | 0x200);
  cpu.trSel = sel;
  cpu.trBase = descBase(lo, hi);
  cpu.trLimit = descLimit(lo, hi);
  cpu.trAttr = descAttr(hi | 0x200) & 0xffff;
}

export { SA_P, SA_S };
