//! Retry policy against a real local endpoint: 404/410 are final, 429/5xx and connection
//! failures are retried with backoff, `Retry-After` is honoured, attempts and time are bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use pigeon_push::{
    Failure, PushError, PushNotice, PushOutcome, PushSubscription, Pusher, VapidKeys,
};
use support::{Endpoint, Reply, Subscriber, fast_config};

fn pusher(config: pigeon_push::PushConfig) -> Pusher {
    Pusher::new(config, VapidKeys::generate().unwrap()).unwrap()
}

fn web_push_to(url: String) -> PushSubscription {
    let subscriber = Subscriber::new();
    PushSubscription::web_push(url, subscriber.p256dh(), subscriber.auth()).unwrap()
}

fn notice() -> PushNotice {
    PushNotice::message("m-1", "u-1")
}

#[tokio::test]
async fn gone_410_and_404_are_final_on_first_attempt() {
    for status in [410, 404] {
        let endpoint = Endpoint::start(vec![Reply::status(status)]).await;
        let sub = web_push_to(endpoint.url("/p"));
        let outcome = pusher(fast_config()).send(&sub, &notice()).await.unwrap();
        assert_eq!(
            outcome,
            PushOutcome::Gone {
                provider: "webpush",
                status,
                attempts: 1
            }
        );
        assert!(!outcome.success());
        assert_eq!(endpoint.requests().len(), 1, "no retry after {status}");
    }
}

#[tokio::test]
async fn service_unavailable_then_created_is_delivered_on_second_attempt() {
    let endpoint = Endpoint::start(vec![Reply::status(503), Reply::status(201)]).await;
    let sub = web_push_to(endpoint.url("/p"));
    let outcome = pusher(fast_config()).send(&sub, &notice()).await.unwrap();
    assert!(
        matches!(
            outcome,
            PushOutcome::Delivered {
                status: 201,
                attempts: 2,
                ..
            }
        ),
        "{outcome:?}"
    );
    let requests = endpoint.requests();
    assert_eq!(requests.len(), 2);
    // The same encrypted body is re-sent.
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let endpoint = Endpoint::start(vec![
        Reply::status(429).header("retry-after", "1"),
        Reply::status(201),
    ])
    .await;
    let sub = web_push_to(endpoint.url("/p"));
    let outcome = pusher(fast_config()).send(&sub, &notice()).await.unwrap();
    assert_eq!(outcome.attempts(), 2);
    let requests = endpoint.requests();
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_millis(950) && gap < Duration::from_secs(3),
        "waited {gap:?}"
    );
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    let endpoint = Endpoint::start(vec![
        Reply::status(503).header("retry-after", httpdate::fmt_http_date(at)),
        Reply::status(201),
    ])
    .await;
    let sub = web_push_to(endpoint.url("/p"));
    let outcome = pusher(fast_config()).send(&sub, &notice()).await.unwrap();
    assert_eq!(outcome.attempts(), 2);
    let requests = endpoint.requests();
    let gap = requests[1].at - requests[0].at;
    // HTTP dates have whole-second resolution.
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(4),
        "waited {gap:?}"
    );
}

#[tokio::test]
async fn retry_after_beyond_the_budget_gives_up_at_once() {
    let endpoint = Endpoint::start(vec![Reply::status(503).header("retry-after", "30")]).await;
    let sub = web_push_to(endpoint.url("/p"));
    let started = std::time::Instant::now();
    let config = fast_config().with_max_total_time(Duration::from_secs(5));
    let error = pusher(config).send(&sub, &notice()).await.unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Exhausted {
                attempts: 1,
                last: Failure::Status(503),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn attempts_are_bounded() {
    let endpoint = Endpoint::start(vec![Reply::status(500); 10]).await;
    let sub = web_push_to(endpoint.url("/p"));
    let error = pusher(fast_config().with_max_attempts(3))
        .send(&sub, &notice())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Exhausted {
                provider: "webpush",
                attempts: 3,
                last: Failure::Status(500)
            }
        ),
        "{error:?}"
    );
    assert_eq!(endpoint.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_rejected_without_retry() {
    let endpoint = Endpoint::start(vec![Reply::status(403)]).await;
    let sub = web_push_to(endpoint.url("/p"));
    let error = pusher(fast_config())
        .send(&sub, &notice())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Rejected {
                status: 403,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(endpoint.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/p", listener.local_addr().unwrap());
    drop(listener);
    let error = pusher(fast_config().with_max_attempts(3))
        .send(&web_push_to(url), &notice())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Exhausted {
                attempts: 3,
                last: Failure::Connect(_),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let endpoint = Endpoint::start(vec![
        Reply::status(201).delayed(Duration::from_secs(2)),
        Reply::status(201),
    ])
    .await;
    let sub = web_push_to(endpoint.url("/p"));
    let config = fast_config().with_request_timeout(Duration::from_millis(300));
    let outcome = pusher(config).send(&sub, &notice()).await.unwrap();
    assert_eq!(outcome.attempts(), 2);
}

#[tokio::test]
async fn pusher_clones_share_work() {
    let endpoint = Endpoint::start(vec![]).await;
    let sub = web_push_to(endpoint.url("/p"));
    let pusher = pusher(fast_config());
    let sends = (0..8).map(|_| {
        let pusher = pusher.clone();
        let sub = sub.clone();
        tokio::spawn(async move { pusher.send(&sub, &notice()).await })
    });
    for send in sends {
        assert!(send.await.unwrap().unwrap().success());
    }
    assert_eq!(endpoint.requests().len(), 8);
}
