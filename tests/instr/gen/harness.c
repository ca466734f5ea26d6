/*
 * VirtLab instruction-test harness: runs x86 snippets natively in a 32-bit
 * process and prints the resulting machine state.
 *
 * Build: gcc -m32 -O1 -no-pie -o harness harness.c
 * Usage: harness <variant>   (variant 0 or 1 selects the fill pattern of the
 *        snippet stack, so that generate.ts can run every case twice and
 *        reject snippets whose results depend on uninitialised memory or on
 *        absolute addresses)
 *
 * stdin, one case per line (all numbers hex, '-' for an empty hex string):
 *   code memRegIndex(-1 = none) nrelocs reloc... eax ecx edx ebx ebp esi edi eflags memSize mem
 * stdout, one line per case:
 *   eax ecx edx ebx esp ebp esi edi eflags espInitial memBase codeBase fault vector err eipOff mem
 * (registers absolute; fault = 0/1; vector/err/eipOff are 0 when no fault).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/* register order everywhere: eax ecx edx ebx esp ebp esi edi */
uint32_t g_in[8];
uint32_t g_in_eflags;
uint32_t g_out[8];
uint32_t g_out_eflags;
uint32_t g_host_esp;
uint32_t g_code;

void run_snippet(void);
void snippet_exit(void);

__asm__(".intel_syntax noprefix\n"
        ".text\n"
        ".globl run_snippet\n"
        "run_snippet:\n"
        "  push ebp\n"
        "  push ebx\n"
        "  push esi\n"
        "  push edi\n"
        "  mov [g_host_esp], esp\n"
        "  fninit\n"
        "  mov esp, [g_in+16]\n"
        "  push dword ptr [g_in_eflags]\n"
        "  popfd\n"
        "  mov eax, [g_in+0]\n"
        "  mov ecx, [g_in+4]\n"
        "  mov edx, [g_in+8]\n"
        "  mov ebx, [g_in+12]\n"
        "  mov ebp, [g_in+20]\n"
        "  mov esi, [g_in+24]\n"
        "  mov edi, [g_in+28]\n"
        "  jmp dword ptr [g_code]\n"
        ".globl snippet_exit\n"
        "snippet_exit:\n"
        "  mov [g_out+0], eax\n"
        "  mov [g_out+4], ecx\n"
        "  mov [g_out+8], edx\n"
        "  mov [g_out+12], ebx\n"
        "  mov [g_out+16], esp\n"
        "  mov [g_out+20], ebp\n"
        "  mov [g_out+24], esi\n"
        "  mov [g_out+28], edi\n"
        "  pushfd\n"
        "  pop dword ptr [g_out_eflags]\n"
        "  cld\n"
        "  mov esp, [g_host_esp]\n"
        "  pop edi\n"
        "  pop esi\n"
        "  pop ebx\n"
        "  pop ebp\n"
        "  ret\n"
        ".att_syntax prefix\n");

#define CODE_SIZE 65536
#define STACK_SIZE 65536
#define MEM_MAX 8192

static sigjmp_buf g_jb;
static volatile int g_fault;
static volatile uint32_t g_fault_vec, g_fault_err, g_fault_eip;
static uint8_t *code_page;

static void on_signal(int sig, siginfo_t *si, void *ctx) {
  (void)si;
  ucontext_t *uc = (ucontext_t *)ctx;
  greg_t *g = uc->uc_mcontext.gregs;
  if (sig == SIGALRM) {
    g_fault = 2;
    siglongjmp(g_jb, 1);
  }
  uint32_t eip = (uint32_t)g[REG_EIP];
  if (eip < (uint32_t)(uintptr_t)code_page || eip >= (uint32_t)(uintptr_t)code_page + CODE_SIZE) {
    /* the fault is not inside the snippet: harness bug */
    static const char msg[] = "harness: fault outside the snippet\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
  }
  g_out[0] = (uint32_t)g[REG_EAX];
  g_out[1] = (uint32_t)g[REG_ECX];
  g_out[2] = (uint32_t)g[REG_EDX];
  g_out[3] = (uint32_t)g[REG_EBX];
  g_out[4] = (uint32_t)g[REG_ESP];
  g_out[5] = (uint32_t)g[REG_EBP];
  g_out[6] = (uint32_t)g[REG_ESI];
  g_out[7] = (uint32_t)g[REG_EDI];
  g_out_eflags = (uint32_t)g[REG_EFL];
  g_fault_vec = (uint32_t)g[REG_TRAPNO];
  g_fault_err = (uint32_t)g[REG_ERR];
  g_fault_eip = eip - (uint32_t)(uintptr_t)code_page;
  g_fault = 1;
  siglongjmp(g_jb, 1);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* parses a hex byte string ('-' = empty); returns length or -1 */
static int parse_hex(const char *s, uint8_t *out, int max) {
  if (strcmp(s, "-") == 0) return 0;
  int n = (int)strlen(s);
  if (n % 2 || n / 2 > max) return -1;
  for (int i = 0; i < n / 2; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi * 16 + lo);
  }
  return n / 2;
}

static void die(const char *m, int line) {
  fprintf(stderr, "harness: %s (input line %d)\n", m, line);
  exit(2);
}

int main(int argc, char **argv) {
  int variant = argc > 1 ? atoi(argv[1]) : 0;
  static char line[1 << 17];
  static uint8_t code[CODE_SIZE], mem_init[MEM_MAX];
  static char tok[64][1 << 15];

  /* placement differs per variant so that address-dependent results show up */
  uint8_t *stack = mmap(NULL, STACK_SIZE * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  code_page = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint8_t *membuf = mmap(NULL, MEM_MAX * (variant + 2), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED || code_page == MAP_FAILED || membuf == MAP_FAILED) die("mmap failed", 0);
  membuf += MEM_MAX * variant; /* page aligned either way */
  uint8_t *stack_top = stack + STACK_SIZE + (variant ? 0x1230 : 0);

  stack_t ss;
  ss.ss_sp = malloc(65536);
  ss.ss_size = 65536;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, NULL)) die("sigaltstack failed", 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP, SIGALRM};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL)) die("sigaction failed", 0);

  int lineno = 0;
  while (fgets(line, sizeof line, stdin)) {
    lineno++;
    int nt = 0;
    for (char *p = strtok(line, " \t\r\n"); p && nt < 64; p = strtok(NULL, " \t\r\n")) {
      if (strlen(p) >= sizeof tok[0]) die("token too long", lineno);
      strcpy(tok[nt++], p);
    }
    if (nt == 0) continue;
    int t = 0;
    int code_len = parse_hex(tok[t++], code, CODE_SIZE - 16);
    if (code_len < 0) die("bad code hex", lineno);
    int mem_reg = (int)strtol(tok[t++], NULL, 16);
    if (mem_reg > 7 || mem_reg == 4) die("bad memReg", lineno);
    int nrel = (int)strtol(tok[t++], NULL, 16);
    if (nt != 3 + nrel + 10) die("wrong token count", lineno);
    uint32_t relocs[16];
    for (int i = 0; i < nrel; i++) relocs[i] = (uint32_t)strtoul(tok[t++], NULL, 16);
    uint32_t regs[8];
    int order[7] = {0, 1, 2, 3, 5, 6, 7};
    for (int i = 0; i < 7; i++) regs[order[i]] = (uint32_t)strtoul(tok[t++], NULL, 16);
    uint32_t eflags = (uint32_t)strtoul(tok[t++], NULL, 16);
    int mem_size = (int)strtol(tok[t++], NULL, 16);
    if (mem_size <= 0 || mem_size > MEM_MAX) die("bad memSize", lineno);
    int ml = parse_hex(tok[t++], mem_init, MEM_MAX);
    if (ml < 0) die("bad mem hex", lineno);

    /* code + epilogue (jmp rel32 to snippet_exit); rest of the page int3 */
    memset(code_page, 0xcc, CODE_SIZE);
    memcpy(code_page, code, (size_t)code_len);
    for (int i = 0; i < nrel; i++) {
      uint32_t v;
      memcpy(&v, code_page + relocs[i], 4);
      v += (uint32_t)(uintptr_t)membuf;
      memcpy(code_page + relocs[i], &v, 4);
    }
    uint8_t *ep = code_page + code_len;
    int32_t rel = (int32_t)((uintptr_t)snippet_exit - (uintptr_t)(ep + 5));
    ep[0] = 0xe9;
    memcpy(ep + 1, &rel, 4);
    __builtin___clear_cache((char *)code_page, (char *)code_page + CODE_SIZE);

    memset(membuf, 0, MEM_MAX);
    memcpy(membuf, mem_init, (size_t)ml);
    memset(stack, variant ? 0x5a : 0xa5, STACK_SIZE * 2);

    regs[4] = (uint32_t)(uintptr_t)stack_top;
    if (mem_reg >= 0) regs[mem_reg] = (uint32_t)(uintptr_t)membuf;
    memcpy(g_in, regs, sizeof regs);
    /* bit 1 is reserved (1); only arithmetic flags and DF come from the case */
    g_in_eflags = (eflags & 0xcd5) | 2;
    g_code = (uint32_t)(uintptr_t)code_page;
    g_fault = 0;
    g_fault_vec = g_fault_err = g_fault_eip = 0;

    if (sigsetjmp(g_jb, 1) == 0) {
      alarm(2);
      run_snippet();
    }
    alarm(0);
    __asm__ volatile("cld");
    if (g_fault == 2) die("snippet timed out", lineno);

    printf("%x %x %x %x %x %x %x %x %x %x %x %x %d %x %x %x ", g_out[0], g_out[1], g_out[2], g_out[3], g_out[4],
           g_out[5], g_out[6], g_out[7], g_out_eflags, regs[4], (uint32_t)(uintptr_t)membuf,
           (uint32_t)(uintptr_t)code_page, g_fault, g_fault_vec, g_fault_err, g_fault_eip);
    for (int i = 0; i < mem_size; i++) printf("%02x", membuf[i]);
    printf("\n");
  }
  return 0;
}
