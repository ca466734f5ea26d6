// The paravirtual interface a stock Linux guest negotiates with a KVM-style hypervisor: the
// hypervisor CPUID leaves (signature "KVMKVMKVM", feature bits) and kvm-clock, the pvclock time
// structures the guest registers by MSR and the hypervisor keeps up to date (Linux's
// Documentation/virt/kvm/x86/msr.rst and cpuid.rst). Used by PV mode for Linux guests, which run
// hardware-assisted (VT-x + EPT) with these interfaces and virtio devices, as KVM guests do.

import { CPUID_FEATURES_EDX, CPUID_SIGNATURE, type Cpu } from "../cpu/cpu.ts";

export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;
/** KVM feature bits in CPUID 0x40000001 EAX. */
export const KVM_FEATURE_CLOCKSOURCE = 1 << 0;
export const KVM_FEATURE_CLOCKSOURCE2 = 1 << 3;
export const KVM_FEATURE_CLOCKSOURCE_STABLE_BIT = 1 << 24;
const PVCLOCK_TSC_STABLE_BIT = 1;

export interface KvmPvCounters {
  /** pvclock structure updates written by the hypervisor. */
  pvclockUpdates: number;
  wallClockReads: number;
  msrWrites: number;
}

export class KvmParavirt {
  readonly counters: KvmPvCounters = { pvclockUpdates: 0, wallClockReads: 0, msrWrites: 0 };
  private systemTimeGpa = -1;
  private version = 0;

  constructor(
    private readonly cpu: Cpu,
    /** Virtual time in ns (the TSC counts the same nanoseconds). */
    private readonly clock: () => number,
    /** Wall-clock time (ms since the epoch) at virtual time 0 (the RTC's base). */
    private readonly epochMs: number,
  ) {
    cpu.cpuidHook = (leaf) => {
      leaf >>>= 0;
      // Leaf 1 ECX bit 31 says "running under a hypervisor": Linux probes the leaves below only then.
      if (leaf === 1) return [CPUID_SIGNATURE, 0, 1 << 31, CPUID_FEATURES_EDX];
      // "KVMKVMKVM\0\0\0" in EBX ECX EDX; EAX = highest hypervisor leaf.
      if (leaf === 0x40000000) return [0x40000001, 0x4b4d564b, 0x564b4d56, 0x0000004d];
      if (leaf === 0x40000001)
        return [
          KVM_FEATURE_CLOCKSOURCE | KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT,
          0,
          0,
          0,
        ];
      return null;
    };
    cpu.msrHook = {
      read: (msr) =>
        msr === MSR_KVM_SYSTEM_TIME_NEW ? [this.systemTimeGpa < 0 ? 0 : this.systemTimeGpa | 1, 0] : null,
      write: (msr, lo) => {
        if (msr === MSR_KVM_WALL_CLOCK_NEW) {
          this.counters.msrWrites++;
          this.writeWallClock(lo & ~3);
          return true;
        }
        if (msr === MSR_KVM_SYSTEM_TIME_NEW) {
          this.counters.msrWrites++;
          this.systemTimeGpa = lo & 1 ? lo & ~1 : -1;
          if (this.systemTimeGpa >= 0) this.updateSystemTime();
          return true;
        }
        return false;
      },
    };
  }

  /** struct pvclock_wall_clock { u32 version; u32 sec; u32 nsec; }: boot time of the guest. */
  private writeWallClock(gpa: number): void {
    this.counters.wallClockReads++;
    const mem = this.cpu.mem;
    const v = (this.version += 2);
    mem.write32(gpa, v - 1);
    mem.write32(gpa + 4, Math.floor(this.epochMs / 1000));
    mem.write32(gpa + 8, (this.epochMs % 1000) * 1e6);
    mem.write32(gpa, v);
  }

  /**
   * struct pvclock_vcpu_time_info { u32 version; u32 pad0; u64 tsc_timestamp; u64 system_time;
   * u32 tsc_to_system_mul; i8 tsc_shift; u8 flags; u8 pad[2]; }. The TSC counts virtual ns, so
   * system_time = tsc exactly: mul = 2^31 with shift +1 gives ns = ((tsc - stamp) << 1) * 2^31 >> 32.
   * The version is odd while the structure is being written, as the protocol requires.
   */
  updateSystemTime(): void {
    if (this.systemTimeGpa < 0) return;
    this.counters.pvclockUpdates++;
    const mem = this.cpu.mem,
      g = this.systemTimeGpa;
    const tsc = Math.floor(this.clock());
    const v = (this.version += 2);
    mem.write32(g, v - 1);
    mem.write32(g + 4, 0);
    mem.write32(g + 8, tsc % 4294967296);
    mem.write32(g + 12, Math.floor(tsc / 4294967296));
    mem.write32(g + 16, tsc % 4294967296);
    mem.write32(g + 20, Math.floor(tsc / 4294967296));
    mem.write32(g + 24, 0x80000000);
    mem.write8(g + 28, 1);
    mem.write8(g + 29, PVCLOCK_TSC_STABLE_BIT);
    mem.write32(g, v);
  }
}
