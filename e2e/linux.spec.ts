// Linux in the page: the committed `linux` image boots in the engine's Web Worker, and typing into
// the xterm.js terminal reaches the guest's shell on ttyS0.

import { expect, test } from "@playwright/test";
import { openPlayground, serialText, startLinux, watchPageErrors } from "./page.ts";

const LINUX_BOOT_TIMEOUT = 240_000;

test("linux boots to a shell and answers what is typed in the terminal", async ({ page }, testInfo) => {
  test.setTimeout(LINUX_BOOT_TIMEOUT + 60_000);
  const errors = watchPageErrors(page);
  await openPlayground(page);
  const t0 = Date.now();
  await startLinux(page);
  await expect
    .poll(() => serialText(page), { timeout: LINUX_BOOT_TIMEOUT, intervals: [1000] })
    .toContain("VIRTLAB-READY");
  testInfo.annotations.push({ type: "linux-boot-ms", description: String(Date.now() - t0) });
  await expect.poll(() => serialText(page), { timeout: 60_000 }).toMatch(/virtlab:\/# /);

  // Type like a person: focus the terminal and press keys.
  await page.locator("#terminal").click();
  await page.keyboard.type("echo typed-$((6*7)) && uname -m");
  await page.keyboard.press("Enter");
  await expect.poll(() => serialText(page), { timeout: 60_000 }).toMatch(/typed-42\r?\ni686/);
  await expect(page.locator("#terminal .xterm-rows")).toContainText("typed-42");
  const path = testInfo.outputPath("linux-shell.png");
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach("linux-shell", { path, contentType: "image/png" });
  expect(errors).toEqual([]);
});

test("in real time the JIT runs from the start, Linux calibrates its TSC, and the explorer shows wasm", async ({
  page,
}) => {
  test.setTimeout(LINUX_BOOT_TIMEOUT + 60_000);
  const errors = watchPageErrors(page);
  await openPlayground(page);
  await startLinux(page, { realTime: true });
  await expect
    .poll(() => serialText(page), { timeout: LINUX_BOOT_TIMEOUT, intervals: [1000] })
    .toContain("VIRTLAB-READY");
  // Real-time virtual time advances with the instructions between looks at the host clock: the
  // kernel's PIT calibration of the TSC succeeds and its clocksource watchdog keeps the TSC.
  const log = await serialText(page);
  expect(log).toMatch(/tsc: Detected \d+\.\d+ MHz processor/);
  expect(log).not.toMatch(/Unable to calibrate|Marking TSC unstable/);
  const jit = await page.evaluate(async () => (await window.virtlab.stats()).jit);
  expect(jit).toMatchObject({ enabled: true, ready: true });
  expect(jit!.blocksCompiled).toBeGreaterThan(1000);
  expect(jit!.jitInstructions).toBeGreaterThan(10_000_000);
  expect(jit!.compileMs).toBeGreaterThan(0);
  // The explorer's wasm text: a block compiled again and disassembled by binaryen.
  await page.locator('.tools [data-tool="jit"]').click();
  await expect
    .poll(
      async () => {
        await page.locator("#jit-refresh").click();
        return page.locator("#jit-blocks option").count();
      },
      { timeout: 60_000, intervals: [2000] },
    )
    .toBeGreaterThan(0);
  await expect(page.locator("#jit-view pre.wat")).toContainText("(func $b0", { timeout: 60_000 });
  expect(errors).toEqual([]);
});
