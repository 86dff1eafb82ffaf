//! Who may reach which plan, and which parts of it they may change.
//!
//! Pure rules, no I/O: the store supplies a [`PatientContext`], the sync connection and
//! the handlers ask. Which fields each capacity may change is the shared core's
//! ([`redfolder_shared::check::Writer`]), so the tablet and the server hold one list.
//!
//! Until then, care-team membership lives in the server's `care_team` table, maintained
//! by the patient's case managers through `/api/v1/patients/{id}/care-team`.

use redfolder_shared::check::Writer;
use redfolder_shared::referral::Party;

use crate::audit::purpose;
use crate::domain::{Role, User};

/// The capacity in which a user reaches a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAccess {
    /// A case manager at the patient's practice: reads and writes the whole plan.
    CaseManager,
    /// A member of the patient's care team, with MDT consent: reads the plan and changes
    /// what [`Writer::MdtMember`] may.
    Mdt,
    /// A GP reviewer recording the outcome of a referral they decided in the patient's
    /// plan: never reads the plan, and writes only what [`Writer::MdtMember`] may (an
    /// advice entry). Never granted by [`plan_access`]; only the referral routes use it.
    PeerReviewer,
}

impl PlanAccess {
    pub fn role(self) -> Role {
        match self {
            PlanAccess::CaseManager => Role::CaseManager,
            PlanAccess::Mdt => Role::MdtMember,
            PlanAccess::PeerReviewer => Role::GpReviewer,
        }
    }

    /// Which fields this capacity may change, as the shared core's rules name it.
    pub fn writer(self) -> Writer {
        match self {
            PlanAccess::CaseManager => Writer::CaseManager,
            PlanAccess::Mdt | PlanAccess::PeerReviewer => Writer::MdtMember,
        }
    }

    pub fn purpose(self) -> &'static str {
        match self {
            PlanAccess::CaseManager => purpose::DIRECT_CARE,
            PlanAccess::Mdt => purpose::MDT_CARE,
            PlanAccess::PeerReviewer => purpose::PEER_REVIEW,
        }
    }
}

/// What the rules need to know about a patient, seen from the user's organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientContext {
    /// The practice the patient is registered at.
    pub organisation_id: String,
    pub share_with_mdt: bool,
    /// Whether the patient's care team includes the user's organisation.
    pub in_care_team: bool,
}

/// Whether, and as what, `user` may sync the plan of the patient described by `patient`.
/// Emergency clinicians, commissioners and admins never reach a plan through these roles.
pub fn plan_access(user: &User, patient: &PatientContext) -> Option<PlanAccess> {
    if user.disabled {
        return None;
    }
    if user.has(Role::CaseManager) && patient.organisation_id == user.organisation_id {
        return Some(PlanAccess::CaseManager);
    }
    if user.has(Role::MdtMember) && patient.share_with_mdt && patient.in_care_team {
        return Some(PlanAccess::Mdt);
    }
    None
}

/// The capacity in which `user` acts on a referral from the practice `referring_org` in a
/// specialty the user is (`reviews_specialty`) or is not assigned to review. A case
/// manager at the referring practice is its referrer, even if they also review that
/// specialty: nobody peer-reviews their own practice's referral.
pub fn referral_party(user: &User, referring_org: &str, reviews_specialty: bool) -> Option<Party> {
    if user.disabled {
        return None;
    }
    if user.has(Role::CaseManager) && user.organisation_id == referring_org {
        return Some(Party::Referrer);
    }
    if user.has(Role::GpReviewer) && reviews_specialty {
        return Some(Party::Reviewer);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_acts_on_a_referral() {
        use Party::*;
        // (roles, the user's organisation, the referring practice, assigned, capacity)
        type Case = (
            &'static [Role],
            &'static str,
            &'static str,
            bool,
            Option<Party>,
        );
        let cases: &[Case] = &[
            (&[Role::CaseManager], "gp", "gp", false, Some(Referrer)),
            (&[Role::CaseManager], "gp", "other", true, None),
            (&[Role::GpReviewer], "hub", "gp", true, Some(Reviewer)),
            (&[Role::GpReviewer], "hub", "gp", false, None),
            (&[Role::GpReviewer], "gp", "gp", true, Some(Reviewer)),
            (
                &[Role::CaseManager, Role::GpReviewer],
                "gp",
                "gp",
                true,
                Some(Referrer),
            ),
            (
                &[Role::CaseManager, Role::GpReviewer],
                "gp",
                "other",
                true,
                Some(Reviewer),
            ),
            (&[Role::MdtMember], "gp", "gp", true, None),
            (&[Role::Commissioner], "gp", "gp", true, None),
            (&[Role::Admin], "gp", "gp", true, None),
        ];
        for (roles, org, referring, assigned, expected) in cases {
            assert_eq!(
                referral_party(&user(roles, org), referring, *assigned),
                *expected,
                "{roles:?} at {org}, referral from {referring}, assigned={assigned}"
            );
        }
        let mut disabled = user(&[Role::CaseManager], "gp");
        disabled.disabled = true;
        assert_eq!(referral_party(&disabled, "gp", false), None);
    }

    fn user(roles: &[Role], org: &str) -> User {
        User {
            id: "u".into(),
            username: "u".into(),
            name: "U".into(),
            roles: roles.to_vec(),
            organisation_id: org.into(),
            organisation_name: "Org".into(),
            disabled: false,
        }
    }

    fn patient(org: &str, mdt: bool, team: bool) -> PatientContext {
        PatientContext {
            organisation_id: org.into(),
            share_with_mdt: mdt,
            in_care_team: team,
        }
    }

    #[test]
    fn who_reaches_a_plan() {
        use PlanAccess::*;
        let cases: &[(&[Role], &str, PatientContext, Option<PlanAccess>)] = &[
            (
                &[Role::CaseManager],
                "gp",
                patient("gp", false, false),
                Some(CaseManager),
            ),
            (
                &[Role::CaseManager],
                "other",
                patient("gp", true, true),
                None,
            ),
            (
                &[Role::MdtMember],
                "dn",
                patient("gp", true, true),
                Some(Mdt),
            ),
            (&[Role::MdtMember], "dn", patient("gp", false, true), None),
            (&[Role::MdtMember], "dn", patient("gp", true, false), None),
            (
                &[Role::EmergencyClinician],
                "gp",
                patient("gp", true, true),
                None,
            ),
            (&[Role::Commissioner], "gp", patient("gp", true, true), None),
            (&[Role::Admin], "gp", patient("gp", true, true), None),
            (
                &[Role::CaseManager, Role::Admin],
                "gp",
                patient("gp", false, false),
                Some(CaseManager),
            ),
            (
                &[Role::CaseManager, Role::MdtMember],
                "dn",
                patient("gp", true, true),
                Some(Mdt),
            ),
        ];
        for (roles, org, ctx, expected) in cases {
            assert_eq!(
                plan_access(&user(roles, org), ctx),
                *expected,
                "{roles:?} at {org}, {ctx:?}"
            );
        }
        let mut disabled = user(&[Role::CaseManager], "gp");
        disabled.disabled = true;
        assert_eq!(plan_access(&disabled, &patient("gp", true, true)), None);
    }
}
