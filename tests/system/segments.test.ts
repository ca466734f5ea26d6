// Protected-mode segmentation: LAR/LSL/VERR/VERW on crafted descriptors, ARPL, segment-register
// loads with their exact faults, LDS/LES/LFS/LGS/LSS, limit checks, far JMP/CALL/RETF (including
// call gates), and INT n / exceptions / IRET through an IDT built by the test. Expected values
// follow the Intel SDM (Vol. 2 instruction pages, Vol. 3 chapters 3, 5 and 6).
import { describe, it, expect } from "vitest";
import {
  Buf,
  c32,
  CODE,
  DE,
  GP,
  M,
  NP,
  PF,
  rd16,
  rd32,
  run,
  runCpu,
  runFree,
  SS,
  STACK,
  UD,
  ZF,
  gate,
  seg,
} from "./helper.ts";
import { SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS } from "../../src/engine/cpu/decoder.ts";

/** Descriptors of the test GDT (at scratch +0x100; pseudo-descriptor at scratch +0). */
const D: Record<number, [number, number]> = {
  0x08: seg(0, 0xfffff, 0x9a, 0xc), // flat code DPL 0 (as in flatGdt)
  0x28: seg(0x12345678, 0x5abcd, 0x92, 0x4), // data DPL 0, byte granular
  0x30: seg(0, 0x12, 0x92, 0xc), // data, G=1: limit 0x12FFF
  0x38: seg(0, 0xfffff, 0xfe, 0xc), // conforming readable code DPL 3
  0x40: seg(0, 0xfffff, 0x92, 0xc), // data DPL 0 flat
  0x48: seg(0, 0xfffff, 0x98, 0xc), // execute-only code DPL 0
  0x50: seg(0, 0xfffff, 0x90, 0xc), // read-only data DPL 0
  0x58: seg(M + 0x300, 0x17, 0x82, 0), // LDT
  0x60: seg(M + 0x400, 0x67, 0x89, 0), // 32-bit TSS (available)
  0x68: seg(M + 0x400, 0x67, 0x8b, 0), // 32-bit TSS (busy)
  0x70: gate(0x08, CODE + 0x100, 0xec, 2), // 32-bit call gate DPL 3 -> 0x08:H1, 2 params
  0x78: gate(0x08, CODE + 0x100, 0x8e), // 32-bit interrupt gate
  0x80: gate(0x08, CODE + 0x100, 0x8f), // 32-bit trap gate
  0x88: gate(0x60, 0, 0x85), // task gate
  0x90: gate(0x08, 0x100, 0x84), // 16-bit call gate DPL 0
  0x98: seg(0, 0, 0x80, 0), // system type 0 (reserved)
  0xa0: seg(0, 0, 0x88, 0), // system type 8 (reserved)
  0xa8: seg(0, 0, 0x8a, 0), // system type A (reserved)
  0xb0: seg(0, 0, 0x8d, 0), // system type D (reserved)
  0xb8: seg(0, 0xfffff, 0x12, 0xc), // not-present writable data DPL 0
  0xc0: seg(0, 0xfffff, 0xf2, 0xc), // data DPL 3
  0xc8: seg(0, 0xfffff, 0x9c, 0xc), // conforming execute-only code DPL 0
  0xd0: seg(M + 0x480, 0x2b, 0x81, 0), // 16-bit TSS (available)
  0xd8: gate(0x08, 0x100, 0x86), // 16-bit interrupt gate
  0xe0: seg(0, 0xfffff, 0xfa, 0xc), // readable code DPL 3 (non-conforming)
  0xe8: seg(0, 0xfffff, 0x1a, 0xc), // not-present code DPL 0
  0xf0: seg(M, 0xfff, 0x96, 0x4), // expand-down writable data, B=1 (valid offsets 0x1000..0xFFFFFFFF)
  0xf8: seg(M, 0xfff, 0x96, 0x0), // expand-down writable data, B=0 (valid offsets 0x1000..0xFFFF)
  0x100: seg(M, 0xfff, 0x92, 0x4), // expand-up data, limit 0xFFF
  0x108: gate(0x120, CODE + 0x180, 0x8c), // 32-bit call gate DPL 0 -> 0x120:H2
  0x110: gate(0x08, CODE + 0x180, 0xe4), // 16-bit call gate DPL 3 (not used for transfers)
  0x118: seg(0, 0xffff, 0x9a, 0), // 16-bit code, limit 0xFFFF
  0x120: seg(0, 0xfffff, 0x9a, 0xc), // flat code DPL 0 (alias of 0x08)
  0x128: seg(0, 0xfffff, 0x9e, 0xc), // conforming readable code DPL 0
};

function gdt(size = 4096): Buf {
  const b = new Buf(size);
  b.pdesc(0, 0x1ff, M + 0x100).flatGdt(0x100);
  for (const [sel, d] of Object.entries(D)) b.desc(0x100 + Number(sel), d);
  // TSS at +0x400: ESP0 = 0x370000, SS0 = 0x10; no I/O bitmap.
  b.d32(0x404, 0x370000).d32(0x408, 0x10).w16(0x466, 0x68);
  return b;
}

const hiOf = (sel: number) => D[sel & ~7]?.[1] ?? 0;

// --- LAR / LSL / VERR / VERW --------------------------------------------------------------------

type Probe = "lar" | "lsl" | "verr" | "verw";
const PROBE0: Record<Probe, Uint8Array> = {
  lar: c32(
    "0f 01 13 0f 02 c1 9c 5a",
    `lgdt [ebx]
lar eax, ecx
pushfd
pop edx`,
  ),
  lsl: c32(
    "0f 01 13 0f 03 c1 9c 5a",
    `lgdt [ebx]
lsl eax, ecx
pushfd
pop edx`,
  ),
  verr: c32(
    "0f 01 13 0f 00 e1 9c 5a",
    `lgdt [ebx]
verr cx
pushfd
pop edx`,
  ),
  verw: c32(
    "0f 01 13 0f 00 e9 9c 5a",
    `lgdt [ebx]
verw cx
pushfd
pop edx`,
  ),
};
const PROBE3: Record<Probe, Uint8Array> = {
  lar: c32(
    "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf b8 ef be ad de 0f 02 c1 9c 5a",
    `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
mov eax, 0xdeadbeef
lar eax, ecx
pushfd
pop edx`,
  ),
  lsl: c32(
    "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf b8 ef be ad de 0f 03 c1 9c 5a",
    `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
mov eax, 0xdeadbeef
lsl eax, ecx
pushfd
pop edx`,
  ),
  verr: c32(
    "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf 0f 00 e1 9c 5a",
    `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
verr cx
pushfd
pop edx`,
  ),
  verw: c32(
    "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf 0f 00 e9 9c 5a",
    `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
verw cx
pushfd
pop edx`,
  ),
};

function probe(op: Probe, sel: number, cpl3 = false): { zf: boolean; eax: number } {
  const r = run({
    code: (cpl3 ? PROBE3 : PROBE0)[op],
    regs: { eax: 0xdeadbeef, ecx: sel },
    mem: gdt(0x500).u8,
  });
  expect(r.fault).toBeNull();
  return { zf: (r.regs.edx & ZF) !== 0, eax: r.regs.eax };
}

describe("LAR (Vol. 2A LAR; valid types per its table)", () => {
  it.each([
    [0x08, "flat code"],
    [0x28, "data DPL 0"],
    [0x30, "data G=1"],
    [0x38, "conforming code DPL 3"],
    [0x48, "execute-only code"],
    [0x50, "read-only data"],
    [0x58, "LDT"],
    [0x60, "available 32-bit TSS"],
    [0x68, "busy 32-bit TSS"],
    [0x70, "32-bit call gate"],
    [0x88, "task gate"],
    [0x90, "16-bit call gate"],
    [0xb8, "not-present data (P is not checked)"],
    [0xd0, "available 16-bit TSS"],
  ])("selector %s (%s): ZF=1, EAX = high dword & 00FxFF00", (sel) => {
    const r = probe("lar", sel);
    expect(r.zf).toBe(true);
    // Bits 19:16 ("x") are undefined: masked out of the comparison.
    expect((r.eax & 0xfff0ffff) >>> 0).toBe((hiOf(sel) & 0x00f0ff00) >>> 0);
  });
  it.each([
    [0x78, "32-bit interrupt gate"],
    [0x80, "32-bit trap gate"],
    [0xd8, "16-bit interrupt gate"],
    [0x98, "reserved system type 0"],
    [0xa0, "reserved system type 8"],
    [0xa8, "reserved system type A"],
    [0xb0, "reserved system type D"],
    [0x00, "null selector"],
    [0x03, "null selector with RPL 3"],
    [0x1000, "selector beyond the GDT limit"],
    [0x0c, "LDT selector with no LDT loaded"],
    [0x2b, "DPL 0 data with RPL 3"],
  ])("selector %s (%s): ZF=0 and the destination is unchanged", (sel) => {
    const r = probe("lar", sel);
    expect(r.zf).toBe(false);
    expect(r.eax).toBe(0xdeadbeef);
  });
  it("16-bit operand size stores high dword & FF00 into AX only", () => {
    const r = run({
      code: c32(
        "0f 01 13 66 0f 02 c1",
        `lgdt [ebx]
lar ax, cx`,
      ),
      regs: { eax: 0xdeadbeef, ecx: 0x28 },
      mem: gdt(0x500).u8,
    });
    expect(r.regs.eax).toBe((0xdead0000 | (hiOf(0x28) & 0xff00)) >>> 0);
  });
  it.each([
    [0x28, false, "DPL 0 data"],
    [0xc3, true, "DPL 3 data"],
    [0x3b, true, "conforming code DPL 3"],
    [0xcb, true, "conforming execute-only code DPL 0 (no privilege check)"],
    [0x58, false, "LDT (DPL 0)"],
    [0x73, true, "call gate DPL 3"],
    [0x93, false, "call gate DPL 0"],
  ])("at CPL 3: selector %s -> ZF=%s (%s)", (sel, zf) => {
    expect(probe("lar", sel, true).zf).toBe(zf);
  });
});

describe("LSL (Vol. 2A LSL)", () => {
  it.each([
    [0x28, 0x5abcd],
    [0x30, 0x12fff],
    [0x08, 0xffffffff],
    [0x58, 0x17],
    [0x60, 0x67],
    [0x68, 0x67],
    [0xd0, 0x2b],
    [0xb8, 0xffffffff],
  ])("selector %s: ZF=1, limit %s (scaled by G)", (sel, lim) => {
    const r = probe("lsl", sel);
    expect(r.zf).toBe(true);
    expect(r.eax).toBe(lim);
  });
  it.each([[0x70], [0x78], [0x80], [0x88], [0x90], [0x98], [0xa0], [0], [0x1000], [0x2b]])(
    "selector %s: ZF=0 (gates and invalid types have no limit)",
    (sel) => {
      const r = probe("lsl", sel);
      expect(r.zf).toBe(false);
      expect(r.eax).toBe(0xdeadbeef);
    },
  );
  it("16-bit operand size stores the low 16 bits of the limit", () => {
    const r = run({
      code: c32(
        "0f 01 13 66 0f 03 c1",
        `lgdt [ebx]
lsl ax, cx`,
      ),
      regs: { eax: 0xdeadbeef, ecx: 0x30 },
      mem: gdt(0x500).u8,
    });
    expect(r.regs.eax).toBe(0xdead2fff);
  });
  it("at CPL 3 the DPL 0 TSS fails and the DPL 3 data segment succeeds", () => {
    expect(probe("lsl", 0x63, true).zf).toBe(false);
    const r = probe("lsl", 0xc3, true);
    expect(r).toEqual({ zf: true, eax: 0xffffffff });
  });
});

describe("VERR / VERW (Vol. 2B VERR/VERW)", () => {
  it.each([
    [0x08, true, false, "readable code"],
    [0x28, true, true, "writable data"],
    [0x38, true, false, "conforming readable code"],
    [0x48, false, false, "execute-only code"],
    [0x50, true, false, "read-only data"],
    [0x58, false, false, "LDT"],
    [0x60, false, false, "TSS"],
    [0x70, false, false, "call gate"],
    [0xc8, false, false, "conforming execute-only code"],
    [0xf0, true, true, "expand-down writable data"],
    [0x00, false, false, "null selector"],
    [0x1000, false, false, "beyond the GDT limit"],
    [0x2b, false, false, "DPL 0 data with RPL 3"],
  ])("selector %s: VERR %s, VERW %s (%s)", (sel, r, w) => {
    expect(probe("verr", sel).zf).toBe(r);
    expect(probe("verw", sel).zf).toBe(w);
  });
  it.each([
    [0x28, false, false],
    [0xc3, true, true],
    [0x3b, true, false],
    [0xe3, true, false],
    [0x0b, false, false],
  ])("at CPL 3: selector %s -> VERR %s, VERW %s", (sel, r, w) => {
    expect(probe("verr", sel, true).zf).toBe(r);
    expect(probe("verw", sel, true).zf).toBe(w);
  });
});

describe("ARPL (Vol. 2A ARPL)", () => {
  const code = c32(
    "63 c8 9c 5a",
    `arpl ax, cx
pushfd
pop edx`,
  );
  it.each([
    [0x0010, 0x0003, 0x0013, true],
    [0x0013, 0x0001, 0x0013, false],
    [0x0012, 0x0002, 0x0012, false],
    [0xfff8, 0x0001, 0xfff9, true],
  ])("ARPL dest %s src %s -> %s, ZF %s", (a, c, res, zf) => {
    const r = run({ code, regs: { eax: 0xabcd0000 | a, ecx: c } });
    expect(r.regs.eax).toBe((0xabcd0000 | res) >>> 0);
    expect((r.regs.edx & ZF) !== 0).toBe(zf);
  });
  it("memory destination", () => {
    const r = run({
      code: c32("63 0b", `arpl [ebx], cx`),
      regs: { ecx: 2 },
      mem: new Buf(4).d32(0, 0x11110028).u8,
    });
    expect(rd32(r.mem, 0)).toBe(0x1111002a);
  });
});

// --- segment register loads ---------------------------------------------------------------------------

const MOVSEG: Record<string, Uint8Array> = {
  ds: c32(
    "0f 01 13 8e d9",
    `lgdt [ebx]
mov ds, cx`,
  ),
  ss: c32(
    "0f 01 13 8e d1",
    `lgdt [ebx]
mov ss, cx`,
  ),
  fs: c32(
    "0f 01 13 8e e1",
    `lgdt [ebx]
mov fs, cx`,
  ),
};
const MOVSEG3: Record<string, Uint8Array> = {
  ds: c32(
    "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf 8e d9",
    `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
mov ds, cx`,
  ),
  ss: c32(
    "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf 8e d1",
    `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
mov ss, cx`,
  ),
};

describe("MOV Sreg / POP Sreg checks (Vol. 2A MOV, POP; Vol. 3 5.10)", () => {
  it.each([
    ["ds", 0x28, null],
    ["ds", 0x00, null],
    ["ds", 0x03, null],
    ["ds", 0x08, null],
    ["ds", 0x38, null],
    ["ds", 0x128, null],
    ["ds", 0x1000, [GP, 0x1000]],
    ["ds", 0x48, [GP, 0x48]],
    ["ds", 0x58, [GP, 0x58]],
    ["ds", 0x70, [GP, 0x70]],
    ["ds", 0x2b, [GP, 0x28]],
    ["ds", 0xb8, [NP, 0xb8]],
    ["ds", 0xe8, [NP, 0xe8]],
    ["ds", 0x0c, [GP, 0x0c]],
    ["fs", 0x28, null],
    ["fs", 0x48, [GP, 0x48]],
    ["ss", 0x28, null],
    ["ss", 0x00, [GP, 0]],
    ["ss", 0x50, [GP, 0x50]],
    ["ss", 0x08, [GP, 0x08]],
    ["ss", 0xc0, [GP, 0xc0]],
    ["ss", 0xc3, [GP, 0xc0]],
    ["ss", 0x2b, [GP, 0x28]],
    ["ss", 0x58, [GP, 0x58]],
    ["ss", 0xb8, [SS, 0xb8]],
  ] as [string, number, [number, number] | null][])("CPL 0: MOV %s, %s -> %s", (s, sel, f) => {
    const r = run({ code: MOVSEG[s], regs: { ecx: sel }, mem: gdt(0x500).u8 });
    expect(r.fault).toEqual(f ? { vector: f[0], errorCode: f[1], eipOffset: 3 } : null);
  });
  it.each([
    ["ds", 0x2b, [GP, 0x28]],
    ["ds", 0x28, [GP, 0x28]],
    ["ds", 0xc3, null],
    ["ds", 0xc0, null],
    ["ds", 0x3b, null],
    ["ds", 0x0b, [GP, 0x08]],
    ["ds", 0xe3, null],
    ["ss", 0xc3, null],
    ["ss", 0xc0, [GP, 0xc0]],
    ["ss", 0x13, [GP, 0x10]],
    ["ss", 0x03, [GP, 0]],
  ] as [string, number, [number, number] | null][])("CPL 3: MOV %s, %s -> %s", (s, sel, f) => {
    const r = run({ code: MOVSEG3[s], regs: { ecx: sel }, mem: gdt(0x500).u8 });
    expect(r.fault).toEqual(f ? { vector: f[0], errorCode: f[1], eipOffset: MOVSEG3[s].length - 2 } : null);
  });
  it("a load loads the descriptor cache and sets the accessed bit in the descriptor", () => {
    const r = runCpu({ code: MOVSEG.ds, regs: { ecx: 0x28 }, mem: gdt(0x500).u8 });
    expect(r.cpu.sel[SEG_DS]).toBe(0x28);
    expect(r.cpu.segBase[SEG_DS]).toBe(0x12345678);
    expect(r.cpu.segLimit[SEG_DS]).toBe(0x5abcd);
    expect(r.mem[0x128 + 5]).toBe(0x93);
  });
  it("a null selector in DS loads; using DS then faults #GP(0)", () => {
    const r = run({
      code: c32(
        "31 c0 8e d8 8b 0b",
        `xor eax, eax
mov ds, ax
mov ecx, [ebx]`,
      ),
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 4 });
  });
  it("a null selector in FS/GS faults on use with #GP(0)", () => {
    const r = run({
      code: c32(
        "31 c0 8e e8 65 89 03",
        `xor eax, eax
mov gs, ax
mov [gs:ebx], eax`,
      ),
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 4 });
  });
  it("MOV CS, r16 is #UD", () => {
    const r = run({ code: c32("8e c8", "mov cs, ax (hand-encoded)") });
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 0 });
  });
  it("MOV to Sreg 6/7 is #UD", () => {
    const r = run({ code: c32("8e f0", "mov sreg6, ax (hand-encoded)") });
    expect(r.fault?.vector).toBe(UD);
  });
  it("POP DS with a bad selector faults #GP(sel) and leaves ESP unchanged", () => {
    const r = run({
      code: c32(
        "0f 01 13 6a 48 1f",
        `lgdt [ebx]
push dword 0x48
pop ds`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0x48, eipOffset: 5 });
    expect(r.regs.esp).toBe(STACK - 4);
  });
  it("POP SS with a not-present segment faults #SS(sel)", () => {
    const r = run({
      code: c32(
        "0f 01 13 68 b8 00 00 00 17",
        `lgdt [ebx]
push dword 0xb8
pop ss`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toEqual({ vector: SS, errorCode: 0xb8, eipOffset: 8 });
  });
  it("POP ES / POP FS load and move ESP by 4", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 6a 28 6a 40 07 0f a1",
        `lgdt [ebx]
push dword 0x28
push dword 0x40
pop es
pop fs`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect([r.cpu.sel[SEG_ES], r.cpu.sel[SEG_FS]]).toEqual([0x40, 0x28]);
    expect(r.regs.esp).toBe(STACK);
  });
  it("PUSH Sreg with 32-bit operand size moves ESP by 4 and stores the selector in the low word", () => {
    const r = run({
      code: c32(
        "1e 0e 16 8b 4c 24 08 8b 54 24 04 8b 34 24",
        `push ds
push cs
push ss
mov ecx, [esp+8]
mov edx, [esp+4]
mov esi, [esp]`,
      ),
    });
    expect(r.regs.esp).toBe(STACK - 12);
    // The upper word is either zero or unmodified (SDM PUSH): compare the low word only.
    expect([r.regs.ecx & 0xffff, r.regs.edx & 0xffff, r.regs.esi & 0xffff]).toEqual([0x10, 0x08, 0x10]);
  });
  it("PUSH Sreg with 16-bit operand size moves ESP by 2", () => {
    const r = run({
      code: c32(
        "66 0f a0 66 0f a8 8b 0c 24",
        `o16 push fs
o16 push gs
mov ecx, [esp]`,
      ),
    });
    expect(r.regs.esp).toBe(STACK - 4);
    expect(r.regs.ecx).toBe(0x00100010);
  });
});

describe("LDS / LES / LFS / LGS / LSS (Vol. 2A LDS/LES/LFS/LGS/LSS)", () => {
  const farPtrs = () =>
    gdt(0x500)
      .d32(0x80, 0x11223344)
      .w16(0x84, 0x28)
      .w16(0x88, 0x5566)
      .w16(0x8a, 0x40)
      .d32(0x90, 0x370000)
      .w16(0x94, 0x40)
      .d32(0x98, 0x1234)
      .w16(0x9c, 0x48);
  it("LDS r32, m16:32 loads the offset and DS", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 c5 8b 80 00 00 00",
        `lgdt [ebx]
lds ecx, [ebx+0x80]`,
      ),
      mem: farPtrs().u8,
    });
    expect(r.regs.ecx).toBe(0x11223344);
    expect(r.cpu.sel[SEG_DS]).toBe(0x28);
    expect(r.cpu.segBase[SEG_DS]).toBe(0x12345678);
  });
  it("LES r16, m16:16 loads a 16-bit offset (upper half kept) and ES", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 66 c4 8b 88 00 00 00",
        `lgdt [ebx]
o16 les cx, [ebx+0x88]`,
      ),
      mem: farPtrs().u8,
      regs: { ecx: 0xaaaa0000 },
    });
    expect(r.regs.ecx).toBe(0xaaaa5566);
    expect(r.cpu.sel[SEG_ES]).toBe(0x40);
  });
  it("LFS and LGS", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 0f b4 8b 80 00 00 00 0f b5 93 90 00 00 00",
        `lgdt [ebx]
lfs ecx, [ebx+0x80]
lgs edx, [ebx+0x90]`,
      ),
      mem: farPtrs().u8,
    });
    expect([r.regs.ecx, r.regs.edx]).toEqual([0x11223344, 0x370000]);
    expect([r.cpu.sel[SEG_FS], r.cpu.sel[SEG_GS]]).toEqual([0x28, 0x40]);
  });
  it("LSS loads SS:ESP together", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 0f b2 a3 90 00 00 00",
        `lgdt [ebx]
lss esp, [ebx+0x90]`,
      ),
      mem: farPtrs().u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.esp).toBe(0x370000);
    expect(r.cpu.sel[SEG_SS]).toBe(0x40);
  });
  it("LDS with an execute-only code selector faults #GP(sel) and leaves the register unchanged", () => {
    const r = run({
      code: c32(
        "0f 01 13 c5 8b 98 00 00 00",
        `lgdt [ebx]
lds ecx, [ebx+0x98]`,
      ),
      mem: farPtrs().u8,
      regs: { ecx: 0x77 },
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0x48, eipOffset: 3 });
    expect(r.regs.ecx).toBe(0x77);
  });
  it("LSS with a DPL 0 data selector works; with a read-only one #GP(sel)", () => {
    const b = farPtrs().w16(0x94, 0x50);
    const r = run({
      code: c32(
        "0f 01 13 0f b2 a3 90 00 00 00",
        `lgdt [ebx]
lss esp, [ebx+0x90]`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0x50, eipOffset: 3 });
    expect(r.regs.esp).toBe(STACK);
  });
  it("LES with a register source is #UD", () => {
    const r = run({ code: c32("c4 c0", "les eax, eax (hand-encoded)") });
    expect(r.fault?.vector).toBe(UD);
  });
});

// --- limit checks ---------------------------------------------------------------------------------

/** Load DS (or SS) with `sel` from the test GDT, then access [off] with the given instruction. */
const LIM = {
  rd32: c32(
    "0f 01 13 8e d9 8b 02",
    `lgdt [ebx]
mov ds, cx
mov eax, [edx]`,
  ),
  rd16: c32(
    "0f 01 13 8e d9 66 8b 02",
    `lgdt [ebx]
mov ds, cx
mov ax, [edx]`,
  ),
  rd8: c32(
    "0f 01 13 8e d9 8a 02",
    `lgdt [ebx]
mov ds, cx
mov al, [edx]`,
  ),
  wr32: c32(
    "0f 01 13 8e d9 89 02",
    `lgdt [ebx]
mov ds, cx
mov [edx], eax`,
  ),
  ss32: c32(
    "0f 01 13 8e d1 36 8b 02",
    `lgdt [ebx]
mov ss, cx
mov eax, [ss:edx]`,
  ),
  ebp32: c32(
    "0f 01 13 8e d1 8b 45 00",
    `lgdt [ebx]
mov ss, cx
mov eax, [ebp]`,
  ),
};

describe("segment limit and type checks (Vol. 3 5.3, 5.4)", () => {
  it.each([
    ["rd32", 0x100, 0xffc, null],
    ["rd32", 0x100, 0xffd, GP],
    ["rd8", 0x100, 0xfff, null],
    ["rd8", 0x100, 0x1000, GP],
    ["rd16", 0x100, 0xffe, null],
    ["rd16", 0x100, 0xfff, GP],
    ["rd8", 0x100, 0xffffffff, GP],
    ["ss32", 0x100, 0xffc, null],
    ["ss32", 0x100, 0xffd, SS],
    ["ss32", 0x100, 0x1000, SS],
    // expand-down, B=1: valid offsets are limit+1 .. 0xFFFFFFFF
    ["rd8", 0xf0, 0xfff, GP],
    ["rd8", 0xf0, 0x1000, null],
    ["rd32", 0xf0, 0xfffffffc, null],
    ["rd32", 0xf0, 0xfffffffd, GP],
    ["rd8", 0xf0, 0, GP],
    ["ss32", 0xf0, 0xfff, SS],
    ["ss32", 0xf0, 0x1000, null],
    // expand-down, B=0: valid offsets are limit+1 .. 0xFFFF
    ["rd16", 0xf8, 0xfffe, null],
    ["rd16", 0xf8, 0xffff, GP],
    ["rd8", 0xf8, 0x10000, GP],
    ["rd8", 0xf8, 0x1000, null],
    ["rd8", 0xf8, 0xfff, GP],
    // G=1: limit 0x12 -> 0x12FFF
    ["rd8", 0x30, 0x12fff, null],
    ["rd16", 0x30, 0x12fff, GP],
    ["rd8", 0x30, 0x13000, GP],
    // types
    ["wr32", 0x50, M + 0x100, GP],
    ["rd32", 0x50, M + 0x100, null],
    ["wr32", 0x08, M + 0x100, GP], // a code segment is never writable
    ["rd32", 0x08, M + 0x100, null], // readable code
    ["wr32", 0x40, M + 0x100, null],
  ] as [keyof typeof LIM, number, number, number | null][])(
    "%s with selector %s at offset %s -> %s",
    (k, sel, off, vec) => {
      const r = run({ code: LIM[k], regs: { ecx: sel, edx: off }, mem: gdt(0x500).u8 });
      expect(r.fault).toEqual(vec === null ? null : { vector: vec, errorCode: 0, eipOffset: 5 });
    },
  );
  it("an access through [EBP] uses SS and faults #SS(0) beyond its limit", () => {
    const r = run({ code: LIM.ebp32, regs: { ecx: 0x100, ebp: 0x1000 }, mem: gdt(0x500).u8 });
    expect(r.fault).toEqual({ vector: SS, errorCode: 0, eipOffset: 5 });
  });
  it("PUSH with ESP beyond the SS limit faults #SS(0) and leaves ESP unchanged", () => {
    const r = run({
      code: c32(
        "0f 01 13 8e d1 50",
        `lgdt [ebx]
mov ss, cx
push eax`,
      ),
      regs: { ecx: 0x100 },
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toEqual({ vector: SS, errorCode: 0, eipOffset: 5 });
    expect(r.regs.esp).toBe(STACK);
  });
  it("a write through a CS override is #GP(0)", () => {
    const r = run({ code: c32("2e 89 03", `mov [cs:ebx], eax`) });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("a read through CS of an execute-only code segment is #GP(0); its code still runs", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 ea 0a 00 10 00 48 00 b8 01 00 00 00 2e 8b 0b",
        `lgdt [ebx]
jmp 0x48:next
next:
mov eax, 1
mov ecx, [cs:ebx]`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.cpu.sel[SEG_CS]).toBe(0x48);
    expect(r.regs.eax).toBe(1);
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 15 });
  });
});

// --- far transfers ---------------------------------------------------------------------------------

describe("far JMP / CALL / RETF (Vol. 2A CALL, JMP; 2B RET; Vol. 3 5.8)", () => {
  it("direct far JMP to another code segment at the same privilege", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 ea 0a 00 10 00 20 01",
        `lgdt [ebx]
jmp 0x120:next
next:`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.sel[SEG_CS]).toBe(0x120);
    expect(r.cpu.cpl).toBe(0);
  });
  it("indirect far JMP m16:32", () => {
    const b = gdt(0x500);
    const r = runCpu({
      code: c32(
        "0f 01 13 c7 83 80 00 00 00 1d 00 10 00 66 c7 83 84 00 00 00 20 01 ff ab 80 00 00 00 90",
        `lgdt [ebx]
mov dword [ebx+0x80], next
mov word [ebx+0x84], 0x120
jmp far [ebx+0x80]
nop
next:`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.sel[SEG_CS]).toBe(0x120);
  });
  it("far CALL pushes CS and the return EIP; RETF pops them", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 9a 0e 00 10 00 20 01 89 e5 eb 0a 8b 34 24 8b 7c 24 04 8c ca cb",
        `lgdt [ebx]
call 0x120:func
after:
mov ebp, esp
jmp done
func:
mov esi, [esp]
mov edi, [esp+4]
mov edx, cs
retf
done:`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.esi).toBe(CODE + 10);
    expect(r.regs.edi & 0xffff).toBe(0x08);
    expect(r.regs.edx & 0xffff).toBe(0x120);
    expect(r.regs.ebp).toBe(STACK);
    expect(r.cpu.sel[SEG_CS]).toBe(0x08);
  });
  it("RETF imm16 releases the parameters", () => {
    const r = run({
      code: c32(
        "0f 01 13 6a 01 6a 02 9a 12 00 10 00 20 01 89 e5 eb 03 ca 08 00",
        `lgdt [ebx]
push dword 1
push dword 2
call 0x120:func
mov ebp, esp
jmp done
func:
retf 8
done:`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ebp).toBe(STACK);
  });
  it("far JMP to a conforming code segment of DPL 0 keeps CPL (from CPL 3: CS.RPL = 3)", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf ea 18 00 10 00 28 01",
        `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
jmp 0x128:next
next:`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.cpl).toBe(3);
    expect(r.cpu.sel[SEG_CS]).toBe(0x12b);
  });
  it.each([
    [0x1b, GP, 0x18, "non-conforming code of another DPL"],
    [0x18, GP, 0x18, "non-conforming DPL 3 code with RPL 0"],
    [0x10, GP, 0x10, "a data segment"],
    [0x00, GP, 0, "the null selector"],
    [0xe8, NP, 0xe8, "a not-present code segment"],
    [0x38, GP, 0x38, "conforming code with DPL > CPL"],
    [0x58, GP, 0x58, "an LDT descriptor"],
    [0x1000, GP, 0x1000, "a selector beyond the GDT limit"],
  ])("far JMP to %s faults (%s)", (sel, vec, code) => {
    const r = run({
      code: c32(
        "0f 01 13 51 6a 00 ff 2c 24",
        `lgdt [ebx]
push ecx
push dword 0
jmp far [esp]`,
      ),
      regs: { ecx: sel },
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toEqual({ vector: vec, errorCode: code, eipOffset: 6 });
  });
  it("far JMP beyond the target's limit is #GP(0)", () => {
    const r = run({
      code: c32(
        "0f 01 13 ea 00 00 01 00 18 01",
        `lgdt [ebx]
jmp 0x118:0x10000`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 3 });
  });
  it("CALL through a call gate at the same privilege pushes CS:EIP and enters the gate's target", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 be 0f 00 10 00 9a ef be ad de 08 01 e9 76 01 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 3c 24 8b 54 24 04 8c c9 cb",
        `lgdt [ebx]
mov esi, after
call 0x108:0xdeadbeef
after:
jmp done
times 0x180-($-$$) int3
mov edi, [esp]
mov edx, [esp+4]
mov ecx, cs
retf
done:`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.edi).toBe(r.regs.esi);
    expect(r.regs.edx & 0xffff).toBe(0x08);
    expect(r.regs.ecx & 0xffff).toBe(0x120);
    expect(r.regs.esp).toBe(STACK);
  });
  it("JMP through a call gate transfers to the target without pushing", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 ea 00 00 00 00 08 01 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8c c9 89 e5",
        `lgdt [ebx]
jmp 0x108:0
times 0x180-($-$$) int3
mov ecx, cs
mov ebp, esp`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx & 0xffff).toBe(0x120);
    expect(r.regs.ebp).toBe(STACK);
  });
  it("CALL from CPL 3 through a DPL 3 gate to CPL 0 switches stacks and copies 2 parameters; RETF 8 returns", () => {
    const r = runCpu({
      code: c32(
        "0f 01 13 66 b8 60 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 c7 83 20 08 00 00 39 00 10 00 68 11 11 00 00 68 22 22 00 00 9a 00 00 00 00 73 00 89 e5 e9 12 01 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 04 24 89 83 00 08 00 00 8b 44 24 04 89 83 04 08 00 00 8b 44 24 08 89 83 08 08 00 00 8b 44 24 0c 89 83 0c 08 00 00 8b 44 24 10 89 83 10 08 00 00 8b 44 24 14 89 83 14 08 00 00 8c 93 18 08 00 00 89 a3 1c 08 00 00 8c c8 89 83 24 08 00 00 ca 08 00",
        `lgdt [ebx]
mov ax, 0x60
ltr ax
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
mov ax, 0x23
mov ds, ax
mov dword [ebx+0x820], after
push dword 0x1111
push dword 0x2222
call 0x73:0
after:
mov ebp, esp
jmp done
times 0x100-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, [esp+16]
mov [ebx+0x810], eax
mov eax, [esp+20]
mov [ebx+0x814], eax
mov [ebx+0x818], ss
mov [ebx+0x81c], esp
mov eax, cs
mov [ebx+0x824], eax
retf 8
done:`,
      ),
      mem: gdt(0x1000).u8,
    });
    expect(r.fault).toBeNull();
    const m = (o: number) => rd32(r.mem, o);
    expect(m(0x800)).toBe(m(0x820)); // return EIP
    expect(m(0x804) & 0xffff).toBe(0x1b); // caller CS
    expect([m(0x808), m(0x80c)]).toEqual([0x2222, 0x1111]); // parameters, same order as pushed
    expect(m(0x810)).toBe(STACK - 8); // caller ESP
    expect(m(0x814) & 0xffff).toBe(0x23); // caller SS
    expect(rd16(r.mem, 0x818)).toBe(0x10); // SS0 from the TSS
    expect(m(0x81c)).toBe(0x370000 - 24); // ESP0 from the TSS minus the frame
    expect(m(0x824) & 0xffff).toBe(0x08);
    expect(r.cpu.cpl).toBe(3);
    expect(r.cpu.sel[SEG_CS]).toBe(0x1b);
    expect(r.cpu.sel[SEG_SS]).toBe(0x23);
    expect(r.regs.ebp).toBe(STACK);
  });
  it("CALL at CPL 3 through a DPL 0 call gate is #GP(gate selector)", () => {
    const r = run({
      code: c32(
        "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf 9a 00 00 00 00 08 01",
        `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
call 0x108:0`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault?.vector).toBe(GP);
    expect(r.fault?.errorCode).toBe(0x108);
  });
  it("RETF to a more privileged level (RPL < CPL) is #GP(selector)", () => {
    const r = run({
      code: c32(
        "0f 01 13 89 e0 6a 23 50 9c 6a 1b 68 11 00 10 00 cf 6a 08 6a 00 cb",
        `lgdt [ebx]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
push dword 0x08
push dword 0
retf`,
      ),
      mem: gdt(0x500).u8,
    });
    expect(r.fault?.vector).toBe(GP);
    expect(r.fault?.errorCode).toBe(0x08);
  });
});

// --- INT n / exceptions / IRET through the test's own IDT -----------------------------------------

/** GDT plus an IDT at +0x600 (pseudo-descriptor at +8) and TSS; handler H1 at CODE+0x100, H3 at CODE+0x200. */
function idt(): Buf {
  const b = gdt(0x1000).pdesc(8, 0x4ff, M + 0x600);
  const set = (v: number, g: [number, number]) => b.desc(0x600 + v * 8, g);
  set(0x40, gate(0x08, CODE + 0x100, 0x8e)); // interrupt gate DPL 0
  set(0x41, gate(0x08, CODE + 0x100, 0x8f)); // trap gate DPL 0
  set(0x42, gate(0x08, CODE + 0x100, 0xee)); // interrupt gate DPL 3
  set(0x43, gate(0x08, CODE + 0x100, 0x6e)); // not present
  set(DE, gate(0x08, CODE + 0x200, 0x8e));
  set(GP, gate(0x08, CODE + 0x200, 0x8e));
  set(PF, gate(0x08, CODE + 0x200, 0x8e));
  return b;
}

describe("INT n / IRET and exception frames with the test's IDT (Vol. 3 6.12; Vol. 2A INT n, IRET)", () => {
  // H1 stores the 5 dwords above ESP and the handler's EFLAGS, then IRETD.
  const H1 = `times 0x100-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, [esp+16]
mov [ebx+0x810], eax
pushfd
pop eax
mov [ebx+0x814], eax
mov [ebx+0x818], esp
iretd`;
  void H1;
  const m = (r: { mem: Uint8Array }, o: number) => rd32(r.mem, o);

  it("INT 0x40 through a DPL 0 interrupt gate at CPL 0: EIP, CS, EFLAGS pushed; IF cleared; IRET restores", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 c7 83 20 08 00 00 13 00 10 00 cd 40 9c 58 89 83 24 08 00 00 89 a3 28 08 00 00 e9 1a 01 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 04 24 89 83 00 08 00 00 8b 44 24 04 89 83 04 08 00 00 8b 44 24 08 89 83 08 08 00 00 8b 44 24 0c 89 83 0c 08 00 00 8b 44 24 10 89 83 10 08 00 00 9c 58 89 83 14 08 00 00 89 a3 18 08 00 00 cf",
        `lgdt [ebx]
lidt [ebx+8]
mov dword [ebx+0x820], after
int 0x40
after:
pushfd
pop eax
mov [ebx+0x824], eax
mov [ebx+0x828], esp
jmp done
times 0x100-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, [esp+16]
mov [ebx+0x810], eax
pushfd
pop eax
mov [ebx+0x814], eax
mov [ebx+0x818], esp
iretd
done:`,
      ),
      eflags: 0x200 | 0x4 | 0x1,
      mem: idt().u8,
    });
    expect(r.fault).toBeNull();
    expect(m(r, 0x800)).toBe(m(r, 0x820));
    expect(m(r, 0x804) & 0xffff).toBe(0x08);
    expect(m(r, 0x808)).toBe(0x207);
    expect(m(r, 0x814)).toBe(0x007); // IF cleared in the handler
    expect(m(r, 0x818)).toBe(STACK - 12);
    expect(m(r, 0x824)).toBe(0x207); // IRET restored IF
    expect(m(r, 0x828)).toBe(STACK);
  });
  it("INT 0x41 through a trap gate leaves IF set in the handler", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 cd 41 e9 fb 00 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 9c 58 89 83 14 08 00 00 cf",
        `lgdt [ebx]
lidt [ebx+8]
int 0x41
jmp done
times 0x100-($-$$) int3
pushfd
pop eax
mov [ebx+0x814], eax
iretd
done:`,
      ),
      eflags: 0x200,
      mem: idt().u8,
    });
    expect(r.fault).toBeNull();
    expect(m(r, 0x814)).toBe(0x202);
  });
  it("INT from CPL 3 through a DPL 3 gate switches to the TSS stack and pushes SS:ESP", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 66 b8 60 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 1c 00 10 00 cf 66 b8 23 00 8e d8 c7 83 20 08 00 00 2e 00 10 00 cd 42 89 a3 28 08 00 00 8c c8 89 83 2c 08 00 00 e9 ff 00 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 04 24 89 83 00 08 00 00 8b 44 24 04 89 83 04 08 00 00 8b 44 24 08 89 83 08 08 00 00 8b 44 24 0c 89 83 0c 08 00 00 8b 44 24 10 89 83 10 08 00 00 9c 58 89 83 14 08 00 00 89 a3 18 08 00 00 cf",
        `lgdt [ebx]
lidt [ebx+8]
mov ax, 0x60
ltr ax
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
mov ax, 0x23
mov ds, ax
mov dword [ebx+0x820], after
int 0x42
after:
mov [ebx+0x828], esp
mov eax, cs
mov [ebx+0x82c], eax
jmp done
times 0x100-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, [esp+16]
mov [ebx+0x810], eax
pushfd
pop eax
mov [ebx+0x814], eax
mov [ebx+0x818], esp
iretd
done:`,
      ),
      eflags: 0x200,
      mem: idt().u8,
    });
    expect(r.fault).toBeNull();
    expect(m(r, 0x800)).toBe(m(r, 0x820));
    expect(m(r, 0x804) & 0xffff).toBe(0x1b);
    expect(m(r, 0x808)).toBe(0x202);
    expect(m(r, 0x80c)).toBe(STACK);
    expect(m(r, 0x810) & 0xffff).toBe(0x23);
    expect(m(r, 0x818)).toBe(0x370000 - 20);
    expect(m(r, 0x828)).toBe(STACK);
    expect(m(r, 0x82c) & 0xffff).toBe(0x1b);
    expect(r.cpu.cpl).toBe(3);
  });
  it("INT n at CPL 3 through a DPL 0 gate is #GP(vector*8+2)", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 89 e0 6a 23 50 9c 6a 1b 68 15 00 10 00 cf cd 40",
        `lgdt [ebx]
lidt [ebx+8]
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
int 0x40`,
      ),
      mem: idt().u8,
      intercept: [GP],
    });
    expect(r.fault?.vector).toBe(GP);
    expect(r.fault?.errorCode).toBe(0x40 * 8 + 2);
  });
  it("INT n to a not-present gate is #NP(vector*8+2)", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 cd 43",
        `lgdt [ebx]
lidt [ebx+8]
int 0x43`,
      ),
      mem: idt().u8,
      intercept: [NP],
    });
    expect(r.fault).toMatchObject({ vector: NP, errorCode: 0x43 * 8 + 2 });
  });
  it("INT n beyond the IDT limit is #GP(vector*8+2)", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 cd a0",
        `lgdt [ebx]
lidt [ebx+8]
int 0xa0`,
      ),
      mem: idt().u8,
      intercept: [GP],
    });
    expect(r.fault).toMatchObject({ vector: GP, errorCode: 0xa0 * 8 + 2 });
  });
  it("INT n to an IDT entry that is not a gate (a data descriptor) is #GP(vector*8+2)", () => {
    const b = idt().desc(0x600 + 0x44 * 8, seg(0, 0xfffff, 0x92, 0xc));
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 cd 44",
        `lgdt [ebx]
lidt [ebx+8]
int 0x44`,
      ),
      mem: b.u8,
      intercept: [GP],
    });
    expect(r.fault).toMatchObject({ vector: GP, errorCode: 0x44 * 8 + 2 });
  });
  const H3 = `times 0x200-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, cr2
mov [ebx+0x810], eax
jmp done`;
  void H3;
  it("#GP(selector) frame: error code, then EIP of the faulting instruction, CS, EFLAGS", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 c7 83 20 08 00 00 15 00 10 00 66 b8 48 00 8e d8 e9 16 02 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 04 24 89 83 00 08 00 00 8b 44 24 04 89 83 04 08 00 00 8b 44 24 08 89 83 08 08 00 00 8b 44 24 0c 89 83 0c 08 00 00 0f 20 d0 89 83 10 08 00 00 eb 00",
        `lgdt [ebx]
lidt [ebx+8]
mov dword [ebx+0x820], here
mov ax, 0x48
here:
mov ds, ax
jmp done
times 0x200-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, cr2
mov [ebx+0x810], eax
jmp done
done:`,
      ),
      eflags: 0x200,
      mem: idt().u8,
    });
    expect(r.fault).toBeNull();
    expect(m(r, 0x800)).toBe(0x48);
    expect(m(r, 0x804)).toBe(m(r, 0x820));
    expect(m(r, 0x808) & 0xffff).toBe(0x08);
    expect(m(r, 0x80c)).toBe(0x202);
  });
  it("#PF frame: error code 0 for a supervisor read of a not-present page; CR2 = the linear address", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 c7 83 20 08 00 00 11 00 10 00 a1 23 01 00 00 e9 17 02 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 04 24 89 83 00 08 00 00 8b 44 24 04 89 83 04 08 00 00 8b 44 24 08 89 83 08 08 00 00 8b 44 24 0c 89 83 0c 08 00 00 0f 20 d0 89 83 10 08 00 00 eb 00",
        `lgdt [ebx]
lidt [ebx+8]
mov dword [ebx+0x820], here
here:
mov eax, [0x123]
jmp done
times 0x200-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, cr2
mov [ebx+0x810], eax
jmp done
done:`,
      ),
      mem: idt().u8,
    });
    expect(m(r, 0x800)).toBe(0);
    expect(m(r, 0x804)).toBe(m(r, 0x820));
    expect(m(r, 0x810)).toBe(0x123);
  });
  it("#DE pushes no error code: [ESP] is the EIP of the DIV", () => {
    const r = runFree({
      code: c32(
        "0f 01 13 0f 01 5b 08 c7 83 20 08 00 00 13 00 10 00 31 c9 f7 f1 e9 18 02 00 00 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 8b 04 24 89 83 00 08 00 00 8b 44 24 04 89 83 04 08 00 00 8b 44 24 08 89 83 08 08 00 00 8b 44 24 0c 89 83 0c 08 00 00 0f 20 d0 89 83 10 08 00 00 eb 00",
        `lgdt [ebx]
lidt [ebx+8]
mov dword [ebx+0x820], here
xor ecx, ecx
here:
div ecx
jmp done
times 0x200-($-$$) int3
mov eax, [esp]
mov [ebx+0x800], eax
mov eax, [esp+4]
mov [ebx+0x804], eax
mov eax, [esp+8]
mov [ebx+0x808], eax
mov eax, [esp+12]
mov [ebx+0x80c], eax
mov eax, cr2
mov [ebx+0x810], eax
jmp done
done:`,
      ),
      mem: idt().u8,
    });
    expect(m(r, 0x800)).toBe(m(r, 0x820));
    expect(m(r, 0x804) & 0xffff).toBe(0x08);
  });
});

describe("INT interception by the snippet runner", () => {
  it.each([
    ["INT 0x80", c32("cd 80", `int 0x80`), 0x80, 2],
    ["INT3", c32("cc", `int3`), 3, 1],
    ["INTO with OF=1", c32("ce", `into`), 4, 1],
    ["UD2", c32("0f 0b", `ud2`), UD, 0],
  ])("%s reports its vector and the return offset", (_n, code, vec, off) => {
    const r = run({ env: "user", code, eflags: 0x800 });
    expect(r.fault).toEqual({ vector: vec, errorCode: 0, eipOffset: off });
  });
});

void [SEG_GS];
