// The marker page: a person creates a mark; the page starts its trace in the browser.
//
// Seed 002's marker: the browser span `publish-message` is the root of the mark's trace. Its
// context travels with the mark to Pigeon (the `traceparent` header, or a `CorrelationId`
// field in the JSON when the server says `carrier: "correlation-id"`), so processor and
// persister continue the same trace. Spans are exported as OTLP/HTTP JSON to the endpoint the
// server names (Pigeon's own `/v1/traces` by default), flushed after every mark.
import { SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, WebTracerProvider } from "@opentelemetry/sdk-trace-web";

const config = await fetch("config.json").then((r) => r.json());

const provider = new WebTracerProvider({
  resource: resourceFromAttributes({ "service.name": config.service_name }),
  spanProcessors: [
    new BatchSpanProcessor(
      new OTLPTraceExporter({ url: new URL(config.otlp_endpoint, location.href).href }),
      { scheduledDelayMillis: 500 },
    ),
  ],
});
provider.register({ propagator: new W3CTraceContextPropagator() });
const tracer = trace.getTracer("pigeon-marker-page");

const form = document.querySelector("[data-testid=mark-form]");
const input = document.querySelector("[data-testid=mark-text]");
const list = document.querySelector("[data-testid=marks]");
document.querySelector("[data-testid=carrier]").textContent = config.carrier;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  const mark = { id: crypto.randomUUID(), text, created_at: new Date().toISOString() };
  const row = addRow(mark);
  const span = tracer.startSpan("publish-message", {
    kind: SpanKind.PRODUCER,
    attributes: {
      "message.id": mark.id,
      "messaging.system": "pigeon",
      "messaging.destination.name": "internal",
      "messaging.operation.type": "send",
    },
  });
  try {
    await context.with(trace.setSpan(context.active(), span), () => publish(mark));
    row.status.textContent = "published";
    row.item.dataset.state = "published";
    input.value = "";
  } catch (error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error.message ?? error) });
    row.status.textContent = `failed: ${error.message ?? error}`;
    row.item.dataset.state = "failed";
  } finally {
    span.end();
    await provider.forceFlush();
  }
});

// POSTs the mark with the active context, in headers or in the payload.
async function publish(mark) {
  const carried = {};
  propagation.inject(context.active(), carried);
  const headers = { "content-type": "application/json" };
  const body = { ...mark };
  if (config.carrier === "correlation-id") {
    body.CorrelationId = carried.tracestate
      ? `${carried.traceparent};${carried.tracestate}`
      : carried.traceparent;
  } else {
    Object.assign(headers, carried);
  }
  const response = await fetch("api/marks", {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.message ?? `HTTP ${response.status}`);
  }
}

function addRow(mark) {
  const item = document.createElement("li");
  item.dataset.testid = "mark";
  item.dataset.id = mark.id;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = mark.text;
  const link = document.createElement("a");
  link.href = `${config.journey_ui}#/journey/${mark.id}`;
  link.textContent = mark.id;
  link.className = "id";
  const status = document.createElement("span");
  status.className = "status";
  status.dataset.testid = "mark-status";
  status.textContent = "publishing…";
  item.append(text, link, status);
  list.prepend(item);
  return { item, status };
}
