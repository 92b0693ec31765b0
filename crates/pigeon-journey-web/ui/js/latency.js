// Latency per (service, operation): the "what is slow" table. Sortable by any column (the
// sort is kept in the URL), filterable by text; each operation links to its recent traces.

import { api } from "./api.js";
import { swatch } from "./colors.js";
import { h, replace } from "./dom.js";
import { millis } from "./format.js";
import { href, replace as replaceUrl } from "./route.js";

const COLUMNS = [
  { key: "service", label: "Service", text: true },
  { key: "span_name", label: "Operation", text: true },
  { key: "count", label: "Count" },
  { key: "errors", label: "Errors" },
  { key: "p50_ms", label: "p50" },
  { key: "p90_ms", label: "p90" },
  { key: "p99_ms", label: "p99" },
  { key: "max_ms", label: "Max" },
];

function sorted(rows, key, dir) {
  const col = COLUMNS.find((c) => c.key === key) ?? COLUMNS[6];
  const sign = dir === "asc" ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = a[col.key];
    const y = b[col.key];
    const cmp = col.text ? String(x).localeCompare(String(y)) : x - y;
    return sign * cmp || a.service.localeCompare(b.service) || a.span_name.localeCompare(b.span_name);
  });
}

/** Renders the latency table into `main`, sorted as `params` say. */
export async function showLatency(main, params, status) {
  replace(main, h("h1", { tabindex: "-1" }, "Latency by operation"), h("p", { class: "muted" }, "Loading…"));
  const rows = await api.latency();
  let key = params.get("sort") ?? "p99_ms";
  let dir = params.get("dir") === "asc" ? "asc" : "desc";
  let filter = params.get("q") ?? "";

  const tbody = h("tbody");
  const heads = COLUMNS.map((c) => {
    const button = h("button", { type: "button", class: "sort", "data-testid": `sort-${c.key}`, onclick: () => sortBy(c.key) }, c.label);
    return h("th", { scope: "col", "data-key": c.key, class: c.text ? null : "num" }, button);
  });
  const input = h("input", {
    id: "latency-filter",
    type: "search",
    value: filter,
    "data-testid": "latency-filter",
    placeholder: "service or operation",
    oninput: () => {
      filter = input.value;
      draw();
    },
  });

  function sortBy(k) {
    if (k === key) dir = dir === "asc" ? "desc" : "asc";
    else {
      key = k;
      dir = COLUMNS.find((c) => c.key === k).text ? "asc" : "desc";
    }
    draw();
  }

  function draw() {
    replaceUrl(href("latency", [], { sort: key, dir, q: filter }));
    for (const th of heads) {
      th.setAttribute("aria-sort", th.dataset.key === key ? (dir === "asc" ? "ascending" : "descending") : "none");
    }
    const needle = filter.trim().toLowerCase();
    const shown = sorted(rows, key, dir).filter(
      (r) => !needle || r.service.toLowerCase().includes(needle) || r.span_name.toLowerCase().includes(needle),
    );
    replace(
      tbody,
      shown.map((r) =>
        h(
          "tr",
          { "data-testid": "latency-row", "data-service": r.service, "data-span": r.span_name },
          h("td", null, swatch(r.service), r.service),
          h("td", null, h("a", { href: href("traces", [], { service: r.service, span: r.span_name }), title: "Recent traces of this operation" }, r.span_name)),
          h("td", { class: "num" }, String(r.count)),
          h("td", { class: `num${r.errors ? " status-error" : ""}` }, String(r.errors)),
          h("td", { class: "num" }, millis(r.p50_ms)),
          h("td", { class: "num" }, millis(r.p90_ms)),
          h("td", { class: "num" }, millis(r.p99_ms)),
          h("td", { class: "num" }, millis(r.max_ms)),
        ),
      ),
    );
    status(`${shown.length} of ${rows.length} operations, by ${COLUMNS.find((c) => c.key === key)?.label ?? key} ${dir === "asc" ? "ascending" : "descending"}.`);
  }

  replace(
    main,
    h("h1", { tabindex: "-1" }, "Latency by operation"),
    h("p", { class: "lede" }, "Span durations per service and operation, over every span in the store. Choose a column heading to sort."),
    h("p", { class: "controls" }, h("label", { for: "latency-filter" }, "Filter "), input),
    h(
      "table",
      { class: "data", "data-testid": "latency-table" },
      h("caption", { class: "sr-only" }, "Latency percentiles per service and operation"),
      h("thead", null, h("tr", null, heads)),
      tbody,
    ),
  );
  draw();
}
