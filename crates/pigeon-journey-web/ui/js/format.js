// How times, durations and values read. Timestamps arrive as unix nanoseconds in JSON
// numbers: a double keeps them to about 0.25 µs, finer than any span worth reading here.

/** A duration in nanoseconds, in the unit that keeps three significant digits. */
export function duration(ns) {
  if (!Number.isFinite(ns)) return "–";
  if (Math.abs(ns) < 999.5) return `${Math.round(ns)} ns`;
  for (const [unit, scale] of [["µs", 1e3], ["ms", 1e6], ["s", 1e9]]) {
    const text = (ns / scale).toPrecision(3);
    // 999.7 µs rounds to "1.00e+3": that is the next unit's 1.00.
    if (Math.abs(Number(text)) < 1000 && !text.includes("e")) return `${text} ${unit}`;
  }
  const s = Math.round(ns / 1e9);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A duration given in milliseconds (the API's latency fields). */
export function millis(ms) {
  return duration(ms * 1e6);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Local wall-clock time of a unix-nanosecond timestamp, to the millisecond. */
export function clock(unixNano) {
  const d = new Date(unixNano / 1e6);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time of a unix-nanosecond timestamp. */
export function dateTime(unixNano) {
  const d = new Date(unixNano / 1e6);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(unixNano)}`;
}

/** ISO 8601 for <time datetime>. */
export function iso(unixNano) {
  return new Date(unixNano / 1e6).toISOString();
}

/** An attribute value as text (the API sends strings, numbers and booleans). */
export function value(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The first characters of a hex id, for compact display (the full id goes in a title). */
export function shortId(id) {
  return id.length > 8 ? `${id.slice(0, 8)}…` : id;
}

/** "1 span", "2 spans". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
