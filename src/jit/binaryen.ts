// binaryen is not the JIT's code generator (wasm.ts is: see there why); it disassembles compiled
// blocks for the JIT explorer and checks the generator's output in tests. Its ~10 MB script loads
// only when one of those asks.

import type binaryenModule from "binaryen";

export type Binaryen = typeof binaryenModule;

let loading: Promise<Binaryen> | null = null;

export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import("binaryen").then((m) => m.default);
  return loading;
}

/** A wasm module as text (binaryen's s-expression format), or an error message in its place. */
export async function disassemble(binary: Uint8Array): Promise<string> {
  const b = await loadBinaryen();
  const m = b.readBinary(binary);
  try {
    m.setFeatures(b.Features.MVP | b.Features.SignExt | b.Features.TailCall);
    return m.emitText();
  } finally {
    m.dispose();
  }
}

/** binaryen's validation of a wasm module: null when valid, else binaryen's report. */
export async function validate(binary: Uint8Array): Promise<string | null> {
  const b = await loadBinaryen();
  const m = b.readBinary(binary);
  try {
    m.setFeatures(b.Features.MVP | b.Features.SignExt | b.Features.TailCall);
    return m.validate() ? null : m.emitText();
  } finally {
    m.dispose();
  }
}
