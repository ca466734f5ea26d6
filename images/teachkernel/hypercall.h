/* teachkernel: the VirtLab PV hypercall ABI (docs/hypercalls.md). */
#ifndef HYPERCALL_H
#define HYPERCALL_H
#include "tk.h"

#define HYPERCALL_VECTOR 0x82

#define __HYPERVISOR_set_trap_table 0
#define __HYPERVISOR_mmu_update 1
#define __HYPERVISOR_stack_switch 3
#define __HYPERVISOR_set_callbacks 4
#define __HYPERVISOR_fpu_taskswitch 5
#define __HYPERVISOR_multicall 13
#define __HYPERVISOR_update_va_mapping 14
#define __HYPERVISOR_set_timer_op 15
#define __HYPERVISOR_console_io 18
#define __HYPERVISOR_iret 23
#define __HYPERVISOR_mmuext_op 26
#define __HYPERVISOR_sched_op 29
#define __HYPERVISOR_event_channel_op 32

#define EPERM 1
#define ENOMEM 12
#define EFAULT 14
#define EINVAL 22
#define ENOSYS 38

#define DOMID_SELF 0x7FF0u

struct trap_info {
    u8 vector;
    u8 flags; /* bits 0-1: DPL; bit 2: mask events on entry */
    u16 cs;
    u32 address; /* 0 terminates the table */
} __attribute__((packed));
#define TI_MASK_EVENTS 4

#define MMU_NORMAL_PT_UPDATE 0
struct mmu_update {
    u64 ptr; /* physical address of the entry | command (low 2 bits) */
    u64 val;
} __attribute__((packed));

#define UVMF_NONE 0
#define UVMF_TLB_FLUSH 1
#define UVMF_INVLPG 2

#define MMUEXT_NEW_BASEPTR 5
#define MMUEXT_TLB_FLUSH_LOCAL 6
#define MMUEXT_INVLPG_LOCAL 7
struct mmuext_op {
    u32 cmd;
    u32 arg1; /* NEW_BASEPTR: physical address of the PD; INVLPG_LOCAL: linear address */
    u32 arg2; /* unused, 0 */
} __attribute__((packed));

struct multicall_entry {
    u32 op;
    i32 result;
    u32 args[6];
} __attribute__((packed));

#define CONSOLEIO_write 0
#define CONSOLEIO_read 1

#define SCHEDOP_yield 0
#define SCHEDOP_block 1
#define SCHEDOP_shutdown 2
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_crash 3

#define EVTCHNOP_bind_virq 1
#define EVTCHNOP_virtlab_poll 0x100 /* VirtLab: fetch+clear pending ports, read time */
#define VIRQ_TIMER 0
struct evtchn_bind_virq {
    u32 virq;
    u32 vcpu;
    u32 port; /* out */
} __attribute__((packed));
struct evtchn_virtlab_poll {
    u32 pending;  /* out: bit p = port p was pending (now cleared) */
    u32 reserved; /* out: 0 */
    u64 now_ns;   /* out: hypervisor system time */
} __attribute__((packed));

static inline i32 hypercall5(u32 op, u32 a1, u32 a2, u32 a3, u32 a4, u32 a5) {
    i32 r;
    __asm__ volatile("int $0x82"
                     : "=a"(r)
                     : "a"(op), "b"(a1), "c"(a2), "d"(a3), "S"(a4), "D"(a5)
                     : "memory");
    return r;
}
#define HYPERVISOR_set_trap_table(t) hypercall5(__HYPERVISOR_set_trap_table, (u32)(t), 0, 0, 0, 0)
#define HYPERVISOR_mmu_update(r, n, done, dom) \
    hypercall5(__HYPERVISOR_mmu_update, (u32)(r), (n), (u32)(done), (dom), 0)
#define HYPERVISOR_stack_switch(ss, esp) hypercall5(__HYPERVISOR_stack_switch, (ss), (esp), 0, 0, 0)
#define HYPERVISOR_set_callbacks(ecs, eip, fcs, feip) \
    hypercall5(__HYPERVISOR_set_callbacks, (ecs), (eip), (fcs), (feip), 0)
#define HYPERVISOR_fpu_taskswitch(set) hypercall5(__HYPERVISOR_fpu_taskswitch, (set), 0, 0, 0, 0)
#define HYPERVISOR_multicall(c, n) hypercall5(__HYPERVISOR_multicall, (u32)(c), (n), 0, 0, 0)
#define HYPERVISOR_update_va_mapping(va, lo, hi, fl) \
    hypercall5(__HYPERVISOR_update_va_mapping, (va), (lo), (hi), (fl), 0)
#define HYPERVISOR_set_timer_op(ns) \
    hypercall5(__HYPERVISOR_set_timer_op, (u32)(ns), (u32)((u64)(ns) >> 32), 0, 0, 0)
#define HYPERVISOR_console_io(cmd, n, buf) hypercall5(__HYPERVISOR_console_io, (cmd), (n), (u32)(buf), 0, 0)
#define HYPERVISOR_mmuext_op(ops, n, done, dom) \
    hypercall5(__HYPERVISOR_mmuext_op, (u32)(ops), (n), (u32)(done), (dom), 0)
#define HYPERVISOR_sched_op(cmd, arg) hypercall5(__HYPERVISOR_sched_op, (cmd), (u32)(arg), 0, 0, 0)
#define HYPERVISOR_event_channel_op(cmd, arg) hypercall5(__HYPERVISOR_event_channel_op, (cmd), (u32)(arg), 0, 0, 0)

#endif
