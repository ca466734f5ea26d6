// The regression suite (`npm run regression`): the image × mode matrix through the Node automation
// API and the page through the Playwright fixture, reported as JUnit XML (reports/junit.xml) and
// HTML (reports/html/). Browser, web server and launch options come from the main config.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "@playwright/test";
import base from "../../playwright.config.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const REPORTS = join(ROOT, "reports");

export default defineConfig({
  ...base,
  testDir: ".",
  testIgnore: [],
  timeout: 300_000,
  outputDir: join(REPORTS, "test-results"),
  // The main config's server command, run from the repository root (not from this directory).
  webServer: { ...(base.webServer as object), cwd: ROOT } as typeof base.webServer,
  reporter: [
    ["list"],
    ["junit", { outputFile: join(REPORTS, "junit.xml") }],
    ["html", { outputFolder: join(REPORTS, "html"), open: "never" }],
  ],
});
