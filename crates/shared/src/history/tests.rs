//! Attribution and history: who changed what, when, from what; the plan at a past time.

use automerge::ActorId;

use crate::{AttributionProblem, DnacprStatus, Edit, Editor, NewPlan, PlanDoc, genesis_change};

const NOW: i64 = 1_795_960_800_000;
const HOUR: i64 = 3_600_000;

fn editor(id: &str, name: &str) -> Editor {
    Editor {
        user_id: id.into(),
        user_name: name.into(),
    }
}

fn plan() -> PlanDoc {
    let new = NewPlan {
        nhs_number: "9434765919".into(),
        name: "Ada Example".into(),
        date_of_birth: "1938-02-28".into(),
        address: "1 High Street".into(),
    };
    let mut doc = PlanDoc::create(
        ActorId::from(b"tablet-sam".as_slice()),
        &new,
        &editor("u-sam", "Sam Carter"),
        NOW,
    )
    .unwrap();
    doc.apply(
        &Edit::SetDnacpr {
            status: DnacprStatus::ForAttemptedCpr,
        },
        &editor("u-sam", "Sam Carter"),
        NOW + HOUR,
    )
    .unwrap();
    doc.apply(
        &Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
        &editor("u-sam", "Sam Carter"),
        NOW + 2 * HOUR,
    )
    .unwrap();
    doc.apply(
        &Edit::SetDnacpr {
            status: DnacprStatus::DoNotAttemptCpr,
        },
        &editor("u-sam", "Sam Carter"),
        NOW + 3 * HOUR,
    )
    .unwrap();
    doc
}

#[test]
fn history_lists_each_change_with_its_author_and_fields() {
    let mut doc = plan();
    let history = doc.history();
    assert_eq!(history.len(), 5);
    assert_eq!(history[0].hash, genesis_change().hash());
    assert_eq!(history[0].by, None);
    let created = &history[1];
    assert_eq!(created.by.as_ref().unwrap().user_name, "Sam Carter");
    assert!(created.fields.contains(&"patient".to_owned()));
    assert_eq!(history[2].fields, ["dnacpr", "last_updated"]);
    assert_eq!(
        history[3].fields,
        ["last_updated", "preferred_place_of_care"]
    );
    assert_eq!(history[3].by.as_ref().unwrap().at_ms, NOW + 2 * HOUR);
}

#[test]
fn field_history_says_who_changed_it_when_and_from_what() {
    let mut doc = plan();
    let changes = doc.field_history("dnacpr").unwrap();
    let seen: Vec<(String, i64, serde_json::Value, serde_json::Value)> = changes
        .into_iter()
        .map(|c| {
            let by = c.by.unwrap();
            (by.user_name, by.at_ms, c.before, c.after)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "Sam Carter".to_owned(),
                NOW + HOUR,
                "not_recorded".into(),
                "for_attempted_cpr".into()
            ),
            (
                "Sam Carter".to_owned(),
                NOW + 3 * HOUR,
                "for_attempted_cpr".into(),
                "do_not_attempt_cpr".into()
            ),
        ]
    );
    assert_eq!(doc.field_history("resuscitation").unwrap().len(), 2);
    assert_eq!(
        doc.field_history("wings").unwrap_err().to_string(),
        "a care plan has no field \"wings\""
    );
}

#[test]
fn the_plan_as_it_stood_at_any_past_time() {
    let mut doc = plan();
    assert!(matches!(
        doc.plan_as_of(NOW - 1),
        Err(crate::DocError::Empty)
    ));
    let at = |doc: &mut PlanDoc, t: i64| doc.plan_as_of(t).unwrap();
    assert_eq!(at(&mut doc, NOW).dnacpr, DnacprStatus::NotRecorded);
    assert_eq!(
        at(&mut doc, NOW + HOUR).dnacpr,
        DnacprStatus::ForAttemptedCpr
    );
    let p = at(&mut doc, NOW + 2 * HOUR + 1);
    assert_eq!(p.preferred_place_of_care, "Home");
    assert_eq!(p.dnacpr, DnacprStatus::ForAttemptedCpr);
    assert_eq!(at(&mut doc, NOW + 10 * HOUR), doc.plan().unwrap());
}

#[test]
fn changes_are_checked_against_the_actor_and_user_they_claim() {
    let mut doc = plan();
    let since = doc.heads();
    doc.apply(
        &Edit::SetPreferredPlaceOfCare {
            place: "Hospice".into(),
        },
        &editor("u-sam", "Sam Carter"),
        NOW + 4 * HOUR,
    )
    .unwrap();
    let sam = ActorId::from(b"tablet-sam".as_slice());
    assert!(doc.unbound_changes(&since, &sam, "u-sam").is_empty());
    assert_eq!(doc.unbound_changes(&since, &sam, "u-priya").len(), 1);
    let other = ActorId::from(b"tablet-x".as_slice());
    assert_eq!(doc.unbound_changes(&since, &other, "u-sam").len(), 1);
    assert!(doc.attribution_problems().is_empty());

    // The same device actor used by a second user makes attribution ambiguous.
    doc.apply(
        &Edit::SetPreferredPlaceOfCare {
            place: "Home".into(),
        },
        &editor("u-priya", "Priya Nair"),
        NOW + 5 * HOUR,
    )
    .unwrap();
    assert_eq!(
        doc.attribution_problems(),
        [AttributionProblem::SharedActor {
            actor: sam.to_hex_string(),
            user_ids: vec!["u-priya".into(), "u-sam".into()],
        }]
    );
}
