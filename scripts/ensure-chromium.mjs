// The browser tests run in Debian's Chromium (never a downloaded browser). Install it when missing.
import { existsSync } from "node:fs";
import { execSync } from "node:child_process";

if (!existsSync("/usr/bin/chromium")) {
  if (process.getuid?.() !== 0) {
    console.error("e2e tests need Debian's chromium: run `sudo apt-get install -y chromium`");
    process.exit(1);
  }
  console.log("Installing Debian's chromium for the browser tests...");
  execSync("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium", {
    stdio: "inherit",
    shell: "/bin/bash",
  });
}
