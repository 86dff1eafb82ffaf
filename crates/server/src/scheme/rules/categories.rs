//! Categories of the data return, and who is over 75.

use super::*;

/// The data return's categories (section 4.3). Social-care notified patients are counted
/// with practice discretion: the return has no column for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCategory {
    RiskTool,
    CareHome,
    PracticeDiscretion,
    Over75,
}

impl ReturnCategory {
    pub const ALL: [ReturnCategory; 4] = [
        ReturnCategory::RiskTool,
        ReturnCategory::CareHome,
        ReturnCategory::PracticeDiscretion,
        ReturnCategory::Over75,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnCategory::RiskTool => "risk_tool",
            ReturnCategory::CareHome => "care_home",
            ReturnCategory::PracticeDiscretion => "practice_discretion",
            ReturnCategory::Over75 => "over_75",
        }
    }

    pub fn of(cohort: CohortCategory) -> ReturnCategory {
        match cohort {
            CohortCategory::RiskTool => ReturnCategory::RiskTool,
            CohortCategory::CareHome => ReturnCategory::CareHome,
            CohortCategory::ClinicalJudgement | CohortCategory::SocialCare => {
                ReturnCategory::PracticeDiscretion
            }
            CohortCategory::Over75 => ReturnCategory::Over75,
        }
    }

    /// Whether plans of this category count towards the 3 % and 5 % of full case management.
    pub fn is_full_case_management(self) -> bool {
        self != ReturnCategory::Over75
    }
}

/// Whether someone born on `dob` is over 75 (has had their 75th birthday) on `on`.
pub fn is_over_75(dob: Date, on: Date) -> bool {
    let birthday_75 = Date {
        year: dob.year + 75,
        month: dob.month,
        day: dob.day,
    };
    // 29 February births turn 75 on 1 March in common years: comparing tuples does that.
    on >= birthday_75
}
