// `npm start` on a fresh clone: install dependencies first if they are missing or stale.
import { existsSync, statSync } from "node:fs";
import { execSync } from "node:child_process";

const lock = "package-lock.json";
const marker = "node_modules/.package-lock.json";
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.log("Installing dependencies (npm ci)...");
  execSync("npm ci", { stdio: "inherit" });
}
