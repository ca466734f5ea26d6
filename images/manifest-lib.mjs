// Shared by every image's update-manifest.mjs: describe committed image files (sha256, size) and
// merge entries into public/images/manifest.json, keeping every other image's entry as it is.
// The manifest is re-read right before it is written, and replaced atomically.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const imagesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "public", "images");
const manifestPath = join(imagesDir, "manifest.json");

/** A manifest file entry for public/images/<path>. */
export function describeFile(role, path) {
  const abs = join(imagesDir, path);
  if (!existsSync(abs)) throw new Error(`missing ${abs}: build it first`);
  const data = readFileSync(abs);
  return { role, path, sha256: createHash("sha256").update(data).digest("hex"), size: data.length };
}

/** Replace (or add) these entries by name. */
export function mergeEntries(entries) {
  let manifest = { images: [] };
  if (existsSync(manifestPath)) {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    if (!Array.isArray(manifest.images)) manifest.images = [];
  }
  for (const entry of entries) {
    const i = manifest.images.findIndex((e) => e && e.name === entry.name);
    if (i >= 0) manifest.images[i] = entry;
    else manifest.images.push(entry);
  }
  const tmp = `${manifestPath}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
  renameSync(tmp, manifestPath);
  console.log(`updated ${manifestPath}: ${manifest.images.map((e) => e.name).join(", ")}`);
}
