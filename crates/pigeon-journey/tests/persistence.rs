//! Persistence: a reopened store has the same history; a torn tail (a crash mid-write) loses
//! only the torn record; retention deletes old segment files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use pigeon_journey::{JourneyOptions, JourneyStore, Retention, StoreConfig};
use support::{MS, Span, scenario, t, t0, trace};

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::default().with_data_dir(dir)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn reopen_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let before = {
        let store = JourneyStore::open(config(dir.path())).unwrap();
        store.ingest(scenario(t0));
        store.drain().unwrap();
        store.journey("m-1", &JourneyOptions::default())
    };
    let store = JourneyStore::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().replayed, 16);
    assert_eq!(store.stats().spans, 16);
    assert_eq!(store.journey("m-1", &JourneyOptions::default()), before);
    let all: Vec<_> = scenario(t0)
        .into_iter()
        .filter(|s| s.trace_id == trace(t::SEND))
        .collect();
    assert_eq!(store.trace(trace(t::SEND)), all);

    // New spans after a reopen go to the same history.
    store.ingest(vec![
        Span::new(0x42, 1, "messaging.send", "pigeon-dm")
            .at(t0 + 1_000 * MS, MS)
            .attr("message.id", "m-9")
            .build(),
    ]);
    store.drain().unwrap();
    drop(store);
    let store = JourneyStore::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().spans, 17);
    assert_eq!(
        store.journey("m-9", &JourneyOptions::default()).spans.len(),
        1
    );
}

#[test]
fn torn_tail_is_cut_and_the_rest_survives() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    {
        let store = JourneyStore::open(config(dir.path())).unwrap();
        store.ingest(scenario(t0));
        store.drain().unwrap();
    }
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 1);
    let len = fs::metadata(&segs[0]).unwrap().len();
    // Cut the last record in half, as a crash mid-write would.
    let f = fs::OpenOptions::new().write(true).open(&segs[0]).unwrap();
    f.set_len(len - 20).unwrap();
    drop(f);

    let store = JourneyStore::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().spans, 15, "only the torn record is lost");
    // The last scenario span was persist-message of the complete marker flow.
    assert_eq!(store.trace(trace(t::MARKER_OK)).len(), 2);
    assert_eq!(
        store.journey("m-1", &JourneyOptions::default()).spans.len(),
        7
    );
    assert!(
        fs::metadata(&segs[0]).unwrap().len() < len - 20,
        "tail truncated"
    );

    // Writing after the repair and reopening again keeps everything.
    store.ingest(scenario(t0 + 1_000 * MS).into_iter().take(3).collect());
    store.drain().unwrap();
    drop(store);
    let store = JourneyStore::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().spans, 18);
}

#[test]
fn garbage_tail_is_cut_too() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = JourneyStore::open(config(dir.path())).unwrap();
        store.ingest(scenario(t0()));
        store.drain().unwrap();
    }
    let seg = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[7, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9]);
    fs::write(&seg, bytes).unwrap();
    let store = JourneyStore::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().spans, 16);
}

#[test]
fn retention_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let cfg = StoreConfig {
        segment_bytes: 512,
        ..config(dir.path()).with_retention(Retention {
            max_bytes: Some(3_000),
            max_age: None,
        })
    };
    let store = JourneyStore::open(cfg.clone()).unwrap();
    for round in 0..20u64 {
        store.ingest(scenario(t0 + round * 1_000 * MS));
        store.drain().unwrap();
    }
    let kept = store.stats().spans;
    assert!(kept < 40, "{kept}");
    let files = segments(dir.path()).len();
    assert!(files < 20, "old segments deleted, {files} left");
    drop(store);

    // Replay holds at least what was kept (whole segments), then retention trims again.
    let store = JourneyStore::open(cfg).unwrap();
    let stats = store.stats();
    assert!(stats.replayed >= kept, "{stats:?}");
    assert!(stats.accounted_bytes <= 3_000);
    // The newest round is there (every round reuses the scenario's trace ids, so the trace
    // holds the surviving rounds' spans).
    let newest = store.trace(trace(t::MARKER_OK));
    assert_eq!(
        newest.last().unwrap().start_unix_nano,
        t0 + 19 * 1_000 * MS + 405 * MS
    );
}
