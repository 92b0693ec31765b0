// The journey API (docs/journey-api.md), with its JSON error bodies turned into messages.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

async function get(path, params) {
  const qs = params ? new URLSearchParams(params).toString() : "";
  let response;
  try {
    response = await fetch(qs ? `${path}?${qs}` : path, { headers: { accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, "network", `Cannot reach the server: ${err.message}`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: reported below if the status is not OK.
  }
  if (!response.ok) {
    throw new ApiError(response.status, body?.code ?? "http", body?.message ?? `${response.status} ${response.statusText}`);
  }
  return body;
}

const drop = (params) =>
  Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));

export const api = {
  journey: (id) => get(`/api/v1/journeys/${encodeURIComponent(id)}`),
  search: (params) => get("/api/v1/search", drop(params)),
  latency: () => get("/api/v1/latency"),
  graph: () => get("/api/v1/graph"),
  stuck: (params) => get("/api/v1/stuck", drop(params)),
};
