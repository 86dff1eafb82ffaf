//! The OpenAPI description of every HTTP route, served at `GET /api/openapi.json`.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes::{admin, emergency, fhir, health, login, patients, reports};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Red Folder",
        description = "Offline-first care plans: sign-in, caseloads, care teams, audit, emergency summaries and feed, administration. The plan sync WebSocket is `GET /api/v1/sync` (protocol in docs/protocol.md)."
    ),
    paths(
        health::healthz,
        health::metrics,
        login::login,
        login::refresh,
        login::logout,
        patients::caseload,
        patients::care_team,
        patients::paper_copy,
        patients::signed_paper_copy,
        patients::add_to_care_team,
        patients::remove_from_care_team,
        patients::access_log,
        fhir::export,
        fhir::summary,
        fhir::import,
        emergency::summary,
        emergency::feed,
        emergency::feed_stream,
        emergency::signing_key,
        reports::caseload,
        admin::organisations,
        admin::create_organisation,
        admin::users,
        admin::create_user,
        admin::reset_password,
        admin::disable_user,
        admin::devices,
        admin::revoke_device,
        sync_socket,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The body of every error answer (`crate::error::ApiError`): a stable code and a
/// sentence for people. Some errors add fields (a refused risk upload lists `problems`).
#[derive(Debug, serde::Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// `bad_request`, `unauthorized`, `invalid_credentials`, `forbidden`, `device_revoked`,
    /// `too_many_requests`, `conflict`, `not_found`, `method_not_allowed`,
    /// `payload_too_large`, `internal`, or a route's own (`invalid_rows`).
    error: String,
    message: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Who last changed a plan and when (`redfolder_shared::Attribution`, which the pure core
/// keeps free of the OpenAPI crate), as the caseload serves it.
#[derive(Debug, ToSchema)]
#[schema(as = Attribution)]
#[allow(dead_code)]
pub(crate) struct AttributionSchema {
    user_id: String,
    user_name: String,
    /// Milliseconds since the Unix epoch.
    at_ms: i64,
}

/// Whether a paper copy says what the plan says (`redfolder_shared::PaperReading`).
#[derive(Debug, ToSchema)]
#[schema(as = PaperReading)]
#[allow(dead_code)]
pub(crate) struct PaperReadingSchema {
    #[schema(pattern = "^(not_printed|current|out_of_date)$")]
    state: String,
    /// Who recorded the print, and when.
    printed: Option<AttributionSchema>,
    /// The sections of the summary that changed since the print.
    changed_sections: Vec<String>,
    label: String,
}

/// The answers every route of a kind can give because of its extractors, added to each
/// operation that does not describe them itself, so no route leaves them out:
/// `Authenticated` answers 401 without a valid token and 403 for a revoked device or a
/// disabled user; `ApiJson` answers 400 for a body that is not the JSON described and 413
/// over the body limit; `ApiPath` and `ApiQuery` answer 400 for a path or query that does
/// not parse; a path naming something that is not there is a 404. Every 4xx answer without
/// a body of its own carries [`ErrorBody`] as JSON.
struct CommonAnswers;

impl CommonAnswers {
    fn complete(operation: &mut Operation) {
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let in_path = parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path));
        let in_query = parameters
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query));
        let mut add = |status: &str, description: &str| {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(description)
                        .build()
                        .into()
                });
        };
        if secured {
            add("401", "No valid access token (`WWW-Authenticate: Bearer`)");
            add(
                "403",
                "The device was revoked or its user disabled (`device_revoked`: erase its data), or the role may not use this (`forbidden`)",
            );
        }
        if operation.request_body.is_some() {
            add("400", "The body is not what this route takes");
            add("413", "The body is over the server's limit");
        }
        if in_path || in_query {
            add("400", "A parameter does not parse");
        }
        if in_path {
            add("404", "Nothing by that name here");
        }
        for (status, response) in &mut operation.responses.responses {
            if let (true, RefOr::T(response)) = (status.starts_with('4'), response)
                && response.content.is_empty()
            {
                response.content.insert(
                    "application/json".to_owned(),
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                );
            }
        }
    }
}

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                Self::complete(operation);
            }
        }
    }
}

/// The sync WebSocket: upgrade, then binary frames as described in docs/protocol.md.
/// Authenticated by the `Hello` frame (or `?token=`).
#[utoipa::path(get, path = "/api/v1/sync", tag = "sync",
    params(("token" = Option<String>, Query, description = "Access token, checked before the upgrade")),
    responses(
        (status = 101, description = "Switching to the WebSocket sync protocol"),
        (status = 401, description = "The query token is not valid"),
    ))]
#[allow(dead_code)]
fn sync_socket() {}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, body = Object, description = "OpenAPI 3.1 document")))]
#[allow(dead_code)]
fn openapi_json() {}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi()
        .merge_from(<crate::routes::scheme::SchemeApi as OpenApi>::openapi())
        .merge_from(<crate::routes::scheme::ClinicsApi as OpenApi>::openapi())
        .merge_from(<crate::routes::referrals::ReferralApi as OpenApi>::openapi());
    // After the merges, so the scheme's and the referrals' routes are completed too.
    CommonAnswers.modify(&mut document);
    document
}
