//! The over-75 register (seed 003 section 1.2: "for the over 75s each patient will receive
//! an annual face to face review"): everyone over 75 the practice knows of, by risk score,
//! with whether they were reviewed in the last year, and coverage against the practice's
//! over-75 list.

use super::*;

/// Where an over-75 stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Over75State {
    /// On the practice's list but with no plan here: no review recorded.
    NoPlan,
    /// A plan, but no review or completion in the last twelve months.
    Overdue,
    /// Reviewed (or the plan completed) within the last twelve months.
    Reviewed,
}

/// One over-75 on the register.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Over75Row {
    pub nhs_number: String,
    pub patient_id: Option<String>,
    pub name: Option<String>,
    pub risk_score: Option<f64>,
    pub risk_level: Option<u8>,
    /// `YYYY-MM-DD` of the last review or, if none, of the plan's completion.
    pub last_reviewed: Option<String>,
    /// `YYYY-MM-DD` the next review falls due, for plans in the scheme.
    pub next_due: Option<String>,
    /// `full_case_management`, `annual_review`, `ended` or `none`.
    pub scheme: String,
    pub state: Over75State,
}

/// Coverage of the annual review against the practice's over-75 list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Over75Coverage {
    /// The list size the practice gave, else the register's length.
    pub list_size: u64,
    pub reviewed_in_last_year: u64,
    /// `reviewed_in_last_year` as a percentage of `list_size`; `None` for an empty list.
    pub percent: Option<f64>,
}

/// Builds the register: the practice's over-75 list (ten-digit NHS numbers, possibly empty
/// when only its size was given) merged with every plan whose patient is over 75, each
/// with the latest risk score; the worklist order is who needs a review first (no plan,
/// then overdue, then reviewed), highest risk first within each, then NHS number.
pub fn over_75_register(
    listed: &[String],
    list_size: Option<u64>,
    plans: &[PlanFacts],
    risk: &[RiskRow],
    today: Date,
) -> (Vec<Over75Row>, Over75Coverage) {
    let year_ago = today.plus_days(-365);
    let risk: HashMap<&str, &RiskRow> = risk.iter().map(|r| (r.nhs_number.as_str(), r)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut rows = Vec::new();
    for p in plans.iter().filter(|p| p.over_75) {
        if !seen.insert(p.nhs_number.as_str()) {
            continue;
        }
        let last = p.reviews.last().map(|(d, _)| *d).or(p.first_complete);
        let scheme = if !p.is_active() {
            if p.ended.is_some() { "ended" } else { "none" }
        } else if p.category == Some(ReturnCategory::Over75) {
            "annual_review"
        } else {
            "full_case_management"
        };
        let state = if last.is_some_and(|d| d > year_ago) {
            Over75State::Reviewed
        } else {
            Over75State::Overdue
        };
        let r = risk.get(p.nhs_number.as_str());
        rows.push(Over75Row {
            nhs_number: p.nhs_number.clone(),
            patient_id: Some(p.patient_id.clone()),
            name: Some(p.name.clone()),
            risk_score: r.map(|r| r.risk_score),
            risk_level: r.map(|r| r.risk_level),
            last_reviewed: last.map(|d| d.to_string()),
            next_due: review_due(p).map(|d| d.to_string()),
            scheme: scheme.to_owned(),
            state,
        });
    }
    for nhs in listed {
        if !seen.insert(nhs.as_str()) {
            continue;
        }
        let r = risk.get(nhs.as_str());
        rows.push(Over75Row {
            nhs_number: nhs.clone(),
            patient_id: None,
            name: None,
            risk_score: r.map(|r| r.risk_score),
            risk_level: r.map(|r| r.risk_level),
            last_reviewed: None,
            next_due: None,
            scheme: "none".to_owned(),
            state: Over75State::NoPlan,
        });
    }
    rows.sort_by(|a, b| {
        a.state
            .cmp(&b.state)
            .then(
                b.risk_score
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&a.risk_score.unwrap_or(f64::NEG_INFINITY)),
            )
            .then(a.nhs_number.cmp(&b.nhs_number))
    });
    let reviewed = rows
        .iter()
        .filter(|r| r.state == Over75State::Reviewed)
        .count() as u64;
    let size = list_size.unwrap_or(rows.len() as u64);
    let coverage = Over75Coverage {
        list_size: size,
        reviewed_in_last_year: reviewed,
        percent: (size > 0).then(|| percent(reviewed, size)),
    };
    (rows, coverage)
}

#[cfg(test)]
mod tests;
