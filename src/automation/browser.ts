// The automation API in the page: a proxy that forwards each VirtLabVM call to the engine Worker as
// one AutomationCall message and resolves with its AutomationReply. The page exposes it as
// `window.virtlab.vm`; an embedding widget can attach its own with attachAutomation().

import type { AutomationCall, AutomationReply } from "./rpc.ts";
import {
  AutomationError,
  type BootInfo,
  type BootOptions,
  type ExecResult,
  type MachineStats,
  type Mode,
  type RunOptions,
  type SessionState,
  type TypeOptions,
  type VirtLabVM,
  type VmMethod,
  type WaitMatch,
  type WaitOptions,
} from "./types.ts";

export * from "./types.ts";

export class AutomationProxy implements VirtLabVM {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  /** `post` delivers a call to the engine Worker; feed the Worker's replies to receive(). */
  constructor(private readonly post: (msg: AutomationCall) => void) {}

  /** Handle a reply from the Worker (other messages are ignored). Returns true if it was one. */
  receive(msg: { type: string }): boolean {
    if (msg.type !== "automationReply") return false;
    const r = msg as AutomationReply;
    const p = this.pending.get(r.id);
    if (!p) return true;
    this.pending.delete(r.id);
    if (r.ok) p.resolve(r.value);
    else p.reject(new AutomationError(r.error.code, r.error.message, r.error.result));
    return true;
  }

  /** The Worker died: every call in flight fails with this message. */
  failAll(message: string): void {
    for (const p of this.pending.values()) p.reject(new AutomationError("internal", message));
    this.pending.clear();
  }

  private call<T>(method: VmMethod, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.post({ type: "automation", id, method, args });
      } catch (e) {
        this.pending.delete(id);
        reject(e);
      }
    });
  }

  boot(image: string, opts?: BootOptions): Promise<BootInfo> {
    return this.call("boot", image, opts);
  }
  waitFor(pattern: RegExp | string, opts?: WaitOptions): Promise<WaitMatch> {
    return this.call("waitFor", pattern, opts);
  }
  type(text: string, opts?: TypeOptions): Promise<void> {
    return this.call("type", text, opts);
  }
  press(key: string, opts?: TypeOptions): Promise<void> {
    return this.call("press", key, opts);
  }
  run(command: string, opts?: RunOptions): Promise<string> {
    return this.call("run", command, opts);
  }
  exec(command: string, opts?: { timeoutMs?: number }): Promise<ExecResult> {
    return this.call("exec", command, opts);
  }
  advance(virtualMs: number): Promise<void> {
    return this.call("advance", virtualMs);
  }
  output(): Promise<string> {
    return this.call("output");
  }
  outputLength(): Promise<number> {
    return this.call("outputLength");
  }
  stats(): Promise<MachineStats> {
    return this.call("stats");
  }
  state(): Promise<SessionState> {
    return this.call("state");
  }
  saveSnapshot(): Promise<Uint8Array> {
    return this.call("saveSnapshot");
  }
  restoreSnapshot(bytes: Uint8Array): Promise<void> {
    return this.call("restoreSnapshot", bytes);
  }
  screenshot(): Promise<Uint8Array> {
    return this.call("screenshot");
  }
  screenText(): Promise<string> {
    return this.call("screenText");
  }
  setMode(mode: Mode): Promise<void> {
    return this.call("setMode", mode);
  }
  close(): Promise<void> {
    return this.call("close");
  }
}

/**
 * Give an element (e.g. the `<virt-lab>` widget) its own `vm` property backed by a Worker that
 * handles AutomationCall messages. Returns the proxy; feed the Worker's messages to proxy.receive().
 */
export function attachAutomation<T extends object>(
  el: T,
  post: (msg: AutomationCall) => void,
): AutomationProxy {
  const vm = new AutomationProxy(post);
  Object.defineProperty(el, "vm", { value: vm, configurable: true, enumerable: true });
  return vm;
}
