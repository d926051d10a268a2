//! [`TrialSearch`]: MIPROv2's trial loop (DSPy 3.4.1's
//! `_optimize_prompt_parameters`) as an LM-free component. It chooses one
//! instruction candidate and one demo set per predictor; the caller's
//! `evaluate` callback scores a choice on a batch of the validation set.
//!
//! # DSPy's schedule, reproduced
//!
//! Trials are numbered as DSPy numbers them (optuna's trial number + 1):
//!
//! 1. trial 1 scores the default program (instruction 0, demo set 0 for every
//!    predictor) on the full validation set; it is the first best;
//! 2. `num_trials` minibatch trials, each a TPE proposal scored on
//!    `minibatch_size` (35) examples drawn with `rng.sample(range(len(valset)),
//!    minibatch_size)` on DSPy's `random.Random` — here [`PyRandom`], so for
//!    the same generator state the indices are DSPy's;
//! 3. after a minibatch trial whose number is a multiple of
//!    `minibatch_full_eval_steps + 1` (every 5 minibatch trials) and after
//!    the last one, a full evaluation of the parameter set with the highest
//!    mean minibatch score that has not been fully evaluated yet (first seen
//!    wins ties); a higher full score than the best so far becomes the best.
//!
//! Every trial, full evaluations included, is told to the TPE as DSPy adds
//! them to the optuna study. With `minibatch(false)` each trial is scored on
//! the full set and the best is updated directly. [`TrialSearch::adjusted_num_trials`]
//! is DSPy's count of trials, full evaluations included, and
//! [`TrialSearch::estimated_eval_calls`] its cost estimate.
//!
//! # Several trials at once, deterministically
//!
//! `trial_concurrency(w)` lets up to `w` minibatch trials be in flight.
//! Proposals are always made in trial order, and what each one is based on
//! never depends on timing:
//!
//! - A trial with fewer than `n_startup_trials` (10) trials scheduled before
//!   it is drawn at random — in DSPy's sequential loop exactly those trials
//!   find fewer than 10 complete trials in the study, so they are optuna's
//!   random start. Such a draw needs no result, so it starts as soon as a
//!   slot is free.
//! - Any later minibatch trial `j` is a TPE proposal, made once every trial
//!   scheduled before minibatch trial `j + 1 − w` is complete. The TPE then
//!   sees exactly those trials as complete — told in trial order — and
//!   minibatch trials `j + 1 − w .. j` (and the default program, if it is
//!   among them) as pending, which it treats as worst (constant liar).
//!   Results that arrive earlier are held back.
//!
//! So the sequence of proposals, minibatches and full evaluations is a
//! function of (seed, generator state, `w`, scores). With `w = 1` every
//! trial also waits for all earlier ones: DSPy's sequential loop and request
//! order. With `w > 1` a TPE proposal sees up to `w − 1` fewer results than
//! the sequential run's and may start TPE with fewer than 10 complete trials;
//! the liar keeps pending points from being proposed again at once. On the
//! synthetic landscape of the tests (6 instructions × 6 demo sets, one pair
//! clearly best), the mean best full score over seeds 0..100 is, for DSPy
//! 3.4.1 + optuna 5.1 / one trial in flight / four: 59.9 / 60.1 / 63.2 at
//! 10 trials (MIPROv2 light), 79.0 / 77.9 / 78.3 at 15, 83.7 / 84.9 / 83.7 at
//! 20 — the same within seed noise (one seed moves a mean by 0.39).
//! Full evaluations run as soon as the trials they depend on are
//! recorded, alongside the minibatch trials in flight, and are not counted
//! in `w`.
//!
//! # Differences from DSPy
//!
//! - The TPE draws from a seeded ChaCha8 stream, not NumPy's, so the
//!   proposals after the random start are not optuna's (see
//!   [`super::tpe`]).
//! - When every parameter set tried has been fully evaluated, DSPy's
//!   `get_program_with_highest_avg_score` raises and the compile fails; here
//!   that full evaluation is skipped (its trial number is left unused).
//! - An `Err` from `evaluate` ends the search with that error; DSPy's
//!   `eval_candidate_program` turns any exception into a score of 0 — a
//!   caller wanting that maps its errors to `Ok(0.0)`.
//! - A budget: the `budget` callback is asked before every evaluation is
//!   started and after every completion; when it returns a reason, no new
//!   evaluation starts, the ones in flight are dropped (cancelled), and the
//!   best fully evaluated set so far is returned with the reason.
//!
//! The loop never spawns: evaluations are futures polled inside the
//! caller's task (so task-local LM scopes and usage tracking apply).

use std::collections::{HashMap, HashSet};
use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};
use kestrel_core::PyRandom;
use serde::Serialize;

use super::tpe::TpeSampler;
use crate::error::OptimizerError;

/// DSPy's `minibatch_size`.
pub const DEFAULT_MINIBATCH_SIZE: usize = 35;
/// DSPy's `minibatch_full_eval_steps`.
pub const DEFAULT_MINIBATCH_FULL_EVAL_STEPS: usize = 5;
/// MIPROv2's default `seed`.
pub const DEFAULT_MIPRO_SEED: i64 = 9;

/// The candidates one predictor can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PredictorSpace {
    /// Instruction candidates (candidate 0 is the original); at least 1.
    pub instructions: usize,
    /// Demo sets; 0 searches no demos for this predictor (zero-shot).
    pub demo_sets: usize,
}

/// The candidates chosen for one predictor in a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PredictorChoice {
    /// Index into the predictor's instruction candidates.
    pub instruction: usize,
    /// Index into its demo sets; `None` when demos are not searched.
    pub demos: Option<usize>,
}

/// Which examples of the validation set a trial is scored on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EvalBatch {
    /// Every example, in order.
    Full,
    /// These indices, in DSPy's draw order.
    Minibatch(Vec<usize>),
}

impl EvalBatch {
    /// The number of examples scored, for a validation set of `valset_size`.
    pub fn size(&self, valset_size: usize) -> usize {
        match self {
            Self::Full => valset_size,
            Self::Minibatch(indices) => indices.len(),
        }
    }
}

/// The role of a trial in DSPy's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TrialKind {
    /// Trial 1: the default program on the full set.
    Default,
    /// A TPE proposal on a minibatch (on the full set when minibatching is
    /// off or the minibatch covers the set).
    Minibatch,
    /// A full evaluation of the best-averaging unevaluated parameter set.
    Full,
}

/// What the `evaluate` callback is asked to score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialRequest {
    /// DSPy's trial number (1 is the default program).
    pub number: usize,
    /// The trial's role.
    pub kind: TrialKind,
    /// One choice per predictor, in predictor order.
    pub params: Vec<PredictorChoice>,
    /// The examples to score.
    pub batch: EvalBatch,
}

/// One complete trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialLog {
    /// DSPy's trial number.
    pub number: usize,
    /// The trial's role.
    pub kind: TrialKind,
    /// One choice per predictor.
    pub params: Vec<PredictorChoice>,
    /// The examples scored.
    pub batch: EvalBatch,
    /// The score `evaluate` returned.
    pub score: f64,
    /// Examples scored by this trial and every earlier one (DSPy's
    /// `total_eval_calls_so_far`).
    pub total_eval_calls_so_far: usize,
}

/// What the budget callback sees before each evaluation starts and after
/// each completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchProgress {
    /// Evaluations started (trials, full evaluations included).
    pub trials_started: usize,
    /// Evaluations complete.
    pub trials_done: usize,
    /// Examples in the evaluations started.
    pub eval_calls_started: usize,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchOutcome {
    /// The best fully evaluated parameter set (the default one until a full
    /// evaluation beats it).
    pub best_params: Vec<PredictorChoice>,
    /// Its full-set score; `None` if the search stopped before the default
    /// program was scored.
    pub best_score: Option<f64>,
    /// Complete trials in trial-number order.
    pub trials: Vec<TrialLog>,
    /// Why the search stopped early (the budget callback's reason), if it did.
    pub stopped: Option<String>,
    /// Examples scored by the recorded trials.
    pub total_eval_calls: usize,
}

/// One slot of DSPy's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Default,
    Minibatch(usize),
    Full,
}

/// MIPROv2's trial loop (DSPy's `_optimize_prompt_parameters`): trial 1
/// scores the default choice on the full set, then `num_trials` TPE
/// proposals are scored on minibatches, with a full evaluation of the best
/// averaging unevaluated choice every `minibatch_full_eval_steps` trials and
/// at the end; the best full score wins. `trial_concurrency(w)` runs up to
/// `w` minibatch trials at once with the same trials at any timing. See
/// `docs/OPTIMIZERS.md` ("MIPROv2's search") for the details and the
/// differences from DSPy.
#[derive(Debug, Clone)]
pub struct TrialSearch {
    space: Vec<PredictorSpace>,
    valset_size: usize,
    num_trials: usize,
    minibatch: bool,
    minibatch_size: usize,
    minibatch_full_eval_steps: usize,
    seed: i64,
    trial_concurrency: usize,
    python_rng: Option<PyRandom>,
}

impl TrialSearch {
    /// A search over `space` (one entry per predictor) with `num_trials`
    /// TPE trials, scoring on a validation set of `valset_size` examples;
    /// DSPy's defaults otherwise (minibatches of 35, a full evaluation every
    /// 5 trials, seed 9, one trial at a time).
    pub fn new(space: Vec<PredictorSpace>, valset_size: usize, num_trials: usize) -> Self {
        Self {
            space,
            valset_size,
            num_trials,
            minibatch: true,
            minibatch_size: DEFAULT_MINIBATCH_SIZE,
            minibatch_full_eval_steps: DEFAULT_MINIBATCH_FULL_EVAL_STEPS,
            seed: DEFAULT_MIPRO_SEED,
            trial_concurrency: 1,
            python_rng: None,
        }
    }

    /// Builder: score trials on minibatches (DSPy's `minibatch`, default on).
    pub fn minibatch(mut self, on: bool) -> Self {
        self.minibatch = on;
        self
    }

    /// Builder: examples per minibatch (DSPy's `minibatch_size`); at most the
    /// validation set's size.
    pub fn minibatch_size(mut self, n: usize) -> Self {
        self.minibatch_size = n;
        self
    }

    /// Builder: minibatch trials between full evaluations (DSPy's
    /// `minibatch_full_eval_steps`); at least 1.
    pub fn minibatch_full_eval_steps(mut self, n: usize) -> Self {
        self.minibatch_full_eval_steps = n;
        self
    }

    /// Builder: the TPE's seed (DSPy's `seed`), and the minibatch generator's
    /// unless [`Self::python_rng`] gives one.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = seed;
        self
    }

    /// Builder: the generator minibatches are drawn from. DSPy draws them from
    /// the optimizer's `random.Random(seed)` after demo bootstrapping and
    /// instruction proposal have used it; pass that generator here for
    /// DSPy's minibatches. Default: `PyRandom::new(seed)`.
    pub fn python_rng(mut self, rng: PyRandom) -> Self {
        self.python_rng = Some(rng);
        self
    }

    /// Builder: minibatch trials in flight at once (see the module docs);
    /// at least 1. 1 is DSPy's sequential loop.
    pub fn trial_concurrency(mut self, n: usize) -> Self {
        self.trial_concurrency = n;
        self
    }

    /// The number of TPE trials.
    pub fn get_num_trials(&self) -> usize {
        self.num_trials
    }

    /// DSPy's `adjusted_num_trials`: with minibatching, `num_trials` plus the
    /// default program, one full evaluation per `minibatch_full_eval_steps`
    /// trials and one at the end if the last step is partial.
    pub fn adjusted_num_trials(&self) -> usize {
        let (n, steps) = (self.num_trials, self.minibatch_full_eval_steps.max(1));
        if self.minibatch { n + n / steps + 1 + usize::from(n % steps != 0) } else { n }
    }

    /// DSPy's `_estimate_lm_calls` for the search: program runs
    /// (`minibatch_size · num_trials + len(valset) · (num_trials // steps + 1)`
    /// with minibatching, `len(valset) · num_trials` without).
    pub fn estimated_eval_calls(&self) -> usize {
        let (n, steps) = (self.num_trials, self.minibatch_full_eval_steps.max(1));
        if self.minibatch { self.minibatch_size * n + self.valset_size * (n / steps + 1) } else { self.valset_size * n }
    }

    fn check(&self) -> Result<(), OptimizerError> {
        let config = |msg: &str| Err(OptimizerError::Config(msg.to_string()));
        if self.space.is_empty() {
            return config("the program has no predictors to optimize");
        }
        if let Some(i) = self.space.iter().position(|p| p.instructions == 0) {
            return Err(OptimizerError::Config(format!("predictor {i} has no instruction candidates")));
        }
        if self.valset_size == 0 {
            return config("the validation set is empty");
        }
        if self.trial_concurrency == 0 {
            return config("trial_concurrency must be at least 1");
        }
        if self.minibatch {
            if self.minibatch_size == 0 {
                return config("minibatch_size must be at least 1");
            }
            if self.minibatch_size > self.valset_size {
                return Err(OptimizerError::Config(format!(
                    "Minibatch size cannot exceed the size of the valset. Valset size: {}.",
                    self.valset_size
                )));
            }
            if self.minibatch_full_eval_steps == 0 {
                return config("minibatch_full_eval_steps must be at least 1");
            }
        }
        Ok(())
    }

    /// DSPy's trial schedule, in trial-number order.
    fn schedule(&self) -> Vec<Slot> {
        let adjusted = self.adjusted_num_trials();
        let period = self.minibatch_full_eval_steps + 1;
        let mut slots = vec![Slot::Default];
        for j in 0..self.num_trials {
            slots.push(Slot::Minibatch(j));
            let number = slots.len();
            if self.minibatch && (number % period == 0 || number + 1 == adjusted) {
                slots.push(Slot::Full);
            }
        }
        slots
    }

    /// The TPE's parameters, flattened per predictor: instruction, then the
    /// demo set if searched (DSPy's `suggest_categorical` order).
    fn tpe_choices(&self) -> Vec<usize> {
        self.space
            .iter()
            .flat_map(|p| std::iter::once(p.instructions).chain((p.demo_sets > 0).then_some(p.demo_sets)))
            .collect()
    }

    fn to_choices(&self, flat: &[usize]) -> Vec<PredictorChoice> {
        let mut values = flat.iter().copied();
        self.space
            .iter()
            .map(|p| {
                let instruction = values.next().unwrap_or(0);
                let demos = if p.demo_sets > 0 { Some(values.next().unwrap_or(0)) } else { None };
                PredictorChoice { instruction, demos }
            })
            .collect()
    }

    fn to_flat(params: &[PredictorChoice]) -> Vec<usize> {
        params.iter().flat_map(|c| std::iter::once(c.instruction).chain(c.demos)).collect()
    }

    fn default_params(&self) -> Vec<PredictorChoice> {
        self.space.iter().map(|p| PredictorChoice { instruction: 0, demos: (p.demo_sets > 0).then_some(0) }).collect()
    }

    /// Runs the search. `evaluate` scores one trial; `budget` returns a
    /// reason to stop (see the module docs).
    pub async fn run<F, Fut, B>(&self, evaluate: F, mut budget: B) -> Result<SearchOutcome, OptimizerError>
    where
        F: Fn(TrialRequest) -> Fut,
        Fut: Future<Output = Result<f64, OptimizerError>>,
        B: FnMut(&SearchProgress) -> Option<String>,
    {
        self.check()?;
        let tpe_seed = u64::from_ne_bytes(self.seed.to_ne_bytes());
        let sampler = TpeSampler::new(self.tpe_choices(), tpe_seed)?;
        let rng = self.python_rng.clone().unwrap_or_else(|| PyRandom::new(self.seed));
        let mut state = State::new(self, sampler, rng);
        let mut in_flight = FuturesUnordered::new();
        let mut stopped = None;

        loop {
            state.record_ready();
            if state.recorded == state.slots.len() {
                break;
            }
            if let Some(reason) = budget(&state.progress) {
                stopped = Some(reason);
                break;
            }
            while let Some(request) = state.next_launch()? {
                if let Some(reason) = budget(&state.progress) {
                    stopped = Some(reason);
                    break;
                }
                let position = request.number - 1;
                state.progress.trials_started += 1;
                state.progress.eval_calls_started += request.batch.size(self.valset_size);
                state.launched[position] = true;
                if request.kind == TrialKind::Minibatch {
                    state.minibatch_in_flight += 1;
                }
                in_flight.push(tagged(position, evaluate(request)));
                state.record_ready();
            }
            if stopped.is_some() {
                break;
            }
            match in_flight.next().await {
                Some((position, result)) => {
                    state.scores[position] = Some(result?);
                    if matches!(state.slots[position], Slot::Minibatch(_)) {
                        state.minibatch_in_flight -= 1;
                    }
                    state.progress.trials_done += 1;
                }
                // Nothing in flight and nothing to launch: the schedule is
                // done (or every remaining slot was skipped).
                None if state.recorded >= state.slots.len() => break,
                None => {
                    state.record_ready();
                    if state.recorded >= state.slots.len() {
                        break;
                    }
                    return Err(OptimizerError::Config("the trial search stalled (no trial in flight)".into()));
                }
            }
        }
        drop(in_flight);
        Ok(state.finish(stopped))
    }
}

async fn tagged<Fut>(position: usize, future: Fut) -> (usize, Result<f64, OptimizerError>)
where
    Fut: Future<Output = Result<f64, OptimizerError>>,
{
    (position, future.await)
}

/// The loop's bookkeeping, by schedule position (trial number − 1).
struct State<'a> {
    search: &'a TrialSearch,
    slots: Vec<Slot>,
    /// Position of each minibatch trial.
    minibatch_positions: Vec<usize>,
    sampler: TpeSampler,
    rng: PyRandom,
    params: Vec<Option<Vec<PredictorChoice>>>,
    batches: Vec<Option<EvalBatch>>,
    launched: Vec<bool>,
    skipped: Vec<bool>,
    scores: Vec<Option<f64>>,
    /// Slots before this one are recorded (logs, best, means).
    recorded: usize,
    /// Slots before this one are told to the sampler.
    told: usize,
    next_minibatch: usize,
    minibatch_in_flight: usize,
    progress: SearchProgress,
    logs: Vec<TrialLog>,
    total_eval_calls: usize,
    best: (Vec<PredictorChoice>, Option<f64>),
    /// Minibatch scores per parameter set, in first-seen order.
    means: Vec<(Vec<PredictorChoice>, Vec<f64>)>,
    mean_index: HashMap<Vec<PredictorChoice>, usize>,
    fully_evaluated: HashSet<Vec<PredictorChoice>>,
}

impl<'a> State<'a> {
    fn new(search: &'a TrialSearch, sampler: TpeSampler, rng: PyRandom) -> Self {
        let slots = search.schedule();
        let n = slots.len();
        let minibatch_positions =
            slots.iter().enumerate().filter(|(_, s)| matches!(s, Slot::Minibatch(_))).map(|(i, _)| i).collect();
        let mut params = vec![None; n];
        params[0] = Some(search.default_params());
        Self {
            search,
            slots,
            minibatch_positions,
            sampler,
            rng,
            params,
            batches: vec![None; n],
            launched: vec![false; n],
            skipped: vec![false; n],
            scores: vec![None; n],
            recorded: 0,
            told: 0,
            next_minibatch: 0,
            minibatch_in_flight: 0,
            progress: SearchProgress { trials_started: 0, trials_done: 0, eval_calls_started: 0 },
            logs: Vec::new(),
            total_eval_calls: 0,
            best: (search.default_params(), None),
            means: Vec::new(),
            mean_index: HashMap::new(),
            fully_evaluated: HashSet::new(),
        }
    }

    /// The next evaluation that may start now, if any (its parameters and
    /// batch are decided here, in schedule order).
    fn next_launch(&mut self) -> Result<Option<TrialRequest>, OptimizerError> {
        // Trial 1, the default program.
        if !self.launched[0] {
            return Ok(Some(self.request(0)));
        }
        // A full evaluation, once every earlier trial is recorded.
        if self.recorded < self.slots.len()
            && self.slots[self.recorded] == Slot::Full
            && !self.launched[self.recorded]
            && !self.skipped[self.recorded]
        {
            let position = self.recorded;
            match self.best_unevaluated() {
                Some(params) => {
                    self.params[position] = Some(params);
                    self.batches[position] = Some(EvalBatch::Full);
                    return Ok(Some(self.request(position)));
                }
                None => {
                    self.skipped[position] = true;
                    self.record_ready();
                    return self.next_launch();
                }
            }
        }
        // The next minibatch trial.
        let j = self.next_minibatch;
        let Some(&position) = self.minibatch_positions.get(j) else { return Ok(None) };
        let window = self.search.trial_concurrency;
        if self.minibatch_in_flight >= window {
            return Ok(None);
        }
        // Sequential optuna draws at random while fewer than
        // `n_startup_trials` trials are complete, that is, for the trials with
        // fewer scheduled before them: such a draw needs no result, so it
        // waits only for a free slot (all earlier trials with one in flight:
        // DSPy's order).
        let random = position < self.sampler.get_n_startup_trials();
        let threshold = if window == 1 {
            position
        } else if random {
            0
        } else if j + 1 >= window {
            self.minibatch_positions[j + 1 - window]
        } else {
            0
        };
        if self.recorded < threshold {
            return Ok(None);
        }
        let flat = if random {
            self.sampler.sample_random()
        } else {
            // The TPE sees exactly the trials before `threshold` as complete
            // and the minibatch trials from there on as pending.
            while self.told < threshold {
                let t = self.told;
                if let (Some(params), Some(score)) = (&self.params[t], self.scores[t]) {
                    self.sampler.tell(TrialSearch::to_flat(params), score)?;
                }
                self.told += 1;
            }
            let pending: Vec<Vec<usize>> = (threshold..position)
                .filter(|&i| self.slots[i] != Slot::Full)
                .filter_map(|i| self.params[i].as_deref().map(TrialSearch::to_flat))
                .collect();
            self.sampler.sample_tpe(&pending)?
        };
        let batch = if self.search.minibatch && self.search.minibatch_size < self.search.valset_size {
            EvalBatch::Minibatch(self.rng.sample_indices(self.search.valset_size, self.search.minibatch_size))
        } else {
            EvalBatch::Full
        };
        self.params[position] = Some(self.search.to_choices(&flat));
        self.batches[position] = Some(batch);
        self.next_minibatch += 1;
        Ok(Some(self.request(position)))
    }

    fn request(&self, position: usize) -> TrialRequest {
        let kind = match self.slots[position] {
            Slot::Default => TrialKind::Default,
            Slot::Minibatch(_) => TrialKind::Minibatch,
            Slot::Full => TrialKind::Full,
        };
        TrialRequest {
            number: position + 1,
            kind,
            params: self.params[position].clone().unwrap_or_default(),
            batch: self.batches[position].clone().unwrap_or(EvalBatch::Full),
        }
    }

    /// DSPy's `get_program_with_highest_avg_score`: the highest mean
    /// minibatch score among sets not fully evaluated (first seen on ties).
    fn best_unevaluated(&self) -> Option<Vec<PredictorChoice>> {
        let mut best: Option<(f64, &Vec<PredictorChoice>)> = None;
        for (params, scores) in &self.means {
            if self.fully_evaluated.contains(params) {
                continue;
            }
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            if best.is_none_or(|(m, _)| mean > m) {
                best = Some((mean, params));
            }
        }
        best.map(|(_, params)| params.clone())
    }

    /// Records, in schedule order, every slot whose result is in.
    fn record_ready(&mut self) {
        while self.recorded < self.slots.len() {
            let position = self.recorded;
            if self.skipped[position] {
                self.recorded += 1;
                continue;
            }
            let (Some(score), Some(params)) = (self.scores[position], self.params[position].clone()) else { break };
            let batch = self.batches[position].clone().unwrap_or(EvalBatch::Full);
            self.total_eval_calls += batch.size(self.search.valset_size);
            let kind = self.slots[position];
            match kind {
                Slot::Default => self.best = (params.clone(), Some(score)),
                Slot::Minibatch(_) => {
                    let index = *self.mean_index.entry(params.clone()).or_insert_with(|| {
                        self.means.push((params.clone(), Vec::new()));
                        self.means.len() - 1
                    });
                    self.means[index].1.push(score);
                    if !self.search.minibatch {
                        self.improve(&params, score);
                    }
                }
                Slot::Full => {
                    self.fully_evaluated.insert(params.clone());
                    self.improve(&params, score);
                }
            }
            self.logs.push(TrialLog {
                number: position + 1,
                kind: self.request(position).kind,
                params,
                batch,
                score,
                total_eval_calls_so_far: self.total_eval_calls,
            });
            self.recorded += 1;
        }
    }

    fn improve(&mut self, params: &[PredictorChoice], score: f64) {
        if self.best.1.is_none_or(|best| score > best) {
            self.best = (params.to_vec(), Some(score));
        }
    }

    fn finish(self, stopped: Option<String>) -> SearchOutcome {
        SearchOutcome {
            best_params: self.best.0,
            best_score: self.best.1,
            trials: self.logs,
            stopped,
            total_eval_calls: self.total_eval_calls,
        }
    }
}
