//! The paper copy's currency: what makes the printed yellow pages stale and what does not.

use crate::{
    ActorId, AllergySeverity, DnacprStatus, Edit, EditError, Editor, GoalStatus, NewPlan,
    PaperCodeError, PaperState, PlanDoc, SummaryFingerprint,
};

const NOW: i64 = 1_795_960_800_000;
const HOUR: i64 = 3_600_000;

fn nurse() -> Editor {
    Editor {
        user_id: "u-sam".into(),
        user_name: "Sam Carter".into(),
    }
}

fn plan_doc(actor: &str) -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9990000018".into(),
        name: "Edith Haigh".into(),
        date_of_birth: "1936-07-14".into(),
        address: "12 Moorgate, Rotherham S60 2AB".into(),
    };
    let mut doc = PlanDoc::create(
        ActorId::from(actor.as_bytes()),
        &new,
        &nurse(),
        NOW - 48 * HOUR,
    )
    .unwrap();
    doc.apply_all(
        &[
            Edit::AddCondition {
                id: "c1".into(),
                name: "COPD".into(),
                treatment: "Inhalers".into(),
            },
            Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
            Edit::AddGoal {
                id: "g1".into(),
                what_matters: "Staying at home".into(),
                goal: "Walk to the shop".into(),
                owner: String::new(),
            },
        ],
        &nurse(),
        NOW - 24 * HOUR,
    )
    .unwrap();
    doc
}

/// A plan whose current pages are recorded as printed at `NOW - HOUR`.
fn printed() -> PlanDoc {
    let mut doc = plan_doc("tablet");
    let fingerprint = doc.plan().unwrap().summary_fingerprint().whole;
    doc.apply(&Edit::RecordPaperCopy { fingerprint }, &nurse(), NOW - HOUR)
        .unwrap();
    doc
}

fn after(edit: Edit) -> crate::CarePlan {
    let mut doc = printed();
    doc.apply(&edit, &nurse(), NOW).unwrap();
    doc.plan().unwrap()
}

#[test]
fn an_unprinted_plan_says_so() {
    let r = plan_doc("tablet").plan().unwrap().paper_copy_reading();
    assert_eq!(r.state, PaperState::NotPrinted);
    assert!(r.printed.is_none());
}

#[test]
fn a_recorded_print_is_current_with_who_and_when() {
    let plan = printed().plan().unwrap();
    let r = plan.paper_copy_reading();
    assert_eq!(r.state, PaperState::Current, "{}", r.label);
    let by = r.printed.expect("who printed");
    assert_eq!(
        (by.user_name.as_str(), by.at_ms),
        ("Sam Carter", NOW - HOUR)
    );
    let copy = plan.paper_copy.as_ref().unwrap();
    assert_eq!(copy.fingerprint, plan.summary_fingerprint().whole);
    assert!(!copy.plan_version.is_empty());
}

#[test]
fn changes_off_the_yellow_pages_leave_the_paper_current() {
    for edit in [
        Edit::SetGoalStatus {
            id: "g1".into(),
            status: GoalStatus::Achieved,
        },
        Edit::AddGoal {
            id: "g2".into(),
            what_matters: String::new(),
            goal: "Sleep through".into(),
            owner: String::new(),
        },
        Edit::AddMdtDiscussion {
            id: "m1".into(),
            date: "2026-11-01".into(),
            attendees: "GP, DN".into(),
            outcome: "No change".into(),
            referrals: String::new(),
        },
    ] {
        let r = after(edit.clone()).paper_copy_reading();
        assert_eq!(r.state, PaperState::Current, "{edit:?}: {}", r.label);
    }
}

#[test]
fn changes_to_the_yellow_pages_make_the_paper_out_of_date_naming_the_section() {
    let cases = [
        (
            Edit::AddAllergy {
                id: "a1".into(),
                substance: "Penicillin".into(),
                reaction: "Rash".into(),
                severity: AllergySeverity::Severe,
            },
            "allergies",
        ),
        (
            Edit::SetDnacpr {
                status: DnacprStatus::ForAttemptedCpr,
            },
            "resuscitation and legal decisions",
        ),
        (
            Edit::AddMedication {
                id: "m1".into(),
                name: "Morphine".into(),
                dose: "2.5 mg".into(),
                notes: String::new(),
            },
            "medications",
        ),
        (
            Edit::SetPreferredPlaceOfCare {
                place: "Hospice".into(),
            },
            "preferred places",
        ),
    ];
    for (edit, section) in cases {
        let r = after(edit.clone()).paper_copy_reading();
        assert_eq!(r.state, PaperState::OutOfDate, "{edit:?}");
        assert_eq!(r.changed_sections, vec![section.to_owned()], "{edit:?}");
        assert!(
            r.label.starts_with(
                "Paper copy in the home is out of date (printed 2026-11-29 by Sam Carter): reprint"
            ),
            "{}",
            r.label
        );
    }
}

#[test]
fn a_reprint_makes_it_current_again() {
    let mut doc = printed();
    doc.apply(&Edit::RecordNoKnownAllergies, &nurse(), NOW - HOUR / 2)
        .unwrap();
    assert_eq!(
        doc.plan().unwrap().paper_copy_reading().state,
        PaperState::OutOfDate
    );
    let fingerprint = doc.plan().unwrap().summary_fingerprint().whole;
    doc.apply(&Edit::RecordPaperCopy { fingerprint }, &nurse(), NOW)
        .unwrap();
    let r = doc.plan().unwrap().paper_copy_reading();
    assert_eq!(r.state, PaperState::Current);
    assert_eq!(r.printed.unwrap().at_ms, NOW);
}

#[test]
fn a_print_of_other_content_is_refused_and_nothing_is_written() {
    let mut doc = plan_doc("tablet");
    let stale = doc.plan().unwrap().summary_fingerprint().whole;
    doc.apply(&Edit::RecordNoKnownAllergies, &nurse(), NOW - HOUR)
        .unwrap();
    let before = doc.plan().unwrap();
    let err = doc
        .apply(&Edit::RecordPaperCopy { fingerprint: stale }, &nurse(), NOW)
        .unwrap_err();
    assert!(err.to_string().contains("print them again"), "{err}");
    assert!(matches!(
        err,
        crate::ApplyError::Invalid(EditError::PrintOutOfDate)
    ));
    assert_eq!(doc.plan().unwrap(), before);
}

#[test]
fn concurrent_prints_keep_the_latest() {
    let mut one = printed();
    let mut two = PlanDoc {
        doc: one
            .doc
            .fork()
            .with_actor(ActorId::from(b"tablet-2".as_slice())),
    };
    let fp = one.plan().unwrap().summary_fingerprint().whole;
    one.apply(
        &Edit::RecordPaperCopy {
            fingerprint: fp.clone(),
        },
        &nurse(),
        NOW - 10,
    )
    .unwrap();
    two.apply(&Edit::RecordPaperCopy { fingerprint: fp }, &nurse(), NOW)
        .unwrap();
    one.doc.merge(&mut two.doc).unwrap();
    two.doc.merge(&mut one.doc).unwrap();
    let (a, b) = (one.plan().unwrap(), two.plan().unwrap());
    assert_eq!(a.paper_copy, b.paper_copy);
    assert_eq!(a.paper_copy.unwrap().printed.at_ms, NOW);
}

#[test]
fn a_printed_code_reads_back_and_checks_against_the_plan() {
    let plan = printed().plan().unwrap();
    let code = plan.summary_fingerprint().code();
    assert!(code.starts_with("RF1-"));
    // Typed by hand: any case, stray spaces.
    let typed = format!("  {}  ", code.to_ascii_uppercase());
    assert_eq!(
        SummaryFingerprint::parse_code(&typed).unwrap(),
        plan.summary_fingerprint()
    );
    let r = plan.check_paper_code(&code).unwrap();
    assert_eq!(r.state, PaperState::Current);
    assert_eq!(r.printed.unwrap().user_name, "Sam Carter");

    let later = after(Edit::AddAllergy {
        id: "a1".into(),
        substance: "Latex".into(),
        reaction: String::new(),
        severity: AllergySeverity::Mild,
    });
    let r = later.check_paper_code(&code).unwrap();
    assert_eq!(r.state, PaperState::OutOfDate);
    assert_eq!(r.changed_sections, vec!["allergies".to_owned()]);
}

#[test]
fn a_bad_code_is_a_clear_error() {
    let plan = printed().plan().unwrap();
    let good = plan.summary_fingerprint().code();
    for bad in [
        "",
        "hello",
        "RF1-zz",
        &good[..good.len() - 1],
        &format!("{good}0"),
    ] {
        assert_eq!(
            plan.check_paper_code(bad).unwrap_err(),
            PaperCodeError::Malformed,
            "{bad:?}"
        );
    }
    assert_eq!(
        plan.check_paper_code(&good.replacen("RF1", "RF9", 1))
            .unwrap_err(),
        PaperCodeError::UnknownVersion("rf9".into())
    );
}
