//! The server's own small domain: organisations, roles, who is signed in, and what the
//! stored projections of a plan hold.

use std::collections::BTreeMap;

use redfolder_shared::{ActorId, ChangeHash, PlanDoc, emergency_summary};

use crate::store::Projection;

/// What a user does, which decides what they may see. A user may hold several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Practice clinician: syncs and edits the plans of patients registered at their
    /// practice.
    CaseManager,
    /// Member of a patient's multidisciplinary team: reads the plans of consenting patients
    /// whose care team includes their organisation, and adds to them within limits.
    MdtMember,
    /// A GP who peer-reviews other practices' routine referrals in the specialties they
    /// are assigned (`reviewer_assignments`); reaches referrals, not plans.
    GpReviewer,
    /// Ambulance crew, out-of-hours or A&E: reads emergency summaries of consenting
    /// patients, nothing else.
    EmergencyClinician,
    /// Monitors the scheme: aggregate reports only.
    Commissioner,
    /// Manages the users and devices of their own organisation; no plan access from this
    /// role alone.
    Admin,
    /// Manages organisations, and users and devices in any organisation: the deployment's
    /// own administrators (the integrated care board's, say), not a practice's.
    DeploymentAdmin,
}

impl Role {
    /// Every role, in the order a user's primary role is chosen (clinical roles first).
    pub const ALL: [Role; 7] = [
        Role::CaseManager,
        Role::MdtMember,
        Role::GpReviewer,
        Role::EmergencyClinician,
        Role::Commissioner,
        Role::Admin,
        Role::DeploymentAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CaseManager => "case_manager",
            Role::MdtMember => "mdt_member",
            Role::GpReviewer => "gp_reviewer",
            Role::EmergencyClinician => "emergency_clinician",
            Role::Commissioner => "commissioner",
            Role::Admin => "admin",
            Role::DeploymentAdmin => "deployment_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The kinds of organisation a user can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganisationKind {
    GpPractice,
    CommunityHealthService,
    SocialCare,
    VoluntarySector,
    OutOfHoursProvider,
    AmbulanceService,
    EmergencyDepartment,
    Commissioner,
}

impl OrganisationKind {
    pub const ALL: [OrganisationKind; 8] = [
        OrganisationKind::GpPractice,
        OrganisationKind::CommunityHealthService,
        OrganisationKind::SocialCare,
        OrganisationKind::VoluntarySector,
        OrganisationKind::OutOfHoursProvider,
        OrganisationKind::AmbulanceService,
        OrganisationKind::EmergencyDepartment,
        OrganisationKind::Commissioner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::GpPractice => "gp_practice",
            OrganisationKind::CommunityHealthService => "community_health_service",
            OrganisationKind::SocialCare => "social_care",
            OrganisationKind::VoluntarySector => "voluntary_sector",
            OrganisationKind::OutOfHoursProvider => "out_of_hours_provider",
            OrganisationKind::AmbulanceService => "ambulance_service",
            OrganisationKind::EmergencyDepartment => "emergency_department",
            OrganisationKind::Commissioner => "commissioner",
        }
    }

    pub fn parse(s: &str) -> Option<OrganisationKind> {
        OrganisationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A user as the server knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    /// Sorted, without duplicates, never empty for a user that can sign in.
    pub roles: Vec<Role>,
    pub organisation_id: String,
    pub organisation_name: String,
    pub disabled: bool,
}

impl User {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The role shown in `Welcome` and in the login response: the first the user holds
    /// in [`Role::ALL`] order.
    pub fn primary_role(&self) -> Role {
        self.roles.first().copied().unwrap_or(Role::Admin)
    }

    pub fn role_names(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.as_str()).collect()
    }
}

/// A signed-in user on a registered device, as an access token identifies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: User,
    pub device_id: String,
}

/// The actor id of every change the server itself makes (demo data), so such changes
/// are recognisable in a plan's history. No device may submit changes with it.
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

/// Who committed a plan's latest change, as the server knows it (from the signed-in
/// user, not from anything the device wrote into the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committer {
    pub user_id: String,
    pub name: String,
    pub organisation: String,
}

/// The emergency summary as the API and the feed publish it: the projected summary plus
/// the patient id and how current it is (plan version, when, and by whom).
pub fn published_summary(
    summary_json: &str,
    patient_id: &str,
    plan_version: &str,
    updated_at_ms: i64,
    by: Option<&Committer>,
) -> anyhow::Result<serde_json::Value> {
    let mut summary: serde_json::Value = serde_json::from_str(summary_json)
        .map_err(|e| anyhow::anyhow!("a stored summary is not JSON: {e}"))?;
    let object = summary
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("a stored summary is not a JSON object"))?;
    object.insert("patient_id".into(), patient_id.into());
    object.insert("plan_version".into(), plan_version.into());
    object.insert("last_updated_at_ms".into(), updated_at_ms.into());
    object.insert(
        "last_updated_by".into(),
        by.map_or(serde_json::Value::Null, |c| {
            serde_json::json!({ "user_id": c.user_id, "name": c.name, "organisation": c.organisation })
        }),
    );
    Ok(summary)
}

/// The same object as [`published_summary`], as JSON text, for the emergency read path:
/// the stored summary's members are copied as they were stored (each validated, none
/// built into a tree and written out again), and the four published members replace or
/// join them. Members come out in key order, as from [`published_summary`].
pub fn published_summary_json(
    summary_json: &str,
    patient_id: &str,
    plan_version: &str,
    updated_at_ms: i64,
    by: Option<&Committer>,
) -> anyhow::Result<String> {
    use serde_json::value::RawValue;

    #[derive(serde::Serialize)]
    #[serde(untagged)]
    enum Member<'a> {
        Stored(&'a RawValue),
        Text(&'a str),
        Number(i64),
        By(Option<By<'a>>),
    }
    #[derive(serde::Serialize)]
    struct By<'a> {
        user_id: &'a str,
        name: &'a str,
        organisation: &'a str,
    }

    let stored: BTreeMap<&str, &RawValue> = serde_json::from_str(summary_json)
        .map_err(|e| anyhow::anyhow!("a stored summary is not a JSON object: {e}"))?;
    let mut object: BTreeMap<&str, Member<'_>> = stored
        .into_iter()
        .map(|(key, value)| (key, Member::Stored(value)))
        .collect();
    object.insert("patient_id", Member::Text(patient_id));
    object.insert("plan_version", Member::Text(plan_version));
    object.insert("last_updated_at_ms", Member::Number(updated_at_ms));
    object.insert(
        "last_updated_by",
        Member::By(by.map(|c| By {
            user_id: &c.user_id,
            name: &c.name,
            organisation: &c.organisation,
        })),
    );
    serde_json::to_string(&object).map_err(|e| anyhow::anyhow!("writing a summary: {e}"))
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
    let nhs = redfolder_shared::NhsNumber::parse(&plan.patient.nhs_number)?;
    let summary = emergency_summary(&plan);
    let summary_json = serde_json::to_string(&summary).expect("a summary always serialises");
    // "conflicting" while resuscitation decisions conflict: the caseload never badges or
    // filters on one side of a conflict.
    let dnacpr = plan.dnacpr_reading().as_str().to_owned();
    let paper = plan.paper_copy_reading();
    Ok(Projection {
        nhs_number: nhs.digits(),
        live: plan.enrolment.status != redfolder_shared::PlanStatus::Ended,
        name: plan.patient.name.clone(),
        date_of_birth: plan.patient.date_of_birth.clone(),
        share_with_mdt: plan.consent.share_with_mdt,
        share_with_emergency_services: plan.consent.share_with_emergency_services,
        dnacpr,
        paper_copy: paper.state.key().to_owned(),
        paper_copy_label: paper.label,
        last_updated: plan.last_updated,
        summary_json,
        plan_version: plan_version(&doc.heads()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_kinds_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for kind in OrganisationKind::ALL {
            assert_eq!(OrganisationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn the_published_summary_text_is_the_published_summary() {
        let stored = r#"{"name":"Ann \"Nan\" Smith","plan_version":"from the doc","conditions":[{"z":1,"a":"é\u0000"}],"adrt":null,"n":1.5}"#;
        let by = Committer {
            user_id: "u1".to_owned(),
            name: "Dr \"Who\"".to_owned(),
            organisation: "Practice".to_owned(),
        };
        for by in [None, Some(&by)] {
            let text = published_summary_json(stored, "p1", "abc,def", 42, by).unwrap();
            let tree = published_summary(stored, "p1", "abc,def", 42, by).unwrap();
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                tree
            );
        }
        assert!(published_summary_json("[1]", "p1", "v", 1, None).is_err());
        assert!(published_summary_json("{\"a\":", "p1", "v", 1, None).is_err());
    }
}
