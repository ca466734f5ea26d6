; VirtLab testkernel: a Multiboot v1 kernel that checks an x86 CPU's
; protected-mode, paging, exception and privilege mechanisms and reports on
; COM1. One line per check: "PASS <name>" or "FAIL <name>: <detail>", then
; "ALL PASS" or "SOME FAILED (<n>)", then cli;hlt forever.
; Lines end with CR LF.

bits 32
%include "macros.inc"

extern __bss_start, __bss_end

; ---------------------------------------------------------------- multiboot
section .multiboot
align 4
    dd 0x1BADB002               ; magic
    dd 0                        ; flags: ELF kernel, nothing requested
    dd -0x1BADB002              ; checksum

; ---------------------------------------------------------------- entry
section .text
global _start
_start:
    cld
    mov esi, eax                ; multiboot magic
    mov ebp, ebx                ; multiboot info
    mov esp, kstack_top         ; Multiboot leaves ESP undefined
    pushfd
    pop edx                     ; EFLAGS at entry (checked by t_multiboot)
    cli
    ; Zero .bss (the loader should have done it; do not rely on it).
    mov edi, __bss_start
    mov ecx, __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov [mb_magic], esi
    mov [mb_info], ebp
    mov [entry_eflags], edx
    mov eax, cr0
    mov [entry_cr0], eax

    call serial_init
    PRINT {"VirtLab testkernel", 13, 10}

    call build_gdt
    lgdt [gdtr]
    jmp SEL_CODE0:.cs_reloaded
.cs_reloaded:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, kstack_top
    xor eax, eax
    lldt ax                     ; null LDT: TI=1 selectors must fault
    call build_idt
    lidt [idtr]
    call build_tss
    call pic_init

    ; Baseline control registers: PE, MP, ET, NE; no paging, CR4 = 0.
    mov eax, cr0
    and eax, ~(CR0_EM | CR0_TS | CR0_WP | CR0_PG)
    or eax, CR0_MP | CR0_ET | CR0_NE
    mov cr0, eax
    mov [base_cr0], eax
    xor eax, eax
    mov cr4, eax
    mov [base_cr4], eax
    fninit

    TEST "multiboot", t_multiboot
    TEST "pmode", t_pmode
    TEST "gdt-reload", t_gdt_reload
    TEST "far-transfer", t_far_transfer
    TEST "seg-accessed", t_seg_accessed
    TEST "seg-base", t_seg_base
%ifdef STRICT
    TEST "seg-limit", t_seg_limit
%endif
    TEST "lsl-lar", t_lsl_lar
    TEST "ltr-busy", t_ltr_busy
    TEST "gp-selector", t_gp_selector
%ifdef STRICT
    TEST "gp-null-ds", t_gp_null_ds
%endif
    TEST "gp-ss", t_gp_ss
    TEST "np-segment", t_np_segment
    TEST "ud-ud2", t_ud_ud2
    TEST "ud-invalid", t_ud_invalid
    TEST "ud-lock", t_ud_lock
    TEST "ud-sse", t_ud_sse
    TEST "de-div0", t_de_div0
    TEST "de-idiv-overflow", t_de_idiv_overflow
    TEST "de-div-overflow", t_de_div_overflow
    TEST "bp-int3", t_bp_int3
    TEST "of-into", t_of_into
    TEST "db-single-step", t_db_single_step
    TEST "fpu-basic", t_fpu_basic
    TEST "nm-ts", t_nm_ts
    TEST "nm-em", t_nm_em
    TEST "nm-wait", t_nm_wait
    TEST "int-gate-if", t_int_gate_if
    TEST "trap-gate-if", t_trap_gate_if
    TEST "smc", t_smc
    TEST "smc-loop", t_smc_loop
    TEST "paging-4k", t_paging_4k
    TEST "page-cross", t_page_cross
    TEST "paging-pse", t_paging_pse
    TEST "invlpg", t_invlpg
    TEST "cr3-reload", t_cr3_reload
    TEST "paging-global", t_paging_global
    TEST "accessed-dirty", t_accessed_dirty
    TEST "smc-alias", t_smc_alias
    TEST "pf-notpresent", t_pf_notpresent
    TEST "pf-fetch", t_pf_fetch
    TEST "pf-wp", t_pf_wp
    TEST "wp0-write", t_wp0_write
    TEST "ring3-roundtrip", t_ring3_roundtrip
    TEST "iret-ring3", t_iret_ring3
    TEST "pf-user-write", t_pf_user_write
    TEST "pf-user-super", t_pf_user_super
    TEST "gp-priv", t_gp_priv
    TEST "gp-hlt", t_gp_hlt
    TEST "gp-cli", t_gp_cli
    TEST "gp-io", t_gp_io
    TEST "gp-int-dpl", t_gp_int_dpl
    TEST "call-gate", t_call_gate
    TEST "df-taskgate", t_df_taskgate

    ; summary
    mov eax, [fail_count]
    test eax, eax
    jnz .some
    PRINT {"ALL PASS", 13, 10}
    jmp halt_forever
.some:
    PRINT "SOME FAILED ("
    call print_dec
    PRINT {")", 13, 10}
halt_forever:
    cli
    hlt
    jmp halt_forever

; ---------------------------------------------------------------- test runner
; esi = name, edi = check function
run_test:
    mov [cur_name], esi
    mov dword [fail_msg], 0
    mov dword [fail_kind], 0
    mov dword [recover_eip], 0
    mov dword [exc_vec], -1
    mov [test_esp], esp
    call edi
rt_after:                       ; also reached from test_fail/test_pass/handler
    cli
    mov ax, SEL_DATA0
    mov ds, ax
    mov ss, ax
    mov esp, [test_esp]
    push dword 2                ; EFLAGS: IF=0, TF=0, NT=0, DF=0, IOPL=0
    popfd
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov dword [recover_eip], 0
    mov dword [r3_esgs], SEL_DATA3
    ; restore the baseline control registers
    test dword [base_cr0], CR0_PG
    jz .nocr3
    mov eax, [base_cr3]
    mov cr3, eax
.nocr3:
    mov eax, [base_cr4]
    mov cr4, eax
    mov eax, [base_cr0]
    mov cr0, eax
    ; report
    mov esi, [fail_msg]
    test esi, esi
    jnz .fail
    PRINT "PASS "
    mov esi, [cur_name]
    call print_str
    PRINT {13, 10}
    ret
.fail:
    inc dword [fail_count]
    PRINT "FAIL "
    mov esi, [cur_name]
    call print_str
    PRINT ": "
    mov esi, [fail_msg]
    call print_str
    cmp dword [fail_kind], 0
    jne .unexp
    PRINT " (got 0x"
    mov eax, [fail_got]
    call print_hex
    PRINT " want 0x"
    mov eax, [fail_want]
    call print_hex
    PRINT ")"
    jmp .eol
.unexp:
    call print_exc_info
.eol:
    PRINT {13, 10}
    ret

test_fail:
    mov esp, [test_esp]
    jmp rt_after

test_pass:
    mov dword [fail_msg], 0
    mov esp, [test_esp]
    jmp rt_after

print_exc_info:
    PRINT " vec=0x"
    mov eax, [exc_vec]
    call print_hex
    PRINT " err=0x"
    mov eax, [exc_err]
    call print_hex
    PRINT " eip=0x"
    mov eax, [exc_eip]
    call print_hex
    PRINT " cs=0x"
    mov eax, [exc_cs]
    call print_hex
    PRINT " cr2=0x"
    mov eax, [exc_cr2]
    call print_hex
    ret

; ---------------------------------------------------------------- serial
serial_init:
    mov dx, 0x3F9               ; IER = 0 (no UART interrupts)
    xor al, al
    out dx, al
    mov dx, 0x3FB               ; LCR: DLAB = 1
    mov al, 0x80
    out dx, al
    mov dx, 0x3F8               ; DLL = 1 (115200 baud)
    mov al, 1
    out dx, al
    mov dx, 0x3F9               ; DLM = 0
    xor al, al
    out dx, al
    mov dx, 0x3FB               ; LCR: 8N1, DLAB = 0
    mov al, 0x03
    out dx, al
    mov dx, 0x3FA               ; FCR: enable + clear FIFOs
    mov al, 0x07
    out dx, al
    mov dx, 0x3FC               ; MCR: DTR | RTS (OUT2 off: no IRQ)
    mov al, 0x03
    out dx, al
    ret

; al = byte. Polls LSR.THRE (bounded, so a broken UART model cannot hang us).
putc:
    push ecx
    push edx
    push eax
    mov ecx, 1000000
    mov dx, 0x3FD
.wait:
    in al, dx
    test al, 0x20
    jnz .ready
    dec ecx
    jnz .wait
.ready:
    pop eax
    mov dx, 0x3F8
    out dx, al
    pop edx
    pop ecx
    ret

print_str:                      ; esi = NUL-terminated string
    push esi
    push eax
.l: lodsb
    test al, al
    jz .d
    call putc
    jmp .l
.d: pop eax
    pop esi
    ret

print_hex:                      ; eax, 8 digits
    pushad
    mov ebx, eax
    mov ecx, 8
.l: rol ebx, 4
    mov eax, ebx
    and eax, 0xF
    mov al, [hexdigits + eax]
    call putc
    dec ecx
    jnz .l
    popad
    ret

print_dec:                      ; eax, unsigned
    pushad
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.out:
    pop eax
    add al, '0'
    call putc
    dec ecx
    jnz .out
    popad
    ret

; ---------------------------------------------------------------- 8259 PIC
; Remap to 0x20/0x28 and mask every line: the checks that run with IF=1
; must not see hardware interrupts.
pic_init:
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al
    ret

; ---------------------------------------------------------------- descriptors
; set_desc: edi = selector, eax = base, ebx = limit (20 bits),
;           cl = access byte, ch = flags nibble (G, D/B, L, AVL)
set_desc:
    push eax
    push ebx
    and edi, ~7
    add edi, gdt
    mov [edi], bx
    mov [edi + 2], ax
    shr eax, 16
    mov [edi + 4], al
    mov [edi + 7], ah
    mov [edi + 5], cl
    shr ebx, 16
    and bl, 0x0F
    mov al, ch
    shl al, 4
    or al, bl
    mov [edi + 6], al
    pop ebx
    pop eax
    ret

build_gdt:
    ; entry 0 stays null (bss is zeroed)
    mov edi, SEL_CODE0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC9A
    call set_desc
    mov edi, SEL_DATA0
    mov cx, 0xC92
    call set_desc
    mov edi, SEL_CODE3
    mov cx, 0xCFA
    call set_desc
    mov edi, SEL_DATA3
    mov cx, 0xCF2
    call set_desc
    mov edi, SEL_FRESH
    mov cx, 0xC92
    call set_desc
    mov edi, SEL_NP             ; data, P = 0
    mov cx, 0xC12
    call set_desc
    mov edi, SEL_XONLY          ; execute-only code
    mov cx, 0xC98
    call set_desc
    mov edi, SEL_TSS
    mov eax, tss_main
    mov ebx, 103
    mov cx, 0x089               ; 32-bit TSS, available
    call set_desc
    mov edi, SEL_TSS_DF
    mov eax, tss_df
    call set_desc
    mov edi, SEL_SMALL          ; byte-granular, limit 0xFFF, D/B = 1
    mov eax, seg_buf
    mov ebx, 0xFFF
    mov cx, 0x492
    call set_desc
    ; call gate: DPL 3, target SEL_CODE0:callgate_fn, 1 dword parameter
    mov eax, callgate_fn
    mov [gdt + (SEL_CGATE & ~7)], ax
    mov word [gdt + (SEL_CGATE & ~7) + 2], SEL_CODE0
    mov byte [gdt + (SEL_CGATE & ~7) + 4], 1
    mov byte [gdt + (SEL_CGATE & ~7) + 5], 0xEC
    shr eax, 16
    mov [gdt + (SEL_CGATE & ~7) + 6], ax
    ret

; set_gate: eax = vector, edx = handler, cl = type/attr byte (selector SEL_CODE0)
set_gate:
    push edx
    push edi
    lea edi, [idt + eax * 8]
    mov [edi], dx
    mov word [edi + 2], SEL_CODE0
    mov byte [edi + 4], 0
    mov [edi + 5], cl
    shr edx, 16
    mov [edi + 6], dx
    pop edi
    pop edx
    ret

build_idt:
    xor eax, eax
.l: mov edx, [isr_table + eax * 4]
    mov cl, 0x8E                ; 32-bit interrupt gate, DPL 0
    call set_gate
    inc eax
    cmp eax, 256
    jb .l
    mov eax, 0x40
    mov edx, h_gate
    mov cl, 0x8E                ; interrupt gate, DPL 0
    call set_gate
    mov eax, 0x41
    mov cl, 0x8F                ; trap gate, DPL 0
    call set_gate
    mov eax, 0x80
    mov edx, h_int80
    mov cl, 0xEE                ; interrupt gate, DPL 3
    call set_gate
    mov eax, 0x81               ; DPL 3 "return to kernel" (common path)
    mov edx, [isr_table + 0x81 * 4]
    mov cl, 0xEE
    call set_gate
    ret

build_tss:
    mov dword [tss_main + 4], stack0_top    ; ESP0
    mov dword [tss_main + 8], SEL_DATA0     ; SS0
    mov word [tss_main + 102], 104          ; no I/O bitmap
    ret

; ---------------------------------------------------------------- exceptions
; Stubs for all 256 vectors: [esp] = vector, [esp+4] = error code (0 if none)
%assign v 0
%rep 256
isr_ %+ v:
  %if v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17
    push dword v
  %else
    push dword 0
    push dword v
  %endif
    jmp isr_common
%assign v v + 1
%endrep

isr_common:
    pushad
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    cld
    mov eax, [esp + 32]
    mov [exc_vec], eax
    mov eax, [esp + 36]
    mov [exc_err], eax
    mov eax, [esp + 40]
    mov [exc_eip], eax
    mov ecx, [esp + 44]
    and ecx, 0xFFFF
    mov [exc_cs], ecx
    mov eax, [esp + 48]
    mov [exc_eflags], eax
    xor eax, eax
    mov [exc_uesp], eax
    mov [exc_uss], eax
    test ecx, 3
    jz .same_pl
    mov eax, [esp + 52]
    mov [exc_uesp], eax
    mov eax, [esp + 56]
    and eax, 0xFFFF
    mov [exc_uss], eax
.same_pl:
    mov eax, [esp + 28]
    mov [exc_eax], eax
    mov eax, [esp + 20]
    mov [exc_edx], eax
    mov eax, cr2
    mov [exc_cr2], eax
    mov eax, [recover_eip]
    test eax, eax
    jz .unexpected
    mov dword [recover_eip], 0
    mov cx, SEL_DATA0
    mov ss, cx
    mov esp, [recover_esp]
    jmp eax
.unexpected:
    cmp dword [test_esp], 0
    je .fatal
    mov dword [fail_kind], 1
    mov dword [fail_msg], s_unexpected
    jmp test_fail
.fatal:
    mov ax, SEL_DATA0
    mov ss, ax
    mov esp, kstack_top
    PRINT "FATAL: exception before the first check:"
    call print_exc_info
    PRINT {13, 10, "SOME FAILED (1)", 13, 10}
    jmp halt_forever

; int 0x40 (interrupt gate) and 0x41 (trap gate): record and return
h_gate:
    push eax
    mov eax, [esp + 4]
    mov [g_eip], eax
    mov eax, [esp + 8]
    and eax, 0xFFFF
    mov [g_cs], eax
    mov eax, [esp + 12]
    mov [g_pushed_fl], eax
    pushfd
    pop eax
    mov [g_inside_fl], eax
    pop eax
    iret

; int 0x80 from ring 3 (DPL 3 interrupt gate): record the frame, eax += 1
h_int80:
    mov [h80_esp], esp
    push eax
    xor eax, eax
    mov ax, ss
    mov [h80_ss], eax
    mov ax, cs
    mov [h80_ccs], eax
    mov eax, [esp + 4]
    mov [h80_eip], eax
    mov eax, [esp + 8]
    and eax, 0xFFFF
    mov [h80_cs], eax
    mov eax, [esp + 12]
    mov [h80_efl], eax
    mov eax, [esp + 16]
    mov [h80_uesp], eax
    mov eax, [esp + 20]
    and eax, 0xFFFF
    mov [h80_uss], eax
    pushfd
    pop eax
    mov [h80_inside_fl], eax
    pop eax
    inc eax
    iret

; far call target through the call gate (ring 3 -> ring 0, 1 parameter)
callgate_fn:
    mov [cg_esp], esp
    xor eax, eax
    mov ax, cs
    mov [cg_ccs], eax
    mov ax, ss
    mov [cg_ss], eax
    mov eax, [esp]
    mov [cg_eip], eax
    mov eax, [esp + 4]
    and eax, 0xFFFF
    mov [cg_cs], eax
    mov eax, [esp + 8]
    mov [cg_param], eax
    mov eax, [esp + 12]
    mov [cg_uesp], eax
    mov eax, [esp + 16]
    and eax, 0xFFFF
    mov [cg_uss], eax
    mov eax, 0x600DCA11
    retf 4

; Run ring-3 code: eax = entry. Returns (in ring 0) when the code executes
; "int 0x81" (then [exc_vec] = 0x81) or takes an exception ([exc_vec] = it).
run_ring3:
    pushad
    mov dword [exc_vec], -1
    mov [recover_esp], esp
    mov dword [recover_eip], .back
    mov ecx, [r3_esgs]
    mov dx, SEL_DATA3
    mov ds, dx
    mov fs, dx
    mov es, cx
    mov gs, cx
    push dword SEL_DATA3        ; SS
    push dword user_stack_top   ; ESP
    push dword 0x202            ; EFLAGS: IF = 1, IOPL = 0
    push dword SEL_CODE3        ; CS
    push eax                    ; EIP
    iret
.back:
    mov dword [r3_esgs], SEL_DATA3
    popad
    ret

set_markers:
    mov dword [page_a], 0xAAAA0001
    mov dword [page_b], 0xBBBB0002
    mov dword [page_c], 0xCCCC0003
    ret

; ================================================================ checks
t_multiboot:
    EXPECT dword [mb_magic], 0x2BADB002, "EAX at entry"
    EXPECT_NE dword [mb_info], 0, "EBX (info pointer) at entry"
    EXPECTM dword [entry_eflags], 0x20200, 0, "EFLAGS.IF/VM at entry"
    ret

t_pmode:
    EXPECTM dword [entry_cr0], CR0_PE | CR0_PG, CR0_PE, "CR0.PE/PG at entry"
    EXPECTM cr0, CR0_PE | CR0_PG, CR0_PE, "CR0.PE/PG now"
    xor ecx, ecx
    mov cx, cs
    EXPECTM ecx, 3, 0, "CPL"
    ret

t_gdt_reload:
    lgdt [gdtr]
    jmp SEL_CODE0:.reloaded
.reloaded:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    xor ecx, ecx
    mov cx, cs
    EXPECT ecx, SEL_CODE0, "CS"
    mov cx, ds
    EXPECT ecx, SEL_DATA0, "DS"
    mov cx, es
    EXPECT ecx, SEL_DATA0, "ES"
    mov cx, fs
    EXPECT ecx, SEL_DATA0, "FS"
    mov cx, gs
    EXPECT ecx, SEL_DATA0, "GS"
    mov cx, ss
    EXPECT ecx, SEL_DATA0, "SS"
    sgdt [dtr_buf]
    movzx ecx, word [dtr_buf]
    EXPECT ecx, GDT_ENTRIES * 8 - 1, "SGDT limit"
    EXPECT dword [dtr_buf + 2], gdt, "SGDT base"
    sidt [dtr_buf]
    movzx ecx, word [dtr_buf]
    EXPECT ecx, 256 * 8 - 1, "SIDT limit"
    EXPECT dword [dtr_buf + 2], idt, "SIDT base"
    ; the loads set the descriptors' accessed bit
%ifdef STRICT
    movzx ecx, byte [gdt + SEL_CODE0 + 5]
    EXPECT ecx, 0x9B, "code descriptor access byte"
%endif
    movzx ecx, byte [gdt + SEL_DATA0 + 5]
    EXPECT ecx, 0x93, "data descriptor access byte"
    ret

t_far_transfer:
    jmp far [.fptr]
    ud2
.l1:
    mov dword [far_cs], 0
    call SEL_CODE0:far_fn
.l1r:
    EXPECT dword [far_eip], .l1r, "far CALL pushed EIP"
    EXPECT dword [far_cs], SEL_CODE0, "far CALL pushed CS"
    push dword SEL_CODE0
    push dword .l2
    retf
    ud2
.l2:
    ret
.fptr:
    dd .l1
    dw SEL_CODE0

far_fn:
    mov eax, [esp]
    mov [far_eip], eax
    mov eax, [esp + 4]
    and eax, 0xFFFF
    mov [far_cs], eax
    retf

t_seg_accessed:
    movzx ecx, byte [gdt + SEL_FRESH + 5]
    EXPECT ecx, 0x92, "access byte before load"
    mov ax, SEL_FRESH
    mov fs, ax
    movzx ecx, byte [gdt + SEL_FRESH + 5]
    EXPECT ecx, 0x93, "access byte after load (A bit)"
    mov ax, SEL_DATA0
    mov fs, ax
    ret

t_seg_base:
    mov ax, SEL_SMALL
    mov es, ax
    mov dword [es:0], 0xDEADBEEF
    mov dword [es:0xFFC], 0x0BADF00D
    mov dword [seg_buf + 8], 0x600DF00D
    mov ecx, [es:8]
    mov ax, SEL_DATA0
    mov es, ax
    EXPECT dword [seg_buf], 0xDEADBEEF, "write at ES:0 (segment base)"
    EXPECT dword [seg_buf + 0xFFC], 0x0BADF00D, "write at ES:0xFFC"
    EXPECT ecx, 0x600DF00D, "read at ES:8"
    ret

; QEMU TCG does not check data segment limits (STRICT build only)
t_seg_limit:
    mov ax, SEL_SMALL
    mov es, ax
    TRY
    mov eax, [es:0xFFD]         ; last byte at 0x1000 > limit
    CATCH
    EXPECT_EXC 13, 0, [try_insn]
    mov ax, SEL_SMALL
    mov es, ax
    TRY
    mov byte [es:0x1000], 1
    CATCH
    EXPECT_EXC 13, 0, [try_insn]
    ret

t_lsl_lar:
    mov ecx, SEL_SMALL
    lsl esi, ecx
    setz bl
    movzx ebx, bl
    EXPECT ebx, 1, "LSL ZF"
    EXPECT esi, 0xFFF, "LSL byte-granular limit"
    mov ecx, SEL_DATA0
    lsl esi, ecx
    EXPECT esi, 0xFFFFFFFF, "LSL page-granular limit"
    mov ecx, SEL_SMALL
    lar esi, ecx
    setz bl
    movzx ebx, bl
    EXPECT ebx, 1, "LAR ZF"
    EXPECTM esi, 0x00F0FE00, 0x00409200, "LAR access rights"
    mov esi, 0x12345678
    mov ecx, 0x1000             ; beyond the GDT limit: ZF = 0, no fault
    lsl esi, ecx
    setnz bl
    movzx ebx, bl
    EXPECT ebx, 1, "LSL ZF for an invalid selector"
    EXPECT esi, 0x12345678, "LSL destination for an invalid selector"
    ret

t_ltr_busy:
    movzx ecx, byte [gdt + SEL_TSS + 5]
    EXPECT ecx, 0x89, "TSS descriptor before LTR"
    mov ax, SEL_TSS
    ltr ax
    movzx ecx, byte [gdt + SEL_TSS + 5]
    EXPECT ecx, 0x8B, "TSS descriptor busy after LTR"
    xor ecx, ecx
    str cx
    EXPECT ecx, SEL_TSS, "STR"
    ret

; load DS with cx; expect #GP(err)
%macro GP_DS 2
    mov cx, %1
    TRY
    mov ds, cx
    CATCH
    EXPECT_EXC %2, (%1) & 0xFFFC, [try_insn]
%endmacro

t_gp_selector:
    GP_DS 0x1000, 13            ; index beyond the GDT limit
    GP_DS 0x0FFB, 13            ; beyond the limit, RPL 3 (error code drops RPL)
    GP_DS 0x000C, 13            ; TI = 1 with a null LDTR
    GP_DS SEL_XONLY, 13         ; execute-only code segment
    GP_DS SEL_SMALL | 3, 13     ; RPL 3 > DPL 0
    ret

t_np_segment:
    GP_DS SEL_NP, 11            ; not present -> #NP(selector)
    ret

; QEMU TCG does not fault on a memory access through a null DS (STRICT only)
t_gp_null_ds:
    xor ecx, ecx
    TRY
    mov ds, cx                  ; loading a null selector is allowed
.f: mov eax, [0x1000]           ; using it is not
    CATCH
    EXPECT_EXC 13, 0, .f
    ret

%macro GP_SS 2
    mov cx, %1
    TRY
    mov ss, cx
    CATCH
    EXPECT_EXC 13, %2, [try_insn]
%endmacro

t_gp_ss:
    GP_SS 0, 0                  ; null SS -> #GP(0)
    GP_SS SEL_DATA3, SEL_DATA3 & 0xFFFC  ; RPL != CPL
    GP_SS SEL_DATA3 & 0xFFFC, SEL_DATA3 & 0xFFFC ; DPL != CPL
    GP_SS SEL_CODE0, SEL_CODE0  ; code segment
    ret

%macro UD_SEQ 1+
    TRY
    %1
    CATCH
    EXPECT_EXC 6, 0, [try_insn]
%endmacro

t_ud_ud2:
    UD_SEQ ud2
    ret

t_ud_invalid:
    UD_SEQ db 0x0F, 0xFF, 0xC0  ; 0F FF (UD0)
    UD_SEQ db 0xFF, 0xF8        ; FF /7
    UD_SEQ db 0x8D, 0xC3        ; LEA with a register source
    UD_SEQ db 0x8E, 0xC8        ; MOV CS, AX
    ret

t_ud_lock:
    UD_SEQ db 0xF0, 0x01, 0xD8  ; LOCK ADD EAX, EBX (register destination)
    UD_SEQ db 0xF0, 0x90        ; LOCK NOP
    ret

t_ud_sse:
    ; CR4.OSFXSR = 0 -> SSE instructions raise #UD (also on CPUs without SSE)
    UD_SEQ db 0x0F, 0x58, 0xC0  ; ADDPS xmm0, xmm0
    ret

t_de_div0:
    mov eax, 1
    xor edx, edx
    xor ecx, ecx
    TRY
    div ecx
    CATCH
    EXPECT_EXC 0, 0, [try_insn]
    EXPECT dword [exc_eax], 1, "EAX at fault"
    ret

t_de_idiv_overflow:
    mov eax, 0x80000000
    mov edx, 0xFFFFFFFF
    mov ecx, -1
    TRY
    idiv ecx
    CATCH
    EXPECT_EXC 0, 0, [try_insn]
    EXPECT dword [exc_eax], 0x80000000, "EAX at fault"
    EXPECT dword [exc_edx], 0xFFFFFFFF, "EDX at fault"
    ret

t_de_div_overflow:
    mov eax, 0x1000
    mov bl, 1
    TRY
    div bl                      ; quotient 0x1000 does not fit in AL
    CATCH
    EXPECT_EXC 0, 0, [try_insn]
    EXPECT dword [exc_eax], 0x1000, "EAX at fault"
    mov edx, 1
    xor eax, eax
    mov ecx, 1
    TRY
    div ecx                     ; quotient 2^32
    CATCH
    EXPECT_EXC 0, 0, [try_insn]
    ret

t_bp_int3:
    TRY
    int3                        ; trap: saved EIP is the next instruction
    CATCH
    mov ecx, [try_insn]
    inc ecx
    EXPECT_EXC 3, 0, ecx
    TRY
    int 3                       ; CD 03
    CATCH
    mov ecx, [try_insn]
    add ecx, 2
    EXPECT_EXC 3, 0, ecx
    ret

t_of_into:
    mov al, 0x7F
    add al, 1                   ; OF = 1
    TRY
    into
    CATCH
    mov ecx, [try_insn]
    inc ecx
    EXPECT_EXC 4, 0, ecx
    xor eax, eax                ; OF = 0
    TRY
    into
    CATCH
    EXPECT_NOEXC
    ret

t_db_single_step:
    xor eax, eax
    mov dr6, eax
    TRY
    pushfd
    or dword [esp], 0x100
    popfd                       ; sets TF: trap after the NEXT instruction
    nop
.after:
    nop
    nop
    CATCH
    EXPECT_EXC 1, 0, .after
    EXPECTM dword [exc_eflags], 0x100, 0x100, "pushed EFLAGS.TF"
    EXPECTM dr6, 0x4000, 0x4000, "DR6.BS"
    ret

t_fpu_basic:
    fninit
    fnstcw [tmp]
    movzx ecx, word [tmp]
    EXPECT ecx, 0x037F, "FNINIT control word"
    fnstsw ax
    movzx ecx, ax
    EXPECT ecx, 0, "FNINIT status word"
    fld1
    fld1
    faddp st1, st0
    fistp dword [tmp]
    EXPECT dword [tmp], 2, "1 + 1"
    fldpi
    fistp dword [tmp]
    EXPECT dword [tmp], 3, "round(pi)"
    ret

t_nm_ts:
    mov eax, cr0
    or eax, CR0_TS
    mov cr0, eax
    TRY
    fninit
    CATCH
    EXPECT_EXC 7, 0, [try_insn]
    TRY
    fld1
    CATCH
    EXPECT_EXC 7, 0, [try_insn]
    clts
    EXPECTM cr0, CR0_TS, 0, "CR0.TS after CLTS"
    TRY
    fninit
    fld1
    fistp dword [tmp]
    CATCH
    EXPECT_NOEXC
    EXPECT dword [tmp], 1, "FLD1 result after CLTS"
    ret

t_nm_em:
    mov eax, cr0
    or eax, CR0_EM
    mov cr0, eax
    TRY
    fld1
    CATCH
    EXPECT_EXC 7, 0, [try_insn]
    TRY
    fninit
    CATCH
    EXPECT_EXC 7, 0, [try_insn]
    ret

t_nm_wait:
    fninit                      ; nothing pending
    mov eax, [base_cr0]
    or eax, CR0_TS | CR0_MP
    mov cr0, eax
    TRY
    fwait                       ; MP = 1, TS = 1 -> #NM
    CATCH
    EXPECT_EXC 7, 0, [try_insn]
    mov eax, [base_cr0]
    and eax, ~CR0_MP
    or eax, CR0_TS
    mov cr0, eax
    TRY
    fwait                       ; MP = 0, TS = 1 -> executes
    CATCH
    EXPECT_NOEXC
    mov eax, [base_cr0]
    or eax, CR0_EM | CR0_MP
    mov cr0, eax
    TRY
    fwait                       ; EM = 1, TS = 0 -> executes
    CATCH
    EXPECT_NOEXC
    ret

%macro GATE_IF 2                ; vector, expected IF inside the handler
    mov dword [g_eip], 0
    mov dword [g_inside_fl], -1
    sti
    int %1
%%ret:
    pushfd
    pop ebx
    cli
    EXPECT dword [g_eip], %%ret, "pushed EIP"
    EXPECT dword [g_cs], SEL_CODE0, "pushed CS"
    EXPECTM dword [g_pushed_fl], 0x200, 0x200, "pushed EFLAGS.IF"
    EXPECTM dword [g_inside_fl], 0x200, %2, "EFLAGS.IF inside the handler"
    EXPECTM ebx, 0x200, 0x200, "EFLAGS.IF after IRET"
%endmacro

t_int_gate_if:
    GATE_IF 0x40, 0
    ret

t_trap_gate_if:
    GATE_IF 0x41, 0x200
    ret

; writes "mov eax, imm32; ret" at address edi
write_movret:
    mov byte [edi], 0xB8
    mov [edi + 1], eax
    mov byte [edi + 5], 0xC3
    ret

t_smc:
    mov edi, smc_page
    mov eax, 0x11111111
    call write_movret
    call smc_page
    EXPECT eax, 0x11111111, "first execution"
    mov dword [smc_page + 1], 0x22222222
    call smc_page
    EXPECT eax, 0x22222222, "after modifying the immediate"
    mov ecx, 5000               ; make it hot, then modify it again
.hot:
    call smc_page
    dec ecx
    jnz .hot
    mov dword [smc_page + 1], 0x33333333
    call smc_page
    EXPECT eax, 0x33333333, "after modifying hot code"
    ret

t_smc_loop:
    ; a loop whose body rewrites its own first instruction, then jumps back
    mov ecx, 300
    mov [.insn + 1], cl
.insn:
    db 0xB8                     ; mov eax, imm32
    dd 0x5A5A5A00
    cmp al, cl
    jne .bad
    dec ecx
    mov [.insn + 1], cl
    jnz .insn
    ret
.bad:
    movzx eax, al
    movzx ecx, cl
    EXPECT eax, ecx, "immediate seen by the modified instruction"
    ret

; ---- paging
t_paging_4k:
    mov edi, pt0                ; identity map 0..4 MiB, user, writable
    mov eax, PG_P | PG_W | PG_U
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    dec ecx
    jnz .fill
    mov dword [pd], pt0 + (PG_P | PG_W | PG_U)
    mov dword [pd + 256 * 4], pt_alias + (PG_P | PG_W | PG_U)
    call set_markers
    mov dword [pt_alias + 0 * 4], page_a + (PG_P | PG_W)
    mov eax, pd
    mov cr3, eax
    mov [base_cr3], eax
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax
    jmp .paged
.paged:
    mov [base_cr0], eax
    EXPECTM cr0, CR0_PG, CR0_PG, "CR0.PG"
    EXPECT cr3, pd, "CR3"
    EXPECT dword [VA(0)], 0xAAAA0001, "read through the alias"
    mov dword [VA(0) + 4], 0x12345678
    EXPECT dword [page_a + 4], 0x12345678, "write through the alias"
    mov dword [page_a + 0xFFC], 0x55AA55AA
    EXPECT dword [VA(0) + 0xFFC], 0x55AA55AA, "read of the last dword"
    ret

t_page_cross:
    mov dword [pt_alias + 1 * 4], page_b + (PG_P | PG_W)
    mov dword [pt_alias + 2 * 4], 0
    invlpg [VA(1)]
    invlpg [VA(2)]
    mov dword [page_a + 0xFFC], 0
    mov dword [page_b], 0
    mov dword [VA(1) - 2], 0x11223344
    EXPECT dword [page_a + 0xFFC], 0x33440000, "low half in the first page"
    EXPECT dword [page_b], 0x00001122, "high half in the second page"
    EXPECT dword [VA(1) - 2], 0x11223344, "split read"
    TRY
    mov eax, [VA(2) - 2]        ; second page not present
    CATCH
    EXPECT_EXC 14, 0, [try_insn]
    EXPECTM dword [exc_cr2], 0xFFFFFFFC, VA(2), "CR2 within the not-present page"
    ret

t_paging_pse:
    mov eax, cr4
    or eax, CR4_PSE
    mov cr4, eax
    mov [base_cr4], eax
    mov dword [pd + 257 * 4], 0 | PG_PS | PG_W | PG_P
    RELOAD_CR3
    mov dword [pse_marker], 0x7E57AB1E
    EXPECT dword [PSE_BASE + pse_marker], 0x7E57AB1E, "read through the 4 MiB page"
    mov dword [PSE_BASE + pse_marker + 4], 0x0F0F0F0F
    EXPECT dword [pse_marker + 4], 0x0F0F0F0F, "write through the 4 MiB page"
    EXPECTM dword [pd + 257 * 4], PG_A | PG_D, PG_A | PG_D, "PDE accessed/dirty"
    ret

t_invlpg:
    call set_markers
    mov dword [pt_alias + 9 * 4], page_a + (PG_P | PG_W)
    invlpg [VA(9)]
    EXPECT dword [VA(9)], 0xAAAA0001, "first mapping"
    mov dword [pt_alias + 9 * 4], page_b + (PG_P | PG_W)
    invlpg [VA(9)]
    EXPECT dword [VA(9)], 0xBBBB0002, "new mapping after INVLPG"
    ret

t_cr3_reload:
    call set_markers
    mov dword [pt_alias + 10 * 4], page_a + (PG_P | PG_W)
    RELOAD_CR3
    EXPECT dword [VA(10)], 0xAAAA0001, "first mapping"
    mov dword [pt_alias + 10 * 4], page_b + (PG_P | PG_W)
    RELOAD_CR3
    EXPECT dword [VA(10)], 0xBBBB0002, "new mapping after MOV CR3"
    ret

t_paging_global:
    call set_markers
    mov eax, cr4
    or eax, CR4_PGE
    mov cr4, eax
    mov [base_cr4], eax
    mov dword [pt_alias + 11 * 4], page_a + (PG_P | PG_W | PG_G)
    invlpg [VA(11)]
    EXPECT dword [VA(11)], 0xAAAA0001, "global mapping"
    mov dword [pt_alias + 11 * 4], page_b + (PG_P | PG_W | PG_G)
    invlpg [VA(11)]
    EXPECT dword [VA(11)], 0xBBBB0002, "global mapping after INVLPG"
    mov dword [pt_alias + 11 * 4], page_a + (PG_P | PG_W | PG_G)
    mov eax, cr4                ; toggling CR4.PGE flushes global entries
    and eax, ~CR4_PGE
    mov cr4, eax
    or eax, CR4_PGE
    mov cr4, eax
    EXPECT dword [VA(11)], 0xAAAA0001, "global mapping after CR4.PGE toggle"
    mov dword [pt_alias + 12 * 4], page_a + (PG_P | PG_W)
    invlpg [VA(12)]
    EXPECT dword [VA(12)], 0xAAAA0001, "non-global mapping"
    mov dword [pt_alias + 12 * 4], page_b + (PG_P | PG_W)
    RELOAD_CR3
    EXPECT dword [VA(12)], 0xBBBB0002, "non-global mapping after MOV CR3"
    ret

t_accessed_dirty:
    call set_markers
    mov dword [pt_alias + 7 * 4], page_a + (PG_P | PG_W)
    and dword [pd + 256 * 4], ~PG_A
    RELOAD_CR3
    EXPECTM dword [pt_alias + 7 * 4], PG_A | PG_D, 0, "PTE A/D before access"
    mov ecx, [VA(7)]
    EXPECT ecx, 0xAAAA0001, "read"
    EXPECTM dword [pt_alias + 7 * 4], PG_A | PG_D, PG_A, "PTE A/D after a read"
    EXPECTM dword [pd + 256 * 4], PG_A, PG_A, "PDE A after a read"
    mov dword [VA(7) + 8], 1
    EXPECTM dword [pt_alias + 7 * 4], PG_A | PG_D, PG_A | PG_D, "PTE A/D after a write"
    ret

t_smc_alias:
    mov dword [pt_alias + 8 * 4], smc_page + (PG_P | PG_W)
    invlpg [VA(8)]
    mov edi, smc_page
    mov eax, 0x44444444
    call write_movret
    mov esi, VA(8)
    call esi
    EXPECT eax, 0x44444444, "execute through the alias"
    mov ecx, 5000
.hot:
    call esi
    dec ecx
    jnz .hot
    mov dword [VA(8) + 1], 0x55555555   ; modify through the alias...
    RELOAD_CR3                          ; (serializing)
    call smc_page                       ; ...execute through the identity map
    EXPECT eax, 0x55555555, "identity view after a write through the alias"
    mov ecx, 5000
.hot2:
    call smc_page
    dec ecx
    jnz .hot2
    mov dword [smc_page + 1], 0x66666666 ; modify through the identity map...
    RELOAD_CR3
    mov esi, VA(8)
    call esi                            ; ...execute through the alias
    EXPECT eax, 0x66666666, "alias view after a write through the identity map"
    ret

t_pf_notpresent:
    mov dword [pt_alias + 3 * 4], 0
    invlpg [VA(3)]
    TRY
    mov eax, [VA(3) + 0x123]
    CATCH
    EXPECT_EXC 14, 0, [try_insn]
    EXPECT dword [exc_cr2], VA(3) + 0x123, "CR2 (read)"
    TRY
    mov dword [VA(3) + 0x456], 1
    CATCH
    EXPECT_EXC 14, 2, [try_insn]
    EXPECT dword [exc_cr2], VA(3) + 0x456, "CR2 (write)"
    TRY
    mov eax, [0x4B000010]       ; PDE not present
    CATCH
    EXPECT_EXC 14, 0, [try_insn]
    EXPECT dword [exc_cr2], 0x4B000010, "CR2 (PDE not present)"
    ret

t_pf_fetch:
    mov dword [pt_alias + 3 * 4], 0
    invlpg [VA(3)]
    mov ecx, VA(3) + 0x10
    TRY
    jmp ecx
    CATCH
    EXPECT_EXC 14, 0, VA(3) + 0x10
    EXPECT dword [exc_cr2], VA(3) + 0x10, "CR2"
    ; an instruction that straddles into a not-present page
    mov dword [pt_alias + 1 * 4], page_b + (PG_P | PG_W)
    mov dword [pt_alias + 2 * 4], 0
    invlpg [VA(1)]
    invlpg [VA(2)]
    mov byte [page_b + 0xFFD], 0xB8     ; mov eax, imm32 (bytes 3..4 missing)
    mov word [page_b + 0xFFE], 0x1111
    mov ecx, VA(2) - 3
    TRY
    jmp ecx
    CATCH
    EXPECT_EXC 14, 0, VA(2) - 3
    EXPECTM dword [exc_cr2], 0xFFFFFFFC, VA(2), "CR2 (straddling instruction)"
    ret

t_pf_wp:
    call set_markers
    mov dword [pt_alias + 4 * 4], page_c + PG_P  ; read-only, supervisor
    invlpg [VA(4)]
    mov eax, cr0
    or eax, CR0_WP
    mov cr0, eax
    EXPECT dword [VA(4)], 0xCCCC0003, "read of the read-only page"
    TRY
    mov dword [VA(4)], 0x5A5A5A5A
    CATCH
    EXPECT_EXC 14, 3, [try_insn]
    EXPECT dword [exc_cr2], VA(4), "CR2"
    EXPECT dword [page_c], 0xCCCC0003, "read-only page unchanged"
    ret

t_wp0_write:
    call set_markers
    mov dword [pt_alias + 4 * 4], page_c + PG_P  ; read-only, supervisor
    invlpg [VA(4)]
    mov eax, [base_cr0]
    and eax, ~CR0_WP
    mov cr0, eax
    TRY
    mov dword [VA(4)], 0x5A5A5A5A
    CATCH
    EXPECT_NOEXC
    EXPECT dword [page_c], 0x5A5A5A5A, "write with CR0.WP = 0"
    ret

; ---- ring 3
t_ring3_roundtrip:
    mov dword [u_eax], 0
    mov dword [h80_esp], 0
    mov eax, user_roundtrip
    call run_ring3
    EXPECT dword [exc_vec], 0x81, "ring 3 did not come back through int 0x81"
    EXPECT dword [u_cs], SEL_CODE3, "CS in ring 3"
    EXPECT dword [u_ss], SEL_DATA3, "SS in ring 3"
    EXPECTM dword [u_efl], 0x3200, 0x200, "EFLAGS IF/IOPL in ring 3"
    EXPECT dword [h80_esp], stack0_top - 20, "ESP at handler entry (TSS.ESP0 - 20)"
    EXPECT dword [h80_ss], SEL_DATA0, "SS in handler (TSS.SS0)"
    EXPECT dword [h80_ccs], SEL_CODE0, "CS in handler"
    EXPECT dword [h80_eip], user_roundtrip.after, "frame EIP"
    EXPECT dword [h80_cs], SEL_CODE3, "frame CS"
    EXPECTM dword [h80_efl], 0x3200, 0x200, "frame EFLAGS"
    EXPECT dword [h80_uesp], user_stack_top, "frame ESP"
    EXPECT dword [h80_uss], SEL_DATA3, "frame SS"
    EXPECTM dword [h80_inside_fl], 0x200, 0, "IF inside the interrupt gate"
    EXPECT dword [u_eax], 0x12345679, "EAX back in ring 3"
    EXPECT dword [u_esp2], user_stack_top, "ESP back in ring 3"
    EXPECTM dword [u_efl2], 0x200, 0x200, "IF back in ring 3"
    EXPECT dword [exc_cs], SEL_CODE3, "CS of int 0x81"
    EXPECT dword [exc_uss], SEL_DATA3, "SS of int 0x81"
    ret

user_roundtrip:
    xor eax, eax
    mov ax, cs
    mov [u_cs], eax
    mov ax, ss
    mov [u_ss], eax
    pushfd
    pop dword [u_efl]
    mov eax, 0x12345678
    int 0x80
.after:
    mov [u_eax], eax
    mov [u_esp2], esp
    pushfd
    pop dword [u_efl2]
    int 0x81

t_iret_ring3:
    mov dword [r3_esgs], SEL_DATA0      ; DPL 0 data in ES and GS
    mov eax, user_segs
    call run_ring3
    EXPECT dword [exc_vec], 0x81, "ring 3 did not come back through int 0x81"
    EXPECT dword [u_es], 0, "ES (DPL 0) nulled by IRET to ring 3"
    EXPECT dword [u_gs], 0, "GS (DPL 0) nulled by IRET to ring 3"
    EXPECT dword [u_ds], SEL_DATA3, "DS (DPL 3) kept"
    EXPECT dword [u_fs], SEL_DATA3, "FS (DPL 3) kept"
    EXPECT dword [u_cs], SEL_CODE3, "CS"
    ret

user_segs:
    xor eax, eax
    mov ax, es
    mov [u_es], eax
    mov ax, gs
    mov [u_gs], eax
    mov ax, ds
    mov [u_ds], eax
    mov ax, fs
    mov [u_fs], eax
    mov ax, cs
    mov [u_cs], eax
    int 0x81

t_pf_user_write:
    call set_markers
    mov dword [pt_alias + 5 * 4], page_c + (PG_P | PG_U)  ; read-only, user
    invlpg [VA(5)]
    mov eax, user_write_ro
    call run_ring3
    EXPECT_EXC 14, 7, user_write_ro
    EXPECT dword [exc_cr2], VA(5) + 0x10, "CR2"
    EXPECT dword [exc_cs], SEL_CODE3, "frame CS"
    EXPECT dword [exc_uss], SEL_DATA3, "frame SS"
    EXPECT dword [exc_uesp], user_stack_top, "frame ESP"
    EXPECT dword [page_c + 0x10], 0, "page unchanged"
    ret

user_write_ro:
    mov dword [VA(5) + 0x10], 0x99
    int 0x81

t_pf_user_super:
    mov dword [pt_alias + 6 * 4], page_c + (PG_P | PG_W)  ; supervisor only
    invlpg [VA(6)]
    mov eax, user_read_super
    call run_ring3
    EXPECT_EXC 14, 5, user_read_super
    EXPECT dword [exc_cr2], VA(6) + 0x20, "CR2"
    ret

user_read_super:
    mov eax, [VA(6) + 0x20]
    int 0x81

%macro RING3_GP 2               ; user function, expected error code
    mov eax, %1
    call run_ring3
    EXPECT_EXC 13, %2, %1
    EXPECT dword [exc_cs], SEL_CODE3, "frame CS"
%endmacro

t_gp_priv:
    RING3_GP user_mov_cr3, 0
    ret
user_mov_cr3:
    mov cr3, eax
    int 0x81

t_gp_hlt:
    RING3_GP user_hlt, 0
    ret
user_hlt:
    hlt
    int 0x81

t_gp_cli:
    RING3_GP user_cli, 0
    ret
user_cli:
    cli
    int 0x81

t_gp_io:
    RING3_GP user_in, 0         ; CPL 3 > IOPL 0 and no I/O bitmap
    ret
user_in:
    in al, 0x80
    int 0x81

t_gp_int_dpl:
    RING3_GP user_int40, 0x40 * 8 + 2   ; INT n through a DPL 0 gate
    ret
user_int40:
    int 0x40
    int 0x81

t_call_gate:
    mov dword [cg_esp], 0
    mov eax, user_callgate
    call run_ring3
    EXPECT dword [exc_vec], 0x81, "ring 3 did not come back through int 0x81"
    EXPECT dword [cg_esp], stack0_top - 20, "ESP in ring 0 (TSS.ESP0 - 20)"
    EXPECT dword [cg_ccs], SEL_CODE0, "CS in ring 0"
    EXPECT dword [cg_ss], SEL_DATA0, "SS in ring 0"
    EXPECT dword [cg_eip], user_callgate.ret, "frame EIP"
    EXPECT dword [cg_cs], SEL_CODE3, "frame CS"
    EXPECT dword [cg_param], 0xCAFEBABE, "copied parameter"
    mov ecx, [u_esp]
    sub ecx, 4
    EXPECT dword [cg_uesp], ecx, "frame ESP"
    EXPECT dword [cg_uss], SEL_DATA3, "frame SS"
    EXPECT dword [u_eax], 0x600DCA11, "EAX after RETF"
    EXPECT dword [u_cs], SEL_CODE3, "CS after RETF"
    EXPECT dword [u_esp2], [u_esp], "ESP after RETF 4"
    ret

user_callgate:
    mov [u_esp], esp
    push dword 0xCAFEBABE
    call SEL_CGATE:0
.ret:
    mov [u_eax], eax
    mov [u_esp2], esp
    xor eax, eax
    mov ax, cs
    mov [u_cs], eax
    int 0x81

; ---- double fault through a task gate (must be the last check)
t_df_taskgate:
    mov edi, tss_df
    mov ecx, 104 / 4
    xor eax, eax
    rep stosd
    mov eax, cr3
    mov [tss_df + 28], eax              ; CR3
    mov dword [tss_df + 32], df_entry   ; EIP
    mov dword [tss_df + 36], 0x2        ; EFLAGS
    mov dword [tss_df + 56], df_stack_top ; ESP
    mov dword [tss_df + 72], SEL_DATA0  ; ES
    mov dword [tss_df + 76], SEL_CODE0  ; CS
    mov dword [tss_df + 80], SEL_DATA0  ; SS
    mov dword [tss_df + 84], SEL_DATA0  ; DS
    mov dword [tss_df + 88], SEL_DATA0  ; FS
    mov dword [tss_df + 92], SEL_DATA0  ; GS
    mov word [tss_df + 102], 104        ; no I/O bitmap
    ; IDT[8] = task gate -> SEL_TSS_DF
    mov dword [idt + 8 * 8], SEL_TSS_DF << 16
    mov dword [idt + 8 * 8 + 4], 0x8500
    ; #GP gate not present: #GP -> #NP while delivering it -> #DF
    and byte [idt + 13 * 8 + 5], 0x7F
    mov ebx, 0xB0B0B0B0
    mov esi, 0x51515151
    mov ax, 0x1000
    mov ds, ax                          ; #GP(0x1000)
    or byte [idt + 13 * 8 + 5], 0x80
    EXPECT 0, 1, "no double fault"
.check:                                 ; arrives here from df_entry
    EXPECT dword [df_tr], SEL_TSS_DF, "TR in the #DF task"
    movzx ecx, word [tss_df]
    EXPECT ecx, SEL_TSS, "back link of the #DF TSS"
    EXPECTM dword [df_efl], 0x4000, 0x4000, "EFLAGS.NT in the #DF task"
    EXPECTM dword [df_cr0], CR0_TS, CR0_TS, "CR0.TS after the task switch"
    EXPECT dword [df_esp], df_stack_top - 4, "ESP (error code pushed on the new stack)"
    EXPECT dword [df_err], 0, "#DF error code"
    movzx ecx, byte [gdt + SEL_TSS_DF + 5]
    EXPECT ecx, 0x8B, "#DF TSS descriptor busy"
    movzx ecx, byte [gdt + SEL_TSS + 5]
    EXPECT ecx, 0x8B, "old TSS descriptor still busy"
    EXPECT dword [tss_main + 52], 0xB0B0B0B0, "EBX saved in the old TSS"
    EXPECT dword [tss_main + 64], 0x51515151, "ESI saved in the old TSS"
    jmp test_pass

df_entry:
    or byte [idt + 13 * 8 + 5], 0x80    ; #GP gate present again
    mov [df_esp], esp
    mov eax, [esp]
    mov [df_err], eax
    pushfd
    pop dword [df_efl]
    mov eax, cr0
    mov [df_cr0], eax
    xor eax, eax
    str ax
    mov [df_tr], eax
    jmp t_df_taskgate.check

; ---------------------------------------------------------------- data
section .rodata
hexdigits:      db "0123456789ABCDEF"
s_unexpected:   db "unexpected exception", 0
isr_table:
%assign v 0
%rep 256
    dd isr_ %+ v
%assign v v + 1
%endrep

section .data
align 4
gdtr:   dw GDT_ENTRIES * 8 - 1
        dd gdt
align 4
idtr:   dw 256 * 8 - 1
        dd idt
align 4
r3_esgs: dd SEL_DATA3

section .bss
alignb 4096
pd:         resb 4096
pt0:        resb 4096
pt_alias:   resb 4096
page_a:     resb 4096
page_b:     resb 4096
page_c:     resb 4096
smc_page:   resb 4096
seg_buf:    resb 4096
            resb 16384
kstack_top:
            resb 4096
stack0_top:
            resb 4096
user_stack_top:
            resb 4096
df_stack_top:
alignb 8
gdt:        resb GDT_ENTRIES * 8
idt:        resb 256 * 8
alignb 16
tss_main:   resb 104
tss_df:     resb 104
alignb 4
mb_magic:   resd 1
mb_info:    resd 1
entry_eflags: resd 1
entry_cr0:  resd 1
base_cr0:   resd 1
base_cr3:   resd 1
base_cr4:   resd 1
cur_name:   resd 1
test_esp:   resd 1
fail_msg:   resd 1
fail_kind:  resd 1
fail_got:   resd 1
fail_want:  resd 1
fail_count: resd 1
recover_eip: resd 1
recover_esp: resd 1
try_insn:   resd 1
exc_vec:    resd 1
exc_err:    resd 1
exc_eip:    resd 1
exc_cs:     resd 1
exc_eflags: resd 1
exc_uesp:   resd 1
exc_uss:    resd 1
exc_eax:    resd 1
exc_edx:    resd 1
exc_cr2:    resd 1
dtr_buf:    resd 2
tmp:        resd 1
far_eip:    resd 1
far_cs:     resd 1
g_eip:      resd 1
g_cs:       resd 1
g_pushed_fl: resd 1
g_inside_fl: resd 1
h80_esp:    resd 1
h80_ss:     resd 1
h80_ccs:    resd 1
h80_eip:    resd 1
h80_cs:     resd 1
h80_efl:    resd 1
h80_uesp:   resd 1
h80_uss:    resd 1
h80_inside_fl: resd 1
cg_esp:     resd 1
cg_ccs:     resd 1
cg_ss:      resd 1
cg_eip:     resd 1
cg_cs:      resd 1
cg_param:   resd 1
cg_uesp:    resd 1
cg_uss:     resd 1
u_cs:       resd 1
u_ss:       resd 1
u_ds:       resd 1
u_es:       resd 1
u_fs:       resd 1
u_gs:       resd 1
u_efl:      resd 1
u_efl2:     resd 1
u_eax:      resd 1
u_esp:      resd 1
u_esp2:     resd 1
df_esp:     resd 1
df_err:     resd 1
df_efl:     resd 1
df_cr0:     resd 1
df_tr:      resd 1
pse_marker: resd 2
