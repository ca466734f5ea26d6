// Port I/O protection at CPL 3 (IOPL, then the TSS I/O permission bitmap; Vol. 1 19.5, Vol. 3 19.5
// in older editions: "I/O permission bit map") and the IF-sensitive instructions CLI/STI/POPF/IRET
// versus IOPL and CPL (Vol. 2 CLI, STI, POPF, IRET; Vol. 3 2.3 / 5.x).
import { describe, it, expect } from "vitest";
import { Buf, c32, GP, IF, M, run, runCpu } from "./helper.ts";

// Ports whose bitmap bits are 0 (allowed): 0x70-0x77, 0x80, 0x84, 0x85, 0x3f8-0x3ff. All others 1.
function tssWithBitmap(opts: { mapBase?: number; limit?: number; type?: number } = {}): Buf {
  const b = new Buf(1024);
  const tss = M + 0x200;
  const limit = opts.limit ?? 0x68 + 0x80; // bitmap for ports 0..0x3FF plus the 0xFF terminator byte
  b.pdesc(0, 0x2f, M + 0x100).flatGdt(0x100);
  b.desc(0x128, [
    ((tss & 0xffff) << 16) | (limit & 0xffff),
    ((opts.type ?? 0x89) << 8) | ((tss >>> 16) & 0xff),
  ]);
  b.w16(0x266, opts.mapBase ?? 0x68);
  b.u8.fill(0xff, 0x268, 0x268 + 0x81);
  b.b8(0x268 + 0x70 / 8, 0x00); // 0x70-0x77
  b.b8(0x268 + 0x80 / 8, 0b11001110); // 0x80, 0x84, 0x85 allowed
  b.b8(0x268 + 0x3f8 / 8, 0x00);
  return b;
}

// lgdt, ltr 0x28, drop to CPL 3 keeping EFLAGS (IOPL from the input), load DS/ES with 0x23, then:
const PRE = `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax`;
void PRE;
const PRE_LEN = 34;

const IO: Record<string, Uint8Array> = {
  "in al, imm8 (0x80)": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 e4 80",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
in al, 0x80`,
  ),
  "in al, imm8 (0x81)": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 e4 81",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
in al, 0x81`,
  ),
  "out imm8 (0x80), al": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 e6 80",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
out 0x80, al`,
  ),
  "in al, dx": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 ec",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
in al, dx`,
  ),
  "in ax, dx": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 66 ed",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
in ax, dx`,
  ),
  "in eax, dx": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 ed",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
in eax, dx`,
  ),
  "out dx, ax": c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 66 ef",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
out dx, ax`,
  ),
  insb: c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 6c",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
insb`,
  ),
  outsw: c32(
    "0f 01 13 66 b8 28 00 0f 00 d8 89 e0 6a 23 50 9c 6a 1b 68 18 00 10 00 cf 66 b8 23 00 8e d8 8e c0 31 c0 66 6f",
    `lgdt [ebx]
mov ax, 0x28
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
mov es, ax
xor eax, eax
outsw`,
  ),
};

function io(name: string, dx: number, o: { iopl?: number; tss?: Buf } = {}) {
  const tss = o.tss ?? tssWithBitmap();
  return runCpu({
    code: IO[name],
    regs: { edx: dx, edi: M + 0x300, esi: M + 0x300 },
    eflags: (o.iopl ?? 0) << 12,
    mem: tss.u8,
  });
}

describe("I/O permission bitmap at CPL 3 with IOPL 0", () => {
  it("the prologue length is as assumed", () => {
    expect(IO["in al, dx"].length).toBe(PRE_LEN + 1);
  });
  it.each([
    ["in al, imm8 (0x80)", 0, true],
    ["in al, imm8 (0x81)", 0, false],
    ["out imm8 (0x80), al", 0, true],
    ["in al, dx", 0x80, true],
    ["in al, dx", 0x81, false],
    ["in al, dx", 0x70, true],
    ["in al, dx", 0x77, true],
    ["in al, dx", 0x78, false],
    ["in al, dx", 0x3ff, true],
    ["in ax, dx", 0x84, true],
    ["in ax, dx", 0x85, false], // straddles allowed 0x85 and denied 0x86
    ["in ax, dx", 0x7f, false], // straddles denied 0x7f and allowed 0x80
    ["in ax, dx", 0x77, false], // straddles a byte boundary: 0x77 allowed, 0x78 denied
    ["in eax, dx", 0x70, true],
    ["in eax, dx", 0x74, true],
    ["in eax, dx", 0x75, false], // 0x75-0x78: 0x78 denied
    ["in eax, dx", 0x3fc, true],
    ["in ax, dx", 0x3ff, false], // port 0x400 is covered by the 0xFF terminator byte
    ["in al, dx", 0x400, false], // beyond the bitmap (TSS limit)
    ["in al, dx", 0xffff, false],
    ["out dx, ax", 0x84, true],
    ["out dx, ax", 0x85, false],
    ["insb", 0x80, true],
    ["insb", 0x81, false],
    ["outsw", 0x84, true],
    ["outsw", 0x83, false],
  ] as [string, number, boolean][])("%s with DX=%s allowed=%s", (name, dx, ok) => {
    const r = io(name, dx);
    expect(r.cpu.cpl).toBe(3);
    expect(r.fault).toEqual(ok ? null : { vector: GP, errorCode: 0, eipOffset: PRE_LEN });
  });
  it("an allowed IN reads the (unassigned) port: all ones", () => {
    const r = io("in eax, dx", 0x70);
    expect(r.regs.eax).toBe(0xffffffff);
  });
  it("an allowed INSB stores the port byte at ES:EDI and advances EDI", () => {
    const r = io("insb", 0x80);
    expect(r.mem[0x300]).toBe(0xff);
    expect(r.regs.edi).toBe(M + 0x301);
  });
  it("a denied INSB writes nothing and leaves EDI", () => {
    const r = io("insb", 0x81);
    expect(r.mem[0x300]).toBe(0);
    expect(r.regs.edi).toBe(M + 0x300);
  });
  it("IOPL 3 at CPL 3 allows every port without consulting the bitmap", () => {
    for (const [n, dx] of [
      ["in al, imm8 (0x81)", 0],
      ["in al, dx", 0xffff],
      ["in ax, dx", 0x85],
    ] as [string, number][])
      expect(io(n, dx, { iopl: 3 }).fault).toBeNull();
  });
  it("an I/O map base beyond the TSS limit denies every port", () => {
    expect(io("in al, dx", 0x80, { tss: tssWithBitmap({ mapBase: 0x100 }) }).fault?.vector).toBe(GP);
  });
  it("a TSS limit that cuts the bitmap denies the ports beyond it", () => {
    // limit 0x68 + 0x10: bytes for ports 0..0x7F exist (and byte 0x10 is the last one read for 0x7F).
    const t = tssWithBitmap({ limit: 0x68 + 0x10 });
    expect(io("in al, dx", 0x70, { tss: t }).fault).toBeNull();
    expect(io("in al, dx", 0x80, { tss: t }).fault?.vector).toBe(GP);
  });
  it("a 16-bit TSS has no bitmap: every port is denied", () => {
    const t = tssWithBitmap({ type: 0x81, limit: 0x2b });
    expect(io("in al, dx", 0x80, { tss: t }).fault).toEqual({ vector: GP, errorCode: 0, eipOffset: PRE_LEN });
  });
  it("at CPL 0 the bitmap is not consulted", () => {
    const r = run({
      code: c32(
        "e4 81 66 ba ff ff ed",
        `in al, 0x81
mov dx, 0xffff
in eax, dx`,
      ),
    });
    expect(r.fault).toBeNull();
  });
});

// --- CLI / STI / POPF / IRET and IF -----------------------------------------------------------------

const R3 = `mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:`;
void R3;

const FLAGS = {
  cli: c32(
    "89 e0 6a 23 50 9c 6a 1b 68 0e 00 10 00 cf fa 9c 59",
    `mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
cli
pushfd
pop ecx`,
  ),
  sti: c32(
    "fa 89 e0 6a 23 50 9c 6a 1b 68 0f 00 10 00 cf fb 9c 59",
    `cli
mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
sti
pushfd
pop ecx`,
  ),
  // POPF with EDX as the image.
  popf: c32(
    "89 e0 6a 23 50 9c 6a 1b 68 0e 00 10 00 cf 52 9d 9c 59",
    `mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
push edx
popfd
pushfd
pop ecx`,
  ),
  // IRETD to the same privilege level with EDX as the EFLAGS image.
  iret: c32(
    "89 e0 6a 23 50 9c 6a 1b 68 0e 00 10 00 cf 52 0e 68 16 00 10 00 cf 9c 59",
    `mov eax, esp
push dword 0x23
push eax
pushfd
push dword 0x1b
push dword r3
iretd
r3:
push edx
push cs
push dword next
iretd
next:
pushfd
pop ecx`,
  ),
  popf0: c32(
    "52 9d 9c 59",
    `push edx
popfd
pushfd
pop ecx`,
  ),
};

describe("CLI / STI / POPF / IRET versus IOPL and CPL", () => {
  it("CLI at CPL 3 with IOPL 0 is #GP(0)", () => {
    const r = run({ code: FLAGS.cli });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 14 });
  });
  it("STI at CPL 3 with IOPL 0 is #GP(0)", () => {
    const r = run({ code: FLAGS.sti });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 15 });
  });
  it("CLI at CPL 3 with IOPL 3 clears IF", () => {
    const r = run({ code: FLAGS.cli, eflags: 0x3000 });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx & IF).toBe(0);
  });
  it("STI at CPL 3 with IOPL 3 sets IF", () => {
    const r = run({ code: FLAGS.sti, eflags: 0x3000 });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx & IF).toBe(IF);
  });
  it("POPF at CPL 3 with IOPL 0 silently keeps IF=1 (no fault) and keeps IOPL", () => {
    const r = run({ code: FLAGS.popf, regs: { edx: 0x3002 } });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx & IF).toBe(IF);
    expect(r.regs.ecx & 0x3000).toBe(0);
  });
  it("POPF at CPL 3 with IOPL 0 still loads the arithmetic flags, DF and OF", () => {
    const r = run({ code: FLAGS.popf, regs: { edx: 0x0cd5 } });
    expect(r.regs.ecx & 0xdd5).toBe(0x0cd5);
  });
  it("POPF at CPL 3 with IOPL 3 changes IF but not IOPL", () => {
    const r = run({ code: FLAGS.popf, regs: { edx: 0x0002 }, eflags: 0x3000 });
    expect(r.regs.ecx & IF).toBe(0);
    expect(r.regs.ecx & 0x3000).toBe(0x3000);
  });
  it("POPF at CPL 0 changes IF and IOPL", () => {
    const r = run({ code: FLAGS.popf0, regs: { edx: 0x2002 } });
    expect(r.regs.ecx & (IF | 0x3000)).toBe(0x2000);
  });
  it("POPF never sets VM or RF (RF cleared, VM unaffected)", () => {
    const r = run({ code: FLAGS.popf0, regs: { edx: 0x30202 } });
    expect(r.regs.ecx & 0x30000).toBe(0);
    expect(r.fault).toBeNull();
  });
  it("IRET at CPL 3 with IOPL 0 keeps IF", () => {
    const r = run({ code: FLAGS.iret, regs: { edx: 0x0002 } });
    expect(r.fault).toBeNull();
    expect(r.regs.ecx & IF).toBe(IF);
  });
  it("IRET at CPL 3 with IOPL 3 loads IF but not IOPL", () => {
    const r = run({ code: FLAGS.iret, regs: { edx: 0x0002 }, eflags: 0x3000 });
    expect(r.regs.ecx & (IF | 0x3000)).toBe(0x3000);
  });
  it("IRET to CPL 3 from CPL 0 loads IOPL and IF from the image", () => {
    const r = runCpu({
      code: c32(
        "89 e0 6a 23 50 68 02 10 00 00 6a 1b 68 12 00 10 00 cf 9c 59",
        `mov eax, esp
push dword 0x23
push eax
push dword 0x1002
push dword 0x1b
push dword r3
iretd
r3:
pushfd
pop ecx`,
      ),
    });
    expect(r.cpu.cpl).toBe(3);
    expect(r.regs.ecx & (IF | 0x3000)).toBe(0x1000);
  });
  it("CLI/STI at CPL 0 work whatever IOPL is", () => {
    const r = run({
      code: c32(
        "fa 9c 59 fb 9c 5a",
        `cli
pushfd
pop ecx
sti
pushfd
pop edx`,
      ),
    });
    expect(r.regs.ecx & IF).toBe(0);
    expect(r.regs.edx & IF).toBe(IF);
  });
});
