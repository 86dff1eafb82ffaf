//! Operations: metrics, the OpenAPI description, and graceful shutdown on SIGTERM.

use std::collections::BTreeSet;
use std::path::Path;

use redfolder_shared::Edit;

use crate::client::SyncClient;
use crate::helpers::spawn_app;
use crate::process::Server;

#[tokio::test]
async fn metrics_count_connections_frames_commits_refusals_and_requests() {
    let app = spawn_app().await;
    let token = app.login("cm1.demo").await;
    let mut client = SyncClient::connect(&app.ws_url(), &token, "metrics-tablet").await;
    client.sync_caseload().await;
    let doc = client.caseload[0].clone();
    client.apply(
        &doc,
        &Edit::AddMedication {
            id: "metrics-med".into(),
            name: "Metricol".into(),
            dose: "1 mg".into(),
            notes: String::new(),
        },
    );
    client.wait_acked(&doc).await;
    app.try_login("cm1.demo", "wrong").await;
    let reply = app.get("/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = reply.body;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
    };
    assert_eq!(value("redfolder_sync_connections "), 1.0);
    assert!(value("redfolder_sync_frames_received_total ") >= 3.0);
    assert!(value("redfolder_sync_frames_sent_total ") >= 3.0);
    assert!(value("redfolder_commits_total ") >= 1.0);
    assert!(
        text.contains("redfolder_logins_total{outcome=\"failed\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "redfolder_http_requests_total{route=\"/api/v1/auth/login\",method=\"POST\",status=\"200\"}"
    ));
    // Label order within braces is the encoder's to choose.
    assert!(
        text.lines().any(
            |l| l.starts_with("redfolder_http_request_duration_seconds_bucket{")
                && l.contains("route=\"/api/v1/auth/login\"")
                && l.contains("le=\"+Inf\"")
        ),
        "{text}"
    );
    // No NHS number (ten digits, demo ones start 999) in any label or value; a latency
    // such as 0.000999 is fine, so look for whole ten-digit runs.
    let ten_digit_runs = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 10)
        .count();
    assert_eq!(ten_digit_runs, 0, "no NHS numbers in metrics:\n{text}");
    drop(client);
}

/// The methods the router answers on each path, read from the `.route(…)` calls in
/// `crates/server/src/routes/` (the router cannot list its routes). A path not under
/// `/api/`, `/healthz` or `/metrics` is one of the API's, nested under `/api/v1`; `any(…)`
/// is the emergency summary's, which answers GET and refuses every other method itself.
fn router_routes() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/server/src/routes");
    let mut files = vec![dir];
    let mut sources = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            sources.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    let mut routes = BTreeSet::new();
    for source in &sources {
        for (at, _) in source.match_indices(".route(") {
            // The call's text up to its closing parenthesis.
            let rest = &source[at + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a .route( call closes");
            let call = &rest[..end];
            let path = call.split('"').nth(1).expect("a route's path is a literal");
            let path = if ["/api/", "/healthz", "/metrics"]
                .iter()
                .any(|p| path.starts_with(p))
            {
                path.to_owned()
            } else {
                format!("/api/v1{path}")
            };
            let handlers = &call[call.find(',').expect("a route has handlers")..];
            for method in ["get", "post", "put", "delete", "patch", "any"] {
                let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && handlers.as_bytes()[i - 1] != b'_'
                });
                if called {
                    let method = if method == "any" { "get" } else { method };
                    routes.insert((path.clone(), method.to_owned()));
                }
            }
        }
    }
    routes
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Routes anyone may call; every other route needs a bearer token. The sync socket is
/// authenticated by its `Hello` frame or `?token=` and documents its own 401.
const PUBLIC: &[&str] = &[
    "get /healthz",
    "get /metrics",
    "get /api/openapi.json",
    "post /api/v1/auth/login",
    "post /api/v1/auth/refresh",
    "get /api/v1/emergency/signing-key",
    "get /api/v1/sync",
];

#[tokio::test]
async fn the_openapi_document_describes_every_route_exactly() {
    let app = spawn_app().await;
    let reply = app.get("/api/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();

    // Every route the router answers is described with its methods, and nothing else is.
    let described: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (path.clone(), (*m).to_owned()))
        })
        .collect();
    let routed = router_routes();
    assert!(
        routed.len() > 40,
        "the route scan found too little: {routed:?}"
    );
    let undescribed: Vec<_> = routed.difference(&described).collect();
    let unrouted: Vec<_> = described.difference(&routed).collect();
    assert!(
        undescribed.is_empty(),
        "routes the document leaves out: {undescribed:?}"
    );
    assert!(
        unrouted.is_empty(),
        "described but not routed: {unrouted:?}"
    );

    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    for (path, method) in &described {
        let op = &paths[path][method];
        let what = format!("{} {path}", method.to_uppercase());
        // Path parameters are exactly the template's; the rest are in the query or a header.
        let template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: BTreeSet<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(in_path, template, "{what}: path parameters");
        for p in &parameters {
            assert!(
                ["path", "query", "header"].contains(&p["in"].as_str().unwrap()),
                "{what}: {p}"
            );
        }
        // Secured unless public, and a secured route says it answers 401 and 403.
        let public = PUBLIC.contains(&format!("{method} {path}").as_str());
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(secured, !public, "{what}: bearer security");
        let responses = op["responses"].as_object().unwrap();
        if secured {
            for status in ["401", "403"] {
                assert!(
                    responses.contains_key(status),
                    "{what} does not document {status}"
                );
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413"] {
                assert!(
                    responses.contains_key(status),
                    "{what} does not document {status}"
                );
            }
        }
        if !template.is_empty() {
            assert!(
                responses.contains_key("404"),
                "{what} does not document 404"
            );
        }
        // Every error answer is described as the JSON error body (or, for FHIR, an
        // OperationOutcome); every success but the socket's and 204 has content.
        for (status, response) in responses {
            if status.starts_with('4') {
                assert!(
                    response["content"]
                        .as_object()
                        .is_some_and(|c| !c.is_empty()),
                    "{what} {status} has no body schema"
                );
            }
            if status.starts_with('2') && status != "204" {
                assert!(
                    response["content"]
                        .as_object()
                        .is_some_and(|c| !c.is_empty()),
                    "{what} {status} has no body schema"
                );
            }
        }
    }

    // And the live server agrees: a secured route refuses a request without a token
    // with 401, and each path answers every undescribed method with 405.
    for (path, method) in &described {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let public = PUBLIC.contains(&format!("{method} {path}").as_str());
        if !public {
            let reply = app
                .send(
                    method.to_uppercase().parse().unwrap(),
                    &concrete,
                    None,
                    None,
                )
                .await;
            assert_eq!(
                reply.status, 401,
                "{method} {concrete} without a token: {reply:?}"
            );
        }
    }
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let reply = app
                .send(
                    method.to_uppercase().parse().unwrap(),
                    &concrete,
                    None,
                    None,
                )
                .await;
            assert_eq!(
                reply.status, 405,
                "{method} {concrete} is not described: {reply:?}"
            );
        }
    }
}

#[tokio::test]
async fn sigterm_finishes_in_flight_commits_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("term.db").display());
    let mut server = Server::start(&url, dir.path());
    let token = server.login("cm1.demo").await;
    let mut client = SyncClient::connect(&server.ws_url(), &token, "term-tablet").await;
    client.sync_caseload().await;
    let docs: Vec<String> = client.caseload.iter().take(5).cloned().collect();
    // Send edits and stop the server while they are arriving.
    for (n, doc) in docs.iter().enumerate() {
        client.apply(
            doc,
            &Edit::AddMedication {
                id: format!("term-{n}"),
                name: format!("Terminol {n}"),
                dose: "1 mg".into(),
                notes: String::new(),
            },
        );
    }
    client.flush().await;
    let exited_cleanly = tokio::task::spawn_blocking(move || {
        let ok = server.terminate();
        (ok, server)
    });
    // Collect whatever the server acknowledged before it closed the connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !client.is_closed() && std::time::Instant::now() < deadline {
        client
            .step_quietly(std::time::Duration::from_millis(100))
            .await;
    }
    let (ok, _stopped) = exited_cleanly.await.unwrap();
    assert!(ok, "the server did not exit cleanly on SIGTERM");
    let acked: Vec<(String, String)> = docs
        .iter()
        .enumerate()
        .filter(|(_, doc)| client.engine.pending(doc) == 0)
        .map(|(n, doc)| (doc.clone(), format!("term-{n}")))
        .collect();

    // Every acknowledged change is there after a restart; the rest upload again.
    let server = Server::start(&url, dir.path());
    let check_token = server.login("cm1.demo").await;
    let mut fresh = SyncClient::connect(&server.ws_url(), &check_token, "term-check").await;
    fresh.sync_caseload().await;
    for (doc, med) in &acked {
        let plan = fresh.engine.doc(doc).unwrap().plan().unwrap();
        assert!(
            plan.medications.iter().any(|m| &m.id == med),
            "{med} was acknowledged but is lost"
        );
    }
    // The same device (its access token outlives the restart) uploads what was not acked.
    client.engine.take_outgoing();
    let engine = std::mem::replace(
        &mut client.engine,
        redfolder_shared::ClientEngine::new(redfolder_shared::ActorId::random()),
    );
    let mut again = SyncClient::connect_with(&server.ws_url(), &token, engine).await;
    for doc in &docs {
        again.wait_acked(doc).await;
    }
}
