// Shared by the browser test scripts: launch Debian's Chromium headless, with the flags a
// machine without outside network needs (no background connections, no first-run work).
import { chromium } from "playwright-core";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/// Fails the script with a message the Rust test shows.
export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
