/* teachkernel platform layer, native build: privileged instructions at CPL 0. */
#include "tk.h"

const char *plat_name = "native";
u32 plat_pic_imr = 0xfe; /* only IRQ0 (the PIT) unmasked */

static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) {
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}

/* ---- console: 16550 on COM1, polled ------------------------------------- */
#define COM1 0x3f8
void plat_early_init(u32 magic, u32 mbinfo) {
    (void)magic;
    (void)mbinfo;
    outb(COM1 + 1, 0x00); /* IER: no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0x07); /* FIFO on, cleared */
    outb(COM1 + 4, 0x03); /* DTR RTS */
}
void plat_console_write(const char *s, u32 n) {
    for (u32 i = 0; i < n; i++) {
        for (u32 k = 0; k < 1000000 && !(inb(COM1 + 5) & 0x20); k++) {
        }
        outb(COM1, (u8)s[i]);
    }
}

/* ---- GDT, TSS, IDT ------------------------------------------------------- */
struct tss {
    u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
    u32 es, cs, ss, ds, fs, gs, ldt;
    u16 trap, iomap;
} __attribute__((packed));
static struct tss tss;
static u64 gdt[6];
static u64 idt[256];

static u64 seg_desc(u32 base, u32 limit, u32 access, u32 flags) {
    return (u64)(limit & 0xffff) | ((u64)(base & 0xffffff) << 16) | ((u64)access << 40) |
           ((u64)((limit >> 16) & 0xf) << 48) | ((u64)flags << 52) | ((u64)(base >> 24) << 56);
}
static void set_gate(int v, u32 handler, int dpl) {
    /* 32-bit interrupt gate: IF cleared on entry */
    idt[v] = (u64)(handler & 0xffff) | ((u64)KERNEL_CS << 16) | ((u64)(0x8e | (dpl << 5)) << 40) |
             ((u64)(handler >> 16) << 48);
}

void plat_cpu_init(void) {
    gdt[0] = 0;
    gdt[1] = seg_desc(0, 0xfffff, 0x9a, 0xc); /* 0x08 kernel code */
    gdt[2] = seg_desc(0, 0xfffff, 0x92, 0xc); /* 0x10 kernel data */
    gdt[3] = seg_desc(0, 0xfffff, 0xfa, 0xc); /* 0x1b user code */
    gdt[4] = seg_desc(0, 0xfffff, 0xf2, 0xc); /* 0x23 user data */
    tss.ss0 = KERNEL_DS;
    tss.iomap = sizeof tss; /* no I/O bitmap: ring-3 port I/O faults */
    gdt[5] = seg_desc((u32)&tss, sizeof tss - 1, 0x89, 0x0); /* 0x28 TSS */
    struct { u16 limit; u32 base; } __attribute__((packed)) gd = {sizeof gdt - 1, (u32)gdt}, id = {sizeof idt - 1, (u32)idt};
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp $0x08, $1f\n"
                     "1:\tmovw $0x10, %%ax\n\t"
                     "movw %%ax, %%ds\n\tmovw %%ax, %%es\n\tmovw %%ax, %%ss\n\t"
                     "xorw %%ax, %%ax\n\tmovw %%ax, %%fs\n\tmovw %%ax, %%gs\n\t"
                     "movw $0x28, %%ax\n\tltr %%ax"
                     :
                     : "m"(gd)
                     : "eax", "memory");
    for (int v = 0; v < 32; v++) set_gate(v, trap_vectors[v], 0);
    set_gate(VEC_TIMER, trap_vectors[32], 0);
    set_gate(VEC_SYSCALL, trap_vectors[33], 3);
    __asm__ volatile("lidt %0" : : "m"(id));

    /* 8259s: ICW1-4, vectors 0x20/0x28, all lines masked until the timer */
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xff); outb(0xa1, 0xff);
}

/* ---- MMU ------------------------------------------------------------------ */
void plat_enable_paging(u32 pd) {
    u32 cr0;
    __asm__ volatile("mov %0, %%cr3" : : "r"(pd) : "memory");
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    cr0 |= 0x80010000u; /* PG, WP */
    __asm__ volatile("mov %0, %%cr0\n\tjmp 1f\n1:" : : "r"(cr0) : "memory");
}
void plat_set_cr3(u32 pd) { __asm__ volatile("mov %0, %%cr3" : : "r"(pd) : "memory"); }
void plat_update_ptes(const struct pte_req *r, u32 n) {
    for (u32 i = 0; i < n; i++) *(volatile u32 *)r[i].ptr = r[i].val;
}
void plat_flush_tlb_one(u32 va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
void plat_set_pte_va(u32 va, u32 pte_phys, u32 val) {
    *(volatile u32 *)pte_phys = val;
    plat_flush_tlb_one(va);
}
void plat_stack_switch(u32 esp0) { tss.esp0 = esp0; }
void plat_switch_mm(u32 pd, u32 esp0) {
    plat_stack_switch(esp0);
    plat_set_cr3(pd);
}
u32 plat_fault_addr(void) {
    u32 v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

/* ---- I/O, timer, idle ----------------------------------------------------- */
u8 plat_inb(u16 port) { return inb(port); }
void plat_outb(u16 port, u8 v) { outb(port, v); }

void plat_timer_init(u32 hz) {
    u32 div = 1193182 / hz;
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(0x40, (u8)div);
    outb(0x40, (u8)(div >> 8));
    outb(0x21, (u8)plat_pic_imr);
}
void plat_timer_ack(void) { outb(0x20, 0x20); /* EOI */ }
void plat_event(struct trapframe *tf) { (void)tf; }
void plat_halt_block(void) { __asm__ volatile("sti\n\thlt\n\tcli" ::: "memory"); }
void plat_fpu_enable(void) { __asm__ volatile("clts\n\tfninit"); }
void plat_shutdown(void) {
    /* Stop the PIT (mode 0 without a count: OUT stays low) and mask the
     * 8259, so the halted machine has no pending timer work at all. */
    outb(0x43, 0x30);
    outb(0x21, 0xff);
    for (;;) __asm__ volatile("cli\n\thlt");
}
