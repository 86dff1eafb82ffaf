//! The OpenAPI description of every HTTP route, served at `GET /api/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    modifiers(&BearerAuth)
)]
struct ApiDoc;

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
    responses((status = 200, description = "OpenAPI 3.1 document")))]
#[allow(dead_code)]
fn openapi_json() {}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
        .merge_from(<crate::routes::scheme::SchemeApi as OpenApi>::openapi())
        .merge_from(<crate::routes::referrals::ReferralApi as OpenApi>::openapi())
}
