// Driving a real Tauri window: tauri-driver (on port 4444) drives WebKitWebDriver, which
// starts the app. Shared by window.mjs (the built app on a demo library) and installed.mjs
// (the app a Debian package installed, as a new user starts it).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const DRIVER = "http://127.0.0.1:4444";
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/**
 * Starts tauri-driver with `env` (the app inherits it) and opens a window of `app`; a failed
 * wait saves `failure.png` in `shots`. Call `close()` at the end. `driver` is the command
 * that starts tauri-driver (e.g. `["chroot", DIR, "/usr/local/bin/tauri-driver"]`).
 */
export async function openWindow(app, env, shots, driverCmd = ["tauri-driver"]) {
  // Its own process group: closing stops it and the WebKitWebDriver it started (which
  // would otherwise keep port 4445, and this process's output, after it).
  const driver = spawn(driverCmd[0], [...driverCmd.slice(1), "--port", "4444"], {
    env,
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
  });
  const exited = new Promise((r) => driver.once("exit", r));
  let session = "";
  const s = (path) => `/session/${session}${path}`;
  const w = {
    wd,
    s,
    run: (script, ...args) => wd("POST", s("/execute/sync"), { script, args }),
    runAsync: (script, ...args) => wd("POST", s("/execute/async"), { script, args }),
    /** The element matching `css` once there is one. */
    async waitFor(css, timeout = 30000) {
      const end = Date.now() + timeout;
      for (;;) {
        try {
          const el = await wd("POST", s("/element"), { using: "css selector", value: css });
          return el[ELEMENT];
        } catch (e) {
          if (Date.now() > end) {
            const src = await wd("GET", s("/source")).catch((e) => String(e));
            await w.screenshot("failure.png").catch(() => {});
            throw new Error(`no ${css} after ${timeout} ms; the page:\n${String(src).slice(0, 3000)}`);
          }
          await sleep(250);
        }
      }
    },
    click: (el) => wd("POST", s(`/element/${el}/click`), {}),
    type: (el, text) => wd("POST", s(`/element/${el}/value`), { text }),
    async screenshot(name) {
      const png = await wd("GET", s("/screenshot"));
      writeFileSync(join(shots, name), Buffer.from(png, "base64"));
    },
    async close() {
      if (session) await wd("DELETE", s("")).catch(() => {});
      session = "";
      try {
        process.kill(-driver.pid, "SIGTERM");
      } catch {
        // Gone already.
      }
      await Promise.race([exited, sleep(5000)]);
    },
  };
  try {
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
  } catch (e) {
    await w.close();
    throw e;
  }
  return w;
}
