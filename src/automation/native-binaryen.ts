// Node only. tsx's loader rewrites every `import(` in the ES modules it loads and builds a source map
// for the result; on binaryen's 15 MB script that takes ~7 s (against ~0.5 s to load it natively).
// This hook, registered after tsx so that it runs first, hands binaryen's file to Node untouched.
// The Node automation entry (node.ts, which the CLI and the benches import) registers it; browsers
// never load this file.

import { register } from "node:module";

const HOOK = `
export async function load(url, context, next) {
  if (/\\/node_modules\\/binaryen\\/index\\.js$/.test(url)) {
    const { readFile } = await import("node:fs/promises");
    return { format: "module", source: await readFile(new URL(url)), shortCircuit: true };
  }
  return next(url, context);
}`;

let registered = false;

/** Make later imports of binaryen skip other loaders' transforms (idempotent). */
export function loadBinaryenNatively(): void {
  if (registered || typeof register !== "function") return;
  registered = true;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
}
