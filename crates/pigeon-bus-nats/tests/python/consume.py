#!/usr/bin/env python3
"""A third-party consumer of a pigeon-bus topic: plain nats-py and the OpenTelemetry SDK.

Pulls one message from the topic's JetStream stream, continues the trace that rides in its
NATS headers (W3C trace context, extracted with TraceContextTextMapPropagator) with a CONSUMER
span, acks, and prints one JSON line: the new span's trace id, span id and parent span id, plus
the headers it saw. Nothing pigeon-specific is used, which is the point: any service with a NATS
client and an OpenTelemetry SDK joins the trace.
"""

import argparse
import asyncio
import json
import sys

import nats
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--stream", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--durable", required=True)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()

    nc = await nats.connect(args.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(args.subject, durable=args.durable, stream=args.stream)
        messages = await sub.fetch(1, timeout=args.timeout)
        message = messages[0]
        headers = dict(message.headers or {})

        context = TraceContextTextMapPropagator().extract(carrier=headers)
        tracer = TracerProvider().get_tracer("pigeon-interop-python")
        with tracer.start_as_current_span(
            f"process {args.subject}", context=context, kind=SpanKind.CONSUMER
        ) as span:
            own = span.get_span_context()
            parent = span.parent
            result = {
                "trace_id": format(own.trace_id, "032x"),
                "span_id": format(own.span_id, "016x"),
                "parent_span_id": format(parent.span_id, "016x") if parent else None,
                "headers": headers,
                "payload": message.data.decode("utf-8", "replace"),
            }
        await message.ack()
    finally:
        await nc.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
