// End-to-end tests in a real browser. Debian's Chromium (/usr/bin/chromium) is used when present;
// Playwright's own browser downloads are never needed. By default the tests run against the Vite
// dev server (no build step, the code developers run); E2E_PREVIEW=1 tests the production bundle
// instead (vite build + vite preview), which is what gets deployed.

import { existsSync } from "node:fs";
import { defineConfig, devices } from "@playwright/test";

const PORT = 5174;
const SYSTEM_CHROMIUM = "/usr/bin/chromium";
const preview = !!process.env.E2E_PREVIEW;

export default defineConfig({
  testDir: "e2e",
  // The regression suite has its own config and command (npm run regression).
  testIgnore: ["regression/**"],
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // Two shared cores: one browser at a time keeps timings honest.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"], ["html", { open: "never" }]],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    screenshot: "on",
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        ...(existsSync(SYSTEM_CHROMIUM)
          ? {
              launchOptions: {
                executablePath: SYSTEM_CHROMIUM,
                args: [
                  "--no-sandbox",
                  "--disable-gpu",
                  "--disable-dev-shm-usage",
                  "--disable-background-networking",
                  "--disable-component-update",
                  "--no-first-run",
                ],
              },
            }
          : {}),
      },
    },
  ],
  webServer: {
    command: preview
      ? `npx vite build && npx vite preview --port ${PORT} --strictPort`
      : `npx vite --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    env: { VITE_NO_HMR: "1" },
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
