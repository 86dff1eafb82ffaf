//! The cohort against the list, and the candidates worklist.

use super::*;

/// The practice's full case management cohort against its list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CohortPosition {
    pub list_size: u64,
    /// Plans in the scheme by category (over-75 case reviews included, but not counted
    /// towards the percentages).
    pub enrolled: BTreeMap<ReturnCategory, u64>,
    pub full_case_management: u64,
    /// Of the list, to two decimals.
    pub percent_of_list: f64,
    pub percent_by_category: BTreeMap<ReturnCategory, f64>,
    pub first_tier_places: u64,
    pub cohort_places: u64,
    pub phase: CohortPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohortPhase {
    /// Below 3 %: select care home residents and risk-tool patients only.
    FirstThreePercent,
    /// 3 % to 5 %: risk-tool patients or clinical judgement.
    UpToFivePercent,
    /// At 5 %: discharge before taking anyone on.
    Full,
}

pub fn percent(count: u64, list_size: u64) -> f64 {
    if list_size == 0 {
        return 0.0;
    }
    (count as f64 * 10_000.0 / list_size as f64).round() / 100.0
}

/// Where the practice stands; `list_size` must be positive.
pub fn cohort_position(list_size: u64, plans: &[PlanFacts]) -> CohortPosition {
    let mut enrolled: BTreeMap<ReturnCategory, u64> =
        ReturnCategory::ALL.iter().map(|c| (*c, 0)).collect();
    for p in plans.iter().filter(|p| p.is_active()) {
        if let Some(c) = p.category {
            *enrolled.entry(c).or_default() += 1;
        }
    }
    let full: u64 = enrolled
        .iter()
        .filter(|(c, _)| c.is_full_case_management())
        .map(|(_, n)| n)
        .sum();
    let first_tier_places = list_size * FIRST_TIER_PERCENT / 100;
    let cohort_places = list_size * COHORT_PERCENT / 100;
    let phase = if full < first_tier_places {
        CohortPhase::FirstThreePercent
    } else if full < cohort_places {
        CohortPhase::UpToFivePercent
    } else {
        CohortPhase::Full
    };
    CohortPosition {
        list_size,
        percent_by_category: enrolled
            .iter()
            .map(|(c, n)| (*c, percent(*n, list_size)))
            .collect(),
        enrolled,
        full_case_management: full,
        percent_of_list: percent(full, list_size),
        first_tier_places,
        cohort_places,
        phase,
    }
}

/// Someone the practice should consider next.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub nhs_number: String,
    /// The plan, when the patient already has a (draft or ended) one.
    pub patient_id: Option<String>,
    pub name: Option<String>,
    pub reason: CandidateReason,
    pub risk_level: Option<u8>,
    pub risk_score: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateReason {
    /// All nursing and residential home patients belong in the first 3 %.
    CareHome,
    /// Risk-tool levels 2 and 3 (the top 5 %).
    RiskTool,
}

/// A high-risk patient the practice chose to exclude, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Excluded {
    pub nhs_number: String,
    pub reason: String,
}

/// The worklist: care home residents not yet in the scheme first (they must all be in
/// the first 3 %), then risk-tool patients at levels 3 and 2 by score, leaving out anyone
/// already in the scheme and anyone excluded (listed separately with the reason).
/// Risk level 1 is not in the top 5 % and is never proposed; patients the GP judges
/// clinically appropriate are the GP's to add once the practice is past 3 %.
pub fn candidates(
    plans: &[PlanFacts],
    risk: &[RiskRow],
    exclusions: &[(String, String)],
) -> (Vec<Candidate>, Vec<Excluded>) {
    let enrolled: HashSet<&str> = plans
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.nhs_number.as_str())
        .collect();
    let excluded: HashMap<&str, &str> = exclusions
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    let by_nhs: HashMap<&str, &PlanFacts> =
        plans.iter().map(|p| (p.nhs_number.as_str(), p)).collect();
    let risk_of: HashMap<&str, &RiskRow> =
        risk.iter().map(|r| (r.nhs_number.as_str(), r)).collect();
    let mut out = Vec::new();
    let mut listed: HashSet<&str> = HashSet::new();
    let mut excluded_out = Vec::new();
    let mut care_home: Vec<&PlanFacts> = plans
        .iter()
        .filter(|p| p.care_home && p.status != PlanStatus::Ended)
        .filter(|p| !enrolled.contains(p.nhs_number.as_str()))
        .collect();
    care_home.sort_by(|a, b| a.nhs_number.cmp(&b.nhs_number));
    for p in care_home {
        if let Some(reason) = excluded.get(p.nhs_number.as_str()) {
            if listed.insert(p.nhs_number.as_str()) {
                excluded_out.push(Excluded {
                    nhs_number: p.nhs_number.clone(),
                    reason: (*reason).to_owned(),
                });
            }
            continue;
        }
        if listed.insert(p.nhs_number.as_str()) {
            let r = risk_of.get(p.nhs_number.as_str());
            out.push(Candidate {
                nhs_number: p.nhs_number.clone(),
                patient_id: Some(p.patient_id.clone()),
                name: Some(p.name.clone()),
                reason: CandidateReason::CareHome,
                risk_level: r.map(|r| r.risk_level),
                risk_score: r.map(|r| r.risk_score),
            });
        }
    }
    let mut ranked: Vec<&RiskRow> = risk.iter().filter(|r| r.in_top_5_percent()).collect();
    ranked.sort_by(|a, b| {
        b.risk_level
            .cmp(&a.risk_level)
            .then(b.risk_score.total_cmp(&a.risk_score))
            .then(a.nhs_number.cmp(&b.nhs_number))
    });
    for r in ranked {
        let nhs = r.nhs_number.as_str();
        if enrolled.contains(nhs) || !listed.insert(nhs) {
            continue;
        }
        if let Some(reason) = excluded.get(nhs) {
            excluded_out.push(Excluded {
                nhs_number: r.nhs_number.clone(),
                reason: (*reason).to_owned(),
            });
            continue;
        }
        let plan = by_nhs.get(nhs);
        out.push(Candidate {
            nhs_number: r.nhs_number.clone(),
            patient_id: plan.map(|p| p.patient_id.clone()),
            name: plan.map(|p| p.name.clone()),
            reason: CandidateReason::RiskTool,
            risk_level: Some(r.risk_level),
            risk_score: Some(r.risk_score),
        });
    }
    (out, excluded_out)
}
