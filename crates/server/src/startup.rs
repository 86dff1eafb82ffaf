//! [`Application`]: connects storage, seeds demo data, binds, and serves until stopped.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::demo::{self, DemoSummary};
use crate::domain::now_ms;
use crate::routes;
use crate::state::AppState;
use crate::store::Store;

/// A built server: storage ready, demo data seeded, socket bound.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    demo: Option<DemoSummary>,
    shutdown: watch::Sender<bool>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        config.validate()?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        let demo = if config.demo {
            Some(demo::seed(&store).await.context("seeding demo data")?)
        } else {
            None
        };
        let backfilled = store
            .backfill_feed(now_ms())
            .await
            .context("filling the emergency feed")?;
        if backfilled > 0 {
            tracing::info!(
                items = backfilled,
                "added stored summaries to the emergency feed"
            );
        }
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let signer = crate::signing::Signer::load(&store, crate::domain::now_ms())
            .await
            .context("loading the summary signing key")?;
        let state = AppState::new(config, store, shutdown_rx, signer);
        if let Some(d) = &demo {
            demo::record_decisions(&state, &d.referral_decisions)
                .await
                .context("writing demo referral decisions into plans")?;
        }
        Ok(Application {
            listener,
            address,
            state,
            demo,
            shutdown,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// What `--demo` created, if it was set.
    pub fn demo(&self) -> Option<&DemoSummary> {
        self.demo.as_ref()
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(stop_signal()).await
    }

    /// Serves until `stop` completes. Then stops accepting connections, lets every
    /// request and every sync connection finish what it is doing (a commit in progress
    /// completes and is acknowledged; frames not yet read are not, so the device sends
    /// them again), and closes the database.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = router(self.state.clone());
        let shutdown = self.shutdown;
        let listener = crate::cluster::spawn_listener(self.state.clone());
        tracing::info!(address = %self.address, "serving");
        // Sync frames are small and latency-bound: without TCP_NODELAY a frame written
        // while an earlier one is unacknowledged waits for the peer's delayed ACK (tens of
        // milliseconds on Linux), which showed as the fan-out tail in docs/benchmarks.md.
        let accepted = self.listener.tap_io(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
            }
        });
        axum::serve(
            accepted,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("shutting down");
            let _ = shutdown.send(true);
        })
        .await
        .context("serving HTTP")?;
        let connections = self.state.connections();
        connections.close();
        let grace = self.state.config().shutdown_grace;
        if tokio::time::timeout(grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                "sync connections still open after the grace period"
            );
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        self.state.store().close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// The whole HTTP surface: `/healthz`, `/api/v1/…` and the static web app.
pub fn router(state: AppState) -> Router {
    let web_dir = state.config().web_dir.clone();
    let body_limit = state.config().body_limit;
    Router::new()
        .merge(routes::router())
        .fallback_service(ServeDir::new(web_dir))
        .layer(middleware::from_fn(cache_headers))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            track_requests,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The matched route, never the URI: paths and queries can hold NHS
                    // numbers and tokens.
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("static", |p| p.as_str());
                    tracing::info_span!("request", method = %req.method(), route)
                })
                // Not a line per request at INFO: at thousands of emergency lookups a
                // second each line is formatting and a write to stderr on the request
                // path (docs/benchmarks.md, S5). `/metrics` counts and times every
                // request, server errors are still logged (the layer's default
                // `on_failure`), and `RUST_LOG=tower_http=debug` brings the lines back.
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .with_state(state)
}

/// Counts every request by route template, method and status, and times it.
async fn track_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "static".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics().request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The policy the web app is served under: its own scripts and WebAssembly only
/// (compiling wasm needs `'wasm-unsafe-eval'`, nothing else is evaluated, no inline
/// script), connections only back to this origin (the sync WebSocket included), never
/// framed by another site. Styles still allow `'unsafe-inline'`: the printed red folder
/// writes its per-patient page footer as a `<style>` element and a few text areas carry a
/// `style` attribute (web/src/plan.ts, web/src/forms.ts); moving those to CSSOM
/// (`CSSStyleSheet`) would let this drop it. Every value the app shows is escaped, so this
/// admits no script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Every response carries the browser protections: the content policy above (or a stricter
/// one its route set), no MIME
/// sniffing (an uploaded CSV is never run as a script), no framing (clickjacking), and no
/// referrer (a URL with a patient id in it never leaks to another site).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    // A route may set a stricter policy of its own (a referral's documents are served
    // sandboxed); every other response gets the app's.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The app shell must be revalidated on every load so a new release is picked up, and
/// API responses hold patient data that no cache should keep.
async fn cache_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    let value = if path.starts_with("/api/") {
        Some("no-store")
    } else if matches!(path.as_str(), "/" | "/index.html" | "/sw.js") {
        Some("no-cache")
    } else {
        None
    };
    if let Some(value) = value {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}
