// What the playground's browser tests share: reading the guest's console, failing on page errors,
// opening the page and starting Linux from its controls.

import { expect, type Page } from "@playwright/test";

export function serialText(page: Page): Promise<string> {
  return page.evaluate(() => window.virtlab.serialText());
}

/** Fail the test on uncaught page errors (a blank page usually starts with one). */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

/** Open the playground (at `path`, e.g. with a query) once its image list has loaded. */
export async function openPlayground(page: Page, path = "/"): Promise<void> {
  await page.goto(path);
  await expect(page.locator("#image option[value=testkernel]")).toHaveCount(1);
  await expect(page.locator("#image")).toBeEnabled();
}

/** Start the `linux` image with 128 MiB from the page's controls (mode, and wall-clock time if asked). */
export async function startLinux(
  page: Page,
  opts: { mode?: string; realTime?: boolean } = {},
): Promise<void> {
  await page.locator("#image").selectOption("linux");
  await page.locator("#memory").selectOption("128");
  if (opts.mode) await page.locator("#mode").selectOption(opts.mode);
  if (opts.realTime) {
    const det = page.locator("#deterministic");
    if (await det.isChecked()) await det.click();
  }
  await page.locator("#start").click();
}
