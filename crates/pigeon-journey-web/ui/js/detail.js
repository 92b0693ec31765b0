// The selected span in full: status, timing, queue time, attributes, events (with their
// timestamps), resource, and its links both ways — the spans it links to and the spans that
// link to it — each one a button that jumps there (in this journey, or to the other trace).

import { swatch } from "./colors.js";
import { facts, h } from "./dom.js";
import { clock, dateTime, duration, iso, shortId, value } from "./format.js";
import { errorOf, keyOf } from "./waterfall.js";

function table(rows, label, testid) {
  if (!rows.length) return h("p", { class: "muted", "data-testid": testid }, `No ${label.toLowerCase()}.`);
  return h(
    "table",
    { class: "kv", "data-testid": testid },
    h("caption", { class: "sr-only" }, label),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"))),
    h(
      "tbody",
      null,
      [...rows]
        .sort((a, b) => a.key.localeCompare(b.key))
        .map((kv) => h("tr", null, h("th", { scope: "row" }, kv.key), h("td", null, value(kv.value)))),
    ),
  );
}

function section(title, ...content) {
  return h("section", { class: "detail-part" }, h("h3", null, title), ...content);
}

/**
 * One end of a link: a button naming the span (if this journey has it) that calls jump(ref).
 */
function linkItem(ref, model, jump, testid, attributes) {
  const target = model.byKey.get(keyOf(ref.trace_id, ref.span_id));
  const label = target
    ? [swatch(target.span.service), h("span", null, target.span.name), h("span", { class: "muted" }, target.span.service)]
    : [h("span", null, `span ${shortId(ref.span_id)}`), h("span", { class: "muted" }, `in trace ${shortId(ref.trace_id)} (not in this journey)`)];
  return h(
    "li",
    null,
    h(
      "button",
      {
        type: "button",
        class: "link-button",
        "data-testid": testid,
        "data-trace-id": ref.trace_id,
        "data-span-id": ref.span_id,
        title: `trace ${ref.trace_id}, span ${ref.span_id}`,
        onclick: () => jump(ref),
      },
      label,
    ),
    attributes?.length ? table(attributes, "Link attributes", "link-attributes") : null,
  );
}

/** The detail panel of `row`; `jump({trace_id, span_id})` follows a link. */
export function detail(row, model, jump) {
  const s = row.span;
  const err = errorOf(s);
  const start = s.start_unix_nano;
  const parent = s.parent_span_id ? model.byKey.get(keyOf(s.trace_id, s.parent_span_id)) : null;
  const backlinks = row.entry.backlinks;
  return h(
    "aside",
    { class: "detail", "aria-labelledby": "detail-title", "data-testid": "span-detail", "data-span-id": s.span_id },
    h("h2", { id: "detail-title", tabindex: "-1" }, swatch(s.service), s.name),
    err ? h("p", { class: "status-error", role: "note", "data-testid": "detail-error" }, `Error: ${err}`) : null,
    facts([
      ["Service", s.service],
      ["Kind", s.kind],
      ["Status", s.status.code],
      ["Duration", duration(s.end_unix_nano - start)],
      ["Start", h("time", { datetime: iso(start) }, dateTime(start))],
      ["Offset", `+${duration(start - model.t0)} into the journey`],
      [
        "Queue time",
        row.queueNs === null
          ? null
          : h("span", { "data-testid": "detail-queue" }, `${duration(row.queueNs)} waiting after ${row.producer ? row.producer.span.name : "the producer"}`),
      ],
      ["Trace", h("code", null, s.trace_id)],
      ["Span", h("code", null, s.span_id)],
      [
        "Parent",
        parent
          ? h("button", { type: "button", class: "link-button", "data-testid": "parent-link", onclick: () => jump({ trace_id: s.trace_id, span_id: parent.span.span_id }) }, parent.span.name)
          : s.parent_span_id
            ? h("code", { title: "not in the store" }, s.parent_span_id)
            : null,
      ],
    ]),
    section(`Attributes (${s.attributes.length})`, table(s.attributes, "Attributes", "detail-attributes")),
    section(
      `Events (${s.events.length})`,
      s.events.length
        ? h(
            "ol",
            { class: "events", "data-testid": "detail-events" },
            s.events.map((e) =>
              h(
                "li",
                { "data-testid": "event" },
                h("time", { datetime: iso(e.time_unix_nano), title: dateTime(e.time_unix_nano) }, `${clock(e.time_unix_nano)} (+${duration(e.time_unix_nano - start)})`),
                " ",
                h("strong", null, e.name),
                e.attributes.length ? table(e.attributes, `Attributes of ${e.name}`, "event-attributes") : null,
              ),
            ),
          )
        : h("p", { class: "muted", "data-testid": "detail-events" }, "No events."),
    ),
    section(
      `Links to (${s.links.length})`,
      s.links.length
        ? h("ul", { class: "links", "data-testid": "detail-links" }, s.links.map((l) => linkItem(l, model, jump, "link-item", l.attributes)))
        : h("p", { class: "muted", "data-testid": "detail-links" }, "Links to no other span."),
    ),
    section(
      `Linked from (${backlinks.length})`,
      backlinks.length
        ? h("ul", { class: "links", "data-testid": "detail-backlinks" }, backlinks.map((b) => linkItem(b, model, jump, "backlink-item")))
        : h("p", { class: "muted", "data-testid": "detail-backlinks" }, "No span links here."),
    ),
    section(`Resource (${s.resource.length})`, table(s.resource, "Resource", "detail-resource")),
  );
}
