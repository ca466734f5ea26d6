// A tiny static HTTP server for bench:race: the VirtLab production build at /, and at /v86/ a page
// that hosts v86 with its build, the SeaBIOS files and the same Linux kernel and initramfs.
import { createServer, type Server } from "node:http";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import type { AddressInfo } from "node:net";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/** URL prefix ("/v86/build/") → directory, or exact URL path → file. Longest prefix wins. */
export interface Routes {
  dirs: Record<string, string>;
  files: Record<string, string>;
}

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

function resolve(routes: Routes, pathname: string): string | null {
  if (routes.files[pathname]) return routes.files[pathname];
  const prefix = Object.keys(routes.dirs)
    .filter((p) => pathname.startsWith(p))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return null;
  const root = routes.dirs[prefix];
  let rel = decodeURIComponent(pathname.slice(prefix.length));
  if (rel === "" || rel.endsWith("/")) rel += "index.html";
  const file = normalize(join(root, rel));
  // No escaping the directory with ../
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep) ? file : null;
}

/** Serve `routes` on 127.0.0.1 at a free port. */
export async function serve(routes: Routes): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const done = (code: number, text: string) => {
      res.writeHead(code, { "content-type": "text/plain" });
      res.end(text);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return done(405, "method not allowed");
    if (req.url === "/favicon.ico") return done(204, "");
    let file: string | null;
    try {
      file = resolve(routes, new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      return done(400, "bad request");
    }
    if (!file) return done(404, "not found");
    const path = file;
    stat(path).then(
      (st) => {
        if (!st.isFile()) return done(404, "not found");
        res.writeHead(200, {
          "content-type": TYPES[extname(path)] ?? "application/octet-stream",
          "content-length": st.size,
          "cache-control": "no-cache",
        });
        if (req.method === "HEAD") return res.end();
        createReadStream(path)
          .on("error", () => res.destroy())
          .pipe(res);
      },
      () => done(404, "not found"),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
