// The page's entry point: the id box, the navigation, and the router that draws the view the
// URL names. Each view draws into its own container, so an answer arriving after the user
// moved on lands in a detached element instead of over the newer view.

import { showGraph } from "./graph.js";
import { h, replace } from "./dom.js";
import { leaveJourney, showJourney } from "./journey.js";
import { showLatency } from "./latency.js";
import { current, go, journeyHref } from "./route.js";
import { showSearch } from "./search.js";
import { showStuck } from "./stuck.js";

const main = document.getElementById("main");
const statusLine = document.getElementById("status");
const form = document.getElementById("find");
const input = document.getElementById("find-id");

const TITLES = { traces: "Recent traces", graph: "Service graph", latency: "Latency", stuck: "Stuck journeys" };

let ticket = 0;
let view = null; // { key, el }

function container(key) {
  if (view && view.key === key && main.contains(view.el)) return view.el;
  const el = h("div", { class: "view" });
  replace(main, el);
  view = { key, el };
  return el;
}

async function render(moved) {
  const mine = ++ticket;
  const status = (text) => {
    if (mine === ticket) statusLine.textContent = text;
  };
  const route = current();
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === route.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (route.view === "journey" && route.parts[0]) {
      const id = route.parts[0];
      input.value = id;
      document.title = `${id} · Pigeon journeys`;
      await showJourney(container(`journey:${id}`), id, route.parts[1] === "span" ? route.parts[2] : null, status);
      return;
    }
    leaveJourney();
    const el = container(`${route.view}:${mine}`);
    document.title = `${TITLES[route.view] ?? TITLES.traces} · Pigeon journeys`;
    if (route.view === "graph") await showGraph(el, status);
    else if (route.view === "latency") await showLatency(el, route.params, status);
    else if (route.view === "stuck") await showStuck(el, route.params, status);
    else await showSearch(el, route.params, status);
    if (moved && mine === ticket) el.querySelector("h1")?.focus();
  } catch (err) {
    if (mine !== ticket) return;
    replace(
      container(`error:${mine}`),
      h("h1", { tabindex: "-1" }, "Something went wrong"),
      h("p", { class: "notice", role: "alert", "data-testid": "error" }, err.message),
    );
    status("");
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const id = input.value.trim();
  if (id) go(journeyHref(id));
  else input.focus();
});

// "/" jumps to the id box, as in most trace and code search tools.
document.addEventListener("keydown", (e) => {
  const typing = e.target.closest?.("input, textarea, select, [contenteditable]");
  if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    input.focus();
    input.select();
  }
});

window.addEventListener("hashchange", () => render(true));
render(false);
