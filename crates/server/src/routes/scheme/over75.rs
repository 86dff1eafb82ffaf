//! The over-75 register: the practice's over-75 list (its size, or the NHS numbers) and
//! the register and worklist of annual reviews built from it, the plans and the latest
//! risk upload.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use redfolder_shared::NhsNumber;
use serde::{Deserialize, Serialize};

use super::{act, date_param, event, practice, today};
use crate::audit::purpose;
use crate::auth::Authenticated;
use crate::domain::now_ms;
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::scheme::practice_plans;
use crate::scheme::rules::{self, Over75Coverage, Over75Row};
use crate::state::AppState;
use crate::store::Over75List;

/// At most this many NHS numbers in one list (a very large practice's over-75s).
const MAX_LISTED: usize = 20_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct Over75ListBody {
    /// The number of over-75s on the practice list; with `nhs_numbers`, must match their
    /// count (or be left out).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000)]
    list_size: Option<i64>,
    /// The over-75s' NHS numbers, when the practice gives the list itself.
    #[serde(default)]
    #[schema(max_items = 20000)]
    nhs_numbers: Vec<String>,
    /// `YYYY-MM-DD`; today when absent.
    #[serde(default)]
    #[schema(format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    as_of: Option<String>,
}

/// What was recorded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Over75ListSet {
    list_size: i64,
    listed: usize,
    as_of: String,
}

/// Records the practice's over-75 list: its size, or the NHS numbers themselves (earlier
/// lists are kept; the latest is the register's).
#[utoipa::path(post, path = "/api/v1/scheme/over-75-list", tag = "scheme",
    security(("bearer" = [])), request_body = Over75ListBody,
    responses((status = 201, body = Over75ListSet, description = "Recorded"),
        (status = 400, description = "Neither a size nor a list, a bad NHS number (the message names them) or a size that does not match the list"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn set_over_75_list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiJson(body): ApiJson<Over75ListBody>,
) -> Result<(StatusCode, Json<Over75ListSet>), ApiError> {
    let org = practice(&state, &principal, act::OVER_75).await?;
    if body.nhs_numbers.len() > MAX_LISTED {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_LISTED} NHS numbers in one list"
        )));
    }
    let mut bad = Vec::new();
    let mut listed = BTreeSet::new();
    for (i, given) in body.nhs_numbers.iter().enumerate() {
        match NhsNumber::parse(given) {
            Ok(n) => {
                listed.insert(n.digits());
            }
            Err(e) => bad.push(format!("entry {}: {e}", i + 1)),
        }
    }
    if !bad.is_empty() {
        bad.truncate(20);
        return Err(ApiError::BadRequest(format!(
            "invalid NHS numbers: {}",
            bad.join("; ")
        )));
    }
    let list_size = match (body.list_size, listed.len()) {
        (None, 0) => {
            return Err(ApiError::BadRequest(
                "give the list size, the NHS numbers, or both".into(),
            ));
        }
        (Some(n), _) if !(0..=1_000_000).contains(&n) => {
            return Err(ApiError::BadRequest(
                "list_size must be between 0 and 1000000".into(),
            ));
        }
        (Some(n), k) if k > 0 && usize::try_from(n).ok() != Some(k) => {
            return Err(ApiError::BadRequest(format!(
                "list_size {n} does not match the {k} different NHS numbers given"
            )));
        }
        (Some(n), _) => n,
        (None, k) => i64::try_from(k).unwrap_or(i64::MAX),
    };
    let as_of = match &body.as_of {
        Some(s) => date_param("as_of", s)?,
        None => today(),
    };
    let list = Over75List {
        id: uuid::Uuid::new_v4().to_string(),
        list_size,
        as_of: as_of.to_string(),
        recorded_at_ms: now_ms(),
        nhs_numbers: listed.into_iter().collect(),
    };
    let ev = event(&principal, act::OVER_75, purpose::ADMINISTRATION).detail(format!(
        "over-75 list of {list_size} as of {as_of} ({} NHS numbers)",
        list.nhs_numbers.len()
    ));
    state
        .store()
        .record_over_75_list(&org, &list, &principal.user.id, &[ev])
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Over75ListSet {
            list_size,
            listed: list.nhs_numbers.len(),
            as_of: list.as_of,
        }),
    ))
}

/// The over-75 register and worklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Over75Register {
    /// `YYYY-MM-DD`
    today: String,
    /// `YYYY-MM-DD` of the over-75 list used, when the practice gave one.
    list_as_of: Option<String>,
    coverage: Over75Coverage,
    /// No plan first, then overdue, then reviewed; highest risk score first in each.
    rows: Vec<Over75Row>,
}

/// Everyone over 75 the practice knows of, by risk score, with their annual review and
/// the coverage against the practice's over-75 list.
#[utoipa::path(get, path = "/api/v1/scheme/over-75-register", tag = "scheme",
    security(("bearer" = [])),
    responses((status = 200, body = Over75Register, description = "The register, worklist order, and coverage"),
        (status = 403, description = "Only case managers")))]
pub(crate) async fn over_75_register(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Over75Register>, ApiError> {
    let org = practice(&state, &principal, act::OVER_75).await?;
    let today = today();
    let store = state.store();
    let list = store.over_75_list(&org).await?;
    let plans = practice_plans(&state, &org, today).await?;
    let risk = match store.risk_uploads(&org).await?.first() {
        Some(latest) => store.risk_rows(&latest.id).await?,
        None => Vec::new(),
    };
    let (listed, size) = match &list {
        Some(l) => (l.nhs_numbers.as_slice(), u64::try_from(l.list_size).ok()),
        None => (&[][..], None),
    };
    let (rows, coverage) = rules::over_75_register(listed, size, &plans, &risk, today);
    // Each plan read is audited as the patient's; the NHS numbers without a plan here are
    // the practice's own list, read back once.
    let mut events: Vec<_> = rows
        .iter()
        .filter_map(|r| r.patient_id.clone())
        .map(|id| {
            event(&principal, act::OVER_75, purpose::DIRECT_CARE)
                .patient(id)
                .detail("over-75 register")
        })
        .collect();
    events.push(
        event(&principal, act::OVER_75, purpose::DIRECT_CARE)
            .detail(format!("over-75 register: {} entries", rows.len())),
    );
    store.record_audit(&events).await?;
    Ok(Json(Over75Register {
        today: today.to_string(),
        list_as_of: list.map(|l| l.as_of),
        coverage,
        rows,
    }))
}
