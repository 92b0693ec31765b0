// The service graph: who calls or messages whom. Drawn as SVG (services in columns by how far
// downstream they are, one arrow per edge, labelled with its count and p50/p99) and listed as
// a table with every number, which is also what screen readers get.

import { api } from "./api.js";
import { colour, swatch } from "./colors.js";
import { h, replace, svg } from "./dom.js";
import { millis } from "./format.js";

const COL = 400;
const ROW = 84;
const NODE_W = 160;
const NODE_H = 34;

/** Column of each service: the longest chain of edges leading to it (cycles cut). */
function columns(services, edges) {
  const depth = new Map(services.map((s) => [s, 0]));
  for (let pass = 0; pass < services.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const want = depth.get(e.from) + 1;
      if (e.from !== e.to && want > depth.get(e.to) && want < services.length) {
        depth.set(e.to, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return depth;
}

function drawing(graph) {
  const { services, edges } = graph;
  const depth = columns(services, edges);
  const pos = new Map();
  const perCol = new Map();
  for (const s of services) {
    const c = depth.get(s);
    const r = perCol.get(c) ?? 0;
    perCol.set(c, r + 1);
    pos.set(s, { x: 20 + c * COL, y: 20 + r * ROW });
  }
  const width = 40 + Math.max(...depth.values()) * COL + NODE_W;
  const backwards = edges.some((e) => depth.get(e.to) <= depth.get(e.from));
  const height = 40 + (Math.max(...perCol.values()) - 1) * ROW + NODE_H + (backwards ? 80 : 0);
  const arrows = edges.map((e, i) => {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2 + (e.kind === "link" ? 6 : 0);
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2 + (e.kind === "link" ? 6 : 0);
    const back = x2 <= x1;
    const bend = back ? 60 : Math.max(30, (x2 - x1) / 2);
    const d = back
      ? `M${x1},${y1} C${x1 + bend},${y1 + 70} ${x2 - bend},${y2 + 70} ${x2},${y2}`
      : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
    const mx = (x1 + x2) / 2;
    const my = back ? Math.max(y1, y2) + 58 : (y1 + y2) / 2 - 7;
    return svg(
      "g",
      { class: `edge ${e.kind}${e.errors ? " has-errors" : ""}`, "data-testid": "graph-edge", "data-from": e.from, "data-to": e.to },
      svg("title", null, `${e.from} → ${e.to} (${e.kind}): ${e.count} spans, p50 ${millis(e.latency.p50_ms)}, p99 ${millis(e.latency.p99_ms)}`),
      svg("path", { d, "marker-end": "url(#arrow)", id: `edge-${i}` }),
      svg("text", { x: mx, y: my, "text-anchor": "middle" }, `${e.count}× p50 ${millis(e.latency.p50_ms)} · p99 ${millis(e.latency.p99_ms)}`),
    );
  });
  const nodes = services.map((s) => {
    const p = pos.get(s);
    return svg(
      "g",
      { class: "node", "data-testid": "graph-node", "data-service": s },
      svg("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6, style: { "--c": colour(s) } }),
      svg("text", { x: p.x + NODE_W / 2, y: p.y + NODE_H / 2 + 5, "text-anchor": "middle" }, s.length > 22 ? `${s.slice(0, 21)}…` : s),
    );
  });
  return svg(
    "svg",
    {
      class: "graph",
      viewBox: `0 0 ${width} ${height}`,
      width,
      role: "img",
      "aria-label": `Service graph: ${services.length} services, ${edges.length} edges; the table below lists them`,
      "data-testid": "graph-svg",
    },
    svg(
      "defs",
      null,
      svg(
        "marker",
        { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }),
      ),
    ),
    arrows,
    nodes,
  );
}

function edgeTable(edges) {
  const q = (e, k) => (e.queue_time ? millis(e.queue_time[k]) : "–");
  return h(
    "table",
    { class: "data", "data-testid": "graph-table" },
    h("caption", null, "Edges: a parent span in one service and its child in another, or a span linking across services"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["From", "To", "Kind", "Count", "Errors", "p50", "p99", "Queue p50", "Queue p99"].map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h(
      "tbody",
      null,
      edges.map((e) =>
        h(
          "tr",
          { "data-testid": "graph-edge-row", "data-from": e.from, "data-to": e.to },
          h("td", null, swatch(e.from), e.from),
          h("td", null, swatch(e.to), e.to),
          h("td", null, e.kind),
          h("td", { class: "num" }, String(e.count)),
          h("td", { class: `num${e.errors ? " status-error" : ""}` }, String(e.errors)),
          h("td", { class: "num" }, millis(e.latency.p50_ms)),
          h("td", { class: "num" }, millis(e.latency.p99_ms)),
          h("td", { class: "num" }, q(e, "p50_ms")),
          h("td", { class: "num" }, q(e, "p99_ms")),
        ),
      ),
    ),
  );
}

/** Renders the service graph into `main`. */
export async function showGraph(main, status) {
  replace(main, h("h1", { tabindex: "-1" }, "Service graph"), h("p", { class: "muted" }, "Loading…"));
  const graph = await api.graph();
  const body = graph.edges.length
    ? [h("div", { class: "graph-wrap" }, drawing(graph)), edgeTable(graph.edges)]
    : [h("p", { class: "muted", "data-testid": "graph-empty" }, "No calls or messages between services yet.")];
  replace(
    main,
    h("h1", { tabindex: "-1" }, "Service graph"),
    h("p", { class: "lede" }, "Who calls or messages whom, over every span in the store. Dashed arrows are links between traces; queue time is measured on bus hops."),
    ...body,
  );
  status(`${graph.services.length} services, ${graph.edges.length} edges.`);
}
