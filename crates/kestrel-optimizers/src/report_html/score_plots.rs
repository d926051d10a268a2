//! The score plot of each optimizer's report: MIPROv2's trials (default
//! program, minibatch trials, full evaluations), COPRO's candidates by depth
//! (one series per predictor), random search's candidates by seed.

use super::plot::{Plot, Point};
use crate::CompileReport;
use crate::mipro::{MiproReport, TrialKind};

/// The plot for `report`, if it scored anything.
pub(crate) fn score_plot(report: &CompileReport) -> Option<Plot> {
    if let Some(mipro) = report.mipro.as_deref().filter(|m| !m.trials.is_empty()) {
        return Some(mipro_plot(mipro));
    }
    if !report.instruction_candidates.is_empty() {
        return Some(copro_plot(report));
    }
    if !report.candidates.is_empty() {
        return Some(seed_plot(report));
    }
    None
}

fn mipro_plot(mipro: &MiproReport) -> Plot {
    let series = |kind: TrialKind| match kind {
        TrialKind::Default => 0,
        TrialKind::Minibatch => 1,
        TrialKind::Full => 2,
    };
    let points = mipro
        .trials
        .iter()
        .map(|t| {
            let kind = match t.kind {
                TrialKind::Default => "default program, full valset",
                TrialKind::Minibatch => "minibatch",
                TrialKind::Full => "full evaluation",
            };
            let params: Vec<String> = t
                .params
                .iter()
                .map(|c| match c.demos {
                    Some(d) => format!("instruction {} / demos {d}", c.instruction),
                    None => format!("instruction {}", c.instruction),
                })
                .collect();
            Point {
                x: t.number as f64,
                y: t.score,
                series: series(t.kind),
                label: format!("trial {} ({kind}): {:.2} — {}", t.number, t.score, params.join(", ")),
                best: Some(t.number) == mipro.best_trial,
            }
        })
        .collect();
    Plot {
        x_label: "trial".into(),
        series: vec!["default program".into(), "minibatch".into(), "full evaluation".into()],
        points,
    }
}

fn copro_plot(report: &CompileReport) -> Plot {
    let mut series: Vec<String> = Vec::new();
    for c in &report.instruction_candidates {
        if !series.contains(&c.predictor) {
            series.push(c.predictor.clone());
        }
    }
    let mut points = Vec::new();
    let mut chosen: Vec<&str> = Vec::new();
    for (i, c) in report.instruction_candidates.iter().enumerate() {
        let s = series.iter().position(|p| *p == c.predictor).unwrap_or(0);
        // Spread the candidates of one depth across its column.
        let column: Vec<usize> = report
            .instruction_candidates
            .iter()
            .enumerate()
            .filter(|(_, o)| o.depth == c.depth)
            .map(|(j, _)| j)
            .collect();
        let k = column.iter().position(|&j| j == i).unwrap_or(0);
        let offset = if column.len() > 1 { (k as f64 / (column.len() - 1) as f64 - 0.5) * 0.6 } else { 0.0 };
        // Best first: the first candidate of each predictor is the chosen one.
        let best = !chosen.contains(&c.predictor.as_str());
        if best {
            chosen.push(&c.predictor);
        }
        points.push(Point {
            x: c.depth as f64 + offset,
            y: c.score,
            series: s,
            label: format!("{} depth {}: {:.2} — {}", c.predictor, c.depth, c.score, short(&c.instruction, 160)),
            best,
        });
    }
    Plot { x_label: "depth".into(), series, points }
}

fn seed_plot(report: &CompileReport) -> Plot {
    let points = report
        .candidates
        .iter()
        .map(|c| Point {
            x: c.seed as f64,
            y: c.score,
            series: 0,
            label: format!(
                "seed {} ({}): {:.2}, demos {:?}, {} LM calls",
                c.seed, c.kind, c.score, c.demos, c.lm_calls
            ),
            best: Some(c.seed) == report.best_seed,
        })
        .collect();
    Plot { x_label: "seed".into(), series: vec!["candidate".into()], points }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}
