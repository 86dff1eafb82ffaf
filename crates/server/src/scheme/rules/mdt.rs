//! MDT meetings.

use super::*;

/// The core MDT members (Appendix 1, step 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreRole {
    Gp,
    CommunityNurse,
    SocialWork,
    VoluntarySector,
    /// Anyone else relevant (mental health, therapists, drug and alcohol team...).
    Other,
}

impl CoreRole {
    pub const REQUIRED: [CoreRole; 4] = [
        CoreRole::Gp,
        CoreRole::CommunityNurse,
        CoreRole::SocialWork,
        CoreRole::VoluntarySector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoreRole::Gp => "gp",
            CoreRole::CommunityNurse => "community_nurse",
            CoreRole::SocialWork => "social_work",
            CoreRole::VoluntarySector => "voluntary_sector",
            CoreRole::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<CoreRole> {
        [
            CoreRole::Gp,
            CoreRole::CommunityNurse,
            CoreRole::SocialWork,
            CoreRole::VoluntarySector,
            CoreRole::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Warnings about a meeting as scheduled and run.
pub fn mdt_warnings(
    meeting: Date,
    scheduled_on: Date,
    patients_listed_on: &[Date],
    signed_roles: &[CoreRole],
    held: bool,
) -> Vec<String> {
    let mut w = Vec::new();
    let notice = days_between(scheduled_on, meeting);
    if notice < MDT_NOTICE_DAYS {
        w.push(format!(
            "scheduled {notice} days ahead: the schedule must be shared at least 4 weeks in advance"
        ));
    }
    let late = patients_listed_on
        .iter()
        .filter(|d| days_between(**d, meeting) < MDT_PATIENT_NOTICE_DAYS)
        .count();
    if late > 0 {
        w.push(format!(
            "{late} patient(s) listed less than a week before the meeting"
        ));
    }
    if held {
        let missing: Vec<&str> = CoreRole::REQUIRED
            .iter()
            .filter(|r| !signed_roles.contains(r))
            .map(|r| r.as_str())
            .collect();
        if !missing.is_empty() {
            w.push(format!(
                "no signed attendance from core member(s): {}",
                missing.join(", ")
            ));
        }
    }
    w
}
