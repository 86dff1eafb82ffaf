//! Edits keep their JSON shape, and entries are corrected in place: validated like
//! additions, with who and when, and concurrent corrections all survive.

use super::*;

#[test]
fn edits_keep_their_json_shape() {
    // Version-1 ops exactly as the app and server send them.
    let v1 = [
        r#"{"op":"set_dnacpr","status":"do_not_attempt_cpr"}"#,
        r#"{"op":"set_consent","share_with_mdt":true,"share_with_emergency_services":false}"#,
        r#"{"op":"add_medication","id":"m1","name":"Furosemide","dose":"40 mg","notes":""}"#,
        r#"{"op":"mark_entered_in_error","list":"medications","id":"m1"}"#,
        r#"{"op":"splice_exacerbation_plan","index":0,"delete":0,"insert":"x"}"#,
    ];
    for json in v1 {
        let edit: Edit = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&edit).unwrap(), json);
    }
    // New ops, with optional fields left out.
    let new = [
        r#"{"op":"mark_complete"}"#,
        r#"{"op":"record_no_known_allergies"}"#,
        r#"{"op":"add_allergy","id":"a1","substance":"Penicillin","severity":"severe"}"#,
        r#"{"op":"set_resuscitation","status":"for_attempted_cpr"}"#,
        r#"{"op":"set_ceiling_of_treatment","ceiling":"ward_based_care"}"#,
        r#"{"op":"set_admission_wanted","wanted":"not_wanted"}"#,
        r#"{"op":"record_consent","recipients":["mdt","ambulance"],"given_by":"patient","consent_date":"2026-11-01"}"#,
        r#"{"op":"splice_text","target":{"text":"review_notes","id":"r1"},"index":0,"delete":0,"insert":"x"}"#,
        r#"{"op":"resolve_conflict","field":"dnacpr","keep":"12@abcd"}"#,
        r#"{"op":"end_plan","reason":"moved_away","date":"2026-11-01"}"#,
        r#"{"op":"record_review","id":"r1","date":"2026-11-01","face_to_face":true,"reviewer":"Sam","outcome":"continue"}"#,
    ];
    for json in new {
        serde_json::from_str::<Edit>(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    }
}

fn json_edit(value: serde_json::Value) -> Edit {
    serde_json::from_value(value).unwrap()
}

/// A plan with one entry in each list a clinician corrects.
fn entries() -> Vec<Edit> {
    [
        serde_json::json!({"op": "add_condition", "id": "c1", "name": "COPD", "treatment": "inhalers"}),
        serde_json::json!({"op": "add_medication", "id": "m1", "name": "Salbutamol", "dose": "2 puffs", "notes": ""}),
        serde_json::json!({"op": "add_medication", "id": "m2", "name": "Furosemide", "dose": "40 mg", "notes": ""}),
        serde_json::json!({"op": "add_anticipatory_medication", "id": "a1", "name": "Morphine", "dose": "2.5 mg", "location": "fridge"}),
        serde_json::json!({"op": "add_allergy", "id": "al1", "substance": "Penicillin", "reaction": "rash", "severity": "mild"}),
        serde_json::json!({"op": "add_contact", "id": "k1", "role": "key safe", "name": "Key safe", "phone": ""}),
        serde_json::json!({"op": "add_personal_contact", "id": "p1", "relationship": "next_of_kin", "name": "Bob", "phone": "0123"}),
        serde_json::json!({"op": "add_care_team_member", "id": "t1", "kind": "member", "role": "district nurse", "name": "Dee"}),
        serde_json::json!({"op": "add_escalation_plan", "id": "e1", "condition": "COPD", "plan": "Rescue pack", "rescue_pack": "kitchen"}),
        serde_json::json!({"op": "add_goal", "id": "g1", "what_matters": "Garden", "goal": "Walk to the garden", "owner": "Ada"}),
        serde_json::json!({"op": "mark_entered_in_error", "list": "medications", "id": "m2"}),
    ]
    .into_iter()
    .map(json_edit)
    .collect()
}

#[test]
fn entries_are_corrected_in_place_with_who_and_when() {
    let mut doc = plan_with(&entries());
    let corrector = Editor {
        user_id: "u2".into(),
        user_name: "Dr Two".into(),
    };
    let edits = [
        serde_json::json!({"op": "update_condition", "id": "c1", "treatment": "inhalers and rescue pack"}),
        serde_json::json!({"op": "update_medication", "id": "m1", "dose": " 4 puffs "}),
        serde_json::json!({"op": "update_medication", "id": "a1", "location": "locked box"}),
        serde_json::json!({"op": "update_allergy", "id": "al1", "severity": "severe", "reaction": "anaphylaxis"}),
        serde_json::json!({"op": "update_contact", "id": "k1", "phone": "code 1234"}),
        serde_json::json!({"op": "update_contact", "id": "p1", "relationship": "main_carer"}),
        serde_json::json!({"op": "update_care_team_member", "id": "t1", "hours": "Mon-Fri"}),
        serde_json::json!({"op": "update_escalation_plan", "id": "e1", "rescue_pack": "hall cupboard"}),
        serde_json::json!({"op": "update_goal", "id": "g1", "owner": "Ada and Bob"}),
    ];
    for e in edits {
        doc.apply(&json_edit(e), &corrector, NOW + 1).unwrap();
    }
    let plan = doc.plan().unwrap();
    let c = &plan.conditions[0];
    assert_eq!(
        (c.name.as_str(), c.treatment.as_str()),
        ("COPD", "inhalers and rescue pack")
    );
    assert_eq!(c.recorded.user_id, "u1", "the recorder stays");
    assert_eq!(c.updated.as_ref().unwrap().user_id, "u2");
    assert_eq!(c.updated.as_ref().unwrap().at_ms, NOW + 1);
    let m = &plan.medications[0];
    assert_eq!(
        (m.name.as_str(), m.dose.as_str()),
        ("Salbutamol", "4 puffs")
    );
    assert_eq!(plan.medications[2].location, "locked box");
    assert_eq!(plan.allergies[0].severity, AllergySeverity::Severe);
    assert_eq!(plan.allergies[0].reaction, "anaphylaxis");
    assert_eq!(plan.key_contacts[0].phone, "code 1234");
    assert_eq!(plan.key_contacts[1].role, "main carer");
    assert_eq!(plan.care_team[0].hours, "Mon-Fri");
    assert_eq!(plan.escalation_plans[0].rescue_pack, "hall cupboard");
    assert_eq!(plan.goals[0].owner, "Ada and Bob");
    assert_eq!(plan.goals[0].goal, "Walk to the garden");
    // The JSON the app reads says who corrected an entry; an uncorrected one says nothing.
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["conditions"][0]["updated"]["user_name"], "Dr Two");
    assert!(json["medications"][1].get("updated").is_none());
}

#[test]
fn corrections_are_validated_like_additions() {
    let setup = entries();
    let cases = [
        (
            serde_json::json!({"op": "update_medication", "id": "nope", "dose": "1"}),
            "no entry with id \"nope\"",
        ),
        (
            serde_json::json!({"op": "update_medication", "id": "m2", "dose": "1"}),
            "entry \"m2\" is marked entered in error and cannot be corrected: add a new entry",
        ),
        (
            serde_json::json!({"op": "update_medication", "id": "m1", "name": "  "}),
            "medication is required",
        ),
        (
            serde_json::json!({"op": "update_medication", "id": "m1", "location": "fridge"}),
            "where the medicine is kept does not apply to this entry",
        ),
        (
            serde_json::json!({"op": "update_medication", "id": "a1", "location": ""}),
            "where the medicine is kept is required",
        ),
        (
            serde_json::json!({"op": "update_medication", "id": "m1", "dose": "x".repeat(201)}),
            "dose is longer than 200 characters",
        ),
        (
            serde_json::json!({"op": "update_condition", "id": "c1", "name": ""}),
            "condition is required",
        ),
        (
            serde_json::json!({"op": "update_allergy", "id": "al1", "substance": ""}),
            "allergen is required",
        ),
        (
            serde_json::json!({"op": "update_contact", "id": "p1", "role": "friend"}),
            "role does not apply to this entry",
        ),
        (
            serde_json::json!({"op": "update_contact", "id": "k1", "relationship": "next_of_kin"}),
            "relationship does not apply to this entry",
        ),
        (
            serde_json::json!({"op": "update_contact", "id": "k1", "name": ""}),
            "contact name is required",
        ),
        (
            serde_json::json!({"op": "update_care_team_member", "id": "t1", "kind": "gp_bypass"}),
            "phone is required",
        ),
        (
            serde_json::json!({"op": "update_escalation_plan", "id": "e1", "condition": ""}),
            "condition is required",
        ),
        (
            serde_json::json!({"op": "update_goal", "id": "g1", "goal": ""}),
            "goal is required",
        ),
    ];
    for (edit, message) in cases {
        check(&setup, json_edit(edit), message);
    }
    // An ended plan takes corrections only by marking entries entered in error.
    let mut ended = setup;
    ended.extend([consent(), case_manager()]);
    ended.extend(step_16(&ended));
    ended.extend([
        Edit::MarkComplete,
        Edit::EndPlan {
            reason: EndReason::MovedAway,
            date: "2026-11-29".into(),
        },
    ]);
    check(
        &ended,
        json_edit(serde_json::json!({"op": "update_condition", "id": "c1", "treatment": "x"})),
        "the plan has ended: it can be read and corrected but not changed",
    );
}

#[test]
fn concurrent_corrections_of_different_fields_and_entries_all_survive() {
    let base = plan_with(&entries());
    let bytes = {
        let mut base = base;
        base.save()
    };
    let mut a = PlanDoc::load(&bytes, ActorId::from(b"a".as_slice())).unwrap();
    let mut b = PlanDoc::load(&bytes, ActorId::from(b"b".as_slice())).unwrap();
    let (ea, eb) = (
        editor(),
        Editor {
            user_id: "u2".into(),
            user_name: "Dr Two".into(),
        },
    );
    // One clinician corrects a dose; a colleague, offline at the same time, corrects the
    // same medicine's notes, another medicine and another list.
    a.apply(
        &json_edit(serde_json::json!({"op": "update_medication", "id": "m1", "dose": "4 puffs"})),
        &ea,
        NOW + 1,
    )
    .unwrap();
    b.apply(
        &json_edit(
            serde_json::json!({"op": "update_medication", "id": "m1", "notes": "before meals"}),
        ),
        &eb,
        NOW + 2,
    )
    .unwrap();
    b.apply(
        &json_edit(serde_json::json!({"op": "update_medication", "id": "a1", "dose": "5 mg"})),
        &eb,
        NOW + 3,
    )
    .unwrap();
    b.apply(
        &json_edit(
            serde_json::json!({"op": "update_condition", "id": "c1", "name": "COPD (severe)"}),
        ),
        &eb,
        NOW + 4,
    )
    .unwrap();
    a.apply(&json_edit(serde_json::json!({"op": "add_medication", "id": "m3", "name": "Aspirin", "dose": "75 mg", "notes": ""})), &ea, NOW + 5).unwrap();
    a.automerge().merge(b.automerge()).unwrap();
    b.automerge().merge(a.automerge()).unwrap();
    let (pa, pb) = (a.plan().unwrap(), b.plan().unwrap());
    assert_eq!(pa, pb);
    let m1 = pa.medications.iter().find(|m| m.id == "m1").unwrap();
    assert_eq!(m1.dose, "4 puffs");
    assert_eq!(m1.notes, "before meals");
    assert_eq!(m1.name, "Salbutamol");
    let a1 = pa.medications.iter().find(|m| m.id == "a1").unwrap();
    assert_eq!((a1.dose.as_str(), a1.location.as_str()), ("5 mg", "fridge"));
    assert_eq!(pa.conditions[0].name, "COPD (severe)");
    assert_eq!(pa.conditions[0].treatment, "inhalers");
    assert!(pa.medications.iter().any(|m| m.id == "m3"));
    assert_eq!(pa.medications.len(), 4);
}
