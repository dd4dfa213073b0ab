// The real Tauri window, headless: run under Xvfb (`xvfb-run`), tauri-driver drives
// WebKitWebDriver, which starts `pairlab-app` on a demo library. The test opens a sample,
// labels one class with a click and a key, reads the label back through the window's own
// invoke transport and from the library file with the CLI, and saves a screenshot.
import { spawn, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Steps, assert, assertEq, demoLibrary, outDir, pairlabBin } from "./harness.mjs";

const steps = new Steps("e2e_window");
const shots = outDir("window");
const app = join(pairlabBin(), "..", "pairlab-app");
const demo = demoLibrary();
const DRIVER = "http://127.0.0.1:4444";
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

const driver = spawn("tauri-driver", ["--port", "4444"], {
  env: { ...process.env, PAIRLAB_LIBRARY: demo.lib },
  stdio: ["ignore", "inherit", "inherit"],
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function wd(method, path, body) {
  const res = await fetch(`${DRIVER}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

let session = "";
const s = (path) => `/session/${session}${path}`;
const run = (script, ...args) => wd("POST", s("/execute/sync"), { script, args });
const runAsync = (script, ...args) => wd("POST", s("/execute/async"), { script, args });

async function waitFor(css, timeout = 30000) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      const el = await wd("POST", s("/element"), { using: "css selector", value: css });
      return el[ELEMENT];
    } catch (e) {
      if (Date.now() > end) {
        const src = await wd("GET", s("/source")).catch((e) => String(e));
        const png = await wd("GET", s("/screenshot")).catch(() => "");
        if (png) writeFileSync(join(shots, "failure.png"), Buffer.from(png, "base64"));
        throw new Error(`no ${css} after ${timeout} ms; the page:\n${String(src).slice(0, 3000)}`);
      }
      await sleep(250);
    }
  }
}

/** The human value of a class of a pair, through the window's own transport. */
const invokedValue = async (pair, cls) => {
  const labels = await runAsync(
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
    for (let k = 0; ; k++) {
      try {
        await wd("GET", "/status");
        break;
      } catch (e) {
        if (k > 40) throw new Error("tauri-driver did not start");
        await sleep(250);
      }
    }
    const created = await wd("POST", "/session", {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: app } } },
    });
    session = created.sessionId;
    await waitFor('[data-testid="stats"]');
    const text = await run("return document.querySelector('[data-testid=\"stats\"]').textContent;");
    assert(/\d/.test(text), `the top bar shows the library's counts: ${text}`);
  });

  await steps.step("label_one_sample_and_read_it_back", async () => {
    // The webview keeps its storage between runs on one machine: start without a chosen
    // annotator name, as a fresh install does.
    await run("localStorage.clear(); location.hash = '#/sample/1'; location.reload();");
    await sleep(500);
    await waitFor('[data-testid="sample"][data-pair="1"]');
    await waitFor('[data-testid="sample-image"]');
    const btn = await waitFor(
      '[data-testid="class-row"][data-class="Edema"] [data-testid="label-btn"][data-value="1"]',
    );
    await wd("POST", s(`/element/${btn}/click`), {});
    // The first label asks whose labels these are (no user accounts), then lands.
    const name = await waitFor('[data-testid="annotator-prompt-name"]');
    await wd("POST", s(`/element/${name}/value`), { text: "window-reader\uE007" });
    await waitFor('[data-testid="class-row"][data-class="Edema"][data-value="1"]');
    assertEq(await invokedValue(1, "Edema"), 1, "the click wrote a human label");
    // And from the keyboard: row 6 (Edema), `n` negative.
    const body = await waitFor("body");
    await wd("POST", s(`/element/${body}/value`), { text: "6n" });
    await waitFor('[data-testid="class-row"][data-class="Edema"][data-value="0"]');
    assertEq(await invokedValue(1, "Edema"), 0, "the keys wrote a human label");
    const shown = JSON.parse(
      execFileSync(pairlabBin(), ["--library", demo.lib, "label", "show", "1", "--json"], { encoding: "utf8" }),
    );
    const rows = Array.isArray(shown) ? shown : shown.labels ?? [];
    const edema = rows.find((l) => l.class === "Edema" && l.source === "human");
    assertEq(edema && edema.value, 0, "the library file holds the label");
  });

  await steps.step("screenshot_of_the_window", async () => {
    await sleep(500);
    const png = await wd("GET", s("/screenshot"));
    writeFileSync(join(shots, "sample.png"), Buffer.from(png, "base64"));
  });
} finally {
  if (session) await wd("DELETE", s("")).catch(() => {});
  driver.kill();
  steps.finish();
}
