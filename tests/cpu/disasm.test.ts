// The disassembler (src/engine/cpu/disasm.ts) against `objdump -d -M intel` (GNU binutils 2.40).
// The expected strings were recorded by assembling the instructions with nasm and disassembling
// the result with `objdump -D -b binary -m i386 -M intel`; whitespace between mnemonic and
// operands is normalised to one space. The few places where objdump's spelling is not the SDM's
// (lgdtd, invlpg BYTE PTR, mov ds,eax, xlat's implicit operand) are listed separately with the SDM/nasm spelling we print.
import { describe, expect, it } from "vitest";
import { decode, Insn } from "../../src/engine/cpu/decoder.ts";
import { disassemble } from "../../src/engine/cpu/disasm.ts";
import { OPCODES } from "../../src/engine/cpu/opcodes.ts";

function dis(hex: string, eip = 0, def32 = true): string {
  const bytes = new Uint8Array(hex.split(" ").map((b) => parseInt(b, 16)));
  const i = new Insn();
  const r = decode(bytes, 0, bytes.length, def32, i);
  if (r !== 0) throw new Error(`decode ${hex}: error ${r}`);
  expect(i.len).toBe(bytes.length);
  return disassemble(i, { eip });
}

const OBJDUMP: [string, string][] = [
  ["8b 43 04", "mov eax,DWORD PTR [ebx+0x4]"],
  ["88 54 8c f8", "mov BYTE PTR [esp+ecx*4-0x8],dl"],
  ["83 c4 f0", "add esp,0xfffffff0"],
  ["05 78 56 34 12", "add eax,0x12345678"],
  ["6a ff", "push 0xffffffff"],
  ["68 34 12 00 00", "push 0x1234"],
  ["55", "push ebp"],
  ["5f", "pop edi"],
  ["8d 04 8d 00 00 00 00", "lea eax,[ecx*4+0x0]"],
  ["8d 36", "lea esi,[esi]"],
  ["a1 34 12 00 00", "mov eax,ds:0x1234"],
  ["64 a1 10 00 00 00", "mov eax,fs:0x10"],
  ["26 8a 03", "mov al,BYTE PTR es:[ebx]"],
  ["0f 22 c0", "mov cr0,eax"],
  ["0f 20 d8", "mov eax,cr3"],
  ["8e d8", "mov ds,eax"],
  ["8c d8", "mov eax,ds"],
  ["0f b6 03", "movzx eax,BYTE PTR [ebx]"],
  ["0f bf 8c 50 00 01 00 00", "movsx ecx,WORD PTR [eax+edx*2+0x100]"],
  ["f3 a5", "rep movs DWORD PTR es:[edi],DWORD PTR ds:[esi]"],
  ["f3 aa", "rep stos BYTE PTR es:[edi],al"],
  ["f3 a6", "repz cmps BYTE PTR ds:[esi],BYTE PTR es:[edi]"],
  ["ad", "lods eax,DWORD PTR ds:[esi]"],
  ["f0 0f c1 08", "lock xadd DWORD PTR [eax],ecx"],
  ["f0 ff 03", "lock inc DWORD PTR [ebx]"],
  ["0f c7 0e", "cmpxchg8b QWORD PTR [esi]"],
  ["6b c3 0c", "imul eax,ebx,0xc"],
  ["69 08 e8 03 00 00", "imul ecx,DWORD PTR [eax],0x3e8"],
  ["d1 e0", "shl eax,1"],
  ["d3 3b", "sar DWORD PTR [ebx],cl"],
  ["c0 c3 03", "rol bl,0x3"],
  ["0f a4 d8 04", "shld eax,ebx,0x4"],
  ["e4 60", "in al,0x60"],
  ["ef", "out dx,eax"],
  ["e6 80", "out 0x80,al"],
  ["66 ed", "in ax,dx"],
  ["cd 80", "int 0x80"],
  ["cc", "int3"],
  ["cf", "iret"],
  ["fa", "cli"],
  ["fb", "sti"],
  ["f4", "hlt"],
  ["0f a2", "cpuid"],
  ["0f 31", "rdtsc"],
  ["0f 30", "wrmsr"],
  ["0f 01 38", "invlpg BYTE PTR [eax]"],
  ["0f 01 10", "lgdtd [eax]"],
  ["0f 01 03", "sgdtd [ebx]"],
  ["0f 01 1d 00 10 00 00", "lidtd ds:0x1000"],
  ["0f 00 d8", "ltr ax"],
  ["0f 00 10", "lldt WORD PTR [eax]"],
  ["9c", "pushf"],
  ["9d", "popf"],
  ["60", "pusha"],
  ["61", "popa"],
  ["98", "cwde"],
  ["99", "cdq"],
  ["66 98", "cbw"],
  ["66 99", "cwd"],
  ["66 9c", "pushfw"],
  ["66 cf", "iretw"],
  ["c3", "ret"],
  ["c2 08 00", "ret 0x8"],
  ["cb", "retf"],
  ["c9", "leave"],
  ["c8 10 00 00", "enter 0x10,0x0"],
  ["91", "xchg ecx,eax"],
  ["86 18", "xchg BYTE PTR [eax],bl"],
  ["85 c0", "test eax,eax"],
  ["f6 03 80", "test BYTE PTR [ebx],0x80"],
  ["f7 10", "not DWORD PTR [eax]"],
  ["f7 d9", "neg ecx"],
  ["f7 e3", "mul ebx"],
  ["f7 74 24 04", "div DWORD PTR [esp+0x4]"],
  ["0f ba e0 05", "bt eax,0x5"],
  ["0f ab 08", "bts DWORD PTR [eax],ecx"],
  ["0f ca", "bswap edx"],
  ["0f 95 c0", "setne al"],
  ["0f 4d 03", "cmovge eax,DWORD PTR [ebx]"],
  ["0f bc c1", "bsf eax,ecx"],
  ["d9 00", "fld DWORD PTR [eax]"],
  ["dd 43 08", "fld QWORD PTR [ebx+0x8]"],
  ["db 29", "fld TBYTE PTR [ecx]"],
  ["df 00", "fild WORD PTR [eax]"],
  ["df 38", "fistp QWORD PTR [eax]"],
  ["d8 c1", "fadd st,st(1)"],
  ["dc c3", "fadd st(3),st"],
  ["de c1", "faddp st(1),st"],
  ["d9 c2", "fld st(2)"],
  ["d9 c9", "fxch st(1)"],
  ["dd d9", "fstp st(1)"],
  ["de d9", "fcompp"],
  ["df e0", "fnstsw ax"],
  ["d9 38", "fnstcw WORD PTR [eax]"],
  ["d9 28", "fldcw WORD PTR [eax]"],
  ["0f ae 00", "fxsave [eax]"],
  ["d9 fe", "fsin"],
  ["d8 08", "fmul DWORD PTR [eax]"],
  ["da 30", "fidiv DWORD PTR [eax]"],
  ["0f 34", "sysenter"],
  ["0f 06", "clts"],
  ["0f 09", "wbinvd"],
  ["d7", "xlat BYTE PTR ds:[ebx]"],
  ["fc", "cld"],
  ["fd", "std"],
  ["90", "nop"],
  ["f3 90", "pause"],
  ["0f 0b", "ud2"],
  ["66 c7 03 05 00", "mov WORD PTR [ebx],0x5"],
  ["67 c6 40 04 05", "mov BYTE PTR [bx+si+0x4],0x5"],
  ["c7 00 ef be ad de", "mov DWORD PTR [eax],0xdeadbeef"],
  ["14 07", "adc al,0x7"],
  ["66 83 d8 07", "sbb ax,0x7"],
  ["66 83 38 03", "cmp WORD PTR [eax],0x3"],
  ["8b 75 f0", "mov esi,DWORD PTR [ebp-0x10]"],
  ["89 04 24", "mov DWORD PTR [esp],eax"],
  ["63 18", "arpl WORD PTR [eax],bx"],
  ["62 03", "bound eax,QWORD PTR [ebx]"],
  ["d4 0a", "aam 0xa"],
  ["27", "daa"],
];

/** objdump spells these differently from the SDM; we print the SDM / nasm form. */
const SDM_SPELLING: Record<string, string> = {
  "0f 01 38": "invlpg [eax]",
  "0f 01 10": "lgdt [eax]",
  "0f 01 03": "sgdt [ebx]",
  "0f 01 1d 00 10 00 00": "lidt ds:0x1000",
  "8e d8": "mov ds,ax",
  d7: "xlat",
};

describe("disassemble", () => {
  for (const [hex, text] of OBJDUMP) {
    const expected = SDM_SPELLING[hex] ?? text;
    it(`${hex} → ${expected}`, () => expect(dis(hex)).toBe(expected));
  }

  it("prints branch targets from the instruction's address, as objdump does", () => {
    expect(dis("eb fe", 0x1000)).toBe("jmp 0x1000");
    expect(dis("74 10", 0x1000)).toBe("je 0x1012");
    expect(dis("e8 fb ff ff ff", 0xc0100000)).toBe("call 0xc0100000");
    expect(dis("0f 85 00 01 00 00", 0x10)).toBe("jne 0x116");
    expect(dis("e3 02", 0)).toBe("jecxz 0x4");
    expect(dis("ea 00 10 00 00 08 00")).toBe("jmp 0x8:0x1000");
    expect(dis("ff 28")).toBe("jmp FWORD PTR [eax]");
    expect(dis("ff 10")).toBe("call DWORD PTR [eax]");
    expect(dis("ff e0")).toBe("jmp eax");
  });

  it("handles 16-bit code (CS.D = 0)", () => {
    expect(dis("8b 47 02", 0, false)).toBe("mov ax,WORD PTR [bx+0x2]");
    expect(dis("b8 34 12", 0, false)).toBe("mov ax,0x1234");
    expect(dis("66 b8 78 56 34 12", 0, false)).toBe("mov eax,0x12345678");
    expect(dis("eb fe", 0x7c00, false)).toBe("jmp 0x7c00");
    expect(dis("cd 10", 0, false)).toBe("int 0x10");
    expect(dis("8e d8", 0, false)).toBe("mov ds,ax");
  });

  it("gives every opcode-table entry a name (no entry falls through)", () => {
    for (const d of OPCODES) expect(d.mn.length).toBeGreaterThan(0);
  });
});
