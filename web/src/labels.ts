// How the app words the core's codes (sex, residence, statuses, roles …) for people.
// They carry no rules: what a valid value is stays the core's decision.

export const LABELS: Record<string, Record<string, string>> = {
  sex: { female: 'Female', male: 'Male', other: 'Other', unknown: 'Unknown' },
  residence: { own_home: 'Own home', residential_home: 'Residential home', nursing_home: 'Nursing home' },
  cohort: {
    risk_tool: 'Risk tool', care_home: 'Care home', clinical_judgement: 'Clinical judgement (practice discretion)',
    over75: 'Over-75 case review', social_care: 'Notified by social care',
  },
  tier: { mild: 'Mild', moderate: 'Moderate', severe: 'Severe' },
  status: { draft: 'Draft', complete: 'Complete', under_review: 'Under review', ended: 'Ended' },
  team_kind: { member: 'Care team member', gp_bypass: 'GP bypass number', out_of_hours: 'Out-of-hours contact' },
  relationship: { next_of_kin: 'Next of kin', main_carer: 'Main carer', lpa_health_and_welfare: 'LPA (health and welfare)', other: 'Other' },
  severity: { mild: 'Mild', moderate: 'Moderate', severe: 'Severe', unknown: 'Severity unknown' },
  allergy_status: { not_recorded: 'Not recorded', no_known_allergies: 'No known allergies', allergies_recorded: 'Allergies recorded' },
  dnacpr: { not_recorded: 'Not recorded', for_attempted_cpr: 'For attempted CPR', do_not_attempt_cpr: 'DNACPR in place: do not attempt CPR' },
  focus: { sustain_life: 'Prioritise sustaining life', balanced: 'Balance sustaining life and comfort', comfort: 'Prioritise comfort' },
  ceiling: {
    full_escalation: 'Full escalation including intensive care', ward_based_care: 'Ward-based care, not intensive care',
    community_care: 'Treat at home or in the community', comfort_care_only: 'Comfort and symptom control only',
  },
  admission: { wanted: 'Admission wanted if needed', not_wanted: 'Does not want hospital admission' },
  goal_status: { agreed: 'Agreed', in_progress: 'In progress', achieved: 'Achieved', no_longer_relevant: 'No longer relevant' },
  action_status: { planned: 'Planned', done: 'Done', cancelled: 'Cancelled' },
  outcome: {
    continue: 'Continue (still in the top 5 %)', practice_discretion: 'Continue at practice discretion',
    end_case_management: 'End case management', move_to_annual_review: 'Move to annual case review',
  },
  end_reason: { no_longer_high_risk: 'No longer high risk', moved_away: 'Moved away', died: 'Died', patient_declined: 'Patient declined' },
  recipient: { mdt: 'MDT', out_of_hours: 'Out-of-hours service', ambulance: 'Ambulance service', emergency_department: 'A&E', voluntary_sector: 'Voluntary sector' },
  given_by: { patient: 'The patient', lpa_holder: 'LPA holder', best_interests_decision: 'Best-interests decision' },
  mental_health: { done: 'Done', not_indicated: 'Not indicated' },
  yes_no: { true: 'Yes', false: 'No' },
};
