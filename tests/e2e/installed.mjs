// The desktop app a Debian package installed, started the way a new user starts it: the
// program its desktop entry runs (APP), under Xvfb, with an empty home folder (HOME) and no
// PAIRLAB_LIBRARY. It must open a library in the platform data folder on the first-run
// screen, open the demo from there (written, indexed, pre-labelled, split and trained in
// the library), show the demo's pairs, and name the package's version and commit in
// About (EXPECT_VERSION, EXPECT_COMMIT). Screenshots go to target/e2e/package (SHOTS names
// the folder). With CHROOT set, the app runs inside that root (a clean Debian where only the
// package and a WebDriver are installed): tauri-driver starts there, APP and HOME are paths
// inside it. Run by tests/package/run.sh, which installs the package first.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Steps, assert, assertEq, outDir } from "./harness.mjs";
import { openWindow, sleep } from "./tauri.mjs";

const steps = new Steps("e2e_installed");
const shots = outDir(process.env.SHOTS || "package");
const chroot = process.env.CHROOT || "";
const app = process.env.APP;
const home = process.env.HOME;
// A path inside the machine the app runs on, as this process sees it.
const outside = (p) => (chroot ? join(chroot, p) : p);
const driverCmd = chroot ? ["chroot", chroot, "/usr/local/bin/tauri-driver"] : ["tauri-driver"];
const env = { ...process.env };
delete env.PAIRLAB_LIBRARY;
delete env.XDG_DATA_HOME;
let w = null;

const text = (testid) =>
  w.run(`const e = document.querySelector('[data-testid="${testid}"]'); return e ? e.textContent : null;`);

try {
  await steps.step("the_installed_app_opens_a_new_library_on_the_first_run_screen", async () => {
    assert(app && existsSync(outside(app)), `the desktop entry's program is installed: ${app}`);
    w = await openWindow(app, env, shots, driverCmd);
    await w.waitFor('[data-testid="first-run"]');
    await w.waitFor('[data-testid="view-library"]');
    const library = join(home, ".local", "share", "pairlab");
    assert(existsSync(outside(join(library, "pairlab.db"))), `a library in the platform data folder ${library}`);
    await w.screenshot("first-run.png");
  });

  await steps.step("open_the_demo_from_the_first_run_screen", async () => {
    await w.click(await w.waitFor('[data-testid="first-run-demo"]'));
    await w.waitFor('[data-testid="job-progress"]');
    // Writing, indexing, pre-labelling, splitting and training take a minute or two.
    const end = Date.now() + 600_000;
    for (;;) {
      const state = await w.run(
        "const f = document.querySelector('[data-testid=\"first-run\"]');" +
          "const e = document.querySelector('[data-testid=\"first-run-error\"]');" +
          "return f ? (e ? 'error: ' + e.textContent : 'running') : 'gone';",
      );
      if (state === "gone") break;
      assert(!state.startsWith("error"), `the demo job failed: ${state}`);
      assert(Date.now() < end, "the demo did not finish in 10 minutes");
      await sleep(1000);
    }
    await w.waitFor('[data-testid="corpus-row"]');
    const stats = await text("stats");
    assert(/[1-9]/.test(stats ?? ""), `the top bar counts the demo's pairs: ${stats}`);
    await w.screenshot("library.png");
  });

  await steps.step("the_demo_pairs_show_in_browse", async () => {
    await w.run("location.hash = '#/browse';");
    await w.waitFor('[data-testid="cell"]');
    await sleep(1000);
    await w.screenshot("browse.png");
  });

  await steps.step("about_names_the_package_version_and_commit", async () => {
    await w.click(await w.waitFor('[data-testid="nav-about"]'));
    await w.waitFor('[data-testid="about-commit"]');
    assertEq(
      [await text("about-version"), await text("about-commit")],
      [process.env.EXPECT_VERSION, process.env.EXPECT_COMMIT],
      "About",
    );
    await w.screenshot("about.png");
  });
} finally {
  await w?.close();
  steps.finish();
}
