// The compile worker: binaryen runs here, beside the engine's Worker, so that compiling never stops
// the guest (see compile-service.ts). Started by the engine (src/ui/worker.ts).

import { loadBinaryen } from "./binaryen.ts";
import { serveCompile, type CompileRequest, type CompileReply } from "./compile-service.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<CompileRequest>) => void) | null;
  postMessage(msg: CompileReply, transfer: Transferable[]): void;
};

const binaryen = loadBinaryen();

scope.onmessage = (e) => {
  const req = e.data;
  binaryen.then(
    (b) => {
      const reply = serveCompile(b, req);
      scope.postMessage(reply, reply.binary ? [reply.binary.buffer] : []);
    },
    (err: unknown) =>
      scope.postMessage({ id: req.id, error: `binaryen failed to load: ${String(err)}`, ms: 0 }, []),
  );
};
