// The real Tauri window, headless: run under Xvfb (`xvfb-run`), tauri-driver drives
// WebKitWebDriver, which starts `pairlab-app` on a demo library. The test opens a sample,
// labels one class with a click and a key, reads the label back through the window's own
// invoke transport and from the library file with the CLI, and saves a screenshot.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Steps, assert, assertEq, demoLibrary, outDir, pairlabBin } from "./harness.mjs";
import { openWindow, sleep } from "./tauri.mjs";

const steps = new Steps("e2e_window");
const shots = outDir("window");
const app = join(pairlabBin(), "..", "pairlab-app");
const demo = demoLibrary();
let w = null;

/** The human value of a class of a pair, through the window's own transport. */
const invokedValue = async (pair, cls) => {
  const labels = await w.runAsync(
    "const done = arguments[arguments.length - 1];" +
      "window.__TAURI__.core.invoke('labels', {args: {id: arguments[0]}}).then(done, (e) => done({error: e}));",
    pair,
  );
  assert(Array.isArray(labels), `labels: ${JSON.stringify(labels)}`);
  const l = labels.find((x) => x.class === cls && x.source === "human");
  return l ? l.value : null;
};

try {
  await steps.step("the_window_opens_on_the_library", async () => {
    w = await openWindow(app, { ...process.env, PAIRLAB_LIBRARY: demo.lib }, shots);
    await w.waitFor('[data-testid="stats"]');
    const text = await w.run("return document.querySelector('[data-testid=\"stats\"]').textContent;");
    assert(/\d/.test(text), `the top bar shows the library's counts: ${text}`);
  });

  await steps.step("label_one_sample_and_read_it_back", async () => {
    // The webview keeps its storage between runs on one machine: start without a chosen
    // annotator name, as a fresh install does.
    await w.run("localStorage.clear(); location.hash = '#/sample/1'; location.reload();");
    await sleep(500);
    await w.waitFor('[data-testid="sample"][data-pair="1"]');
    await w.waitFor('[data-testid="sample-image"]');
    const btn = await w.waitFor(
      '[data-testid="class-row"][data-class="Edema"] [data-testid="label-btn"][data-value="1"]',
    );
    await w.click(btn);
    // The first label asks whose labels these are (no user accounts), then lands.
    const name = await w.waitFor('[data-testid="annotator-prompt-name"]');
    await w.type(name, "window-reader\uE007");
    await w.waitFor('[data-testid="class-row"][data-class="Edema"][data-value="1"]');
    assertEq(await invokedValue(1, "Edema"), 1, "the click wrote a human label");
    // And from the keyboard: row 6 (Edema), `n` negative.
    const body = await w.waitFor("body");
    await w.type(body, "6n");
    await w.waitFor('[data-testid="class-row"][data-class="Edema"][data-value="0"]');
    assertEq(await invokedValue(1, "Edema"), 0, "the keys wrote a human label");
    const shown = JSON.parse(
      execFileSync(pairlabBin(), ["--library", demo.lib, "label", "show", "1", "--json"], { encoding: "utf8" }),
    );
    const rows = Array.isArray(shown) ? shown : shown.labels ?? [];
    const edema = rows.find((l) => l.class === "Edema" && l.source === "human");
    assertEq(edema && edema.value, 0, "the library file holds the label");
  });

  await steps.step("about_names_the_version_and_commit_of_the_build", async () => {
    // The CLI beside the app was built from the same checkout: `pairlab 0.1.0 (commit abc…)`.
    const [, version, commit] = execFileSync(pairlabBin(), ["--version"], { encoding: "utf8" })
      .trim()
      .match(/^pairlab (\S+) \(commit (\S+)\)$/);
    await w.click(await w.waitFor('[data-testid="nav-about"]'));
    await w.waitFor('[data-testid="about-commit"]');
    const about = await w.run(
      "return [document.querySelector('[data-testid=\"about-version\"]').textContent, document.querySelector('[data-testid=\"about-commit\"]').textContent];",
    );
    assertEq(about, [version, commit], "About shows what --version says");
    await w.type(await w.waitFor("body"), "\uE00C");
  });

  await steps.step("screenshot_of_the_window", async () => {
    await sleep(500);
    await w.screenshot("sample.png");
  });

  await steps.step("a_library_that_cannot_open_is_said_in_the_window", async () => {
    // Started from a desktop menu there is no terminal: the window itself says what is wrong.
    await w.close();
    const bad = join(demo.dir, "a-file-not-a-folder");
    writeFileSync(bad, "not a library");
    w = await openWindow(app, { ...process.env, PAIRLAB_LIBRARY: bad }, shots);
    await w.waitFor('[data-testid="toast-error"]');
    const said = await w.run(
      "return [...document.querySelectorAll('[data-testid=\"toast-error\"]')].map((t) => t.textContent).join(' | ');",
    );
    assert(said.includes(bad), `an error toast names the library: ${said}`);
    await w.screenshot("library-error.png");
  });
} finally {
  await w?.close();
  steps.finish();
}
