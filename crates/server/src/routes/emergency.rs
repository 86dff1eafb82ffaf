//! Emergency summaries and the distribution feed for out-of-hours, ambulance and A&E.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use redfolder_shared::NhsNumber;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{AuditEvent, action, purpose};
use crate::auth::{Authenticated, authenticate, bearer_token, token_hash};
use crate::domain::{Principal, Role, now_ms};
use crate::error::ApiError;
use crate::signing::Signer;
use crate::state::AppState;
use crate::store::{FeedItem, SessionLookup, StoredSummary};

/// One body for "no plan", "no consent" and "date of birth does not match", so the
/// response never reveals whether a patient without consent has a plan.
const NOT_AVAILABLE: &str = "no emergency summary is available for this NHS number";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SummaryParams {
    /// The patient's date of birth (YYYY-MM-DD) as a second check: if it does not match,
    /// the answer is the same 404 as for an unknown NHS number.
    #[param(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    dob: Option<String>,
    /// `fhir` for a FHIR R4 document Bundle (application/fhir+json) instead of the JSON summary.
    #[param(pattern = "^(fhir|json)$")]
    format: Option<String>,
}

/// `GET /api/v1/emergency/summary/{nhs_number}`: every request is audited, whatever its
/// outcome; if the audit entry cannot be written the request fails.
#[utoipa::path(get, path = "/api/v1/emergency/summary/{nhs_number}", tag = "emergency",
    security(("bearer" = [])),
    params(("nhs_number" = String, Path, description = "NHS number: ten digits, optionally grouped 3-3-4 by spaces or hyphens, the last the Modulus 11 check digit", pattern = r"^[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}$"), SummaryParams),
    responses(
        (status = 200, content((ServedSummary = "application/json"), (Object = "application/fhir+json")), description = "The emergency summary (JSON, or with format=fhir a FHIR R4 document Bundle) with patient_id, plan_version, last_updated_at_ms and last_updated_by. `dnacpr` is not_recorded, for_attempted_cpr, do_not_attempt_cpr or conflicting; while it is conflicting, `dnacpr_label` reads \"Conflicting: A / B — confirm with the care team\" and `resuscitation.values` holds every value with who recorded it (never one of them as the decision). Each decision item (`resuscitation`, `allergies`, `ceiling_of_treatment`, `admission_wanted`, `preferred_place_of_death`, `consent`) has `conflicting`, `label` (the settled value or the same conflicting line), `recorded` (null while conflicting) and `values`"),
        (status = 400, description = "Malformed NHS number or date of birth"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only emergency clinicians read summaries"),
        (status = 404, description = "No plan, no consent, or date of birth mismatch (indistinguishable)"),
    ))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<SummaryParams>, QueryRejection>,
) -> Response {
    let given = path.as_ref().map(|Path(p)| p.clone()).unwrap_or_default();
    let fhir = wants_fhir(query.as_ref().ok().and_then(|Query(p)| p.format.as_deref()));
    let mut audit = AuditEvent::new(now_ms(), action::SUMMARY, purpose::EMERGENCY_CARE, "")
        .subject(given.chars().take(64).collect::<String>());
    let (outcome, response) =
        match lookup(&state, &method, &headers, &given, query, &mut audit).await {
            Ok(stored) if fhir => match stored
                .published()
                .and_then(|s| fhir_document(state.signer(), &s))
            {
                Ok(document) => ("ok", super::fhir::fhir_json(StatusCode::OK, document)),
                Err(e) => ("error", ApiError::Internal(e).into_response()),
            },
            // Signed as served: the signature covers every field, the plan version and
            // the last change's time and author included.
            Ok(stored) => match stored.published() {
                Ok(mut body) => {
                    state.signer().sign_summary(&mut body);
                    ("ok", Json(body).into_response())
                }
                Err(e) => ("error", ApiError::Internal(e).into_response()),
            },
            Err((outcome, error)) => {
                let mut response = error.into_response();
                if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                    // RFC 9110: a 405 says which methods the route answers.
                    response.headers_mut().insert(
                        axum::http::header::ALLOW,
                        axum::http::HeaderValue::from_static("GET, HEAD"),
                    );
                }
                (outcome, response)
            }
        };
    audit.outcome = outcome.to_owned();
    audit.detail = format!("status {}", response.status().as_u16());
    // A request with no valid token is nobody's: audited one by one only up to a rate,
    // then counted (`Store::record_unauthenticated_audit`), so it cannot grow the log
    // without bound.
    let recorded = if audit.user_id.is_none() {
        let now = audit.at_ms;
        state
            .store()
            .record_unauthenticated_audit(audit, "", now)
            .await
    } else {
        state.store().record_audit(&[audit]).await
    };
    if let Err(e) = recorded {
        return ApiError::Internal(e).into_response();
    }
    response
}

type Refusal = (&'static str, ApiError);

fn wants_fhir(format: Option<&str>) -> bool {
    format.is_some_and(|f| f.eq_ignore_ascii_case("fhir"))
}

/// A published summary (the JSON the API serves) as a FHIR R4 document Bundle, signed:
/// `Bundle.signature` holds the server's signature over the Bundle's canonical form
/// without that element (see `crate::signing`).
fn fhir_document(signer: &Signer, published: &Value) -> anyhow::Result<Value> {
    let summary: redfolder_shared::EmergencySummary = serde_json::from_value(published.clone())
        .map_err(|e| anyhow::anyhow!("a published summary does not read back: {e}"))?;
    let patient_id = published["patient_id"].as_str().unwrap_or_default();
    let mut bundle = redfolder_fhir::summary_document(patient_id, &summary);
    let data = signer.sign_base64(&crate::signing::canonical_bytes(&bundle));
    let when = bundle["timestamp"].clone();
    if let Value::Object(map) = &mut bundle {
        map.insert(
            "signature".to_owned(),
            json!({
                "type": [{
                    "system": "urn:iso-astm:E1762-95:2013",
                    "code": "1.2.840.10065.1.12.1.5",
                    "display": "Verification Signature",
                }],
                "when": when,
                "who": { "display": format!("Red Folder server, signing key {}", signer.key_id()) },
                "sigFormat": "application/octet-stream",
                "data": data,
            }),
        );
    }
    Ok(bundle)
}

/// `GET /api/v1/emergency/signing-key`: the public keys that check summary signatures,
/// the active one first. Public: a verifier needs them offline, and they are not secret.
#[utoipa::path(get, path = "/api/v1/emergency/signing-key", tag = "emergency",
    responses(
        (status = 200, body = SigningKeys, description = "`{algorithm: Ed25519, canonical_form, keys: [{key_id, public_key_hex, active, created_at_ms, retired_at_ms}]}`. A summary's `signature` is `{algorithm, key_id, value}` (value: base64 of the 64-byte signature) over the summary's JSON without `signature`, keys sorted, no whitespace (RFC 8785); a FHIR document's `Bundle.signature.data` is the same over the Bundle without `signature`"),
    ))]
pub(crate) async fn signing_key(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.store().signing_keys().await?;
    Ok(Json(crate::signing::published_keys(&keys)))
}

async fn lookup(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    given: &str,
    query: Result<Query<SummaryParams>, QueryRejection>,
    audit: &mut AuditEvent,
) -> Result<StoredSummary, Refusal> {
    if method != Method::GET && method != Method::HEAD {
        return Err(("method_not_allowed", ApiError::MethodNotAllowed));
    }
    let principal = authenticate(state, headers)
        .await
        .map_err(|e| (outcome_of(&e), e))?;
    let role = if principal.user.has(Role::EmergencyClinician) {
        Role::EmergencyClinician
    } else {
        principal.user.primary_role()
    };
    *audit = audit.clone().by(&principal, role);
    if role != Role::EmergencyClinician {
        return Err(("forbidden", ApiError::Forbidden));
    }
    let nhs = NhsNumber::parse(given).map_err(|e| {
        (
            "bad_request",
            ApiError::BadRequest(format!("invalid NHS number: {e}")),
        )
    })?;
    let dob = match query {
        Ok(Query(params)) => params.dob.map(|d| d.trim().to_owned()),
        Err(e) => return Err(("bad_request", ApiError::BadRequest(e.body_text()))),
    };
    if let Some(dob) = &dob
        && !is_date(dob)
    {
        return Err((
            "bad_request",
            ApiError::BadRequest("dob must be a date written YYYY-MM-DD".to_owned()),
        ));
    }
    let stored = state
        .store()
        .emergency_summary(&nhs.digits())
        .await
        .map_err(|e| ("error", ApiError::Internal(e)))?
        .ok_or(("not_found", ApiError::not_found(NOT_AVAILABLE)))?;
    audit.patient_id = Some(stored.patient_id.clone());
    if !stored.consent {
        return Err(("no_consent", ApiError::not_found(NOT_AVAILABLE)));
    }
    if dob.is_some_and(|d| d != stored.date_of_birth) {
        return Err(("dob_mismatch", ApiError::not_found(NOT_AVAILABLE)));
    }
    if !served_after_ending(
        &stored.summary_json,
        redfolder_shared::Date::from_unix_ms(now_ms()),
    ) {
        return Err(("ended_withdrawn", ApiError::not_found(NOT_AVAILABLE)));
    }
    Ok(stored)
}

/// Whether a stored summary is still served on `today`: always while its plan is in the
/// scheme, and for [`redfolder_shared::ENDED_SUMMARY_SERVED_DAYS`] after case management
/// ended (docs/hazard-log.md H13). Afterwards the answer is the same "not available" as
/// for no plan. A summary that does not say (stored before the rule) is served as before.
fn served_after_ending(summary_json: &str, today: redfolder_shared::Date) -> bool {
    #[derive(Deserialize)]
    struct Ending {
        #[serde(default)]
        case_management_ended: Option<redfolder_shared::SummaryEnded>,
    }
    match serde_json::from_str::<Ending>(summary_json) {
        Ok(Ending {
            case_management_ended: Some(end),
        }) => end.served_on(today),
        _ => true,
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn outcome_of(error: &ApiError) -> &'static str {
    match error {
        ApiError::Unauthorized | ApiError::InvalidCredentials => "unauthorized",
        ApiError::DeviceRevoked => "device_revoked",
        ApiError::Internal(_) => "error",
        _ => "denied",
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedParams {
    /// Return items after this cursor; absent or 0 starts from the beginning.
    since: Option<i64>,
    /// At most this many items (default 100, at most 1000).
    limit: Option<i64>,
    /// Long-poll: when nothing is new, wait up to this many seconds (at most 60) for an item.
    wait: Option<u64>,
    /// `fhir`: each item's `summary` is a FHIR R4 document Bundle instead of the JSON summary.
    format: Option<String>,
}

fn require_emergency(principal: &Principal) -> Result<(), ApiError> {
    if principal.user.has(Role::EmergencyClinician) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The session a feed reader (long-poll or stream) authenticated with, looked up again:
/// a reader that waits must stop receiving the moment its device is signed out or
/// revoked, its user disabled or no longer an emergency clinician. The token's own
/// expiry is not checked, as for a sync connection: a reader that was let in keeps its
/// place until one of those ends it.
async fn still_standing(state: &AppState, token_hash: &str) -> Result<Principal, ApiError> {
    match state
        .store()
        .session_principal(token_hash, now_ms(), false)
        .await?
    {
        SessionLookup::Valid(principal) => {
            require_emergency(&principal)?;
            Ok(principal)
        }
        SessionLookup::DeviceRevoked => Err(ApiError::DeviceRevoked),
        SessionLookup::Invalid => Err(ApiError::Unauthorized),
    }
}

/// The hash of the request's bearer token (present: the request was authenticated).
fn request_token_hash(headers: &HeaderMap) -> String {
    token_hash(bearer_token(headers).unwrap_or_default())
}

/// Audits the delivery of feed items (before they are sent) and renders them.
async fn deliver(
    state: &AppState,
    principal: &Principal,
    items: &[FeedItem],
    fhir: bool,
) -> Result<Vec<Value>, ApiError> {
    let now = now_ms();
    let events: Vec<AuditEvent> = items
        .iter()
        .map(|item| {
            AuditEvent::new(now, action::FEED, purpose::EMERGENCY_CARE, "ok")
                .by(principal, Role::EmergencyClinician)
                .patient(item.patient_id.clone())
                .subject(format!("feed item {}", item.seq))
                .detail(item.kind.clone())
        })
        .collect();
    state.store().record_audit(&events).await?;
    state.metrics().feed_items(items.len());
    items
        .iter()
        .map(|item| {
            let mut summary = match &item.summary_json {
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| anyhow::anyhow!("a feed summary is not JSON: {e}"))?,
                None => Value::Null,
            };
            crate::store::never_settled(&mut summary);
            let summary = if fhir && !summary.is_null() {
                fhir_document(state.signer(), &summary)?
            } else {
                if !summary.is_null() {
                    state.signer().sign_summary(&mut summary);
                }
                summary
            };
            Ok(json!({
                "seq": item.seq,
                "kind": item.kind,
                "patient_id": item.patient_id,
                "nhs_number": item.nhs_number,
                "at_ms": item.at_ms,
                "summary": summary,
            }))
        })
        .collect()
}

/// `GET /api/v1/emergency/feed?since=CURSOR`: every change to a consenting patient's
/// summary and every withdrawal, in commit order, for an emergency service's own system
/// to keep a mirror. Resume from `next`. A `withdrawal` means: purge this patient.
#[utoipa::path(get, path = "/api/v1/emergency/feed", tag = "emergency",
    security(("bearer" = [])),
    params(FeedParams),
    responses(
        (status = 200, body = Feed, description = "`{items: [{seq, kind: summary|withdrawal, patient_id, nhs_number, at_ms, summary}], next}`"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only emergency clinicians (or their systems) read the feed"),
    ))]
pub(crate) async fn feed(
    State(state): State<AppState>,
    Authenticated(mut principal): Authenticated,
    headers: HeaderMap,
    query: Result<Query<FeedParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    require_emergency(&principal)?;
    let session = request_token_hash(&headers);
    let Query(params) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let since = params.since.unwrap_or(0).max(0);
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let max_wait = state.config().feed_max_wait;
    let wait = Duration::from_secs(params.wait.unwrap_or(0)).min(max_wait);
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.feed_watch();
    let mut sessions = state.store().session_changes();
    let mut shutdown = state.shutdown();
    let mut cursor = since;
    let mut first = true;
    loop {
        changes.borrow_and_update();
        sessions.borrow_and_update();
        if !first {
            // Woken after waiting: the reader may have been signed out meanwhile.
            principal = still_standing(&state, &session).await?;
        }
        first = false;
        let (items, next) = state.store().feed_since(cursor, limit).await?;
        cursor = next;
        if !items.is_empty() || tokio::time::Instant::now() >= deadline || *shutdown.borrow() {
            let items = deliver(
                &state,
                &principal,
                &items,
                wants_fhir(params.format.as_deref()),
            )
            .await?;
            return Ok(Json(json!({ "items": items, "next": cursor })));
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = sessions.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
            // A revocation another process made (the CLI on SQLite) sends no notice.
            _ = tokio::time::sleep(state.config().session_recheck) => {}
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamParams {
    /// Start after this cursor (the `Last-Event-ID` header, when present, wins).
    since: Option<i64>,
}

/// `GET /api/v1/emergency/feed/stream`: the same feed as server-sent events (`id` is the
/// cursor, `event` the kind, `data` the item), live until the client or server goes away,
/// or the reader's session ends (sign-out, device revoked, user disabled or no longer an
/// emergency clinician), on this instance or another.
#[utoipa::path(get, path = "/api/v1/emergency/feed/stream", tag = "emergency",
    security(("bearer" = [])),
    params(StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The cursor of the last event the client received, when it reconnects; wins over `since`")),
    responses(
        (status = 200, description = "text/event-stream of feed items", content_type = "text/event-stream"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Only emergency clinicians (or their systems) read the feed"),
    ))]
pub(crate) async fn feed_stream(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    query: Result<Query<StreamParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    require_emergency(&principal)?;
    let Query(params) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let cursor = last_event.or(params.since).unwrap_or(0).max(0);
    let stream = futures_util::stream::unfold(
        FeedStream {
            changes: state.feed_watch(),
            sessions_seen: *state.store().session_changes().borrow(),
            sessions: state.store().session_changes(),
            session: request_token_hash(&headers),
            waited: false,
            shutdown: state.shutdown(),
            state,
            principal,
            cursor,
            pending: std::collections::VecDeque::new(),
        },
        |mut s| async move {
            let event = s.next_event().await?;
            Some((Ok(event), s))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct FeedStream {
    state: AppState,
    principal: Principal,
    cursor: i64,
    changes: tokio::sync::watch::Receiver<u64>,
    /// Ticks when sessions may have ended; see [`still_standing`].
    sessions: tokio::sync::watch::Receiver<u64>,
    /// The value of `sessions` when the session was last looked at.
    sessions_seen: u64,
    /// The hash of the token the stream was opened with.
    session: String,
    /// Whether the stream waited since the session was last looked at: looked at again
    /// then, so a sign-out between the request's authentication and the stream's first
    /// look at `sessions` is not missed.
    waited: bool,
    shutdown: tokio::sync::watch::Receiver<bool>,
    pending: std::collections::VecDeque<Event>,
}

impl FeedStream {
    /// The next event, or `None` when the stream should end (shutdown, the reader's
    /// session ended, or a failure, after which the client resumes from its last event id).
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if *self.shutdown.borrow() {
                return None;
            }
            // Checked before every event, queued ones too: nothing more reaches a reader
            // whose session has ended, even what was read for it before.
            let sessions = *self.sessions.borrow_and_update();
            if sessions != self.sessions_seen || self.waited {
                self.sessions_seen = sessions;
                self.waited = false;
                match still_standing(&self.state, &self.session).await {
                    Ok(principal) => self.principal = principal,
                    Err(e) => {
                        tracing::info!(
                            reason = outcome_of(&e),
                            "ended a feed stream: its session ended"
                        );
                        return None;
                    }
                }
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            self.changes.borrow_and_update();
            let (items, next) = match self.state.store().feed_since(self.cursor, 100).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "feed stream failed");
                    return None;
                }
            };
            let advanced = next != self.cursor;
            self.cursor = next;
            match deliver(&self.state, &self.principal, &items, false).await {
                Ok(values) => {
                    for (item, value) in items.iter().zip(values) {
                        let event = Event::default()
                            .id(item.seq.to_string())
                            .event(item.kind.clone())
                            .json_data(value)
                            .unwrap_or_default();
                        self.pending.push_back(event);
                    }
                }
                Err(_) => return None,
            }
            if self.pending.is_empty() && !advanced {
                tokio::select! {
                    _ = self.changes.changed() => {}
                    _ = self.sessions.changed() => {}
                    _ = self.shutdown.changed() => {}
                    // A revocation another process made (the CLI on SQLite) sends no notice.
                    _ = tokio::time::sleep(self.state.config().session_recheck) => {}
                }
                self.waited = true;
            }
        }
    }
}

// The schemas of answers built as JSON elsewhere (`crate::signing::published_keys`, and
// `deliver` above, whose summaries are the stored JSON as served). `cargo xtask api-fuzz`
// checks the served JSON against them.

/// The public keys that check summary signatures, the active one first.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct SigningKeys {
    #[schema(pattern = "^Ed25519$")]
    algorithm: String,
    /// What is signed, in words.
    canonical_form: String,
    keys: Vec<PublishedKey>,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct PublishedKey {
    key_id: String,
    /// The 32-byte Ed25519 public key.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    public_key_hex: String,
    active: bool,
    created_at_ms: i64,
    /// Null while the key is active.
    retired_at_ms: Option<i64>,
}

/// A page of the feed.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct Feed {
    /// In commit order.
    items: Vec<FeedEntry>,
    /// The cursor to resume from (`since`).
    next: i64,
}

#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct FeedEntry {
    seq: i64,
    /// `withdrawal` means: purge this patient.
    #[schema(pattern = "^(summary|withdrawal)$")]
    kind: String,
    patient_id: String,
    nhs_number: String,
    at_ms: i64,
    /// The signed summary (or, with format=fhir, the signed FHIR document Bundle); null
    /// for a withdrawal.
    #[schema(value_type = Option<Object>)]
    summary: Option<Value>,
}

/// The emergency summary as served (`redfolder_shared::EmergencySummary` with what the
/// server adds): the fields a reader must be able to rely on; the rest of the summary's
/// sections (contacts, conditions, medications, escalation plans, …) follow them.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ServedSummary {
    patient_id: String,
    /// Ten digits.
    #[schema(pattern = "^[0-9]{10}$")]
    nhs_number: String,
    name: String,
    date_of_birth: String,
    /// The plan's heads, hashed: which version of the plan this summary says.
    plan_version: String,
    last_updated_at_ms: i64,
    #[schema(value_type = Object)]
    last_updated_by: Value,
    #[schema(pattern = "^(not_recorded|for_attempted_cpr|do_not_attempt_cpr|conflicting)$")]
    dnacpr: String,
    dnacpr_label: String,
    resuscitation: Decision,
    allergies: Decision,
    ceiling_of_treatment: Decision,
    admission_wanted: Decision,
    preferred_place_of_death: Decision,
    consent: Decision,
    signature: SummarySignature,
}

/// A safety-critical decision as every surface shows it: settled, not recorded, or
/// conflicting (never one side of a conflict as the decision).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct Decision {
    conflicting: bool,
    /// The settled value, or "Conflicting: A / B — confirm with the care team".
    label: String,
    /// Null while conflicting or not recorded.
    #[schema(value_type = Option<Object>)]
    recorded: Option<Value>,
    /// Every value with who recorded it.
    #[schema(value_type = Vec<Object>)]
    values: Vec<Value>,
}

/// The server's signature over the summary without this member.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct SummarySignature {
    #[schema(pattern = "^Ed25519$")]
    algorithm: String,
    key_id: String,
    /// Base64 of the 64-byte signature.
    value: String,
}
