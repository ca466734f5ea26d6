/* teachkernel: a small multiboot OS carrying a virtualization microbenchmark
 * suite in the spirit of Adams & Agesen (ASPLOS 2006). Everything privileged
 * goes through the platform layer (platform_native.c / platform_pv.c). */
#include <stdarg.h>
#include "tk.h"

/* ------------------------------------------------------------------------ */
/* small libc                                                                */
void *memset(void *d, int c, u32 n) {
    void *r = d;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return r;
}
void *memcpy(void *d, const void *s, u32 n) {
    void *r = d;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return r;
}
static void zero_page(u32 pa) {
    u32 n = PAGE_SIZE / 4, d = pa;
    __asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0) : "memory");
}
static void copy_page(u32 dst, u32 src) {
    u32 n = PAGE_SIZE / 4;
    __asm__ volatile("rep movsl" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}
static u32 slen(const char *s) {
    u32 n = 0;
    while (s[n]) n++;
    return n;
}
static int sncmp(const char *a, const char *b, u32 n) {
    for (u32 i = 0; i < n; i++) {
        if (a[i] != b[i]) return 1;
        if (!a[i]) return 0;
    }
    return 0;
}

/* 64-bit by 10, with the 64/32 DIV instruction (no libgcc). */
static u64 divmod10(u64 n, u32 *rem) {
    u32 hi = (u32)(n >> 32), lo = (u32)n, qhi = hi / 10, r = hi % 10, qlo;
    __asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), "r"(10u));
    *rem = r;
    return ((u64)qhi << 32) | qlo;
}

/* ------------------------------------------------------------------------ */
/* console                                                                   */
static char outbuf[256];
static u32 outlen;
static void out_flush(void) {
    if (outlen) plat_console_write(outbuf, outlen);
    outlen = 0;
}
static void out_ch(char c) {
    if (c == '\n') out_ch('\r');
    outbuf[outlen++] = c;
    if (outlen == sizeof outbuf) out_flush();
}
static void out_u64(u64 v, u32 base, int width) {
    char tmp[24];
    int n = 0;
    do {
        u32 d;
        if (base == 10) v = divmod10(v, &d);
        else { d = (u32)v & 15; v >>= 4; }
        tmp[n++] = "0123456789abcdef"[d];
    } while (v);
    while (n < width) tmp[n++] = '0';
    while (n) out_ch(tmp[--n]);
}
static void vkprintf(const char *f, va_list ap) {
    for (; *f; f++) {
        if (*f != '%') { out_ch(*f); continue; }
        f++;
        int wide = 0, width = 0;
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        if (*f == 'l' && f[1] == 'l') { wide = 1; f += 2; }
        switch (*f) {
        case 's': { const char *s = va_arg(ap, const char *); while (*s) out_ch(*s++); break; }
        case 'c': out_ch((char)va_arg(ap, int)); break;
        case 'd': { i32 v = va_arg(ap, i32); if (v < 0) { out_ch('-'); v = -v; } out_u64((u32)v, 10, width); break; }
        case 'u': out_u64(wide ? va_arg(ap, u64) : va_arg(ap, u32), 10, width); break;
        case 'x': out_u64(wide ? va_arg(ap, u64) : va_arg(ap, u32), 16, width); break;
        default: out_ch('%'); out_ch(*f); break;
        }
    }
}
void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vkprintf(fmt, ap);
    va_end(ap);
    out_flush();
}
void panic(const char *fmt, ...) {
    va_list ap;
    kprintf("TEACHKERNEL PANIC: ");
    va_start(ap, fmt);
    vkprintf(fmt, ap);
    va_end(ap);
    kprintf("\n");
    plat_shutdown();
}

/* ------------------------------------------------------------------------ */
/* physical frames: page-table pool (read-only to a PV guest) and the rest   */
static u32 pool_free[(PT_POOL_END - PT_POOL_START) / PAGE_SIZE];
static u32 pool_n;
static u32 frame_free[(MAP_MAX - FRAMES_START) / PAGE_SIZE];
static u32 frame_n;
static u32 ram_top; /* end of usable, mapped RAM */

/* Pool frames are all-zero while free: whoever frees one has cleared every
 * entry it set (a PV guest cannot zero them with stores). */
static u32 pool_alloc(void) {
    if (!pool_n) panic("page-table pool exhausted");
    return pool_free[--pool_n];
}
static void pool_release(u32 pa) { pool_free[pool_n++] = pa; }
static u32 frame_alloc(void) {
    if (!frame_n) panic("out of memory");
    return frame_free[--frame_n];
}
static void frame_release(u32 pa) { frame_free[frame_n++] = pa; }

/* ------------------------------------------------------------------------ */
/* page tables                                                               */
struct batch {
    struct pte_req r[32];
    u32 n;
};
static void b_flush(struct batch *b) {
    if (b->n) plat_update_ptes(b->r, b->n);
    b->n = 0;
}
static void b_add(struct batch *b, u32 ptr, u32 val) {
    b->r[b->n].ptr = ptr;
    b->r[b->n].val = val;
    if (++b->n == 32) b_flush(b);
}

static u32 kernel_pd;  /* kernel-only address space (the kernel thread's) */
static u32 kernel_pt0; /* page table for 0..4 MiB (ptemod scratch page) */
static u32 nkpde;      /* kernel PDEs 0..nkpde-1 are shared by every process */

struct upt { u32 pdi, pt, lo, hi; };
struct aspace {
    u32 pd;
    u32 nupt;
    struct upt upt[8];
};

extern char __utext_start[], __utext_end[], __kernel_end[];

/* Build the kernel's identity map with plain stores (paging is still off). */
static void build_kernel_map(void) {
    kernel_pd = pool_alloc();
    nkpde = (ram_top + (4u << 20) - 1) >> 22;
    for (u32 i = 0; i < nkpde; i++) {
        u32 pt = pool_alloc();
        if (i == 0) kernel_pt0 = pt;
        ((u32 *)kernel_pd)[i] = pt | PTE_P | PTE_W | PTE_U; /* U: per-PTE below */
        for (u32 j = 0; j < 1024; j++) {
            u32 pa = (i << 22) | (j << 12), f = PTE_P | PTE_W;
            if (pa == 0 || pa >= ram_top) continue; /* page 0 stays unmapped */
            if (pa >= (u32)__utext_start && pa < (u32)__utext_end) f = PTE_P | PTE_U;
#ifdef PV
            /* page tables are read-only to the guest */
            if (pa >= PT_POOL_START && pa < PT_POOL_END) f &= ~PTE_W;
#endif
            ((u32 *)pt)[j] = pa | f;
        }
    }
}

static void as_create(struct aspace *as) {
    struct batch b;
    b.n = 0;
    as->pd = pool_alloc();
    as->nupt = 0;
    for (u32 i = 0; i < nkpde; i++) b_add(&b, as->pd + i * 4, ((u32 *)kernel_pd)[i]);
    b_flush(&b);
}

/* Physical address of the PTE for user address va; a page table is created
 * (its PDE queued in b before any PTE of it) when needed. */
static u32 as_pte(struct aspace *as, u32 va, struct batch *b) {
    u32 pdi = va >> 22, idx = (va >> 12) & 1023;
    struct upt *u = NULL;
    for (u32 i = 0; i < as->nupt; i++)
        if (as->upt[i].pdi == pdi) u = &as->upt[i];
    if (!u) {
        if (as->nupt == 8) panic("too many user page tables");
        u = &as->upt[as->nupt++];
        u->pdi = pdi;
        u->pt = pool_alloc();
        u->lo = 1024;
        u->hi = 0;
        b_add(b, as->pd + pdi * 4, u->pt | PTE_P | PTE_W | PTE_U);
    }
    if (idx < u->lo) u->lo = idx;
    if (idx + 1 > u->hi) u->hi = idx + 1;
    return u->pt + idx * 4;
}

/* Tear an address space down. It must not be the loaded one. */
static void as_destroy(struct aspace *as) {
    struct batch b;
    b.n = 0;
    for (u32 k = 0; k < as->nupt; k++) {
        struct upt *u = &as->upt[k];
        for (u32 i = u->lo; i < u->hi; i++) {
            u32 e = ((u32 *)u->pt)[i];
            if (!(e & PTE_P)) continue;
            frame_release(e & PTE_FRAME);
            b_add(&b, u->pt + i * 4, 0);
        }
        b_add(&b, as->pd + u->pdi * 4, 0);
    }
    for (u32 i = 0; i < nkpde; i++) b_add(&b, as->pd + i * 4, 0);
    b_flush(&b);
    for (u32 k = 0; k < as->nupt; k++) pool_release(as->upt[k].pt);
    pool_release(as->pd);
    as->nupt = 0;
    as->pd = 0;
}

/* ------------------------------------------------------------------------ */
/* processes                                                                 */
enum { P_FREE, P_RUNNABLE, P_WAITING, P_ZOMBIE };
struct proc {
    int pid, state;
    struct aspace as;
    u32 kstack; /* one frame */
    u32 ksp;
    struct proc *parent;
    int waitfor;
};
#define NPROC 8
static struct proc procs[NPROC];
static struct proc *cur = &procs[0]; /* procs[0]: the kernel thread */
static int nextpid = 1, nlive;

static struct {
    u32 syscalls, yields, forks, faults, divzero, exits, badexits, ticks;
} stat;

static void switch_to(struct proc *next) {
    struct proc *prev = cur;
    cur = next;
    if (next == &procs[0]) plat_set_cr3(kernel_pd);
    else plat_switch_mm(next->as.pd, next->kstack + PAGE_SIZE);
    swtch(&prev->ksp, next->ksp);
}

static void schedule(void) {
    int me = (int)(cur - procs);
    struct proc *next = NULL;
    for (int i = 1; i <= NPROC; i++) {
        struct proc *q = &procs[(me + i) % NPROC];
        if (q != &procs[0] && q->state == P_RUNNABLE) { next = q; break; }
    }
    if (!next) next = &procs[0];
    if (next != cur) switch_to(next);
}

static struct proc *proc_alloc(void) {
    for (int i = 1; i < NPROC; i++)
        if (procs[i].state == P_FREE) {
            struct proc *p = &procs[i];
            p->pid = nextpid++;
            p->kstack = frame_alloc();
            p->waitfor = 0;
            nlive++;
            return p;
        }
    return NULL;
}
static void proc_reap(struct proc *p) {
    frame_release(p->kstack);
    p->state = P_FREE;
    nlive--;
}

/* The new process leaves swtch() through trapret with this frame. */
static void proc_set_frame(struct proc *p, const struct trapframe *tf) {
    struct trapframe *ktf = (struct trapframe *)(p->kstack + PAGE_SIZE - sizeof *ktf);
    *ktf = *tf;
    u32 *sp = (u32 *)ktf;
    *--sp = (u32)trapret;
    for (int i = 0; i < 4; i++) *--sp = 0; /* ebp ebx esi edi */
    p->ksp = (u32)sp;
}

static struct proc *spawn(void (*entry)(void), u32 ops, u32 role) {
    struct proc *p = proc_alloc();
    if (!p) panic("no process slot");
    struct batch b;
    b.n = 0;
    as_create(&p->as);
    u32 data = frame_alloc(), stack = frame_alloc();
    zero_page(data);
    zero_page(stack);
    u32 pte = as_pte(&p->as, USER_DATA, &b);
    b_add(&b, pte, data | PTE_P | PTE_W | PTE_U);
    pte = as_pte(&p->as, USER_STACK, &b);
    b_add(&b, pte, stack | PTE_P | PTE_W | PTE_U);
    b_flush(&b);
    struct trapframe tf;
    memset(&tf, 0, sizeof tf);
    tf.es = tf.ds = USER_DS;
    tf.ebx = ops;
    tf.esi = role;
    tf.eip = (u32)entry;
    tf.cs = USER_CS;
    tf.eflags = 0x202; /* IF (a PV guest's virtual IF) */
    tf.uesp = USER_STACK_TOP;
    tf.uss = USER_DS;
    proc_set_frame(p, &tf);
    p->parent = &procs[0];
    p->state = P_RUNNABLE;
    return p;
}

static int sys_fork(struct trapframe *tf) {
    struct proc *c = proc_alloc();
    if (!c) return -1;
    struct batch b;
    b.n = 0;
    as_create(&c->as);
    /* copy the parent's user page tables and pages (no copy-on-write) */
    for (u32 k = 0; k < cur->as.nupt; k++) {
        struct upt *u = &cur->as.upt[k];
        for (u32 i = u->lo; i < u->hi; i++) {
            u32 e = ((u32 *)u->pt)[i];
            if (!(e & PTE_P)) continue;
            u32 f = frame_alloc();
            copy_page(f, e & PTE_FRAME);
            u32 pte = as_pte(&c->as, (u->pdi << 22) | (i << 12), &b);
            b_add(&b, pte, f | (e & 0xfff & ~(PTE_A | PTE_D)));
        }
    }
    b_flush(&b);
    struct trapframe ctf = *tf;
    ctf.eax = 0;
    proc_set_frame(c, &ctf);
    c->parent = cur;
    c->state = P_RUNNABLE;
    stat.forks++;
    return c->pid;
}

static void sys_exit(int code) {
    stat.exits++;
    if (code) stat.badexits++;
    plat_set_cr3(kernel_pd); /* leave the address space before freeing it */
    as_destroy(&cur->as);
    cur->state = P_ZOMBIE;
    struct proc *p = cur->parent;
    if (p->state == P_WAITING && p->waitfor == cur->pid) p->state = P_RUNNABLE;
    schedule();
    panic("zombie scheduled");
}

static int sys_wait(int pid) {
    struct proc *c = NULL;
    for (int i = 1; i < NPROC; i++)
        if (procs[i].state != P_FREE && procs[i].pid == pid && procs[i].parent == cur) c = &procs[i];
    if (!c) return -1;
    while (c->state != P_ZOMBIE) {
        cur->state = P_WAITING;
        cur->waitfor = pid;
        schedule();
    }
    proc_reap(c);
    return pid;
}

/* Run until every user process has exited (the kernel thread's loop). */
static void run_procs(void) {
    while (nlive > 0) {
        for (int i = 1; i < NPROC; i++)
            if (procs[i].state == P_ZOMBIE && procs[i].parent == &procs[0]) proc_reap(&procs[i]);
        if (!nlive) break;
        int any = 0;
        for (int i = 1; i < NPROC; i++) any |= procs[i].state == P_RUNNABLE;
        if (any) schedule();
        else plat_halt_block();
    }
}

/* ------------------------------------------------------------------------ */
/* workloads                                                                 */
static const char *wl_name;
static u32 wl_ops;
static u64 wl_t0, wl_t1;
static u32 wl_tick0, wl_tick1;

static void mark(int end) {
    if (!end) {
        kprintf("WORKLOAD %s ops=%u begin\n", wl_name, wl_ops);
        wl_tick0 = stat.ticks;
        wl_t0 = rdtsc();
    } else {
        wl_t1 = rdtsc();
        wl_tick1 = stat.ticks;
        kprintf("WORKLOAD %s ops=%u end\n", wl_name, wl_ops);
    }
}

static void do_syscall(struct trapframe *tf) {
    switch (tf->eax) {
    case SYS_NULL: stat.syscalls++; tf->eax = 0; break;
    case SYS_EXIT: sys_exit((int)tf->ebx); break;
    case SYS_YIELD: stat.yields++; schedule(); tf->eax = 0; break;
    case SYS_FORK: tf->eax = (u32)sys_fork(tf); break;
    case SYS_WAIT: tf->eax = (u32)sys_wait((int)tf->ebx); break;
    case SYS_MARK: mark((int)tf->ebx); tf->eax = 0; break;
    default: tf->eax = (u32)-38; break;
    }
}

void timer_tick(void) { stat.ticks++; }

static void fatal_trap(struct trapframe *tf, const char *why) {
    kprintf("TEACHKERNEL TRAP %s vec=%u err=%x eip=%x cs=%x cr2=%x pid=%d\n", why, tf->vec, tf->err, tf->eip,
            tf->cs, tf->vec == VEC_PF ? plat_fault_addr() : 0, cur->pid);
    if ((tf->cs & 3) == 3) sys_exit(-1);
    panic("trap in kernel mode");
}

void trap_dispatch(struct trapframe *tf) {
    int user = (tf->cs & 3) == 3;
    switch (tf->vec) {
    case VEC_SYSCALL:
        do_syscall(tf);
        return;
    case VEC_TIMER: /* native IRQ0 */
        timer_tick();
        plat_timer_ack();
        return;
    case VEC_EVENT: /* PV event upcall */
        plat_event(tf);
        return;
    case VEC_DE: {
        const u8 *ip = (const u8 *)tf->eip;
        /* DIV/IDIV r32 (F7 /6, F7 /7, register operand): skip 2 bytes */
        if (user && ip[0] == 0xf7 && (ip[1] & 0xf0) == 0xf0) {
            tf->eip += 2;
            stat.divzero++;
            return;
        }
        break;
    }
    case VEC_PF: {
        u32 va = plat_fault_addr();
        if (user && !(tf->err & 1) && va >= DEMAND_BASE && va < DEMAND_END) {
            struct batch b;
            b.n = 0;
            u32 f = frame_alloc();
            zero_page(f);
            u32 pte = as_pte(&cur->as, va, &b);
            b_add(&b, pte, f | PTE_P | PTE_W | PTE_U);
            b_flush(&b);
            stat.faults++;
            return;
        }
        break;
    }
    }
    fatal_trap(tf, "unexpected");
}

/* --- the benchmarks ---------------------------------------------------- */
extern void u_syscall(void), u_callret(void), u_divzero(void), u_pgfault(void), u_ctxsw(void),
    u_forkwait(void);

static u32 result_ok;

static void run_user(void (*entry)(void), u32 ops) {
    spawn(entry, ops, 3);
    run_procs();
}

static void wl_syscall(u32 n) {
    u32 c0 = stat.syscalls;
    run_user(u_syscall, n);
    result_ok = stat.syscalls - c0 == n && !stat.badexits;
}
static void wl_callret(u32 n) {
    run_user(u_callret, n);
    result_ok = !stat.badexits;
}
static void wl_divzero(u32 n) {
    u32 c0 = stat.divzero;
    run_user(u_divzero, n);
    result_ok = stat.divzero - c0 == n && !stat.badexits;
}
static void wl_pgfault(u32 n) {
    u32 c0 = stat.faults;
    if (n > frame_n - 64 || n > 7 * 1024)
        panic("pgfault: ops=%u needs %u free frames and at most 7168 pages (have %u frames)", n, n, frame_n);
    run_user(u_pgfault, n);
    result_ok = stat.faults - c0 == n && !stat.badexits;
}
static void wl_ctxsw(u32 n) {
    u32 c0 = stat.yields;
    /* two processes, each with its own page directory; N yields in all */
    spawn(u_ctxsw, n - n / 2, 1);
    spawn(u_ctxsw, n / 2 ? n / 2 : 1, 2);
    run_procs();
    result_ok = stat.yields - c0 == n + (n / 2 ? 0 : 1) && !stat.badexits;
}
static void wl_forkwait(u32 n) {
    u32 f0 = stat.forks, e0 = stat.exits;
    run_user(u_forkwait, n);
    result_ok = stat.forks - f0 == n && stat.exits - e0 == n + 1 && !stat.badexits;
}

/* Kernel-mode workloads. */
static void wl_ptemod(u32 n) {
    u32 a = frame_alloc(), b = frame_alloc(), bad = 0;
    u32 pte = kernel_pt0 + (SCRATCH_VA >> 12) * 4, old = ((u32 *)kernel_pt0)[SCRATCH_VA >> 12];
    *(volatile u32 *)a = 0xaaaa0000;
    *(volatile u32 *)b = 0xbbbb0000;
    mark(0);
    for (u32 i = 0; i < n; i++) {
        u32 f = (i & 1) ? b : a;
        plat_set_pte_va(SCRATCH_VA, pte, f | PTE_P | PTE_W); /* write PTE + INVLPG */
        bad |= *(volatile u32 *)SCRATCH_VA ^ *(volatile u32 *)f;
    }
    mark(1);
    plat_set_pte_va(SCRATCH_VA, pte, old);
    frame_release(a);
    frame_release(b);
    result_ok = !bad;
}
static void wl_inout(u32 n) {
    u32 acc = 0;
    mark(0);
    for (u32 i = 0; i < n; i++) acc += plat_inb(0x80);
    mark(1);
    (void)acc;
    result_ok = 1;
}
static void wl_cr3(u32 n) {
    mark(0);
    for (u32 i = 0; i < n; i++) plat_set_cr3(kernel_pd); /* reload: flushes the TLB */
    mark(1);
    result_ok = 1;
}
static void wl_cr8(u32 n) {
    /* Adams & Agesen's CR8 (TPR) write; without a local APIC the interrupt
     * priority register is the 8259's IMR: write it unchanged. */
    u8 v = (u8)plat_pic_imr;
    mark(0);
    for (u32 i = 0; i < n; i++) plat_outb(0x21, v);
    mark(1);
    result_ok = 1;
}

struct workload {
    const char *name;
    void (*run)(u32);
    u32 defops;
};
static const struct workload workloads[] = {
    {"syscall", wl_syscall, 10000}, {"forkwait", wl_forkwait, 500}, {"ctxsw", wl_ctxsw, 5000},
    {"pgfault", wl_pgfault, 1000},  {"ptemod", wl_ptemod, 10000},   {"inout", wl_inout, 10000},
    {"cr3", wl_cr3, 10000},         {"cr8", wl_cr8, 10000},         {"divzero", wl_divzero, 10000},
    {"callret", wl_callret, 1000000},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static void run_workload(const struct workload *w, u32 ops) {
    if (!ops) ops = w->defops;
    wl_name = w->name;
    wl_ops = ops;
    result_ok = 0;
    w->run(ops);
    kprintf("RESULT %s ops=%u tsc=%llu ticks=%u %s\n", w->name, ops, wl_t1 - wl_t0, wl_tick1 - wl_tick0,
            result_ok ? "ok" : "FAIL");
}

/* ------------------------------------------------------------------------ */
/* boot                                                                      */
static char cmdline[256];

static u32 parse_u32(const char *s, u32 n) {
    u32 v = 0;
    for (u32 i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (u32)(s[i] - '0');
    return v;
}

void kmain(u32 magic, u32 mbinfo) {
    plat_early_init(magic, mbinfo); /* console; PV: halts without a hypervisor */
    if (magic != 0x2BADB002) panic("not loaded by a multiboot loader (eax=%x)", magic);
    const u32 *mb = (const u32 *)mbinfo;
    ram_top = (mb[0] & 1) ? 0x100000 + mb[2] * 1024 : 0x800000;
    if (ram_top > MAP_MAX) ram_top = MAP_MAX;
    ram_top &= ~(PAGE_SIZE - 1);
    if (ram_top < FRAMES_START + 0x100000) panic("need at least 6 MiB of RAM");
    if (mb[0] & 4) {
        const char *c = (const char *)mb[4];
        u32 i = 0;
        for (; c[i] && i < sizeof cmdline - 1; i++) cmdline[i] = c[i];
        cmdline[i] = 0;
    }
    if ((u32)__kernel_end > PT_POOL_START) panic("kernel too large");
    /* Free lists. Pool frames are zeroed here, before paging (plain stores). */
    for (u32 pa = PT_POOL_END; pa > PT_POOL_START;) {
        pa -= PAGE_SIZE;
        zero_page(pa);
        pool_free[pool_n++] = pa;
    }
    for (u32 pa = ram_top; pa > FRAMES_START;) {
        pa -= PAGE_SIZE;
        frame_free[frame_n++] = pa;
    }

    kprintf("teachkernel (%s) ram=%uK cmdline=\"%s\"\n", plat_name, ram_top >> 10, cmdline);
    plat_cpu_init();
    build_kernel_map();
    plat_enable_paging(kernel_pd);
    plat_fpu_enable();
    plat_timer_init(100);
    procs[0].pid = 0;
    procs[0].state = P_RUNNABLE;

    /* workload=NAME[,NAME...]|all  ops=N */
    const char *sel = "all";
    u32 sellen = 3, ops = 0;
    for (const char *p = cmdline; *p;) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if (!sncmp(p, "workload=", 9)) { sel = p + 9; sellen = (u32)(e - p - 9); }
        else if (!sncmp(p, "ops=", 4)) ops = parse_u32(p + 4, (u32)(e - p - 4));
        p = e;
    }
    if (sellen == 3 && !sncmp(sel, "all", 3)) {
        for (u32 i = 0; i < NWORKLOADS; i++) run_workload(&workloads[i], ops);
    } else {
        for (const char *p = sel; p < sel + sellen;) {
            const char *e = p;
            while (e < sel + sellen && *e != ',') e++;
            u32 i;
            for (i = 0; i < NWORKLOADS; i++)
                if (slen(workloads[i].name) == (u32)(e - p) && !sncmp(p, workloads[i].name, (u32)(e - p))) break;
            if (i == NWORKLOADS) {
                kprintf("TEACHKERNEL ERROR unknown workload \"");
                for (const char *q = p; q < e; q++) kprintf("%c", *q);
                kprintf("\" (known: syscall forkwait ctxsw pgfault ptemod inout cr3 cr8 divzero callret all)\n");
                plat_shutdown();
            }
            run_workload(&workloads[i], ops);
            p = e + 1;
        }
    }
    kprintf("ticks=%u free_frames=%u free_pt=%u\n", stat.ticks, frame_n, pool_n);
    kprintf("TEACHKERNEL DONE\n");
    plat_shutdown();
}
