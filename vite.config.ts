import { defineConfig } from "vitest/config";

export default defineConfig({
  // VITE_NO_HMR=1 (the e2e server): no hot reload, so an edit elsewhere in the checkout never reloads
  // a page in the middle of a browser test.
  server: {
    host: "127.0.0.1",
    port: 5173,
    hmr: !process.env.VITE_NO_HMR,
    watch: process.env.VITE_NO_HMR ? null : {},
  },
  worker: { format: "es" },
  build: {
    target: "es2022",
    // The playground, the iframe embed page and the course-author examples.
    rollupOptions: { input: { main: "index.html", embed: "embed.html", examples: "examples/index.html" } },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    setupFiles: ["tests/setup-coverage.ts"],
    testTimeout: 120_000,
    pool: "forks",
  },
});
