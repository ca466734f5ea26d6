// Snapshots in IndexedDB (idb-keyval): save, list, delete, restore, export to a file, import from
// one. The bytes are the engine's snapshot format (src/engine/snapshot.ts), which carries its own
// SHA-256: every restore and import is checked by the engine Worker before anything is replaced.
//
// Each snapshot is two records in one object store: `data:<id>` (the bytes) and `meta:<id>` (what
// the list shows). The data is written first and the meta last, so a failed write (a full quota)
// leaves no half snapshot in the list; the partial data record is removed and the error reported.
// Existing snapshots are never touched by a save.

import { createStore, del, entries, get, set, type UseStore } from "idb-keyval";
import type { SnapshotInfo } from "../engine/snapshot.ts";

export interface StoredSnapshot {
  id: string;
  name: string;
  bytes: number;
  info: SnapshotInfo;
}

export class SnapshotStoreError extends Error {}

function explain(e: unknown, what: string): SnapshotStoreError {
  const err = e as DOMException;
  if (err?.name === "QuotaExceededError")
    return new SnapshotStoreError(
      `${what}: the browser's storage quota is full. Delete or export older snapshots and try again ` +
        `(your existing snapshots are intact).`,
    );
  return new SnapshotStoreError(`${what}: ${err?.message ?? String(e)}`);
}

export class SnapshotStore {
  private readonly store: UseStore;

  constructor(name = "virtlab") {
    this.store = createStore(`${name}-snapshots`, "snapshots");
  }

  async list(): Promise<StoredSnapshot[]> {
    const all = await entries<string, StoredSnapshot>(this.store);
    return all
      .filter(([k]) => String(k).startsWith("meta:"))
      .map(([, v]) => v)
      .sort((a, b) => b.info.created.localeCompare(a.info.created));
  }

  async save(name: string, bytes: Uint8Array, info: SnapshotInfo): Promise<StoredSnapshot> {
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const meta: StoredSnapshot = { id, name, bytes: bytes.length, info };
    try {
      await set(`data:${id}`, bytes, this.store);
      await set(`meta:${id}`, meta, this.store);
    } catch (e) {
      await del(`data:${id}`, this.store).catch(() => {});
      throw explain(e, `Cannot store snapshot "${name}"`);
    }
    return meta;
  }

  async bytes(id: string): Promise<Uint8Array> {
    const b = await get<Uint8Array>(`data:${id}`, this.store);
    if (!b) throw new SnapshotStoreError("that snapshot's data is missing from the browser's storage");
    return b;
  }

  async delete(id: string): Promise<void> {
    await del(`meta:${id}`, this.store);
    await del(`data:${id}`, this.store);
  }
}

/** Offer bytes as a file download. */
export function download(bytes: Uint8Array, filename: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
