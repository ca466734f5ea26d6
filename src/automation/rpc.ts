// The one generic message pair that carries the automation API between the page and the engine
// Worker: a call names a VirtLabVM method and its arguments (structured-clonable: strings, numbers,
// plain objects, RegExp, Uint8Array); the reply carries its value or its error.

import type { AutomationErrorCode, ExecResult, VmMethod } from "./types.ts";

/** Page → Worker: call `method` of the Worker's automation session. */
export interface AutomationCall {
  type: "automation";
  /** Chosen by the caller; echoed in the reply. */
  id: number;
  method: VmMethod;
  args: unknown[];
}

/** Worker → page: the result of the call with the same id. */
export type AutomationReply =
  | { type: "automationReply"; id: number; ok: true; value: unknown }
  | {
      type: "automationReply";
      id: number;
      ok: false;
      error: { code: AutomationErrorCode; message: string; result?: ExecResult };
    };
