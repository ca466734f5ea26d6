// Whole-machine snapshots: CPU (all architectural state, FPU, MSRs, segment caches), RAM (compressed),
// every device, the disk's copy-on-write overlay (and its base image, so a snapshot is self-
// contained), the mode and the VMM's state, and every counter.
//
// File format (all integers little-endian):
//   0   16  magic "VIRTLAB-SNAPSHOT"
//   16   4  format version (SNAPSHOT_VERSION)
//   20   4  info length I
//   24   4  payload length P
//   28  32  SHA-256 over bytes [60, 60 + I + P)
//   60   I  info: UTF-8 JSON (SnapshotInfo), readable without decompressing
//   60+I P  payload: gzip of  [u32 state-JSON length][state JSON][binary blobs]
// Typed arrays in the state JSON are references into the blob area ({"$t": type, "$o": offset,
// "$n": length}); non-finite numbers, bigints, Maps, Sets and undefined have their own tags.
//
// Determinism (DESIGN.md principle 5): taking a snapshot is a sync point. Derived caches — the TLB,
// the decode cache, shadow page tables, JIT blocks — are dropped on the original machine before its
// state is captured, and a restored machine starts with the same empty caches, so in deterministic
// mode both continue identically (same output, same instruction count, same counters). The EPT is
// VMM state, not a cache, and is saved as it is.
//
// VMM objects (BT, VT-x monitor, EPT, shadow paging, PV hypervisor, KVM paravirt) are captured by
// their plain data fields (numbers, strings, counters, typed arrays, Maps and Sets of plain values),
// so a counter added to a VMM is saved without touching this file; references to other engine
// objects and functions are links that the restored machine's constructor re-creates.

import { Machine, MODES, type Mode, type MachineTimeState } from "./machine.ts";
import type { FpuState } from "./cpu/fpu.ts";

export const SNAPSHOT_MAGIC = "VIRTLAB-SNAPSHOT";
export const SNAPSHOT_VERSION = 1;
const HEADER = 60;

/** A snapshot could not be made or read; `message` says what and what to do. */
export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotError";
  }
}

/** The uncompressed description at the start of a snapshot file (also what a listing shows). */
export interface SnapshotInfo {
  format: "virtlab-snapshot";
  version: number;
  /** ISO time the snapshot was taken (host clock; not part of the machine state). */
  created: string;
  mode: Mode;
  memoryMiB: number;
  deterministic: boolean;
  /** Guest instructions retired at the snapshot. */
  instructions: number;
  /** Virtual time at the snapshot, in ns. */
  virtualNs: number;
  /** Whatever the caller passed as `meta` (e.g. the image name). */
  meta: Record<string, unknown>;
}

export interface SaveOptions {
  /** Stored in the info block (e.g. {image: "linux", label: "..."}). */
  meta?: Record<string, unknown>;
}

export interface LoadOptions {
  /** Host clock for a real-time (non-deterministic) machine, as in MachineOptions. */
  hostClockNs?: () => number;
}

// ---- plain-data capture ------------------------------------------------------------------------

const SKIP = Symbol("skip");
type TypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;

function isTyped(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
}

/** A deep copy of `v` if it is plain data, else SKIP (class instances, functions, links). */
function plain(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  const t = typeof v;
  if (t === "number" || t === "string" || t === "boolean" || t === "bigint") return v;
  if (t !== "object") return SKIP;
  if (isTyped(v)) return v.slice();
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const x of v) {
      const p = plain(x);
      if (p === SKIP) return SKIP;
      out.push(p);
    }
    return out;
  }
  if (v instanceof Map) {
    const out = new Map<unknown, unknown>();
    for (const [k, x] of v) {
      const pk = plain(k),
        px = plain(x);
      if (pk === SKIP || px === SKIP) return SKIP;
      out.set(pk, px);
    }
    return out;
  }
  if (v instanceof Set) {
    const out = new Set<unknown>();
    for (const x of v) {
      const p = plain(x);
      if (p === SKIP) return SKIP;
      out.add(p);
    }
    return out;
  }
  if (!isPlainObject(v as object)) return SKIP;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as object)) {
    const p = plain(x);
    if (p === SKIP) return SKIP;
    out[k] = p;
  }
  return out;
}

/** The plain-data fields of an engine object. */
function captureData(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const p = plain(v);
    if (p !== SKIP) out[k] = p;
  }
  return out;
}

/** Write captured fields back, in place where the field is a (possibly readonly) container. */
function applyData(obj: object, data: Record<string, unknown>, what: string): void {
  const target = obj as Record<string, unknown>;
  for (const [k, v] of Object.entries(data)) {
    const cur = target[k];
    if (isTyped(cur) && isTyped(v) && cur.constructor === v.constructor && cur.length === v.length) {
      (cur as Uint8Array).set(v as Uint8Array);
    } else if (cur instanceof Map && v instanceof Map) {
      cur.clear();
      for (const [a, b] of v) cur.set(a, b);
    } else if (cur instanceof Set && v instanceof Set) {
      cur.clear();
      for (const a of v) cur.add(a);
    } else if (Array.isArray(cur) && Array.isArray(v)) {
      cur.length = 0;
      for (const x of v) cur.push(x);
    } else if (
      cur !== null &&
      typeof cur === "object" &&
      !isTyped(cur) &&
      isPlainObject(cur) &&
      v !== null &&
      typeof v === "object" &&
      !Array.isArray(v)
    ) {
      for (const key of Object.keys(cur)) delete (cur as Record<string, unknown>)[key];
      Object.assign(cur, v);
    } else if (typeof cur === "function") {
      throw new SnapshotError(`corrupt snapshot: ${what}.${k} would replace a method`);
    } else target[k] = v;
  }
}

// ---- encoding ------------------------------------------------------------------------------------

const TYPED: Record<string, new (b: ArrayBuffer, o: number, n: number) => TypedArray> = {
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigUint64Array,
  BigInt64Array,
};

class BlobWriter {
  readonly parts: Uint8Array[] = [];
  size = 0;
  add(a: TypedArray): { $t: string; $o: number; $n: number } {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    // Keep every blob aligned to 8 so it can be viewed in place when read back.
    const pad = (8 - (this.size % 8)) % 8;
    if (pad) {
      this.parts.push(new Uint8Array(pad));
      this.size += pad;
    }
    const ref = { $t: a.constructor.name, $o: this.size, $n: a.length };
    this.parts.push(bytes.slice());
    this.size += bytes.length;
    return ref;
  }
}

function encodeState(state: unknown, blobs: BlobWriter): string {
  return JSON.stringify(state, function (this: unknown, key: string, value: unknown) {
    // `value` is after toJSON; read the raw value for the tagged types.
    const raw = (this as Record<string, unknown>)[key];
    if (isTyped(raw)) return blobs.add(raw);
    if (raw instanceof Map) return { $map: [...raw] };
    if (raw instanceof Set) return { $set: [...raw] };
    if (typeof raw === "bigint") return { $big: raw.toString(16) };
    if (typeof raw === "number" && !Number.isFinite(raw)) return { $num: String(raw) };
    if (raw === undefined && Array.isArray(this)) return { $undef: 1 };
    return value;
  });
}

function decodeState(json: string, blobArea: Uint8Array): unknown {
  return JSON.parse(json, (_key, value: unknown) => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    const o = value as Record<string, unknown>;
    if (typeof o.$t === "string" && typeof o.$o === "number" && typeof o.$n === "number") {
      const Ctor = TYPED[o.$t];
      if (!Ctor) throw new SnapshotError(`corrupt snapshot: unknown array type ${o.$t}`);
      const bytesPer = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      if (o.$o < 0 || o.$o % 8 || o.$o + o.$n * bytesPer > blobArea.length)
        throw new SnapshotError("corrupt snapshot: a data block lies outside the file");
      // Copy out so the result owns its buffer (and the blob area can be dropped).
      const copy = blobArea.slice(o.$o, o.$o + o.$n * bytesPer);
      return new Ctor(copy.buffer, 0, o.$n);
    }
    if (Array.isArray(o.$map)) return new Map(o.$map as [unknown, unknown][]);
    if (Array.isArray(o.$set)) return new Set(o.$set as unknown[]);
    if (typeof o.$big === "string") return BigInt(`0x${o.$big}`);
    if (typeof o.$num === "string") return Number(o.$num);
    if (o.$undef === 1) return undefined;
    return value;
  });
}

async function pipe(
  bytes: Uint8Array[],
  transform: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const stream = new Blob(bytes as BlobPart[]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  if (!globalThis.crypto?.subtle)
    throw new SnapshotError("crypto.subtle is unavailable: serve the page over https or from localhost");
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
}

// ---- what is saved -------------------------------------------------------------------------------

interface CpuState {
  regs: Int32Array;
  eip: number;
  flags: { bits: number; dirty: number; op: number; dst: number; src: number; res: number; size: number };
  sel: Int32Array;
  segBase: Int32Array;
  segLimit: Int32Array;
  segAttr: Int32Array;
  cpl: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  dr: Int32Array;
  tables: number[];
  sysenter: number[];
  tscOffset: number;
  halted: boolean;
  shutdown: boolean;
  icount: number;
  inhibitUntil: number;
  insnEip: number;
  excVector: number;
  excCode: number;
  nmiPending: boolean;
  intr: boolean;
  vectorCounts: Float64Array;
  msrs: Map<number, [number, number]>;
  icacheStats: Record<string, number>;
  fpu: FpuState;
}

interface MachineState {
  options: {
    memoryMiB: number;
    mode: Mode;
    deterministic: boolean;
    nsPerInstruction: number;
    epochMs: number;
  };
  time: MachineTimeState;
  lastReset: { reason: string; state: string } | null;
  cpu: CpuState;
  mmu: { counters: Record<string, number>; lastPdPage: number; lastPtPage: number };
  mem: { a20: boolean; ram: Uint8Array; kind: Uint8Array; mmioCounts: Record<string, number> };
  io: Record<string, number>;
  devices: Record<string, unknown>;
  disk: { base: Uint8Array; overlay: ReturnType<NonNullable<Machine["disk"]>["saveOverlay"]> } | null;
  vmm: {
    bt?: Record<string, unknown>;
    vmx?: Record<string, unknown>;
    vmcs?: Record<string, unknown>;
    ept?: Record<string, unknown>;
    shadow?: Record<string, unknown>;
    pv?: Record<string, unknown>;
    kvm?: Record<string, unknown>;
  };
  virtio: Record<string, unknown> | null;
}

interface Jitted {
  jit?: { flush?: () => void } | null;
}

/**
 * The snapshot sync point: drop every derived cache (JIT blocks, decoded instructions, shadow page
 * tables, TLB) so that the machine from here on behaves as a freshly restored one. Exported for
 * tests and for hosts that want a restore point without serialising.
 */
export function syncPoint(m: Machine): void {
  (m as unknown as Jitted).jit?.flush?.();
  m.cpu.flushDecodeCache();
  (m.bt?.shadow ?? m.vmx?.shadow)?.reset();
  m.cpu.mmu.flush(false);
}

function captureCpu(m: Machine): CpuState {
  const c = m.cpu;
  const f = c.flags;
  return {
    regs: c.regs.slice(),
    eip: c.eip,
    flags: { bits: f.bits, dirty: f.dirty, op: f.op, dst: f.dst, src: f.src, res: f.res, size: f.size },
    sel: c.sel.slice(),
    segBase: c.segBase.slice(),
    segLimit: c.segLimit.slice(),
    segAttr: c.segAttr.slice(),
    cpl: c.cpl,
    cr0: c.mmu.cr0,
    cr2: c.cr2,
    cr3: c.mmu.cr3,
    cr4: c.mmu.cr4,
    dr: c.dr.slice(),
    tables: [c.gdtBase, c.gdtLimit, c.idtBase, c.idtLimit, c.ldtSel, c.ldtBase, c.ldtLimit],
    sysenter: [c.sysenterCs, c.sysenterEsp, c.sysenterEip, c.trSel, c.trBase, c.trLimit, c.trAttr],
    tscOffset: c.tscOffset,
    halted: c.halted,
    shutdown: c.shutdown,
    icount: c.icount,
    inhibitUntil: c.inhibitUntil,
    insnEip: c.insnEip,
    excVector: c.excVector,
    excCode: c.excCode,
    nmiPending: c.nmiPending,
    intr: c.intr,
    vectorCounts: c.vectorCounts.slice(),
    msrs: new Map([...c.msrs].map(([k, v]) => [k, [v[0], v[1]] as [number, number]])),
    icacheStats: { ...c.icacheStats },
    fpu: c.fpu.saveState(),
  };
}

function restoreCpu(m: Machine, s: CpuState): void {
  const c = m.cpu;
  c.regs.set(s.regs);
  c.eip = s.eip;
  Object.assign(c.flags, s.flags);
  c.mmu.cr0 = s.cr0;
  c.mmu.cr3 = s.cr3;
  c.mmu.cr4 = s.cr4;
  for (let k = 0; k < 6; k++) c.setSegCache(k, s.sel[k], s.segBase[k], s.segLimit[k], s.segAttr[k]);
  c.setCpl(s.cpl);
  c.cr2 = s.cr2;
  c.dr.set(s.dr);
  [c.gdtBase, c.gdtLimit, c.idtBase, c.idtLimit, c.ldtSel, c.ldtBase, c.ldtLimit] = s.tables;
  [c.sysenterCs, c.sysenterEsp, c.sysenterEip, c.trSel, c.trBase, c.trLimit, c.trAttr] = s.sysenter;
  c.tscOffset = s.tscOffset;
  c.halted = s.halted;
  c.shutdown = s.shutdown;
  c.icount = s.icount;
  c.inhibitUntil = s.inhibitUntil;
  c.insnEip = s.insnEip;
  c.excVector = s.excVector;
  c.excCode = s.excCode;
  c.nmiPending = s.nmiPending;
  c.vectorCounts.set(s.vectorCounts);
  c.msrs.clear();
  for (const [k, v] of s.msrs) c.msrs.set(k, v);
  c.fpu.loadState(s.fpu);
}

function deviceList(m: Machine): [string, { saveState(): unknown; loadState(s: never): void }][] {
  return [
    ["pic", m.pic],
    ["pit", m.pit],
    ["rtc", m.rtc],
    ["com1", m.com1],
    ["com2", m.com2],
    ["i8042", m.i8042],
    ["port92", m.port92],
    ["post", m.post],
    ["pci", m.pci],
    ["ide", m.ide],
    ["vga", m.vga],
  ];
}

function capture(m: Machine): MachineState {
  const devices: Record<string, unknown> = {};
  for (const [name, d] of deviceList(m)) devices[name] = d.saveState();
  const vmm: MachineState["vmm"] = {};
  if (m.bt) vmm.bt = captureData(m.bt);
  if (m.vmx) {
    vmm.vmx = captureData(m.vmx);
    vmm.vmcs = captureData(m.vmx.vmcs);
    if (m.vmx.ept) vmm.ept = captureData(m.vmx.ept);
  }
  const shadow = m.bt?.shadow ?? m.vmx?.shadow;
  if (shadow) vmm.shadow = captureData(shadow);
  if (m.pv) vmm.pv = captureData(m.pv);
  if (m.kvm) vmm.kvm = captureData(m.kvm);
  const mmu = m.cpu.mmu;
  const disk = m.disk;
  return {
    options: {
      memoryMiB: m.mem.ramSize >>> 20,
      mode: m.mode,
      deterministic: m.deterministic,
      nsPerInstruction: m.nsPerInstruction,
      epochMs: 0, // filled from time state below
    },
    time: m.saveTimeState(),
    lastReset: m.lastReset ? { ...m.lastReset } : null,
    cpu: captureCpu(m),
    mmu: { counters: { ...mmu.counters }, lastPdPage: mmu.lastPdPage, lastPtPage: mmu.lastPtPage },
    mem: {
      a20: m.mem.a20,
      ram: m.mem.u8.subarray(0, m.mem.ramSize),
      kind: m.mem.kind,
      mmioCounts: { ...m.mem.mmioCounts },
    },
    io: { ...m.io.counts },
    devices,
    // The base image is private to Disk; it is read through its public sector interface.
    disk: disk ? { base: diskBase(disk), overlay: disk.saveOverlay() } : null,
    vmm,
    virtio: m.virtio ? Object.fromEntries(m.virtio.all.map((d) => [d.name, d.saveState()])) : null,
  };
}

/** The pristine base image of a disk (its overlay set aside for the read). */
function diskBase(disk: NonNullable<Machine["disk"]>): Uint8Array {
  const overlay = disk.saveOverlay();
  disk.discardOverlay();
  try {
    return disk.read(0, disk.sectors);
  } finally {
    disk.loadOverlay(overlay);
  }
}

// ---- public API ----------------------------------------------------------------------------------

/**
 * Serialise the whole machine. Call between run slices (never from inside a device callback). The
 * machine is brought to a sync point first (see syncPoint), so in deterministic mode the original
 * and any machine restored from the result continue identically.
 */
export async function saveSnapshot(m: Machine, opts: SaveOptions = {}): Promise<Uint8Array> {
  syncPoint(m);
  const state = capture(m);
  state.options.epochMs = state.time.epochMs;
  const blobs = new BlobWriter();
  const json = new TextEncoder().encode(encodeState(state, blobs));
  const lenBytes = new Uint8Array(4);
  new DataView(lenBytes.buffer).setUint32(0, json.length, true);
  // Blob offsets are relative to the blob area, which starts after the JSON padded to 8.
  const jsonPad = new Uint8Array((8 - ((4 + json.length) % 8)) % 8);
  const payload = await pipe([lenBytes, json, jsonPad, ...blobs.parts], new CompressionStream("gzip"));
  const info: SnapshotInfo = {
    format: "virtlab-snapshot",
    version: SNAPSHOT_VERSION,
    created: new Date().toISOString(),
    mode: m.mode,
    memoryMiB: m.mem.ramSize >>> 20,
    deterministic: m.deterministic,
    instructions: m.cpu.icount,
    virtualNs: state.time.virtualNs,
    meta: { ...(opts.meta ?? {}) },
  };
  const infoBytes = new TextEncoder().encode(JSON.stringify(info));
  const out = new Uint8Array(HEADER + infoBytes.length + payload.length);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  dv.setUint32(16, SNAPSHOT_VERSION, true);
  dv.setUint32(20, infoBytes.length, true);
  dv.setUint32(24, payload.length, true);
  out.set(infoBytes, HEADER);
  out.set(payload, HEADER + infoBytes.length);
  out.set(await sha256(out.subarray(HEADER)), 28);
  return out;
}

/** Check a snapshot's header and hash; returns its info and the compressed payload. */
async function verify(bytes: Uint8Array): Promise<{ info: SnapshotInfo; payload: Uint8Array }> {
  if (!(bytes instanceof Uint8Array))
    throw new SnapshotError("a snapshot must be given as bytes (Uint8Array)");
  const magic = new TextDecoder().decode(bytes.subarray(0, 16));
  if (bytes.length < 16 || magic !== SNAPSHOT_MAGIC)
    throw new SnapshotError(
      bytes.length === 0
        ? "the snapshot file is empty"
        : "this is not a VirtLab snapshot (it does not start with VIRTLAB-SNAPSHOT); choose a file saved by VirtLab",
    );
  if (bytes.length < HEADER)
    throw new SnapshotError(`the snapshot is truncated: ${bytes.length} bytes is shorter than its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(16, true);
  if (version > SNAPSHOT_VERSION + 1000)
    throw new SnapshotError(
      `the snapshot is corrupt: its header is damaged (format version ${version} is impossible)`,
    );
  if (version !== SNAPSHOT_VERSION)
    throw new SnapshotError(
      `the snapshot has format version ${version}; this VirtLab reads version ${SNAPSHOT_VERSION} ` +
        `(${version > SNAPSHOT_VERSION ? "it was saved by a newer VirtLab" : "it is too old"})`,
    );
  const infoLen = dv.getUint32(20, true);
  const payloadLen = dv.getUint32(24, true);
  const expected = HEADER + infoLen + payloadLen;
  if (bytes.length < expected)
    throw new SnapshotError(
      `the snapshot is truncated: it has ${bytes.length} bytes but its header says ${expected}; ` +
        `the download or copy was probably cut short`,
    );
  if (bytes.length > expected)
    throw new SnapshotError(`the snapshot has ${bytes.length - expected} unexpected bytes after its end`);
  const digest = await sha256(bytes.subarray(HEADER));
  for (let k = 0; k < 32; k++)
    if (digest[k] !== bytes[28 + k])
      throw new SnapshotError(
        "the snapshot is corrupt: its SHA-256 does not match its content (the file was damaged or edited)",
      );
  let info: SnapshotInfo;
  try {
    info = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(HEADER, HEADER + infoLen)),
    );
  } catch {
    throw new SnapshotError("the snapshot is corrupt: its info block is not valid JSON");
  }
  if (info?.format !== "virtlab-snapshot")
    throw new SnapshotError("the snapshot's info block is not VirtLab's");
  return { info, payload: bytes.subarray(HEADER + infoLen) };
}

/** Read a snapshot's info (checking its hash) without restoring it. */
export async function inspectSnapshot(bytes: Uint8Array): Promise<SnapshotInfo> {
  return (await verify(bytes)).info;
}

function need(cond: unknown, what: string): asserts cond {
  if (!cond) throw new SnapshotError(`the snapshot is corrupt: ${what}`);
}

/** Rebuild a machine from a snapshot made by saveSnapshot. */
export async function loadSnapshot(bytes: Uint8Array, opts: LoadOptions = {}): Promise<Machine> {
  const { payload } = await verify(bytes);
  let raw: Uint8Array;
  try {
    raw = await pipe([payload], new DecompressionStream("gzip"));
  } catch {
    throw new SnapshotError("the snapshot is corrupt: its content does not decompress");
  }
  need(raw.length >= 4, "no state");
  const jsonLen = new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
  need(4 + jsonLen <= raw.length, "state length");
  const blobStart = 4 + jsonLen + ((8 - ((4 + jsonLen) % 8)) % 8);
  let s: MachineState;
  try {
    s = decodeState(
      new TextDecoder().decode(raw.subarray(4, 4 + jsonLen)),
      raw.subarray(blobStart),
    ) as MachineState;
  } catch (e) {
    if (e instanceof SnapshotError) throw e;
    throw new SnapshotError(`the snapshot is corrupt: ${(e as Error).message}`);
  }
  const o = s?.options;
  need(o && MODES.includes(o.mode), "unknown mode");
  need(s.mem?.ram instanceof Uint8Array && s.mem.ram.length === o.memoryMiB << 20, "RAM size");
  need(s.cpu?.regs instanceof Int32Array && s.cpu.regs.length === 8, "CPU registers");

  try {
    const m = new Machine({
      memoryMiB: o.memoryMiB,
      mode: o.mode,
      deterministic: o.deterministic,
      nsPerInstruction: o.nsPerInstruction,
      epochMs: o.epochMs,
      hostClockNs: opts.hostClockNs,
      disk: s.disk ? s.disk.base : undefined,
    });
    if (s.vmm.kvm) m.switchToKvmParavirt();
    m.mem.u8.set(s.mem.ram);
    m.mem.kind.set(s.mem.kind);
    m.mem.a20 = s.mem.a20;
    restoreCpu(m, s.cpu);
    // Devices: the PIC first so that lines raised by the others land in a configured controller,
    // and again last so that its own state (IRR, ISR) is exactly the saved one.
    const list = deviceList(m);
    for (const [name, d] of list) {
      need(s.devices[name] !== undefined, `device ${name} is missing`);
      d.loadState(s.devices[name] as never);
    }
    if (s.virtio) {
      need(m.virtio, "virtio state without virtio devices");
      for (const d of m.virtio.all) {
        need(s.virtio[d.name], `virtio device ${d.name} is missing`);
        d.loadState(s.virtio[d.name] as never);
      }
    }
    m.pic.loadState(s.devices.pic as never);
    m.mem.kind.set(s.mem.kind);
    if (s.disk && m.disk) m.disk.loadOverlay(s.disk.overlay);
    if (m.bt && s.vmm.bt) applyData(m.bt, s.vmm.bt, "bt");
    if (m.vmx) {
      if (s.vmm.vmx) applyData(m.vmx, s.vmm.vmx, "vmx");
      if (s.vmm.vmcs) applyData(m.vmx.vmcs, s.vmm.vmcs, "vmcs");
      if (m.vmx.ept && s.vmm.ept) applyData(m.vmx.ept, s.vmm.ept, "ept");
    }
    if (m.pv && s.vmm.pv) applyData(m.pv, s.vmm.pv, "pv");
    if (m.kvm && s.vmm.kvm) applyData(m.kvm, s.vmm.kvm, "kvm");
    m.loadTimeState(s.time);
    m.lastReset = s.lastReset;
    // The same sync point the original went through, then the counters as they were after it.
    syncPoint(m);
    const shadow = m.bt?.shadow ?? m.vmx?.shadow;
    if (shadow && s.vmm.shadow) applyData(shadow, s.vmm.shadow, "shadow");
    Object.assign(m.cpu.mmu.counters, s.mmu.counters);
    m.cpu.mmu.lastPdPage = s.mmu.lastPdPage;
    m.cpu.mmu.lastPtPage = s.mmu.lastPtPage;
    Object.assign(m.cpu.icacheStats, s.cpu.icacheStats);
    for (const k of Object.keys(m.io.counts)) delete m.io.counts[k];
    Object.assign(m.io.counts, s.io);
    for (const k of Object.keys(m.mem.mmioCounts)) delete m.mem.mmioCounts[k];
    Object.assign(m.mem.mmioCounts, s.mem.mmioCounts);
    m.cpu.intr = s.cpu.intr;
    return m;
  } catch (e) {
    if (e instanceof SnapshotError) throw e;
    throw new SnapshotError(`the snapshot cannot be restored: ${(e as Error).message}`);
  }
}
