// Headless Chromium (driven by playwright-core, never a downloaded browser)
// opens the echo server's diagnostics page and reads its JSON summary.
//
//   node browser.js auto URL OUT_DIR PROFILE_DIR
//       URL has ?auto=N: N echoes, the binary probe, a clean 1000 close.
//   node browser.js live URL OUT_DIR PROFILE_DIR SERVER_PID
//       the live page echoes every second; then SERVER_PID is killed (-9) and
//       the page must show 1006 with its explanation.
//
// Screenshots go to OUT_DIR. Exit 0 on pass, else a one-line reason on stderr.
"use strict";

const path = require("path");
const { chromium } = require("playwright-core");

const T = 15000;
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

class Fail extends Error {}
function expect(cond, what) {
  if (!cond) throw new Fail(what);
}

async function result(page) {
  return JSON.parse(await page.textContent("#result"));
}

async function main() {
  const [mode, url, outDir, profile, serverPid] = process.argv.slice(2);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 900, height: 1000 },
    timeout: T,
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    const response = await page.goto(url, { timeout: T });
    expect(response && response.status() === 200, `GET ${url}: status ${response && response.status()}`);
    if (mode === "auto") {
      await page
        .waitForFunction(() => JSON.parse(document.getElementById("result").textContent).closed === true, null, {
          timeout: T,
        })
        .catch(async () => {
          throw new Fail(`page did not close within ${T} ms: ${JSON.stringify(await result(page))}`);
        });
      const r = await result(page);
      await page.screenshot({ path: path.join(outDir, "diag_auto.png"), fullPage: true });
      const want = Number(new URL(url).searchParams.get("auto"));
      expect(consoleErrors.length === 0, `page errors: ${consoleErrors.join("; ")}`);
      expect(r.echoed === want && r.sent === want, `sent ${r.sent}, echoed ${r.echoed}, want ${want}: ${JSON.stringify(r)}`);
      expect(r.mismatched === 0 && r.other === 0, `echoes changed on the way: ${JSON.stringify(r)}`);
      expect(r.binary_ok === true, `64 KiB binary echo not identical: ${JSON.stringify(r)}`);
      expect(r.code === 1000 && r.wasClean === true, `close: ${JSON.stringify(r)}`);
      expect(typeof r.rtt_avg_ms === "number" && r.rtt_avg_ms >= 0, `no round-trip time: ${JSON.stringify(r)}`);
      console.log(JSON.stringify(r));
    } else if (mode === "live") {
      await page
        .waitForFunction(() => JSON.parse(document.getElementById("result").textContent).echoed >= 2, null, {
          timeout: T,
        })
        .catch(async () => {
          throw new Fail(`fewer than 2 echoes within ${T} ms: ${JSON.stringify(await result(page))}`);
        });
      // The input box: typed text comes back and shows in the log.
      await page.fill("#text", "typed by a person ✓");
      await page.click("button[type=submit]");
      await page
        .waitForFunction(() => /echo \([0-9.]+ ms\): typed by a person ✓/.test(document.getElementById("log").textContent), null, {
          timeout: T,
        })
        .catch(() => {
          throw new Fail("text typed into the input box did not come back");
        });
      const live = await result(page);
      expect(live.state === "open", `state ${live.state}, want open`);
      await page.screenshot({ path: path.join(outDir, "diag_live.png"), fullPage: true });
      process.kill(Number(serverPid), "SIGKILL"); // no close frame: a crash or a network drop
      await page
        .waitForFunction(() => JSON.parse(document.getElementById("result").textContent).closed === true, null, {
          timeout: T,
        })
        .catch(async () => {
          throw new Fail(`page did not see the server die within ${T} ms: ${JSON.stringify(await result(page))}`);
        });
      const r = await result(page);
      await page.screenshot({ path: path.join(outDir, "diag_1006.png"), fullPage: true });
      expect(consoleErrors.length === 0, `page errors: ${consoleErrors.join("; ")}`);
      expect(r.code === 1006 && r.wasClean === false, `after the kill: ${JSON.stringify(r)}`);
      const shown = await page.textContent("#close-why");
      expect(/closed without a close frame/.test(shown), `explanation shown: ${JSON.stringify(shown)}`);
      console.log(JSON.stringify(live));
      console.log(JSON.stringify(r));
    } else {
      throw new Fail(`unknown mode ${mode}`);
    }
  } finally {
    await context.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Fail ? e.message : `${e.name}: ${String(e.message).split("\n")[0]}`);
    process.exit(1);
  },
);
