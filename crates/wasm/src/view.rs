//! The JSON views the core hands the app, as typed structs: the core's own types
//! (`CarePlan`, `ReviewDue`, `PaperReading`, `RefusedChange` …) plus a few display
//! conveniences the app draws; nothing is computed that the core does not already
//! provide.
//!
//! The app's TypeScript types are generated from these structs and the core's types
//! (`web/src/generated/core-types.ts`, by the test at the end of this file), so a field
//! renamed here fails the app's type check instead of reaching a clinician as
//! `undefined`.

use std::collections::BTreeMap;

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use redfolder_shared::{
    Attribution, CarePlan, CohortCategory, CompletionProblem, Conflict, DUE_SOON_DAYS, Date,
    DnacprReading, NhsNumber, PaperReading, PaperState, PlanStatus, Reading, RefusedChange,
    ReviewDue, SafetyField, Tier,
};
use serde::Serialize;

/// What `plan(id)` puts over the core's `CarePlan` (whose own fields it keeps): the app's
/// `Plan` is `CarePlan` with these fields in place of the plan's own.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct PlanExtras {
    pub nhs_number_display: String,
    /// The core's reading of DNACPR. The plan's own `dnacpr` is Automerge's winner,
    /// arbitrary while decisions conflict, so the app is never handed it.
    pub dnacpr: DnacprReading,
    pub dnacpr_label: String,
    /// Every safety-critical register's reading (the settled value, not recorded, or
    /// every conflicting value), keyed by the field's API name as `conflicts[].field` is.
    pub readings: BTreeMap<SafetyField, Reading>,
    pub completion_problems: Vec<CompletionProblem>,
    /// The core's words for each of `completion_problems`.
    pub completion_problem_messages: Vec<String>,
    /// The plan's conflicts, each with the core's name for its field ("DNACPR",
    /// "allergies" …) so the inbox can say which fact is in dispute.
    pub conflicts: Vec<LabelledConflict>,
    /// Whether the paper copy in the home still says what the plan says.
    pub paper_reading: PaperReading,
    /// This device's changes to the plan not yet acknowledged by the server.
    pub pending: usize,
    /// Changes the server refused that are not dismissed yet (see `refused`).
    pub refused: usize,
}

/// A conflict with the core's name for its field.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct LabelledConflict {
    #[serde(flatten)]
    pub conflict: Conflict,
    pub field_label: String,
}

/// `plan` as the app's `Plan`: the core's serialisation with [`PlanExtras`] put over it.
pub(crate) fn plan(plan: &CarePlan, pending: usize, refused: usize) -> serde_json::Value {
    let extras = PlanExtras {
        nhs_number_display: nhs_display(&plan.patient.nhs_number),
        dnacpr: plan.dnacpr_reading(),
        dnacpr_label: plan.dnacpr_label(),
        readings: plan.readings().into_iter().map(|r| (r.field, r)).collect(),
        completion_problems: plan.completion_problems(),
        completion_problem_messages: plan
            .completion_problems()
            .iter()
            .map(ToString::to_string)
            .collect(),
        conflicts: plan
            .conflicts
            .iter()
            .map(|c| LabelledConflict {
                conflict: c.clone(),
                field_label: c.field.label().to_owned(),
            })
            .collect(),
        paper_reading: plan.paper_copy_reading(),
        pending,
        refused,
    };
    let mut json = serde_json::to_value(plan).unwrap_or_default();
    if let (Some(map), Ok(serde_json::Value::Object(extras))) =
        (json.as_object_mut(), serde_json::to_value(extras))
    {
        map.extend(extras);
    }
    json
}

/// One row of `caseload(today)`.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct CaseloadEntry {
    pub id: String,
    pub nhs_number: String,
    pub nhs_number_display: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub dob: String,
    pub dnacpr: DnacprReading,
    pub dnacpr_label: String,
    pub share_with_mdt: bool,
    pub share_with_emergency_services: bool,
    /// This device's changes not yet acknowledged by the server.
    pub pending: usize,
    /// Changes the server refused that are not dismissed yet.
    pub refused: usize,
    pub last_updated: Option<Attribution>,
    pub status: PlanStatus,
    pub next_review_due: Option<String>,
    /// How many safety-critical fields are in conflict.
    pub conflicts: usize,
    pub cohort: Option<CohortCategory>,
    pub tier: Option<Tier>,
    /// The document's heads (sorted, comma-separated): equal versions hold the same plan.
    pub plan_version: String,
    /// Whether the paper copy in the home says what the plan says, as the server's
    /// caseload rows name it.
    pub paper_copy: PaperState,
    pub paper_copy_label: String,
    /// When the next review falls due, as the core reckons it on the caseload's day.
    pub review: Option<ReviewDue>,
}

impl CaseloadEntry {
    pub(crate) fn new(
        id: &str,
        plan: &CarePlan,
        pending: usize,
        refused: usize,
        today: Date,
    ) -> CaseloadEntry {
        let paper = plan.paper_copy_reading();
        CaseloadEntry {
            id: id.to_owned(),
            nhs_number: plan.patient.nhs_number.clone(),
            nhs_number_display: nhs_display(&plan.patient.nhs_number),
            name: plan.patient.name.clone(),
            dob: plan.patient.date_of_birth.clone(),
            dnacpr: plan.dnacpr_reading(),
            dnacpr_label: plan.dnacpr_label(),
            share_with_mdt: plan.consent.share_with_mdt,
            share_with_emergency_services: plan.consent.share_with_emergency_services,
            pending,
            refused,
            last_updated: plan.last_updated.clone(),
            status: plan.enrolment.status,
            next_review_due: plan.enrolment.next_review_due.clone(),
            conflicts: plan.conflicts.len(),
            cohort: plan.enrolment.cohort,
            tier: plan.enrolment.tier,
            plan_version: plan.plan_version.clone(),
            paper_copy: paper.state,
            paper_copy_label: paper.label,
            review: review_due(plan, today),
        }
    }
}

/// The core's next review for `plan` on `today`.
pub(crate) fn review_due(plan: &CarePlan, today: Date) -> Option<ReviewDue> {
    plan.review_due(today, DUE_SOON_DAYS)
}

/// The yellow pages as they would print now (`printCode(id)`).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct PrintCode {
    /// `RF1-…`: what the pages print under the QR code, and what a check takes.
    pub code: String,
    /// What `{op: "record_paper_copy", fingerprint}` takes to record this print.
    pub fingerprint: String,
    pub plan_version: String,
    /// The QR code holding `code`, as an SVG document.
    pub qr_svg: String,
}

/// A changed the server refused, with the plan it was made to (`refused(id?)`).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct RefusedView {
    pub doc_id: String,
    #[serde(flatten)]
    pub change: RefusedChange,
}

/// An NHS number as the core's check reads it (`checkNhsNumber(input)`).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct NhsNumberCheck {
    pub digits: String,
    /// The 3-3-4 form.
    pub display: String,
}

/// Whether the device has a PIN and is unlocked (`lockState()`).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct LockState {
    pub has_pin: bool,
    pub unlocked: bool,
    pub failed_attempts: u32,
    pub attempts_left: u32,
    pub max_attempts: u32,
    pub min_pin_digits: usize,
    pub pbkdf2_iterations: Option<u32>,
}

/// What `unlock(pin)` resolves with.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(untagged)]
pub(crate) enum UnlockResult {
    Unlocked {
        #[cfg_attr(test, ts(type = "true"))]
        ok: bool,
        /// The string last given to `saveSession`, if any.
        session: Option<String>,
    },
    Refused {
        #[cfg_attr(test, ts(type = "false"))]
        ok: bool,
        attempts_left: u32,
        /// The last attempt failed: every plan, the key and the session were erased.
        erased: bool,
    },
}

/// The socket's state as the app shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub(crate) enum ConnectionState {
    Online,
    Connecting,
    Offline,
}

/// The device's sync state (`status()`, and the `status` event).
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub(crate) struct SyncStatus {
    pub state: ConnectionState,
    pub online: bool,
    /// What the browser says of the network.
    pub network: bool,
    /// This device's changes not yet acknowledged, over every plan.
    pub pending: usize,
    pub last_synced_ms: Option<f64>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub signed_in: bool,
    pub sign_in_refused: bool,
    pub locked: bool,
    pub docs_total: usize,
    pub docs_waiting: usize,
    pub docs_received: usize,
    /// Changes the server refused that are not dismissed yet, over every plan.
    pub refused: usize,
}

/// What the core tells the app's listener.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum CoreEvent {
    Status(SyncStatus),
    Welcome {
        user_id: String,
        user_name: String,
        role: String,
    },
    Caseload {
        doc_ids: Vec<String>,
    },
    DocChanged {
        id: String,
    },
    Error {
        code: String,
        doc_id: Option<String>,
        message: String,
    },
    Refused {
        id: String,
        count: usize,
    },
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
mod typescript;

#[cfg(test)]
mod tests {
    use redfolder_shared::{ActorId, DnacprStatus, Edit, PlanDoc};
    use serde_json::{Value, json};

    use super::*;

    /// The plan's row as the app receives it, on 29 November 2026.
    fn caseload_entry(id: &str, plan: &CarePlan) -> Value {
        let today = Date::parse("2026-11-29").unwrap();
        serde_json::to_value(CaseloadEntry::new(id, plan, 0, 0, today)).unwrap()
    }

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

        let json = super::plan(&plan, 2, 0);
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

        let entry = caseload_entry("p1", &plan);
        assert_eq!(entry["id"], "p1");
        assert_eq!(entry["dob"], "1938-02-28");
        assert_eq!(entry["share_with_emergency_services"], false);
        assert_eq!(entry["tier"], Value::Null);
        assert_eq!(entry["cohort"], Value::Null);
        // A draft has no review due.
        let today = redfolder_shared::Date::parse("2026-11-29").unwrap();
        assert_eq!(review_due(&plan, today), None);
        assert_eq!(entry["review"], Value::Null);
    }

    #[test]
    fn a_dnacpr_conflict_reaches_the_app_as_conflicting_never_as_a_winner() {
        let plan = redfolder_shared::testkit::diverged(
            &[Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            }],
            &[Edit::SetDnacpr {
                status: DnacprStatus::ForAttemptedCpr,
            }],
        );

        let json = super::plan(&plan, 0, 0);
        assert_eq!(json["dnacpr"], "conflicting");
        let label = json["dnacpr_label"].as_str().unwrap();
        assert!(
            label.starts_with("Conflicting: ") && label.contains("For attempted CPR"),
            "{label}"
        );
        assert_eq!(json["readings"]["dnacpr"]["state"], "conflicting");
        assert_eq!(json["readings"]["dnacpr"]["label"], label);
        assert_eq!(json["readings"]["consent"]["state"], "not_recorded");
        let entry = caseload_entry("p1", &plan);
        assert_eq!(entry["dnacpr"], "conflicting");
        assert_eq!(entry["dnacpr_label"], label);
    }

    #[test]
    fn the_paper_copy_reaches_the_caseload_and_the_plan_as_the_core_reads_it() {
        let editor = redfolder_shared::testkit::editor("u1", "Nurse One");
        let new = redfolder_shared::testkit::example_patient();
        let now = 1_795_960_800_000;
        let mut doc =
            PlanDoc::create(ActorId::from(b"device-a".as_slice()), &new, &editor, now).unwrap();
        let entry = caseload_entry("p1", &doc.plan().unwrap());
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
        assert_eq!(caseload_entry("p1", &plan)["paper_copy"], "current");
        assert_eq!(
            super::plan(&plan, 0, 0)["paper_reading"]["state"],
            "current"
        );

        doc.apply(
            &Edit::SetExacerbationPlan {
                text: "Call the GP".into(),
            },
            &editor,
            now,
        )
        .unwrap();
        let plan = doc.plan().unwrap();
        let json = super::plan(&plan, 0, 0);
        assert_eq!(json["paper_reading"]["state"], "out_of_date");
        assert_eq!(
            json["paper_reading"]["changed_sections"],
            json!(["treatment escalation"])
        );
        assert_eq!(caseload_entry("p1", &plan)["paper_copy"], "out_of_date");
    }

    #[test]
    fn a_print_code_draws_as_an_svg_qr_code() {
        let code = "RF1-0123456789ABCDEF-".to_owned() + &"0A1B".repeat(11);
        let svg = qr_svg(&code).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    }

    /// Where the generated declarations live, from this crate's directory.
    const GENERATED: &str = "../../web/src/generated/core-types.ts";

    /// The app's TypeScript types are generated from the view structs and the core's
    /// types. Run with `REDFOLDER_WRITE_TYPES=1` to rewrite the file after changing them;
    /// otherwise the committed file must be what this build generates.
    #[test]
    fn the_apps_typescript_types_are_generated_from_these_views() {
        let generated = typescript::declarations();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GENERATED);
        if std::env::var_os("REDFOLDER_WRITE_TYPES").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is not what the Rust view types generate; rewrite it with \
             `REDFOLDER_WRITE_TYPES=1 cargo test -p redfolder-wasm --lib typescript` \
             and commit it",
            path.display()
        );
    }
}
