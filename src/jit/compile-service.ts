// Compiling off the engine's thread. binaryen builds each batch in a compile worker while the engine
// goes on interpreting; the engine instantiates the returned binary when it arrives and installs the
// blocks whose pages were not written meanwhile. The engine then never loads binaryen itself.
//
// A request carries copies of the code pages and, per block, its start and the inline-table ids
// the engine gave its interpreted instructions; the worker decodes the same bytes with the same
// `formBlock`, so both sides agree on every block (checked by instruction count).

import type { Binaryen } from "./binaryen.ts";
import { formBlock, type FormedBlock } from "./blocks.ts";
import { compileBatch, type CompileLayout } from "./compiler.ts";
import { runtimeBinary, type RuntimeLayout } from "./runtime.ts";

export interface BatchBlock {
  lin: number;
  phys: number;
  /** Instructions the engine's block has (the worker's must match). */
  insns: number;
  /** Inline-table ids of the block's interpreted instructions, in order. */
  inlineIds: number[];
}

export type CompileRequest =
  | { id: number; kind: "runtime"; layout: RuntimeLayout }
  | {
      id: number;
      kind: "batch";
      layout: CompileLayout;
      /** 4 KiB copies of the code pages, by physical page number. */
      pages: { page: number; bytes: Uint8Array }[];
      blocks: BatchBlock[];
      counters?: number[];
      inline: boolean;
      wantText: boolean;
    };

export interface CompileReply {
  id: number;
  binary?: Uint8Array;
  names?: string[];
  text?: string;
  /** Time binaryen spent on the request, in the worker. */
  ms: number;
  error?: string;
}

/** Serve one request (the worker's side; also callable in-process). */
export function serveCompile(b: Binaryen, req: CompileRequest): CompileReply {
  const t0 = performance.now();
  try {
    if (req.kind === "runtime") return { id: req.id, binary: runtimeBinary(b, req.layout), ms: 0 };
    const pages = new Map(req.pages.map((p) => [p.page, p.bytes]));
    const forms: FormedBlock[] = req.blocks.map((bb) => {
      const bytes = pages.get(bb.phys >>> 12);
      if (!bytes) throw new Error(`compile request lacks page ${hex(bb.phys >>> 12)}`);
      const f = formBlock(bytes, bb.lin, bb.phys & 0xfff, req.inline);
      if (f.insns.length !== bb.insns)
        throw new Error(
          `block ${hex(bb.lin)}: ${f.insns.length} instructions here, ${bb.insns} in the engine`,
        );
      f.phys = bb.phys;
      let k = 0;
      for (const bi of f.insns) if (bi.inline) bi.inlineId = bb.inlineIds[k++];
      return f;
    });
    const out = compileBatch(
      b,
      req.layout,
      forms,
      { instrument: false, counters: req.counters },
      req.wantText,
    );
    return { id: req.id, binary: out.binary, names: out.names, text: out.text, ms: performance.now() - t0 };
  } catch (e) {
    return { id: req.id, error: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 };
  }
}

/** The message port of a compile worker (a Web Worker; tests use an in-process stand-in). */
export interface CompilePort {
  postMessage(msg: CompileRequest, transfer: Transferable[]): void;
  onmessage: ((e: { data: CompileReply }) => void) | null;
  onerror?: ((e: unknown) => void) | null;
}

type Pending = { resolve: (r: CompileReply) => void; reject: (e: Error) => void };

/** Requests to one compile worker, answered by promise (shared by every JIT of the thread). */
export class CompileClient {
  private nextId = 1;
  private readonly waiting = new Map<number, Pending>();
  private failed: Error | null = null;

  constructor(private readonly port: CompilePort) {
    port.onmessage = (e) => {
      const w = this.waiting.get(e.data.id);
      if (!w) return;
      this.waiting.delete(e.data.id);
      w.resolve(e.data);
    };
    port.onerror = (e) => {
      // A worker that cannot start (its script failed to load) fails every request, now and later.
      this.failed = new Error(`compile worker failed: ${describe(e)}`);
      for (const w of this.waiting.values()) w.reject(this.failed);
      this.waiting.clear();
    };
  }

  request(req: DistributiveOmit<CompileRequest, "id">, transfer: Transferable[] = []): Promise<CompileReply> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.port.postMessage({ ...req, id } as CompileRequest, transfer);
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function describe(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message;
  return typeof m === "string" && m !== "" ? m : "the worker did not start";
}

function hex(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}
