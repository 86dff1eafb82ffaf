//! Calendar dates as the plan stores them (`YYYY-MM-DD`), with no clock: "today" comes in
//! from the caller as milliseconds since the Unix epoch.

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, rejecting impossible days such as 2023-02-29.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = &s[r];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        let (year, month, day) = (num(0..4)? as i32, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// The UTC calendar date of an instant given in milliseconds since the Unix epoch.
    pub fn from_unix_ms(ms: i64) -> Date {
        // Howard Hinnant's civil_from_days.
        let z = ms.div_euclid(86_400_000) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// The calendar date in the United Kingdom at an instant: GMT, or BST (UTC + 1 hour)
    /// from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
    /// October, the rule since 1996. What a practice calls "today".
    pub fn uk_from_unix_ms(ms: i64) -> Date {
        const DAY: i64 = 86_400_000;
        const HOUR: i64 = 3_600_000;
        let year = Date::from_unix_ms(ms).year;
        let last_sunday = |month: u32| {
            let last = Date {
                year,
                month,
                day: days_in_month(year, month),
            };
            // 1970-01-01 was a Thursday: day number 0 is weekday 4 counting from Sunday.
            let weekday = (last.day_number() + 4).rem_euclid(7);
            last.day_number() - weekday
        };
        let summer = last_sunday(3) * DAY + HOUR..last_sunday(10) * DAY + HOUR;
        let offset = if summer.contains(&ms) { HOUR } else { 0 };
        Date::from_unix_ms(ms + offset)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn day_number(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day `days` after this one (before it when negative).
    pub fn plus_days(self, days: i64) -> Date {
        Date::from_unix_ms((self.day_number() + days) * 86_400_000)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An instant as `YYYY-MM-DD HH:MM` (UTC), as printed on the summary.
pub(crate) fn format_instant(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!(
        "{} {:02}:{:02}",
        Date::from_unix_ms(ms),
        minutes / 60,
        minutes % 60
    )
}

impl Date {
    /// The same day `months` later, clamped to the end of a shorter month (31 Jan + 1 month
    /// is 28 or 29 Feb), as review intervals are counted.
    pub fn add_months(self, months: u32) -> Date {
        let total = self.year * 12 + (self.month as i32 - 1) + months as i32;
        let (year, month) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
        Date {
            year,
            month,
            day: self.day.min(days_in_month(year, month)),
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uk_date_follows_british_summer_time() {
        let at = |s: &str, hh: i64, mm: i64| {
            Date::parse(s).unwrap().day_number() * 86_400_000 + (hh * 60 + mm) * 60_000
        };
        let uk = |ms| Date::uk_from_unix_ms(ms).to_string();
        // Summer: 23:30 UTC is already tomorrow in London.
        assert_eq!(uk(at("2026-07-14", 23, 30)), "2026-07-15");
        assert_eq!(uk(at("2026-07-14", 22, 59)), "2026-07-14");
        // Winter: GMT is UTC.
        assert_eq!(uk(at("2026-12-03", 23, 30)), "2026-12-03");
        // 2026: BST from 01:00 UTC on Sunday 29 March to 01:00 UTC on Sunday 25 October.
        assert_eq!(uk(at("2026-03-29", 0, 59)), "2026-03-29");
        assert_eq!(uk(at("2026-03-28", 23, 30)), "2026-03-28");
        assert_eq!(uk(at("2026-10-24", 23, 30)), "2026-10-25");
        assert_eq!(uk(at("2026-10-25", 23, 30)), "2026-10-25");
        // 2027: 28 March to 31 October.
        assert_eq!(uk(at("2027-03-28", 23, 30)), "2027-03-29");
        assert_eq!(uk(at("2027-03-27", 23, 30)), "2027-03-27");
        assert_eq!(uk(at("2027-10-30", 23, 30)), "2027-10-31");
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(Date::parse("1938-02-28").unwrap().to_string(), "1938-02-28");
        assert!(Date::parse("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "23-01-01",
            "2023/01/01",
            "2023-1-01",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn converts_instants_to_utc_dates() {
        assert_eq!(Date::from_unix_ms(0).to_string(), "1970-01-01");
        // 2026-11-29T14:00:00Z
        assert_eq!(
            Date::from_unix_ms(1_795_960_800_000).to_string(),
            "2026-11-29"
        );
        assert_eq!(Date::from_unix_ms(-1).to_string(), "1969-12-31");
        assert_eq!(format_instant(1_795_960_800_000), "2026-11-29 14:00");
    }

    #[test]
    fn adds_months_clamping_to_the_month_end() {
        let d = |s| Date::parse(s).unwrap();
        assert_eq!(d("2026-01-31").add_months(1).to_string(), "2026-02-28");
        assert_eq!(d("2028-01-31").add_months(1).to_string(), "2028-02-29");
        assert_eq!(d("2026-11-29").add_months(4).to_string(), "2027-03-29");
        assert_eq!(d("2026-05-15").add_months(12).to_string(), "2027-05-15");
    }
}
