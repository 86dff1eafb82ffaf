//! The server's own small domain: who is signed in, what they may do, and what the
//! stored projections of a plan hold.

use redfolder_shared::{ActorId, ChangeHash, PlanDoc, emergency_summary};

use crate::store::Projection;

/// What a user does, which decides what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages a caseload: syncs and edits the plans of patients at their organisation.
    CaseManager,
    /// Ambulance crew or A&E: reads emergency summaries of consenting patients, nothing else.
    EmergencyClinician,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaseManager => "case_manager",
            Role::EmergencyClinician => "emergency_clinician",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "case_manager" => Some(Role::CaseManager),
            "emergency_clinician" => Some(Role::EmergencyClinician),
            _ => None,
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub organisation_id: String,
    pub organisation_name: String,
}

/// The actor id of every change the server itself makes (demo data), so such changes
/// are recognisable in a plan's history.
pub fn server_actor() -> ActorId {
    ActorId::from(b"redfolder-server".as_slice())
}

/// Milliseconds since the Unix epoch, the one place the server reads the clock.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The document's heads as a stable version string: sorted hex, comma-separated.
pub fn plan_version(heads: &[ChangeHash]) -> String {
    let mut hex: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    hex.sort();
    hex.join(",")
}

/// Why a document cannot be stored as a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanRejected {
    #[error(transparent)]
    Doc(#[from] redfolder_shared::DocError),
    #[error("the plan's NHS number is not valid: {0}")]
    NhsNumber(#[from] redfolder_shared::NhsNumberError),
}

/// Projects a document for the `patients` and `emergency_summaries` tables, refusing a
/// document that no longer reads as a care plan.
pub fn project(doc: &mut PlanDoc) -> Result<Projection, PlanRejected> {
    let plan = doc.plan()?;
    redfolder_shared::NhsNumber::parse(&plan.patient.nhs_number)?;
    let summary = emergency_summary(&plan);
    let summary_json = serde_json::to_string(&summary).expect("a summary always serialises");
    let dnacpr = serde_json::to_value(plan.dnacpr)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Projection {
        nhs_number: plan.patient.nhs_number.clone(),
        name: plan.patient.name.clone(),
        date_of_birth: plan.patient.date_of_birth.clone(),
        share_with_mdt: plan.consent.share_with_mdt,
        share_with_emergency_services: plan.consent.share_with_emergency_services,
        dnacpr,
        last_updated: plan.last_updated,
        summary_json,
        plan_version: plan_version(&doc.heads()),
    })
}
