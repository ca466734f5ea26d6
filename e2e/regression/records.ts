// Run records kept as JSON files beside the test results, so the cross-mode comparisons work even
// when Playwright restarted its worker after a failure, and so two suite runs can be diffed.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "@playwright/test";
import type { Mode } from "../../src/automation/types.ts";
import type { RunRecord } from "./matrix.ts";

function dir(): string {
  const d = join(test.info().project.outputDir, "records");
  mkdirSync(d, { recursive: true });
  return d;
}

export function saveRecord(side: "node" | "page", r: RunRecord): void {
  writeFileSync(join(dir(), `${side}-${r.image}-${r.mode}.json`), JSON.stringify(r, null, 2) + "\n");
}

export function loadRecord(side: "node" | "page", image: string, mode: Mode): RunRecord | null {
  const f = join(dir(), `${side}-${image}-${mode}.json`);
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as RunRecord) : null;
}
