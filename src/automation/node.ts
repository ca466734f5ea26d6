// The automation API in Node: the engine runs in this process. Images come from public/images (or
// VIRTLAB_IMAGES_DIR, or the `images` option), verified against manifest.json.
//
//   import { createVM } from "virtlab/automation";
//   const vm = createVM();
//   await vm.boot("linux", { mode: "hw" });
//   console.log(await vm.run("uname -a"));

import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ImageError } from "../engine/boot/errors.ts";
import { loadBinaryenNatively } from "./native-binaryen.ts";
import type { DriverHost } from "./driver.ts";
import type { ImageSource } from "./images.ts";
import { AutomationSession, type SnapshotCodec } from "./session.ts";

export * from "./types.ts";
export { AutomationSession } from "./session.ts";

loadBinaryenNatively();

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The images directory: VIRTLAB_IMAGES_DIR, else the repository's public/images. */
export function defaultImagesDir(): string {
  return process.env.VIRTLAB_IMAGES_DIR ?? join(ROOT, "public/images");
}

/** Images read from a directory holding manifest.json. */
export function directoryImages(dir: string): ImageSource {
  return {
    where: dir,
    async read(path) {
      try {
        return new Uint8Array(await readFile(join(dir, path)));
      } catch (e) {
        throw new ImageError(
          path,
          `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    },
    async sha256(bytes) {
      return createHash("sha256").update(bytes).digest("hex");
    },
  };
}

export const nodeHost: DriverHost = {
  yield: () => new Promise((r) => setImmediate(r)),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** The engine's snapshot module, once it exists (src/engine/snapshot.ts). */
async function snapshotCodec(): Promise<SnapshotCodec> {
  const mod = await import("../engine/snapshot.ts");
  return { save: mod.saveSnapshot, load: mod.loadSnapshot };
}

export interface CreateVMOptions {
  /** Directory with manifest.json and the image files (default: defaultImagesDir()). */
  images?: string;
}

/** A new scripted machine in this process. */
export function createVM(opts: CreateVMOptions = {}): AutomationSession {
  return new AutomationSession({
    ...nodeHost,
    images: directoryImages(opts.images ?? defaultImagesDir()),
    snapshots: snapshotCodec,
  });
}
