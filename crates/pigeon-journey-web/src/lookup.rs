//! The journey behind an id, whatever id people paste.
//!
//! The store finds journeys by the ids spans carry (message id, order id, correlation id),
//! not by trace id, yet trace ids are what logs and other tracing tools show. So a trace id
//! is answered with the narrowest journey of an id its spans carry — the whole story of the
//! message, not of its whole conversation — or, when none carries one, with the trace and the traces its spans link to, backlinks
//! computed among those.

use pigeon_journey::{
    Journey, JourneyOptions, JourneySpan, JourneyStore, JourneyTrace, SpanRecord, SpanRef, TraceId,
};

/// The journey of `id`: a message, order or correlation id, or a trace id.
pub(crate) fn journey(store: &JourneyStore, id: &str) -> Journey {
    let options = JourneyOptions::default();
    let journey = store.journey(id, &options);
    if !journey.spans.is_empty() {
        return journey;
    }
    let Ok(trace_id) = TraceId::from_hex(id) else {
        return journey;
    };
    let spans = store.trace(trace_id);
    if spans.is_empty() {
        return journey;
    }
    // A span may carry several ids (a message's and its conversation's): the narrowest
    // journey through this trace is the one the trace belongs to.
    let narrowest = carried_ids(store, &spans)
        .iter()
        .map(|carried| store.journey(carried, &options))
        .filter(|found| found.traces.iter().any(|t| t.trace_id == trace_id))
        .min_by_key(|found| found.spans.len());
    match narrowest {
        Some(found) => Journey {
            id: id.to_owned(),
            ..found
        },
        None => linked(store, id, trace_id, spans, &options),
    }
}

/// Values of indexed keys the spans carry, first seen first.
fn carried_ids(store: &JourneyStore, spans: &[SpanRecord]) -> Vec<String> {
    let keys = &store.config().indexed_keys;
    let mut out: Vec<String> = Vec::new();
    for kv in spans.iter().flat_map(|s| &s.attributes) {
        if keys.iter().any(|k| *k == kv.key) {
            let text = kv.value.to_text().into_owned();
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    out
}

/// `trace_id`'s spans and those of the traces reached over outgoing links, breadth-first
/// within `options`' bounds.
fn linked(
    store: &JourneyStore,
    id: &str,
    trace_id: TraceId,
    first: Vec<SpanRecord>,
    options: &JourneyOptions,
) -> Journey {
    let mut traces = vec![JourneyTrace {
        trace_id,
        carries_id: true,
        depth: 0,
    }];
    let mut spans: Vec<(usize, SpanRecord)> = first.into_iter().map(|s| (0, s)).collect();
    let mut truncated = false;
    let mut next = 0;
    while next < spans.len() {
        let depth = traces[spans[next].0].depth + 1;
        let targets: Vec<TraceId> = spans[next].1.links.iter().map(|l| l.trace_id).collect();
        next += 1;
        for target in targets {
            if traces.iter().any(|t| t.trace_id == target) {
                continue;
            }
            if depth > options.max_depth || traces.len() >= options.max_traces {
                truncated = true;
                continue;
            }
            let found = store.trace(target);
            if found.is_empty() {
                continue;
            }
            traces.push(JourneyTrace {
                trace_id: target,
                carries_id: false,
                depth,
            });
            let at = traces.len() - 1;
            spans.extend(found.into_iter().map(|s| (at, s)));
        }
    }
    let refs: Vec<SpanRef> = spans.iter().map(|(_, s)| span_ref(s)).collect();
    let mut out: Vec<JourneySpan> = spans
        .iter()
        .map(|(trace_index, span)| JourneySpan {
            trace_index: *trace_index,
            backlinks: Vec::new(),
            span: span.clone(),
        })
        .collect();
    for (from, (_, span)) in refs.iter().zip(&spans) {
        for link in &span.links {
            if let Some(target) = out
                .iter_mut()
                .find(|t| t.span.trace_id == link.trace_id && t.span.span_id == link.span_id)
                && !target.backlinks.contains(from)
            {
                target.backlinks.push(*from);
            }
        }
    }
    out.sort_by_key(|s| (s.span.start_unix_nano, s.trace_index));
    Journey {
        id: id.to_owned(),
        traces,
        spans: out,
        truncated,
    }
}

fn span_ref(span: &SpanRecord) -> SpanRef {
    SpanRef {
        trace_id: span.trace_id,
        span_id: span.span_id,
    }
}

#[cfg(test)]
mod tests {
    use pigeon_journey::{KeyValue, Link, SpanId};

    use super::*;

    fn span(trace: u8, id: u8, attrs: Vec<KeyValue>, links: Vec<Link>) -> SpanRecord {
        let now = pigeon_journey::now_unix_nano();
        SpanRecord {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            name: format!("span-{id}"),
            service: "svc".into(),
            start_unix_nano: now + u64::from(id),
            end_unix_nano: now + 1_000 + u64::from(id),
            attributes: attrs,
            links,
            ..SpanRecord::default()
        }
    }

    fn link(trace: u8, id: u8) -> Link {
        Link {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            attributes: Vec::new(),
        }
    }

    #[test]
    fn a_trace_id_answers_with_the_journey_of_the_id_it_carries() {
        let store = JourneyStore::in_memory();
        let conversation = || KeyValue::new("conversation.id", "c-1");
        store.ingest(vec![
            span(
                1,
                1,
                vec![conversation(), KeyValue::new("message.id", "m-1")],
                Vec::new(),
            ),
            span(
                2,
                2,
                vec![conversation(), KeyValue::new("message.id", "m-1")],
                Vec::new(),
            ),
            span(
                5,
                5,
                vec![conversation(), KeyValue::new("message.id", "m-2")],
                Vec::new(),
            ),
        ]);
        store.drain().unwrap();
        let by_trace = journey(&store, &TraceId([2; 16]).to_string());
        assert_eq!(by_trace.id, TraceId([2; 16]).to_string());
        assert_eq!(
            by_trace.spans.len(),
            2,
            "both traces of m-1, not all of c-1"
        );
        assert_eq!(journey(&store, "c-1").spans.len(), 3);
        assert_eq!(journey(&store, "m-1").spans.len(), 2);
        assert!(
            journey(&store, &TraceId([9; 16]).to_string())
                .spans
                .is_empty()
        );
        assert!(journey(&store, "nothing").spans.is_empty());
    }

    #[test]
    fn a_trace_without_ids_follows_its_links_and_fills_backlinks() {
        let store = JourneyStore::in_memory();
        store.ingest(vec![
            span(3, 3, Vec::new(), Vec::new()),
            span(4, 4, Vec::new(), vec![link(3, 3), link(7, 7)]),
        ]);
        store.drain().unwrap();
        let j = journey(&store, &TraceId([4; 16]).to_string());
        assert_eq!(j.traces.len(), 2, "the missing trace 7 is skipped: {j:?}");
        assert!(j.traces[0].carries_id && !j.traces[1].carries_id);
        let target = j.spans.iter().find(|s| s.span.span_id == SpanId([3; 8]));
        assert_eq!(
            target.unwrap().backlinks,
            vec![SpanRef {
                trace_id: TraceId([4; 16]),
                span_id: SpanId([4; 8]),
            }]
        );
    }
}
