//! The sections of the HTML report: the summary, the prompts (original
//! beside compiled, word changes marked), the scored candidates and the cost
//! by phase. Every text that came from a program, a dataset or an LM is
//! escaped.

use std::fmt::Write;

use kestrel_lm::usage::ModelUsage;
use kestrel_modules::{PredictorState, Predictors, PredictorsExt};

use super::escape;
use super::score_plots::short;
use super::word_diff::{Change, diff_words};
use crate::CompileReport;
use crate::gepa::GepaReport;
use crate::mipro::MiproReport;

/// The summary list under the title.
pub(crate) fn summary(report: &CompileReport) -> String {
    let u = &report.usage.total;
    let mut items = vec![
        ("wall time", format!("{:.2} s", report.elapsed.as_secs_f64())),
        ("LM calls", format!("{} ({} cached)", u.calls, u.cache_hits)),
        ("tokens", format!("{} prompt + {} completion", u.prompt_tokens, u.completion_tokens)),
        ("cost", format!("${:.4}", u.cost_usd)),
    ];
    let best = report
        .mipro
        .as_deref()
        .and_then(|m| m.best_score)
        .or_else(|| report.best_score())
        .or_else(|| report.instruction_candidates.first().map(|c| c.score))
        .or_else(|| report.gepa.as_deref().and_then(|g| g.candidates.get(g.best_idx)).map(|c| c.val_score));
    if let Some(score) = best {
        items.push(("best score", format!("{score:.2}")));
    }
    if report.evaluations > 0 {
        items.push(("candidate evaluations", report.evaluations.to_string()));
    }
    if report.teacher_runs > 0 {
        // A search's bootstraps are its children's.
        let bootstrapped = if report.children.is_empty() {
            report.bootstrapped
        } else {
            report.children.iter().map(|c| c.bootstrapped).sum()
        };
        items.push((
            "teacher runs",
            format!("{} ({} speculative), {bootstrapped} bootstrapped", report.teacher_runs, report.speculative_runs),
        ));
    }
    if !report.skipped.is_empty() {
        items.push(("skipped examples", report.skipped.len().to_string()));
    }
    items.push(("stopped early", report.stopped_early.as_ref().map_or_else(|| "no".to_string(), ToString::to_string)));
    let mut out = String::from(r#"<dl class="summary">"#);
    for (k, v) in items {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    out.push_str("</dl>");
    out
}

/// The last output field's prefix (what COPRO rewrites beside the
/// instruction).
fn last_prefix(state: &PredictorState) -> String {
    state.signature.output_fields().last().map(|f| f.prefix.clone()).unwrap_or_default()
}

/// `old` with removals marked, and `new` with additions marked.
fn diff_sides(old: &str, new: &str) -> (String, String) {
    let (mut left, mut right) = (String::new(), String::new());
    for change in diff_words(old, new) {
        match change {
            Change::Same(t) => {
                left.push_str(&escape(&t));
                right.push_str(&escape(&t));
            }
            Change::Removed(t) => {
                let _ = write!(left, "<del>{}</del>", escape(&t));
            }
            Change::Added(t) => {
                let _ = write!(right, "<ins>{}</ins>", escape(&t));
            }
        }
    }
    (left, right)
}

/// Per predictor: the original instruction, output prefix and demo count
/// beside the compiled program's, with word changes marked.
pub(crate) fn prompts(original: &dyn Predictors, compiled: &dyn Predictors) -> String {
    let before = original.predictor_states();
    let after = compiled.predictor_states();
    if after.is_empty() {
        return "<p>The program has no predictors.</p>".into();
    }
    let mut out = String::new();
    for (path, new) in &after {
        let old = before.iter().find(|(p, _)| p == path).map(|(_, s)| s);
        let _ = write!(out, "<h3>{}</h3>", escape(path));
        let Some(old) = old else {
            let _ = write!(
                out,
                r#"<p class="note">Not in the original program.</p><div class="prompt">{}</div>"#,
                escape(new.signature.instructions())
            );
            continue;
        };
        let (left, right) = diff_sides(old.signature.instructions(), new.signature.instructions());
        let (prefix_left, prefix_right) = diff_sides(&last_prefix(old), &last_prefix(new));
        let changed = if old.signature.instructions() == new.signature.instructions() {
            r#"<span class="unchanged">instruction unchanged</span>"#
        } else {
            r#"<span class="changed">instruction changed</span>"#
        };
        let _ = write!(
            out,
            r#"<table class="prompts"><thead><tr><th></th><th>original</th><th>compiled {changed}</th></tr></thead><tbody>
<tr><th>instruction</th><td><div class="prompt">{left}</div></td><td><div class="prompt">{right}</div></td></tr>
<tr><th>output prefix</th><td><code>{prefix_left}</code></td><td><code>{prefix_right}</code></td></tr>
<tr><th>demos</th><td class="num">{}</td><td class="num">{}</td></tr>
</tbody></table>"#,
            old.demos.len(),
            new.demos.len()
        );
    }
    out
}

/// Tables of the scored candidates (MIPROv2's instructions and demo sets,
/// COPRO's instructions, random search's seeds); empty when none.
pub(crate) fn candidates(report: &CompileReport) -> String {
    let mut out = String::new();
    if let Some(mipro) = report.mipro.as_deref() {
        mipro_candidates(&mut out, mipro);
    }
    if let Some(gepa) = report.gepa.as_deref() {
        gepa_candidates(&mut out, gepa);
    }
    if !report.instruction_candidates.is_empty() {
        out.push_str(
            r#"<table class="data"><thead><tr><th>predictor</th><th>depth</th><th>score</th><th>instruction</th><th>output prefix</th></tr></thead><tbody>"#,
        );
        let mut chosen: Vec<&str> = Vec::new();
        for c in &report.instruction_candidates {
            let best = !chosen.contains(&c.predictor.as_str());
            if best {
                chosen.push(&c.predictor);
            }
            let _ = write!(
                out,
                r#"<tr{}><td>{}</td><td class="num">{}</td><td class="num">{:.2}</td><td>{}</td><td><code>{}</code></td></tr>"#,
                if best { r#" class="won""# } else { "" },
                escape(&c.predictor),
                c.depth,
                c.score,
                escape(&c.instruction),
                escape(&c.prefix)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !report.candidates.is_empty() {
        out.push_str(
            r#"<table class="data"><thead><tr><th>seed</th><th>kind</th><th>score</th><th>demos per predictor</th><th>LM calls</th></tr></thead><tbody>"#,
        );
        for c in &report.candidates {
            let demos: Vec<String> = c.demos.iter().map(ToString::to_string).collect();
            let _ = write!(
                out,
                r#"<tr{}><td class="num">{}</td><td>{}</td><td class="num">{:.2}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                if Some(c.seed) == report.best_seed { r#" class="won""# } else { "" },
                c.seed,
                c.kind,
                c.score,
                demos.join(", "),
                c.lm_calls
            );
        }
        out.push_str("</tbody></table>");
    }
    out
}

/// GEPA's candidate tree as a table: one row per accepted candidate with
/// its parents, origin, changed predictors, minibatch sums and validation
/// average; the chosen one is green.
fn gepa_candidates(out: &mut String, gepa: &GepaReport) {
    out.push_str(
        r#"<h3>GEPA candidates</h3><table class="data"><thead><tr><th>#</th><th>parents</th><th>origin</th><th>iteration</th><th>changed</th><th>minibatch before → after</th><th>val score</th><th>metric calls at discovery</th><th>instructions</th></tr></thead><tbody>"#,
    );
    for c in &gepa.candidates {
        let parents: Vec<String> = c.parents.iter().map(|p| format!("#{p}")).collect();
        let minibatch = match (c.minibatch_before, c.minibatch_after) {
            (Some(b), Some(a)) => format!("{b} → {a}"),
            _ => "–".to_string(),
        };
        let instructions: Vec<String> =
            c.instructions.iter().map(|(path, text)| format!("{}: {}", escape(path), escape(text))).collect();
        let _ = write!(
            out,
            r#"<tr{}><td class="num">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{:.4}</td><td class="num">{}</td><td>{}</td></tr>"#,
            if c.index == gepa.best_idx { r#" class="won""# } else { "" },
            c.index,
            escape(&parents.join(" + ")),
            c.origin.as_str(),
            c.iteration,
            escape(&c.changed.join(", ")),
            escape(&minibatch),
            c.val_score,
            c.discovered_at_metric_calls,
            instructions.join("<br>")
        );
    }
    out.push_str("</tbody></table>");
    if !gepa.rejected.is_empty() {
        let _ = write!(
            out,
            "<p>{} proposals were scored on their minibatch and rejected (not strictly better than the parent).</p>",
            gepa.rejected.len()
        );
    }
}

fn average(score: Option<f64>) -> String {
    score.map_or_else(|| "–".to_string(), |s| format!("{s:.2}"))
}

fn mipro_candidates(out: &mut String, mipro: &MiproReport) {
    for (p, path) in mipro.predictors.iter().enumerate() {
        let choice = mipro.best_params.get(p);
        if let Some(list) = mipro.instruction_candidates.get(p).filter(|l| !l.is_empty()) {
            let _ = write!(
                out,
                r#"<h3>{} — instruction candidates</h3><table class="data"><thead><tr><th>#</th><th>mean minibatch score</th><th>trials</th><th>instruction</th></tr></thead><tbody>"#,
                escape(path)
            );
            for c in list {
                let won = choice.is_some_and(|ch| ch.instruction == c.index);
                let _ = write!(
                    out,
                    r#"<tr{}><td class="num">{}{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                    if won { r#" class="won""# } else { "" },
                    c.index,
                    if c.index == 0 { " (original)" } else { "" },
                    average(c.average_score),
                    c.trials,
                    escape(&c.instruction)
                );
            }
            out.push_str("</tbody></table>");
        }
        if let Some(list) = mipro.demo_set_candidates.get(p).filter(|l| !l.is_empty()) {
            let _ = write!(
                out,
                r#"<h3>{} — demo sets</h3><table class="data"><thead><tr><th>#</th><th>seed</th><th>kind</th><th>demos</th><th>mean minibatch score</th><th>trials</th><th>first demo</th></tr></thead><tbody>"#,
                escape(path)
            );
            for d in list {
                let won = choice.is_some_and(|ch| ch.demos == Some(d.index));
                let first = d.demos.first().map(|e| serde_json::to_string(e.fields()).unwrap_or_default());
                let _ = write!(
                    out,
                    r#"<tr{}><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td><code>{}</code></td></tr>"#,
                    if won { r#" class="won""# } else { "" },
                    d.index,
                    d.seed,
                    d.kind,
                    d.demos.len(),
                    average(d.average_score),
                    d.trials,
                    escape(&short(first.as_deref().unwrap_or(""), 200))
                );
            }
            out.push_str("</tbody></table>");
        }
    }
}

fn usage_row(out: &mut String, name: &str, u: &ModelUsage, seconds: f64, class: &str) {
    let _ = write!(
        out,
        r#"<tr{class}><th>{}</th><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">${:.4}</td><td class="num">{seconds:.2} s</td></tr>"#,
        escape(name),
        u.calls,
        u.cache_hits,
        u.prompt_tokens,
        u.completion_tokens,
        u.cost_usd
    );
}

/// LM calls, cache hits, tokens, cost and wall time by phase (MIPROv2's
/// measured phases, when present), then the whole compile; MIPROv2's
/// estimate below.
pub(crate) fn cost(report: &CompileReport) -> String {
    let mut out = String::from(
        r#"<table class="data cost"><thead><tr><th>phase</th><th>LM calls</th><th>cache hits</th><th>prompt tokens</th><th>completion tokens</th><th>cost</th><th>wall time</th></tr></thead><tbody>"#,
    );
    if let Some(mipro) = report.mipro.as_deref() {
        for phase in &mipro.phases {
            usage_row(&mut out, &phase.phase, &phase.usage, phase.elapsed.as_secs_f64(), "");
        }
    }
    usage_row(&mut out, "whole compile", &report.usage.total, report.elapsed.as_secs_f64(), r#" class="total""#);
    out.push_str("</tbody></table>");
    if let Some(mipro) = report.mipro.as_deref() {
        let e = &mipro.estimate;
        let _ = write!(
            out,
            r#"<p class="note">Estimated before the compile (DSPy's formula): up to {} teacher program runs for {} bootstrapped demo sets, {} prompt-model calls, {} program runs in {} trials and {} full evaluations.</p>"#,
            e.demo_bootstrap_program_calls,
            e.bootstrapped_sets,
            e.prompt_model_calls,
            e.trial_program_calls,
            e.num_trials,
            e.full_evals
        );
    }
    out
}
