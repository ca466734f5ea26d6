// Real-address mode (Intel SDM Vol. 3 chapter 20 "8086 emulation" / 9.1 reset state / 9.9 mode
// switching; Vol. 2 real-address-mode exception sections of each instruction): segment arithmetic,
// 16-bit offsets and addressing forms, 16-bit stack operations, interrupts through the IVT, LOOP and
// string instructions with CX/SI/DI, operand/address-size prefixes, and PE on/off round trips.
import { describe, it, expect } from "vitest";
import { Buf, c16, GP, run, runCpu, runFree, SS, UD, rd16, rd32, seg } from "./helper.ts";
import { Cpu } from "../../src/engine/cpu/cpu.ts";
import { SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_SS } from "../../src/engine/cpu/decoder.ts";
import { PhysicalMemory } from "../../src/engine/memory/memory.ts";
import { IoBus } from "../../src/engine/io.ts";

const real = (code: Uint8Array, o: Partial<Parameters<typeof run>[0]> = {}) =>
  runCpu({ env: "real", memReg: null, mem: new Uint8Array(0x400), ...o, code });

describe("segment arithmetic (linear = selector * 16 + offset)", () => {
  it("DS = 0x0800: [0x10] is linear 0x8010", () => {
    const r = real(
      c16(
        "b8 00 08 8e d8 c7 06 10 00 34 12",
        `mov ax, 0x0800
mov ds, ax
mov word [0x10], 0x1234`,
      ),
    );
    expect(r.fault).toBeNull();
    expect(rd16(r.mem, 0x10)).toBe(0x1234);
    expect(r.cpu.segBase[SEG_DS]).toBe(0x8000);
    expect(r.cpu.sel[SEG_DS]).toBe(0x0800);
  });
  it("ES = 0x07FF: [es:0x21] is linear 0x8011", () => {
    const r = real(
      c16(
        "b8 ff 07 8e c0 26 c6 06 21 00 5a",
        `mov ax, 0x07ff
mov es, ax
mov byte [es:0x21], 0x5a`,
      ),
    );
    expect(r.mem[0x11]).toBe(0x5a);
  });
  it("a byte at offset 0xFFFF is inside the 64 KiB limit", () => {
    const r = real(
      c16(
        "b8 90 07 8e d8 c6 06 ff ff 77",
        `mov ax, 0x0790
mov ds, ax
mov byte [0xffff], 0x77`,
      ),
    );
    expect(r.fault).toBeNull();
    // 0x7900 + 0xFFFF = 0x178FF (outside the scratch copy): read it back from guest memory.
    expect(r.cpu.mem.u8[0x178ff]).toBe(0x77);
  });
  it("a word at DS:0xFFFF exceeds the limit: #GP", () => {
    const r = real(c16("a1 ff ff", `mov ax, [0xffff]`));
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
  it("a dword at DS:0xFFFD exceeds the limit: #GP", () => {
    const r = real(c16("66 a1 fd ff", `mov eax, [0xfffd]`));
    expect(r.fault?.vector).toBe(GP);
  });
  it("a word at SS:0xFFFF (through [BP+DI]) exceeds the SS limit: #SS", () => {
    const r = real(c16("8b 03", `mov ax, [bp+di]`), { regs: { ebp: 0xffff, edi: 0 } });
    expect(r.fault).toEqual({ vector: SS, errorCode: 0, eipOffset: 0 });
  });
});

describe("16-bit addressing forms", () => {
  it("[BX+SI] wraps at 64 KiB: 0xFFF0 + 0x20 = 0x0010", () => {
    const r = real(
      c16(
        "b8 00 08 8e d8 c7 00 cd ab",
        `mov ax, 0x0800
mov ds, ax
mov word [bx+si], 0xabcd`,
      ),
      { regs: { ebx: 0xfff0, esi: 0x20 } },
    );
    expect(rd16(r.mem, 0x10)).toBe(0xabcd);
  });
  it("[BP+DI] defaults to SS", () => {
    const r = real(
      c16(
        "b8 00 08 8e d0 b8 00 01 8e d8 c7 03 11 11",
        `mov ax, 0x0800
mov ss, ax
mov ax, 0x0100
mov ds, ax
mov word [bp+di], 0x1111`,
      ),
      { regs: { ebp: 0x10, edi: 4 } },
    );
    expect(rd16(r.mem, 0x14)).toBe(0x1111);
  });
  it("[BP+disp8] defaults to SS, a DS override changes it", () => {
    const r = real(
      c16(
        "b8 00 08 8e d0 b8 10 08 8e d8 c7 46 02 22 22 3e c7 46 02 33 33",
        `mov ax, 0x0800
mov ss, ax
mov ax, 0x0810
mov ds, ax
mov word [bp+2], 0x2222
mov word [ds:bp+2], 0x3333`,
      ),
      { regs: { ebp: 0x20 } },
    );
    expect(rd16(r.mem, 0x22)).toBe(0x2222);
    expect(rd16(r.mem, 0x122)).toBe(0x3333);
  });
  it("disp16 alone", () => {
    const r = real(c16("c7 06 04 80 ef be", `mov word [0x8004], 0xbeef`));
    expect(rd16(r.mem, 4)).toBe(0xbeef);
  });
  it("[SI+disp16] and [BX+DI+disp8]", () => {
    const r = real(
      c16(
        "c7 84 00 70 44 44 c6 41 fe 55",
        `mov word [si+0x7000], 0x4444
mov byte [bx+di-2], 0x55`,
      ),
      { regs: { esi: 0x1008, ebx: 0x8000, edi: 0x20 } },
    );
    expect(rd16(r.mem, 8)).toBe(0x4444);
    expect(r.mem[0x1e]).toBe(0x55);
  });
  it("the upper halves of ESI/EBX are ignored by 16-bit addressing", () => {
    const r = real(c16("c7 00 66 66", `mov word [bx+si], 0x6666`), {
      regs: { ebx: 0xffff8000, esi: 0x12340030 },
    });
    expect(r.fault).toBeNull();
    expect(rd16(r.mem, 0x30)).toBe(0x6666);
  });
});

describe("16-bit stack: PUSH/POP/CALL/RET/far CALL/RETF", () => {
  it("PUSH/POP move SP by 2 and only SP", () => {
    const r = real(
      c16(
        "50 53 89 e6 59 5a",
        `push ax
push bx
mov si, sp
pop cx
pop dx`,
      ),
      { regs: { eax: 1, ebx: 2 } },
    );
    expect(r.regs.esi).toBe(0x9ffc);
    expect([r.regs.ecx, r.regs.edx]).toEqual([2, 1]);
    expect(r.regs.esp).toBe(0xa000);
  });
  it("PUSH with SP = 0 wraps to 0xFFFE", () => {
    const r = real(
      c16(
        "31 e4 50 89 e6",
        `xor sp, sp
push ax
mov si, sp`,
      ),
      { regs: { eax: 0x4321 } },
    );
    expect(r.regs.esi).toBe(0xfffe);
    expect(r.cpu.mem.u8[0xfffe] | (r.cpu.mem.u8[0xffff] << 8)).toBe(0x4321);
  });
  it("PUSH of a word with SP = 1 is #SS (SDM PUSH, IA-32 compatibility note)", () => {
    const r = real(
      c16(
        "bc 01 00 50",
        `mov sp, 1
push ax`,
      ),
    );
    expect(r.fault?.vector).toBe(SS);
  });
  it("near CALL pushes the 16-bit return IP; RET pops it", () => {
    const r = real(
      c16(
        "e8 02 00 eb 05 89 e6 8b 0c c3",
        `call f
jmp done
f:
mov si, sp
mov cx, [si]
ret
done:`,
      ),
    );
    expect(r.regs.esi).toBe(0x9ffe);
    expect(r.regs.ecx).toBe(0x7003);
    expect(r.regs.esp).toBe(0xa000);
  });
  it("far CALL pushes CS then IP; RETF pops both", () => {
    const r = real(
      c16(
        "9a 07 00 00 07 eb 0a 89 e6 8b 0c 8b 54 02 8c cf cb",
        `call 0x0700:f-0x7000
jmp done
f:
mov si, sp
mov cx, [si]
mov dx, [si+2]
mov di, cs
retf
done:`,
      ),
    );
    expect(r.regs.ecx).toBe(0x7005);
    expect(r.regs.edx).toBe(0);
    expect(r.regs.edi).toBe(0x0700);
    expect(r.regs.esp).toBe(0xa000);
    expect(r.cpu.sel[SEG_CS]).toBe(0);
  });
  it("far JMP loads CS = selector and base = selector * 16", () => {
    const r = real(
      c16(
        "ea 05 00 00 07 8c c8 bb 00 00 ea 0f 70 00 00",
        `jmp 0x0700:next-0x7000
next:
mov ax, cs
mov bx, 0
jmp 0:done
done:`,
      ),
    );
    expect(r.regs.eax & 0xffff).toBe(0x0700);
  });
  it("RETF imm16 adds to SP after popping", () => {
    const r = real(
      c16(
        "50 50 9a 09 70 00 00 eb 03 ca 04 00",
        `push ax
push ax
call 0:f
jmp done
f:
retf 4
done:`,
      ),
    );
    expect(r.regs.esp).toBe(0xa000);
  });
});

describe("interrupts in real mode (IVT at 0)", () => {
  it("INT n is reported by the runner with its vector and the return IP", () => {
    const r = real(
      c16(
        "90 cd 21",
        `nop
int 0x21`,
      ),
    );
    expect(r.fault).toEqual({ vector: 0x21, errorCode: 0, eipOffset: 3 });
  });
  it("PUSHF + far CALL [IVT entry] runs the handler; its IRET pops IP, CS, FLAGS", () => {
    const r = real(
      c16(
        "c7 06 84 00 16 70 c7 06 86 00 00 00 b8 05 00 9c ff 1e 84 00 eb 04 83 c0 01 cf",
        `mov word [0x21*4], handler
mov word [0x21*4+2], 0
mov ax, 5
pushf
call far [0x21*4]
jmp done
handler:
add ax, 1
iret
done:`,
      ),
    );
    expect(r.fault).toBeNull();
    expect(r.regs.eax).toBe(6);
    expect(r.regs.esp).toBe(0xa000);
  });
  it("INT n through the IVT pushes FLAGS, CS, IP and clears IF and TF; IRET restores", () => {
    const r = runFree({
      env: "real",
      memReg: null,
      eflags: 0x202,
      code: c16(
        "c7 06 84 00 1b 70 c7 06 86 00 00 00 c7 06 00 81 14 70 cd 21 9c 8f 06 10 81 eb 1d 9c 8f 06 02 81 89 e6 8b 04 a3 04 81 8b 44 02 a3 06 81 8b 44 04 a3 08 81 89 26 0a 81 cf",
        `mov word [0x21*4], handler
mov word [0x21*4+2], 0
mov word [0x8100], after
int 0x21
after:
pushf
pop word [0x8110]
jmp done
handler:
pushf
pop word [0x8102]
mov si, sp
mov ax, [si]
mov [0x8104], ax
mov ax, [si+2]
mov [0x8106], ax
mov ax, [si+4]
mov [0x8108], ax
mov [0x810a], sp
iret
done:`,
      ),
      mem: new Uint8Array(0x200),
    });
    expect(r.fault).toBeNull();
    expect(rd16(r.mem, 0x104)).toBe(rd16(r.mem, 0x100)); // IP after INT
    expect(rd16(r.mem, 0x106)).toBe(0); // CS
    expect(rd16(r.mem, 0x108)).toBe(0x0202); // FLAGS
    expect(rd16(r.mem, 0x102) & 0x300).toBe(0); // IF, TF clear in the handler
    expect(rd16(r.mem, 0x10a)).toBe(0x9ffa);
    expect(rd16(r.mem, 0x110)).toBe(0x0202);
    expect(r.cpu.regs[4]).toBe(0xa000);
  });
  it("the IVT base and limit come from IDTR (LIDT in real mode)", () => {
    const b = new Buf(0x200).pdesc(0, 0x3ff, 0x8200);
    const r = runFree({
      env: "real",
      memReg: null,
      code: c16(
        "0f 01 1e 00 80 c7 06 c0 82 15 70 c7 06 c2 82 00 00 cd 30 eb 04 b9 99 00 cf",
        `lidt [0x8000]
mov word [0x8200+0x30*4], handler
mov word [0x8200+0x30*4+2], 0
int 0x30
jmp done
handler:
mov cx, 0x99
iret
done:`,
      ),
      mem: b.u8,
    });
    expect(r.fault).toBeNull();
    expect(r.cpu.regs[1] & 0xffff).toBe(0x99);
  });
});

describe("LOOP and string instructions with CX/SI/DI", () => {
  it("LOOP decrements CX only (16-bit address size)", () => {
    const r = real(
      c16(
        "31 c0 40 e2 fd",
        `xor ax, ax
l:
inc ax
loop l`,
      ),
      { regs: { ecx: 0x00010005 } },
    );
    expect(r.regs.eax).toBe(5);
    expect(r.regs.ecx).toBe(0x00010000);
  });
  it("LOOP with the 0x67 prefix uses ECX", () => {
    const r = real(
      c16(
        "31 c0 40 67 e2 fc",
        `xor ax, ax
l:
inc ax
a32 loop l`,
      ),
      { regs: { ecx: 3 } },
    );
    expect(r.regs.eax).toBe(3);
    expect(r.regs.ecx).toBe(0);
  });
  it("REP MOVSB copies CX bytes from DS:SI to ES:DI", () => {
    const mem = new Uint8Array(0x40);
    mem.set([1, 2, 3, 4, 5]);
    const r = real(c16("f3 a4", `rep movsb`), { regs: { ecx: 0x12340004, esi: 0x8000, edi: 0x8010 }, mem });
    expect([...r.mem.slice(0x10, 0x15)]).toEqual([1, 2, 3, 4, 0]);
    expect(r.regs.esi).toBe(0x8004);
    expect(r.regs.edi).toBe(0x8014);
    expect(r.regs.ecx).toBe(0x12340000);
  });
  it("REP MOVSB with DF=1 copies downwards", () => {
    const mem = new Uint8Array(0x40);
    mem.set([1, 2, 3, 4, 5]);
    const r = real(
      c16(
        "fd f3 a4 fc",
        `std
rep movsb
cld`,
      ),
      { regs: { ecx: 4, esi: 0x8003, edi: 0x8013 }, mem },
    );
    expect([...r.mem.slice(0x10, 0x14)]).toEqual([1, 2, 3, 4]);
    expect(r.regs.esi).toBe(0x7fff);
    expect(r.regs.edi).toBe(0x800f);
  });
  it("REP STOSW uses ES, not DS", () => {
    const r = real(
      c16(
        "ba 00 08 8e c2 b8 99 99 f3 ab",
        `mov dx, 0x0800
mov es, dx
mov ax, 0x9999
rep stosw`,
      ),
      { regs: { ecx: 2, edi: 0x20 } },
    );
    expect(rd32(r.mem, 0x20)).toBe(0x99999999);
  });
});

describe("operand- and address-size prefixes in real mode", () => {
  it("0x66 gives 32-bit operations", () => {
    const r = real(
      c16(
        "66 b8 78 56 34 12 66 05 98 ba dc 0e 66 9c 66 59",
        `mov eax, 0x12345678
add eax, 0x0edcba98
pushfd
pop ecx`,
      ),
    );
    expect(r.regs.eax).toBe(0x21111110);
    expect(r.regs.ecx & 1).toBe(0);
    expect(r.regs.esp).toBe(0xa000);
  });
  it("PUSH with 0x66 pushes 4 bytes", () => {
    const r = real(
      c16(
        "66 50 89 e6",
        `push eax
mov si, sp`,
      ),
      { regs: { eax: 0xdeadbeef } },
    );
    expect(r.regs.esi).toBe(0x9ffc);
    expect(rd32(r.cpu.mem.u8, 0x9ffc)).toBe(0xdeadbeef);
  });
  it("0x67 gives 32-bit addressing within the 64 KiB limit", () => {
    const mem = new Buf(16).d32(0, 0xcafef00d).u8;
    const r = real(c16("66 67 8b 03", `mov eax, [ebx]`), { regs: { ebx: 0x8000 }, mem });
    expect(r.regs.eax).toBe(0xcafef00d);
  });
  it("a 32-bit offset beyond 0xFFFF is #GP", () => {
    const r = real(c16("66 67 8b 03", `mov eax, [ebx]`), { regs: { ebx: 0x10000 } });
    expect(r.fault).toEqual({ vector: GP, errorCode: 0, eipOffset: 0 });
  });
});

describe("protected-mode-only instructions are #UD in real mode", () => {
  it.each([
    ["SLDT", "0f 00 c0"],
    ["STR", "0f 00 c8"],
    ["LLDT", "0f 00 d0"],
    ["LTR", "0f 00 d8"],
    ["VERR", "0f 00 e0"],
    ["VERW", "0f 00 e8"],
    ["LAR", "0f 02 c0"],
    ["LSL", "0f 03 c0"],
    ["ARPL", "63 c0"],
  ])("%s", (_n, h) => {
    const r = real(c16(h, "(hand-encoded, register operands)"));
    expect(r.fault).toEqual({ vector: UD, errorCode: 0, eipOffset: 0 });
  });
});

describe("flags and I/O in real mode (CPL 0, no IOPL checks)", () => {
  it("POPF loads IOPL and clears IF", () => {
    const r = real(
      c16(
        "68 02 30 9d 9c 59",
        `push word 0x3002
popf
pushf
pop cx`,
      ),
    );
    expect(r.regs.ecx).toBe(0x3002);
  });
  it("CLI/STI and IN/OUT work with IOPL 0", () => {
    const r = real(
      c16(
        "fa e4 81 e6 81 fb",
        `cli
in al, 0x81
out 0x81, al
sti`,
      ),
    );
    expect(r.fault).toBeNull();
  });
});

/** GDT at scratch 0x8100 (pseudo-descriptor at 0x8000): 0x08 code32, 0x10 data32, 0x18 code16, 0x20 data16. */
function pmGdt(): Buf {
  return new Buf(0x400)
    .pdesc(0, 0x27, 0x8100)
    .desc(0x108, seg(0, 0xfffff, 0x9a, 0xc))
    .desc(0x110, seg(0, 0xfffff, 0x92, 0xc))
    .desc(0x118, seg(0, 0xffff, 0x9a, 0))
    .desc(0x120, seg(0, 0xffff, 0x92, 0));
}

describe("entering protected mode and coming back (Vol. 3 9.9)", () => {
  const roundTrip = c16(
    "0f 01 16 00 80 0f 20 c0 0c 01 0f 22 c0 ea 12 70 08 00 66 b8 10 00 8e d8 8e e0 c7 05 00 82 00 00 44 33 22 11 c7 05 00 00 20 00 be ba fe ca 0f 20 c0 a3 04 82 00 00 8c 0d 08 82 00 00 ea 43 70 00 00 18 00 b8 20 00 8e d8 8e c0 8e d0 0f 20 c0 24 fe 0f 22 c0 ea 59 70 00 00 31 c0 8e d8 8e c0 8e d0 8c 0e 0c 82 64 66 67 8b 03",
    `lgdt [0x8000]
mov eax, cr0
or al, 1
mov cr0, eax
jmp 0x08:pm
bits 32
pm:
mov ax, 0x10
mov ds, ax
mov fs, ax
mov dword [0x8200], 0x11223344
mov dword [0x200000], 0xcafebabe
mov eax, cr0
mov [0x8204], eax
mov [0x8208], cs
jmp 0x18:pm16
bits 16
pm16:
mov ax, 0x20
mov ds, ax
mov es, ax
mov ss, ax
mov eax, cr0
and al, 0xfe
mov cr0, eax
jmp 0:rm
rm:
xor ax, ax
mov ds, ax
mov es, ax
mov ss, ax
mov [0x820c], cs
mov eax, [fs:ebx]`,
  );
  it("LGDT, CR0.PE=1, far JMP to a 32-bit code segment, then back through a 16-bit segment", () => {
    const r = real(roundTrip, { mem: pmGdt().u8, regs: { ebx: 0x200000 } });
    expect(r.fault).toBeNull();
    expect(rd32(r.mem, 0x200)).toBe(0x11223344);
    expect(rd32(r.mem, 0x204) & 1).toBe(1);
    expect(rd16(r.mem, 0x208)).toBe(0x08);
    expect(rd16(r.mem, 0x20c)).toBe(0);
    expect(r.cpu.protectedMode).toBe(false);
    expect(r.cpu.sel[SEG_CS]).toBe(0);
    expect(r.cpu.segLimit[SEG_DS]).toBe(0xffff);
    expect(r.cpu.segLimit[SEG_SS]).toBe(0xffff);
    expect(r.cpu.segBase[SEG_ES]).toBe(0);
  });
  it("a segment register not reloaded after the return keeps its protected-mode limit (SDM 9.9.2 step 5)", () => {
    const r = real(roundTrip, { mem: pmGdt().u8, regs: { ebx: 0x200000 } });
    expect(r.cpu.segLimit[SEG_FS] >>> 0).toBe(0xffffffff);
    expect(r.regs.eax).toBe(0xcafebabe);
  });
  it("LMSW can set PE (enter protected mode)", () => {
    const r = real(
      c16(
        "b8 01 00 0f 01 f0",
        `mov ax, 1
lmsw ax`,
      ),
    );
    expect(r.fault).toBeNull();
    expect(r.cpu.cr0 & 1).toBe(1);
  });
});

describe("processor state after RESET (Vol. 3 9.1.1, Table 9-1)", () => {
  const check = (cpu: Cpu) => {
    expect(cpu.eip).toBe(0xfff0);
    expect(cpu.getEflags()).toBe(2);
    expect(cpu.sel[SEG_CS]).toBe(0xf000);
    expect(cpu.segBase[SEG_CS] >>> 0).toBe(0xffff0000);
    for (let s = 0; s < 6; s++) {
      expect(cpu.segLimit[s], `limit of segment ${s}`).toBe(0xffff);
      if (s !== SEG_CS) {
        expect(cpu.sel[s]).toBe(0);
        expect(cpu.segBase[s]).toBe(0);
        // present, read/write (accessed), 16-bit: no D/B and no G
        expect(cpu.segAttr[s] & 0xc09f, `attributes of segment ${s}`).toBe(0x93);
      }
    }
    expect(cpu.regs[2]).toBe(0x633); // EDX = processor signature
    expect(cpu.cr0 >>> 0).toBe(0x60000010);
    expect([cpu.cr2, cpu.cr3, cpu.cr4]).toEqual([0, 0, 0]);
    expect([cpu.gdtBase, cpu.gdtLimit, cpu.idtBase, cpu.idtLimit]).toEqual([0, 0xffff, 0, 0xffff]);
    expect(cpu.dr[6] >>> 0).toBe(0xffff0ff0);
    expect(cpu.dr[7]).toBe(0x400);
    expect(cpu.cpl).toBe(0);
  };
  it("power-on state", () => {
    const cpu = new Cpu(new PhysicalMemory(1 << 20), new IoBus());
    check(cpu);
  });
  it("RESET from protected mode with flat 32-bit segments restores the real-mode segment caches", () => {
    const r = runCpu({ code: c16("90", "nop") }); // kernel env: flat 32-bit segments, CR0.PE=1
    expect(r.cpu.segLimit[SEG_DS]).toBe(-1);
    r.cpu.reset();
    check(r.cpu);
  });
});
