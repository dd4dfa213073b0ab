// End to end in a real browser: Debian's chromium (playwright-core) against `pairlab serve`
// on the demo corpus. Browse, filter, open a sample, label with keys, undo, start a
// training run and see it finish, open the confusion matrix, click a cell, see the
// misclassified samples. Screenshots of each view go to target/e2e/browser/.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CHROMIUM_ARGS, ROOT, Steps, assert, assertEq, axeViolations, chromium, demoLibrary, outDir, pairlabBin, serve, until,
} from "./harness.mjs";
import * as curation from "./curation.mjs";

const steps = new Steps("e2e_browser");
const shots = outDir("browser");
const demo = demoLibrary();
const server = await serve(demo.lib);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
const problems = [];
page.on("pageerror", (e) => { problems.push(`page error: ${e.message}`); console.error("PAGEERROR", page.url(), e.stack); });
page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));

const api = async (path, body) => {
  const res = await fetch(new URL(path, server.url), body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  assert(res.ok, `${path}: HTTP ${res.status}`);
  return res.json();
};
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`) });
const cellIds = () => page.$$eval('[data-testid="cell"]', (cs) => cs.map((c) => Number(c.dataset.pair)));
const humanValue = async (pair, cls) => {
  const labels = await api(`/api/pairs/${pair}/labels`);
  const l = labels.find((x) => x.class === cls && x.source === "human");
  return l ? l.value : null;
};

// What the curation steps (curation.mjs) share with these.
const cx = { page, server, api, shot, cellIds, humanValue, shots };

try {
  await steps.step("browse_shows_the_grid", async () => {
    await page.goto(`${server.url}#/browse`);
    await page.waitForSelector('[data-testid="cell"] img');
    const ids = await cellIds();
    const first = await api("/api/browse", { limit: 5 });
    assertEq(ids.slice(0, 5), first.rows.map((r) => r.id), "the grid starts with the first pairs");
    // More pairs than one page: the total comes from the count route, not "100+".
    const total = await api("/api/browse/count", {});
    assert(total > 100, `the demo has more than a page of pairs: ${total}`);
    await page.waitForFunction(
      (t) => document.querySelector('[data-testid="result-count"]')?.textContent.includes(t),
      `${total.toLocaleString("en-US")} pairs`,
    );
    await shot("browse");
  });

  let filtered = [];
  await steps.step("filters_narrow_the_grid_like_the_api", async () => {
    await page.selectOption('[data-testid="filter-split"]', "demo-by-patient");
    await page.selectOption('[data-testid="filter-part"]', "test");
    await page.selectOption('[data-testid="filter-schema"]', "chexpert");
    await page.selectOption('[data-testid="filter-class"]', "Cardiomegaly");
    await page.selectOption('[data-testid="filter-value"]', "1");
    const filter = { split: "demo-by-patient", part: "test", schema: "chexpert", class: "Cardiomegaly", value: "1" };
    const want = await api("/api/browse", { filter, limit: 1000 });
    assert(want.rows.length > 0, "the demo has test-part cardiomegaly positives");
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="cell"]').length === n, want.rows.length,
    );
    filtered = await cellIds();
    assertEq(filtered, want.rows.map((r) => r.id), "the filtered grid");
    assert(page.url().includes("Cardiomegaly"), "filters live in the URL");
    await shot("browse-filtered");
  });

  let pair = 0;
  await steps.step("open_a_sample_from_the_grid", async () => {
    await page.click('[data-testid="cell"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector('[data-testid="sample"]');
    pair = Number(await page.getAttribute('[data-testid="sample"]', "data-pair"));
    assertEq(pair, filtered[0], "the first filtered pair opens");
    await page.waitForSelector('[data-testid="sample-image"]');
    await page.waitForSelector('[data-testid="evidence"]');
    await shot("sample");
  });

  await steps.step("label_with_keys_then_undo_and_redo", async () => {
    const before = await humanValue(pair, "Edema");
    // Class row 6 is Edema in the CheXpert schema; `u` sets it uncertain. The first label
    // asks whose labels these are (no user accounts here), then lands.
    await page.keyboard.press("6");
    await page.keyboard.press("u");
    await page.waitForSelector('[data-testid="annotator-prompt"]');
    assertEq(await humanValue(pair, "Edema"), before, "nothing written before the name is given");
    await page.fill('[data-testid="annotator-prompt-name"]', "e2e-reader");
    await page.keyboard.press("Enter");
    await page.waitForSelector('[data-testid="class-row"][data-class="Edema"][data-value="-1"]');
    const labelled = (await api(`/api/pairs/${pair}/labels`)).find((x) => x.class === "Edema" && x.source === "human");
    assertEq(labelled.annotator, "e2e-reader", "the label carries the chosen name");
    assertEq(await humanValue(pair, "Edema"), -1, "the key wrote a human label");
    await page.keyboard.press("Control+z");
    await page.waitForFunction(
      () => document.querySelector('[data-testid="class-row"][data-class="Edema"]')?.dataset.value !== "-1",
    );
    assertEq(await humanValue(pair, "Edema"), before, "undo restored the label");
    await page.keyboard.press("Control+y");
    await page.waitForSelector('[data-testid="class-row"][data-class="Edema"][data-value="-1"]');
    assertEq(await humanValue(pair, "Edema"), -1, "redo set it again");
    const history = await api(`/api/pairs/${pair}/history`);
    assertEq(history.slice(-3).map((e) => e.kind), ["set", "undo", "redo"], "the audit trail");
    await page.click('[data-testid="history-toggle"]');
    await page.waitForSelector('[data-testid="history-event"]');
    await shot("sample-labelled");
  });

  await steps.step("next_pair_follows_the_filtered_grid", async () => {
    assert(filtered.length >= 2, `the filter leaves at least two pairs: ${filtered.length}`);
    await page.keyboard.press("j");
    await page.waitForSelector(`[data-testid="sample"][data-pair="${filtered[1]}"]`);
  });

  await steps.step("help_overlay_lists_the_shortcuts", async () => {
    await page.keyboard.press("?");
    await page.waitForSelector('[data-testid="help-overlay"]');
    const text = await page.textContent('[data-testid="help-overlay"]');
    for (const words of ["Undo", "Redo", "positive"]) {
      assert(text.toLowerCase().includes(words.toLowerCase()), `help mentions ${words}`);
    }
    await shot("help");
    await page.keyboard.press("Escape");
    await page.waitForSelector('[data-testid="help-overlay"]', { state: "detached" });
  });

  await steps.step("review_status_is_one_definition_and_accepting_is_an_act", async () => {
    const pair = Number(await page.getAttribute('[data-testid="sample"]', "data-pair"));
    const badge = () => page.textContent('[data-testid="review-status"]');
    const status = async () => (await api(`/api/pairs/${pair}/review`)).status;
    const shown = async (want) => {
      await page.waitForFunction(
        (w) => document.querySelector('[data-testid="review-status"]')?.textContent.trim() === w, want,
      );
      assertEq(await status(), want, "the badge and the API agree");
    };
    // The demo's reports are labelled by the rules: the pair starts pre-labelled.
    await shown("pre-labelled");
    // Labelling a class by hand is not accepting the pair.
    await page.keyboard.press("3");
    await page.keyboard.press("n");
    await shown("labelled");
    assertEq(await page.getAttribute('[data-testid="review-accepted"]', "aria-pressed"), "false", "Accept is not lit");
    await page.keyboard.press("Shift+A");
    await shown("accepted");
    assertEq(await page.getAttribute('[data-testid="review-accepted"]', "aria-pressed"), "true", "Accept is lit");
    const accepted = await api("/api/browse", { filter: { review: "accepted" }, limit: 1000 });
    assert(accepted.rows.some((r) => r.id === pair), "the accepted filter finds the pair");
    // Accepting again takes the decision back.
    await page.keyboard.press("Shift+A");
    await shown("labelled");
    // The Browse filter counts the same states: every pre-labelled pair of the demo.
    const pre = await api("/api/browse/count", { filter: { review: "pre-labelled" } });
    assert(pre > 100, `the demo has many pre-labelled pairs: ${pre}`);
    await page.goto(`${server.url}#/browse?review=pre-labelled`);
    await page.waitForFunction(
      (t) => document.querySelector('[data-testid="result-count"]')?.textContent.includes(t),
      `${pre.toLocaleString("en-US")} pairs`,
    );
    await shot("browse-pre-labelled");
  });

  await steps.step("every_class_view_and_image_tool_on_the_keyboard", async () => {
    // A pair whose study has other images, for [ and ].
    let pair = null;
    for (let id = 1; id <= 200 && !pair; id++) {
      const p = await api(`/api/pairs/${id}`);
      if (p.study_pairs.length > 0 && p.report) pair = p;
    }
    assert(pair, "the demo has a study with several images");
    await page.goto(`${server.url}#/sample/${pair.id}`);
    await page.waitForSelector(`[data-testid="sample"][data-pair="${pair.id}"] [data-testid="sample-image"]`);
    // Classes 11-14 of CheXpert are on Shift and a digit: Shift+4 is Support Devices.
    await page.keyboard.press("Shift+Digit4");
    await page.keyboard.press("p");
    await page.waitForSelector('[data-testid="class-row"][data-class="Support Devices"][data-value="1"][data-source="human"]');
    await page.keyboard.press("Shift+Digit1");
    await page.keyboard.press("n");
    await page.waitForSelector('[data-testid="class-row"][data-class="Pleural Effusion"][data-value="0"][data-source="human"]');
    assertEq(await humanValue(pair.id, "Support Devices"), 1, "Shift+4 reached Support Devices");
    // Window/level presets, pan, and the evidence as a list without a mouse.
    const preset = () => page.$eval('[data-testid="window-preset"]', (s) => s.selectedOptions[0].textContent);
    assertEq(await preset(), "Full range", "the first preset");
    await page.keyboard.press("w");
    assert((await preset()).startsWith("Lungs"), "w steps to the next preset");
    const transform = () => page.$eval('[data-testid="sample-image"]', (i) => i.style.transform);
    const before = await transform();
    await page.keyboard.press("Shift+ArrowLeft");
    assert((await transform()) !== before, "Shift+arrow pans the image");
    if (await page.$('[data-testid="evidence"]')) {
      await page.keyboard.press("e");
      await page.waitForSelector('[data-testid="evidence-list"] li');
    }
    await shot("sample-keyboard");
    // ] and [ walk the study's images.
    const study = [pair.id, ...pair.study_pairs].sort((a, b) => a - b);
    const at = study.indexOf(pair.id);
    const [key, other] = at + 1 < study.length ? ["]", study[at + 1]] : ["[", study[at - 1]];
    await page.keyboard.press(key);
    await page.waitForSelector(`[data-testid="sample"][data-pair="${other}"]`);
    // g then a letter switches views.
    await page.keyboard.press("g");
    await page.keyboard.press("t");
    await page.waitForSelector('[data-testid="view-train"]');
    await page.keyboard.press("g");
    await page.keyboard.press("l");
    await page.waitForSelector('[data-testid="view-library"]');
  });

  await steps.step("browse_grid_takes_real_focus", async () => {
    await page.goto(`${server.url}#/browse`);
    await page.waitForSelector('[data-testid="cell"] img');
    await page.focus('[data-testid="cell"][data-index="0"]');
    await page.keyboard.press("ArrowRight");
    await page.waitForFunction(() => document.activeElement?.dataset?.index === "1");
    assertEq(await page.evaluate(() => document.activeElement.getAttribute("role")), "option", "a cell has focus");
    assertEq(await page.evaluate(() => document.activeElement.tabIndex), 0, "the focused cell is the tab stop");
    await page.keyboard.press("ArrowLeft");
    await page.waitForFunction(() => document.activeElement?.dataset?.index === "0");
  });

  let run = 0;
  await steps.step("start_a_training_run_and_see_it_finish", async () => {
    const before = new Set((await api("/api/runs")).map((r) => r.run_id));
    await page.goto(`${server.url}#/train`);
    await page.waitForSelector('[data-testid="train-form"]');
    await page.selectOption('[data-testid="train-split"]', "demo-by-patient");
    await page.fill('[data-testid="train-epochs"]', "4");
    await shot("train-form");
    await page.click('[data-testid="train-start"]');
    await page.waitForSelector('[data-testid="train-status"][data-status="running"]', { timeout: 30000 });
    await page.waitForSelector('[data-testid="train-status"][data-status="done"]', { timeout: 300000 });
    const runs = await api("/api/runs");
    const fresh = runs.filter((r) => !before.has(r.run_id));
    assertEq(fresh.length, 1, "one new run");
    run = fresh[0].run_id;
    assertEq(fresh[0].status, "done", "the run finished");
    assertEq(fresh[0].epochs > 0, true, "it trained some epochs");
    await page.waitForSelector(`[data-testid="train-curves"][data-run="${run}"]`);
    await shot("train-done");
  });

  await steps.step("open_the_confusion_matrix_and_a_cell", async () => {
    await page.click('[data-testid="train-evaluate-link"]');
    await page.waitForSelector('[data-testid="confusion-matrix"]');
    assert(page.url().includes(`#/evaluate/${run}`), `the link opens run ${run}: ${page.url()}`);
    await page.waitForSelector('[data-testid="eval-metrics"]');
    await shot("evaluate");
    // The first off-diagonal cell with samples: a real mistake of the model.
    const cells = await page.$$eval('[data-testid="cm-cell"]', (cs) =>
      cs.map((c) => c.dataset.true !== c.dataset.pred && Number(c.dataset.count) > 0));
    const k = cells.indexOf(true);
    assert(k >= 0, "the run makes mistakes on the test part");
    const cell = page.locator('[data-testid="cm-cell"]').nth(k);
    const [cls, truth, pred, count] = await Promise.all(
      ["data-class", "data-true", "data-pred", "data-count"].map((a) => cell.getAttribute(a)),
    );
    const at = async () => { const b = await cell.boundingBox(); return [Math.round(b.x), Math.round(b.y)]; };
    const before = await at();
    await cell.click();
    await page.waitForSelector('[data-testid="misclassified-item"]');
    await page.waitForTimeout(300); // the drawer's slide-in
    assertEq(await at(), before, "opening the cell does not move the matrix");
    const shown = await page.$$eval('[data-testid="misclassified-item"]', (xs) => xs.map((x) => Number(x.dataset.pair)));
    const query = new URLSearchParams({ part: "test", true: truth, pred });
    if (cls) query.set("class", cls);
    const want = await api(`/api/runs/${run}/misclassified?${query}`);
    assertEq(shown, want.map((m) => m.pair), "the cell's samples");
    assertEq(shown.length, Number(count), "as many samples as the cell counts");
    await shot("evaluate-cell");
    assert(page.url().includes("cell="), `the open cell is in the URL: ${page.url()}`);

    // From the cell to its samples and back: the Sample view shows the run's prediction
    // beside the labels, j / k stay within the cell's samples, Back returns to the drawer.
    await page.click(`[data-testid="misclassified-item"][data-pair="${shown[0]}"]`);
    await page.waitForSelector(`[data-testid="sample"][data-pair="${shown[0]}"]`);
    await page.waitForSelector('[data-testid="prediction"]');
    const predicted = await api(`/api/pairs/${shown[0]}/prediction?run=${run}`);
    if (cls) {
      const p = predicted.classes.find((c) => c.class === cls);
      assertEq(await page.getAttribute(`[data-testid="prediction"][data-class="${cls}"]`, "data-predicted"),
        p.predicted ? "1" : "0", "the shown prediction is the run's");
      assertEq(p.predicted ? "1" : "0", pred, "the cell's prediction");
    }
    assertEq(await page.textContent('[data-testid="position"]'), `1 of ${shown.length}`, "the position in the cell's list");
    await shot("sample-from-cell");
    if (shown.length > 1) {
      await page.keyboard.press("j");
      await page.waitForSelector(`[data-testid="sample"][data-pair="${shown[1]}"]`);
      await page.keyboard.press("k");
      await page.waitForSelector(`[data-testid="sample"][data-pair="${shown[0]}"]`);
    }
    await page.keyboard.press("k");
    await page.waitForFunction(() => document.body.textContent.includes("This is the first pair"));
    assertEq(Number(await page.getAttribute('[data-testid="sample"]', "data-pair")), shown[0], "k stays in the list");
    await page.keyboard.press("Escape");
    await page.waitForSelector('[data-testid="misclassified-item"]');
    assert(page.url().includes(`#/evaluate/${run}`), `Esc returns to the cell: ${page.url()}`);
    await page.goBack();
    await page.waitForSelector(`[data-testid="sample"][data-pair="${shown[0]}"]`);
    await page.goBack();
    await page.waitForSelector('[data-testid="misclassified-item"]');

    await page.click('[data-testid="misclassified-open-grid"]');
    await page.waitForSelector('[data-testid="cell"]');
    const grid = await cellIds();
    assertEq([...grid].sort((a, b) => a - b), [...shown].sort((a, b) => a - b), "the grid shows those samples");
  });

  await steps.step("browse_by_disagreement_with_a_run_with_badges_and_sizes", async () => {
    // Where the run's prediction is furthest from the labels, worst first, scores on the cells.
    await page.goto(`${server.url}#/browse?sort=disagreement&run=${run}`);
    await page.waitForSelector('[data-testid="cell-score"]');
    const want = await api("/api/browse", { sort: { by: "disagreement", run }, limit: 8 });
    assert(want.rows.length > 0 && want.rows.every((r) => r.score !== null), "scored rows");
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="cell"]').length >= n, want.rows.length);
    assertEq((await cellIds()).slice(0, want.rows.length), want.rows.map((r) => r.id), "the grid's order");
    const scores = await page.$$eval('[data-testid="cell-score"]', (xs) => xs.map((x) => Number(x.textContent)));
    assertEq(scores.slice(0, want.rows.length), want.rows.map((r) => Number(r.score.toFixed(2))), "the scores shown");
    // Only where the run disagrees with a label.
    await page.selectOption('[data-testid="filter-disagrees"]', String(run));
    const n = await api("/api/browse/count", { filter: { disagrees: run } });
    assert(n > 0, "the run disagrees with some labels");
    await page.waitForFunction(
      (t) => document.querySelector('[data-testid="result-count"]')?.textContent.includes(t), `${n.toLocaleString("en-US")} pair`,
    );
    // Label badges: the first row's current positive and uncertain labels, human or machine.
    const first = (await api("/api/browse", { filter: { disagrees: run }, sort: { by: "disagreement", run }, limit: 1 })).rows[0];
    const chips = await page.$$eval(`[data-testid="cell"][data-pair="${first.id}"] [data-testid="cell-labels"] .chip:not(.more)`,
      (xs) => xs.map((x) => [x.dataset.class, x.dataset.human === "1"]));
    assertEq(chips, first.labels.slice(0, 3).map((l) => [l.class, l.human]), "the badges");
    await shot("browse-disagreement");
    // Thumbnail size.
    const w = () => page.$eval('[data-testid="cell"]', (c) => c.getBoundingClientRect().width);
    const medium = await w();
    await page.selectOption('[data-testid="thumb-size"]', "large");
    await page.waitForFunction((m) => document.querySelector('[data-testid="cell"]').getBoundingClientRect().width > m + 40, medium);
    await page.selectOption('[data-testid="thumb-size"]', "medium");
  });

  await steps.step("find_label_errors_then_review_them_with_keys", () => curation.findAndReviewLabelErrors(cx));

  await steps.step("label_next_walks_the_uncertain_unlabelled_pairs", () => curation.labelNext(cx, pair));

  await steps.step("fine_tune_a_backbone_register_it_and_evaluate_it", async () => {
    // A small torchxrayvision DenseNet saved whole by torch.save (committed, random weights).
    const ckpt = join(ROOT, "tests/data/reference/checkpoints/xrv_tiny.pt");
    execFileSync(pairlabBin(), ["--library", demo.lib, "model", "add", ckpt, "--name", "xrv-tiny"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    const before = new Set((await api("/api/runs")).map((r) => r.run_id));
    await page.goto(`${server.url}#/train`);
    await page.reload();
    await page.waitForSelector('[data-testid="train-form"]');
    await page.click('[data-testid="train-trainer"] [data-value="finetune"]');
    await page.selectOption('[data-testid="train-model"]', "xrv-tiny");
    await page.selectOption('[data-testid="train-unfreeze"]', "all");
    await page.fill('[data-testid="train-size"]', "64");
    await page.fill('[data-testid="train-epochs"]', "2");
    // Memory and time are estimated before the run starts.
    const estimate = page.locator('[data-testid="train-estimate"][data-fits="yes"]');
    await estimate.waitFor({ timeout: 30000 });
    const said = await estimate.textContent();
    assert(said.includes("64 px") && said.includes("MiB") && said.includes("per epoch"), `the estimate: ${said}`);
    await shot("train-finetune-form");
    await page.click('[data-testid="train-start"]');
    await page.waitForSelector('[data-testid="train-status"][data-status="done"]', { timeout: 300000 });
    const fresh = (await api("/api/runs")).filter((r) => !before.has(r.run_id));
    assertEq(fresh.length, 1, "one new run");
    const run = fresh[0];
    assertEq([run.trainer, run.model, run.unfreeze, run.size, run.status], ["finetune", "xrv-tiny", "all", 64, "done"], "the fine-tuning run");
    // The runs table shows how it was tuned and registers the network as a model.
    const row = page.locator(`[data-testid="run-row"][data-run="${run.run_id}"]`);
    const tuning = await row.locator('[data-testid="run-tuning"]').textContent();
    assert(tuning.includes("all layers") && tuning.includes("64 px"), `the tuning column: ${tuning}`);
    await row.locator('[data-testid="run-register"]').click();
    await row.locator('[data-testid="run-registered"]').waitFor();
    const model = (await api("/api/models")).find((m) => m.from_run === run.run_id);
    assert(model && model.family === "densenet" && model.images, `run ${run.run_id} is an image model: ${JSON.stringify(model)}`);
    await shot("train-finetune-done");
    await page.goto(`${server.url}#/evaluate/${run.run_id}`);
    await page.waitForSelector('[data-testid="eval-metrics"]');
    await shot("evaluate-finetune");
  });

  await steps.step("train_a_fusion_run_and_see_its_ablation", async () => {
    // Image embeddings of the model registered from the fine-tuning run, the demo's reports
    // read by MiniLM, joined by attention.
    const image = (await api("/api/models")).find((m) => m.from_run != null && m.images);
    assert(image, "the fine-tuned model is registered");
    assert((await api("/api/models")).some((m) => m.name === "minilm"), "the demo registers MiniLM");
    const before = new Set((await api("/api/runs")).map((r) => r.run_id));
    await page.goto(`${server.url}#/train`);
    await page.reload();
    await page.waitForSelector('[data-testid="train-form"]');
    await page.click('[data-testid="train-inputs"] [data-value="both"]');
    assertEq(await page.locator('[data-testid="train-trainer"]').count(), 0, "no image trainers for both inputs");
    await page.selectOption('[data-testid="train-model"]', image.name);
    await page.selectOption('[data-testid="train-text-model"]', "minilm");
    await page.selectOption('[data-testid="train-fusion"]', "attention");
    await page.fill('[data-testid="train-epochs"]', "8");
    await shot("train-fusion-form");
    await page.click('[data-testid="train-start"]');
    await page.waitForSelector('[data-testid="train-status"][data-status="done"]', { timeout: 300000 });
    const fresh = (await api("/api/runs")).filter((r) => !before.has(r.run_id));
    assertEq(fresh.length, 1, "one new run");
    const run = fresh[0];
    assertEq([run.trainer, run.model, run.text_model, run.status], ["fusion", image.name, "minilm", "done"], "the fusion run");
    await page.goto(`${server.url}#/evaluate/${run.run_id}`);
    const table = page.locator('[data-testid="eval-ablation"] [data-testid="ablation-table"]');
    await table.waitFor({ timeout: 60000 });
    const heads = await table.locator("thead th").allTextContents();
    for (const h of ["Image only", "Report only", "Both"]) assert(heads.includes(h), `${h} in ${heads}`);
    // The table shows what the API computes for the test part.
    const report = await api(`/api/runs/${run.run_id}/eval?part=test`);
    assert(report.ablation, "the fusion run's evaluation has an ablation");
    const cells = await table.locator('tr[data-metric="macro_f1"] td').allTextContents();
    const want = ["image", "report", "both"].map((v) => report.ablation[v].macro_f1.toFixed(3));
    assertEq(cells.slice(1, 4), want, "macro F1 per view");
    const classes = await table.locator("tr.cls").count();
    assert(classes > 0, "a row per class");
    await shot("evaluate-fusion-ablation");
    // Pre-label from the run in the runs table; the Sample view then shows the report
    // tokens that weighed most in its positive labels.
    await page.goto(`${server.url}#/train`);
    const row = page.locator(`[data-testid="run-row"][data-run="${run.run_id}"]`);
    await row.locator('[data-testid="run-prelabel"]').click();
    // The call answers with a toast once every pair is pre-labelled.
    await page.waitForFunction((id) => document.body.textContent.includes(`pre-labelled from run ${id}`),
      run.run_id, { timeout: 60000 });
    let explained = null;
    for (let id = 1; id <= 60 && explained === null; id++) {
      const ev = await api(`/api/pairs/${id}/model-evidence?schema=chexpert`);
      if (ev.length) explained = { id, ev };
    }
    assert(explained, "some pre-labelled pair has token evidence");
    await page.goto(`${server.url}#/sample/${explained.id}`);
    assert(explained.ev.every((e) => e.rule.includes(`run ${run.run_id}`) && e.end > e.start), "evidence of this run");
    await page.waitForFunction((id) => [...document.querySelectorAll('[data-testid="evidence"]')]
      .some((m) => (m.getAttribute("title") || "").includes(`run ${id}`)), run.run_id, { timeout: 30000 });
    await shot("sample-fusion-evidence");
  });

  await steps.step("map_embeddings_lasso_to_browse_and_a_tag_100k_points_smooth", () => curation.mapLassoAndSpeed(cx));

  await steps.step("cancel_asks_first_and_says_what_was_kept", async () => {
    await page.goto(`${server.url}#/train`);
    await page.waitForSelector('[data-testid="train-form"]');
    await page.click('[data-testid="train-inputs"] [data-value="image"]');
    await page.click('[data-testid="train-trainer"] [data-value="cnn"]');
    await page.selectOption('[data-testid="train-split"]', "demo-by-patient");
    await page.fill('[data-testid="train-epochs"]', "100");
    await page.fill('[data-testid="train-size"]', "64");
    await page.click('[data-testid="train-start"]');
    // Once the first epoch is finished, the status and the chart say so together.
    await page.waitForFunction(() => /epoch 1 of 100 done|epoch [2-9]/.test(
      document.querySelector('[data-testid="train-epoch"]')?.textContent ?? ""), null, { timeout: 60000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-curves"]')?.dataset.epochs) >= 1,
      null, { timeout: 5000 });
    // A multi-label run shows its macro AUROC, not an accuracy over mostly negative entries.
    assert((await page.textContent('[data-testid="chart-score"]')).includes("val AUROC"), "the chart shows AUROC");
    await page.click('[data-testid="train-cancel"]');
    await page.waitForSelector('[data-testid="train-cancel-confirm"]');
    await page.click('[data-testid="train-cancel-keep"]');
    await page.waitForSelector('[data-testid="train-cancel"]');
    assertEq(await page.getAttribute('[data-testid="train-status"]', "data-status"), "running", "keep training keeps it");
    await page.click('[data-testid="train-cancel"]');
    await page.click('[data-testid="train-cancel-confirm"]');
    await page.waitForSelector('[data-testid="train-status"][data-status="cancelled"]', { timeout: 60000 });
    const id = Number(await page.getAttribute('[data-testid="train-status"]', "data-run"));
    const epochs = await api(`/api/runs/${id}/epochs`);
    assert(epochs.length >= 1, "the finished epochs are kept");
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="train-error"]')?.textContent.includes(`Cancelled after epoch ${n} of 100`),
      epochs.length,
    );
    const row = await page.textContent(`[data-testid="run-row"][data-run="${id}"]`);
    assert(row.includes(Math.min(...epochs.map((e) => e.val_loss)).toFixed(4)), `the row shows the lowest val loss: ${row}`);
    await shot("train-cancelled");
  });

  await steps.step("sample_says_where_it_sits_in_the_whole_result", async () => {
    // More pairs than one page: once Browse knows the total, Sample says "1 of <total>",
    // not "1 of 100+".
    const total = await api("/api/browse/count", {});
    await page.goto(`${server.url}#/browse`);
    await page.reload();
    await shot("browse-unfiltered");
    const shown = `${total.toLocaleString("en-US")} pairs`;
    await page.waitForFunction(
      (t) => document.querySelector('[data-testid="result-count"]')?.textContent.includes(t), shown,
    );
    await page.click('[data-testid="cell"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector('[data-testid="position"]');
    assertEq(await page.textContent('[data-testid="position"]'), `1 of ${total.toLocaleString("en-US")}`, "the position");
  });

  await steps.step("library_view_lists_the_corpus_and_split_leakage", async () => {
    await page.goto(`${server.url}#/library`);
    await page.waitForSelector('[data-testid="corpus-row"]');
    // A small library checks its splits for leakage by itself; the near-duplicate count
    // is the report's full total, not the length of its capped list.
    // One split by name: with several checking at once, "the first one done" moves.
    const split = "demo-by-patient";
    const leak = page.locator(`[data-testid="leakage"][data-split="${split}"][data-state="done"]`);
    await leak.waitFor({ timeout: 30000 });
    const report = await api(`/api/leakage?split=${encodeURIComponent(split)}`);
    const text = await leak.textContent();
    const near = `${report.near_total.toLocaleString("en-US")} near`;
    const total = report.patients.length + report.exact_duplicates.length + report.near_total;
    assert(total === 0 ? text.includes("No leakage") : text.includes(near), `"${near}" in: ${text}`);
    // Look-alikes (close hashes, different pixels) are said, not counted as leakage.
    if (report.look_alikes > 0) {
      assert(text.includes(`${report.look_alikes.toLocaleString("en-US")} look-alike`), `look-alikes in: ${text}`);
    }
    // A capped group says how many it lists, with a space after the total.
    if (total > 0) {
      await leak.locator("summary").click();
      for (const t of await page.$$eval('[data-testid="leakage-group-count"]', (xs) => xs.map((x) => x.textContent))) {
        assert(!/\d\(/.test(t), `a space before the parenthesis: ${t}`);
      }
    }
    await shot("library");
  });

  await steps.step("add_a_folder_and_see_its_ingest_errors", async () => {
    // Two real images with reports from the demo corpus, and two broken files.
    const folder = join(demo.dir, "added");
    mkdirSync(folder);
    const corpus = (await api("/api/stats")).corpus_list[0].root;
    const pngs = readdirSync(corpus, { recursive: true }).filter((f) => f.endsWith(".png")).slice(0, 2);
    pngs.forEach((f, k) => {
      copyFileSync(join(corpus, f), join(folder, `x${k}.png`));
      writeFileSync(join(folder, `x${k}.txt`), "Heart size normal. No effusion.");
    });
    writeFileSync(join(folder, "broken.png"), "not a png");
    writeFileSync(join(folder, "truncated.jpg"), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const before = (await api("/api/stats")).corpora;
    await page.fill('[data-testid="library-add-path"]', folder);
    await page.click('[data-testid="library-add-start"]');
    await page.waitForSelector('[data-testid="job-progress"][data-status="done"]', { timeout: 60000 });
    await page.waitForSelector('[data-testid="ingest-error"]');
    const paths = await page.$$eval('[data-testid="ingest-error"]', (rows) => rows.map((r) => r.textContent));
    for (const bad of ["broken.png", "truncated.jpg"]) {
      assert(paths.some((t) => t.includes(bad)), `${bad} is listed with its reason: ${paths}`);
    }
    const stats = await api("/api/stats");
    assertEq(stats.corpora, before + 1, "a new corpus");
    const added = stats.corpus_list.find((c) => c.root === folder);
    assertEq(added && added.pairs, 2, "its two pairs");
    await shot("library-added");
  });

  await steps.step("library_makes_a_split_adds_a_model_and_pre_labels", async () => {
    const seen = problems.length;
    await page.goto(`${server.url}#/library`);
    await page.waitForSelector('[data-testid="split-new"]');
    // A split: a wrong ratio is refused with the field's message, a good one appears.
    await page.fill('[data-testid="split-name"]', "ui-split");
    await page.selectOption('[data-testid="split-strategy"]', "random");
    await page.fill('[data-testid="split-ratios"]', "1,x");
    await page.click('[data-testid="split-make"]');
    await page.waitForSelector('[data-testid="split-error"]');
    await page.fill('[data-testid="split-ratios"]', "0.5,0.5");
    await page.click('[data-testid="split-make"]');
    await page.waitForSelector('[data-testid="split"][data-split="ui-split"]');
    const made = (await api("/api/splits")).find((s) => s.name === "ui-split");
    assertEq(made.parts.map((p) => p.part), ["train", "test"], "the parts");
    // A model: a path that holds none is refused and says why; the tiny torchxrayvision
    // DenseNet registers with its detected format.
    await page.fill('[data-testid="model-spec"]', "/nowhere/model.safetensors");
    await page.click('[data-testid="model-add-start"]');
    await page.waitForSelector('[data-testid="model-error"]');
    // The browser logs the two refusals above (400, 404); nothing else may be logged.
    const refused = problems.splice(seen);
    assertEq(refused.length, 2, `the two refusals: ${refused}`);
    assert(refused.every((p) => /status of (400|404)/.test(p)), `only the refusals: ${refused}`);
    const ckpt = join(ROOT, "tests/data/reference/checkpoints/xrv_tiny.pt");
    await page.fill('[data-testid="model-spec"]', ckpt);
    await page.fill('[data-testid="model-name"]', "xrv-ui");
    await page.click('[data-testid="model-add-start"]');
    await page.waitForSelector('[data-testid="model-row"][data-model="xrv-ui"]');
    // Pre-label from that classifier, as a job, then from the reports.
    await page.selectOption('[data-testid="prelabel-from"]', "model");
    await page.selectOption('[data-testid="prelabel-model"]', "xrv-ui");
    await page.click('[data-testid="prelabel-start"]');
    await page.waitForSelector('[data-testid="prelabel-done"]', { timeout: 120000 });
    const labelled = await api("/api/browse/count", { filter: { schema: "chexpert", source: "model:xrv-ui" } });
    assert(labelled > 0, `pairs labelled by the classifier: ${labelled}`);
    await page.selectOption('[data-testid="prelabel-from"]', "reports");
    await page.click('[data-testid="prelabel-start"]');
    await page.waitForSelector('[data-testid="prelabel-done"]', { timeout: 120000 });
    await shot("library-actions");
  });

  await steps.step("assign_double_labelling_and_see_agreement", () => curation.assignAndAgreement(cx));

  await steps.step("export_a_split_then_import_labels_and_undo_the_import", async () => {
    const exp = '[data-testid="library-export"]';
    await page.selectOption('[data-testid="export-format"]', "jsonl");
    await page.selectOption('[data-testid="export-split"]', "demo-by-patient");
    await page.selectOption('[data-testid="export-schema"]', "chexpert");
    const out = join(demo.dir, "export-jsonl");
    await page.fill('[data-testid="export-out"]', out);
    await page.click('[data-testid="export-start"]');
    await page.waitForSelector(`${exp} [data-testid="job-progress"][data-status="done"]`, { timeout: 60000 });
    await page.waitForSelector('[data-testid="export-summary"]');
    const split = (await api("/api/splits")).find((s) => s.name === "demo-by-patient");
    const total = split.parts.reduce((a, p) => a + p.pairs, 0);
    assertEq(await page.textContent('[data-testid="export-rows"]'), total.toLocaleString("en-US"), "every pair of the split");
    assertEq(await page.textContent('[data-testid="export-where"]'), out, "where it went");
    for (const p of split.parts) {
      const lines = readFileSync(join(out, `${p.part}.jsonl`), "utf8").trim().split("\n");
      assertEq(lines.length, p.pairs, `${p.part}.jsonl has the part's pairs`);
    }
    // Import: an uploaded CSV with a matched, an unmatched and a malformed row.
    const target = (await api("/api/pairs?limit=1&after=40"))[0].id;
    // What the pair's Fracture from the source "import" is before (the corpus may carry one).
    const fracture = async () => (await api(`/api/pairs/${target}/labels?schema=chexpert`))
      .filter((l) => l.class === "Fracture" && l.source === "import").map((l) => l.value);
    const before = await fracture();
    await page.setInputFiles('[data-testid="import-upload"]', {
      name: "labels.csv", mimeType: "text/csv",
      buffer: Buffer.from(`pair_id,Fracture\n${target},1\n999999,1\n${target + 1},7\n`),
    });
    await page.selectOption('[data-testid="import-schema"]', "chexpert");
    await page.click('[data-testid="import-start"]');
    await page.waitForSelector('[data-testid="import-summary"]', { timeout: 30000 });
    assertEq(await page.textContent('[data-testid="import-matched"]'), "1", "one row matched");
    await page.waitForSelector('[data-testid="import-unmatched"]');
    await page.waitForSelector('[data-testid="import-malformed"]');
    const imported = (await api(`/api/pairs/${target}/history`)).filter((e) => e.import_id !== null);
    assertEq(imported.map((e) => [e.class, e.source, e.new_value]), [["Fracture", "import", 1]], "the import's change");
    await shot("library-export-import");
    await page.click('[data-testid="import-undo"]');
    // The undo of this import's own change (not of an earlier import of the pair's).
    await until(async () => (await api(`/api/pairs/${target}/history`))
      .some((e) => e.kind === "undo" && e.ref_event === imported[0].id), "the undo of the import's change");
    assertEq(await fracture(), before, "undone: the value from before the import");
  });

  await steps.step("every_view_passes_axe_at_two_window_sizes", async () => {
    // axe-core's WCAG 2.1 A/AA rules: no serious or critical violation on any view, with the
    // help overlay and a confusion cell's list open too. Screenshots of each view at both sizes.
    const views = [
      ["library", '[data-testid="corpus-row"]'],
      ["browse", '[data-testid="cell"] img'],
      [`sample/${pair}`, '[data-testid="sample-image"]'],
      ["map", '[data-testid="map-canvas"]'],
      ["train", '[data-testid="view-train"]'],
      ["evaluate", '[data-testid="cm-cell"]'],
    ];
    const found = [];
    for (const [width, height] of [[1280, 720], [1440, 900]]) {
      await page.setViewportSize({ width, height });
      for (const [view, ready] of views) {
        await page.goto(`${server.url}#/${view}`);
        await page.waitForSelector(ready);
        await page.waitForTimeout(300);
        await shot(`${view.split("/")[0]}-${width}x${height}`);
        found.push(...(await axeViolations(page)).map((v) => `${view} at ${width}: ${v}`));
      }
    }
    await page.click('[data-testid="cm-cell"]:not([data-count="0"])');
    await page.waitForSelector('[data-testid="misclassified-panel"]');
    await page.waitForTimeout(400); // the panel's slide-in animation
    found.push(...(await axeViolations(page)).map((v) => `evaluate with a cell open: ${v}`));
    await page.keyboard.press("?");
    await page.waitForSelector('[data-testid="help-overlay"]');
    found.push(...(await axeViolations(page)).map((v) => `help overlay: ${v}`));
    await page.keyboard.press("Escape");
    await page.setViewportSize({ width: 1440, height: 900 });
    assertEq(found, [], "serious accessibility violations");
  });

  await steps.step("an_empty_library_welcomes_with_add_a_folder_or_the_demo", async () => {
    // A second server on a new, empty library: the first-run screen, then the demo opened
    // from it (written into the library, indexed, pre-labelled, split and trained).
    const dir = mkdtempSync(join(tmpdir(), "pairlab-e2e-empty-"));
    const empty = await serve(join(dir, "lib"));
    const fresh = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const errors = [];
    fresh.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
    fresh.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    try {
      // A bare address, as a first start: an empty library opens the Library.
      await fresh.goto(empty.url);
      await fresh.waitForSelector('[data-testid="first-run"]', { timeout: 15000 });
      assertEq(await axeViolations(fresh), [], "serious accessibility violations on the first-run screen");
      await fresh.screenshot({ path: join(shots, "first-run.png") });
      // In a browser "Add a folder" goes to the path field (the window opens a folder picker).
      await fresh.click('[data-testid="first-run-add"]');
      assertEq(
        await fresh.evaluate(() => document.activeElement?.getAttribute("data-testid")),
        "library-add-path",
        "Add a folder focuses the folder's path",
      );
      await fresh.click('[data-testid="first-run-demo"]');
      await fresh.waitForSelector('[data-testid="first-run"] [data-testid="job-progress"]', { timeout: 15000 });
      await fresh.waitForSelector('[data-testid="corpus-row"]', { timeout: 300000 });
      assertEq(await fresh.$('[data-testid="first-run"]'), null, "the welcome goes once the library has a corpus");
      const stats = await (await fetch(new URL("/api/stats", empty.url))).json();
      assert(stats.corpora === 1 && stats.pairs > 0, `the demo is in the library: ${JSON.stringify(stats)}`);
      const runs = await (await fetch(new URL("/api/runs", empty.url))).json();
      assertEq(runs.length, 1, "the demo trained one run");
      await fresh.screenshot({ path: join(shots, "first-run-done.png") });
      assertEq(errors, [], "errors in the page");
    } finally {
      await fresh.close();
      empty.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  await steps.step("sign_in_with_a_user_token", async () => {
    // Once the library has a user account, the server wants a token: the app asks for it,
    // and with it the Library view loads.
    const seen = problems.length;
    const added = JSON.parse(execFileSync(pairlabBin(), [
      "--library", demo.lib, "users", "add", "e2e-ann", "--role", "annotator", "--json",
    ]).toString());
    // The server reads whether it has accounts at most once a second.
    await new Promise((r) => setTimeout(r, 1100));
    await page.evaluate(() => sessionStorage.clear());
    // A fresh load (not a hash change of the page already open).
    await page.goto("about:blank");
    await page.goto(`${server.url}#/library`);
    await page.waitForSelector('[data-testid="sign-in"]', { timeout: 15000 });
    await shot("sign-in");
    await page.fill('[data-testid="sign-in-token"]', added.token);
    await Promise.all([
      page.waitForNavigation(),
      page.press('[data-testid="sign-in-token"]', "Enter"),
    ]);
    await page.waitForSelector('[data-testid="corpus-row"]', { timeout: 15000 });
    assertEq(await page.$('[data-testid="sign-in"]'), null, "no sign-in once signed in");
    // The app shows who is signed in and offers only what the role allows: an annotator
    // does not get the form to add a folder (the server would refuse it).
    await page.waitForSelector('[data-testid="signed-in"]', { timeout: 15000 });
    assertEq(await page.textContent('[data-testid="signed-in"]'), "e2e-ann · annotator", "signed-in name");
    assertEq(await page.$('[data-testid="library-add"]'), null, "no add-folder form for an annotator");
    await page.waitForSelector('[data-testid="library-add-needs-admin"]', { timeout: 15000 });
    // The browser reports the 401 answers before sign-in as console errors: expected here.
    const rest = problems.splice(seen).filter((p) => !p.includes("401"));
    problems.push(...rest);
  });

  await steps.step("no_page_errors", async () => {
    assertEq(problems, [], "errors in the page");
  });
} finally {
  await browser.close();
  server.stop();
  steps.finish();
}
