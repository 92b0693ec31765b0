// Drives the journey UI at /ui like an operator: finds a delivered DM by its message id, checks
// every step is on the waterfall (indented, coloured, the error and the queue time shown),
// follows a link and its backlink and goes back, uses the keyboard, opens the service graph,
// the latency table (sorting) and the stuck list (the never-acked DM is there and opens its
// waterfall at its last step), searches recent traces, and checks that a shared URL and an
// unknown id work — with no console error. Screenshots go next to <screenshot.png>.
//
// Usage: node journey-ui.mjs <base-url> <delivered-id> <stuck-id> <screenshot.png> <expected-json>
// expected-json: {"names": [span names of the journey], "send": <span id of messaging.send>,
//                 "services": [...], "stuck_after_ms": N}
import { fail, launch } from "./lib.mjs";

const [base, delivered, stuckId, screenshot, expectedJson] = process.argv.slice(2);
if (!expectedJson) fail("usage: journey-ui.mjs <base-url> <delivered-id> <stuck-id> <screenshot.png> <expected-json>");
const expected = JSON.parse(expectedJson);
const shot = (name) => screenshot.replace(/ui-journey\.png$/, `ui-${name}.png`);
const checked = [];
const ok = (what) => checked.push(what);

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1500, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  let expect404 = null;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expect404 && m.location().url.includes(expect404) && m.text().includes("404")) return;
    problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

  const hash = () => page.evaluate(() => decodeURIComponent(location.hash));
  const row = (name) => page.locator(`[data-testid=span-row][data-name="${name}"]`);
  const selectedSpan = () => page.locator("[data-testid=span-row][aria-selected=true]").getAttribute("data-span-id");
  const detailTitle = () => page.locator("#detail-title").textContent();
  // The URL changes first; the hashchange handler then selects the row and fills the detail.
  const arrived = (id) =>
    page.waitForFunction(
      (id) =>
        location.hash.endsWith(`/span/${id}`) &&
        document.querySelector("[data-testid=span-row][aria-selected=true]")?.dataset.spanId === id &&
        document.querySelector("[data-testid=span-detail]")?.dataset.spanId === id,
      id,
    );

  // The landing page: recent traces.
  await page.goto(`${base}/ui`);
  await page.getByTestId("trace-row").first().waitFor();
  if ((await page.getByTestId("nav-traces").getAttribute("aria-current")) !== "page") fail("recent traces is not the current view");
  ok("landing page lists recent traces");

  // Search the message id, as typed into the labelled box.
  await page.getByLabel("Message, order, correlation or trace id").fill(delivered);
  await page.getByLabel("Message, order, correlation or trace id").press("Enter");
  await page.getByTestId("waterfall").waitFor();
  if ((await hash()) !== `#/journey/${delivered}`) fail(`URL after search: ${await hash()}`);
  ok("search by message id, URL #/journey/<id>");

  // Every span of the journey is a row, as many times as the API has it.
  const counts = {};
  for (const n of expected.names) counts[n] = (counts[n] ?? 0) + 1;
  for (const [name, n] of Object.entries(counts)) {
    const got = await row(name).count();
    if (got !== n) fail(`waterfall has ${got} rows named ${JSON.stringify(name)}, the API ${n}`);
  }
  const total = await page.getByTestId("span-row").count();
  if (total !== expected.names.length) fail(`waterfall has ${total} rows, the API ${expected.names.length} spans`);
  ok(`every step on the waterfall (${total} rows: ${Object.keys(counts).join(", ")})`);

  // Indented by parent, placed on the time axis, one colour per service with a legend.
  const level = async (name) => Number(await row(name).first().getAttribute("aria-level"));
  if (!((await level("messaging.persist")) > (await level("POST /v1/messages")) && (await level("POST /v1/messages")) > (await level("messaging.send")))) {
    fail("spans are not indented under their parents");
  }
  const bar = async (name) => row(name).first().locator(".wf-bar").evaluate((b) => ({ left: parseFloat(b.style.left), colour: getComputedStyle(b).backgroundColor }));
  const sendBar = await bar("messaging.send");
  const receiptBar = await bar("messaging.delivery_receipt");
  const persistBar = await bar("messaging.persist");
  if (!(sendBar.left < persistBar.left && persistBar.left < receiptBar.left)) fail(`bars are not in time order: ${JSON.stringify([sendBar, persistBar, receiptBar])}`);
  if (sendBar.colour === persistBar.colour) fail("two services share a colour");
  for (const s of expected.services) {
    if ((await page.locator(`[data-testid=legend-item][data-service="${s}"]`).count()) !== 1) fail(`legend lacks ${s}`);
  }
  ok("indented by parent, bars in time order, services coloured with a legend");

  // The error is red with its message; the bus hop shows its queue time.
  const failed = row("push.send");
  if ((await failed.getAttribute("data-error")) !== "true") fail("push.send is not marked as an error");
  const errText = await failed.getByTestId("span-error").textContent();
  if (!errText.includes("push gateway timed out")) fail(`error text: ${errText}`);
  const errColour = await failed.locator(".wf-bar").evaluate((b) => getComputedStyle(b).backgroundColor);
  const [r, g, b] = errColour.match(/\d+/g).map(Number);
  if (!(r > 150 && g < 90 && b < 90)) fail(`error bar is not red: ${errColour}`);
  const queued = await row("process dm.deliver").getByTestId("queue-time").textContent();
  if (!/queued \d/.test(queued)) fail(`queue time of the bus hop: ${queued}`);
  ok(`error highlighted (${errText.trim()}), bus hop ${queued.trim()}`);

  // The failed push: attributes, events with timestamps, resource, its link.
  await failed.click();
  const pushId = await failed.getAttribute("data-span-id");
  await arrived(pushId);
  if (!(await page.getByTestId("detail-attributes").textContent()).includes(delivered)) fail("attributes lack message.id");
  const events = page.getByTestId("event");
  if ((await events.count()) !== 2) fail(`events: ${await events.count()}`);
  const eventText = await events.first().textContent();
  if (!/\d\d:\d\d:\d\d\.\d{3} \(\+/.test(eventText) || !eventText.includes("gateway.request")) fail(`event: ${eventText}`);
  if (!(await page.getByTestId("detail-resource").textContent()).includes("relay-1")) fail("resource lacks host.name");
  if (!(await page.getByTestId("detail-error").textContent()).includes("push gateway timed out")) fail("detail lacks the error");
  ok("span detail: attributes, events with timestamps, resource, error");

  // Follow the link to the send, then the send's backlink back; Back and Forward replay it.
  await page.getByTestId("link-item").click();
  await arrived(expected.send);
  if ((await selectedSpan()) !== expected.send || (await detailTitle()) !== "messaging.send") fail("the link did not select messaging.send");
  const back = page.getByTestId("backlink-item");
  if ((await back.getAttribute("data-span-id")) !== pushId) fail("messaging.send has no backlink from push.send");
  await back.click();
  await arrived(pushId);
  if ((await selectedSpan()) !== pushId) fail("the backlink did not select push.send");
  await page.goBack();
  await arrived(expected.send);
  if ((await selectedSpan()) !== expected.send) fail("Back did not return to messaging.send");
  await page.goForward();
  await arrived(pushId);
  if ((await selectedSpan()) !== pushId) fail("Forward did not return to push.send");
  ok("link and backlink navigate both ways; Back/Forward follow");

  // Keyboard: from the focused row, arrows move and Enter selects.
  await row("messaging.send").first().click();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  const next = await page.locator("[data-testid=span-row][aria-selected=true]").getAttribute("data-name");
  if (next === "messaging.send") fail("ArrowDown + Enter did not move the selection");
  ok(`keyboard: ArrowDown + Enter selected ${next}`);

  await row("push.send").click();
  await page.screenshot({ path: screenshot, fullPage: true });

  // A shared URL opens the same journey with the same span selected.
  const shared = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  shared.on("pageerror", (e) => problems.push(`page error (shared): ${e.message}`));
  await shared.goto(`${base}/ui/#/journey/${encodeURIComponent(delivered)}/span/${expected.send}`);
  await shared.locator("[data-testid=span-row][aria-selected=true]").waitFor();
  if ((await shared.locator("[data-testid=span-row][aria-selected=true]").getAttribute("data-span-id")) !== expected.send) fail("shared URL selected another span");
  await shared.close();
  ok("a shared URL opens the journey at its span");

  // Service graph: edges with counts and p50/p99.
  await page.getByTestId("nav-graph").click();
  await page.getByTestId("graph-svg").waitFor();
  const edge = page.locator('[data-testid=graph-edge-row][data-from="pigeon-app"][data-to="pigeon"]');
  if ((await edge.count()) !== 1) fail("the graph lacks pigeon-app → pigeon");
  const cells = await edge.locator("td").allTextContents();
  if (!(Number(cells[3]) > 0) || !/\d/.test(cells[5]) || !/\d/.test(cells[6])) fail(`edge cells: ${cells}`);
  if ((await page.locator('[data-testid=graph-edge-row][data-from="pigeon-app"][data-to="push-relay"]').count()) !== 1) fail("the graph lacks the link edge to push-relay");
  if ((await page.getByTestId("graph-node").count()) < 3) fail("graph nodes missing");
  await page.screenshot({ path: shot("graph"), fullPage: true });
  ok(`service graph: pigeon-app → pigeon ${cells[3]} spans, p50 ${cells[5]}, p99 ${cells[6]}`);

  // Latency: a row per operation, sortable both ways.
  await page.getByTestId("nav-latency").click();
  await page.getByTestId("latency-row").first().waitFor();
  const column = async (i) => (await page.locator(`[data-testid=latency-row] td:nth-child(${i})`).allTextContents());
  const ops = await column(2);
  for (const step of ["messaging.send", "messaging.persist", "messaging.delivery_receipt"]) {
    if (!ops.includes(step)) fail(`latency table lacks ${step}`);
  }
  await page.getByTestId("sort-count").click();
  const desc = (await column(3)).map(Number);
  await page.getByTestId("sort-count").click();
  const asc = (await column(3)).map(Number);
  const isSorted = (xs, cmp) => xs.every((x, i) => i === 0 || cmp(xs[i - 1], x));
  if (!isSorted(desc, (a, b) => a >= b) || !isSorted(asc, (a, b) => a <= b)) fail(`count sort: ${desc} / ${asc}`);
  if ((await page.locator('th[data-key="count"]').getAttribute("aria-sort")) !== "ascending") fail("aria-sort not set");
  if (!(await hash()).includes("sort=count")) fail("sort not in the URL");
  await page.getByTestId("sort-p99_ms").click();
  await page.screenshot({ path: shot("latency"), fullPage: true });
  ok(`latency table: ${ops.length} operations, sortable (count desc/asc, aria-sort)`);

  // Stuck: the never-acked DM, with the last step it reached, opening its waterfall there.
  await page.getByTestId("nav-stuck").click();
  await page.getByTestId("stuck-form").waitFor();
  await page.getByLabel(/Stuck after/).fill(String(expected.stuck_after_ms));
  await page.getByTestId("stuck-refresh").click();
  const stuckRow = page.locator(`[data-testid=stuck-row][data-ids~="${stuckId}"]`);
  await stuckRow.waitFor();
  if ((await page.locator(`[data-testid=stuck-row][data-ids~="${delivered}"]`).count()) !== 0) fail("the delivered DM is listed as stuck");
  const open = stuckRow.getByTestId("stuck-open");
  const lastStep = (await open.textContent()).trim();
  await page.screenshot({ path: shot("stuck"), fullPage: true });
  const lastSpan = (await open.getAttribute("href")).split("/span/")[1];
  await open.click();
  await page.getByTestId("waterfall").waitFor();
  await page.locator("[data-testid=span-row][aria-selected=true]").waitFor();
  if ((await selectedSpan()) !== lastSpan) fail("the stuck entry did not open at its last step");
  if ((await row("messaging.send").count()) < 1 || (await row("messaging.delivery_receipt").count()) !== 0) fail("the stuck journey's waterfall is wrong");
  if (!(await page.getByTestId("detail-attributes").textContent()).length) fail("no detail for the last step");
  ok(`stuck list shows the never-acked DM (last step ${lastStep}) and opens its waterfall there`);

  // Recent traces: service + errors only finds the failed push; it opens as a journey.
  await page.getByTestId("nav-traces").click();
  await page.getByLabel("Service").fill("push-relay");
  await page.getByLabel("Errors only").check();
  await page.getByTestId("search-traces").click();
  await page
    .waitForFunction(() => location.hash.includes("errors=true") && document.querySelectorAll("[data-testid=trace-row]").length === 1, null, { timeout: 10000 })
    .catch(async () => fail(`errors-only search for push-relay lists ${await page.getByTestId("trace-row").count()} traces, not the one push`));
  await page.getByLabel("Min duration (ms)").fill("100000");
  await page.getByTestId("search-traces").click();
  await page.getByTestId("trace-empty").waitFor();
  await page.goBack();
  await page.getByTestId("trace-open").click();
  await page.getByTestId("waterfall").waitFor();
  if ((await row("push.send").count()) !== 1) fail("the trace did not open as its journey");
  ok("recent traces: service, errors only and min duration filter; a trace opens as a journey");

  // An unknown id says so, without breaking the page.
  expect404 = "/api/v1/journeys/no-such-message";
  await page.getByLabel("Message, order, correlation or trace id").fill("no-such-message");
  await page.getByTestId("search-submit").click();
  await page.getByTestId("error").waitFor();
  if (!(await page.getByTestId("error").textContent()).includes("Nothing in the store carries")) fail("unknown id message");
  ok("an unknown id is reported");

  if (problems.length) fail(problems.join("\n"));
  ok("no console errors");
  for (const line of checked) console.log(`✓ ${line}`);
  console.log("journey-ui: ok");
} finally {
  await browser.close();
}
