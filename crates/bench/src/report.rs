//! Figures, their medians and ranges over runs, ratios against the reference and targets.

use std::fmt::Write as _;

use serde::Serialize;

/// How a figure is judged against the target.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub(crate) enum Target {
    /// Red Folder / reference, medians, at most this.
    RatioAtMost(f64),
    /// Red Folder's median at most this.
    AtMost(f64),
    /// Red Folder's median at least this.
    AtLeast(f64),
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figure {
    pub(crate) scenario: String,
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) redfolder: Vec<f64>,
    pub(crate) reference: Vec<f64>,
    pub(crate) target: Option<Target>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Summary {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

pub(crate) fn summary(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Some(Summary {
        median,
        min: v[0],
        max: v[v.len() - 1],
    })
}

/// Nearest-rank percentile (`p` in 0–100) of unsorted values.
pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

impl Figure {
    pub(crate) fn ratio(&self) -> Option<f64> {
        let rf = summary(&self.redfolder)?;
        let reference = summary(&self.reference)?;
        (reference.median != 0.0).then(|| rf.median / reference.median)
    }

    /// `Some(true)` when the target is met, `None` when it cannot be judged.
    pub(crate) fn met(&self) -> Option<bool> {
        let rf = summary(&self.redfolder)?;
        match self.target? {
            Target::RatioAtMost(max) => self.ratio().map(|r| r <= max),
            Target::AtMost(max) => Some(rf.median <= max),
            Target::AtLeast(min) => Some(rf.median >= min),
        }
    }
}

/// Every figure of one harness run, in the order first recorded.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) figures: Vec<Figure>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    fn figure(&mut self, scenario: &str, name: &str, unit: &str) -> &mut Figure {
        let at = self
            .figures
            .iter()
            .position(|f| f.scenario == scenario && f.name == name);
        let at = at.unwrap_or_else(|| {
            self.figures.push(Figure {
                scenario: scenario.to_owned(),
                name: name.to_owned(),
                unit: unit.to_owned(),
                redfolder: Vec::new(),
                reference: Vec::new(),
                target: None,
            });
            self.figures.len() - 1
        });
        &mut self.figures[at]
    }

    pub(crate) fn redfolder(&mut self, scenario: &str, name: &str, unit: &str, value: f64) {
        self.figure(scenario, name, unit).redfolder.push(value);
    }

    pub(crate) fn reference(&mut self, scenario: &str, name: &str, unit: &str, value: f64) {
        self.figure(scenario, name, unit).reference.push(value);
    }

    pub(crate) fn target(&mut self, scenario: &str, name: &str, unit: &str, target: Target) {
        self.figure(scenario, name, unit).target = Some(target);
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    /// A Markdown table: every figure as median [min–max] for both systems, the ratio of
    /// the medians and whether the target is met.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| scenario | figure | Red Folder median [min–max] | reference median [min–max] | RF / ref | target | met |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|\n");
        for f in &self.figures {
            let cell = |values: &[f64]| match summary(values) {
                Some(s) if values.len() > 1 => format!(
                    "{} [{}–{}] {}",
                    num(s.median),
                    num(s.min),
                    num(s.max),
                    f.unit
                ),
                Some(s) => format!("{} {} (1 run)", num(s.median), f.unit),
                None => "–".to_owned(),
            };
            let ratio = f.ratio().map_or("–".to_owned(), |r| format!("{r:.3}"));
            let target = match f.target {
                Some(Target::RatioAtMost(x)) => format!("ratio ≤ {x}"),
                Some(Target::AtMost(x)) => format!("≤ {} {}", num(x), f.unit),
                Some(Target::AtLeast(x)) => format!("≥ {} {}", num(x), f.unit),
                None => String::new(),
            };
            let met = match f.met() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.scenario,
                f.name,
                cell(&f.redfolder),
                cell(&f.reference),
                ratio,
                target,
                met
            );
        }
        out
    }
}

/// Three significant figures, without scientific notation for the sizes used here.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else if a >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_percentiles_and_ratios() {
        let s = summary(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(summary(&[1.0, 2.0, 3.0, 10.0]).unwrap().median, 2.5);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        let mut report = Report::default();
        for (rf, reference) in [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)] {
            report.redfolder("S1", "time", "s", rf);
            report.reference("S1", "time", "s", reference);
        }
        report.target("S1", "time", "s", Target::RatioAtMost(0.1));
        assert_eq!(report.figures[0].ratio(), Some(0.1));
        assert_eq!(report.figures[0].met(), Some(true));
        assert!(
            report
                .table()
                .contains("| S1 | time | 2.000 [1.000–3.000] s")
        );
    }
}
