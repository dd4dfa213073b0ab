// The curation steps of the browser test (browser.mjs runs them in its sequence, on its
// page and server): likely label errors and their review queue, the label-next queue,
// annotators' agreement, and the embedding map with its lasso and its speed at 100,000
// points. `cx` holds what browser.mjs shares: page, server, api, shot, cellIds, humanValue,
// shots.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEq, axeViolations } from "./harness.mjs";

export async function findAndReviewLabelErrors(cx) {
  const { page, server, api, shot, cellIds, humanValue } = cx;
  // A search with the New run form's settings (3 patient-grouped folds of a short cnn)…
  await page.goto(`${server.url}#/train`);
  await page.waitForSelector('[data-testid="train-form"]');
  await page.selectOption('[data-testid="train-split"]', "demo-by-patient");
  await page.fill('[data-testid="train-epochs"]', "3");
  await page.selectOption('[data-testid="issues-folds"]', "3");
  await page.click('[data-testid="issues-start"]');
  await page.waitForSelector('[data-testid="issues-row"]', { timeout: 300000 });
  const [search] = await api("/api/label-issues");
  assertEq(search.folds.length, 3, "one run per fold");
  const queue = (await api(`/api/label-issues/${search.id}?open=true`)).issues;
  assert(queue.length >= 3, `the demo's rule labels give likely errors: ${queue.length}`);
  await shot("train-label-issues");
  // … reviewed one at a time in the Sample view: y accepts, x keeps, s skips, ctrl+z undoes.
  await page.click(`[data-testid="issues-row"][data-id="${search.id}"] [data-testid="issues-review"]`);
  const at = (n) => page.waitForFunction(
    (t) => document.querySelector('[data-testid="issue-position"]')?.textContent === t, `${n} of ${queue.length}`,
  );
  await at(1);
  assertEq(Number(await page.getAttribute('[data-testid="issue-banner"]', "data-pair")), queue[0].pair_id, "the likeliest first");
  assertEq(await axeViolations(page), [], "the review queue's accessibility violations");
  await shot("sample-issue-queue");
  await page.keyboard.press("y");
  await at(2);
  assertEq(await humanValue(queue[0].pair_id, queue[0].class), queue[0].suggested, "accepting makes the suggestion a person's label");
  await page.keyboard.press("x");
  await at(3);
  assertEq(await humanValue(queue[1].pair_id, queue[1].class), queue[1].given, "keeping confirms the given label by hand");
  let open = (await api(`/api/label-issues/${search.id}?open=true`)).issues.map((i) => `${i.pair_id}/${i.class}`);
  assert(!open.includes(`${queue[1].pair_id}/${queue[1].class}`), "a kept row leaves the queue");
  await page.keyboard.press("Control+z");
  await at(2);
  open = (await api(`/api/label-issues/${search.id}?open=true`)).issues.map((i) => `${i.pair_id}/${i.class}`);
  assert(open.includes(`${queue[1].pair_id}/${queue[1].class}`), "undo puts the row back in the queue");
  await page.keyboard.press("s");
  await at(3);
  // In Browse: only the flagged pairs, likeliest wrong first.
  await page.goto(`${server.url}#/browse?label_issues=${search.id}&sort=label-issues&issues=${search.id}`);
  const n = await api("/api/browse/count", { filter: { label_issues: search.id } });
  assertEq(n, search.flagged_pairs, "the filter keeps the flagged pairs");
  await page.waitForFunction(
    (t) => document.querySelector('[data-testid="result-count"]')?.textContent.includes(t), `${n.toLocaleString("en-US")} pair`,
  );
  const want = await api("/api/browse", { filter: { label_issues: search.id }, sort: { by: "label-issues", issues: search.id }, limit: 6 });
  await page.waitForFunction((k) => document.querySelectorAll('[data-testid="cell"]').length >= k, want.rows.length);
  assertEq((await cellIds()).slice(0, want.rows.length), want.rows.map((r) => r.id), "the grid's order");
}

export async function labelNext(cx, pair) {
  const { page, server, api, shot } = cx;
  await page.goto(`${server.url}#/sample/${pair}`);
  await page.waitForSelector('[data-testid="sample-image"]');
  await page.keyboard.press("l");
  await page.waitForSelector('[data-testid="label-next-bar"]');
  const first = Number(await page.getAttribute('[data-testid="label-next-bar"]', "data-pair"));
  const human = (await api(`/api/pairs/${first}/labels?schema=chexpert`)).filter((l) => l.source === "human");
  assertEq(human, [], "the queue serves a pair without a person's label");
  await page.keyboard.press("1");
  await page.keyboard.press("n");
  await page.waitForFunction(() => document.querySelector('[data-testid="label-next-count"]')?.textContent === "1");
  await page.keyboard.press("j");
  await page.waitForFunction(
    (p) => { const b = document.querySelector('[data-testid="label-next-bar"]'); return b && Number(b.dataset.pair) !== p; }, first,
  );
  await shot("sample-label-next");
  await page.click('[data-testid="label-next-bar"] .leave');
}

export async function mapLassoAndSpeed(cx) {
  const { page, server, api, shot, shots } = cx;
  const image = (await api("/api/models")).find((m) => m.from_run != null && m.images);
  await page.goto(`${server.url}#/map`);
  await page.waitForSelector('[data-testid="map-make"]');
  await page.selectOption('[data-testid="map-model"]', image.name);
  await page.selectOption('[data-testid="map-method"]', "umap");
  await page.click('[data-testid="map-make"]');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="map-count"]')?.dataset.count) > 0, null, { timeout: 180000 });
  const [made] = await api("/api/maps");
  assertEq(Number(await page.getAttribute('[data-testid="map-count"]', "data-count")), made.points, "every point drawn");
  // Coloured by a split's part: the legend names the parts.
  await page.selectOption('[data-testid="map-colour"]', "split");
  await page.selectOption('[data-testid="map-colour-split"]', "demo-by-patient");
  await page.waitForSelector('[data-testid="map-legend"] >> text=test');
  // Hovering a point shows its thumbnail.
  const canvas = await page.locator('[data-testid="map-canvas"]').boundingBox();
  const at = await page.evaluate(() => window.__pairlabMap.screenOf(0));
  await page.mouse.move(canvas.x + at[0], canvas.y + at[1]);
  await page.waitForSelector('[data-testid="map-hover"] img');
  await shot("map");
  // A lasso over the left half selects exactly the points drawn there …
  const all = await page.evaluate(() => Array.from({ length: window.__pairlabMap.count() }, (_, i) => window.__pairlabMap.screenOf(i)));
  const [x0, x1, y0, y1] = [6, canvas.width / 2, 6, canvas.height - 6];
  const want = all.filter(([x, y]) => x > x0 && x < x1 && y > y0 && y < y1).map((p) => p[2]).sort((a, b) => a - b);
  assert(want.length > 0 && want.length < all.length, `the left half holds some points: ${want.length} of ${all.length}`);
  await page.keyboard.down("Shift");
  await page.mouse.move(canvas.x + x0, canvas.y + y0);
  await page.mouse.down();
  for (const [x, y] of [[x1, y0], [x1, y1], [x0, y1], [x0, y0 + 1]]) await page.mouse.move(canvas.x + x, canvas.y + y, { steps: 4 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
  await page.waitForSelector(`[data-testid="map-selection"][data-count="${want.length}"]`);
  // … saved as a tag that Browse's tag filter finds …
  await page.fill('[data-testid="map-tag-name"]', "e2e-lasso");
  await page.click('[data-testid="map-tag"]');
  await page.waitForSelector('.toast >> text=/Tagged .*e2e-lasso/');
  const tagged = await api("/api/browse", { filter: { tag: "e2e-lasso" }, limit: 1000 });
  assertEq(tagged.rows.map((r) => r.id), want, "the tagged pairs are the lasso's");
  // … and opened in Browse.
  await page.click('[data-testid="map-open"]');
  await page.waitForSelector('[data-testid="cell"]');
  assertEq(page.url().includes(`pairs=${want.slice(0, 3).join(",")}`), true, "Browse opens the selection");
  // 100,000 points pan and zoom smoothly: frames per second while the view moves for 3 s.
  await page.goto(`${server.url}#/map`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="map-count"]')?.dataset.count) > 0);
  await page.evaluate(() => window.__pairlabMap.synthetic(100000));
  const fps = await page.evaluate(() => window.__pairlabMap.fps(3000));
  writeFileSync(join(shots, "map-fps.json"), JSON.stringify({ points: 100000, fps }));
  console.log(`map: ${fps.toFixed(1)} frames per second panning and zooming 100,000 points`);
  assert(fps >= 30, `100,000 points at ${fps.toFixed(1)} frames per second`);
}

export async function assignAndAgreement(cx) {
  const { page, server, api, shot, cellIds } = cx;
  await page.goto(`${server.url}#/library`);
  await page.waitForSelector('[data-testid="assign-form"]');
  await page.fill('[data-testid="assign-annotators"]', "e2e-a, e2e-b");
  await page.fill('[data-testid="assign-fraction"]', "0.5");
  await page.selectOption('[data-testid="assign-split"]', "demo-by-patient");
  await page.click('[data-testid="assign-start"]');
  await page.waitForSelector('.toast >> text=/Assigned .* to two annotators/');
  // Both annotators label the first eight pairs assigned to both: they differ on two.
  const mine = (await api("/api/browse", { filter: { assigned: "e2e-a" }, limit: 1000 })).rows.map((r) => r.id);
  const theirs = new Set((await api("/api/browse", { filter: { assigned: "e2e-b" }, limit: 1000 })).rows.map((r) => r.id));
  const both = mine.filter((id) => theirs.has(id)).slice(0, 8);
  assertEq(both.length, 8, "half the split is double-labelled");
  const a = [1, 0, 1, 0, 1, 1, 0, 0];
  const b = [1, 0, 1, 0, 0, 1, 1, 0];
  for (let i = 0; i < 8; i++) {
    await api("/api/labels", { pair: both[i], class: "Atelectasis", value: a[i], annotator: "e2e-a" });
    await api("/api/labels", { pair: both[i], class: "Atelectasis", value: b[i], annotator: "e2e-b" });
  }
  await page.click('[data-testid="agreement-refresh"]');
  const report = await api("/api/agreement?schema=chexpert");
  const row = report.cohen.find((c) => c.class === "Atelectasis" && c.a === "e2e-a" && c.b === "e2e-b");
  assertEq([row.items, row.agreed], [8, 6], "eight pairs, six agreed");
  // Cohen's kappa of these arrays: p_o = 0.75, p_e = 0.5 → 0.5.
  assert(Math.abs(row.kappa - 0.5) < 1e-9, `kappa ${row.kappa}`);
  await page.waitForSelector('[data-testid="agreement-kappa"] >> text="0.500"');
  await shot("library-agreement");
  // The disagreements open in Browse.
  await page.click('[data-testid="agreement-review"]');
  await page.waitForSelector('[data-testid="cell"]');
  const shown = await cellIds();
  for (const i of [4, 6]) assert(shown.includes(both[i]), `disagreement on pair ${both[i]} shown`);
  await decideDisagreements(cx, both);
  // Back to the Library, where the next step works.
  await page.goto(`${server.url}#/library`);
  await page.waitForSelector('[data-testid="corpus-row"]');
}

/** The disagreements decided one by one in Sample: a label key on the class decides (the
 * reviewer is no third annotator: the annotators and their kappa stay), an undo opens it
 * again, a click takes one annotator's side, and `s` skips. */
async function decideDisagreements(cx, both) {
  const { page, server, api, shot } = cx;
  const before = await api("/api/agreement?schema=chexpert&open=true");
  const ours = before.disagreements.filter((d) => d.class === "Atelectasis" && [both[4], both[6]].includes(d.pair_id));
  assertEq(ours.length, 2, "both disagreements are open");
  const [first, second] = before.disagreements;
  await page.goto(`${server.url}#/library`);
  await page.selectOption('[data-testid="agreement-schema"]', "chexpert");
  await page.click('[data-testid="agreement-decide"]');
  const at = (d) => page.waitForSelector(`[data-testid="disagreement-banner"][data-pair="${d.pair_id}"][data-class="${d.class ?? ""}"]`);
  await at(first);
  await shot("sample-disagreement");
  const human = async (d) => (await api(`/api/pairs/${d.pair_id}/labels?schema=chexpert`)).find((l) => l.class === d.class && l.source === "human")?.value ?? null;
  const isOpen = async (d) => (await api("/api/agreement?schema=chexpert&open=true")).disagreements.some((x) => x.pair_id === d.pair_id && x.class === d.class);
  const was = await human(first);
  // p on the disputed class (the cursor is on it) decides "positive".
  await page.keyboard.press("p");
  await at(second);
  assertEq(await human(first), 1, "the decision is the label");
  assertEq(await isOpen(first), false, "a decided disagreement leaves the queue");
  const now = await api("/api/agreement?schema=chexpert");
  assertEq(now.annotators, before.annotators, "the reviewer is no annotator");
  assertEq(now.cohen, before.cohen, "kappa is the annotators' alone");
  // Undo: the label as it was, the disagreement open again, the queue back at it.
  await page.keyboard.press("Control+z");
  await at(first);
  await page.waitForFunction(() => document.querySelector('[data-testid="disagreement-position"]')?.textContent.startsWith("1 of"));
  assertEq(await human(first), was, "undo puts the label back");
  assertEq(await isOpen(first), true, "undo opens it again");
  // A click takes one annotator's side.
  const side = first.ratings.find((r) => r.value === "0") ?? first.ratings[0];
  await page.click(`[data-testid="disagreement-choose"][data-value="${side.value}"]`);
  await at(second);
  assertEq(await human(first), Number(side.value), "the side taken is the label");
  assertEq(await isOpen(first), false);
  // s skips: the second stays open.
  await page.keyboard.press("s");
  if (before.disagreements.length > 2) await at(before.disagreements[2]);
  else await page.waitForSelector(".toast >> text=/Every open disagreement was decided or skipped/");
  assertEq(await isOpen(second), true, "a skipped disagreement stays open");
}
