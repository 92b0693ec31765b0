//! The waterfall: one line per span, indented by parentage, with a bar on a shared time axis.
//!
//! ```text
//! messaging.send            pigeon-client   ████████████████████░░░░   12.4 ms
//!   send dm.deliver         pigeon          ··██··················      0.3 ms
//! ```

use std::collections::HashMap;

use pigeon_journey::{Journey, SpanId, TraceId};

/// The journey as lines of text: a header, then one line per span by start time.
pub(crate) fn waterfall(journey: &Journey, width: usize) -> Vec<String> {
    let width = width.max(10);
    let Some(start) = journey.spans.iter().map(|s| s.span.start_unix_nano).min() else {
        return vec![format!("journey {}: no spans", journey.id)];
    };
    let end = journey
        .spans
        .iter()
        .map(|s| s.span.end_unix_nano)
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let total = (end - start) as f64;
    let depths = depths(journey);
    let name_width = journey
        .spans
        .iter()
        .map(|s| {
            let key = (s.span.trace_id, s.span.span_id);
            s.span.name.len() + 2 * depths.get(&key).copied().unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
        .min(60);
    let service_width = journey
        .spans
        .iter()
        .map(|s| s.span.service.len())
        .max()
        .unwrap_or(0)
        .min(30);
    let mut lines = vec![format!(
        "journey {}: {} spans in {} traces over {:.1} ms{}",
        journey.id,
        journey.spans.len(),
        journey.traces.len(),
        total / 1e6,
        if journey.truncated {
            " (truncated)"
        } else {
            ""
        }
    )];
    let mut trace_of_previous = None;
    for s in &journey.spans {
        let span = &s.span;
        if trace_of_previous != Some(span.trace_id) {
            lines.push(format!("trace {}", span.trace_id));
            trace_of_previous = Some(span.trace_id);
        }
        let depth = depths
            .get(&(span.trace_id, span.span_id))
            .copied()
            .unwrap_or(0);
        let from = ((span.start_unix_nano - start) as f64 / total * width as f64) as usize;
        let to = ((span.end_unix_nano.max(span.start_unix_nano) - start) as f64 / total
            * width as f64)
            .ceil() as usize;
        let to = to.clamp(from + 1, width);
        let bar: String = (0..width)
            .map(|i| if i >= from && i < to { '█' } else { '·' })
            .collect();
        let mut line = format!(
            "{:indent$}{:<name$} {:<service$} {} {:>9.3} ms",
            "",
            span.name,
            span.service,
            bar,
            span.duration_nanos() as f64 / 1e6,
            indent = 2 * depth,
            name = name_width.saturating_sub(2 * depth),
            service = service_width,
        );
        if let Some(queue) = span
            .attribute("pigeon.queue_time_ms")
            .and_then(|v| v.as_f64())
        {
            line.push_str(&format!("  (queued {queue:.3} ms)"));
        }
        if let pigeon_journey::Status::Error { message } = &span.status {
            line.push_str(&format!("  ✗ {message}"));
        }
        if !span.links.is_empty() || !s.backlinks.is_empty() {
            line.push_str(&format!(
                "  ↔ {} link(s), {} backlink(s)",
                span.links.len(),
                s.backlinks.len()
            ));
        }
        lines.push(line);
    }
    lines
}

/// Depth of each span below the root of its trace (spans whose parent is not in the journey
/// count as roots).
fn depths(journey: &Journey) -> HashMap<(TraceId, SpanId), usize> {
    let parents: HashMap<(TraceId, SpanId), Option<SpanId>> = journey
        .spans
        .iter()
        .map(|s| ((s.span.trace_id, s.span.span_id), s.span.parent_span_id))
        .collect();
    let mut depths = HashMap::new();
    for key in parents.keys() {
        let mut depth = 0;
        let mut at = *key;
        while let Some(Some(parent)) = parents.get(&at) {
            let next = (at.0, *parent);
            if !parents.contains_key(&next) || depth > 64 {
                break;
            }
            depth += 1;
            at = next;
        }
        depths.insert(*key, depth);
    }
    depths
}

#[cfg(test)]
mod tests {
    use pigeon_journey::{
        AttrValue, JourneySpan, JourneyTrace, KeyValue, SpanKind, SpanRecord, Status,
    };

    use super::*;

    fn span(id: u8, parent: Option<u8>, name: &str, start: u64, end: u64) -> JourneySpan {
        JourneySpan {
            trace_index: 0,
            backlinks: Vec::new(),
            span: SpanRecord {
                trace_id: TraceId([7; 16]),
                span_id: SpanId([id; 8]),
                parent_span_id: parent.map(|p| SpanId([p; 8])),
                name: name.into(),
                kind: SpanKind::Internal,
                service: "svc".into(),
                start_unix_nano: start,
                end_unix_nano: end,
                status: Status::Unset,
                attributes: Vec::new(),
                events: Vec::new(),
                links: Vec::new(),
                resource: Vec::new(),
            },
        }
    }

    #[test]
    fn children_are_indented_and_bars_follow_time() {
        let mut child = span(2, Some(1), "process orders", 5_000_000, 10_000_000);
        child
            .span
            .attributes
            .push(KeyValue::new("pigeon.queue_time_ms", AttrValue::F64(1.5)));
        child.span.status = Status::Error {
            message: "boom".into(),
        };
        let journey = Journey {
            id: "order-1".into(),
            traces: vec![JourneyTrace {
                trace_id: TraceId([7; 16]),
                carries_id: true,
                depth: 0,
            }],
            spans: vec![span(1, None, "send orders", 0, 5_000_000), child],
            truncated: false,
        };
        let lines = waterfall(&journey, 10);
        assert!(
            lines[0].starts_with("journey order-1: 2 spans in 1 traces over 10.0 ms"),
            "{lines:?}"
        );
        assert!(lines[2].starts_with("send orders"), "{lines:?}");
        assert!(lines[2].contains("█████·····"), "{lines:?}");
        assert!(lines[3].starts_with("  process orders"), "{lines:?}");
        assert!(lines[3].contains("·····█████"), "{lines:?}");
        assert!(
            lines[3].contains("(queued 1.500 ms)") && lines[3].contains("✗ boom"),
            "{lines:?}"
        );
    }
}
