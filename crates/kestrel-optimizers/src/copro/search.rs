//! COPRO's search loop (see the module docs of [`super`]): proposals,
//! concurrent scoring in candidate order, DSPy's replacement, best-choice
//! and de-duplication rules.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use kestrel_core::adapter::python_json_dumps;
use kestrel_core::text::is_python_space;
use kestrel_core::{Example, FieldSpec, SignatureSpec};
use kestrel_eval::Evaluate;
use kestrel_modules::{Module, ModuleExt, Predict, Predictor, Predictors, PredictorsExt};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::Copro;
use super::prompts::{self, PROPOSED_INSTRUCTION, PROPOSED_PREFIX};
use crate::budget_stop::{budget_stop, cut_by_budget, is_budget_stop};
use crate::error::OptimizerError;
use crate::instruction_report::{DepthStats, InstructionCandidate, ProposalFailure, StatsKind};
use crate::progress::Progress;
use crate::report::CompileReport;

/// A proposed (instruction, prefix) pair, as the prompt model wrote it.
#[derive(Debug, Clone)]
struct Proposal {
    instruction: String,
    prefix: String,
}

/// A scored candidate: the program with it in place, and where it came from.
#[derive(Debug, Clone)]
struct Evaluated<M> {
    key: (String, String),
    score: f64,
    program: M,
    depth: usize,
    predictor: usize,
}

pub(super) async fn run<M>(copro: &Copro, student: &M, devset: &[Example]) -> Result<(M, CompileReport), OptimizerError>
where
    M: Module + Clone + 'static,
{
    let mut report = CompileReport::new("COPRO");
    let paths = student.predictor_paths();
    if paths.is_empty() {
        return Err(OptimizerError::Config("the program has no predictors to optimize".into()));
    }
    let limiter = Arc::new(Semaphore::new(copro.concurrency.get()));
    let evaluate = Evaluate::new(devset.to_vec())
        .concurrency(copro.concurrency)?
        .limiter(Arc::clone(&limiter))
        .display_progress(false)
        .display_table(0);
    let evaluate = match copro.max_errors {
        Some(n) => evaluate.max_errors(n)?,
        None => evaluate.unlimited_errors(),
    };
    // Candidates of one predictor in one round are scored together, unless
    // one call at a time was asked for (DSPy's exact request order).
    let window = if copro.concurrency.get() == 1 { 1 } else { usize::MAX };

    // Round 0's proposals: `breadth - 1` new pairs plus the original.
    let basic = prompts::basic_generate_instruction()?;
    let originals: Vec<Proposal> = paths.iter().map(|path| current_proposal(student, path)).collect();
    let first_inputs: Vec<Example> =
        originals.iter().map(|o| Example::from_pairs([("basic_instruction", o.instruction.clone())])).collect();
    let first = stream::iter(first_inputs)
        .map(|inputs| propose(copro, &basic, inputs, copro.breadth - 1))
        .buffered(window)
        .collect::<Vec<_>>()
        .await;
    let mut all_candidates: Vec<Vec<Proposal>> = Vec::with_capacity(paths.len());
    for (i, (proposals, original)) in first.into_iter().zip(&originals).enumerate() {
        let mut list = match proposals {
            Ok(list) => list,
            Err(error) => {
                report.proposal_failures.push(ProposalFailure { predictor: paths[i].clone(), depth: 0, error });
                Vec::new()
            }
        };
        list.push(original.clone());
        all_candidates.push(list);
    }
    let mut latest_candidates = all_candidates.clone();

    let mut evaluated: Vec<Vec<Evaluated<M>>> = vec![Vec::new(); paths.len()];
    let mut module = student.clone();
    let attempts_signature = prompts::generate_instruction_given_attempts()?;
    let rounds_total = copro.depth.get() * copro.breadth * paths.len();
    let progress = Progress::new(rounds_total, copro.display_progress, "COPRO");
    let mut last_depth = 0;
    'search: for depth in 0..copro.depth.get() {
        last_depth = depth;
        for (p, path) in paths.iter().enumerate() {
            // With several predictors every candidate so far is re-scored
            // against the others' new choices (DSPy's rule).
            let candidates = if paths.len() > 1 { &all_candidates[p] } else { &latest_candidates[p] };
            let programs: Vec<((String, String), M)> = candidates
                .iter()
                .map(|c| {
                    let key = (strip_candidate(&c.instruction), strip_candidate(&c.prefix));
                    let program = with_candidate(&module, path, &key.0, &key.1);
                    program.map(|program| (key, program))
                })
                .collect::<Result<_, _>>()?;
            let scores = stream::iter(0..programs.len())
                .map(|i| {
                    let (evaluate, progress, program) = (&evaluate, &progress, &programs[i].1);
                    async move {
                        let result = evaluate.run(program, copro.metric.as_ref()).await;
                        progress.inc();
                        result
                    }
                })
                .buffered(window)
                .collect::<Vec<_>>()
                .await;
            let mut latest_scores = Vec::new();
            for (c, ((key, program), result)) in programs.into_iter().zip(scores).enumerate() {
                let result = result?;
                if let Some(why) = cut_by_budget(&result) {
                    // Cut short by a budget: not scored; the best so far stands.
                    report.stopped_early = Some(budget_stop(why, &format!("depth {depth}")));
                    break 'search;
                }
                let score = result.score;
                report.evaluations += 1;
                let entries = &mut evaluated[p];
                match entries.iter_mut().find(|e| e.key == key) {
                    // A repeat replaces the earlier entry only when it scores higher.
                    Some(entry) if entry.score >= score => {}
                    Some(entry) => *entry = Evaluated { key, score, program, depth, predictor: p },
                    None => entries.push(Evaluated { key, score, program, depth, predictor: p }),
                }
                if c + copro.breadth >= candidates.len() {
                    latest_scores.push(score);
                }
            }
            if copro.track_stats {
                report.depth_stats.extend(DepthStats::of(path, StatsKind::Latest, depth, &latest_scores));
            }
            // The best so far (the first of equal scores) stays in place
            // while the next predictors are scored.
            if let Some(best) = first_max(&evaluated[p]) {
                module = with_candidate(&module, path, &best.key.0, &best.key.1)?;
            }
        }
        progress.message(format!("depth {}/{}", depth + 1, copro.depth));
        if depth + 1 == copro.depth.get() {
            break;
        }

        let requests: Vec<Example> = paths
            .iter()
            .enumerate()
            .map(|(p, path)| {
                let sorted = sorted_desc(&evaluated[p]);
                if copro.track_stats {
                    let top: Vec<f64> = sorted.iter().take(10).map(|e| e.score).collect();
                    report.depth_stats.extend(DepthStats::of(path, StatsKind::Best, depth, &top));
                }
                Example::from_pairs([("attempted_instructions", Value::from(attempts(&sorted, copro.breadth)))])
            })
            .collect();
        let proposals = stream::iter(requests)
            .map(|inputs| propose(copro, &attempts_signature, inputs, copro.breadth))
            .buffered(window)
            .collect::<Vec<_>>()
            .await;
        for (p, proposals) in proposals.into_iter().enumerate() {
            match proposals {
                Ok(list) => {
                    all_candidates[p].extend(list.iter().cloned());
                    latest_candidates[p] = list;
                }
                Err(error) => {
                    report.proposal_failures.push(ProposalFailure {
                        predictor: paths[p].clone(),
                        depth: depth + 1,
                        error,
                    });
                    latest_candidates[p] = Vec::new();
                }
            }
        }
    }
    progress.finish();

    if copro.track_stats {
        for (p, path) in paths.iter().enumerate() {
            let top: Vec<f64> = sorted_desc(&evaluated[p]).iter().take(10).map(|e| e.score).collect();
            report.depth_stats.extend(DepthStats::of(path, StatsKind::Best, last_depth, &top));
        }
    }
    let all: Vec<Evaluated<M>> = evaluated.into_iter().flatten().collect();
    let ranked = drop_duplicates(sorted_desc(&all));
    report.instruction_candidates = ranked
        .iter()
        .map(|e| InstructionCandidate {
            predictor: paths[e.predictor].clone(),
            instruction: e.key.0.clone(),
            prefix: e.key.1.clone(),
            score: e.score,
            depth: e.depth,
        })
        .collect();
    if ranked.is_empty() && is_budget_stop(report.stopped_early.as_ref()) {
        // The budget ran out before any candidate was scored.
        return Ok((student.clone(), report));
    }
    let best = ranked.first().ok_or_else(|| OptimizerError::Config("COPRO scored no candidate".into()))?;
    Ok((best.program.clone(), report))
}

/// The predictor's current instruction and last-field prefix.
fn current_proposal<M: Predictors>(program: &M, path: &str) -> Proposal {
    let mut out = Proposal { instruction: String::new(), prefix: String::new() };
    program.visit_predictors("", &mut |p, predictor| {
        if p == path {
            let signature = predictor.signature();
            out.instruction = signature.instructions().to_string();
            out.prefix = signature.fields().last().map(|f| f.prefix.clone()).unwrap_or_default();
        }
    });
    out
}

/// A copy of `program` whose predictor at `path` has this instruction and
/// last-field prefix.
fn with_candidate<M: Predictors + Clone>(
    program: &M,
    path: &str,
    instruction: &str,
    prefix: &str,
) -> Result<M, OptimizerError> {
    let mut copy = program.clone();
    let mut outcome = Ok(());
    copy.visit_predictors_mut("", &mut |p, predictor: &mut dyn Predictor| {
        if p == path {
            let signature = updated_signature(predictor.signature(), instruction, prefix);
            outcome = predictor.set_signature(signature);
        }
    });
    outcome?;
    Ok(copy)
}

/// DSPy's `with_instructions(..).with_updated_fields(last_key, prefix=..)`.
fn updated_signature(signature: &SignatureSpec, instruction: &str, prefix: &str) -> SignatureSpec {
    let mut signature = signature.clone().with_instructions(instruction);
    let last = signature.fields().last().map(|f: &FieldSpec| f.name.clone());
    if let Some(field) = last.and_then(|name| signature.field_mut(&name)) {
        field.prefix = prefix.to_string();
    }
    signature
}

/// Python's `text.strip('"').strip()`.
fn strip_candidate(text: &str) -> String {
    text.trim_matches('"').trim_matches(is_python_space).to_string()
}

/// Ask the prompt model for `n` (instruction, prefix) pairs; an error is
/// returned as text for the report.
async fn propose(copro: &Copro, signature: &SignatureSpec, inputs: Example, n: usize) -> Result<Vec<Proposal>, String> {
    let n = u32::try_from(n).map_err(|_| format!("breadth {n} is too large"))?;
    let mut predict = Predict::with_spec(signature.clone()).n(n).temperature(copro.init_temperature);
    if let Some(lm) = &copro.prompt_model {
        predict = predict.lm(lm.clone());
    }
    let prediction = predict.call_example(&inputs).await.map_err(|e| e.to_string())?;
    let text = |fields: &kestrel_core::Fields, name: &str| match fields.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Ok(prediction
        .completions()
        .iter()
        .map(|c| Proposal { instruction: text(c, PROPOSED_INSTRUCTION), prefix: text(c, PROPOSED_PREFIX) })
        .collect())
}

/// DSPy's attempts list: the best `min(len, breadth)` candidates, worst
/// first, numbered from 1, scores printed as Python floats.
fn attempts<M>(sorted: &[&Evaluated<M>], breadth: usize) -> Vec<String> {
    let shortest = sorted.len().min(breadth);
    let mut out = Vec::with_capacity(3 * shortest);
    for i in (0..shortest).rev() {
        let e = sorted[i];
        let number = shortest - i;
        out.push(format!("Instruction #{number}: {}", e.key.0));
        out.push(format!("Prefix #{number}: {}", e.key.1));
        out.push(format!("Resulting Score #{number}: {}", python_json_dumps(&Value::from(e.score))));
    }
    out
}

/// Highest score first; equal scores keep their order (Python's stable sort
/// with `reverse=True`).
fn sorted_desc<M>(entries: &[Evaluated<M>]) -> Vec<&Evaluated<M>> {
    let mut sorted: Vec<&Evaluated<M>> = entries.iter().collect();
    sorted.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
    sorted
}

/// The first entry with the highest score (Python's `max`).
fn first_max<M>(entries: &[Evaluated<M>]) -> Option<&Evaluated<M>> {
    entries.iter().fold(None, |best: Option<&Evaluated<M>>, e| match best {
        Some(b) if b.score >= e.score => Some(b),
        _ => Some(e),
    })
}

/// DSPy's `_drop_duplicates` over candidates sorted by score: a candidate
/// whose program equals one of the same score seen just before it (same
/// instructions and last field in every predictor) is dropped.
fn drop_duplicates<M: Predictors>(sorted: Vec<&Evaluated<M>>) -> Vec<&Evaluated<M>> {
    let mut kept = Vec::new();
    let mut batch: Vec<&Evaluated<M>> = Vec::new();
    let mut batch_score = None;
    for candidate in sorted {
        let mut repeat = false;
        if batch_score == Some(candidate.score) {
            repeat = batch.iter().any(|other| same_prompts(&candidate.program, &other.program));
            if !repeat {
                batch.push(candidate);
            }
        } else {
            batch = vec![candidate];
            batch_score = Some(candidate.score);
        }
        if !repeat {
            kept.push(candidate);
        }
    }
    kept
}

/// Same instructions and last field in every predictor.
fn same_prompts<M: Predictors>(a: &M, b: &M) -> bool {
    let shape = |m: &M| {
        let mut out = Vec::new();
        m.visit_predictors("", &mut |_, p| {
            let s = p.signature();
            out.push((s.instructions().to_string(), s.fields().last().cloned()));
        });
        out
    };
    shape(a) == shape(b)
}
