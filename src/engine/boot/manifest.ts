// public/images/manifest.json: the guest images a fresh clone can boot without rebuilding.

import { ImageError } from "./errors.ts";

export interface ImageFile {
  role: "kernel" | "initrd" | "disk" | "bios" | string;
  path: string;
  sha256: string;
  size: number;
}

export interface ImageEntry {
  name: string;
  description: string;
  boot: "multiboot" | "linux" | "none" | string;
  cmdline?: string;
  files: ImageFile[];
  /** Serial output that means the guest is up. */
  ready?: string;
}

export interface Manifest {
  images: ImageEntry[];
}

export function parseManifest(text: string, source = "manifest.json"): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new ImageError(source, `not valid JSON (${(e as Error).message})`);
  }
  const images = (m as Manifest | null)?.images;
  if (!Array.isArray(images)) throw new ImageError(source, 'missing "images" array');
  for (const img of images) {
    if (typeof img?.name !== "string" || !Array.isArray(img.files))
      throw new ImageError(source, "every image needs a name and a files list");
    for (const f of img.files)
      if (typeof f?.path !== "string" || !/^[0-9a-f]{64}$/.test(f.sha256 ?? ""))
        throw new ImageError(source, `image ${img.name}: every file needs a path and a sha256`);
  }
  return m as Manifest;
}

export function findImage(m: Manifest, name: string): ImageEntry {
  const img = m.images.find((i) => i.name === name);
  if (!img)
    throw new ImageError(
      name,
      `no image of that name; known images: ${m.images.map((i) => i.name).join(", ")}`,
    );
  return img;
}

/** Check a file's bytes against its manifest entry (the hash function is supplied by the host). */
export function verifyImageFile(f: ImageFile, bytes: Uint8Array, sha256hex: string): void {
  if (bytes.length !== f.size)
    throw new ImageError(
      f.path,
      `size is ${bytes.length} bytes but the manifest says ${f.size} (truncated or replaced?)`,
    );
  if (sha256hex !== f.sha256)
    throw new ImageError(
      f.path,
      `sha256 ${sha256hex} does not match the manifest (${f.sha256}); rebuild the image or fix the manifest`,
    );
}
