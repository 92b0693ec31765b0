// Recent traces, newest first, filtered by service, span name, duration and errors: the list
// view of a trace UI. The filters live in the URL; each trace opens as a journey.

import { api } from "./api.js";
import { swatch } from "./colors.js";
import { h, replace } from "./dom.js";
import { dateTime, duration, plural, shortId } from "./format.js";
import { go, href, journeyHref } from "./route.js";

function field(id, label, props) {
  return h("p", { class: "field" }, h("label", { for: id }, label), h("input", { id, name: id, ...props }));
}

/** Services and operations seen, for the form's suggestions. */
async function suggestions() {
  try {
    const rows = await api.latency();
    return {
      services: [...new Set(rows.map((r) => r.service))].sort(),
      spans: [...new Set(rows.map((r) => r.span_name))].sort(),
    };
  } catch {
    return { services: [], spans: [] };
  }
}

/** Renders the search form and its results into `main`. */
export async function showSearch(main, params, status) {
  const value = (k) => params.get(k) ?? "";
  const form = h(
    "form",
    { class: "search", "data-testid": "trace-search-form", "aria-label": "Search recent traces" },
    field("service", "Service", { value: value("service"), list: "services", "data-testid": "search-service", autocomplete: "off" }),
    field("span", "Span name", { value: value("span"), list: "spans", "data-testid": "search-span", autocomplete: "off" }),
    field("min_ms", "Min duration (ms)", { type: "number", min: "0", step: "any", value: value("min_ms"), "data-testid": "search-min" }),
    field("max_ms", "Max duration (ms)", { type: "number", min: "0", step: "any", value: value("max_ms"), "data-testid": "search-max" }),
    field("limit", "Limit", { type: "number", min: "1", max: "1000", value: value("limit") || "20", "data-testid": "search-limit" }),
    h(
      "p",
      { class: "field check" },
      h("input", { id: "errors", name: "errors", type: "checkbox", checked: params.get("errors") === "true", "data-testid": "search-errors" }),
      h("label", { for: "errors" }, "Errors only"),
    ),
    h("p", { class: "field" }, h("button", { type: "submit", "data-testid": "search-traces" }, "Search")),
    h("datalist", { id: "services" }),
    h("datalist", { id: "spans" }),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    go(
      href("traces", [], {
        service: data.get("service").trim(),
        span: data.get("span").trim(),
        min_ms: data.get("min_ms"),
        max_ms: data.get("max_ms"),
        limit: data.get("limit") === "20" ? "" : data.get("limit"),
        errors: data.get("errors") ? "true" : "",
      }),
    );
  });
  const results = h("div", { "data-testid": "trace-results" }, h("p", { class: "muted" }, "Loading…"));
  replace(
    main,
    h("h1", { tabindex: "-1" }, "Recent traces"),
    h("p", { class: "lede" }, "Traces with a span matching every filter, newest first. To follow one message, order or correlation id across traces, use the id box above."),
    form,
    results,
  );
  suggestions().then(({ services, spans }) => {
    replace(form.querySelector("#services"), services.map((s) => h("option", { value: s })));
    replace(form.querySelector("#spans"), spans.map((s) => h("option", { value: s })));
  });
  const query = {};
  for (const k of ["service", "span", "min_ms", "max_ms", "limit", "errors"]) if (value(k)) query[k] = value(k);
  const traces = await api.search(query);
  replace(
    results,
    traces.length
      ? h(
          "table",
          { class: "data", "data-testid": "trace-table" },
          h("caption", { class: "sr-only" }, "Matching traces"),
          h(
            "thead",
            null,
            h("tr", null, ["Started", "Root span", "Duration", "Spans", "Errors", "Services"].map((c) => h("th", { scope: "col" }, c))),
          ),
          h(
            "tbody",
            null,
            traces.map((t) =>
              h(
                "tr",
                { "data-testid": "trace-row", "data-trace-id": t.trace_id, class: t.error_count ? "error" : null },
                h("td", null, dateTime(t.start_unix_nano)),
                h(
                  "td",
                  null,
                  h("a", { href: journeyHref(t.trace_id), "data-testid": "trace-open", title: `trace ${t.trace_id}` }, swatch(t.root_service), t.root_name),
                  " ",
                  h("span", { class: "muted" }, `${t.root_service} · ${shortId(t.trace_id)}`),
                ),
                h("td", { class: "num" }, duration(t.duration_ns)),
                h("td", { class: "num" }, String(t.span_count)),
                h("td", { class: `num${t.error_count ? " status-error" : ""}` }, String(t.error_count)),
                h("td", null, t.services.map((s) => h("span", { class: "chip" }, swatch(s), s))),
              ),
            ),
          ),
        )
      : h("p", { class: "muted", "data-testid": "trace-empty" }, "No trace matches."),
  );
  status(`${plural(traces.length, "trace")}.`);
}
