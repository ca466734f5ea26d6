// Images from the manifest, and booting them: shared by the automation session (Node and the
// page's Worker) and the CLI. Where the bytes come from (files, fetch) and how they are hashed is
// the host's business (an ImageSource); verification and boot dispatch happen here, once.

import { Machine, MODES, type Mode } from "../engine/machine.ts";
import { bootMultiboot } from "../engine/boot/multiboot.ts";
import { bootLinux } from "../engine/boot/linux.ts";
import { findImage, parseManifest, verifyImageFile, type ImageEntry } from "../engine/boot/manifest.ts";
import { ImageError } from "../engine/boot/errors.ts";

export interface ImageSource {
  /** A human-readable name of where images come from (for messages). */
  readonly where: string;
  /** A file relative to the images directory (manifest.json, linux/bzImage, ...). */
  read(path: string): Promise<Uint8Array>;
  /** Lower-case hex SHA-256. */
  sha256(bytes: Uint8Array): Promise<string>;
}

export interface LoadedFile {
  path: string;
  bytes: Uint8Array;
}

export interface LoadedImage {
  entry: ImageEntry;
  /** Files by role (kernel, initrd, disk, ...). */
  files: Map<string, LoadedFile>;
}

/** Boot methods this module can start (manifest `boot`). */
export const BOOT_METHODS = ["multiboot", "linux"] as const;

export async function readManifest(src: ImageSource) {
  const bytes = await src.read("manifest.json");
  return parseManifest(new TextDecoder().decode(bytes), `${src.where}/manifest.json`);
}

/** Read an image's files and verify each one's size and sha256 against the manifest. */
export async function loadImage(src: ImageSource, name: string): Promise<LoadedImage> {
  const entry = findImage(await readManifest(src), name);
  if (!(BOOT_METHODS as readonly string[]).includes(entry.boot))
    throw new ImageError(
      entry.name,
      entry.boot === "none"
        ? "this is a data image with nothing to boot"
        : `boot method "${entry.boot}" is not supported (supported: ${BOOT_METHODS.join(", ")})`,
    );
  const files = new Map<string, LoadedFile>();
  await Promise.all(
    entry.files.map(async (f) => {
      const bytes = await src.read(f.path);
      verifyImageFile(f, bytes, await src.sha256(bytes));
      files.set(f.role, { path: f.path, bytes });
    }),
  );
  return { entry, files };
}

export interface KernelBoot {
  /** "linux" (bzImage) or "multiboot". */
  boot: string;
  kernel: LoadedFile;
  initrd?: LoadedFile;
  cmdline?: string;
}

/** Load a kernel into a machine by boot method. */
export function bootKernel(machine: Machine, k: KernelBoot): void {
  if (k.boot === "linux") {
    bootLinux(machine, k.kernel.bytes, {
      cmdline: k.cmdline,
      initrd: k.initrd?.bytes,
      kernelName: k.kernel.path,
      initrdName: k.initrd?.path,
    });
  } else if (k.boot === "multiboot") {
    if (k.initrd) throw new ImageError(k.initrd.path, "an initrd needs a Linux kernel (Linux boot protocol)");
    bootMultiboot(machine, k.kernel.bytes, { cmdline: k.cmdline, name: k.kernel.path });
  } else throw new ImageError(k.kernel.path, `boot method "${k.boot}" is not supported`);
}

export interface MachineFromImage {
  mode?: Mode;
  memoryMiB?: number;
  deterministic?: boolean;
  cmdline?: string;
}

/** Default guest RAM: Linux wants room for its initramfs; bare-metal kernels need little. */
export function defaultMemoryMiB(entry: ImageEntry): number {
  return entry.boot === "linux" ? 128 : 16;
}

/** A new machine with the image's disk attached and its kernel loaded, ready to run. */
export function machineFromImage(image: LoadedImage, o: MachineFromImage = {}): Machine {
  const mode = o.mode ?? "native";
  if (!MODES.includes(mode))
    throw new RangeError(`unknown mode "${String(mode)}" (modes: ${MODES.join(", ")})`);
  const kernel = image.files.get("kernel");
  if (!kernel) throw new ImageError(image.entry.name, "the image has no kernel to boot");
  const machine = new Machine({
    memoryMiB: o.memoryMiB ?? defaultMemoryMiB(image.entry),
    deterministic: o.deterministic ?? false,
    disk: image.files.get("disk")?.bytes,
    mode,
  });
  bootKernel(machine, {
    boot: image.entry.boot,
    kernel,
    initrd: image.files.get("initrd"),
    cmdline: o.cmdline ?? image.entry.cmdline,
  });
  return machine;
}
