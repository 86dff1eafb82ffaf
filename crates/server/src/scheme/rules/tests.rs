use super::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap_or_else(|| panic!("bad date {s}"))
}

fn plan(id: &str, category: ReturnCategory, complete: &str, reviews: &[&str]) -> PlanFacts {
    PlanFacts {
        patient_id: id.into(),
        nhs_number: format!("nhs-{id}"),
        name: format!("Patient {id}"),
        status: PlanStatus::Complete,
        category: Some(category),
        care_home: category == ReturnCategory::CareHome,
        over_75: category == ReturnCategory::Over75,
        first_complete: Some(d(complete)),
        reviews: reviews
            .iter()
            .map(|r| (d(r), ReviewOutcome::Continue))
            .collect(),
        ended: None,
        ended_reason: None,
        review_interval_months: None,
        next_review_due: None,
        case_manager: Some("Sam".into()),
        paper_copy: redfolder_shared::PaperReading {
            state: redfolder_shared::PaperState::NotPrinted,
            printed: None,
            changed_sections: Vec::new(),
            label: String::new(),
        },
    }
}

#[test]
fn over_75_on_the_birthday() {
    let cases = [
        ("1950-06-15", "2025-06-14", false),
        ("1950-06-15", "2025-06-15", true),
        ("1948-02-29", "2023-02-28", false),
        ("1948-02-29", "2023-03-01", true),
    ];
    for (dob, on, expect) in cases {
        assert_eq!(is_over_75(d(dob), d(on)), expect, "{dob} on {on}");
    }
}

#[test]
fn risk_csv_accepts_a_clean_file_in_any_column_order() {
    let csv = "as_of,NHS Number,risk_level,risk_score\r\n2026-11-01,9434765919,3,87.5\n\n2026-11-01,9999999468,1,12\n";
    let rows = parse_risk_csv(csv, d("2026-11-29")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            rows[0].line,
            rows[0].nhs_number.as_str(),
            rows[0].risk_level
        ),
        (2, "9434765919", 3)
    );
    assert!(rows[0].in_top_5_percent() && !rows[1].in_top_5_percent());
    assert_eq!(rows[1].line, 4);
}

#[test]
fn risk_csv_reads_quoted_fields() {
    // Spreadsheets quote a header with spaces and any cell holding a comma.
    let csv = "\"NHS Number\",\"risk_score\",risk_level,as_of\r\n\"943 476 5919\",\"87.5\",3,2026-11-01\r\n";
    let rows = parse_risk_csv(csv, d("2026-11-29")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].nhs_number, "9434765919");
    assert_eq!(rows[0].line, 2);
    let problems = parse_risk_csv(
        "nhs_number,risk_score,risk_level,as_of\n9434765919,\"87,5\",3,2026-11-01\n",
        d("2026-11-29"),
    )
    .unwrap_err();
    assert_eq!(
        (problems[0].line, problems[0].message.as_str()),
        (2, "the risk score is not a number")
    );
}

#[test]
fn risk_csv_reports_every_bad_line_and_keeps_nothing() {
    let csv = "nhs_number,risk_score,risk_level,as_of
9434765919,87.5,3,2026-11-01
9434765918,10,2,2026-11-01
9999999468,high,4,2026-13-01
9434765919,50,2,2026-11-01
9999999468,1,1
9999999468,1,1,2027-01-01
";
    let problems = parse_risk_csv(csv, d("2026-11-29")).unwrap_err();
    let got: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "the NHS number is not valid"),
            (
                4,
                "the risk score is not a number; the risk level must be 1, 2 or 3; the as-of date must be YYYY-MM-DD"
            ),
            (5, "the NHS number is also on line 2"),
            (6, "expected 4 fields, found 3"),
            (
                7,
                "the as-of date is in the future; the NHS number is also on line 4"
            ),
        ]
    );
    assert_eq!(
        parse_risk_csv("nhs,score\n", d("2026-11-29")).unwrap_err()[0].line,
        1
    );
    assert_eq!(
        parse_risk_csv("", d("2026-11-29")).unwrap_err()[0].message,
        "the file is empty"
    );
}

#[test]
fn review_due_four_months_after_the_last_review_or_sooner_if_set() {
    let mut p = plan("a", ReturnCategory::RiskTool, "2026-01-31", &[]);
    assert_eq!(review_due(&p), Some(d("2026-05-31")));
    p.reviews.push((d("2026-05-20"), ReviewOutcome::Continue));
    assert_eq!(review_due(&p), Some(d("2026-09-20")));
    p.next_review_due = Some(d("2026-07-01"));
    assert_eq!(review_due(&p), Some(d("2026-07-01")), "sooner if set");
    p.next_review_due = Some(d("2026-12-01"));
    assert_eq!(review_due(&p), Some(d("2026-09-20")), "never later");
    p.review_interval_months = Some(2);
    p.next_review_due = None;
    assert_eq!(review_due(&p), Some(d("2026-07-20")));

    let over_75 = plan("b", ReturnCategory::Over75, "2026-03-10", &[]);
    assert_eq!(review_due(&over_75), Some(d("2027-03-10")));

    let mut ended = plan("c", ReturnCategory::CareHome, "2026-03-10", &[]);
    ended.status = PlanStatus::Ended;
    assert_eq!(review_due(&ended), None);
    let mut draft = plan("d", ReturnCategory::CareHome, "2026-03-10", &[]);
    draft.status = PlanStatus::Draft;
    assert_eq!(review_due(&draft), None);
}

#[test]
fn due_states() {
    let today = d("2026-11-29");
    assert_eq!(due_state(d("2026-11-28"), today, 28), DueState::Overdue);
    assert_eq!(due_state(d("2026-11-29"), today, 28), DueState::DueSoon);
    assert_eq!(due_state(d("2026-12-27"), today, 28), DueState::DueSoon);
    assert_eq!(due_state(d("2026-12-28"), today, 28), DueState::NotYetDue);
    assert_eq!(days_between(d("2024-02-28"), d("2024-03-01")), 2);
    assert_eq!(days_between(d("2026-01-01"), d("2025-12-31")), -1);
}

#[test]
fn review_outcomes_follow_step_17() {
    use ReviewOutcome::*;
    // (still in top 5 %, exceptional circumstances, over 75) -> outcome
    let cases = [
        ((true, false, false), Continue),
        ((true, true, true), Continue),
        ((false, true, false), PracticeDiscretion),
        ((false, true, true), PracticeDiscretion),
        ((false, false, true), MoveToAnnualReview),
        ((false, false, false), EndCaseManagement),
    ];
    for ((top, exceptional, old), expect) in cases {
        assert_eq!(
            review_outcome(top, exceptional, old),
            expect,
            "{top} {exceptional} {old}"
        );
    }
}

#[test]
fn cohort_position_against_three_and_five_percent() {
    // A list of 1,000: 30 places in the first tier, 50 in all.
    let mut plans: Vec<PlanFacts> = (0..20)
        .map(|i| plan(&i.to_string(), ReturnCategory::RiskTool, "2026-01-01", &[]))
        .collect();
    plans.extend(
        (20..29).map(|i| plan(&i.to_string(), ReturnCategory::CareHome, "2026-01-01", &[])),
    );
    plans.push(plan("o", ReturnCategory::Over75, "2026-01-01", &[]));
    let pos = cohort_position(1000, &plans);
    assert_eq!((pos.first_tier_places, pos.cohort_places), (30, 50));
    assert_eq!(
        pos.full_case_management, 29,
        "over-75 case reviews do not count"
    );
    assert_eq!(pos.percent_of_list, 2.9);
    assert_eq!(pos.phase, CohortPhase::FirstThreePercent);
    assert_eq!(pos.percent_by_category[&ReturnCategory::CareHome], 0.9);
    plans.push(plan(
        "x",
        ReturnCategory::PracticeDiscretion,
        "2026-01-01",
        &[],
    ));
    assert_eq!(
        cohort_position(1000, &plans).phase,
        CohortPhase::UpToFivePercent
    );
    assert_eq!(cohort_position(600, &plans).phase, CohortPhase::Full);
}

#[test]
fn candidates_put_care_homes_first_then_risk_levels_and_skip_the_enrolled_and_excluded() {
    let mut home = plan("h", ReturnCategory::CareHome, "2026-01-01", &[]);
    home.status = PlanStatus::Draft;
    home.nhs_number = "1111111111".into();
    let mut enrolled = plan("e", ReturnCategory::RiskTool, "2026-01-01", &[]);
    enrolled.nhs_number = "2222222222".into();
    let row = |nhs: &str, score: f64, level: u8| RiskRow {
        line: 0,
        nhs_number: nhs.into(),
        risk_score: score,
        risk_level: level,
        as_of: "2026-11-01".into(),
    };
    let risk = [
        row("2222222222", 99.0, 3),
        row("3333333333", 40.0, 2),
        row("4444444444", 80.0, 3),
        row("5555555555", 70.0, 3),
        row("6666666666", 95.0, 1),
        row("7777777777", 60.0, 3),
    ];
    let exclusions = [("5555555555".to_owned(), "renal unit follows".to_owned())];
    let (list, excluded) = candidates(&[home, enrolled], &risk, &exclusions);
    let got: Vec<(&str, CandidateReason)> = list
        .iter()
        .map(|c| (c.nhs_number.as_str(), c.reason))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1111111111", CandidateReason::CareHome),
            ("4444444444", CandidateReason::RiskTool),
            ("7777777777", CandidateReason::RiskTool),
            ("3333333333", CandidateReason::RiskTool),
        ]
    );
    assert_eq!(list[0].patient_id.as_deref(), Some("h"));
    assert_eq!(
        excluded,
        vec![Excluded {
            nhs_number: "5555555555".into(),
            reason: "renal unit follows".into()
        }]
    );
}

#[test]
fn first_year_pays_170_and_later_years_90() {
    // Section 7: £110 + £30 + £30 in the first year; £30 x 3 a year after.
    let p = plan(
        "a",
        ReturnCategory::RiskTool,
        "2025-04-10",
        &[
            "2025-08-10",
            "2025-12-10",
            "2026-02-01", // a third review in year one: done, not paid
            "2026-04-10",
            "2026-08-10",
            "2026-12-10",
            "2027-03-01", // a fourth in year two: not paid
        ],
    );
    let activity = plan_activity(&p);
    let paid: i64 = activity
        .iter()
        .filter(|(_, _, paid)| *paid)
        .map(|(_, a, _)| a.price())
        .sum();
    let year_one: i64 = activity
        .iter()
        .filter(|(date, _, paid)| *paid && *date < d("2026-04-10"))
        .map(|(_, a, _)| a.price())
        .sum();
    assert_eq!(year_one, 170);
    assert_eq!(paid - year_one, 90);
    assert_eq!(activity.iter().filter(|(_, _, paid)| !paid).count(), 2);
}

#[test]
fn an_over_75_case_review_is_50_a_year_and_a_discharge_to_annual_review_switches_price() {
    let p = plan(
        "o",
        ReturnCategory::Over75,
        "2025-05-01",
        &["2025-09-01", "2026-05-02"],
    );
    let got: Vec<(Activity, bool)> = plan_activity(&p).iter().map(|(_, a, p)| (*a, *p)).collect();
    assert_eq!(
        got,
        vec![
            (Activity::Over75Review, true),
            (Activity::Over75Review, false),
            (Activity::Over75Review, true),
        ]
    );
    let mut moved = plan("m", ReturnCategory::RiskTool, "2025-01-15", &["2025-05-15"]);
    moved.reviews[0].1 = ReviewOutcome::MoveToAnnualReview;
    moved
        .reviews
        .push((d("2026-05-20"), ReviewOutcome::Continue));
    moved.category = Some(ReturnCategory::Over75);
    let got: Vec<Activity> = plan_activity(&moved).iter().map(|(_, a, _)| *a).collect();
    assert_eq!(
        got,
        vec![
            Activity::NewFullPlan,
            Activity::Review,
            Activity::Over75Review
        ]
    );
}

#[test]
fn activity_is_paid_only_when_claimed_within_three_months() {
    assert!(within_claim_window(d("2026-01-31"), d("2026-04-30")));
    assert!(!within_claim_window(d("2026-01-31"), d("2026-05-01")));
    assert!(within_claim_window(d("2026-03-15"), d("2026-06-15")));
    assert!(!within_claim_window(d("2026-03-15"), d("2026-06-16")));
}

#[test]
fn a_worked_month() {
    // October 2026 at a practice of 2,000 (60 places in the first 3 %, 100 in all):
    // two new risk-tool plans, one new care-home plan, one new over-75 case review,
    // two four-monthly reviews of older plans, one plan ended in September.
    let month = Month::parse("2026-10").unwrap();
    let mut ended = plan("z", ReturnCategory::RiskTool, "2025-10-01", &[]);
    ended.status = PlanStatus::Ended;
    ended.ended = Some(d("2026-09-20"));
    let plans = vec![
        plan("a", ReturnCategory::RiskTool, "2026-10-03", &[]),
        plan("b", ReturnCategory::RiskTool, "2026-10-20", &[]),
        plan("c", ReturnCategory::CareHome, "2026-10-31", &[]),
        plan("d", ReturnCategory::Over75, "2026-10-05", &[]),
        plan("e", ReturnCategory::CareHome, "2026-06-01", &["2026-10-01"]),
        plan(
            "f",
            ReturnCategory::PracticeDiscretion,
            "2026-02-11",
            &["2026-06-11", "2026-10-11"],
        ),
        plan("g", ReturnCategory::RiskTool, "2026-11-02", &[]),
        ended,
    ];
    let r = monthly_return(month, d("2026-11-10"), Some(2000), &plans);
    let cat = |m: &BTreeMap<ReturnCategory, u64>| -> Vec<u64> { m.values().copied().collect() };
    // risk tool, care home, practice discretion, over 75
    assert_eq!(cat(&r.new_plans), vec![2, 1, 0, 1]);
    assert_eq!((r.reviews_done, r.over_75_case_reviews), (2, 0));
    assert_eq!(cat(&r.plans_in_place), vec![2, 2, 1, 1]);
    assert_eq!(r.full_case_management_in_place, 5);
    assert_eq!(r.percent_of_list, Some(0.25));
    // 3 x £110 + 2 x £30 + 1 x £50
    assert_eq!(r.claim_total, 330 + 60 + 50);
    assert!(r.not_payable.is_empty());

    // Claimed in February 2027 instead, everything done before 3 Nov 2026 is too late.
    let late = monthly_return(month, d("2027-02-03"), Some(2000), &plans);
    assert_eq!(late.claim_total, 0);
    let total_late: u64 = late.not_payable.iter().map(|l| l.count).sum();
    assert_eq!(total_late, 6);
    // Claimed on 31 January 2027: only the care-home plan of 31 October is still paid.
    let edge = monthly_return(month, d("2027-01-31"), Some(2000), &plans);
    assert_eq!(edge.claim_total, 110);

    let csv = monthly_return_csv(&r);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        vec![
            "measure,category,value",
            "month,,2026-10",
            "claimed_on,,2026-11-10",
            "list_size,,2000",
            "new_plans,risk_tool,2",
            "new_plans,care_home,1",
            "new_plans,practice_discretion,0",
            "new_plans,over_75,1",
            "reviews_done,,2",
            "over_75_case_reviews,,0",
            "plans_in_place,risk_tool,2",
            "plans_in_place,care_home,2",
            "plans_in_place,practice_discretion,1",
            "plans_in_place,over_75,1",
            "percent_of_list,full_case_management,0.25",
            "target_percent,first_tier,3",
            "target_percent,cohort,5",
            "claim,new_full_plan,3 x 110 = 330",
            "claim,review,2 x 30 = 60",
            "claim,over_75_case_review,1 x 50 = 50",
            "claim_total,,440",
            "discharges,discharged,0",
            "discharges,to_annual_review,0",
            "discharges,moved_away,0",
            "discharges,died,0",
            "discharges,patient_declined,0",
            "discharges,total,0",
        ]
    );
}

#[test]
fn months() {
    let m = Month::parse("2024-02").unwrap();
    assert_eq!(m.last_day(), d("2024-02-29"));
    assert_eq!(
        Month::parse("2026-01").unwrap().previous().to_string(),
        "2025-12"
    );
    assert!(Month::parse("2026-13").is_none());
    assert!(m.contains(d("2024-02-01")) && !m.contains(d("2024-03-01")));
}

#[test]
fn mdt_warnings_for_notice_late_patients_and_missing_core_members() {
    let meeting = d("2026-12-15");
    assert!(mdt_warnings(meeting, d("2026-11-17"), &[d("2026-12-08")], &[], false).is_empty());
    let w = mdt_warnings(
        meeting,
        d("2026-11-18"),
        &[d("2026-12-08"), d("2026-12-09")],
        &[CoreRole::Gp, CoreRole::CommunityNurse, CoreRole::Other],
        true,
    );
    assert_eq!(
        w,
        vec![
            "scheduled 27 days ahead: the schedule must be shared at least 4 weeks in advance",
            "1 patient(s) listed less than a week before the meeting",
            "no signed attendance from core member(s): social_work, voluntary_sector",
        ]
    );
}

#[test]
fn movement_names_who_came_into_the_top_5_percent_and_who_left() {
    let row = |nhs: &str, level: u8| RiskRow {
        line: 2,
        nhs_number: nhs.to_owned(),
        risk_score: 50.0,
        risk_level: level,
        as_of: "2026-01-01".to_owned(),
    };
    let january = [
        row("9990000018", 3),
        row("9990000026", 2),
        row("9990000034", 1),
    ];
    let april = [
        row("9990000018", 3),
        row("9990000026", 1),
        row("9990000034", 2),
        row("9990000042", 3),
    ];
    let moved = movement(&january, &april);
    assert_eq!(moved.entered, ["9990000034", "9990000042"]);
    assert_eq!(moved.left, ["9990000026"]);
    assert_eq!(movement(&april, &april), Movement::default());
    let first = movement(&[], &january);
    assert_eq!(
        first.entered,
        ["9990000018", "9990000026"],
        "a first list: everyone in the top 5 % is new"
    );
    assert!(first.left.is_empty());
}
