/* teachkernel platform layer, PV build: the kernel runs at CPL 1 and asks the
 * hypervisor (int 0x82) for everything privileged. Page tables are read-only
 * to it; every PTE/PDE write is an mmu_update request, batched. */
#include "hypercall.h"

const char *plat_name = "pv";
u32 plat_pic_imr = 0xff; /* a PV guest gets its timer as an event: all lines masked */
u32 pv_cr2;              /* written by the #PF stub: the hypervisor pushes CR2 */

static void hcheck(i32 r, const char *what) {
    if (r < 0) panic("hypercall %s failed: %d", what, r);
}

/* ---- boot: is there a hypervisor? ------------------------------------------ */
static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) {
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
/* Bare metal only (we are at CPL 0 then): say why we stop, on COM1. */
static void bare_serial_puts(const char *s) {
    outb(0x3f9, 0x00);
    outb(0x3fb, 0x80);
    outb(0x3f8, 0x01);
    outb(0x3f9, 0x00);
    outb(0x3fb, 0x03);
    outb(0x3fa, 0x07);
    outb(0x3fc, 0x03);
    for (; *s; s++) {
        for (u32 k = 0; k < 1000000 && !(inb(0x3fd) & 0x20); k++) {
        }
        outb(0x3f8, (u8)*s);
    }
}

void plat_early_init(u32 magic, u32 mbinfo) {
    (void)magic;
    (void)mbinfo;
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000u));
    static const char want[12] = {'V', 'i', 'r', 't', 'L', 'a', 'b', 'V', 'M', 'M', 0, 0};
    u32 got[3] = {b, c, d};
    const char *g = (const char *)got;
    for (int i = 0; i < 12; i++)
        if (g[i] != want[i]) {
            bare_serial_puts("TEACHKERNEL PV: no hypervisor\r\n");
            for (;;) __asm__ volatile("cli\n\thlt");
        }
    (void)a;
}

void plat_console_write(const char *s, u32 n) { HYPERVISOR_console_io(CONSOLEIO_write, n, s); }

void pv_failsafe(void) {
    kprintf("TEACHKERNEL PV: failsafe callback\n");
    HYPERVISOR_sched_op(SCHEDOP_shutdown, SHUTDOWN_crash);
    for (;;) {
    }
}

/* ---- traps ----------------------------------------------------------------- */
static struct trap_info traps[34];

void plat_cpu_init(void) {
    int n = 0;
    for (int v = 0; v < 20; v++) {
        traps[n].vector = (u8)v;
        /* #BP and #OF may be raised by INT3/INTO in ring 3 */
        traps[n].flags = (u8)(TI_MASK_EVENTS | ((v == 3 || v == 4) ? 3 : 0));
        traps[n].cs = KERNEL_CS;
        traps[n].address = trap_vectors[v];
        n++;
    }
    traps[n].vector = VEC_SYSCALL;
    traps[n].flags = TI_MASK_EVENTS | 3; /* int 0x80 from ring 3 */
    traps[n].cs = KERNEL_CS;
    traps[n].address = trap_vectors[33];
    n++;
    traps[n].address = 0; /* terminator */
    hcheck(HYPERVISOR_set_trap_table(traps), "set_trap_table");
    hcheck(HYPERVISOR_set_callbacks(KERNEL_CS, trap_vectors[34], KERNEL_CS, trap_vectors[35]), "set_callbacks");
}

/* ---- MMU ------------------------------------------------------------------ */
static struct mmuext_op base_op;

void plat_set_cr3(u32 pd) {
    base_op.cmd = MMUEXT_NEW_BASEPTR;
    base_op.arg1 = pd;
    base_op.arg2 = 0;
    hcheck(HYPERVISOR_mmuext_op(&base_op, 1, NULL, DOMID_SELF), "mmuext_op(NEW_BASEPTR)");
}
/* The first NEW_BASEPTR validates the tables and turns paging on. */
void plat_enable_paging(u32 pd) { plat_set_cr3(pd); }

void plat_update_ptes(const struct pte_req *r, u32 n) {
    static struct mmu_update req[32];
    while (n) {
        u32 k = n > 32 ? 32 : n, done = 0;
        for (u32 i = 0; i < k; i++) {
            req[i].ptr = (u64)r[i].ptr | MMU_NORMAL_PT_UPDATE;
            req[i].val = r[i].val;
        }
        i32 rc = HYPERVISOR_mmu_update(req, k, &done, DOMID_SELF);
        if (rc < 0 || done != k) panic("mmu_update failed: %d (done %u of %u)", rc, done, k);
        r += k;
        n -= k;
    }
}
void plat_flush_tlb_one(u32 va) {
    static struct mmuext_op op;
    op.cmd = MMUEXT_INVLPG_LOCAL;
    op.arg1 = va;
    op.arg2 = 0;
    hcheck(HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF), "mmuext_op(INVLPG_LOCAL)");
}
void plat_set_pte_va(u32 va, u32 pte_phys, u32 val) {
    (void)pte_phys; /* the hypervisor finds the PTE by walking the current tables */
    hcheck(HYPERVISOR_update_va_mapping(va, val, 0, UVMF_INVLPG), "update_va_mapping");
}
void plat_stack_switch(u32 esp0) { hcheck(HYPERVISOR_stack_switch(KERNEL_DS, esp0), "stack_switch"); }

/* A context switch is one multicall: stack_switch + NEW_BASEPTR. */
void plat_switch_mm(u32 pd, u32 esp0) {
    static struct multicall_entry mc[2];
    static struct mmuext_op op;
    op.cmd = MMUEXT_NEW_BASEPTR;
    op.arg1 = pd;
    op.arg2 = 0;
    memset(mc, 0, sizeof mc);
    mc[0].op = __HYPERVISOR_stack_switch;
    mc[0].args[0] = KERNEL_DS;
    mc[0].args[1] = esp0;
    mc[1].op = __HYPERVISOR_mmuext_op;
    mc[1].args[0] = (u32)&op;
    mc[1].args[1] = 1;
    mc[1].args[2] = 0;
    mc[1].args[3] = DOMID_SELF;
    hcheck(HYPERVISOR_multicall(mc, 2), "multicall");
    if (mc[0].result < 0 || mc[1].result < 0) panic("context switch multicall: %d %d", mc[0].result, mc[1].result);
}
u32 plat_fault_addr(void) { return pv_cr2; }

/* ---- I/O: IOPL is 0, so these trap and the hypervisor emulates them ------- */
u8 plat_inb(u16 port) { return inb(port); }
void plat_outb(u16 port, u8 v) { outb(port, v); }

/* ---- timer: one-shot set_timer_op, re-armed on each VIRQ_TIMER event ------- */
static u32 timer_port;
static u64 timer_period_ns;

static u32 poll_events(u64 *now) {
    static struct evtchn_virtlab_poll p;
    hcheck(HYPERVISOR_event_channel_op(EVTCHNOP_virtlab_poll, &p), "event_channel_op(poll)");
    if (now) *now = p.now_ns;
    return p.pending;
}
static void handle_events(void) {
    u64 now;
    u32 pending = poll_events(&now);
    if (pending & (1u << timer_port)) {
        timer_tick();
        hcheck(HYPERVISOR_set_timer_op(now + timer_period_ns), "set_timer_op");
    }
}
void plat_timer_init(u32 hz) {
    static struct evtchn_bind_virq bind;
    bind.virq = VIRQ_TIMER;
    bind.vcpu = 0;
    hcheck(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &bind), "event_channel_op(bind_virq)");
    if (bind.port > 31) panic("timer event port %u out of range", bind.port);
    timer_port = bind.port;
    timer_period_ns = 1000000000u / hz;
    u64 now;
    poll_events(&now);
    hcheck(HYPERVISOR_set_timer_op(now + timer_period_ns), "set_timer_op");
}
void plat_timer_ack(void) {}
/* Event upcall (entered with events masked; HYPERVISOR_iret unmasks). */
void plat_event(struct trapframe *tf) {
    (void)tf;
    handle_events();
}
/* Events stay masked in the kernel: block until one is pending, then handle it. */
void plat_halt_block(void) {
    hcheck(HYPERVISOR_sched_op(SCHEDOP_block, 0), "sched_op(block)");
    handle_events();
}
void plat_fpu_enable(void) {
    hcheck(HYPERVISOR_fpu_taskswitch(0), "fpu_taskswitch"); /* clear CR0.TS */
    __asm__ volatile("fninit");
}
void plat_shutdown(void) {
    HYPERVISOR_sched_op(SCHEDOP_shutdown, SHUTDOWN_poweroff);
    for (;;) {
    }
}
