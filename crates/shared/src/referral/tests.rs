use super::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn draft(urgency: &str, specialty: &str) -> ReferralDraft {
    ReferralDraft {
        specialty: specialty.into(),
        urgency: urgency.into(),
        condition: " Atrial fibrillation ".into(),
        clinical_question: "Rate control or ablation?".into(),
        relevant_history: "Palpitations for 3 months; ECG shows AF.".into(),
    }
}

#[test]
fn only_routine_referrals_in_reviewed_specialties_are_accepted() {
    let specialties = Specialties::default();
    let cases: &[(&str, &str, Result<&str, ReferralError>)] = &[
        ("routine", "Cardiology", Ok("Cardiology")),
        ("Routine", "cardiology", Ok("Cardiology")),
        ("routine", "ear nose and throat", Ok("Ear Nose and Throat")),
        (
            "urgent",
            "Cardiology",
            Err(ReferralError::BypassesReview(Urgency::Urgent)),
        ),
        (
            "two_week_wait",
            "Dermatology",
            Err(ReferralError::BypassesReview(Urgency::TwoWeekWait)),
        ),
        (
            "2WW",
            "nowhere",
            Err(ReferralError::BypassesReview(Urgency::TwoWeekWait)),
        ),
        ("soon", "Cardiology", Err(ReferralError::UnknownUrgency)),
        (
            "routine",
            "Ophthalmology",
            Err(ReferralError::UnknownSpecialty("Ophthalmology".into())),
        ),
    ];
    for (urgency, specialty, expected) in cases {
        let got = draft(urgency, specialty).validate(&specialties);
        match expected {
            Ok(name) => {
                let r = got.unwrap_or_else(|e| panic!("{urgency} {specialty}: {e}"));
                assert_eq!(r.specialty, *name);
                assert_eq!(r.condition, "Atrial fibrillation");
            }
            Err(e) => assert_eq!(got.as_ref(), Err(e), "{urgency} {specialty}"),
        }
    }
    let urgent = draft("urgent", "Cardiology")
        .validate(&specialties)
        .unwrap_err();
    assert!(
        urgent.to_string().contains("bypass peer review"),
        "{urgent}"
    );
    let mut blank = draft("routine", "Cardiology");
    blank.clinical_question = "  ".into();
    assert_eq!(
        blank.validate(&specialties),
        Err(ReferralError::Missing {
            field: "clinical_question"
        })
    );
    blank.clinical_question = "x".repeat(MAX_TEXT + 1);
    assert!(matches!(
        blank.validate(&specialties),
        Err(ReferralError::TooLong { .. })
    ));
}

#[test]
fn a_configured_list_replaces_the_default() {
    let s = Specialties::new(["Ophthalmology", " ophthalmology ", "", "Urology"]);
    assert_eq!(s.names(), ["Ophthalmology", "Urology"]);
    assert!(draft("routine", "OPHTHALMOLOGY").validate(&s).is_ok());
    assert!(draft("routine", "Cardiology").validate(&s).is_err());
}

#[test]
fn the_deadline_is_three_working_days_later() {
    // 2026-12-25 (Fri) and 2026-12-28 (Mon) are bank holidays in England and Wales.
    let holidays = [d("2026-12-25"), d("2026-12-28"), d("2027-01-01")];
    let cases = [
        ("2026-11-02", "2026-11-05"), // Monday → Thursday
        ("2026-11-04", "2026-11-09"), // Wednesday → Monday
        ("2026-11-06", "2026-11-11"), // Friday → Wednesday
        ("2026-11-07", "2026-11-11"), // Saturday → Wednesday
        ("2026-11-08", "2026-11-11"), // Sunday → Wednesday
        ("2026-12-23", "2026-12-30"), // Wed, skipping Christmas and its substitute day
        ("2026-12-31", "2027-01-06"), // Thu, skipping New Year's Day
    ];
    for (received, due) in cases {
        assert_eq!(
            review_deadline(d(received), &holidays).to_string(),
            due,
            "received {received}"
        );
    }
    // Without the holidays the same Christmas week runs on.
    assert_eq!(review_deadline(d("2026-12-23"), &[]), d("2026-12-28"));
    assert_eq!(weekday(d("2026-12-03")), 3, "3 December 2026 is a Thursday");
}

#[test]
fn turnaround_counts_working_days_after_receipt() {
    let holidays = [d("2026-12-25"), d("2026-12-28")];
    let cases = [
        ("2026-11-02", "2026-11-02", 0),
        ("2026-11-02", "2026-11-03", 1),
        ("2026-11-06", "2026-11-09", 1), // Friday → Monday
        ("2026-12-24", "2026-12-29", 1), // over Christmas
        ("2026-11-09", "2026-11-02", 0), // backwards
        ("2026-11-02", "2026-11-16", 10),
    ];
    for (from, to, n) in cases {
        assert_eq!(
            working_days_between(d(from), d(to), &holidays),
            n,
            "{from} → {to}"
        );
    }
    assert!(!is_overdue(d("2026-11-05"), d("2026-11-05")));
    assert!(is_overdue(d("2026-11-05"), d("2026-11-06")));
}

fn advice(tests: Option<&str>, treatment: Option<&str>, when: &str) -> Step {
    Step::Return {
        advice: Advice {
            tests: tests.map(Into::into),
            treatment: treatment.map(Into::into),
            re_refer_when: when.into(),
        },
    }
}

#[test]
fn steps_move_a_referral_through_its_review() {
    use Party::*;
    use ReferralState::*;
    let forward = Step::Forward {
        note: "please see".into(),
    };
    let ret = advice(Some("ferritin"), None, "if still anaemic");
    let ask = Step::AskQuestion {
        question: "BMI?".into(),
    };
    let answer = Step::Answer {
        answer: "31".into(),
    };
    let ack = Step::Acknowledge;
    let cases: Vec<(ReferralState, Party, &Step, Result<ReferralState, &str>)> = vec![
        (AwaitingReview, Reviewer, &forward, Ok(Forwarded)),
        (AwaitingReview, Reviewer, &ret, Ok(Returned)),
        (AwaitingReview, Reviewer, &ask, Ok(QuestionAsked)),
        (QuestionAsked, Referrer, &answer, Ok(AwaitingReview)),
        (Returned, Referrer, &ack, Ok(AdviceAcknowledged)),
        (AwaitingReview, Referrer, &forward, Err("only the Reviewer")),
        (Returned, Reviewer, &ack, Err("only the Referrer")),
        (
            QuestionAsked,
            Reviewer,
            &forward,
            Err("question_asked cannot forward"),
        ),
        (
            AwaitingReview,
            Referrer,
            &answer,
            Err("awaiting_review cannot answer"),
        ),
        (AwaitingReview, Referrer, &ack, Err("cannot acknowledge")),
        (Returned, Reviewer, &forward, Err("returned cannot forward")),
        (Forwarded, Reviewer, &ret, Err("closed (forwarded)")),
        (Forwarded, Referrer, &ack, Err("closed (forwarded)")),
        (
            AdviceAcknowledged,
            Reviewer,
            &forward,
            Err("closed (advice_acknowledged)"),
        ),
    ];
    for (state, party, step, expected) in cases {
        let got = transition(state, party, step);
        match expected {
            Ok(next) => assert_eq!(got, Ok(next), "{state:?} {party:?} {step:?}"),
            Err(text) => {
                let e = got.expect_err("refused").to_string();
                assert!(e.contains(text), "{state:?} {party:?} {step:?}: {e}");
            }
        }
    }
    for s in ReferralState::ALL {
        assert_eq!(ReferralState::parse(s.as_str()), Some(s));
    }
}

#[test]
fn a_step_is_checked_before_it_is_taken() {
    let ok = advice(Some(" ferritin "), None, " if still tired ")
        .validated()
        .unwrap();
    assert_eq!(ok, advice(Some("ferritin"), None, "if still tired"));
    let cases = [
        advice(None, None, "in 6 weeks"),
        advice(Some(""), Some("  "), "in 6 weeks"),
        advice(Some("ferritin"), None, " "),
    ];
    for step in cases {
        assert_eq!(
            step.validated(),
            Err(ReferralError::IncompleteAdvice),
            "{step:?}"
        );
    }
    assert_eq!(
        Step::Forward { note: " ".into() }.validated(),
        Err(ReferralError::Missing { field: "note" })
    );
    assert_eq!(
        Step::Answer { answer: "".into() }.validated(),
        Err(ReferralError::Missing { field: "answer" })
    );
    assert!(Step::Acknowledge.validated().is_ok());
    let json: Step = serde_json::from_str(
        r#"{"kind":"return","advice":{"tests":"TFTs","re_refer_when":"if TSH normal"}}"#,
    )
    .unwrap();
    assert_eq!(json, advice(Some("TFTs"), None, "if TSH normal"));
}

#[test]
fn the_letter_says_what_happens_next() {
    let waiting = what_happens_next(ReferralState::AwaitingReview, "Dermatology");
    assert!(waiting.contains("3 working days") && waiting.contains("Dermatology"));
    assert!(
        what_happens_next(ReferralState::Forwarded, "Urology")
            .contains("hospital will contact you")
    );
    assert!(what_happens_next(ReferralState::Returned, "Urology").contains("closer to home"));
}

#[test]
fn the_learning_report_counts_outcomes_and_turnaround() {
    let holidays = [];
    let row = |practice: &str,
               specialty: &str,
               condition: &str,
               state,
               received,
               decided: Option<&str>| {
        let received = d(received);
        ReportRow {
            practice: practice.into(),
            specialty: specialty.into(),
            condition: condition.into(),
            state,
            received,
            decided: decided.map(d),
            deadline: review_deadline(received, &holidays),
            advice: matches!(
                state,
                ReferralState::Returned | ReferralState::AdviceAcknowledged
            )
            .then(|| Advice {
                tests: Some("bloods".into()),
                treatment: None,
                re_refer_when: "if no better".into(),
            }),
            question_asked: false,
        }
    };
    use ReferralState::*;
    let rows = [
        row(
            "A1",
            "Cardiology",
            "AF",
            Forwarded,
            "2026-11-02",
            Some("2026-11-04"),
        ),
        row(
            "A1",
            "Cardiology",
            " af ",
            Returned,
            "2026-11-02",
            Some("2026-11-09"),
        ),
        row(
            "B2",
            "Cardiology",
            "AF",
            AdviceAcknowledged,
            "2026-11-02",
            Some("2026-11-03"),
        ),
        row(
            "B2",
            "Dermatology",
            "Acne",
            AwaitingReview,
            "2026-11-02",
            None,
        ),
        row(
            "B2",
            "Dermatology",
            "Acne",
            AwaitingReview,
            "2026-11-30",
            None,
        ),
    ];
    let report = learning_report(&rows, d("2026-12-01"), &holidays);
    assert_eq!(report.total.referrals, 5);
    assert_eq!(report.total.forwarded, 1);
    assert_eq!(report.total.returned, 2);
    assert_eq!(report.total.awaiting, 2);
    assert_eq!(report.total.overdue, 1);
    assert_eq!(report.total.decided_on_time, 2);
    assert_eq!(report.total.decided_late, 1);
    assert_eq!(report.total.advice_tests, 2);
    // (2 + 5 + 1) / 3 working days.
    assert_eq!(report.total.mean_turnaround_working_days, Some(8.0 / 3.0));
    let line = |practice: Option<&str>, specialty: &str, condition: Option<&str>| {
        report
            .lines
            .iter()
            .find(|l| {
                l.practice.as_deref() == practice
                    && l.specialty == specialty
                    && l.condition.as_deref() == condition
            })
            .unwrap_or_else(|| panic!("no line {practice:?} {specialty} {condition:?}"))
            .outcomes
            .clone()
    };
    let all_af = line(None, "Cardiology", Some("af"));
    assert_eq!(
        (all_af.referrals, all_af.forwarded, all_af.returned),
        (3, 1, 2)
    );
    let a1 = line(Some("A1"), "Cardiology", None);
    assert_eq!((a1.referrals, a1.decided_late), (2, 1));
    let derm = line(Some("B2"), "Dermatology", Some("acne"));
    assert_eq!(
        (
            derm.awaiting,
            derm.overdue,
            derm.mean_turnaround_working_days
        ),
        (2, 1, None)
    );
    // Each (specialty, condition) pair and each specialty whole: across practices 4
    // (Cardiology, Cardiology/af, Dermatology, Dermatology/acne), A1 2, B2 4.
    assert_eq!(report.lines.len(), 10);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["today"], "2026-12-01");
    assert!(json["lines"][0].get("turnaround_total").is_none());
}
