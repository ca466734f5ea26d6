// The mode selector: the same guest started from the page under different hypervisor designs runs
// to the same result, and the counters the worker reports are those of the chosen design.

import { expect, test, type Page } from "@playwright/test";
import { watchPageErrors } from "./page.ts";

async function runTestKernel(page: Page, mode: string) {
  // HW without EPT is the HW mode with the EPT switch off.
  await page.locator("#mode").selectOption(mode === "hw-noept" ? "hw" : mode);
  if (mode.startsWith("hw")) await page.locator("#ept").setChecked(mode === "hw");
  await page.locator("#start").click();
  await expect
    .poll(() => page.evaluate(() => window.virtlab.serialText()), { timeout: 30_000 })
    .toContain("ALL PASS");
  return page.evaluate(() => window.virtlab.stats());
}

test("the mode selector runs the guest under the chosen design", async ({ page }, testInfo) => {
  const errors = watchPageErrors(page);
  await page.goto("/");
  await expect(page.locator("#image")).toBeEnabled();
  await expect(page.locator("#mode option")).toHaveCount(4);

  const hw = await runTestKernel(page, "hw");
  expect(hw.machine?.mode).toBe("hw");
  expect(hw.machine?.vmx?.exits["io-instruction"]).toBeGreaterThan(1000);
  expect(hw.machine?.ept?.violations).toBeGreaterThan(0);

  const bt = await runTestKernel(page, "bt");
  expect(bt.machine?.mode).toBe("bt");
  expect(bt.machine?.vmx).toBeUndefined();
  expect(Object.keys(bt.machine?.bt?.callouts ?? {}).length).toBeGreaterThan(10);
  expect(bt.machine?.shadow?.hiddenFaults).toBeGreaterThan(0);
  // Same guest, same instructions.
  expect(bt.machine?.instructions).toBe(hw.machine?.instructions);

  const path = testInfo.outputPath("modes.png");
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach("modes", { path, contentType: "image/png" });
  expect(errors).toEqual([]);
});
