/* teachkernel: shared definitions (C side). */
#ifndef TK_H
#define TK_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int i32;

#define NULL ((void *)0)

/* ---- selectors ---------------------------------------------------------- */
#ifdef PV
/* Fixed flat selectors provided by the hypervisor's GDT (Xen's x86_32 values). */
#define KERNEL_CS 0xe019 /* FLAT_RING1_CS */
#define KERNEL_DS 0xe021 /* FLAT_RING1_DS */
#define USER_CS 0xe02b   /* FLAT_RING3_CS */
#define USER_DS 0xe033   /* FLAT_RING3_DS */
#else
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS 0x1b
#define USER_DS 0x23
#define TSS_SEL 0x28
#endif

/* ---- memory layout (physical == kernel virtual: identity map) ------------ */
#define PAGE_SIZE 4096u
#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PTE_FRAME 0xfffff000u

#define PT_POOL_START 0x00400000u /* page directories and page tables only */
#define PT_POOL_END 0x00500000u   /* 256 frames */
#define FRAMES_START 0x00500000u  /* kernel stacks, user pages */
#define MAP_MAX 0x02000000u       /* identity map at most 32 MiB */
#define KERNEL_PDES (MAP_MAX >> 22)

#define USER_BASE 0x40000000u  /* first user PDE: 256 */
#define USER_DATA 0x40000000u  /* one data page */
#define USER_STACK 0x40001000u /* one stack page, top = 0x40002000 */
#define USER_STACK_TOP 0x40002000u
#define DEMAND_BASE 0x50000000u /* demand-zero region for pgfault */
#define DEMAND_END 0x60000000u
#define SCRATCH_VA 0x00003000u /* kernel scratch page for ptemod (PDE 0) */

/* ---- trap frame (identical in both builds) ------------------------------ */
struct trapframe {
    u32 es, ds;
    u32 edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax; /* pusha */
    u32 vec, err;
    u32 eip, cs, eflags;
    u32 uesp, uss; /* only when coming from ring 3 */
};

#define VEC_DE 0
#define VEC_GP 13
#define VEC_PF 14
#define VEC_TIMER 0x20
#define VEC_SYSCALL 0x80
#define VEC_EVENT 0xee /* PV event callback (pseudo-vector) */
#define VEC_FAILSAFE 0xef

/* ---- system calls (EAX) ------------------------------------------------- */
#define SYS_NULL 0
#define SYS_EXIT 1
#define SYS_YIELD 2
#define SYS_FORK 3
#define SYS_WAIT 4
#define SYS_MARK 5 /* EBX: 0 = begin marker, 1 = end marker */

/* ---- platform layer (platform_native.c / platform_pv.c) ----------------- */
struct pte_req {
    u32 ptr; /* physical address of the PTE or PDE */
    u32 val; /* new entry */
};

void plat_early_init(u32 magic, u32 mbinfo); /* console up; PV: hypervisor check */
void plat_console_write(const char *s, u32 n);
void plat_cpu_init(void);           /* GDT/TSS (native); trap table, callbacks */
void plat_enable_paging(u32 pd);    /* first base pointer; turns paging on */
void plat_set_cr3(u32 pd);          /* load (or reload) a page directory */
void plat_update_ptes(const struct pte_req *r, u32 n); /* batched PTE/PDE writes */
void plat_flush_tlb_one(u32 va);
void plat_set_pte_va(u32 va, u32 pte_phys, u32 val); /* write PTE mapping va + invlpg */
void plat_stack_switch(u32 esp0);   /* kernel stack for traps from ring 3 */
void plat_switch_mm(u32 pd, u32 esp0); /* stack_switch + set_cr3 (one batch in PV) */
u8 plat_inb(u16 port);
void plat_outb(u16 port, u8 v);
void plat_timer_init(u32 hz);
void plat_timer_ack(void);          /* called from the timer interrupt/event */
void plat_halt_block(void);         /* wait for the next interrupt/event */
void plat_fpu_enable(void);
u32 plat_fault_addr(void);          /* CR2 of the current #PF */
void plat_event(struct trapframe *tf); /* PV event upcall; native: unused */
void plat_shutdown(void) __attribute__((noreturn));
extern const char *plat_name;
extern u32 plat_pic_imr; /* value the cr8 benchmark writes to port 0x21 */

/* ---- kernel ------------------------------------------------------------- */
void kmain(u32 magic, u32 mbinfo);
void trap_dispatch(struct trapframe *tf);
void timer_tick(void);
void kprintf(const char *fmt, ...);
void panic(const char *fmt, ...) __attribute__((noreturn));
void *memset(void *d, int c, u32 n);
void *memcpy(void *d, const void *s, u32 n);

/* asm (entry.asm) */
extern void swtch(u32 *save_esp, u32 new_esp);
extern void trapret(void);
extern u32 trap_vectors[]; /* stub addresses, indexed 0..31, then 0x20, 0x80 */

static inline u64 rdtsc(void) {
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

#endif
