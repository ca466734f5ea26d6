// System instruction semantics: descriptor-table registers, control/debug registers, MSRs, CPUID,
// TSC, SYSENTER/SYSEXIT, and the protected-mode inspection instructions (LAR, LSL, VERR, VERW).

import {
  CPUID_FEATURES_EDX,
  CPUID_SIGNATURE,
  CPUID_VENDOR,
  type Cpu,
  EXC_GP,
  EXC_UD,
  SA_DB,
  SA_G,
  SA_VALID,
} from "./cpu.ts";
import { SEG_CS, SEG_SS } from "./decoder.ts";
import { IF, RF, VM, ZF } from "./flags.ts";
import type { Factory } from "./exec-int.ts";
import { CR0_PE, CR0_TS, CR4_DE, CR4_PCE, CR4_TSD } from "../mmu/mmu.ts";
import { descAddr, descLimit, loadLdtr, loadTr } from "./protmode.ts";

function needCpl0(c: Cpu): void {
  if (c.cpl !== 0) c.raise(EXC_GP, 0);
}
function needProt(c: Cpu): void {
  if (!c.protectedMode || c.flags.bits & VM) c.raise(EXC_UD);
}

/** CPUID brand string (leaves 0x80000002–4), 48 bytes NUL-padded. */
export const CPUID_BRAND = "VirtLab P6-class virtual CPU";
const BRAND_DWORDS = (() => {
  const b = new Uint8Array(48);
  for (let k = 0; k < CPUID_BRAND.length; k++) b[k] = CPUID_BRAND.charCodeAt(k);
  return new Int32Array(b.buffer);
})();
function str4(s: string, k: number): number {
  return (
    s.charCodeAt(k) | (s.charCodeAt(k + 1) << 8) | (s.charCodeAt(k + 2) << 16) | (s.charCodeAt(k + 3) << 24)
  );
}

/** The CPUID result for `leaf` (EAX, EBX, ECX, EDX). Hypervisor leaves are added by the VMM. */
export function cpuid(c: Cpu, leaf: number): [number, number, number, number] {
  const hook = c.cpuidHook?.(leaf);
  if (hook) return hook;
  leaf >>>= 0;
  if (leaf >= 0x80000000) {
    if (leaf === 0x80000000) return [0x80000004 | 0, 0, 0, 0];
    if (leaf === 0x80000001) return [0, 0, 0, 0];
    if (leaf <= 0x80000004) {
      const o = (leaf - 0x80000002) * 4;
      return [BRAND_DWORDS[o], BRAND_DWORDS[o + 1], BRAND_DWORDS[o + 2], BRAND_DWORDS[o + 3]];
    }
    leaf = 1; // beyond the maximum: Intel returns the highest basic leaf
  }
  if (leaf === 0) return [1, str4(CPUID_VENDOR, 0), str4(CPUID_VENDOR, 8), str4(CPUID_VENDOR, 4)];
  return [CPUID_SIGNATURE, 0, 0, CPUID_FEATURES_EDX];
}

// MSR numbers this CPU implements (Intel SDM Vol. 4, P6 family).
export const MSR_TSC = 0x10;
export const MSR_PLATFORM_ID = 0x17;
export const MSR_EBL_CR_POWERON = 0x2a;
export const MSR_BIOS_SIGN_ID = 0x8b;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
export const MSR_MISC_ENABLE = 0x1a0;

export function readMsr(c: Cpu, n: number): [number, number] {
  const hooked = c.msrHook?.read(n >>> 0);
  if (hooked) return hooked;
  switch (n >>> 0) {
    case MSR_TSC: {
      const t = c.readTsc() + c.tscOffset;
      return [(t % 4294967296) | 0, Math.floor(t / 4294967296) | 0];
    }
    case MSR_SYSENTER_CS:
      return [c.sysenterCs, 0];
    case MSR_SYSENTER_ESP:
      return [c.sysenterEsp, 0];
    case MSR_SYSENTER_EIP:
      return [c.sysenterEip, 0];
    case MSR_PLATFORM_ID:
    case MSR_EBL_CR_POWERON:
    case MSR_BIOS_SIGN_ID:
      return c.msrs.get(n) ?? [0, 0];
    case MSR_MISC_ENABLE:
      return c.msrs.get(n) ?? [1, 0]; // fast-strings enable
  }
  return c.raise(EXC_GP, 0);
}

export function writeMsr(c: Cpu, n: number, lo: number, hi: number): void {
  if (c.msrHook?.write(n >>> 0, lo, hi)) return;
  switch (n >>> 0) {
    case MSR_TSC:
      c.tscOffset = (hi >>> 0) * 4294967296 + (lo >>> 0) - c.readTsc();
      return;
    case MSR_SYSENTER_CS:
      c.sysenterCs = lo & 0xffff;
      return;
    case MSR_SYSENTER_ESP:
      c.sysenterEsp = lo;
      return;
    case MSR_SYSENTER_EIP:
      c.sysenterEip = lo;
      return;
    case MSR_BIOS_SIGN_ID:
    case MSR_MISC_ENABLE:
    case MSR_EBL_CR_POWERON:
      c.msrs.set(n, [lo, hi]);
      return;
  }
  c.raise(EXC_GP, 0);
}

/** Read a descriptor for LAR/LSL/VERR/VERW; returns false (ZF=0) for null or out-of-table selectors. */
function probeDesc(c: Cpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  const a = descAddr(c, sel);
  if (a === -1) return false;
  readDescNoFault(c, a);
  return true;
}
let pLo = 0,
  pHi = 0;
function readDescNoFault(c: Cpu, a: number): void {
  pLo = c.sysLd32(a);
  pHi = c.sysLd32((a + 4) | 0);
}
/** Privilege check shared by LAR/LSL/VERR/VERW: non-conforming segments need DPL >= CPL and RPL. */
function privOk(c: Cpu, sel: number, hi: number): boolean {
  const conformingCode = (hi & 0x1c00) === 0x1c00;
  const dpl = (hi >>> 13) & 3;
  return conformingCode || (dpl >= c.cpl && dpl >= (sel & 3));
}

/** SLDT/STR: a register destination takes the zero-extended selector at 32-bit operand size. */
function storeSelector(get: (c: Cpu) => number): ReturnType<Factory> {
  return (c, i) => {
    needProt(c);
    if (i.mod === 3) c.setReg(i.o32 ? 4 : 2, i.rm, get(c));
    else c.writeE(i, 2, get(c));
  };
}

/** System-descriptor types LAR and LSL accept (SDM LAR/LSL tables); code and data always qualify. */
const LAR_SYSTEM_TYPES = [1, 2, 3, 4, 5, 9, 0xb, 0xc];
const LSL_SYSTEM_TYPES = [1, 2, 3, 9, 0xb];

/** LAR/LSL: is the descriptor for `sel` readable by this instruction at the current privilege? */
function probeVisible(c: Cpu, sel: number, systemTypes: number[]): boolean {
  if (!probeDesc(c, sel)) return false;
  if (!(pHi & 0x1000) && !systemTypes.includes((pHi >>> 8) & 0xf)) return false;
  return privOk(c, sel, pHi);
}

export const SYS_SEMANTICS: Record<string, Factory> = {
  sldt: () => storeSelector((c) => c.ldtSel),
  str: () => storeSelector((c) => c.trSel),
  lldt() {
    return (c, i) => {
      needProt(c);
      needCpl0(c);
      loadLdtr(c, c.readE(i, 2));
    };
  },
  ltr() {
    return (c, i) => {
      needProt(c);
      needCpl0(c);
      loadTr(c, c.readE(i, 2));
    };
  },
  verx(d) {
    const write = d.mn === "VERW";
    return (c, i) => {
      needProt(c);
      const sel = c.readE(i, 2);
      let ok = probeDesc(c, sel);
      if (ok) {
        const hi = pHi;
        const code = (hi & 0x1800) === 0x1800;
        if (!(hi & 0x1000)) ok = false;
        else if (write) ok = !code && (hi & 0x200) !== 0;
        else ok = !code || (hi & 0x200) !== 0;
        if (ok) ok = privOk(c, sel, hi);
      }
      c.flags.write(ok ? ZF : 0, ZF);
    };
  },
  lar() {
    return (c, i) => {
      needProt(c);
      const ok = probeVisible(c, c.readE(i, 2), LAR_SYSTEM_TYPES);
      if (ok) c.setReg(i.o32 ? 4 : 2, i.reg, i.o32 ? pHi & 0x00f0ff00 : pHi & 0xff00);
      c.flags.write(ok ? ZF : 0, ZF);
    };
  },
  lsl() {
    return (c, i) => {
      needProt(c);
      const ok = probeVisible(c, c.readE(i, 2), LSL_SYSTEM_TYPES);
      if (ok) {
        const lim = descLimit(pLo, pHi);
        c.setReg(i.o32 ? 4 : 2, i.reg, i.o32 ? lim : lim & 0xffff);
      }
      c.flags.write(ok ? ZF : 0, ZF);
    };
  },
  sdt(d) {
    const idt = d.mn === "SIDT";
    return (c, i) => {
      const lin = c.eaLin(i, 6, true);
      c.probeWrite(lin, 6);
      const base = idt ? c.idtBase : c.gdtBase;
      c.st16(lin, idt ? c.idtLimit : c.gdtLimit);
      // With a 16-bit operand size the top byte is stored as zero (P6 behaviour).
      c.st32((lin + 2) | 0, i.o32 ? base : base & 0xffffff);
    };
  },
  ldt_reg(d) {
    const idt = d.mn === "LIDT";
    return (c, i) => {
      needCpl0(c);
      const lin = c.eaLin(i, 6, false);
      const limit = c.ld16(lin);
      let base = c.ld32((lin + 2) | 0);
      if (!i.o32) base &= 0xffffff;
      if (idt) {
        c.idtLimit = limit;
        c.idtBase = base;
      } else {
        c.gdtLimit = limit;
        c.gdtBase = base;
      }
    };
  },
  smsw() {
    return (c, i) => {
      if (i.mod === 3) c.setReg(i.o32 ? 4 : 2, i.rm, i.o32 ? c.cr0 : c.cr0 & 0xffff);
      else c.writeE(i, 2, c.cr0 & 0xffff);
    };
  },
  lmsw() {
    return (c, i) => {
      needCpl0(c);
      const v = c.readE(i, 2) & 0xf;
      // LMSW can set PE but never clear it.
      c.setCr0((c.cr0 & ~0xe) | v | (c.cr0 & CR0_PE));
    };
  },
  invlpg() {
    return (c, i) => {
      needCpl0(c);
      const seg = c.segOf(i);
      c.mmu.invlpg((c.segBase[seg] + c.ea(i)) | 0);
    };
  },
  clts() {
    return (c) => {
      needCpl0(c);
      c.setCr0(c.cr0 & ~CR0_TS);
    };
  },
  invd() {
    return (c) => needCpl0(c);
  },
  mov_from_cr() {
    return (c, i) => {
      needCpl0(c);
      let v: number;
      switch (i.reg) {
        case 0:
          v = c.cr0;
          break;
        case 2:
          v = c.cr2;
          break;
        case 3:
          v = c.cr3;
          break;
        case 4:
          v = c.cr4;
          break;
        default:
          return c.raise(EXC_UD);
      }
      c.regs[i.rm] = v;
    };
  },
  mov_to_cr() {
    return (c, i) => {
      needCpl0(c);
      const v = c.regs[i.rm];
      switch (i.reg) {
        case 0:
          c.setCr0(v);
          break;
        case 2:
          c.cr2 = v;
          break;
        case 3:
          c.setCr3(v);
          break;
        case 4:
          c.setCr4(v);
          break;
        default:
          c.raise(EXC_UD);
      }
    };
  },
  mov_from_dr() {
    return (c, i) => {
      needCpl0(c);
      let r = i.reg;
      if (r === 4 || r === 5) {
        if (c.cr4 & CR4_DE) c.raise(EXC_UD);
        r += 2;
      }
      c.regs[i.rm] = c.dr[r];
    };
  },
  mov_to_dr() {
    return (c, i) => {
      needCpl0(c);
      let r = i.reg;
      if (r === 4 || r === 5) {
        if (c.cr4 & CR4_DE) c.raise(EXC_UD);
        r += 2;
      }
      let v = c.regs[i.rm];
      if (r === 6) v = (v | 0xffff0ff0) & ~0x1000;
      else if (r === 7) v = (v | 0x400) & ~0xd800;
      c.dr[r] = v;
    };
  },
  rdmsr() {
    return (c) => {
      needCpl0(c);
      const [lo, hi] = readMsr(c, c.regs[1]);
      c.regs[0] = lo;
      c.regs[2] = hi;
    };
  },
  wrmsr() {
    return (c) => {
      needCpl0(c);
      writeMsr(c, c.regs[1], c.regs[0], c.regs[2]);
    };
  },
  rdtsc() {
    return (c) => {
      if (c.cr4 & CR4_TSD && c.cpl !== 0 && c.protectedMode) c.raise(EXC_GP, 0);
      const t = c.readTsc() + c.tscOffset;
      c.regs[0] = (t % 4294967296) | 0;
      c.regs[2] = Math.floor(t / 4294967296) | 0;
    };
  },
  rdpmc() {
    return (c) => {
      if (!(c.cr4 & CR4_PCE) && c.cpl !== 0 && c.protectedMode) c.raise(EXC_GP, 0);
      if (c.regs[1] >>> 0 > 1) c.raise(EXC_GP, 0);
      // No performance-monitoring events are modelled: both counters read zero.
      c.regs[0] = 0;
      c.regs[2] = 0;
    };
  },
  cpuid() {
    return (c) => {
      const [a, b, cc, d] = cpuid(c, c.regs[0]);
      c.regs[0] = a;
      c.regs[3] = b;
      c.regs[1] = cc;
      c.regs[2] = d;
    };
  },
  sysenter() {
    return (c) => {
      if (!c.protectedMode || (c.sysenterCs & 0xfffc) === 0) c.raise(EXC_GP, 0);
      const cs = c.sysenterCs & 0xfffc;
      c.flags.write(0, VM | IF | RF);
      c.setSegCache(SEG_CS, cs, 0, -1, 0x9b | SA_DB | SA_G | SA_VALID);
      c.setSegCache(SEG_SS, (cs + 8) & 0xffff, 0, -1, 0x93 | SA_DB | SA_G | SA_VALID);
      c.setCpl(0);
      c.regs[4] = c.sysenterEsp;
      c.eip = c.sysenterEip;
    };
  },
  sysexit() {
    return (c) => {
      if (!c.protectedMode || c.cpl !== 0 || (c.sysenterCs & 0xfffc) === 0) c.raise(EXC_GP, 0);
      const cs = c.sysenterCs & 0xfffc;
      c.setSegCache(SEG_CS, ((cs + 16) | 3) & 0xffff, 0, -1, 0xfb | SA_DB | SA_G | SA_VALID);
      c.setSegCache(SEG_SS, ((cs + 24) | 3) & 0xffff, 0, -1, 0xf3 | SA_DB | SA_G | SA_VALID);
      c.setCpl(3);
      c.regs[4] = c.regs[1];
      c.eip = c.regs[2];
    };
  },
};
