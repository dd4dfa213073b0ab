// First grid paint after start, on a generated library of 1M pairs: starts `pairlab serve`
// (release build) and a fresh headless chromium, opens the Browse view and waits until the
// first screen of cells shows its thumbnails. Prints each phase and the total, several
// runs. Usage: node bench/first_paint.mjs LIBRARY_DIR [RUNS]   (bench/first_paint.sh makes
// the library and builds first.)
import { spawn } from "node:child_process";
import { join } from "node:path";
import { CHROMIUM_ARGS, ROOT, chromium } from "../tests/e2e/harness.mjs";

const lib = process.argv[2];
const runs = Number(process.argv[3] || 5);
const bin = process.env.PAIRLAB_BIN || join(ROOT, "target", "release", "pairlab");
if (!lib) throw new Error("usage: node bench/first_paint.mjs LIBRARY_DIR [RUNS]");

function serve() {
  const child = spawn(bin, ["--library", lib, "serve", "--port", "0", "--ui", join(ROOT, "ui", "dist")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((ok, fail) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/at (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) ok({ url: m[1], child });
    });
    child.on("exit", (code) => fail(new Error(`serve exited (${code}): ${out}`)));
  });
}

const results = [];
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const { url, child } = await serve();
  const tServer = performance.now();
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const tBrowser = performance.now();
  await page.goto(`${url}#/browse`, { waitUntil: "commit" });
  const tNav = performance.now();
  await page.waitForSelector('[data-testid="cell"]');
  const tCells = performance.now();
  // Every cell on the first screen has its thumbnail decoded.
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('[data-testid="cell"] img')].filter((i) => {
      const b = i.getBoundingClientRect();
      return b.top < innerHeight && b.bottom > 0;
    });
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { polling: "raf" });
  const tPaint = performance.now();
  const cells = await page.$$eval('[data-testid="cell"]', (cs) => cs.length);
  const total = await page.evaluate(() => document.querySelector('[data-testid="result-count"]')?.textContent);
  await browser.close();
  child.kill("SIGINT");
  await new Promise((ok) => child.on("exit", ok));
  const row = {
    server_ready_ms: tServer - t0,
    browser_ready_ms: tBrowser - tServer,
    navigation_to_cells_ms: tCells - tNav,
    navigation_to_thumbnails_ms: tPaint - tNav,
    start_to_thumbnails_ms: tPaint - t0,
    start_to_thumbnails_without_browser_launch_ms: tPaint - t0 - (tBrowser - tServer),
  };
  results.push(row);
  console.log(`run ${r + 1}: ${Object.entries(row).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(" · ")} (${cells} cells, ${total})`);
}
const median = (k) => {
  const v = results.map((r) => r[k]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
console.log(`median of ${runs}: ` + Object.keys(results[0]).map((k) => `${k} ${median(k).toFixed(0)}`).join(" · "));
