// The iframe embed (embed.html): one <virt-lab> filling the frame, configured by the query string,
// and a postMessage API for the embedding page.
//
//   <iframe src="https://virtlab.example/embed.html?image=linux&mode=hw&autostart&origins=https://course.example">
//
// Only messages from an origin in the allow-list (`origins`, comma-separated exact origins) are
// answered; anything else — another origin, or a malformed message — is ignored without a reply.
// Request:  {virtlab: 1, id, method, args?}   methods: start pause resume reset send serialText state stats
// Reply:    {virtlab: 1, id, ok: true, result} | {virtlab: 1, id, ok: false, error}
// Events:   {virtlab: 1, event: "state" | "serial" | "error", detail} posted to the allowed origins.

import "./widget.ts";
import type { VirtLabElement } from "./widget.ts";

const params = new URLSearchParams(location.search);
const allowed = new Set(
  (params.get("origins") ?? "")
    .split(",")
    .map((o) => o.trim())
    .filter((o) => /^https?:\/\/[^/]+$/.test(o)),
);

const vm = document.createElement("virt-lab") as VirtLabElement;
for (const a of ["image", "mode", "memory", "panels"]) {
  const v = params.get(a);
  if (v !== null) vm.setAttribute(a, v);
}
for (const flag of ["autostart", "deterministic"]) if (params.has(flag)) vm.setAttribute(flag, "");
document.body.append(vm);

const METHODS = ["start", "pause", "resume", "reset", "send", "serialText", "state", "stats"] as const;
type Method = (typeof METHODS)[number];

interface Request {
  virtlab: 1;
  id: string | number;
  method: Method;
  args: unknown[];
}

function parse(data: unknown): Request | null {
  if (typeof data !== "object" || data === null) return null;
  const d = data as Record<string, unknown>;
  if (d.virtlab !== 1) return null;
  if (typeof d.id !== "string" && typeof d.id !== "number") return null;
  if (typeof d.method !== "string" || !(METHODS as readonly string[]).includes(d.method)) return null;
  if (d.args !== undefined && !Array.isArray(d.args)) return null;
  const args = (d.args as unknown[] | undefined) ?? [];
  if (d.method === "send" && typeof args[0] !== "string") return null;
  return { virtlab: 1, id: d.id, method: d.method as Method, args };
}

async function run(req: Request): Promise<unknown> {
  switch (req.method) {
    case "start":
      return vm.start();
    case "pause":
      return vm.pause();
    case "resume":
      return vm.resume();
    case "reset":
      return vm.reset();
    case "send":
      return vm.send(req.args[0] as string);
    case "serialText":
      return vm.serialText();
    case "state":
      return vm.state;
    case "stats":
      return (await vm.stats()).machine;
  }
}

window.addEventListener("message", (ev: MessageEvent) => {
  if (!allowed.has(ev.origin)) return; // not on the allow-list: ignored
  const req = parse(ev.data);
  if (!req || !ev.source) return; // malformed: ignored
  const reply = (body: Record<string, unknown>) =>
    (ev.source as WindowProxy).postMessage({ virtlab: 1, id: req.id, ...body }, ev.origin);
  run(req).then(
    (result) => reply({ ok: true, result: result ?? null }),
    (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});

function emit(event: string, detail: unknown): void {
  if (window.parent === window) return;
  for (const origin of allowed) window.parent.postMessage({ virtlab: 1, event, detail }, origin);
}
vm.addEventListener("virtlab-state", (e) => emit("state", (e as CustomEvent).detail));
vm.addEventListener("virtlab-serial", (e) => emit("serial", (e as CustomEvent).detail));
vm.addEventListener("virtlab-error", (e) => emit("error", (e as CustomEvent).detail));
