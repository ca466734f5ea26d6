// The page side of the engine Worker (shared by the playground page and the <virt-lab> widget):
// spawns the Worker, posts typed messages, and turns `stats` and `tool` round trips into promises.
// A crashed Worker is reported as an error message and replaced on the next post.

import type { PageToWorker, StatsMessage, ToolCall, ToolResults, WorkerToPage } from "./protocol.ts";
import workerUrl from "./worker.ts?worker&url";

export interface EngineClientOptions {
  /**
   * Where the image manifest lives, when it is not the page's own /images/ (the widget passes the
   * URL next to its script). Handed to the Worker in its name.
   */
  imagesUrl?: string;
}

/**
 * Start the engine Worker. Vite resolves the URL to the Worker's file next to this script (in the
 * dev server, the page bundle and the widget library alike). A Worker must be same-origin with the
 * page, so when the script was loaded from another site (a widget on a course page), the Worker is a
 * same-origin blob that imports the real module from the script's site (which must allow CORS).
 */
function spawnWorker(name: string): Worker {
  const url = new URL(workerUrl, import.meta.url);
  if (url.origin === location.origin || url.protocol === "blob:" || url.protocol === "data:")
    return new Worker(url, { type: "module", name });
  const shim = new Blob([`import ${JSON.stringify(url.href)};`], { type: "text/javascript" });
  return new Worker(URL.createObjectURL(shim), { type: "module", name });
}

export class EngineClient {
  private worker: Worker | null = null;
  private statsWaiters: { resolve: (m: StatsMessage) => void; reject: (e: Error) => void }[] = [];
  private nextTool = 1;
  private readonly tools = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; progress?: (m: string) => void }
  >();

  constructor(
    private readonly onMessage: (msg: WorkerToPage) => void,
    private readonly opts: EngineClientOptions = {},
    /** Called when the Worker died, with the message (the automation proxy fails its calls). */
    private readonly onCrash?: (message: string) => void,
  ) {}

  post(msg: PageToWorker): void {
    if (!this.worker) this.worker = this.spawn();
    this.worker.postMessage(msg);
  }

  stats(): Promise<StatsMessage> {
    return new Promise((resolve, reject) => {
      this.statsWaiters.push({ resolve, reject });
      this.post({ type: "stats" });
    });
  }

  /** Run a tool in the Worker; rejects with the Worker's readable error. */
  tool<K extends ToolCall["tool"]>(
    call: Extract<ToolCall, { tool: K }>,
    progress?: (message: string) => void,
  ): Promise<ToolResults[K]> {
    const id = this.nextTool++;
    return new Promise<ToolResults[K]>((resolve, reject) => {
      this.tools.set(id, { resolve: resolve as (v: unknown) => void, reject, progress });
      this.post({ type: "tool", id, call });
    });
  }

  terminate(): void {
    this.worker?.terminate();
    this.worker = null;
    this.failAll("the machine was shut down");
  }

  private failAll(message: string): void {
    for (const w of this.statsWaiters) w.reject(new Error(message));
    this.statsWaiters = [];
    for (const t of this.tools.values()) t.reject(new Error(message));
    this.tools.clear();
  }

  private spawn(): Worker {
    const name = this.opts.imagesUrl ? `virtlab-engine ${this.opts.imagesUrl}` : "virtlab-engine";
    const w = spawnWorker(name);
    w.onmessage = (ev: MessageEvent<WorkerToPage>) => {
      const msg = ev.data;
      if (msg.type === "stats") this.statsWaiters.shift()?.resolve(msg);
      else if (msg.type === "toolReply") {
        const t = this.tools.get(msg.id);
        if (t) {
          this.tools.delete(msg.id);
          if (msg.ok) t.resolve(msg.value);
          else t.reject(new Error(msg.error ?? "failed"));
        }
      } else if (msg.type === "progress") this.tools.get(msg.id)?.progress?.(msg.message);
      this.onMessage(msg);
    };
    w.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.worker?.terminate();
      this.worker = null;
      const message = `the engine worker failed: ${ev.message || "it could not be loaded"}`;
      this.failAll(message);
      this.onCrash?.(message);
      this.onMessage({ type: "error", kind: "internal", message });
      this.onMessage({ type: "state", state: "idle", image: null, instructions: 0, mips: 0 });
    };
    return w;
  }
}
