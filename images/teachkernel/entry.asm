; teachkernel: multiboot entry, trap stubs, context switch, ring-3 programs.
; Assembled twice: native (CPL 0, IRET) and with -DPV (CPL 1, HYPERVISOR_iret).
bits 32

%ifdef PV
%define KERNEL_DS 0xe021
%define HC_IRET 23
%else
%define KERNEL_DS 0x10
%endif

section .multiboot
align 4
    dd 0x1BADB002                   ; magic
    dd 0x00000003                   ; flags: page-align modules, memory info
    dd -(0x1BADB002 + 0x00000003)   ; checksum

section .bss
align 16
boot_stack: resb 16384
boot_stack_top:

section .text
global _start
extern kmain
extern __bss_start, __bss_end
_start:
    ; Multiboot (native) or the PV start state: EAX = magic, EBX = info.
    ; Segments are flat; SS is already right for our CPL. Keep IF = 0.
    ; Zero .bss ourselves (the boot stack is in it): no loader assumption.
    mov esi, eax
    mov edx, ebx
    cld
    mov edi, __bss_start
    mov ecx, __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, boot_stack_top
    xor ebp, ebp
    push edx
    push esi
    call kmain
.hang:
    cli
    hlt
    jmp .hang

; ---------------------------------------------------------------------------
; Trap stubs. Every stub leaves the same frame (struct trapframe in tk.h):
;   es ds | pusha | vec err | eip cs eflags [esp ss]
%macro TRAP_NOERR 1
trap_%1:
    push 0
    push %1
    jmp trap_common
%endmacro
%macro TRAP_ERR 1
trap_%1:
    push %1
    jmp trap_common
%endmacro

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR   8
TRAP_NOERR 9
TRAP_ERR   10
TRAP_ERR   11
TRAP_ERR   12
TRAP_ERR   13
%ifdef PV
; The hypervisor pushes CR2 above the error code for #PF (docs/hypercalls.md).
extern pv_cr2
trap_14:
    pop dword [pv_cr2]
    push 14
    jmp trap_common
%else
TRAP_ERR   14
%endif
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR   17
TRAP_NOERR 18
TRAP_NOERR 19
%assign v 20
%rep 12
TRAP_NOERR v
%assign v v+1
%endrep
TRAP_NOERR 0x20     ; timer (native: IRQ0 via the 8259)
TRAP_NOERR 0x80     ; system call
TRAP_NOERR 0xee     ; PV event callback (set_callbacks)

%ifdef PV
extern pv_failsafe
trap_0xef:          ; PV failsafe callback: the frame is not ours, give up
    call pv_failsafe
    jmp trap_0xef
%else
trap_0xef:
    push 0
    push 0xef
    jmp trap_common
%endif

extern trap_dispatch
trap_common:
    pusha
    push ds
    push es
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    cld
    push esp
    call trap_dispatch
    add esp, 4
global trapret
trapret:
    pop es
    pop ds
    popa
    add esp, 8                      ; vec, err
%ifdef PV
    ; HYPERVISOR_iret: frame at ESP = [eax, eip, cs, eflags, (esp, ss)]
    push eax
    mov eax, HC_IRET
    int 0x82
    ud2                             ; not reached
%else
    iret
%endif

section .rodata
align 4
global trap_vectors
trap_vectors:
%assign v 0
%rep 32
    dd trap_ %+ v
%assign v v+1
%endrep
    dd trap_0x20, trap_0x80, trap_0xee, trap_0xef

section .text
; void swtch(u32 *save_esp, u32 new_esp): switch kernel stacks.
global swtch
swtch:
    mov eax, [esp + 4]
    mov edx, [esp + 8]
    push ebp
    push ebx
    push esi
    push edi
    mov [eax], esp
    mov esp, edx
    pop edi
    pop esi
    pop ebx
    pop ebp
    ret

; ---------------------------------------------------------------------------
; Ring-3 programs. They live in their own page-aligned section, which the
; kernel maps user-readable. Entry: EBX = ops, ESI = role (bit 0: print the
; begin marker, bit 1: print the end marker). System calls preserve every
; register except EAX.
section .utext progbits alloc exec nowrite align=4096

%define SYS_NULL 0
%define SYS_EXIT 1
%define SYS_YIELD 2
%define SYS_FORK 3
%define SYS_WAIT 4
%define SYS_MARK 5

%macro MARK 1
    test esi, (1 << %1)
    jz %%skip
    push ebx
    mov ebx, %1
    mov eax, SYS_MARK
    int 0x80
    pop ebx
%%skip:
%endmacro
%macro EXIT 0
    xor ebx, ebx
    mov eax, SYS_EXIT
    int 0x80
    ud2
%endmacro

global u_syscall
u_syscall:
    MARK 0
    mov ecx, ebx
.l: mov eax, SYS_NULL
    int 0x80
    dec ecx
    jnz .l
    MARK 1
    EXIT

global u_callret
u_callret:
    MARK 0
    mov ecx, ebx
.l: call .f
    dec ecx
    jnz .l
    MARK 1
    EXIT
.f: ret

global u_divzero
u_divzero:
    MARK 0
    mov ecx, ebx
    xor edi, edi
.l: mov eax, 1
    xor edx, edx
    div edi                         ; F7 F7: #DE, the kernel skips 2 bytes
    dec ecx
    jnz .l
    MARK 1
    EXIT

global u_pgfault
u_pgfault:
    MARK 0
    mov ecx, ebx
    mov edi, 0x50000000             ; DEMAND_BASE
.l: mov [edi], ecx                  ; not present: #PF, demand-zero page
    add edi, 4096
    dec ecx
    jnz .l
    MARK 1
    EXIT

global u_ctxsw
u_ctxsw:
    MARK 0
    mov ecx, ebx
.l: mov eax, SYS_YIELD
    int 0x80
    dec ecx
    jnz .l
    MARK 1
    EXIT

global u_forkwait
u_forkwait:
    MARK 0
    mov ecx, ebx
.l: mov eax, SYS_FORK
    int 0x80
    test eax, eax
    jz .child
    js .fail
    mov ebx, eax
    mov eax, SYS_WAIT
    int 0x80
    dec ecx
    jnz .l
    MARK 1
    EXIT
.child:
    EXIT
.fail:
    mov ebx, 1
    mov eax, SYS_EXIT
    int 0x80
    ud2
