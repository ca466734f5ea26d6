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

/** Read a wasm module into binaryen (with the features the JIT's code uses) for `use`. */
async function withModule<T>(
  binary: Uint8Array,
  use: (m: InstanceType<Binaryen["Module"]>) => T,
): Promise<T> {
  const b = await loadBinaryen();
  const m = b.readBinary(binary);
  try {
    m.setFeatures(b.Features.MVP | b.Features.SignExt | b.Features.TailCall);
    return use(m);
  } finally {
    m.dispose();
  }
}

/** A wasm module as text (binaryen's s-expression format). */
export function disassemble(binary: Uint8Array): Promise<string> {
  return withModule(binary, (m) => m.emitText());
}

/** binaryen's validation of a wasm module: null when valid, else the module's text. */
export function validate(binary: Uint8Array): Promise<string | null> {
  return withModule(binary, (m) => (m.validate() ? null : m.emitText()));
}
