"""Exports two spans with the OpenTelemetry Python SDK over OTLP/HTTP (protobuf, optionally
gzip) to the endpoint given, continuing the trace of the traceparent given: a service in
another language joining a Pigeon journey."""
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

endpoint, traceparent, message_id, compression = sys.argv[1:5]
provider = TracerProvider(resource=Resource.create({"service.name": "python-billing"}))
exporter = OTLPSpanExporter(
    endpoint=endpoint,
    compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
)
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("billing")
parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
with tracer.start_as_current_span("charge-order", context=parent, kind=trace.SpanKind.CONSUMER) as span:
    span.set_attribute("message.id", message_id)
    with tracer.start_as_current_span("write-invoice") as inner:
        inner.set_status(trace.Status(trace.StatusCode.ERROR, "printer on fire"))
    ids = {"trace_id": format(span.get_span_context().trace_id, "032x"), "span_id": format(span.get_span_context().span_id, "016x")}
provider.shutdown()
print(json.dumps(ids))
