//! The OpenAPI file documents every route the router serves, and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn every_route_is_documented_and_every_documented_path_is_served() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.yaml"
    ))
    .unwrap();
    let documented: Vec<&str> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("  /v1/"))
        .map(|l| l.trim_end_matches(':'))
        .collect();
    let served: Vec<&str> = pigeon_dm::ROUTES.iter().map(|r| &r[4..]).collect();
    for route in &served {
        assert!(
            documented.contains(route),
            "/v1/{route} is not in docs/openapi.yaml"
        );
    }
    for path in &documented {
        assert!(
            served.contains(path),
            "docs/openapi.yaml documents /v1/{path}, which is not served"
        );
    }
}

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_serves_every_listed_route() {
    let server = support::start(pigeon_dm::DmConfig::default()).await;
    for route in pigeon_dm::ROUTES {
        let path = route.replace("{device_id}", "x").replace("{user_id}", "x");
        let (_, body) = server.call("GET", &path, None, None).await;
        assert_ne!(
            body["message"], "no such route",
            "{route} is listed but not routed"
        );
    }
    let (_, body) = server.call("GET", "/v1/nothing-here", None, None).await;
    assert_eq!(body["message"], "no such route");
}
