//! The scheme's rules as pure functions: no clock, no database. Dates come in as
//! arguments; money is counted in whole pounds.
//!
//! Kept in the server until `crates/shared` gains a `scheme` module (the app will want the
//! review-due rule offline); nothing here depends on the server.

use std::collections::{BTreeMap, HashMap, HashSet};

use redfolder_shared::{CarePlan, CohortCategory, Date, NhsNumber, PlanStatus, ReviewOutcome};
use serde::Serialize;

/// Section 7 prices, in pounds.
pub const PRICE_NEW_FULL_PLAN: i64 = 110;
pub const PRICE_REVIEW: i64 = 30;
pub const PRICE_OVER_75_REVIEW: i64 = 50;
/// Activity not claimed within this many months is not paid (section 7).
pub const CLAIM_WINDOW_MONTHS: u32 = 3;
/// Full case management: the first 3 % and up to 5 % of the list (section 1).
pub const FIRST_TIER_PERCENT: u64 = 3;
pub const COHORT_PERCENT: u64 = 5;
/// MDT meetings a practice must hold per year, notice in days, patient list notice in days.
pub const MDT_MEETINGS_PER_YEAR: usize = 10;
pub const MDT_NOTICE_DAYS: i64 = 28;
pub const MDT_PATIENT_NOTICE_DAYS: i64 = 7;

mod categories;
mod cohort;
mod discharge;
mod facts;
mod mdt;
mod over75;
mod returns;
mod reviews;
mod risk_csv;

pub use categories::*;
pub use cohort::*;
pub use discharge::*;
pub use facts::*;
pub use mdt::*;
pub use over75::*;
pub use returns::*;
pub use reviews::*;
pub use risk_csv::*;

#[cfg(test)]
mod tests;
