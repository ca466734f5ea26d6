// The automation session inside the page's engine Worker: serves AutomationCall messages with the
// same AutomationSession the Node API uses. Images are fetched from the page's images/ directory and
// checked with crypto.subtle; the run loop yields through a MessageChannel so other messages (and
// other calls) are handled while a call waits for the guest. No DOM.

import type { Machine } from "../engine/machine.ts";
import type { DriverHost } from "./driver.ts";
import type { ImageSource } from "./images.ts";
import { ImageError } from "../engine/boot/errors.ts";
import type { AutomationCall, AutomationReply } from "./rpc.ts";
import { AutomationSession } from "./session.ts";
import { AutomationError, VM_METHODS, type VmMethod } from "./types.ts";

/** Images over HTTP from `base` (the directory holding manifest.json). */
export function fetchImages(base: URL): ImageSource {
  return {
    where: base.href.replace(/\/$/, ""),
    async read(path) {
      let res: Response;
      try {
        res = await fetch(new URL(path, base));
      } catch (e) {
        throw new ImageError(path, `cannot fetch: ${(e as Error).message}`);
      }
      if (!res.ok) throw new ImageError(path, `cannot fetch: HTTP ${res.status} ${res.statusText}`.trim());
      return new Uint8Array(await res.arrayBuffer());
    },
    async sha256(bytes) {
      if (!crypto?.subtle)
        throw new Error("crypto.subtle is unavailable: serve the page over https or from localhost");
      const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
      return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    },
  };
}

/** Yield without setTimeout's 4 ms clamp on nested timers. */
function channelHost(): DriverHost {
  const ch = new MessageChannel();
  const waiting: (() => void)[] = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  return {
    yield: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        ch.port2.postMessage(null);
      }),
    sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
  };
}

/** Methods that only read: they are answered at once, even while another call runs the guest. */
const READS = new Set<VmMethod>(["output", "outputLength", "state", "stats", "screenText", "screenshot"]);

export interface WorkerAutomationOptions {
  /** URL of the directory with manifest.json. */
  images: URL;
  /** Posts replies (and, through onOutput, the guest's serial output) to the page. */
  post: (msg: AutomationReply) => void;
  /** New COM1 output of the automation machine (the page shows it in its terminal). */
  onOutput?: (text: string) => void;
  /** The automation session booted or dropped a machine. */
  onMachine?: (m: Machine | null) => void;
}

export interface WorkerAutomation {
  handle(msg: AutomationCall): void;
  readonly session: AutomationSession;
}

export function createWorkerAutomation(o: WorkerAutomationOptions): WorkerAutomation {
  const session = new AutomationSession({
    ...channelHost(),
    images: fetchImages(o.images),
    snapshots: async () => {
      const mod = await import("../engine/snapshot.ts");
      return { save: mod.saveSnapshot, load: mod.loadSnapshot };
    },
  });
  session.onOutput = o.onOutput ?? null;
  session.onMachine = o.onMachine ?? null;
  // Calls that run or replace the machine go one at a time, in the order they were made.
  let queue: Promise<unknown> = Promise.resolve();

  const invoke = (msg: AutomationCall): Promise<unknown> => {
    if (!VM_METHODS.includes(msg.method))
      return Promise.reject(new AutomationError("bad-request", `unknown method "${String(msg.method)}"`));
    const fn = session[msg.method] as (...a: unknown[]) => Promise<unknown>;
    return fn.apply(session, Array.isArray(msg.args) ? msg.args : []);
  };

  return {
    session,
    handle(msg) {
      const run = () => invoke(msg);
      const p = READS.has(msg.method) ? run() : (queue = queue.then(run, run));
      p.then(
        (value) => o.post({ type: "automationReply", id: msg.id, ok: true, value }),
        (e: unknown) => {
          const err =
            e instanceof AutomationError
              ? { code: e.code, message: e.message, ...(e.result ? { result: e.result } : {}) }
              : { code: "internal" as const, message: (e as Error)?.stack ?? String(e) };
          o.post({ type: "automationReply", id: msg.id, ok: false, error: err });
        },
      );
    },
  };
}
