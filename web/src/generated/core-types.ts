// Generated from the Rust types the wasm core hands the app (crates/wasm/src/view.rs and
// the shared core's types they hold). Do not edit: change the Rust types and run
//   REDFOLDER_WRITE_TYPES=1 cargo test -p redfolder-wasm --lib typescript
// `cargo xtask test` fails while this file is not what the Rust types generate.
/* eslint-disable */

export type ActionStatus = "planned" | "done" | "cancelled";

/**
 * Whether the patient wants to be admitted to hospital.
 */
export type AdmissionDecision = { wanted: AdmissionWish, notes: string, recorded: Attribution, };

export type AdmissionWish = "wanted" | "not_wanted";

/**
 * Advance decision to refuse treatment.
 */
export type Adrt = { in_place: boolean, 
/**
 * Which treatments are refused and in what circumstances.
 */
details: string, original_location: string, recorded: Attribution | null, };

/**
 * Advice from a specialist or MDT member, attributed to whoever gave it.
 */
export type Advice = { id: string, from_name: string, from_role: string, advice: string, recorded: Attribution, entered_in_error: EnteredInError | null, };

export type Allergy = { id: string, substance: string, reaction: string, severity: AllergySeverity, recorded: Attribution, entered_in_error: EnteredInError | null, 
/**
 * Who last corrected the entry in place, and when (absent until someone does).
 */
updated?: Attribution | null, };

export type AllergySeverity = "mild" | "moderate" | "severe" | "unknown";

/**
 * The last statement about allergies.
 */
export type AllergyStatement = { status: AllergyStatus, recorded: Attribution, };

export type AllergyStatus = "not_recorded" | "no_known_allergies" | "allergies_recorded";

/**
 * A user and a moment: who did something and when.
 *
 * Written as a whole: a new attribution is a new map object in the document, never the
 * old one's fields overwritten (see the `Reconcile` impl), so two clinicians' concurrent
 * attributions conflict as wholes and the plan never shows one's name with the other's time.
 */
export type Attribution = { user_id: string, user_name: string, 
/**
 * Milliseconds since the Unix epoch.
 */
at_ms: number, };

/**
 * The patient's usual observations, so a crew can tell what is abnormal for them.
 *
 * A baseline is one set taken at one visit: each edit writes the whole set as a new
 * object, so two nurses recording at the same time never leave a mixture of both.
 */
export type BaselineObservations = { pulse_bpm: number | null, systolic_mmhg: number | null, diastolic_mmhg: number | null, respiratory_rate: number | null, spo2_percent: number | null, 
/**
 * Tenths of a degree Celsius, so the document holds exact integers (368 = 36.8 °C).
 */
temperature_decidegrees: number | null, recorded: Attribution | null, peak_flow_l_min: number | null, 
/**
 * Tenths of a kilogram (725 = 72.5 kg).
 */
weight_decikg: number | null, known_af: boolean | null, usual_cognition: string, usual_mobility: string, 
/**
 * The day the observations were taken (`YYYY-MM-DD`), which may precede `recorded`.
 */
observed_on: string | null, };

export type CareFocus = "sustain_life" | "balanced" | "comfort";

/**
 * One patient's case management plan, as it stands in one replica.
 *
 * Serialises to the JSON the app draws: text fields become plain strings.
 */
export type CarePlan = { 
/**
 * The version the document was last written with (1 for an unmigrated old plan).
 */
schema_version: number, patient: Patient, enrolment: Enrolment, care_team: Array<CareTeamMember>, 
/**
 * Personal contacts (next of kin, main carer, LPA holders); version-1 plans also kept
 * professional numbers here.
 */
key_contacts: Array<Contact>, conditions: Array<Condition>, medications: Array<Medication>, allergies: Array<Allergy>, 
/**
 * The last allergy statement ("no known allergies", "allergies recorded"); read it
 * through [`CarePlan::allergy_status`], which also accounts for the list.
 */
allergy_status: AllergyStatement | null, baseline: BaselineObservations, 
/**
 * General exacerbation plan (version 1); collaborative text.
 */
exacerbation_plan: string, 
/**
 * Escalation plans per condition (rescue packs).
 */
escalation_plans: Array<EscalationPlan>, goals: Array<Goal>, self_management_advice: string, equipment_and_services: string, 
/**
 * The resuscitation status, kept as its own field because the server and app read it.
 * Equal to `resuscitation`'s status, or `NotRecorded`.
 */
dnacpr: DnacprStatus, resuscitation: ResuscitationDecision | null, adrt: Adrt, focus_of_care: FocusOfCare, ceiling_of_treatment: CeilingOfTreatment | null, admission_wanted: AdmissionDecision | null, preferred_place_of_care: string, preferred_place_of_death: PlaceOfDeath | null, reviews: Array<Review>, mdt_discussions: Array<MdtDiscussion>, advice: Array<Advice>, consent: Consent, 
/**
 * "No wider action needed": the patient needs no MDT discussion (step 10).
 */
no_wider_action: NoWiderAction | null, 
/**
 * The face-to-face meeting with the GP (section 4.2).
 */
gp_meeting: GpMeeting | null, 
/**
 * The mental health assessment, or why none is indicated (section 4.2).
 */
mental_health_assessment: MentalHealthAssessment | null, 
/**
 * Who last changed the plan and when.
 */
last_updated: Attribution | null, 
/**
 * The last print of the yellow pages recorded for the home.
 */
paper_copy: PaperCopy | null, 
/**
 * Safety-critical fields that replicas set differently at the same time, each with
 * every value and its author. Derived when the plan is read; never stored.
 */
conflicts: Array<Conflict>, 
/**
 * The document heads the plan was read at: sorted hex hashes joined by commas, the
 * same string the server calls the plan version.
 */
plan_version: string, };

/**
 * A professional involved in the patient's care, or a number the crew may need.
 */
export type CareTeamMember = { id: string, kind: TeamContactKind, 
/**
 * For example "district nurse", "social worker", "heart failure nurse".
 */
role: string, name: string, organisation: string, phone: string, 
/**
 * When they can be reached, e.g. "Mon–Fri 08:00–18:30".
 */
hours: string, recorded: Attribution, entered_in_error: EnteredInError | null, 
/**
 * Who last corrected the entry in place, and when (absent until someone does).
 */
updated?: Attribution | null, };

export type CaseManager = { name: string, role: string, phone: string, recorded: Attribution, };

/**
 * One row of `caseload(today)`.
 */
export type CaseloadEntry = { id: string, nhs_number: string, nhs_number_display: string, name: string, 
/**
 * `YYYY-MM-DD`.
 */
dob: string, dnacpr: DnacprReading, dnacpr_label: string, share_with_mdt: boolean, share_with_emergency_services: boolean, 
/**
 * This device's changes not yet acknowledged by the server.
 */
pending: number, 
/**
 * Changes the server refused that are not dismissed yet.
 */
refused: number, last_updated: Attribution | null, status: PlanStatus, next_review_due: string | null, 
/**
 * How many safety-critical fields are in conflict.
 */
conflicts: number, cohort: CohortCategory | null, tier: Tier | null, 
/**
 * The document's heads (sorted, comma-separated): equal versions hold the same plan.
 */
plan_version: string, 
/**
 * Whether the paper copy in the home says what the plan says, as the server's
 * caseload rows name it.
 */
paper_copy: PaperState, paper_copy_label: string, 
/**
 * When the next review falls due, as the core reckons it on the caseload's day.
 */
review: ReviewDue | null, };

/**
 * How far treatment should escalate.
 */
export type CeilingOfTreatment = { ceiling: TreatmentCeiling, notes: string, recorded: Attribution, };

/**
 * Why the patient was selected (the data return's categories).
 */
export type CohortCategory = "risk_tool" | "care_home" | "clinical_judgement" | "over75" | "social_care";

/**
 * Why a plan cannot be marked complete yet.
 */
export type CompletionProblem = { "problem": "consent_not_recorded" } | { "problem": "consent_withdrawn" } | { "problem": "no_case_manager" } | { "problem": "no_mdt_discussion" } | { "problem": "no_gp_meeting" } | { "problem": "no_mental_health_assessment" } | { "problem": "no_paper_copy" } | { "problem": "no_emergency_treatment_plan" } | { "problem": "unresolved_conflict", "field": SafetyField };

export type Condition = { id: string, name: string, treatment: string, recorded: Attribution, entered_in_error: EnteredInError | null, 
/**
 * Who last corrected the entry in place, and when (absent until someone does).
 */
updated?: Attribution | null, };

/**
 * A safety-critical field that replicas set differently without seeing each other's value.
 */
export type Conflict = { field: SafetyField, 
/**
 * Every value currently held, oldest first.
 */
values: Array<ConflictingValue>, };

/**
 * One of the values in a [`Conflict`].
 */
export type ConflictingValue = { 
/**
 * Identifies the value for [`crate::Edit::ResolveConflict`]; the same on every replica.
 */
id: string, 
/**
 * How the value reads, e.g. "DNACPR in place: do not attempt CPR".
 */
label: string, recorded: Attribution, value: DecisionValue, };

/**
 * The socket's state as the app shows it.
 */
export type ConnectionState = "online" | "connecting" | "offline";

/**
 * What the patient agreed to share, and who recorded it.
 *
 * `share_with_mdt` and `share_with_emergency_services` are what version 1 stored and what
 * the server reads; they are kept equal to `recipients` (and false once withdrawn).
 */
export type Consent = { share_with_mdt: boolean, share_with_emergency_services: boolean, 
/**
 * Who wrote this consent record last (recording, withdrawing or resolving it).
 */
recorded: Attribution | null, recipients: Array<ConsentRecipient>, given_by: ConsentGivenBy | null, capacity_note: string, 
/**
 * When consent was given, `YYYY-MM-DD`.
 */
consent_date: string | null, withdrawn: ConsentWithdrawal | null, };

export type ConsentGivenBy = "patient" | "lpa_holder" | "best_interests_decision";

/**
 * Who may receive the plan.
 */
export type ConsentRecipient = "mdt" | "out_of_hours" | "ambulance" | "emergency_department" | "voluntary_sector";

export type ConsentWithdrawal = { 
/**
 * `YYYY-MM-DD`.
 */
date: string, recorded: Attribution, };

/**
 * A personal contact (RelatedPerson).
 */
export type Contact = { id: string, 
/**
 * For example "next of kin", "main carer", "case manager", "GP bypass", "key safe".
 */
role: string, name: string, phone: string, recorded: Attribution, entered_in_error: EnteredInError | null, 
/**
 * Set by [`crate::Edit::AddPersonalContact`]; version-1 contacts have only `role`.
 */
relationship: Relationship | null, 
/**
 * Who last corrected the entry in place, and when (absent until someone does).
 */
updated?: Attribution | null, };

/**
 * What the core tells the app's listener.
 */
export type CoreEvent = { "type": "status" } & SyncStatus | { "type": "welcome", user_id: string, user_name: string, role: string, } | { "type": "caseload", doc_ids: Array<string>, } | { "type": "doc_changed", id: string, } | { "type": "error", code: string, doc_id: string | null, message: string, } | { "type": "refused", id: string, count: number, };

/**
 * The typed value behind a [`ConflictingValue`].
 */
export type DecisionValue = { "resuscitation": ResuscitationDecision } | { "allergy_statement": AllergyStatement } | { "allergy_entry": Allergy } | { "ceiling_of_treatment": CeilingOfTreatment } | { "admission_wanted": AdmissionDecision } | { "preferred_place_of_death": PlaceOfDeath } | { "consent": Consent };

/**
 * The DNACPR flag as badges, filters and old clients test it: one of the three recorded
 * statuses only when settled, otherwise `conflicting`. Never Automerge's winner.
 */
export type DnacprReading = "not_recorded" | "for_attempted_cpr" | "do_not_attempt_cpr" | "conflicting";

/**
 * DNACPR recommendation as the crew needs to read it.
 */
export type DnacprStatus = "not_recorded" | "for_attempted_cpr" | "do_not_attempt_cpr";

/**
 * Where a due date falls against today.
 */
export type DueState = "overdue" | "due_soon" | "not_yet_due";

/**
 * One change a clinician makes to a plan. Serialised as JSON with an `op` tag, e.g.
 * `{"op":"set_dnacpr","status":"do_not_attempt_cpr"}`. Optional fields may be left out.
 */
export type Edit = { "op": "set_patient", nhs_number: string, name: string, date_of_birth: string, address: string, } | { "op": "set_patient_details", preferred_name: string, sex: Sex | null, phone: string, access_notes: string, residence: Residence | null, gp_practice_ods: string, gp_practice_name: string, named_gp: string, communication_needs: string, interpreter_language: string, } | { "op": "set_enrolment", cohort: CohortCategory | null, tier: Tier | null, start_date: string | null, review_interval_months: number | null, } | { "op": "set_case_manager", name: string, role: string, phone: string, } | { "op": "add_care_team_member", id: string, kind: TeamContactKind, role: string, name: string, organisation: string, phone: string, hours: string, } | { "op": "set_consent", share_with_mdt: boolean, share_with_emergency_services: boolean, } | { "op": "record_consent", recipients: Array<ConsentRecipient>, given_by: ConsentGivenBy, capacity_note: string, consent_date: string, } | { "op": "withdraw_consent", date: string, } | { "op": "add_condition", id: string, name: string, treatment: string, } | { "op": "add_medication", id: string, name: string, dose: string, notes: string, } | { "op": "add_anticipatory_medication", id: string, name: string, dose: string, location: string, notes: string, } | { "op": "add_allergy", id: string, substance: string, reaction: string, severity: AllergySeverity, } | { "op": "record_no_known_allergies" } | { "op": "add_contact", id: string, role: string, name: string, phone: string, } | { "op": "add_personal_contact", id: string, relationship: Relationship, name: string, phone: string, } | { "op": "mark_entered_in_error", list: EntryList, id: string, } | { "op": "update_condition", id: string, name: string | null, treatment: string | null, } | { "op": "update_medication", id: string, name: string | null, dose: string | null, notes: string | null, location: string | null, } | { "op": "update_allergy", id: string, substance: string | null, reaction: string | null, severity: AllergySeverity | null, } | { "op": "update_contact", id: string, role: string | null, relationship: Relationship | null, name: string | null, phone: string | null, } | { "op": "update_care_team_member", id: string, kind: TeamContactKind | null, role: string | null, name: string | null, organisation: string | null, phone: string | null, hours: string | null, } | { "op": "update_escalation_plan", id: string, condition: string | null, rescue_pack: string | null, } | { "op": "update_goal", id: string, what_matters: string | null, goal: string | null, owner: string | null, } | { "op": "set_dnacpr", status: DnacprStatus, } | { "op": "set_resuscitation", status: DnacprStatus, respect_form: boolean, decision_date: string | null, decided_by: string, original_location: string, } | { "op": "set_adrt", in_place: boolean, details: string, original_location: string, } | { "op": "set_focus_of_care", focus: CareFocus | null, notes: string, prognosis: string, } | { "op": "set_ceiling_of_treatment", ceiling: TreatmentCeiling, notes: string, } | { "op": "set_admission_wanted", wanted: AdmissionWish, notes: string, } | { "op": "set_preferred_place_of_care", place: string, } | { "op": "set_preferred_place_of_death", place: string, } | { "op": "set_exacerbation_plan", text: string, } | { "op": "splice_exacerbation_plan", index: number, delete: number, insert: string, } | { "op": "set_text", target: TextTarget, text: string, } | { "op": "splice_text", target: TextTarget, index: number, delete: number, insert: string, } | { "op": "set_baseline", pulse_bpm: number | null, systolic_mmhg: number | null, diastolic_mmhg: number | null, respiratory_rate: number | null, spo2_percent: number | null, temperature_decidegrees: number | null, } | { "op": "record_baseline", observed_on: string, pulse_bpm: number | null, systolic_mmhg: number | null, diastolic_mmhg: number | null, respiratory_rate: number | null, spo2_percent: number | null, temperature_decidegrees: number | null, peak_flow_l_min: number | null, weight_decikg: number | null, known_af: boolean | null, usual_cognition: string, usual_mobility: string, } | { "op": "add_escalation_plan", id: string, condition: string, plan: string, rescue_pack: string, } | { "op": "add_goal", id: string, what_matters: string, goal: string, owner: string, } | { "op": "set_goal_status", id: string, status: GoalStatus, } | { "op": "add_goal_action", goal_id: string, id: string, action: string, owner: string, } | { "op": "set_goal_action_status", goal_id: string, id: string, status: ActionStatus, } | { "op": "record_review", id: string, date: string, face_to_face: boolean, reviewer: string, attendees: string, notes: string, changes: string, still_in_top_5_percent: boolean | null, outcome: ReviewOutcome, 
/**
 * Defaults to the review date plus the review interval.
 */
next_review_due: string | null, } | { "op": "add_mdt_discussion", id: string, date: string, attendees: string, outcome: string, referrals: string, } | { "op": "add_advice", id: string, from_name: string, from_role: string, advice: string, } | { "op": "mark_complete" } | { "op": "start_review" } | { "op": "end_plan", reason: EndReason, date: string, } | { "op": "resolve_conflict", field: SafetyField, keep: string, } | { "op": "record_paper_copy", fingerprint: string, } | { "op": "record_no_wider_action", reason: string, } | { "op": "record_gp_meeting", date: string, gp: string, 
/**
 * Who else was there (the case manager, the patient, carers).
 */
attendees: string, } | { "op": "record_mental_health_assessment", status: MentalHealthStatus, date: string | null, tool: string, outcome: string, reason: string, };

/**
 * The "yellow pages" of the red folder, as a pure projection of a [`CarePlan`].
 */
export type EmergencySummary = { nhs_number: string, 
/**
 * 3-3-4 display form.
 */
nhs_number_display: string, name: string, preferred_name: string, date_of_birth: string, sex: Sex | null, address: string, phone: string, residence: string, gp_practice: string, named_gp: string, 
/**
 * The DNACPR flag: `conflicting` while resuscitation decisions conflict (their values
 * are in `resuscitation.values`), never one side of the conflict.
 */
dnacpr: DnacprReading, 
/**
 * What the CPR banner says: the status, or "Conflicting: A / B — confirm with the
 * care team".
 */
dnacpr_label: string, resuscitation: SummaryDecision, 
/**
 * `None` when no advance decision to refuse treatment is recorded.
 */
adrt: string | null, lpa: Array<SummaryContact>, focus_of_care: string | null, ceiling_of_treatment: SummaryDecision, admission_wanted: SummaryDecision, escalation_plans: Array<SummaryEscalation>, exacerbation_plan: string, preferred_place_of_care: string, preferred_place_of_death: SummaryDecision, key_contacts: Array<SummaryContact>, conditions: Array<SummaryCondition>, prognosis: string, medications: Array<SummaryMedication>, allergies: SummaryDecision, allergy_list: Array<SummaryAllergy>, baseline: SummaryBaseline, communication_needs: string, plan_status: string, 
/**
 * When case management ended, and until when this summary is still served
 * (docs/hazard-log.md H13); `None` while the plan is in the scheme. Summaries
 * stored before the field existed read as `None`.
 */
case_management_ended: SummaryEnded | null, plan_version: string, completed: Attribution | null, case_manager: string | null, next_review_due: string | null, consent: SummaryDecision, consent_to_emergency_sharing: boolean, last_updated: Attribution | null, 
/**
 * Every unresolved conflict, also shown at its item.
 */
conflicts: Array<Conflict>, };

export type EndReason = "no_longer_high_risk" | "moved_away" | "died" | "patient_declined";

/**
 * The episode of care (EpisodeOfCare).
 */
export type Enrolment = { status: PlanStatus, cohort: CohortCategory | null, tier: Tier | null, 
/**
 * `YYYY-MM-DD` ("work started").
 */
start_date: string | null, 
/**
 * Agreed until the next review.
 */
case_manager: CaseManager | null, 
/**
 * Months between reviews; `None` means the scheme's default of four.
 */
review_interval_months: number | null, next_review_due: string | null, 
/**
 * Who marked the plan complete, most recently.
 */
completed: Attribution | null, review_started: Attribution | null, ended: PlanEnd | null, };

/**
 * Marks an entry as entered in error; entries are never deleted.
 */
export type EnteredInError = { by: Attribution, };

/**
 * Which list an entry lives in, for [`Edit::MarkEnteredInError`].
 */
export type EntryList = "conditions" | "medications" | "key_contacts" | "care_team" | "allergies" | "escalation_plans" | "goals" | "reviews" | "mdt_discussions" | "advice";

export type EscalationPlan = { id: string, condition: string, 
/**
 * Collaborative text.
 */
plan: string, 
/**
 * What the rescue pack holds and where it is.
 */
rescue_pack: string, recorded: Attribution, entered_in_error: EnteredInError | null, 
/**
 * Who last corrected the entry in place, and when (absent until someone does).
 */
updated?: Attribution | null, };

/**
 * The overall focus of care (as on a ReSPECT form) and the prognosis behind it.
 */
export type FocusOfCare = { focus: CareFocus | null, notes: string, prognosis: string, recorded: Attribution | null, };

/**
 * What matters to the patient, the goal agreed, and the actions towards it.
 */
export type Goal = { id: string, what_matters: string, goal: string, owner: string, status: GoalStatus, actions: Array<GoalAction>, recorded: Attribution, updated: Attribution | null, entered_in_error: EnteredInError | null, };

export type GoalAction = { id: string, action: string, owner: string, status: ActionStatus, recorded: Attribution, updated: Attribution | null, };

export type GoalStatus = "agreed" | "in_progress" | "achieved" | "no_longer_relevant";

/**
 * The face-to-face meeting with the GP responsible for the patient's care and the case
 * manager (section 4.2, output 2).
 */
export type GpMeeting = { 
/**
 * `YYYY-MM-DD`, not in the future.
 */
date: string, 
/**
 * The GP who met the patient.
 */
gp: string, 
/**
 * Who else was there: the case manager, the patient, family or carers.
 */
attendees: string, recorded: Attribution, };

/**
 * A conflict with the core's name for its field.
 */
export type LabelledConflict = { field_label: string, field: SafetyField, 
/**
 * Every value currently held, oldest first.
 */
values: Array<ConflictingValue>, };

/**
 * Whether the device has a PIN and is unlocked (`lockState()`).
 */
export type LockState = { has_pin: boolean, unlocked: boolean, failed_attempts: number, attempts_left: number, max_attempts: number, min_pin_digits: number, pbkdf2_iterations: number | null, };

/**
 * A multidisciplinary team discussion of this patient.
 */
export type MdtDiscussion = { id: string, date: string, attendees: string, outcome: string, referrals: string, recorded: Attribution, entered_in_error: EnteredInError | null, };

export type Medication = { id: string, name: string, dose: string, 
/**
 * Free text such as "anticipatory: kept in the fridge".
 */
notes: string, recorded: Attribution, entered_in_error: EnteredInError | null, 
/**
 * An anticipatory ("just in case") medicine.
 */
anticipatory: boolean, 
/**
 * Where it is kept in the home.
 */
location: string, 
/**
 * Who last corrected the entry in place, and when (absent until someone does).
 */
updated?: Attribution | null, };

/**
 * "An appropriate mental health assessment" (section 4.2, output 4): when and with what
 * tool it was done and what it found, or why none is indicated.
 */
export type MentalHealthAssessment = { status: MentalHealthStatus, 
/**
 * `YYYY-MM-DD` when done; empty when not indicated.
 */
date: string, 
/**
 * The tool used (PHQ-9, GAD-7, 6CIT …) when done.
 */
tool: string, 
/**
 * What it found, when done.
 */
outcome: string, 
/**
 * Why no assessment is indicated, when not done.
 */
reason: string, recorded: Attribution, };

/**
 * Whether a mental health assessment was done or is not indicated.
 */
export type MentalHealthStatus = "done" | "not_indicated";

/**
 * An NHS number as the core's check reads it (`checkNhsNumber(input)`).
 */
export type NhsNumberCheck = { digits: string, 
/**
 * The 3-3-4 form.
 */
display: string, };

/**
 * "Unless no wider action required, discuss patient's needs with appropriate members of
 * the MDT" (step 10): the statement that this patient needs no MDT discussion, and why.
 */
export type NoWiderAction = { reason: string, 
/**
 * Who stated it, and when.
 */
recorded: Attribution, };

/**
 * The `paper_copy` register: the last print recorded for the home.
 */
export type PaperCopy = { 
/**
 * [`SummaryFingerprint::whole`] of what was printed.
 */
fingerprint: string, 
/**
 * [`SummaryFingerprint::sections`] of what was printed, concatenated.
 */
sections: string, 
/**
 * The plan version printed on the pages.
 */
plan_version: string, 
/**
 * Who printed it, and when.
 */
printed: Attribution, };

/**
 * The reading of a paper copy against the plan, with what every surface shows.
 */
export type PaperReading = { state: PaperState, 
/**
 * The recorded print, when [`PaperReading::state`] is about the home's copy.
 */
printed: Attribution | null, 
/**
 * Sections changed since the print (empty unless out of date).
 */
changed_sections: Array<string>, 
/**
 * "Paper copy in the home is out of date (printed 2026-12-01 by Ann Nurse):
 * reprint", or the current/not-printed equivalent.
 */
label: string, };

/**
 * Whether a paper copy says what the plan says.
 */
export type PaperState = "not_printed" | "current" | "out_of_date";

/**
 * Patient identity and what a visitor needs to know to reach and talk with them.
 */
export type Patient = { 
/**
 * Ten digits, already checked with [`crate::NhsNumber::parse`].
 */
nhs_number: string, name: string, 
/**
 * `YYYY-MM-DD`.
 */
date_of_birth: string, address: string, preferred_name: string, sex: Sex | null, phone: string, 
/**
 * How to get in: key safe, door codes, pets.
 */
access_notes: string, residence: Residence | null, 
/**
 * ODS code of the registered GP practice.
 */
gp_practice_ods: string, gp_practice_name: string, named_gp: string, communication_needs: string, 
/**
 * Language an interpreter is needed for; empty when none is needed.
 */
interpreter_language: string, };

export type PlaceOfDeath = { place: string, recorded: Attribution, };

export type PlanEnd = { reason: EndReason, 
/**
 * `YYYY-MM-DD`.
 */
date: string, recorded: Attribution, };

/**
 * What `plan(id)` puts over the core's `CarePlan` (whose own fields it keeps): the app's
 * `Plan` is `CarePlan` with these fields in place of the plan's own.
 */
export type PlanExtras = { nhs_number_display: string, 
/**
 * The core's reading of DNACPR. The plan's own `dnacpr` is Automerge's winner,
 * arbitrary while decisions conflict, so the app is never handed it.
 */
dnacpr: DnacprReading, dnacpr_label: string, 
/**
 * Every safety-critical register's reading (the settled value, not recorded, or
 * every conflicting value), keyed by the field's API name as `conflicts[].field` is.
 */
readings: { [key in SafetyField]?: Reading }, completion_problems: Array<CompletionProblem>, 
/**
 * The core's words for each of `completion_problems`.
 */
completion_problem_messages: Array<string>, 
/**
 * The plan's conflicts, each with the core's name for its field ("DNACPR",
 * "allergies" …) so the inbox can say which fact is in dispute.
 */
conflicts: Array<LabelledConflict>, 
/**
 * Whether the paper copy in the home still says what the plan says.
 */
paper_reading: PaperReading, 
/**
 * This device's changes to the plan not yet acknowledged by the server.
 */
pending: number, 
/**
 * Changes the server refused that are not dismissed yet (see `refused`).
 */
refused: number, };

export type PlanStatus = "draft" | "complete" | "under_review" | "ended";

/**
 * The yellow pages as they would print now (`printCode(id)`).
 */
export type PrintCode = { 
/**
 * `RF1-…`: what the pages print under the QR code, and what a check takes.
 */
code: string, 
/**
 * What `{op: "record_paper_copy", fingerprint}` takes to record this print.
 */
fingerprint: string, plan_version: string, 
/**
 * The QR code holding `code`, as an SVG document.
 */
qr_svg: string, };

/**
 * One safety-critical register as a reader must see it.
 */
export type Reading = { field: SafetyField, state: RegisterState, 
/**
 * What to show in the value's place: the settled value, "Not recorded", or
 * "Conflicting: A / B — confirm with the care team".
 */
label: string, 
/**
 * Who recorded the settled value; `None` when not recorded or conflicting.
 */
recorded: Attribution | null, 
/**
 * When conflicting: every value held, oldest first, each with who recorded it.
 */
values: Array<ConflictingValue>, };

/**
 * A changed the server refused, with the plan it was made to (`refused(id?)`).
 */
export type RefusedView = { doc_id: string, 
/**
 * The refused change's hash, in hex.
 */
hash: string, 
/**
 * Who made it and when, from the change's note (absent if it had none).
 */
by: Attribution | null, 
/**
 * The edits the change recorded, as the app submitted them; empty if this device
 * did not record them (a change made before this record existed).
 */
edits: Array<Edit>, 
/**
 * The top-level fields of the plan the change wrote, e.g. `["medications",
 * "last_updated"]`.
 */
fields: Array<string>, 
/**
 * The server's reason. A change built on a refused one is dropped with it and says so.
 */
reason: string, };

/**
 * What a register's value amounts to for a reader.
 */
export type RegisterState = "not_recorded" | "recorded" | "conflicting";

export type Relationship = "next_of_kin" | "main_carer" | "lpa_health_and_welfare" | "other";

/**
 * Where the patient lives, which decides the cohort category and who visits.
 */
export type Residence = "own_home" | "residential_home" | "nursing_home";

/**
 * A DNACPR or ReSPECT recommendation.
 */
export type ResuscitationDecision = { status: DnacprStatus, 
/**
 * Recorded on a ReSPECT form (rather than a DNACPR form).
 */
respect_form: boolean, 
/**
 * When the recommendation was made, `YYYY-MM-DD`.
 */
decision_date: string | null, 
/**
 * The clinician who made the recommendation.
 */
decided_by: string, 
/**
 * Where the original signed form is, e.g. "red folder, kitchen drawer".
 */
original_location: string, recorded: Attribution, };

/**
 * A case review (Encounter).
 */
export type Review = { id: string, 
/**
 * `YYYY-MM-DD`.
 */
date: string, face_to_face: boolean, reviewer: string, attendees: string, 
/**
 * Findings; collaborative text.
 */
notes: string, changes: string, 
/**
 * Still in the top 5 % of the risk tool; `None` when not checked.
 */
still_in_top_5_percent: boolean | null, outcome: ReviewOutcome, next_review_due: string | null, recorded: Attribution, entered_in_error: EnteredInError | null, };

/**
 * A plan's next review, as [`CarePlan::review_due`] reckons it.
 */
export type ReviewDue = { 
/**
 * `YYYY-MM-DD`.
 */
due: string, state: DueState, 
/**
 * Days from today to the due day; negative once overdue.
 */
days_left: number, 
/**
 * Whether the due day is in today's calendar month (or an earlier one: overdue).
 */
due_this_month: boolean, 
/**
 * The interval the due date was counted with.
 */
interval_months: number, 
/**
 * The patient is in the annual over-75 case review (enrolled for it, or moved to it).
 */
annual: boolean, 
/**
 * The case manager set an earlier date than the interval gives.
 */
set_earlier: boolean, };

/**
 * What a review decided (seed 003, step 17).
 */
export type ReviewOutcome = "continue" | "practice_discretion" | "end_case_management" | "move_to_annual_review";

/**
 * The safety-critical fields: never resolved silently.
 */
export type SafetyField = "dnacpr" | "allergies" | "ceiling_of_treatment" | "admission_wanted" | "preferred_place_of_death" | "consent";

/**
 * Administrative sex, as FHIR's `AdministrativeGender`.
 */
export type Sex = "female" | "male" | "other" | "unknown";

export type SummaryAllergy = { substance: string, reaction: string, severity: AllergySeverity, };

/**
 * Baseline observations with their display text, e.g. `"BP 132/78 mmHg"`.
 */
export type SummaryBaseline = { lines: Array<string>, recorded: Attribution | null, observed_on: string | null, };

export type SummaryCondition = { name: string, treatment: string, };

export type SummaryContact = { role: string, name: string, phone: string, };

/**
 * A decision as printed: its current reading, or every value when they conflict.
 */
export type SummaryDecision = { label: string, recorded: Attribution | null, conflicting: boolean, 
/**
 * When `conflicting`: every value held, each with who recorded it and when.
 */
values: Array<SummaryValue>, };

/**
 * An ended plan's notice on its summary.
 */
export type SummaryEnded = { 
/**
 * `YYYY-MM-DD`
 */
date: string, reason: string, 
/**
 * `YYYY-MM-DD`: the last day the summary is served.
 */
served_until: string, 
/**
 * What the crew reads at the top of the plan's section.
 */
notice: string, };

export type SummaryEscalation = { condition: string, plan: string, rescue_pack: string, };

export type SummaryMedication = { name: string, dose: string, notes: string, anticipatory: boolean, 
/**
 * Where it is kept.
 */
location: string, };

export type SummaryValue = { label: string, recorded: Attribution, };

/**
 * The device's sync state (`status()`, and the `status` event).
 */
export type SyncStatus = { state: ConnectionState, online: boolean, 
/**
 * What the browser says of the network.
 */
network: boolean, 
/**
 * This device's changes not yet acknowledged, over every plan.
 */
pending: number, last_synced_ms: number | null, error: string | null, error_code: string | null, signed_in: boolean, sign_in_refused: boolean, locked: boolean, docs_total: number, docs_waiting: number, docs_received: number, 
/**
 * Changes the server refused that are not dismissed yet, over every plan.
 */
refused: number, };

export type TeamContactKind = "member" | "gp_bypass" | "out_of_hours";

/**
 * A collaborative text in the plan, for [`Edit::SetText`] and [`Edit::SpliceText`].
 * JSON: `{"text":"self_management_advice"}` or `{"text":"review_notes","id":"r1"}`.
 */
export type TextTarget = { "text": "exacerbation_plan" } | { "text": "self_management_advice" } | { "text": "equipment_and_services" } | { "text": "escalation_plan", id: string, } | { "text": "review_notes", id: string, };

export type Tier = "mild" | "moderate" | "severe";

export type TreatmentCeiling = "full_escalation" | "ward_based_care" | "community_care" | "comfort_care_only";

/**
 * What `unlock(pin)` resolves with.
 */
export type UnlockResult = { ok: true, 
/**
 * The string last given to `saveSession`, if any.
 */
session: string | null, } | { ok: false, attempts_left: number, 
/**
 * The last attempt failed: every plan, the key and the session were erased.
 */
erased: boolean, };
