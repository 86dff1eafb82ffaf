//! JSON shapes handed to the app: the core's own serialisation of `CarePlan` (texts as
//! strings, conflicts and lifecycle included) plus a few display conveniences the app
//! draws; nothing is computed that the core does not already provide.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use redfolder_shared::{CarePlan, DUE_SOON_DAYS, Date, NhsNumber};
use serde_json::{Value, json};

pub(crate) fn plan(plan: &CarePlan, pending: usize) -> Value {
    let mut json = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let Some(map) = json.as_object_mut() {
        map.insert(
            "nhs_number_display".into(),
            nhs_display(&plan.patient.nhs_number).into(),
        );
        // The plan's own `dnacpr` is Automerge's winner, arbitrary while decisions
        // conflict: the app is handed the core's reading instead, and every register's
        // reading (settled value, not recorded, or every conflicting value) beside it.
        map.insert("dnacpr".into(), plan.dnacpr_reading().as_str().into());
        map.insert("dnacpr_label".into(), plan.dnacpr_label().into());
        // Keyed by the field's API name, as `conflicts[].field` is.
        map.insert(
            "readings".into(),
            plan.readings()
                .into_iter()
                .filter_map(|r| {
                    let key = serde_json::to_value(r.field).ok()?.as_str()?.to_owned();
                    Some((key, serde_json::to_value(r).ok()?))
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        map.insert(
            "completion_problems".into(),
            serde_json::to_value(plan.completion_problems()).unwrap_or(Value::Null),
        );
        map.insert(
            "completion_problem_messages".into(),
            plan.completion_problems()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .into(),
        );
        // The core's name for each conflicting field ("DNACPR", "allergies" …), beside
        // its key, so the inbox can say which fact is in dispute.
        if let Some(conflicts) = map.get_mut("conflicts").and_then(Value::as_array_mut) {
            for (json, conflict) in conflicts.iter_mut().zip(&plan.conflicts) {
                json["field_label"] = conflict.field.label().into();
            }
        }
        // Whether the paper copy in the home still says what the plan says: the core's
        // reading, beside the `paper_copy` register it judges.
        map.insert(
            "paper_reading".into(),
            serde_json::to_value(plan.paper_copy_reading()).unwrap_or(Value::Null),
        );
        map.insert("pending".into(), pending.into());
    }
    json
}

pub(crate) fn caseload_entry(id: &str, plan: &CarePlan, pending: usize) -> Value {
    let paper = plan.paper_copy_reading();
    json!({
        "id": id,
        "nhs_number": plan.patient.nhs_number,
        "nhs_number_display": nhs_display(&plan.patient.nhs_number),
        "name": plan.patient.name,
        "dob": plan.patient.date_of_birth,
        "dnacpr": plan.dnacpr_reading(),
        "dnacpr_label": plan.dnacpr_label(),
        "share_with_mdt": plan.consent.share_with_mdt,
        "share_with_emergency_services": plan.consent.share_with_emergency_services,
        "pending": pending,
        "last_updated": plan.last_updated,
        "status": plan.enrolment.status,
        "next_review_due": plan.enrolment.next_review_due,
        "conflicts": plan.conflicts.len(),
        "cohort": plan.enrolment.cohort,
        "tier": plan.enrolment.tier,
        // The document's heads: two copies with the same version hold the same plan.
        "plan_version": plan.plan_version,
        // As the server's caseload rows name them.
        "paper_copy": paper.state.key(),
        "paper_copy_label": paper.label,
    })
}

/// The core's next review for `plan` on `today`, or `null`.
pub(crate) fn review_due(plan: &CarePlan, today: Date) -> Value {
    plan.review_due(today, DUE_SOON_DAYS)
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or(Value::Null)
}

/// `text` as a QR code drawn in SVG (medium error correction, which survives a crease or
/// a smudge on paper kept in a folder), with the standard quiet zone around it.
pub(crate) fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .module_dimensions(4, 4)
        .quiet_zone(true)
        .build())
}

/// The 3-3-4 display form, or the stored text as it is if it does not parse.
fn nhs_display(raw: &str) -> String {
    NhsNumber::parse(raw)
        .map(|n| n.display_form())
        .unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use redfolder_shared::{ActorId, DnacprStatus, Edit, Editor, NewPlan, PlanDoc};

    use super::*;

    #[test]
    fn plan_json_carries_the_fields_the_app_draws() {
        let editor = redfolder_shared::testkit::editor("u1", "Nurse One");
        let new = redfolder_shared::testkit::example_patient();
        let now = 1_795_960_800_000;
        let mut doc =
            PlanDoc::create(ActorId::from(b"device-a".as_slice()), &new, &editor, now).unwrap();
        doc.apply(
            &Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
            &editor,
            now,
        )
        .unwrap();
        doc.apply(
            &Edit::SetExacerbationPlan {
                text: "Call the GP".into(),
            },
            &editor,
            now,
        )
        .unwrap();
        let plan = doc.plan().unwrap();

        let json = super::plan(&plan, 2);
        assert_eq!(json["patient"]["nhs_number"], "9434765919");
        assert_eq!(json["nhs_number_display"], "943 476 5919");
        assert_eq!(json["dnacpr"], "do_not_attempt_cpr");
        assert_eq!(json["exacerbation_plan"], "Call the GP");
        assert_eq!(json["last_updated"]["user_name"], "Nurse One");
        assert_eq!(json["pending"], 2);
        assert_eq!(json["enrolment"]["status"], "draft");
        assert!(json["conflicts"].as_array().unwrap().is_empty());
        assert!(json["allergies"].as_array().unwrap().is_empty());
        // A new plan has no consent and no case manager: the core's reasons, as text.
        let reasons = json["completion_problem_messages"].as_array().unwrap();
        assert!(reasons.iter().any(|r| r == "no case manager is named"));

        let entry = caseload_entry("p1", &plan, 0);
        assert_eq!(entry["id"], "p1");
        assert_eq!(entry["dob"], "1938-02-28");
        assert_eq!(entry["share_with_emergency_services"], false);
        assert_eq!(entry["tier"], Value::Null);
        assert_eq!(entry["cohort"], Value::Null);
        // A draft has no review due.
        let today = redfolder_shared::Date::parse("2026-11-29").unwrap();
        assert_eq!(review_due(&plan, today), Value::Null);
    }

    #[test]
    fn a_dnacpr_conflict_reaches_the_app_as_conflicting_never_as_a_winner() {
        let editor = |id: &str| Editor {
            user_id: id.into(),
            user_name: id.into(),
        };
        let new = NewPlan {
            nhs_number: "9434765919".into(),
            name: "Ada Example".into(),
            date_of_birth: "1938-02-28".into(),
            address: "1 High Street".into(),
        };
        let now = 1_795_960_800_000;
        let mut a = PlanDoc::create(
            ActorId::from(b"device-a".as_slice()),
            &new,
            &editor("u1"),
            now,
        )
        .unwrap();
        let mut b = PlanDoc::load(&a.save(), ActorId::from(b"device-b".as_slice())).unwrap();
        for (doc, status, who) in [
            (&mut a, DnacprStatus::DoNotAttemptCpr, "u1"),
            (&mut b, DnacprStatus::ForAttemptedCpr, "u2"),
        ] {
            doc.apply(&Edit::SetDnacpr { status }, &editor(who), now)
                .unwrap();
        }
        a.automerge().merge(b.automerge()).unwrap();
        let plan = a.plan().unwrap();

        let json = super::plan(&plan, 0);
        assert_eq!(json["dnacpr"], "conflicting");
        let label = json["dnacpr_label"].as_str().unwrap();
        assert!(
            label.starts_with("Conflicting: ") && label.contains("For attempted CPR"),
            "{label}"
        );
        assert_eq!(json["readings"]["dnacpr"]["state"], "conflicting");
        assert_eq!(json["readings"]["dnacpr"]["label"], label);
        assert_eq!(json["readings"]["consent"]["state"], "not_recorded");
        let entry = caseload_entry("p1", &plan, 0);
        assert_eq!(entry["dnacpr"], "conflicting");
        assert_eq!(entry["dnacpr_label"], label);
    }

    #[test]
    fn the_paper_copy_reaches_the_caseload_and_the_plan_as_the_core_reads_it() {
        let editor = Editor {
            user_id: "u1".into(),
            user_name: "Nurse One".into(),
        };
        let new = NewPlan {
            nhs_number: "9434765919".into(),
            name: "Ada Example".into(),
            date_of_birth: "1938-02-28".into(),
            address: "1 High Street".into(),
        };
        let now = 1_795_960_800_000;
        let mut doc =
            PlanDoc::create(ActorId::from(b"device-a".as_slice()), &new, &editor, now).unwrap();
        let entry = caseload_entry("p1", &doc.plan().unwrap(), 0);
        assert_eq!(entry["paper_copy"], "not_printed");
        assert!(
            entry["paper_copy_label"]
                .as_str()
                .unwrap()
                .contains("print one")
        );

        let fingerprint = doc.plan().unwrap().summary_fingerprint().whole;
        doc.apply(&Edit::RecordPaperCopy { fingerprint }, &editor, now)
            .unwrap();
        let plan = doc.plan().unwrap();
        assert_eq!(caseload_entry("p1", &plan, 0)["paper_copy"], "current");
        assert_eq!(super::plan(&plan, 0)["paper_reading"]["state"], "current");

        doc.apply(
            &Edit::SetExacerbationPlan {
                text: "Call the GP".into(),
            },
            &editor,
            now,
        )
        .unwrap();
        let plan = doc.plan().unwrap();
        let json = super::plan(&plan, 0);
        assert_eq!(json["paper_reading"]["state"], "out_of_date");
        assert_eq!(
            json["paper_reading"]["changed_sections"],
            json!(["treatment escalation"])
        );
        assert_eq!(caseload_entry("p1", &plan, 0)["paper_copy"], "out_of_date");
    }

    #[test]
    fn a_print_code_draws_as_an_svg_qr_code() {
        let code = "RF1-0123456789ABCDEF-".to_owned() + &"0A1B".repeat(11);
        let svg = qr_svg(&code).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    }
}
