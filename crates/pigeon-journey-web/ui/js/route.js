// The URL is the state: every view and selection has a hash route, so a link can be shared
// and back/forward work. Routes:
//   #/journey/<id>[/span/<span_id>]   a journey (message, order, correlation or trace id)
//   #/traces?service=&span=&min_ms=&max_ms=&errors=1   recent traces
//   #/graph   #/latency?sort=&dir=   #/stuck?after_ms=

/** The current route: { view, parts, params }. */
export function current() {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const parts = path.split("/").filter(Boolean).map(safeDecode);
  return { view: parts[0] ?? "traces", parts: parts.slice(1), params };
}

function safeDecode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The hash of a view with path parts and query parameters (empty values left out). */
export function href(view, parts = [], params = {}) {
  const path = [view, ...parts].map(encodeURIComponent).join("/");
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) query.set(k, String(v));
  }
  const qs = query.toString();
  return `#/${path}${qs ? `?${qs}` : ""}`;
}

/** The hash of a journey, optionally with a span selected. */
export function journeyHref(id, spanId) {
  return href("journey", spanId ? [id, "span", spanId] : [id]);
}

/** Goes to a route as a new history entry; going where the page already is redraws it (a
 *  resubmitted form refreshes its answer). */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

/** Changes the URL without a history entry or a hashchange (a selection, not a visit). */
export function replace(hash) {
  history.replaceState(history.state, "", hash);
}
