// Byte offsets of the CPU state that lives in guest memory's host area (PhysicalMemory.stateOffset):
// the interpreter keeps these values there, so JIT-compiled blocks read and write them directly.

export const ST_REGS = 0; // 8 × i32: EAX ECX EDX EBX ESP EBP ESI EDI
export const ST_EIP = 32; // EIP, written by compiled code as it exits
export const ST_FLAGS = 36; // the lazy-flags record (FlagSlot order, 8 × i32)
export const ST_BUDGET = 68; // instructions compiled code may still retire in this run
export const ST_EXIT = 72; // nonzero: leave compiled code at the next instruction boundary
export const ST_RMASK = 76; // TLB fast-path masks for the current CPL (see Cpu.setCpl)
export const ST_ROK = 80;
export const ST_WMASK = 84;
export const ST_WOK = 88;
export const ST_SEGOK_R = 92; // bit per segment: limit 4 GiB, readable data, base in ST_SEGBASE
export const ST_SEGOK_W = 96; // bit per segment: as above and writable
export const ST_SEGBASE = 100; // 6 × i32
export const ST_PARITY = 128; // 256 bytes: PF for each low result byte
export const ST_END = 384;
