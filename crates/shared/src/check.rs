//! The plan's rules, checked against what a submission did rather than how it was made.
//!
//! The app changes a plan only through [`crate::Edit`]s, each validated before it is
//! written. The server cannot rely on that: it receives raw Automerge changes, and a
//! modified client (or an old app with a bug) can write anything a document can hold.
//! [`check_submission`] decides, from the plan before and after a set of changes and from
//! the changes' own operations, whether they keep every rule an edit would have kept:
//!
//! - each role writes only the fields it may ([`Writer::may_write`], from [`Field`]), and
//!   nothing outside the plan's fields;
//! - entries are never removed, only marked entered-in-error, and a mark stays;
//! - every attribution the changes write names the submitting user, at a time within
//!   [`MAX_CLOCK_SKEW_MS`] of the checker's clock and no older than [`MAX_UNSYNCED_AGE_MS`];
//! - registers keep their rules ("no known allergies" never beside a listed allergy);
//! - observations are plausible, dates are dates and past dates are not in the future;
//! - the NHS number is a valid number in its canonical ten-digit form;
//! - the records "plan complete" asks for keep their edits' rules, and a plan becomes
//!   complete only when nothing blocks it ([`CarePlan::completion_problems`]);
//! - an ended plan takes nothing but entered-in-error marks.
//!
//! "Before" and "after" are the plan as the *submitter* saw it: at the changes'
//! dependencies and at their tips. Concurrent work by others, merged on the server, is
//! neither blamed on the submitter nor allowed to hide what the submitter did.
//!
//! Pure: the caller supplies the time. The server runs it on every way a plan changes;
//! the tablet can run it too.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::legacy::{Key, ObjectId};
use automerge::{AutoCommit, Change, ChangeHash, Prop, ReadDoc};
use serde_json::{Map, Value};

use crate::decision::AllergyStatus;
use crate::plan::CarePlan;
use crate::schema::Field;
use crate::{Date, NhsNumber, PlanDoc, PlanStatus};

/// How far ahead of the checker's clock an attribution may be: tablets' clocks drift.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// How old an attribution a submission writes may be. A tablet can hold unsynced edits
/// for weeks without signal; a year is far beyond any real gap, and an older time is a
/// forgery (an entry back-dated to look as if it had always been there).
pub const MAX_UNSYNCED_AGE_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// The longest text any field may hold, as [`crate::Edit`] enforces.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// The longest id of a list entry, as [`crate::Edit`] enforces.
pub const MAX_ID_CHARS: usize = 64;

/// The capacity in which a user changes a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// A case manager at the patient's practice: the whole plan.
    CaseManager,
    /// A member of the patient's care team with MDT consent: anything but identity,
    /// consent, the resuscitation decision and the schema version.
    MdtMember,
}

impl Writer {
    /// Whether this writer may change `field`.
    pub fn may_write(self, field: Field) -> bool {
        match self {
            Writer::CaseManager => true,
            Writer::MdtMember => !matches!(
                field,
                Field::Patient | Field::Consent | Field::Dnacpr | Field::SchemaVersion
            ),
        }
    }
}

/// Who submits a set of changes, and when the checker received them.
#[derive(Debug, Clone, Copy)]
pub struct Submitter<'a> {
    pub user_id: &'a str,
    pub writer: Writer,
    /// The checker's clock, milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// Which rule a refused submission broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A field the writer's role may not change, or a place outside the plan.
    WriteScope,
    /// An entry removed, or an entered-in-error mark taken back.
    EntryRemoved,
    /// An attribution naming someone else, or a time outside the allowed window.
    Attribution,
    /// A register's rule ("no known allergies" beside a listed allergy).
    Register,
    /// An implausible observation, an invalid or future date, an over-long text.
    Plausibility,
    /// An NHS number that is invalid or not in canonical form.
    Identity,
    /// The plan marked complete while something "plan complete" needs is missing.
    Completion,
    /// A change to a plan that has ended.
    PlanEnded,
    /// The result does not read as a care plan at all.
    Schema,
}

impl Rule {
    /// A stable name, for metrics, audit entries and the wire.
    pub fn label(self) -> &'static str {
        match self {
            Rule::WriteScope => "write_scope",
            Rule::EntryRemoved => "entry_removed",
            Rule::Attribution => "attribution",
            Rule::Register => "register",
            Rule::Plausibility => "plausibility",
            Rule::Identity => "identity",
            Rule::Completion => "completion",
            Rule::PlanEnded => "plan_ended",
            Rule::Schema => "schema",
        }
    }
}

/// A refused submission: the rule and what, in a clinician's words, broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    pub rule: Rule,
    pub message: String,
}

fn violation(rule: Rule, message: impl Into<String>) -> Violation {
    Violation {
        rule,
        message: message.into(),
    }
}

/// What an operation writes to: a field of the plan, or a place the plan does not have.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Touched {
    Field(Field),
    /// A root key that is no field of the plan, or an object nobody can place.
    Outside(String),
}

/// For each change, what its operations write to (a write inside a nested object counts
/// for the field the object belongs to). `doc` must already hold the changes.
///
/// Every operation counts, not only the visible difference: a write that loses a
/// conflict today can surface later, when the value that beat it is overwritten.
pub fn touched_fields(
    doc: &AutoCommit,
    changes: &[Change],
) -> Vec<(ChangeHash, BTreeSet<Touched>)> {
    let mut owners: HashMap<String, Touched> = HashMap::new();
    changes
        .iter()
        .map(|change| {
            let expanded = change.decode();
            let mut touched = BTreeSet::new();
            for op in &expanded.operations {
                let t = match (&op.obj, &op.key) {
                    (ObjectId::Root, Key::Map(name)) => root_key(name),
                    (ObjectId::Root, Key::Seq(_)) => Touched::Outside("a list at the root".into()),
                    (ObjectId::Id(id), _) => {
                        let id = id.to_string();
                        owners
                            .entry(id.clone())
                            .or_insert_with(|| owning_field(doc, &id))
                            .clone()
                    }
                };
                touched.insert(t);
            }
            (change.hash(), touched)
        })
        .collect()
}

fn root_key(name: &str) -> Touched {
    Field::from_key(name).map_or_else(|| Touched::Outside(name.to_owned()), Touched::Field)
}

/// The root field an object lives under.
fn owning_field(doc: &AutoCommit, obj: &str) -> Touched {
    let unplaced = || Touched::Outside("an object outside the plan".into());
    let Ok(id) = doc.import_obj(obj) else {
        return unplaced();
    };
    let Ok(parents) = doc.parents(&id) else {
        return unplaced();
    };
    match parents.last().map(|p| p.prop) {
        Some(Prop::Map(name)) => root_key(&name),
        _ => unplaced(),
    }
}

/// The first write, among `touched`, that `writer` may not make.
pub fn check_scope(
    touched: &[(ChangeHash, BTreeSet<Touched>)],
    writer: Writer,
) -> Result<(), Violation> {
    for (hash, fields) in touched {
        for t in fields {
            match t {
                Touched::Outside(what) => {
                    return Err(violation(
                        Rule::WriteScope,
                        format!(
                            "change {hash} writes to {what:?}, which is no part of a care plan"
                        ),
                    ));
                }
                Touched::Field(field) if !writer.may_write(*field) => {
                    return Err(violation(
                        Rule::WriteScope,
                        format!(
                            "change {hash} changes {}, which an MDT member may not change",
                            field.label()
                        ),
                    ));
                }
                Touched::Field(_) => {}
            }
        }
    }
    Ok(())
}

/// Checks `changes`, already applied to `doc` on top of the plan at `committed` (whose
/// plan `committed_plan` is), against every rule of the plan.
pub fn check_submission(
    doc: &mut PlanDoc,
    committed: &[ChangeHash],
    committed_plan: &CarePlan,
    changes: &[Change],
    who: &Submitter<'_>,
) -> Result<(), Violation> {
    if changes.is_empty() {
        return Ok(());
    }
    check_scope(&touched_fields(doc.automerge(), changes), who.writer)?;

    // The submitter's own view: the plan at the changes' dependencies, and at their tips.
    let own: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    let depended: HashSet<ChangeHash> = changes.iter().flat_map(|c| c.deps().to_vec()).collect();
    let base: BTreeSet<ChangeHash> = depended.difference(&own).copied().collect();
    let tips: BTreeSet<ChangeHash> = own.difference(&depended).copied().collect();
    let unreadable = |e: crate::DocError| {
        violation(
            Rule::Schema,
            format!("the changes leave no readable plan: {e}"),
        )
    };

    let committed_set: BTreeSet<ChangeHash> = committed.iter().copied().collect();
    let before = if base.is_empty() || base == committed_set {
        committed_plan.clone()
    } else {
        doc.plan_at(&base.into_iter().collect::<Vec<_>>())
            .map_err(unreadable)?
    };
    let heads: BTreeSet<ChangeHash> = doc.heads().into_iter().collect();
    let after = if tips == heads {
        doc.plan().map_err(unreadable)?
    } else {
        doc.plan_at(&tips.into_iter().collect::<Vec<_>>())
            .map_err(unreadable)?
    };
    let own_ops = changes
        .iter()
        .map(|c| {
            let start = c.start_op().get();
            (c.actor_id().to_hex_string(), start, start + c.len() as u64)
        })
        .collect();
    check_plans(&before, &after, who, &OwnOps(own_ops))?;

    // A register's rule holds where the submitter wrote it: "no known allergies" recorded
    // while the device saw no allergy is honest even if a colleague's allergy arrives
    // later (the plan shows that as a conflict), but not when written beside one.
    for (change, fields) in changes
        .iter()
        .zip(&touched_fields(doc.automerge(), changes))
    {
        let allergies = [Field::AllergyStatus, Field::Allergies]
            .iter()
            .any(|f| fields.1.contains(&Touched::Field(*f)));
        if !allergies || change.deps().is_empty() {
            continue;
        }
        let seen = doc.plan_at(change.deps()).map_err(unreadable)?;
        let made = doc.plan_at(&[change.hash()]).map_err(unreadable)?;
        if contradicts(&made) && !contradicts(&seen) {
            return Err(violation(
                Rule::Register,
                format!(
                    "change {} records no known allergies while allergies are listed",
                    change.hash()
                ),
            ));
        }
    }
    Ok(())
}

/// "No known allergies" standing beside a listed allergy.
fn contradicts(plan: &CarePlan) -> bool {
    plan.allergy_status
        .as_ref()
        .is_some_and(|s| s.status == AllergyStatus::NoKnownAllergies)
        && plan.active_allergies().next().is_some()
}

/// The operations a submission made, as (actor, first counter, end counter), so that a
/// value listed in a conflict can be told apart from one the plan already held.
#[derive(Debug, Default)]
pub struct OwnOps(Vec<(String, u64, u64)>);

impl OwnOps {
    /// Whether the op `id` (`counter@actor`) is one of the submission's; an id that is no
    /// op id counts as the submission's, so it is checked.
    fn made(&self, id: &str) -> bool {
        let Some((counter, actor)) = id.split_once('@') else {
            return true;
        };
        let Ok(counter) = counter.parse::<u64>() else {
            return true;
        };
        self.0
            .iter()
            .any(|(a, start, end)| a == actor && (*start..*end).contains(&counter))
    }
}

/// Checks what changed from `before` to `after`, both as the submitter saw the plan.
/// `own` names the operations the submission made (see [`OwnOps`]).
pub fn check_plans(
    before: &CarePlan,
    after: &CarePlan,
    who: &Submitter<'_>,
    own: &OwnOps,
) -> Result<(), Violation> {
    let b = serde_json::to_value(before).expect("a plan always serialises");
    let a = serde_json::to_value(after).expect("a plan always serialises");

    // Withdrawing the last allergy also withdraws "allergies recorded" (see the edit).
    let withdrawn_status = after
        .allergy_status
        .as_ref()
        .is_some_and(|s| s.status == AllergyStatus::NotRecorded);
    if before.enrolment.status == PlanStatus::Ended
        && ended_view(&b, withdrawn_status) != ended_view(&a, withdrawn_status)
    {
        return Err(violation(
            Rule::PlanEnded,
            "the plan has ended: it can be read and entries marked entered in error, nothing else",
        ));
    }

    let today = Date::from_unix_ms(who.now_ms.saturating_add(MAX_CLOCK_SKEW_MS));
    let mut known = HashSet::new();
    attributions(&b, &mut known);
    let mut walk = Walk {
        who,
        today,
        known,
        own,
    };
    walk.value(Some(&b), &a, "plan")?;

    identity(before, after)?;
    if before.baseline != after.baseline {
        crate::edit::checked_baseline(after.baseline.clone())
            .map_err(|e| violation(Rule::Plausibility, format!("baseline observations: {e}")))?;
    }
    completion(before, after, today)?;
    Ok(())
}

/// The records "plan complete" asks for, checked as their edits check them, and the
/// move to complete (by marking it, or by a review that keeps it so), allowed only when
/// nothing blocks it on the plan as the submitter left it.
fn completion(before: &CarePlan, after: &CarePlan, today: Date) -> Result<(), Violation> {
    use crate::edit::{checked_gp_meeting, checked_mental_health, checked_no_wider_action};
    fn changed<T: PartialEq + Clone>(
        before: &Option<T>,
        after: &Option<T>,
        what: &str,
        check: impl FnOnce(T) -> Result<T, crate::EditError>,
    ) -> Result<(), Violation> {
        match after {
            Some(record) if before.as_ref() != Some(record) => check(record.clone())
                .map(|_| ())
                .map_err(|e| violation(Rule::Plausibility, format!("{what}: {e}"))),
            _ => Ok(()),
        }
    }
    changed(
        &before.no_wider_action,
        &after.no_wider_action,
        "no wider action needed",
        checked_no_wider_action,
    )?;
    changed(
        &before.gp_meeting,
        &after.gp_meeting,
        "the meeting with the GP",
        |m| checked_gp_meeting(m, today),
    )?;
    changed(
        &before.mental_health_assessment,
        &after.mental_health_assessment,
        "the mental health assessment",
        |a| checked_mental_health(a, today),
    )?;

    let (b, a) = (&before.enrolment, &after.enrolment);
    let completes =
        a.status == PlanStatus::Complete && (b.status != a.status || b.completed != a.completed);
    let problems = after.completion_problems();
    if completes && !problems.is_empty() {
        return Err(violation(
            Rule::Completion,
            crate::EditError::NotReadyToComplete(problems).to_string(),
        ));
    }
    Ok(())
}

fn identity(before: &CarePlan, after: &CarePlan) -> Result<(), Violation> {
    let (b, a) = (&before.patient, &after.patient);
    if b.nhs_number != a.nhs_number {
        let parsed = NhsNumber::parse(&a.nhs_number)
            .map_err(|e| violation(Rule::Identity, format!("the NHS number is not valid: {e}")))?;
        if parsed.digits() != a.nhs_number {
            return Err(violation(
                Rule::Identity,
                format!(
                    "the NHS number must be stored as ten digits ({}), not {:?}",
                    parsed.digits(),
                    a.nhs_number
                ),
            ));
        }
    }
    if b.name != a.name && a.name.trim().is_empty() {
        return Err(violation(Rule::Identity, "the patient's name is required"));
    }
    Ok(())
}

/// The plan's JSON with what an ended plan may still change taken out.
fn ended_view(plan: &Value, without_allergy_status: bool) -> Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "entered_in_error")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let mut v = strip(plan);
    if let Value::Object(map) = &mut v {
        for derived in ["last_updated", "plan_version", "conflicts"] {
            map.remove(derived);
        }
        if without_allergy_status {
            map.remove("allergy_status");
        }
    }
    v
}

/// Root keys derived when the plan is read, never written as such.
const DERIVED: &[&str] = &["plan_version", "dnacpr"];

/// Dates that must not lie in the future, by the key they are stored under.
const PAST_DATES: &[&str] = &[
    "date_of_birth",
    "start_date",
    "consent_date",
    "decision_date",
    "observed_on",
    "date",
];

/// Dates that may lie either side of today.
const ANY_DATES: &[&str] = &["next_review_due"];

struct Walk<'a> {
    who: &'a Submitter<'a>,
    today: Date,
    /// Every attribution the plan held before, as (user, time).
    known: HashSet<(String, i64)>,
    own: &'a OwnOps,
}

/// Where derived conflicts are listed: their values repeat register values, including
/// those of other users, so only attributions never seen before are the submitter's.
const CONFLICTS: &str = "plan.conflicts";

impl Walk<'_> {
    /// Compares `after` with `before` (the value at the same place, if there was one).
    fn value(&mut self, before: Option<&Value>, after: &Value, at: &str) -> Result<(), Violation> {
        if before == Some(after) {
            return Ok(());
        }
        match after {
            Value::Object(map) if is_attribution(map) => self.attribution(map, at),
            Value::Object(map) => {
                let before = before.and_then(Value::as_object);
                if let Some(b) = before
                    && b.get("entered_in_error").is_some_and(|v| !v.is_null())
                    && map.get("entered_in_error").is_some_and(Value::is_null)
                {
                    return Err(violation(
                        Rule::EntryRemoved,
                        format!("{at} was marked entered in error; the mark cannot be taken back"),
                    ));
                }
                for (key, value) in map {
                    if at == "plan" && DERIVED.contains(&key.as_str()) {
                        continue;
                    }
                    let place = format!("{at}.{key}");
                    let old = before.and_then(|b| b.get(key));
                    if let Value::String(s) = value
                        && old != Some(value)
                    {
                        self.date(key, s, &place)?;
                    }
                    self.value(old, value, &place)?;
                }
                Ok(())
            }
            Value::Array(items) => self.list(before.and_then(Value::as_array), items, at),
            Value::String(s) if s.chars().count() > MAX_TEXT_CHARS => Err(violation(
                Rule::Plausibility,
                format!("{at} is longer than {MAX_TEXT_CHARS} characters"),
            )),
            _ => Ok(()),
        }
    }

    /// A list: entries are matched by id (or a conflict by its field), else by position.
    fn list(
        &mut self,
        before: Option<&Vec<Value>>,
        after: &[Value],
        at: &str,
    ) -> Result<(), Violation> {
        let before = before.map(Vec::as_slice).unwrap_or_default();
        let keys =
            |items: &[Value]| -> Option<Vec<String>> { items.iter().map(entry_key).collect() };
        let (Some(old), Some(new)) = (keys(before), keys(after)) else {
            for (i, item) in after.iter().enumerate() {
                self.value(before.get(i), item, &format!("{at}[{i}]"))?;
            }
            return Ok(());
        };
        let mut seen = HashSet::new();
        for key in &new {
            if !seen.insert(key) {
                return Err(violation(
                    Rule::Plausibility,
                    format!("{at} holds two entries with id {key:?}"),
                ));
            }
        }
        // Conflicts are derived and disappear when resolved: only entries must stay.
        if !at.starts_with(CONFLICTS)
            && let Some(gone) = old.iter().find(|k| !seen.contains(k))
        {
            return Err(violation(
                Rule::EntryRemoved,
                format!(
                    "{at} lost entry {gone:?}: entries are never removed, only marked entered in error"
                ),
            ));
        }
        for (key, item) in new.iter().zip(after) {
            // A conflict lists values the document already held, written by whoever
            // wrote them: only those this submission wrote are its to answer for.
            if at.ends_with("].values") && at.starts_with(CONFLICTS) && !self.own.made(key) {
                continue;
            }
            let previous = old.iter().position(|k| k == key).map(|i| &before[i]);
            if previous.is_none() && key.chars().count() > MAX_ID_CHARS {
                return Err(violation(
                    Rule::Plausibility,
                    format!("{at} entry id {key:?} is longer than {MAX_ID_CHARS} characters"),
                ));
            }
            self.value(previous, item, &format!("{at}[{key}]"))?;
        }
        Ok(())
    }

    fn attribution(&self, map: &Map<String, Value>, at: &str) -> Result<(), Violation> {
        let user = map
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let at_ms = map.get("at_ms").and_then(Value::as_i64).unwrap_or(i64::MIN);
        if at.starts_with(CONFLICTS) && self.known.contains(&(user.to_owned(), at_ms)) {
            return Ok(());
        }
        if user != self.who.user_id {
            return Err(violation(
                Rule::Attribution,
                format!(
                    "{at} names {user:?} as its author; a change may only be attributed to the user who submits it"
                ),
            ));
        }
        let now = self.who.now_ms;
        if at_ms > now.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(violation(
                Rule::Attribution,
                format!(
                    "{at} is dated in the future (more than ten minutes ahead of the server's clock)"
                ),
            ));
        }
        if at_ms < now.saturating_sub(MAX_UNSYNCED_AGE_MS) {
            return Err(violation(
                Rule::Attribution,
                format!("{at} is dated more than a year ago; a new change cannot be back-dated"),
            ));
        }
        Ok(())
    }

    fn date(&self, key: &str, value: &str, at: &str) -> Result<(), Violation> {
        let past = PAST_DATES.contains(&key);
        if value.is_empty() || !(past || ANY_DATES.contains(&key)) {
            return Ok(());
        }
        let Some(date) = Date::parse(value) else {
            return Err(violation(
                Rule::Plausibility,
                format!("{at} must be a date written YYYY-MM-DD, not {value:?}"),
            ));
        };
        if past && date > self.today {
            return Err(violation(
                Rule::Plausibility,
                format!("{at} cannot be in the future"),
            ));
        }
        Ok(())
    }
}

/// Every attribution anywhere in `value`, as (user, time).
fn attributions(value: &Value, out: &mut HashSet<(String, i64)>) {
    match value {
        Value::Object(map) if is_attribution(map) => {
            let user = map
                .get("user_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let at = map.get("at_ms").and_then(Value::as_i64).unwrap_or_default();
            out.insert((user.to_owned(), at));
        }
        Value::Object(map) => map.values().for_each(|v| attributions(v, out)),
        Value::Array(items) => items.iter().for_each(|v| attributions(v, out)),
        _ => {}
    }
}

/// An attribution (`{user_id, user_name, at_ms}`), wherever in the plan it appears.
fn is_attribution(map: &Map<String, Value>) -> bool {
    map.len() == 3
        && map.contains_key("user_id")
        && map.contains_key("user_name")
        && map.contains_key("at_ms")
}

/// What matches a list item before and after: its id, or a conflict's field.
fn entry_key(item: &Value) -> Option<String> {
    let map = item.as_object()?;
    ["id", "field"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
