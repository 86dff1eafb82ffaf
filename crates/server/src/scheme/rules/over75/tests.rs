use super::*;
use redfolder_shared::{PaperReading, PaperState};

fn d(s: &str) -> Date {
    Date::parse(s).unwrap_or_else(|| panic!("bad date {s}"))
}

fn facts(nhs: &str, over_75: bool, status: PlanStatus, last: Option<&str>) -> PlanFacts {
    PlanFacts {
        patient_id: format!("p-{nhs}"),
        nhs_number: nhs.into(),
        name: format!("Patient {nhs}"),
        status,
        category: Some(ReturnCategory::Over75),
        care_home: false,
        over_75,
        first_complete: last.map(d),
        reviews: Vec::new(),
        ended: None,
        ended_reason: None,
        review_interval_months: None,
        next_review_due: None,
        case_manager: None,
        paper_copy: PaperReading {
            state: PaperState::NotPrinted,
            printed: None,
            changed_sections: Vec::new(),
            label: String::new(),
        },
    }
}

fn risk(nhs: &str, score: f64) -> RiskRow {
    RiskRow {
        line: 1,
        nhs_number: nhs.into(),
        risk_score: score,
        risk_level: 2,
        as_of: "2026-11-01".into(),
    }
}

#[test]
fn worklist_needs_first_then_risk_and_coverage_against_the_list() {
    let today = d("2026-11-30");
    let plans = [
        facts("1", true, PlanStatus::Complete, Some("2026-06-01")),
        facts("2", true, PlanStatus::Complete, Some("2025-11-01")),
        facts("3", true, PlanStatus::Draft, None),
        // Under 75: not on the register even with a plan.
        facts("4", false, PlanStatus::Complete, Some("2026-06-01")),
    ];
    let listed = ["1".to_owned(), "5".to_owned(), "6".to_owned()];
    let scores = [risk("3", 10.0), risk("2", 50.0), risk("6", 70.0)];
    let (rows, coverage) = over_75_register(&listed, Some(10), &plans, &scores, today);
    let got: Vec<(&str, Over75State)> = rows
        .iter()
        .map(|r| (r.nhs_number.as_str(), r.state))
        .collect();
    assert_eq!(
        got,
        vec![
            ("6", Over75State::NoPlan),
            ("5", Over75State::NoPlan),
            ("2", Over75State::Overdue),
            ("3", Over75State::Overdue),
            ("1", Over75State::Reviewed),
        ]
    );
    assert_eq!(rows[4].scheme, "annual_review");
    assert_eq!(rows[3].scheme, "none");
    assert_eq!(
        coverage,
        Over75Coverage {
            list_size: 10,
            reviewed_in_last_year: 1,
            percent: Some(10.0)
        }
    );
    // Without a list size the register's length counts; an empty one has no percentage.
    let (_, c) = over_75_register(&[], None, &plans, &[], today);
    assert_eq!((c.list_size, c.reviewed_in_last_year), (3, 1));
    let (_, c) = over_75_register(&[], None, &[], &[], today);
    assert_eq!(c.percent, None);
}
