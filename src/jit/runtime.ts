// The JIT's runtime module: the dispatch loop that chains compiled blocks inside wasm, and the
// lazy-flags evaluation that compiled code calls (the same algorithm as LazyFlags in flags.ts, over
// the same record in guest memory's host area). Written as wasm text and assembled by binaryen once
// per machine.

import {
  ST_BUDGET,
  ST_EIP,
  ST_EXIT,
  ST_FLAGS,
  ST_PARITY,
  ST_RMASK,
  ST_ROK,
} from "../engine/cpu/state-layout.ts";
import { FlagSlot } from "../engine/cpu/flags.ts";
import type { Binaryen } from "./binaryen.ts";

/** Why the dispatch loop returned to JavaScript. */
export const enum RunExit {
  EXIT_REQUEST = 1, // a slow path asked to leave (interrupt, code write, ...)
  TLB_MISS = 2, // the next EIP's page is not in the TLB: the interpreter fills it
  NO_BLOCK = 3, // nothing compiled at the next EIP
  BUDGET = 4, // the next block could overrun the instruction budget
}

export interface RuntimeLayout {
  state: number;
  tlb: number;
  hash: number;
  hashMask: number;
}

/** Index of a block's hash entry for linear EIP `eip` (also used by the JavaScript side). */
export function hashSlot(eip: number, mask: number): number {
  return (eip ^ (eip >>> 13)) & mask;
}

export function runtimeText(l: RuntimeLayout): string {
  const S = l.state;
  const F = (slot: FlagSlot) => S + ST_FLAGS + slot * 4;
  return `(module
  (import "env" "memory" (memory 1))
  (import "env" "table" (table 1 funcref))
  (type $block (func))
  (func $compute (param $which i32) (result i32)
    (local $size i32) (local $mask i32) (local $sign i32) (local $res i32) (local $out i32)
    (local $d i32) (local $s i32) (local $r i32) (local $op i32) (local $cin i32)
    (local.set $size (i32.load (i32.const ${F(FlagSlot.SIZE)})))
    (local.set $mask (select (i32.const -1) (select (i32.const 0xffff) (i32.const 0xff)
      (i32.eq (local.get $size) (i32.const 2))) (i32.eq (local.get $size) (i32.const 4))))
    (local.set $sign (i32.xor (local.get $mask) (i32.shr_u (local.get $mask) (i32.const 1))))
    (local.set $op (i32.load (i32.const ${F(FlagSlot.OP)})))
    (local.set $res (i32.and (i32.load (i32.const ${F(FlagSlot.RES)})) (local.get $mask)))
    (local.set $d (i32.load (i32.const ${F(FlagSlot.DST)})))
    (local.set $s (i32.load (i32.const ${F(FlagSlot.SRC)})))
    (local.set $r (i32.load (i32.const ${F(FlagSlot.RES)})))
    (if (i32.and (local.get $which) (i32.const 1)) (then
      (local.set $cin (i32.load (i32.const ${F(FlagSlot.CIN)})))
      (block $cf
        ;; ADD / ADC: carry when the result wrapped below the destination
        (if (i32.le_u (local.get $op) (i32.const 1)) (then
          (local.set $out (select
            (i32.le_u (i32.and (local.get $r) (local.get $mask)) (i32.and (local.get $d) (local.get $mask)))
            (i32.lt_u (i32.and (local.get $r) (local.get $mask)) (i32.and (local.get $d) (local.get $mask)))
            (i32.and (i32.eq (local.get $op) (i32.const 1)) (i32.ne (local.get $cin) (i32.const 0)))))
          (br $cf)))
        ;; SUB / SBB: borrow when the source exceeds the destination
        (if (i32.le_u (local.get $op) (i32.const 3)) (then
          (local.set $out (select
            (i32.le_u (i32.and (local.get $d) (local.get $mask)) (i32.and (local.get $s) (local.get $mask)))
            (i32.lt_u (i32.and (local.get $d) (local.get $mask)) (i32.and (local.get $s) (local.get $mask)))
            (i32.and (i32.eq (local.get $op) (i32.const 3)) (i32.ne (local.get $cin) (i32.const 0))))))))))
    (if (i32.and (local.get $which) (i32.const 4)) (then
      (local.set $out (i32.or (local.get $out)
        (i32.load8_u (i32.add (i32.const ${S + ST_PARITY}) (i32.and (local.get $res) (i32.const 0xff))))))))
    (if (i32.and (local.get $which) (i32.const 0x10)) (then
      (if (i32.ne (local.get $op) (i32.const 4)) (then
        (local.set $out (i32.or (local.get $out)
          (i32.and (i32.xor (i32.xor (local.get $d) (local.get $s)) (local.get $r)) (i32.const 0x10))))))))
    (if (i32.and (local.get $which) (i32.const 0x40)) (then
      (if (i32.eqz (local.get $res)) (then (local.set $out (i32.or (local.get $out) (i32.const 0x40)))))))
    (if (i32.and (local.get $which) (i32.const 0x80)) (then
      (if (i32.and (local.get $res) (local.get $sign)) (then (local.set $out (i32.or (local.get $out) (i32.const 0x80)))))))
    (if (i32.and (local.get $which) (i32.const 0x800)) (then
      (block $of
        ;; ADD ADC INC
        (if (i32.or (i32.le_u (local.get $op) (i32.const 1)) (i32.eq (local.get $op) (i32.const 5))) (then
          (if (i32.and (i32.and (i32.xor (local.get $d) (local.get $r)) (i32.xor (local.get $s) (local.get $r))) (local.get $sign))
            (then (local.set $out (i32.or (local.get $out) (i32.const 0x800)))))
          (br $of)))
        ;; SUB SBB DEC
        (if (i32.or (i32.and (i32.ge_u (local.get $op) (i32.const 2)) (i32.le_u (local.get $op) (i32.const 3)))
                    (i32.eq (local.get $op) (i32.const 6))) (then
          (if (i32.and (i32.and (i32.xor (local.get $d) (local.get $s)) (i32.xor (local.get $d) (local.get $r))) (local.get $sign))
            (then (local.set $out (i32.or (local.get $out) (i32.const 0x800))))))))))
    (local.get $out))
  ;; LazyFlags.get: flags not dirty come from the materialised bits
  (func $get (export "get") (param $flag i32) (result i32)
    (local $d i32)
    (local.set $d (i32.and (i32.load (i32.const ${F(FlagSlot.DIRTY)})) (local.get $flag)))
    (if (result i32) (local.get $d)
      (then (i32.or (i32.and (i32.and (i32.load (i32.const ${F(FlagSlot.BITS)})) (local.get $flag))
                             (i32.xor (local.get $d) (i32.const -1)))
                    (call $compute (local.get $d))))
      (else (i32.and (i32.load (i32.const ${F(FlagSlot.BITS)})) (local.get $flag)))))
  ;; Materialise the dirty flags in $which into the bits (before a partial flag update)
  (func $materialise (export "materialise") (param $which i32)
    (local $d i32)
    (local.set $d (i32.and (i32.load (i32.const ${F(FlagSlot.DIRTY)})) (local.get $which)))
    (if (local.get $d) (then
      (i32.store (i32.const ${F(FlagSlot.BITS)})
        (i32.or (i32.and (i32.load (i32.const ${F(FlagSlot.BITS)})) (i32.xor (local.get $d) (i32.const -1)))
                (call $compute (local.get $d))))
      (i32.store (i32.const ${F(FlagSlot.DIRTY)})
        (i32.and (i32.load (i32.const ${F(FlagSlot.DIRTY)})) (i32.xor (local.get $d) (i32.const -1)))))))
  ;; Condition code cc (Jcc order) as 0/1, like cond() in exec-int.ts
  (func $cond (export "cond") (param $cc i32) (result i32)
    (local $r i32) (local $k i32)
    (local.set $k (i32.shr_u (local.get $cc) (i32.const 1)))
    (block $done
      (if (i32.eqz (local.get $k)) (then (local.set $r (call $get (i32.const 0x800))) (br $done)))
      (if (i32.eq (local.get $k) (i32.const 1)) (then (local.set $r (call $get (i32.const 1))) (br $done)))
      (if (i32.eq (local.get $k) (i32.const 2)) (then (local.set $r (call $get (i32.const 0x40))) (br $done)))
      (if (i32.eq (local.get $k) (i32.const 3)) (then (local.set $r (call $get (i32.const 0x41))) (br $done)))
      (if (i32.eq (local.get $k) (i32.const 4)) (then (local.set $r (call $get (i32.const 0x80))) (br $done)))
      (if (i32.eq (local.get $k) (i32.const 5)) (then (local.set $r (call $get (i32.const 4))) (br $done)))
      (if (i32.eq (local.get $k) (i32.const 6)) (then
        (local.set $r (i32.ne (i32.eqz (call $get (i32.const 0x80))) (i32.eqz (call $get (i32.const 0x800)))))
        (br $done)))
      (local.set $r (i32.or (i32.ne (call $get (i32.const 0x40)) (i32.const 0))
        (i32.ne (i32.eqz (call $get (i32.const 0x80))) (i32.eqz (call $get (i32.const 0x800)))))))
    (i32.xor (i32.ne (local.get $r) (i32.const 0)) (i32.and (local.get $cc) (i32.const 1))))
  ;; Chain compiled blocks until one of the RunExit reasons
  (func $run (export "run") (result i32)
    (local $eip i32) (local $e i32) (local $h i32)
    (loop $next
      (if (i32.load (i32.const ${S + ST_EXIT})) (then (return (i32.const ${RunExit.EXIT_REQUEST}))))
      (local.set $eip (i32.load (i32.const ${S + ST_EIP})))
      (local.set $e (i32.load offset=${l.tlb} (i32.shl (i32.shr_u (local.get $eip) (i32.const 12)) (i32.const 2))))
      (if (i32.ne (i32.and (local.get $e) (i32.load (i32.const ${S + ST_RMASK}))) (i32.load (i32.const ${S + ST_ROK})))
        (then (return (i32.const ${RunExit.TLB_MISS}))))
      (local.set $h (i32.add (i32.const ${l.hash}) (i32.shl
        (i32.and (i32.xor (local.get $eip) (i32.shr_u (local.get $eip) (i32.const 13))) (i32.const ${l.hashMask}))
        (i32.const 4))))
      (if (i32.ne (i32.load (local.get $h)) (local.get $eip)) (then (return (i32.const ${RunExit.NO_BLOCK}))))
      (if (i32.ne (i32.load offset=4 (local.get $h))
                  (i32.or (i32.and (local.get $e) (i32.const -4096)) (i32.and (local.get $eip) (i32.const 4095))))
        (then (return (i32.const ${RunExit.NO_BLOCK}))))
      (if (i32.gt_s (i32.load offset=12 (local.get $h)) (i32.load (i32.const ${S + ST_BUDGET})))
        (then (return (i32.const ${RunExit.BUDGET}))))
      (call_indirect (type $block) (i32.load offset=8 (local.get $h)))
      (br $next))
    (i32.const 0))
)`;
}

export interface RuntimeExports {
  run(): number;
  get(flag: number): number;
  materialise(which: number): void;
  cond(cc: number): number;
}

/** The runtime module's binary (assembled wherever binaryen runs). */
export function runtimeBinary(binaryen: Binaryen, layout: RuntimeLayout): Uint8Array {
  const m = binaryen.parseText(runtimeText(layout));
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.SignExt);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

/** Instantiate the runtime on the engine's thread, over the guest memory and the shared table. */
export function instantiateRuntime(
  binary: Uint8Array,
  memory: WebAssembly.Memory,
  table: WebAssembly.Table,
): RuntimeExports {
  const mod = new WebAssembly.Module(binary as Uint8Array<ArrayBuffer>);
  return new WebAssembly.Instance(mod, { env: { memory, table } }).exports as unknown as RuntimeExports;
}
