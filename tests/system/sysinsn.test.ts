// System instructions at CPL 0 (and their CPL 3 faults): descriptor-table registers, control and
// debug registers, MSRs, TSC, CPUID, SYSENTER/SYSEXIT, cache/TLB instructions. Expected values are
// the Intel SDM's definitions (Vol. 2 instruction pages; Vol. 3 chapters 2, 9, 17), cited per test.
import { describe, it, expect } from "vitest";
import { Buf, c32, CODE, GP, IF, M, PF, rd16, rd32, run, runCpu, UD } from "./helper.ts";
import { SEG_CS, SEG_SS } from "../../src/engine/cpu/decoder.ts";

/** Kernel-env CR0 after setup: PG | WP | NE | ET | PE (Vol. 3 2.5). */
const KCR0 = 0x80010031;

// Drop from CPL 0 to CPL 3 with IRETD (selectors 0x1B/0x23 exist in the snippet GDT and in flatGdt).
const RING3 = `
  mov eax, esp
  push dword 0x23
  push eax
  pushfd
  push dword 0x1b
  push dword r3
  iretd
r3:`;
void RING3;

describe("SGDT / SIDT (Vol. 2B SGDT, SIDT)", () => {
  it("SGDT with 32-bit operand size stores limit then the full 32-bit base", () => {
    const r = run({ code: c32("0f 01 03", `sgdt [ebx]`), mem: new Uint8Array(8).fill(0xee) });
    expect(r.fault).toBeNull();
    // Snippet GDT: base 0x3000, 6 entries -> limit 47.
    expect([...r.mem]).toEqual([0x2f, 0x00, 0x00, 0x30, 0x00, 0x00, 0xee, 0xee]);
  });
  it("SGDT/SIDT with 16-bit operand size store a 24-bit base and a zero sixth byte", () => {
    const b = new Buf(64).pdesc(0, 0x1234, 0xab345678);
    b.u8.fill(0xee, 8);
    const r = run({
      code: c32(
        "0f 01 13 0f 01 1b 66 0f 01 43 08 0f 01 43 10 66 0f 01 4b 18 0f 01 4b 20",
        `lgdt [ebx]
lidt [ebx]
o16 sgdt [ebx+8]
sgdt [ebx+16]
o16 sidt [ebx+24]
sidt [ebx+32]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect([...r.mem.slice(8, 16)]).toEqual([0x34, 0x12, 0x78, 0x56, 0x34, 0x00, 0xee, 0xee]);
    expect([...r.mem.slice(16, 24)]).toEqual([0x34, 0x12, 0x78, 0x56, 0x34, 0xab, 0xee, 0xee]);
    expect([...r.mem.slice(24, 32)]).toEqual([0x34, 0x12, 0x78, 0x56, 0x34, 0x00, 0xee, 0xee]);
    expect([...r.mem.slice(32, 40)]).toEqual([0x34, 0x12, 0x78, 0x56, 0x34, 0xab, 0xee, 0xee]);
  });
  it("SGDT and SIDT are not privileged (no UMIP on this CPU): CPL 3 stores", () => {
    const r = run({ env: "user", code: c32("0f 01 0b", `sidt [ebx]`), mem: new Uint8Array(8) });
    expect(r.fault).toBeNull();
  });
  it("SGDT to a read-only page at CPL 0 with WP=1 faults #PF(P|W) before storing anything", () => {
    // Map the scratch page read-only by clearing R/W in its PTE (PT at 0x2000, entry 0x200).
    const r = run({
      code: c32(
        "83 25 00 28 00 00 fd 0f 01 3b 0f 01 83 fc 0f 00 00",
        `and dword [0x2000+0x200*4], ~2
invlpg [ebx]
sgdt [ebx+0xffc]`,
      ),
      mem: new Uint8Array(4096),
    });
    expect(r.fault?.vector).toBe(PF);
    expect(r.fault?.errorCode).toBe(3);
  });
  it("SGDT with a register operand is #UD", () => {
    const r = run({ code: c32("0f 01 c0", `db 0x0f, 0x01, 0xc0`) });
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 0 });
  });
});

describe("LGDT / LIDT (Vol. 2A LGDT/LIDT)", () => {
  it("32-bit operand size loads the 16-bit limit and 32-bit base", () => {
    const b = new Buf(16).pdesc(0, 0x07ff, 0x00345678).pdesc(8, 0x0123, 0xfedcba98);
    const r = runCpu({
      code: c32(
        "0f 01 13 0f 01 5b 08",
        `lgdt [ebx]
lidt [ebx+8]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect([r.cpu.gdtBase >>> 0, r.cpu.gdtLimit]).toEqual([0x00345678, 0x07ff]);
    expect([r.cpu.idtBase >>> 0, r.cpu.idtLimit]).toEqual([0xfedcba98, 0x0123]);
  });
  it("16-bit operand size loads a 24-bit base (high byte zero)", () => {
    const b = new Buf(16).pdesc(0, 0x07ff, 0xab345678).pdesc(8, 0x0123, 0xfedcba98);
    const r = runCpu({
      code: c32(
        "66 0f 01 13 66 0f 01 5b 08",
        `o16 lgdt [ebx]
o16 lidt [ebx+8]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.gdtBase >>> 0).toBe(0x00345678);
    expect(r.cpu.idtBase >>> 0).toBe(0x00dcba98);
  });
  it("LGDT at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 01 13", `lgdt [ebx]`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("LIDT at CPL 3 is #GP(0)", () => {
    const r = run({
      env: "user",
      code: c32(
        "90 0f 01 1b",
        `nop
lidt [ebx]`,
      ),
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 1 });
  });
  it("LGDT with a register operand is #UD", () => {
    const r = run({ code: c32("0f 01 d0", `db 0x0f, 0x01, 0xd0`) });
    expect(r.fault?.vector).toBe(UD);
  });
});

/** Scratch with a GDT at +0x100 (pseudo-descriptor at +0): flat 0x08-0x20, LDT 0x30, TSS 0x38, ... */
function sysGdt(): Buf {
  const b = new Buf(1024);
  b.pdesc(0, 0xff, M + 0x100).flatGdt(0x100);
  // 0x28: data DPL 0 (used as a "wrong type" for LLDT/LTR)
  b.desc(0x128, [0x0000ffff, 0x00cf9200]);
  // 0x30: LDT at M+0x300, limit 0x17 (3 entries)
  b.desc(0x130, [((M + 0x300) << 16) | 0x17, 0x00008200 | ((M + 0x300) >>> 16)]);
  // 0x38: 32-bit available TSS at M+0x200, limit 0x67
  b.desc(0x138, [((M + 0x200) << 16) | 0x67, 0x00008900 | ((M + 0x200) >>> 16)]);
  // 0x40: 32-bit busy TSS
  b.desc(0x140, [((M + 0x200) << 16) | 0x67, 0x00008b00 | ((M + 0x200) >>> 16)]);
  // 0x48: not-present LDT
  b.desc(0x148, [((M + 0x300) << 16) | 0x17, 0x00000200 | ((M + 0x300) >>> 16)]);
  // 0x50: not-present available TSS
  b.desc(0x150, [((M + 0x200) << 16) | 0x67, 0x00000900 | ((M + 0x200) >>> 16)]);
  // 0x58: 16-bit available TSS, limit 0x2b
  b.desc(0x158, [((M + 0x280) << 16) | 0x2b, 0x00008100 | ((M + 0x280) >>> 16)]);
  // 0x60: 32-bit call gate (a system descriptor that is neither LDT nor TSS)
  b.desc(0x160, [0x00080000, 0x0000ec00]);
  // LDT entry 1 (selector 0x0C): data DPL 0 base 0x1000 limit 0xfff
  b.desc(0x308, [0x10000fff, 0x00409200]);
  return b;
}

describe("SLDT / STR (Vol. 2B SLDT, STR)", () => {
  it("SLDT r32 zero-extends the selector; r16 leaves the upper half; m16 writes 2 bytes", () => {
    const b = sysGdt();
    b.u8.fill(0xee, 0x80, 0x88);
    const r = run({
      code: c32(
        "0f 01 13 66 b8 30 00 0f 00 d0 b9 ff ff ff ff ba ff ff ff ff 0f 00 c1 66 0f 00 c2 0f 00 83 80 00 00 00",
        `lgdt [ebx]
mov ax, 0x30
lldt ax
mov ecx, 0xffffffff
mov edx, 0xffffffff
sldt ecx
sldt dx
sldt [ebx+0x80]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx).toBe(0x30);
    expect(r.regs.edx).toBe(0xffff0030);
    expect([...r.mem.slice(0x80, 0x84)]).toEqual([0x30, 0x00, 0xee, 0xee]);
  });
  it("STR r32 / r16 / m16 store the task register selector (0x28 in the kernel env)", () => {
    const b = new Buf(16).d32(0, -1);
    const r = run({
      code: c32(
        "b9 ff ff ff ff ba ff ff ff ff 0f 00 c9 66 0f 00 ca 0f 00 0b",
        `mov ecx, 0xffffffff
mov edx, 0xffffffff
str ecx
str dx
str [ebx]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx).toBe(0x28);
    expect(r.regs.edx).toBe(0xffff0028);
    expect(rd32(r.mem, 0)).toBe(0xffff0028);
  });
  it("SLDT and STR are allowed at CPL 3 (no UMIP)", () => {
    const r = run({
      env: "user",
      code: c32(
        "0f 00 c8 0f 00 c1",
        `str eax
sldt ecx`,
      ),
      regs: { eax: -1, ecx: -1 },
    });
    expect(r.fault).toBeNull();
    expect(r.regs.eax).toBe(0x28);
    expect(r.regs.ecx).toBe(0);
  });
});

describe("LLDT (Vol. 2A LLDT)", () => {
  it("loads LDTR from an LDT descriptor; an LDT selector then reads from it", () => {
    const b = sysGdt();
    const r = runCpu({
      code: c32(
        "0f 01 13 66 b8 30 00 0f 00 d0 66 b8 0c 00 8e c0 26 8b 0d 00 00 00 00",
        `lgdt [ebx]
mov ax, 0x30
lldt ax
mov ax, 0x0c
mov es, ax
mov ecx, [es:0]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.ldtSel).toBe(0x30);
    expect(r.cpu.ldtBase >>> 0).toBe(M + 0x300);
    expect(r.cpu.ldtLimit).toBe(0x17);
    expect(r.cpu.segBase[0]).toBe(0x1000);
    // Linear 0x1000 is the snippet page directory: PDE 0 = PT 0x2000 | U/S | R/W | P (| A).
    expect(r.regs.ecx & ~0x60).toBe(0x2007);
  });
  it("a null selector marks LDTR invalid without a fault; LDT selectors then fault #GP(sel)", () => {
    const b = sysGdt();
    const r = runCpu({
      code: c32(
        "0f 01 13 66 b8 30 00 0f 00 d0 31 c0 0f 00 d0 66 b8 0c 00 8e c0",
        `lgdt [ebx]
mov ax, 0x30
lldt ax
xor eax, eax
lldt ax
mov ax, 0x0c
mov es, ax`,
      ),
      mem: b.u8,
    });
    expect(r.cpu.ldtSel).toBe(0);
    expect(r.fault?.vector).toBe(GP);
    expect(r.fault?.errorCode).toBe(0x0c);
  });
  it.each([
    ["a data segment", 0x28, GP, 0x28],
    ["a TSS", 0x38, GP, 0x38],
    ["a call gate", 0x60, GP, 0x60],
    ["a selector with TI=1", 0x34, GP, 0x34],
    ["a selector beyond the GDT limit", 0x1000, GP, 0x1000],
    ["a not-present LDT", 0x48, 11, 0x48],
  ])("LLDT with %s faults", (_n, sel, vec, code) => {
    const b = sysGdt();
    const r = run({
      code: c32(
        "0f 01 13 0f 00 d1",
        `lgdt [ebx]
lldt cx`,
      ),
      regs: { ecx: sel },
      mem: b.u8,
    });
    expect(r.fault).toEqual({ vector: vec, errorCode: code, eipOffset: 3 });
  });
  it("LLDT at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 00 d0", `lldt ax`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("LTR (Vol. 2A LTR)", () => {
  it("loads TR and marks the TSS descriptor busy (type 9 -> B)", () => {
    const b = sysGdt();
    const r = runCpu({
      code: c32(
        "0f 01 13 66 b8 38 00 0f 00 d8",
        `lgdt [ebx]
mov ax, 0x38
ltr ax`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.trSel).toBe(0x38);
    expect(r.cpu.trBase >>> 0).toBe(M + 0x200);
    expect(r.cpu.trLimit).toBe(0x67);
    expect(r.mem[0x13d]).toBe(0x8b);
  });
  it("a 16-bit TSS becomes busy (type 1 -> 3)", () => {
    const b = sysGdt();
    const r = run({
      code: c32(
        "0f 01 13 66 b8 58 00 0f 00 d8",
        `lgdt [ebx]
mov ax, 0x58
ltr ax`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.mem[0x15d]).toBe(0x83);
  });
  it.each([
    ["a null selector", 0, GP, 0],
    ["a busy TSS", 0x40, GP, 0x40],
    ["an LDT descriptor", 0x30, GP, 0x30],
    ["a data segment", 0x28, GP, 0x28],
    ["a selector with TI=1", 0x3c, GP, 0x3c],
    ["a selector beyond the GDT limit", 0x800, GP, 0x800],
    ["a not-present TSS", 0x50, 11, 0x50],
  ])("LTR with %s faults", (_n, sel, vec, code) => {
    const b = sysGdt();
    const r = run({
      code: c32(
        "0f 01 13 0f 00 d9",
        `lgdt [ebx]
ltr cx`,
      ),
      regs: { ecx: sel },
      mem: b.u8,
    });
    expect(r.fault).toEqual({ vector: vec, errorCode: code, eipOffset: 3 });
  });
  it("LTR at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 00 d8", `ltr ax`), regs: { eax: 0x28 } });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("SMSW / LMSW / CLTS (Vol. 2B SMSW, 2A LMSW, CLTS)", () => {
  it("SMSW r16 stores CR0[15:0] and keeps the upper half; r32 low half is CR0[15:0]", () => {
    const r = run({
      code: c32(
        "66 0f 01 e0 0f 01 e1",
        `smsw ax
smsw ecx`,
      ),
      regs: { eax: 0xaaaa5555 },
    });
    expect(r.regs.eax).toBe(0xaaaa0031);
    expect(r.regs.ecx & 0xffff).toBe(0x0031);
  });
  it("SMSW m16 writes two bytes", () => {
    const r = run({ code: c32("0f 01 23", `smsw [ebx]`), mem: new Uint8Array(4).fill(0xee) });
    expect([...r.mem]).toEqual([0x31, 0x00, 0xee, 0xee]);
  });
  it("SMSW is allowed at CPL 3", () => {
    const r = run({ env: "user", code: c32("66 0f 01 e0", `smsw ax`) });
    expect(r.fault).toBeNull();
    expect(r.regs.eax).toBe(0x0031);
  });
  it("LMSW loads MP/EM/TS and cannot clear PE", () => {
    const r = runCpu({ code: c32("0f 01 f0", `lmsw ax`), regs: { eax: 0x000e } });
    expect(r.fault).toBeNull();
    expect(r.cpu.cr0 >>> 0).toBe((KCR0 | 0xe) >>> 0);
  });
  it("LMSW ignores bits 4-15 of the source", () => {
    const r = runCpu({ code: c32("0f 01 f0", `lmsw ax`), regs: { eax: 0xfff0 } });
    expect(r.cpu.cr0 >>> 0).toBe(KCR0);
  });
  it("LMSW at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 01 f0", `lmsw ax`), regs: { eax: 1 } });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("CLTS clears CR0.TS", () => {
    const r = runCpu({
      code: c32(
        "0f 20 c0 83 c8 08 0f 22 c0 0f 20 c1 0f 06 0f 20 c2",
        `mov eax, cr0
or eax, 8
mov cr0, eax
mov ecx, cr0
clts
mov edx, cr0`,
      ),
    });
    expect(r.regs.ecx).toBe((KCR0 | 8) >>> 0);
    expect(r.regs.edx).toBe(KCR0);
  });
  it("CLTS at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 06", `clts`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("with CR0.TS=1 an x87 instruction is #NM (Vol. 3 2.5, Table 2-2)", () => {
    const r = run({
      code: c32(
        "0f 20 c0 83 c8 08 0f 22 c0 d9 e8",
        `mov eax, cr0
or eax, 8
mov cr0, eax
fld1`,
      ),
    });
    expect(r.fault?.vector).toBe(7);
  });
});

describe("MOV to/from control registers (Vol. 2B MOV—Move to/from Control Registers)", () => {
  it("reads CR0, CR3 and CR4 of the kernel environment", () => {
    const r = run({
      code: c32(
        "0f 20 c0 0f 20 d9 0f 20 e2",
        `mov eax, cr0
mov ecx, cr3
mov edx, cr4`,
      ),
    });
    expect(r.regs.eax).toBe(KCR0);
    expect(r.regs.ecx).toBe(0x1000);
    expect(r.regs.edx).toBe(0x10);
  });
  it("CR2 is readable and writable", () => {
    const r = run({
      code: c32(
        "0f 22 d0 0f 20 d1",
        `mov cr2, eax
mov ecx, cr2`,
      ),
      regs: { eax: 0xdeadbeef },
    });
    expect(r.regs.ecx).toBe(0xdeadbeef);
  });
  it("CR3 keeps PWT and PCD", () => {
    const r = run({
      code: c32(
        "b8 18 10 00 00 0f 22 d8 0f 20 d9",
        `mov eax, 0x1018
mov cr3, eax
mov ecx, cr3`,
      ),
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx).toBe(0x1018);
  });
  it("CR4 accepts the bits of supported features (PSE, PGE, PCE, OSFXSR, TSD)", () => {
    const r = run({
      code: c32(
        "b8 94 03 00 00 0f 22 e0 0f 20 e1",
        `mov eax, 0x394
mov cr4, eax
mov ecx, cr4`,
      ),
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx).toBe(0x394);
  });
  it.each([
    ["PAE (bit 5, not supported by this CPU)", 0x20],
    ["MCE (bit 6, not advertised)", 0x40],
    ["bit 11", 0x800],
    ["bit 13 (VMXE, no VMX)", 0x2000],
    ["bit 31", 0x80000000],
  ])("setting reserved CR4 bit %s is #GP(0)", (_n, bit) => {
    const r = runCpu({
      code: c32(
        "83 c8 10 0f 22 e0",
        `or eax, 0x10
mov cr4, eax`,
      ),
      regs: { eax: bit },
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 3 });
    expect(r.cpu.cr4).toBe(0x10);
  });
  it("CR4.VME/PVI are #GP(0): CPUID.1:EDX.VME=0 and V86/PVI are not implemented", () => {
    // SDM Vol. 3 2.5: VME/PVI are features enumerated by CPUID.1:EDX.VME; writing a 1 to a CR4 bit
    // the processor does not support is #GP(0).
    const r = run({
      code: c32(
        "b8 12 00 00 00 0f 22 e0",
        `mov eax, 0x12
mov cr4, eax`,
      ),
    });
    expect(r.fault?.vector).toBe(GP);
  });
  it("CR0 with PG=1 and PE=0 is #GP(0)", () => {
    const r = runCpu({ code: c32("0f 22 c0", `mov cr0, eax`), regs: { eax: 0x80000010 } });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
    expect(r.cpu.cr0 >>> 0).toBe(KCR0);
  });
  it("CR0 with NW=1 and CD=0 is #GP(0)", () => {
    const r = runCpu({
      code: c32(
        "0f 20 c0 0d 00 00 00 20 0f 22 c0",
        `mov eax, cr0
or eax, 0x20000000
mov cr0, eax`,
      ),
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 8 });
    expect(r.cpu.cr0 >>> 0).toBe(KCR0);
  });
  it("CR0 with CD=1 and NW=1 is accepted", () => {
    const r = run({
      code: c32(
        "0f 20 c0 0d 00 00 00 60 0f 22 c0 0f 20 c1",
        `mov eax, cr0
or eax, 0x60000000
mov cr0, eax
mov ecx, cr0`,
      ),
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx).toBe((KCR0 | 0x60000000) >>> 0);
  });
  it.each([
    ["CR1 read", "0f 20 c8"],
    ["CR5 read", "0f 20 e8"],
    ["CR6 write", "0f 22 f0"],
    ["CR7 write", "0f 22 f8"],
  ])("%s is #UD", (_n, h) => {
    const r = run({ code: c32(h, "(hand-encoded MOV r32 <-> CRn)") });
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 0 });
  });
  it.each([
    ["MOV from CR0", c32("0f 20 c0", `mov eax, cr0`)],
    ["MOV to CR3", c32("0f 22 d8", `mov cr3, eax`)],
    ["MOV to CR4", c32("0f 22 e0", `mov cr4, eax`)],
  ])("%s at CPL 3 is #GP(0)", (_n, code) => {
    const r = run({ env: "user", code });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("MOV to/from debug registers (Vol. 2B MOV—Move to/from Debug Registers; Vol. 3 17.2)", () => {
  it("DR0-DR3 hold any linear address", () => {
    const r = run({
      code: c32(
        "0f 23 c0 0f 23 d8 0f 21 c1 0f 21 da",
        `mov dr0, eax
mov dr3, eax
mov ecx, dr0
mov edx, dr3`,
      ),
      regs: { eax: 0x12345678 },
    });
    expect([r.regs.ecx, r.regs.edx]).toEqual([0x12345678, 0x12345678]);
  });
  it("DR6 and DR7 read their reserved bits as fixed (DR6 FFFF0FF0, DR7 bit 10)", () => {
    const r = run({
      code: c32(
        "31 c0 0f 23 f0 0f 23 f8 0f 21 f1 0f 21 fa",
        `xor eax, eax
mov dr6, eax
mov dr7, eax
mov ecx, dr6
mov edx, dr7`,
      ),
    });
    expect(r.regs.ecx).toBe(0xffff0ff0);
    expect(r.regs.edx).toBe(0x400);
  });
  it("with CR4.DE=0, DR4 and DR5 alias DR6 and DR7", () => {
    const r = run({
      code: c32(
        "b8 0f 00 00 00 0f 23 e0 0f 21 f1 b8 03 00 00 00 0f 23 e8 0f 21 fa 0f 21 e6 0f 21 ef",
        `mov eax, 0x0f
mov dr4, eax
mov ecx, dr6
mov eax, 0x03
mov dr5, eax
mov edx, dr7
mov esi, dr4
mov edi, dr5`,
      ),
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx).toBe(0xffff0fff);
    expect(r.regs.edx).toBe(0x403);
    expect(r.regs.esi).toBe(0xffff0fff);
    expect(r.regs.edi).toBe(0x403);
  });
  it("with CR4.DE=1, DR4/DR5 references are #UD", () => {
    const r = run({
      code: c32(
        "b8 18 00 00 00 0f 22 e0 0f 21 e9",
        `mov eax, 0x18
mov cr4, eax
mov ecx, dr5`,
      ),
    });
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 8 });
  });
  it("MOV DR at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 21 f8", `mov eax, dr7`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("RDMSR / WRMSR / RDTSC (Vol. 2B; Vol. 4 MSR tables)", () => {
  it("SYSENTER_CS/ESP/EIP round-trip", () => {
    const r = runCpu({
      code: c32(
        "31 d2 b9 74 01 00 00 b8 10 00 00 00 0f 30 41 b8 44 33 22 11 0f 30 41 b8 88 77 66 55 0f 30 b9 74 01 00 00 0f 32 89 c6 41 0f 32 89 c7 41 0f 32",
        `xor edx, edx
mov ecx, 0x174
mov eax, 0x10
wrmsr
inc ecx
mov eax, 0x11223344
wrmsr
inc ecx
mov eax, 0x55667788
wrmsr
mov ecx, 0x174
rdmsr
mov esi, eax
inc ecx
rdmsr
mov edi, eax
inc ecx
rdmsr`,
      ),
    });
    expect(r.fault).toBeNull();
    expect([r.regs.esi, r.regs.edi, r.regs.eax, r.regs.edx]).toEqual([0x10, 0x11223344, 0x55667788, 0]);
    expect([r.cpu.sysenterCs, r.cpu.sysenterEsp, r.cpu.sysenterEip]).toEqual([0x10, 0x11223344, 0x55667788]);
  });
  it("WRMSR to the TSC sets the counter RDTSC then reads", () => {
    const r = run({
      code: c32(
        "b9 10 00 00 00 ba 05 00 00 00 31 c0 0f 30 0f 31 89 d6 89 c7 b9 10 00 00 00 0f 32",
        `mov ecx, 0x10
mov edx, 5
xor eax, eax
wrmsr
rdtsc
mov esi, edx
mov edi, eax
mov ecx, 0x10
rdmsr`,
      ),
    });
    expect(r.fault).toBeNull();
    expect(r.regs.esi).toBe(5);
    expect(r.regs.edi).toBeLessThan(100);
    expect(r.regs.edx).toBe(5);
    expect(r.regs.eax).toBeGreaterThanOrEqual(r.regs.edi);
  });
  it.each([
    ["RDMSR", c32("0f 32", `rdmsr`)],
    ["WRMSR", c32("0f 30", `wrmsr`)],
  ])("%s of an unimplemented MSR (0xC0000080, no long mode) is #GP(0)", (_n, code) => {
    const r = run({ code, regs: { ecx: 0xc0000080 } });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("RDMSR at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 32", `rdmsr`), regs: { ecx: 0x10 } });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("RDTSC at CPL 3 works with CR4.TSD=0", () => {
    const r = run({ env: "user", code: c32("0f 31", `rdtsc`) });
    expect(r.fault).toBeNull();
  });
  it("RDTSC at CPL 3 with CR4.TSD=1 is #GP(0); at CPL 0 it works", () => {
    const ok = run({
      code: c32(
        "b8 14 00 00 00 0f 22 e0 0f 31",
        `mov eax, 0x14
mov cr4, eax
rdtsc`,
      ),
    });
    expect(ok.fault).toBeNull();
    const r = run({
      code: c32(
        "b8 14 00 00 00 0f 22 e0 89 e0 6a 23 50 9c 6a 1b 68 16 00 10 00 cf 0f 31",
        `mov eax, 0x14
mov cr4, eax
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
rdtsc`,
      ),
    });
    expect(r.fault?.vector).toBe(GP);
    expect(r.fault?.errorCode).toBe(0);
    expect(r.fault?.eipOffset).toBe(22); // rdtsc is the last instruction (2 bytes of 24)
  });
  it("RDPMC at CPL 3 with CR4.PCE=0 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 33", `rdpmc`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("CPUID (Vol. 2A CPUID) — values documented in cpu.ts / exec-sys.ts", () => {
  const cpuidOf = (leaf: number) =>
    run({ env: "user", code: c32("0f a2", `cpuid`), regs: { eax: leaf } }).regs;
  const str = (...d: number[]) =>
    String.fromCharCode(...d.flatMap((x) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24]));
  it("leaf 0: max basic leaf 1, vendor GenuineIntel in EBX EDX ECX", () => {
    const r = cpuidOf(0);
    expect(r.eax).toBe(1);
    expect(str(r.ebx, r.edx, r.ecx)).toBe("GenuineIntel");
  });
  it("leaf 1: signature family 6 model 3 stepping 3; documented feature bits only", () => {
    const r = cpuidOf(1);
    expect(r.eax).toBe(0x633);
    expect((r.eax >>> 8) & 0xf).toBe(6);
    expect(r.ecx).toBe(0);
    // FPU DE PSE TSC MSR CX8 SEP PGE CMOV FXSR
    expect(r.edx).toBe(0x0100a93d);
  });
  it("leaf 1: no MMX, SSE, SSE2, PAE, APIC, MCE, VME, HTT bits", () => {
    const d = cpuidOf(1).edx;
    for (const bit of [1, 6, 7, 9, 12, 14, 16, 17, 19, 23, 25, 26, 28])
      expect((d >>> bit) & 1, `bit ${bit}`).toBe(0);
  });
  it("leaf 0x80000000 reports 0x80000004 as the highest extended leaf", () => {
    expect(cpuidOf(0x80000000).eax).toBe(0x80000004);
  });
  it("leaf 0x80000001 reports no extended features (no NX, no LM, no SYSCALL)", () => {
    const r = cpuidOf(0x80000001);
    expect([r.ecx, r.edx]).toEqual([0, 0]);
  });
  it("leaves 0x80000002-4 give the NUL-padded 48-byte brand string", () => {
    const s = [0x80000002, 0x80000003, 0x80000004]
      .map((l) => cpuidOf(l))
      .map((r) => str(r.eax, r.ebx, r.ecx, r.edx))
      .join("");
    expect(s.length).toBe(48);
    expect(s.replace(/\0+$/, "")).toBe("VirtLab P6-class virtual CPU");
    expect(s.endsWith("\0")).toBe(true);
  });
  it("a basic leaf above the maximum returns the highest basic leaf's data", () => {
    expect(cpuidOf(2)).toMatchObject({ eax: 0x633, edx: 0x0100a93d });
  });
  // Feature bits must agree with what is implemented.
  it("CX8 set => CMPXCHG8B works", () => {
    const b = new Buf(8).d32(0, 1).d32(4, 2);
    const r = run({
      env: "user",
      code: c32("0f c7 0b", `cmpxchg8b [ebx]`),
      regs: { eax: 1, edx: 2, ecx: 4, ebx: 0 },
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(rd32(r.mem, 4)).toBe(4);
  });
  it("CMOV set => CMOVcc works", () => {
    const r = run({
      env: "user",
      code: c32(
        "39 c0 0f 44 ca",
        `cmp eax, eax
cmove ecx, edx`,
      ),
      regs: { edx: 7 },
    });
    expect(r.regs.ecx).toBe(7);
  });
  it("FXSR set => FXSAVE executes (CR4.OSFXSR=1) and stores FCW 0x037F", () => {
    const r = run({
      code: c32(
        "b8 10 02 00 00 0f 22 e0 0f ae 03",
        `mov eax, 0x210
mov cr4, eax
fxsave [ebx]`,
      ),
      mem: new Uint8Array(512),
    });
    expect(r.fault).toBeNull();
    expect(rd16(r.mem, 0)).toBe(0x037f);
  });
  it("PGE and PSE set => CR4.PGE and CR4.PSE are writable", () => {
    const r = run({
      code: c32(
        "b8 90 00 00 00 0f 22 e0 0f 20 e1",
        `mov eax, 0x90
mov cr4, eax
mov ecx, cr4`,
      ),
    });
    expect(r.regs.ecx).toBe(0x90);
  });
  it("MMX clear => MOVQ mm0, [ebx] is #UD", () => {
    const r = run({ env: "user", code: c32("0f 6f 03", `movq mm0, [ebx]`) });
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 0 });
  });
  it("SSE clear => MOVAPS xmm0, xmm1 is #UD", () => {
    const r = run({ env: "user", code: c32("0f 28 c1", `movaps xmm0, xmm1`) });
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 0 });
  });
});

describe("SYSENTER / SYSEXIT (Vol. 2B)", () => {
  // MSRs: CS=0x08, ESP=0x370000, EIP=`entry`; drop to CPL 3; SYSENTER.
  const enter = c32(
    "31 d2 b9 74 01 00 00 b8 08 00 00 00 0f 30 41 b8 00 00 37 00 0f 30 41 b8 35 00 10 00 0f 30 89 e0 6a 23 50 68 02 32 00 00 6a 1b 68 30 00 10 00 cf 89 e5 0f 34 90 9c 5f",
    `xor edx, edx
mov ecx, 0x174
mov eax, 0x08
wrmsr
inc ecx
mov eax, 0x370000
wrmsr
inc ecx
mov eax, entry
wrmsr
mov eax, esp
push dword 0x23
push eax
push dword 0x3202
push dword 0x1b
push dword r3
iretd
r3:
mov ebp, esp
sysenter
nop
entry:
pushfd
pop edi`,
  );
  it("SYSENTER enters CPL 0 with CS=MSR, SS=MSR+8, ESP/EIP from the MSRs, IF and VM cleared", () => {
    const r = runCpu({ code: enter });
    expect(r.fault).toBeNull();
    expect(r.cpu.cpl).toBe(0);
    expect(r.cpu.sel[SEG_CS]).toBe(0x08);
    expect(r.cpu.sel[SEG_SS]).toBe(0x10);
    expect(r.regs.esp).toBe(0x370000);
    expect(r.regs.edi & IF).toBe(0);
    // IOPL is not changed by SYSENTER
    expect(r.regs.edi & 0x3000).toBe(0x3000);
    // The flat CS/SS caches: base 0, limit 4 GiB, 32-bit.
    expect(r.cpu.segBase[SEG_CS]).toBe(0);
    expect(r.cpu.segLimit[SEG_SS]).toBe(-1);
  });
  it("SYSEXIT returns to CPL 3 with CS=MSR+16|3, SS=MSR+24|3, ESP=ECX, EIP=EDX", () => {
    const r = runCpu({
      code: c32(
        "31 d2 b9 74 01 00 00 b8 08 00 00 00 0f 30 b9 00 00 36 00 ba 1b 00 10 00 0f 35 90",
        `xor edx, edx
mov ecx, 0x174
mov eax, 0x08
wrmsr
mov ecx, 0x360000
mov edx, user
sysexit
nop
user:`,
      ),
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.cpl).toBe(3);
    expect(r.cpu.sel[SEG_CS]).toBe(0x1b);
    expect(r.cpu.sel[SEG_SS]).toBe(0x23);
    expect(r.regs.esp).toBe(0x360000);
  });
  it("SYSENTER with SYSENTER_CS = 0 is #GP(0)", () => {
    const r = run({ code: c32("0f 34", `sysenter`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("SYSEXIT with SYSENTER_CS = 0 is #GP(0)", () => {
    const r = run({ code: c32("0f 35", `sysexit`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("SYSEXIT at CPL 3 is #GP(0)", () => {
    const r = run({ env: "user", code: c32("0f 35", `sysexit`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("SYSENTER in real mode is #GP(0)", () => {
    const r = run({ env: "real", code: new Uint8Array([0x0f, 0x34]) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("INVD / WBINVD / INVLPG / HLT privilege (Vol. 2A)", () => {
  it.each([
    ["INVD", c32("0f 08", `invd`)],
    ["WBINVD", c32("0f 09", `wbinvd`)],
    ["INVLPG", c32("0f 01 3b", `invlpg [ebx]`)],
  ])("%s at CPL 0 completes", (_n, code) => {
    expect(run({ code }).fault).toBeNull();
  });
  it.each([
    ["INVD", c32("0f 08", `invd`)],
    ["WBINVD", c32("0f 09", `wbinvd`)],
    ["INVLPG", c32("0f 01 3b", `invlpg [ebx]`)],
    ["HLT", c32("f4", `hlt`)],
  ])("%s at CPL 3 is #GP(0)", (_n, code) => {
    expect(run({ env: "user", code }).fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("INVLPG drops the stale translation of one page", () => {
    // Read [ebx] (fills the TLB), remap linear page 0x200 to physical page 0x201 in the PT, then
    // read again before and after INVLPG.
    const r = run({
      code: c32(
        "c7 83 00 10 00 00 22 22 22 22 c7 03 11 11 11 11 8b 03 c7 05 00 28 00 00 07 10 20 00 0f 01 3b 8b 0b c7 05 00 28 00 00 07 00 20 00 0f 01 3b",
        `mov dword [ebx+0x1000], 0x22222222
mov dword [ebx], 0x11111111
mov eax, [ebx]
mov dword [0x2000+0x200*4], 0x201007
invlpg [ebx]
mov ecx, [ebx]
mov dword [0x2000+0x200*4], 0x200007
invlpg [ebx]`,
      ),
      mem: new Uint8Array(4096),
    });
    expect(r.fault).toBeNull();
    expect(r.regs.eax).toBe(0x11111111);
    expect(r.regs.ecx).toBe(0x22222222);
  });
  it("INVLPG with a register operand is #UD", () => {
    const r = run({ code: c32("0f 01 f8", "(hand-encoded INVLPG with mod=3)") });
    expect(r.fault?.vector).toBe(UD);
  });
});

void CODE;
