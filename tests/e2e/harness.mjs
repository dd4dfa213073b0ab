// Shared pieces of the end-to-end tests: a demo library, `pairlab serve` on loopback,
// chromium through playwright-core, named steps that count as tests, screenshots.
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const require = createRequire(join(ROOT, "ui", "package.json"));
export const { chromium } = require("playwright-core");

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
];

/** The pairlab binary the tests drive (PAIRLAB_BIN, else the debug build). */
export function pairlabBin() {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  return process.env.PAIRLAB_BIN || join(target, "debug", "pairlab");
}

/** Where screenshots go (E2E_OUT, else target/e2e). */
export function outDir(name) {
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  const dir = join(process.env.E2E_OUT || join(target, "e2e"), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes the demo corpus, indexes, pre-labels and trains it (`pairlab demo`); with
 *  E2E_DEMO_LIBRARY set, copies that demo library instead (faster local reruns). */
export function demoLibrary() {
  const dir = mkdtempSync(join(tmpdir(), "pairlab-e2e-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const lib = join(dir, "lib");
  if (process.env.E2E_DEMO_LIBRARY) {
    cpSync(process.env.E2E_DEMO_LIBRARY, lib, { recursive: true });
    return { dir, lib, corpus: null };
  }
  execFileSync(pairlabBin(), ["--library", lib, "demo", "--dir", join(dir, "corpus")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { dir, lib, corpus: join(dir, "corpus") };
}

/** Starts `pairlab serve` on a free loopback port; resolves to {url, stop}. */
export function serve(lib) {
  const child = spawn(
    pairlabBin(),
    ["--library", lib, "serve", "--port", "0", "--ui", join(ROOT, "ui", "dist")],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`serve did not start: ${out}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/at (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) {
        clearTimeout(timer);
        ok({ url: m[1], stop: () => child.kill("SIGINT") });
      }
    });
    child.on("exit", (code) => fail(new Error(`serve exited (${code}): ${out}`)));
  });
}

/** Named steps: each passes or fails on its own; a failed step skips the rest. */
export class Steps {
  constructor(suite) {
    this.suite = suite;
    this.passed = 0;
    this.failed = 0;
    this.broken = false;
  }

  async step(name, fn) {
    if (this.broken) {
      console.log(`test ${this.suite}::${name} ... skipped`);
      return;
    }
    const t = Date.now();
    try {
      await fn();
      this.passed++;
      console.log(`test ${this.suite}::${name} ... ok (${Date.now() - t} ms)`);
    } catch (e) {
      this.failed++;
      this.broken = true;
      console.log(`test ${this.suite}::${name} ... FAILED\n${e.stack || e}`);
    }
  }

  /** Prints a cargo-like summary line and sets the exit code. */
  finish() {
    const status = this.failed === 0 ? "ok" : "FAILED";
    console.log(`test result: ${status}. ${this.passed} passed; ${this.failed} failed`);
    process.exitCode = this.failed === 0 ? 0 : 1;
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

/** Waits until `check()` (awaited, run here in node) answers true, polling every 100 ms;
 *  throws with `what` after `timeout` ms. (Playwright's waitForFunction does not await an
 *  async predicate: its promise is truthy, so it would return at once.) */
export async function until(check, what, timeout = 15000) {
  const end = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

export function assertEq(a, b, message) {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${message}: ${ja} != ${jb}`);
}

/** The serious and critical accessibility violations axe-core finds on the page (WCAG 2.1
 *  A and AA rules), as "rule: what (selector)" lines. */
export async function axeViolations(page) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${v.help} (${n.target.join(" ")}) ${n.failureSummary ?? ""}`));
}
