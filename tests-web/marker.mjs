// Clicks the marker page like a person: types a mark, creates it, waits until the gateway
// accepted it. Prints one JSON line: {"id": <mark id>, "trace_id": <browser trace id>}.
//
// Usage: node marker.mjs <base-url> <text> <screenshot.png>
import { fail, launch } from "./lib.mjs";

const [base, text, screenshot] = process.argv.slice(2);
if (!base || !text || !screenshot) fail("usage: marker.mjs <base-url> <text> <screenshot.png>");

const browser = await launch();
try {
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // The page's OTLP export, to learn the trace id the browser started.
  const exported = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/v1/traces") && r.method() === "POST") exported.push(r.postData() ?? "");
  });

  await page.goto(`${base}/marker/`);
  await page.getByLabel("Mark").fill(text);
  await page.getByTestId("mark-submit").click();
  const row = page.getByTestId("mark").first();
  await row.waitFor();
  await page.waitForFunction(
    () => document.querySelector("[data-testid=mark]")?.dataset.state !== undefined,
    null,
    { timeout: 15000 },
  );
  const state = await row.getAttribute("data-state");
  if (state !== "published") fail(`the mark was not published: ${await row.textContent()}`);
  const id = await row.getAttribute("data-id");
  // forceFlush after the mark: wait for the export request carrying its span.
  const deadline = Date.now() + 15000;
  let traceId;
  while (!traceId && Date.now() < deadline) {
    for (const body of exported) {
      const match = body.includes(id) && body.match(/"traceId":"([0-9a-f]{32})"/);
      if (match) traceId = match[1];
    }
    if (!traceId) await page.waitForTimeout(100);
  }
  if (!traceId) fail(`no OTLP export carried the span of mark ${id} (${exported.length} exports)`);
  await page.screenshot({ path: screenshot, fullPage: true });
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ id, trace_id: traceId }));
} finally {
  await browser.close();
}
