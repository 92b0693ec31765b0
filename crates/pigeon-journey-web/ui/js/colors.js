// One colour per service, the same in every view and on every visit: the colour is chosen by
// a hash of the name, moved to the next free one if another service already has it, and the
// choice is remembered in localStorage.

import { h } from "./dom.js";

// Distinguishable on white and on the dark theme, each readable as a bar behind no text.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
  "#9c755f", "#ff9da7", "#86bcb6", "#8cd17d", "#a0cbe8", "#d4a6c8",
];
const KEY = "pigeon.journey.colours";

let assigned = load();

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "{}");
    return saved && typeof saved === "object" ? saved : {};
  } catch {
    return {};
  }
}

function hash(text) {
  let x = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    x ^= text.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
}

/** The colour of a service. */
export function colour(service) {
  if (assigned[service] !== undefined) return PALETTE[assigned[service] % PALETTE.length];
  const taken = new Set(Object.values(assigned));
  let index = hash(service) % PALETTE.length;
  for (let i = 0; i < PALETTE.length && taken.has(index); i++) {
    index = (index + 1) % PALETTE.length;
  }
  assigned = { ...assigned, [service]: index };
  try {
    localStorage.setItem(KEY, JSON.stringify(assigned));
  } catch {
    // Storage may be off; the colours still hold for this page.
  }
  return PALETTE[index];
}

/** A coloured dot standing for a service (decorative: the name is always written beside). */
export function swatch(service) {
  return h("span", { class: "swatch", "aria-hidden": "true", style: { "--c": colour(service) } });
}

/** The legend of services: swatch, name and an optional count each. */
export function legend(services, counts) {
  return h(
    "ul",
    { class: "legend", "aria-label": "Services", "data-testid": "legend" },
    services.map((s) =>
      h(
        "li",
        { "data-testid": "legend-item", "data-service": s },
        swatch(s),
        s,
        counts ? h("span", { class: "count", title: "spans" }, String(counts.get(s) ?? 0)) : null,
      ),
    ),
  );
}
