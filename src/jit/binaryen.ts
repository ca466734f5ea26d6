// binaryen is a ~15 MB script: it is imported lazily, only by the engine (Worker or Node), and the
// interpreter runs until it is ready.

import type binaryenModule from "binaryen";

export type Binaryen = typeof binaryenModule;

let loading: Promise<Binaryen> | null = null;

export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import("binaryen").then((m) => m.default);
  return loading;
}
