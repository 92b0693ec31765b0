#!/usr/bin/env python3
"""A third-party producer for a pigeon-bus topic: plain nats-py and the OpenTelemetry SDK.

Starts a PRODUCER span, injects its context into NATS headers with
TraceContextTextMapPropagator, publishes one message to the topic's subject through JetStream
(awaiting the stream's ack), and prints one JSON line with the span's trace id and span id. A
pigeon-bus subscriber's CONSUMER span must continue this trace.
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
    parser.add_argument("--payload", default='{"from": "python"}')
    args = parser.parse_args()

    nc = await nats.connect(args.url)
    try:
        js = nc.jetstream()
        tracer = TracerProvider().get_tracer("pigeon-interop-python")
        with tracer.start_as_current_span(
            f"send {args.subject}", kind=SpanKind.PRODUCER
        ) as span:
            headers: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(headers)
            ack = await js.publish(
                args.subject, args.payload.encode(), headers=headers, stream=args.stream
            )
            own = span.get_span_context()
            result = {
                "trace_id": format(own.trace_id, "032x"),
                "span_id": format(own.span_id, "016x"),
                "headers": headers,
                "stream_sequence": ack.seq,
            }
    finally:
        await nc.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
