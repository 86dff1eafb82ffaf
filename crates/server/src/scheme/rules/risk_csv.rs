//! The risk tool's CSV and the movement between uploads.

use super::*;

/// One accepted row of a risk-tool upload.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RiskRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub nhs_number: String,
    pub risk_score: f64,
    /// 1 (lowest) to 3 (highest); levels 2 and 3 are the top 5 % (section 3.4).
    pub risk_level: u8,
    pub as_of: String,
}

impl RiskRow {
    pub fn in_top_5_percent(&self) -> bool {
        self.risk_level >= 2
    }
}

/// A line of an upload that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub line: usize,
    pub message: String,
}

/// Who came into the top 5 % of the risk list and who left it, from one upload to the
/// next (section 3.4: the list is re-run quarterly).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Movement {
    /// NHS numbers in the top 5 % now and not before, in order.
    pub entered: Vec<String>,
    /// NHS numbers in the top 5 % before and not now (absent from the new list, or lower).
    pub left: Vec<String>,
}

pub fn movement(previous: &[RiskRow], latest: &[RiskRow]) -> Movement {
    let top = |rows: &[RiskRow]| -> std::collections::BTreeSet<String> {
        rows.iter()
            .filter(|r| r.in_top_5_percent())
            .map(|r| r.nhs_number.clone())
            .collect()
    };
    let (before, now) = (top(previous), top(latest));
    Movement {
        entered: now.difference(&before).cloned().collect(),
        left: before.difference(&now).cloned().collect(),
    }
}

/// The line (from 1) of the record starting at byte `at` of `text`. A record's position
/// in the csv crate can point at the end of the previous line (the `\n` of a `\r\n`, or a
/// blank line it skipped), so line ends there are passed over first.
fn line_at(text: &str, at: u64) -> usize {
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(text.len());
    let start = text[at..]
        .find(|c| c != '\r' && c != '\n')
        .map_or(text.len(), |skip| at + skip);
    text.as_bytes()[..start]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses the risk tool's CSV: a header naming `nhs_number`, `risk_score`, `risk_level`
/// and `as_of` (any order, any case), then one patient a line. Either every row is good
/// and all are returned, or every problem is returned line by line and nothing is kept.
pub fn parse_risk_csv(text: &str, today: Date) -> Result<Vec<RiskRow>, Vec<RowProblem>> {
    let mut problems = Vec::new();
    // The csv crate reads quoting and line endings; lines of nothing but blanks are
    // skipped, as spreadsheets leave them at the end.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines = reader.records().filter_map(|record| match record {
        Ok(r) if r.iter().all(str::is_empty) => None,
        Ok(r) => {
            let line = r.position().map_or(0, |p| line_at(text, p.byte()));
            Some(Ok((line, r)))
        }
        Err(e) => {
            let line = e.position().map_or(0, |p| line_at(text, p.byte()));
            Some(Err(RowProblem {
                line,
                message: format!("this line could not be read as CSV: {e}"),
            }))
        }
    });
    let (header_line, header) = match lines.next() {
        None => {
            return Err(vec![RowProblem {
                line: 1,
                message: "the file is empty".into(),
            }]);
        }
        Some(Err(problem)) => return Err(vec![problem]),
        Some(Ok(first)) => first,
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
                .replace([' ', '-'], "_")
        })
        .collect();
    let column = |want: &str| names.iter().position(|n| n == want);
    let (Some(c_nhs), Some(c_score), Some(c_level), Some(c_as_of)) = (
        column("nhs_number"),
        column("risk_score"),
        column("risk_level"),
        column("as_of"),
    ) else {
        return Err(vec![RowProblem {
            line: header_line,
            message: "the header must name nhs_number, risk_score, risk_level and as_of".into(),
        }]);
    };
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in lines {
        let (line, record) = match record {
            Ok(r) => r,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let cells: Vec<&str> = record.iter().collect();
        if cells.len() != names.len() {
            problems.push(RowProblem {
                line,
                message: format!("expected {} fields, found {}", names.len(), cells.len()),
            });
            continue;
        }
        let mut errs = Vec::new();
        let nhs = NhsNumber::parse(cells[c_nhs]);
        if nhs.is_err() {
            errs.push("the NHS number is not valid".to_owned());
        }
        let score = cells[c_score].parse::<f64>().ok().filter(|s| s.is_finite());
        if score.is_none() {
            errs.push("the risk score is not a number".to_owned());
        }
        let level = cells[c_level]
            .parse::<u8>()
            .ok()
            .filter(|l| (1..=3).contains(l));
        if level.is_none() {
            errs.push("the risk level must be 1, 2 or 3".to_owned());
        }
        let as_of = Date::parse(cells[c_as_of]);
        match as_of {
            None => errs.push("the as-of date must be YYYY-MM-DD".to_owned()),
            Some(d) if d > today => errs.push("the as-of date is in the future".to_owned()),
            Some(_) => {}
        }
        if let Ok(nhs) = &nhs
            && let Some(first) = seen.insert(nhs.digits(), line)
        {
            errs.push(format!("the NHS number is also on line {first}"));
        }
        if errs.is_empty() {
            rows.push(RiskRow {
                line,
                nhs_number: nhs.map(|n| n.digits()).unwrap_or_default(),
                risk_score: score.unwrap_or_default(),
                risk_level: level.unwrap_or_default(),
                as_of: cells[c_as_of].to_owned(),
            });
        } else {
            problems.push(RowProblem {
                line,
                message: errs.join("; "),
            });
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(RowProblem {
            line: header_line,
            message: "the file has a header but no rows".into(),
        });
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}
