// The first page: engine in a Web Worker, COM1 in xterm.js, errors shown in the page.
// Guest output is read through the small automation hook window.virtlab (src/ui/protocol.ts).

import { createHash } from "node:crypto";
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { openPlayground as open, serialText, watchPageErrors } from "./page.ts";

const BOOT_TIMEOUT = 30_000;

async function startAndWaitForPass(page: Page): Promise<void> {
  await page.locator("#start").click();
  await expect.poll(() => serialText(page), { timeout: BOOT_TIMEOUT }).toContain("ALL PASS");
}

async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: "image/png" });
}

/** A 72-byte multiboot (a.out kludge) kernel: prints "T" on COM1, loads an empty IDT, int3. */
function tripleFaultKernel(): Buffer {
  const img = Buffer.alloc(0x48);
  const magic = 0x1badb002;
  const flags = 0x00010000;
  const header = [magic, flags, -(magic + flags) >>> 0, 0x100000, 0x100000, 0, 0, 0x100020];
  header.forEach((v, k) => img.writeUInt32LE(v, k * 4));
  // mov dx,0x3f8; mov al,'T'; out dx,al; lidt [0x100040]; int3
  Buffer.from([
    0x66, 0xba, 0xf8, 0x03, 0xb0, 0x54, 0xee, 0x0f, 0x01, 0x1d, 0x40, 0x00, 0x10, 0x00, 0xcc,
  ]).copy(img, 0x20);
  return img; // bytes 0x40..0x47: IDTR limit 0, base 0
}

test("the page loads with the image list, controls and a terminal", async ({ page }, testInfo) => {
  const errors = watchPageErrors(page);
  await open(page);
  await expect(page.locator("h1")).toHaveText("VirtLab");
  await expect(page.locator("#image")).toHaveValue("testkernel");
  // Every manifest image is listed, bootable or not.
  const options = await page.locator("#image option").evaluateAll((os) => os.map((o) => o.textContent));
  expect(options).toEqual(expect.arrayContaining(["testkernel", expect.stringMatching(/^disk/)]));
  await expect(page.locator("#memory")).toHaveValue("64");
  await expect(page.locator("#start")).toBeEnabled();
  await expect(page.locator("#pause")).toBeDisabled();
  await expect(page.locator("#state")).toHaveText("idle");
  await expect(page.locator("#terminal .xterm")).toBeVisible();
  expect(await page.evaluate(() => window.virtlab.state())).toBe("idle");
  await screenshot(page, testInfo, "idle");
  expect(errors).toEqual([]);
});

test("testkernel boots to ALL PASS in the terminal", async ({ page }, testInfo) => {
  const errors = watchPageErrors(page);
  await open(page);
  const t0 = Date.now();
  await page.locator("#start").click();
  await expect(page.locator("#state")).toHaveText(/loading|running|halted/);
  await expect.poll(() => serialText(page), { timeout: BOOT_TIMEOUT }).toContain("ALL PASS");
  testInfo.annotations.push({ type: "boot-ms", description: String(Date.now() - t0) });
  const text = await serialText(page);
  expect(text).toContain("PASS multiboot");
  expect(text).not.toMatch(/^FAIL/m);
  // The same text is on screen, not just in the hook.
  await expect(page.locator("#terminal .xterm-rows")).toContainText("ALL PASS");
  // The kernel halts for good after its last line.
  await expect(page.locator("#state")).toHaveText("halted");
  expect(await page.evaluate(() => window.virtlab.state())).toBe("halted");
  await expect(page.locator("#instructions")).toHaveText(/^[1-9][\d,]* instructions$/);
  await expect(page.locator("#mips")).toHaveText(/^\d+\.\d MIPS$/);
  await expect(page.locator("#error")).toBeHidden();
  const stats = await page.evaluate(() => window.virtlab.stats());
  expect(stats.machine?.instructions).toBeGreaterThan(10_000);
  expect(stats.host.serialOutBytes).toBeGreaterThanOrEqual(text.length);
  await screenshot(page, testInfo, "testkernel-all-pass");

  // Pause / resume / reset (a power cycle reruns the kernel).
  await page.locator("#pause").click();
  await expect(page.locator("#state")).toHaveText("paused");
  await expect(page.locator("#pause")).toHaveText("Resume");
  await page.locator("#pause").click();
  await expect(page.locator("#state")).toHaveText("halted");
  await page.locator("#reset").click();
  await expect
    .poll(async () => (await serialText(page)).match(/ALL PASS/g)?.length ?? 0, { timeout: BOOT_TIMEOUT })
    .toBe(2);
  expect(errors).toEqual([]);
});

test("a truncated or corrupt image gives a clear error and the page stays usable", async ({
  page,
}, testInfo) => {
  const errors = watchPageErrors(page);
  let mode: "truncate" | "corrupt" = "truncate";
  await page.route("**/images/testkernel.elf", async (route) => {
    const res = await route.fetch();
    const body = await res.body();
    if (mode === "truncate") return route.fulfill({ response: res, body: body.subarray(0, 1000) });
    const bad = Buffer.from(body);
    bad[bad.length - 1]! ^= 0xff;
    return route.fulfill({ response: res, body: bad });
  });
  await open(page);

  await page.locator("#start").click();
  const banner = page.locator("#error");
  await expect(banner).toBeVisible();
  await expect(banner).toContainText("testkernel.elf");
  await expect(banner).toContainText(/size is 1000 bytes but the manifest says \d+ \(truncated/);
  await expect(page.locator("#state")).toHaveText("idle");
  await screenshot(page, testInfo, "truncated-image");

  mode = "corrupt";
  await page.locator("#start").click();
  await expect(banner).toContainText(/testkernel\.elf.*sha256 [0-9a-f]{64} does not match the manifest/);
  await expect(page.locator("#state")).toHaveText("idle");

  // The real file boots in the same page and the banner goes away.
  await page.unroute("**/images/testkernel.elf");
  await startAndWaitForPass(page);
  await expect(banner).toBeHidden();
  expect(errors).toEqual([]);
});

test("an unsupported boot method and a guest triple fault are reported in the page", async ({
  page,
}, testInfo) => {
  const errors = watchPageErrors(page);
  const kernel = tripleFaultKernel();
  await page.route("**/images/manifest.json", async (route) => {
    const res = await route.fetch();
    const manifest = (await res.json()) as { images: object[] };
    const file = (path: string, bytes: Buffer) => ({
      role: "kernel",
      path,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      size: bytes.length,
    });
    manifest.images.push(
      { name: "e2e-triplefault", description: "e2e", boot: "multiboot", files: [file("e2e-tf.bin", kernel)] },
      { name: "e2e-pxe", description: "e2e", boot: "pxe", files: [file("e2e-pxe.bin", kernel)] },
    );
    await route.fulfill({ response: res, json: manifest });
  });
  await page.route("**/images/e2e-tf.bin", (route) => route.fulfill({ body: kernel }));
  await open(page);

  await page.locator("#image").selectOption("e2e-pxe");
  await page.locator("#start").click();
  await expect(page.locator("#error")).toContainText(/e2e-pxe.*boot method "pxe" is not supported yet/);
  await expect(page.locator("#state")).toHaveText("idle");

  await page.locator("#image").selectOption("e2e-triplefault");
  await page.locator("#start").click();
  await expect(page.locator("#error")).toContainText("The guest reset the machine");
  await expect(page.locator("#error")).toContainText("triple fault");
  await expect(page.locator("#error-details")).toBeVisible();
  await expect(page.locator("#state")).toHaveText("stopped");
  expect(await serialText(page)).toBe("T");
  await screenshot(page, testInfo, "triple-fault");
  expect(errors).toEqual([]);
});

test("typing in the terminal reaches the guest's serial port", async ({ page }) => {
  // testkernel does not read COM1, so the round trip is checked on the worker's host-side counter
  // (bytes queued into the UART); an echo from a real guest is the Linux test's job.
  await open(page);
  await startAndWaitForPass(page);
  await page.locator("#terminal .xterm").click();
  await page.keyboard.type("hello");
  await page.keyboard.press("Enter");
  await expect
    .poll(async () => (await page.evaluate(() => window.virtlab.stats())).host.serialInBytes)
    .toBe(6);
  await page.evaluate(() => window.virtlab.send("ab"));
  await expect
    .poll(async () => (await page.evaluate(() => window.virtlab.stats())).host.serialInBytes)
    .toBe(8);
});
