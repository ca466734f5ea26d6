// The `virtlab run` contract: exit codes, --expect, --send, --stats, and clear errors for bad input.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = join(process.cwd(), "bin/virtlab.mjs");

function virtlab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("virtlab run", () => {
  it("boots the test kernel and exits 0 when --expect matches", () => {
    const dir = mkdtempSync(join(tmpdir(), "virtlab-"));
    const stats = join(dir, "stats.json");
    const r = virtlab([
      "run",
      "--image",
      "testkernel",
      "--expect",
      "ALL PASS",
      "--deterministic",
      "--stats",
      stats,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("PASS df-taskgate");
    const s = JSON.parse(readFileSync(stats, "utf8"));
    expect(s.instructions).toBeGreaterThan(100_000);
    expect(s.io.com1).toBeGreaterThan(1000);
    expect(s.vectors["14"]).toBeGreaterThan(0); // the kernel provokes page faults on purpose
  });

  it("gives identical output and counters in deterministic mode", () => {
    const dir = mkdtempSync(join(tmpdir(), "virtlab-"));
    const runs = [0, 1].map((k) => {
      const stats = join(dir, `s${k}.json`);
      const r = virtlab([
        "run",
        "--image",
        "testkernel",
        "--expect",
        "ALL PASS",
        "--deterministic",
        "--stats",
        stats,
      ]);
      const s = JSON.parse(readFileSync(stats, "utf8"));
      delete s.wallMs;
      delete s.mips;
      return { out: r.stdout, s };
    });
    expect(runs[1]).toEqual(runs[0]);
  });

  it("exits 1 on timeout", () => {
    const r = virtlab([
      "run",
      "--image",
      "testkernel",
      "--expect",
      "NEVER PRINTED",
      "--timeout",
      "2",
      "--quiet",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/timeout|halted for good/);
  });

  it("exits 2 with a message naming the file for a garbage kernel", () => {
    const dir = mkdtempSync(join(tmpdir(), "virtlab-"));
    const f = join(dir, "garbage.bin");
    writeFileSync(f, Buffer.alloc(4096, 0x5a));
    const r = virtlab(["run", "--kernel", f, "--timeout", "5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("garbage.bin");
    expect(r.stderr).toMatch(/no multiboot header/);
  });

  it("exits 2 for a truncated kernel", () => {
    const dir = mkdtempSync(join(tmpdir(), "virtlab-"));
    const f = join(dir, "short.elf");
    writeFileSync(f, readFileSync("public/images/testkernel.elf").subarray(0, 4096));
    const r = virtlab(["run", "--kernel", f, "--timeout", "5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/short\.elf: .*truncated/);
  });

  it("refuses an image whose sha256 does not match the manifest", () => {
    const dir = mkdtempSync(join(tmpdir(), "virtlab-"));
    copyFileSync("public/images/manifest.json", join(dir, "manifest.json"));
    const k = readFileSync("public/images/testkernel.elf");
    k[1000] ^= 0xff;
    writeFileSync(join(dir, "testkernel.elf"), k);
    const r = virtlab(["run", "--image", "testkernel", "--timeout", "5"], { VIRTLAB_IMAGES_DIR: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/testkernel\.elf: sha256 [0-9a-f]{64} does not match/);
  });

  it("exits 2 for unknown images and bad flags", () => {
    expect(virtlab(["run", "--image", "nosuch"]).stderr).toMatch(/no image of that name/);
    expect(virtlab(["run", "--image", "testkernel", "--mem", "0"]).code).toBe(2);
    expect(virtlab(["run", "--bogus"]).code).toBe(2);
  });
});
