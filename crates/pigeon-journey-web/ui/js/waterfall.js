// The journey as a waterfall: one row per span, children under their parent (indented), each
// trace's roots in start order, bars placed on a shared time axis. A bus hop (a CONSUMER span
// whose parent or link target is a PRODUCER span) also shows how long the message waited.
//
// The rows form an ARIA tree: arrow keys move, Left/Right collapse and expand, Enter or a click
// selects (onSelect), so the whole view works from the keyboard.

import { colour } from "./colors.js";
import { h } from "./dom.js";
import { duration } from "./format.js";

/** The attribute a consumer may set with the time its message waited (the store's name). */
const QUEUE_TIME_ATTR = "pigeon.queue_time_ms";

export const keyOf = (traceId, spanId) => `${traceId}:${spanId}`;

/**
 * The journey's spans as a tree in display order, with what rows need.
 * Returns { rows, byKey, t0, total } where each row is
 * { key, entry, span, depth, parent, children, queueNs, producer }.
 */
export function layout(journey) {
  const byKey = new Map();
  for (const entry of journey.spans) {
    const s = entry.span;
    byKey.set(keyOf(s.trace_id, s.span_id), {
      key: keyOf(s.trace_id, s.span_id),
      entry,
      span: s,
      children: [],
      parent: null,
      depth: 0,
    });
  }
  const roots = [];
  for (const node of byKey.values()) {
    const p = node.span.parent_span_id && byKey.get(keyOf(node.span.trace_id, node.span.parent_span_id));
    if (p) {
      node.parent = p;
      p.children.push(node);
    } else {
      roots.push(node);
    }
  }
  const byStart = (a, b) => a.span.start_unix_nano - b.span.start_unix_nano || a.entry.trace_index - b.entry.trace_index;
  const rows = [];
  const visit = (node, depth) => {
    node.depth = depth;
    rows.push(node);
    node.children.sort(byStart).forEach((c) => visit(c, depth + 1));
  };
  roots.sort(byStart).forEach((r) => visit(r, 0));
  for (const node of rows) Object.assign(node, hop(node, byKey));
  const t0 = Math.min(...rows.map((r) => r.span.start_unix_nano));
  const t1 = Math.max(...rows.map((r) => r.span.end_unix_nano));
  return { rows, byKey, t0, total: Math.max(t1 - t0, 1) };
}

/** Queue time of a bus hop: the consumer's own measure if it gave one, else the gap from the
 *  producer's end (or start, if it was still running) to the consumer's start. */
function hop(node, byKey) {
  const s = node.span;
  if (s.kind !== "consumer") return { queueNs: null, producer: null };
  const candidates = [node.parent, ...s.links.map((l) => byKey.get(keyOf(l.trace_id, l.span_id)))];
  const producer = candidates.find((c) => c && c.span.kind === "producer") ?? null;
  const attr = s.attributes.find((kv) => kv.key === QUEUE_TIME_ATTR);
  const measured = attr === undefined ? NaN : Number(attr.value);
  if (Number.isFinite(measured) && measured >= 0) return { queueNs: measured * 1e6, producer };
  if (!producer) return { queueNs: null, producer: null };
  const p = producer.span;
  const from = p.end_unix_nano <= s.start_unix_nano ? p.end_unix_nano : p.start_unix_nano;
  return { queueNs: Math.max(0, s.start_unix_nano - from), producer };
}

/** Short label of the error status, or null. */
export function errorOf(span) {
  return span.status.code === "error" ? span.status.message || "error" : null;
}

const pct = (x) => `${(x * 100).toFixed(3)}%`;

/** The tag of a root row: which trace of the journey it starts, and whether its parent is
 *  missing from the store (still running, sampled out, or evicted). */
function rootTag(row, journey) {
  const s = row.span;
  const n = row.entry.trace_index + 1;
  const trace = journey.traces[row.entry.trace_index];
  const how = trace?.carries_id ? "carries the id" : `linked, ${trace?.depth ?? "?"} hops away`;
  return h(
    "span",
    {
      class: `wf-tag${s.parent_span_id ? " orphan" : ""}`,
      title: `trace ${s.trace_id} (${how})${s.parent_span_id ? `; parent span ${s.parent_span_id} is not in the store` : ""}`,
    },
    s.parent_span_id ? `trace ${n} · parent not stored` : `trace ${n}`,
  );
}

function axis(total) {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return h(
    "div",
    { class: "wf-head", "aria-hidden": "true" },
    h("div", { class: "wf-name" }, "Span"),
    h(
      "div",
      { class: "wf-axis", "data-testid": "time-axis" },
      ticks.map((t) => h("span", { class: "tick", style: { left: pct(t) } }, t ? duration(total * t) : "0")),
    ),
  );
}

/**
 * The waterfall element. `onSelect(row)` is called when a row is chosen.
 * Returns { el, select(key, moveFocus), rows }: select() marks, expands to and scrolls to a
 * row, and focuses it if asked.
 */
export function waterfall(model, journey, onSelect) {
  const { rows, t0, total } = model;
  const collapsed = new Set();
  const rowEls = new Map();
  let selected = null;

  const tree = h("div", {
    class: "wf-rows",
    role: "tree",
    "aria-label": `Spans of the journey of ${journey.id}`,
    "data-testid": "waterfall-rows",
  });

  for (const row of rows) {
    const s = row.span;
    const err = errorOf(s);
    const left = (s.start_unix_nano - t0) / total;
    const width = (s.end_unix_nano - s.start_unix_nano) / total;
    const c = colour(s.service);
    const queue =
      row.queueNs !== null
        ? h(
            "span",
            {
              class: "wf-queue",
              title: `waited ${duration(row.queueNs)} in the queue`,
              style: { left: pct(Math.max(0, left - row.queueNs / total)), width: pct(row.queueNs / total) },
            },
          )
        : null;
    const toggle = row.children.length
      ? h("span", { class: "wf-toggle", "aria-hidden": "true", onclick: (e) => { e.stopPropagation(); flip(row); } }, "▾")
      : h("span", { class: "wf-toggle leaf", "aria-hidden": "true" });
    const el = h(
      "div",
      {
        class: `wf-row${err ? " error" : ""}`,
        role: "treeitem",
        tabindex: "-1",
        "aria-level": row.depth + 1,
        "aria-selected": "false",
        "aria-expanded": row.children.length ? "true" : null,
        "aria-label": `${s.name}, ${s.service}, ${duration(s.end_unix_nano - s.start_unix_nano)}${err ? `, error: ${err}` : ""}${row.queueNs !== null ? `, queued ${duration(row.queueNs)}` : ""}`,
        "data-testid": "span-row",
        "data-span-id": s.span_id,
        "data-trace-id": s.trace_id,
        "data-name": s.name,
        "data-service": s.service,
        "data-error": err ? "true" : null,
        style: { "--depth": row.depth, "--c": c },
        onclick: () => choose(row),
      },
      h(
        "div",
        { class: "wf-name" },
        h(
          "div",
          { class: "wf-line" },
          toggle,
          h("span", { class: "swatch", "aria-hidden": "true" }),
          h("span", { class: "wf-label", title: s.name }, s.name),
          h("span", { class: "wf-service" }, s.service),
          row.parent ? null : rootTag(row, journey),
        ),
        err ? h("div", { class: "wf-err", "data-testid": "span-error" }, `⚠ ${err}`) : null,
      ),
      h(
        "div",
        { class: "wf-track" },
        queue,
        h("span", { class: "wf-bar", style: { left: pct(left), width: pct(width) } }),
        h(
          "span",
          { class: `wf-dur${left + width > 0.75 ? " inside" : ""}`, style: left + width > 0.75 ? { right: pct(1 - left) } : { left: pct(left + width) } },
          duration(s.end_unix_nano - s.start_unix_nano),
          row.queueNs !== null ? h("span", { class: "wf-queued", "data-testid": "queue-time" }, ` · queued ${duration(row.queueNs)}`) : null,
        ),
      ),
    );
    rowEls.set(row.key, el);
    tree.append(el);
  }

  const visible = () => rows.filter((r) => !rowEls.get(r.key).hidden);

  function flip(row) {
    if (collapsed.has(row.key)) collapsed.delete(row.key);
    else collapsed.add(row.key);
    refresh();
  }

  function refresh() {
    for (const row of rows) {
      let hidden = false;
      for (let p = row.parent; p; p = p.parent) if (collapsed.has(p.key)) hidden = true;
      const el = rowEls.get(row.key);
      el.hidden = hidden;
      if (row.children.length) el.setAttribute("aria-expanded", String(!collapsed.has(row.key)));
    }
  }

  function focus(row) {
    for (const el of rowEls.values()) el.tabIndex = -1;
    const el = rowEls.get(row.key);
    el.tabIndex = 0;
    el.focus({ preventScroll: false });
  }

  function mark(row) {
    if (selected) rowEls.get(selected.key).setAttribute("aria-selected", "false");
    selected = row;
    for (let p = row.parent; p; p = p.parent) collapsed.delete(p.key);
    refresh();
    const el = rowEls.get(row.key);
    el.setAttribute("aria-selected", "true");
    for (const other of rowEls.values()) other.tabIndex = -1;
    el.tabIndex = 0;
    el.scrollIntoView({ block: "nearest" });
  }

  function choose(row) {
    mark(row);
    focus(row);
    onSelect(row);
  }

  tree.addEventListener("keydown", (e) => {
    const at = rows.find((r) => rowEls.get(r.key) === document.activeElement);
    if (!at) return;
    const list = visible();
    const i = list.indexOf(at);
    const moves = {
      ArrowDown: () => list[i + 1],
      ArrowUp: () => list[i - 1],
      Home: () => list[0],
      End: () => list[list.length - 1],
      ArrowRight: () => {
        if (at.children.length && collapsed.has(at.key)) flip(at);
        else return at.children[0];
      },
      ArrowLeft: () => {
        if (at.children.length && !collapsed.has(at.key)) flip(at);
        else return at.parent;
      },
    };
    if (moves[e.key]) {
      e.preventDefault();
      const to = moves[e.key]();
      if (to) focus(to);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      choose(at);
    }
  });

  if (rows.length) rowEls.get(rows[0].key).tabIndex = 0;

  const el = h(
    "section",
    { class: "waterfall", "aria-label": "Waterfall", "data-testid": "waterfall" },
    axis(total),
    tree,
  );
  return {
    el,
    rows,
    select(key, moveFocus) {
      const row = rows.find((r) => r.key === key);
      if (row) mark(row);
      if (row && moveFocus) focus(row);
      return row ?? null;
    },
  };
}
