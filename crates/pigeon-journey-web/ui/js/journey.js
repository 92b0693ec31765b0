// The journey view: what the store knows of one id — summary, services, traces, the waterfall
// and the selected span. The selection lives in the URL (#/journey/<id>/span/<span_id>), so a
// link to one span of one journey can be shared; choosing a row replaces the URL, following a
// link pushes it, so Back returns to where the link was.

import { api } from "./api.js";
import { legend } from "./colors.js";
import { h, replace } from "./dom.js";
import { dateTime, duration, plural } from "./format.js";
import { go, journeyHref, replace as replaceUrl } from "./route.js";
import { detail } from "./detail.js";
import { errorOf, layout, waterfall } from "./waterfall.js";

let shown = null; // { id, root, model, wf, pane }
let asked = 0;

/** A row of labelled figures. */
function stats(pairs) {
  return h(
    "dl",
    { class: "stats", "data-testid": "journey-summary" },
    pairs.map(([label, figure]) => h("div", null, h("dt", null, label), h("dd", null, figure))),
  );
}

function summary(journey, model) {
  const services = [...new Set(model.rows.map((r) => r.span.service))].sort();
  const counts = new Map();
  for (const r of model.rows) counts.set(r.span.service, (counts.get(r.span.service) ?? 0) + 1);
  const errors = model.rows.filter((r) => errorOf(r.span)).length;
  const hops = model.rows.filter((r) => r.queueNs !== null);
  return h(
    "div",
    { class: "summary" },
    stats(
      [
        ["Spans", String(journey.spans.length)],
        ["Traces", String(journey.traces.length)],
        ["Duration", duration(model.total)],
        ["Started", dateTime(model.t0)],
        ["Errors", errors ? h("span", { class: "status-error", "data-testid": "error-count" }, String(errors)) : "0"],
        ["Bus hops", hops.length ? `${hops.length} · queued ${duration(hops.reduce((a, r) => a + r.queueNs, 0))}` : "0"],
      ],
    ),
    legend(services, counts),
    h(
      "details",
      { class: "traces" },
      h("summary", null, `${plural(journey.traces.length, "trace")} in this journey`),
      h(
        "ul",
        { "data-testid": "journey-traces" },
        journey.traces.map((t) =>
          h(
            "li",
            null,
            h("code", { title: t.trace_id }, t.trace_id),
            " ",
            h("span", { class: "muted" }, t.carries_id ? "carries the id" : `linked, ${plural(t.depth, "hop")} away`),
          ),
        ),
      ),
    ),
    journey.truncated
      ? h("p", { class: "notice", role: "note" }, "This journey was cut short: it reaches more traces than one answer holds.")
      : null,
  );
}

function placeholder() {
  return h(
    "aside",
    { class: "detail empty", "data-testid": "span-detail-empty" },
    h("p", null, "Choose a span (click, or arrow keys and Enter) to see its attributes, events, resource and links."),
  );
}

function select(spanId, moveFocus) {
  const row = shown.model.rows.find((r) => r.span.span_id === spanId);
  if (!row) {
    replace(shown.pane, h("p", { class: "notice", role: "alert", "data-testid": "span-missing" }, `Span ${spanId} is not part of this journey.`));
    return;
  }
  shown.wf.select(row.key, moveFocus);
  replace(shown.pane, detail(row, shown.model, jump));
}

/** Follows a link: within this journey if it holds the span, else to the span's own trace. */
function jump(ref) {
  const here = shown.model.rows.some((r) => r.span.trace_id === ref.trace_id && r.span.span_id === ref.span_id);
  go(journeyHref(here ? shown.id : ref.trace_id, ref.span_id));
}

/** Renders the journey of `id` into `main`, selecting `spanId` if given. */
export async function showJourney(main, id, spanId, status) {
  if (shown && shown.id === id && main.contains(shown.root)) {
    if (spanId) select(spanId, true);
    return;
  }
  const ticket = ++asked;
  shown = null;
  status(`Looking up ${id}…`);
  replace(main, h("h1", null, "Journey of ", h("code", null, id)), h("p", { class: "muted" }, "Loading…"));
  let journey;
  try {
    journey = await api.journey(id);
  } catch (err) {
    if (ticket !== asked) return;
    status("");
    replace(
      main,
      h("h1", null, "Journey of ", h("code", null, id)),
      h("p", { class: "notice", role: "alert", "data-testid": "error" }, err.status === 404 ? `Nothing in the store carries ${id}: no message, order, correlation or trace id matches.` : err.message),
    );
    return;
  }
  if (ticket !== asked) return;
  const model = layout(journey);
  const pane = h("div", { class: "detail-pane", "data-testid": "detail-pane" }, placeholder());
  const wf = waterfall(model, journey, (row) => {
    replaceUrl(journeyHref(id, row.span.span_id));
    replace(pane, detail(row, model, jump));
  });
  const root = h(
    "div",
    { class: "journey", "data-testid": "journey", "data-journey-id": id },
    h("h1", { tabindex: "-1" }, "Journey of ", h("code", { "data-testid": "journey-id" }, id)),
    summary(journey, model),
    h("div", { class: "journey-body" }, wf.el, pane),
  );
  replace(main, root);
  shown = { id, root, model, wf, pane };
  status(`${plural(journey.spans.length, "span")} in ${plural(journey.traces.length, "trace")}.`);
  if (spanId) select(spanId, true);
  else root.querySelector("h1").focus();
}

/** Forgets the shown journey (another view replaced it). */
export function leaveJourney() {
  shown = null;
  asked++;
}
