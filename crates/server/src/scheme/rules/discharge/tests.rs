use super::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap_or_else(|| panic!("bad date {s}"))
}

fn basis(on_list: OnList, top: bool, exceptional: bool, over_75: bool) -> DischargeBasis {
    DischargeBasis {
        on_list,
        still_in_top_5_percent: top,
        exceptional_circumstances: exceptional,
        over_75,
    }
}

#[test]
fn step_17_in_order() {
    use DischargeDecision::*;
    use OnList::{Died as Dead, MovedAway as Moved, Yes};
    let cases = [
        // Off the list wins over everything else.
        (basis(Moved, true, true, true), MovedAway),
        (basis(Dead, false, false, false), Died),
        // Top 5 % continues even when over 75 or exceptional.
        (basis(Yes, true, true, true), Continue),
        (basis(Yes, false, true, true), PracticeDiscretion),
        (basis(Yes, false, false, true), AnnualReview),
        (basis(Yes, false, false, false), Discharge),
    ];
    for (b, want) in cases {
        assert_eq!(discharge_decision(b), want, "{b:?}");
    }
}

#[test]
fn decisions_round_trip_and_say_how_the_plan_ends() {
    use redfolder_shared::EndReason;
    for dec in DischargeDecision::ALL {
        assert_eq!(DischargeDecision::parse(dec.as_str()), Some(dec));
    }
    assert_eq!(DischargeDecision::parse("nope"), None);
    assert_eq!(
        DischargeDecision::Discharge.end_reason(),
        Some(EndReason::NoLongerHighRisk)
    );
    assert_eq!(DischargeDecision::AnnualReview.end_reason(), None);
}

#[test]
fn mdt_sign_off_unless_mild_and_never_for_moves_or_deaths() {
    use DischargeDecision::*;
    assert!(needs_mdt_sign_off(Discharge, None));
    assert!(needs_mdt_sign_off(Discharge, Some(Tier::Moderate)));
    assert!(needs_mdt_sign_off(AnnualReview, Some(Tier::Severe)));
    assert!(!needs_mdt_sign_off(Discharge, Some(Tier::Mild)));
    assert!(!needs_mdt_sign_off(MovedAway, Some(Tier::Severe)));
    assert!(!needs_mdt_sign_off(Died, None));
}

#[test]
fn each_missing_step_is_named() {
    let day = d("2026-11-30");
    let none = DischargeSteps::default();
    let p = discharge_problems(DischargeDecision::Discharge, Some(Tier::Severe), day, none);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].contains("told") && p[1].contains("questionnaire") && p[2].contains("severe"));
    // Moving to the annual review: told, and the MDT unless mild; no questionnaire.
    let p = discharge_problems(DischargeDecision::AnnualReview, Some(Tier::Mild), day, none);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("told"));
    // Moved away or died: nothing asked.
    assert!(discharge_problems(DischargeDecision::Died, None, day, none).is_empty());
    // Continuing is not a discharge.
    let p = discharge_problems(DischargeDecision::Continue, None, day, none);
    assert!(p[0].contains("record a review instead"), "{p:?}");
    // Everything done on time.
    let all = DischargeSteps {
        patient_told: Some(day),
        questionnaire_sent: Some(d("2026-11-29")),
        mdt_signed_off: Some(d("2026-11-01")),
    };
    assert!(discharge_problems(DischargeDecision::Discharge, None, day, all).is_empty());
    // A step after the discharge date.
    let late = DischargeSteps {
        questionnaire_sent: Some(d("2026-12-01")),
        ..all
    };
    let p = discharge_problems(DischargeDecision::Discharge, None, day, late);
    assert_eq!(
        p,
        vec!["the day the questionnaire was sent is after the discharge date"]
    );
}

#[test]
fn the_gp_letter_says_what_was_decided_on_what_and_what_was_done() {
    let steps = DischargeSteps {
        patient_told: Some(d("2026-11-28")),
        questionnaire_sent: Some(d("2026-11-29")),
        mdt_signed_off: Some(d("2026-11-20")),
    };
    let facts = LetterFacts {
        practice: "Ashbridge Medical Practice",
        named_gp: "Dr Asha Patel",
        patient_name: "Edith Jones",
        nhs_number: "9434765919",
        date_of_birth: "1960-03-01",
        decision: DischargeDecision::Discharge,
        date: d("2026-11-30"),
        basis: basis(OnList::Yes, false, false, false),
        risk_source: "risk upload as of 2026-11-01: level 1",
        steps,
        notes: "fewer falls",
        case_manager: "Sam Carter",
        signed_by: "Casey Manager",
    };
    let letter = gp_letter(&facts);
    for want in [
        "To: Dr Asha Patel, Ashbridge Medical Practice",
        "Re: Edith Jones, NHS number 9434765919, born 1960-03-01",
        "On 2026-11-30 the case management team decided: discharged from case management.",
        "- Top 5 % of the risk tool: no (risk upload as of 2026-11-01: level 1).",
        "- Over 75: no.",
        "The patient was told on 2026-11-28.",
        "The evaluation questionnaire was sent on 2026-11-29.",
        "The MDT signed the discharge off at its meeting of 2026-11-20.",
        "S1 XaKca / EMIS 8CT0",
        "Notes: fewer falls",
        "Case manager: Sam Carter",
        "For the case management MDT: Casey Manager",
    ] {
        assert!(letter.contains(want), "{want:?} not in\n{letter}");
    }
    let died = gp_letter(&LetterFacts {
        named_gp: "",
        practice: "",
        decision: DischargeDecision::Died,
        basis: basis(OnList::Died, false, false, false),
        steps: DischargeSteps::default(),
        notes: "",
        ..facts
    });
    assert!(died.starts_with("To: the patient's GP\n"), "{died}");
    assert!(died.contains("- No longer on the practice list: died."));
    assert!(!died.contains("told") && !died.contains("Notes"));
}
