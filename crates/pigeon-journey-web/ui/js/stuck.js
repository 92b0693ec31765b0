// Stuck journeys: messages whose flow started (a DM send, a marker publish) and never reached
// its terminal step (the delivery receipt, the persist) within the deadline. Each entry shows
// the last step it reached and opens its waterfall with that step selected.

import { api } from "./api.js";
import { swatch } from "./colors.js";
import { h, replace } from "./dom.js";
import { clock, dateTime, millis, plural } from "./format.js";
import { go, href, journeyHref } from "./route.js";

/** Renders the stuck list into `main`; `params.after_ms` replaces the flows' deadlines. */
export async function showStuck(main, params, status) {
  const after = params.get("after_ms") ?? "";
  const input = h("input", {
    id: "stuck-after",
    name: "after_ms",
    type: "number",
    min: "0",
    step: "100",
    value: after,
    placeholder: "30000",
    "data-testid": "stuck-after",
  });
  const form = h(
    "form",
    {
      class: "controls",
      "data-testid": "stuck-form",
      onsubmit: (e) => {
        e.preventDefault();
        go(href("stuck", [], { after_ms: input.value }));
      },
    },
    h("label", { for: "stuck-after" }, "Stuck after (ms, empty for each flow's deadline) "),
    input,
    " ",
    h("button", { type: "submit", "data-testid": "stuck-refresh" }, "Refresh"),
  );
  replace(main, h("h1", { tabindex: "-1" }, "Stuck journeys"), form, h("p", { class: "muted" }, "Loading…"));
  const stuck = await api.stuck({ deadline_ms: after, limit: 200 });
  const list = stuck.length
    ? h(
        "table",
        { class: "data", "data-testid": "stuck-table" },
        h("caption", { class: "sr-only" }, "Journeys that missed their terminal step"),
        h(
          "thead",
          null,
          h("tr", null, ["Flow", "Started", "Waiting", "Last step reached", "Ids"].map((c) => h("th", { scope: "col" }, c))),
        ),
        h(
          "tbody",
          null,
          stuck.map((s) =>
            h(
              "tr",
              { "data-testid": "stuck-row", "data-ids": s.ids.join(" "), "data-trace-id": s.started.trace_id },
              h("td", null, s.flow),
              h("td", null, h("time", { title: dateTime(s.started.start_unix_nano) }, clock(s.started.start_unix_nano)), " ", h("span", { class: "muted" }, s.started.span_name)),
              h("td", { class: "num" }, millis(s.waiting_ms)),
              h(
                "td",
                null,
                h(
                  "a",
                  { href: journeyHref(s.started.trace_id, s.last_step.span_id), "data-testid": "stuck-open", title: "Open the waterfall at this step" },
                  swatch(s.last_step.service),
                  s.last_step.span_name,
                ),
                " ",
                h("span", { class: "muted" }, `${s.last_step.service}, ${clock(s.last_step.start_unix_nano)}`),
              ),
              h(
                "td",
                null,
                h(
                  "ul",
                  { class: "ids" },
                  s.ids.map((id) => h("li", null, h("a", { href: journeyHref(id), "data-testid": "stuck-id" }, h("code", null, id)))),
                ),
              ),
            ),
          ),
        ),
      )
    : h("p", { class: "muted", "data-testid": "stuck-empty" }, "Nothing is stuck: every journey past its deadline reached its terminal step.");
  replace(
    main,
    h("h1", { tabindex: "-1" }, "Stuck journeys"),
    h("p", { class: "lede" }, "Flows that started and did not reach their terminal step in time: a DM send without its delivery receipt, a marker publish never persisted."),
    form,
    list,
  );
  status(`${plural(stuck.length, "stuck journey")}.`);
}
