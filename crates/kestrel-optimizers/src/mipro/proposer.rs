//! [`GroundedProposer`]: MIPROv2's instruction proposer (DSPy 3.4.1's
//! `GroundedProposer`, built and called as `MIPROv2._propose_instructions`
//! does). See the module docs of [`super`] for the steps.

use futures::future::{self, FutureExt};
use futures::stream::{self, StreamExt};
use kestrel_core::{Example, PyRandom, SignatureSpec};
use kestrel_lm::{CallConfig, SharedLm};
use kestrel_modules::Predictors;

use super::ask::{ask, inputs};
use super::dataset_summary::{SummaryOutcome, create_dataset_summary};
use super::program_code::{default_program_code, module_line};
use super::proposer_prompts::{self, GenerateFields};
use super::strip_prefix::strip_prefix;
use super::task_demos::task_demos;
use super::tips::draw_tip;
use crate::error::OptimizerError;

/// DSPy's default `view_data_batch_size` (MIPROv2's).
pub const DEFAULT_VIEW_DATA_BATCH_SIZE: usize = 10;
/// Augmented demos shown per proposal (MIPROv2's
/// `BOOTSTRAPPED_FEWSHOT_EXAMPLES_IN_CONTEXT`).
pub const DEFAULT_NUM_DEMOS_IN_CONTEXT: usize = 3;
/// DSPy's default `init_temperature` of the proposal calls.
pub const DEFAULT_PROPOSER_TEMPERATURE: f32 = 1.0;
/// Prompt-model calls in flight by default.
pub const DEFAULT_PROPOSER_CONCURRENCY: usize = 16;

/// MIPROv2's grounded instruction proposer.
///
/// Defaults are the values MIPROv2 passes (all proposal aids on, tips drawn
/// at random, no instruction history, batches of 10 examples for the
/// dataset summary, 3 demos in context, temperature 1.0).
#[derive(Clone)]
pub struct GroundedProposer {
    prompt_model: Option<SharedLm>,
    view_data_batch_size: usize,
    use_dataset_summary: bool,
    program_aware: bool,
    use_task_demos: bool,
    num_demos_in_context: usize,
    use_tip: bool,
    init_temperature: f32,
    program_code: Option<String>,
    concurrency: usize,
}

impl std::fmt::Debug for GroundedProposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroundedProposer")
            .field("prompt_model", &self.prompt_model.as_ref().map(SharedLm::model))
            .field("view_data_batch_size", &self.view_data_batch_size)
            .field("use_dataset_summary", &self.use_dataset_summary)
            .field("program_aware", &self.program_aware)
            .field("use_task_demos", &self.use_task_demos)
            .field("num_demos_in_context", &self.num_demos_in_context)
            .field("use_tip", &self.use_tip)
            .field("init_temperature", &self.init_temperature)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Default for GroundedProposer {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`GroundedProposer::propose_instructions`] returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InstructionProposals {
    /// Per predictor (in predictor order), the proposed instructions, one
    /// per demo set, as DSPy returns them. MIPROv2 then puts the original
    /// instruction at index 0.
    pub instructions: Vec<Vec<String>>,
    /// The dataset summary the proposals saw (`None`: off, or it failed).
    pub data_summary: Option<String>,
    /// The `program_code` sent (`None` when the proposer is not program
    /// aware).
    pub program_code: Option<String>,
    /// The draws made on the caller's generator, in order (one per
    /// proposal).
    pub draws: Vec<ProposalDraw>,
    /// Steps that failed and were skipped, as DSPy skips them: the dataset
    /// summary, later summary batches, a program or module description.
    pub notes: Vec<String>,
}

/// The random choices of one proposal, drawn in DSPy's order: the tip
/// (`rng.choice` over the tip keys, when tips are on), then the LM copy's
/// `rollout_id` (`rng.randint(0, 10**9)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalDraw {
    /// Predictor index.
    pub predictor: usize,
    /// Demo set index.
    pub demo_set: usize,
    /// The tip's key ([`super::TIPS`]), when tips are on.
    pub tip: Option<&'static str>,
    /// The rollout id of the proposal's calls.
    pub rollout_id: u64,
}

/// One proposal to make: its draws, and the texts that do not depend on
/// the dataset summary.
struct Job {
    draw: ProposalDraw,
    tip_text: &'static str,
    signature: SignatureSpec,
    task_demos: String,
}

/// The text fields of one proposal computed before the instruction call.
struct Described {
    program_description: String,
    module: String,
    module_description: String,
    notes: Vec<String>,
}

impl GroundedProposer {
    /// MIPROv2's settings (see the type docs); the LM in scope proposes.
    pub fn new() -> Self {
        Self {
            prompt_model: None,
            view_data_batch_size: DEFAULT_VIEW_DATA_BATCH_SIZE,
            use_dataset_summary: true,
            program_aware: true,
            use_task_demos: true,
            num_demos_in_context: DEFAULT_NUM_DEMOS_IN_CONTEXT,
            use_tip: true,
            init_temperature: DEFAULT_PROPOSER_TEMPERATURE,
            program_code: None,
            concurrency: DEFAULT_PROPOSER_CONCURRENCY,
        }
    }

    /// Builder: the LM that writes summaries, descriptions and instructions
    /// (DSPy's `prompt_model`); by default the LM in scope.
    pub fn prompt_model(mut self, lm: impl Into<SharedLm>) -> Self {
        self.prompt_model = Some(lm.into());
        self
    }

    /// Builder: examples per dataset-summary call (at least 1).
    pub fn view_data_batch_size(mut self, n: usize) -> Self {
        self.view_data_batch_size = n;
        self
    }

    /// Builder: summarize the trainset and show the summary to every
    /// proposal (MIPROv2's `data_aware_proposer`).
    pub fn use_dataset_summary(mut self, on: bool) -> Self {
        self.use_dataset_summary = on;
        self
    }

    /// Builder: describe the program and the module to every proposal
    /// (MIPROv2's `program_aware_proposer`).
    pub fn program_aware(mut self, on: bool) -> Self {
        self.program_aware = on;
        self
    }

    /// Builder: show bootstrapped demos to the proposals (MIPROv2's
    /// `fewshot_aware_proposer`).
    pub fn use_task_demos(mut self, on: bool) -> Self {
        self.use_task_demos = on;
        self
    }

    /// Builder: augmented demos shown per proposal.
    pub fn num_demos_in_context(mut self, n: usize) -> Self {
        self.num_demos_in_context = n;
        self
    }

    /// Builder: draw a random prompting tip for every proposal (MIPROv2's
    /// `tip_aware_proposer`, which it passes as both DSPy's `use_tip` and
    /// `set_tip_randomly`).
    pub fn use_tip(mut self, on: bool) -> Self {
        self.use_tip = on;
        self
    }

    /// Builder: temperature of the proposals' LM copies (DSPy's
    /// `init_temperature`).
    pub fn init_temperature(mut self, temperature: f32) -> Self {
        self.init_temperature = temperature;
        self
    }

    /// Builder: the exact text sent as `program_code`. DSPy sends the
    /// program's Python source; by default it is generated from the
    /// program's structure (see [`default_program_code`]).
    pub fn program_code(mut self, code: impl Into<String>) -> Self {
        self.program_code = Some(code.into());
        self
    }

    /// Builder: proposals in flight at once (each is three calls in a row);
    /// 1 makes every call in DSPy's order.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// The `program_code` value set with [`Self::program_code`], if any.
    pub fn get_program_code(&self) -> Option<&str> {
        self.program_code.as_deref()
    }

    fn check(&self) -> Result<(), OptimizerError> {
        if self.view_data_batch_size == 0 {
            return Err(OptimizerError::Config("the proposer's view_data_batch_size must be at least 1".into()));
        }
        if self.concurrency == 0 {
            return Err(OptimizerError::Config("the proposer's concurrency must be at least 1".into()));
        }
        Ok(())
    }

    /// The dataset summary alone (DatasetDescriptor batches, then
    /// ObservationSummarizer), as text; an error when the first or the last
    /// call fails.
    pub async fn dataset_summary(&self, trainset: &[Example]) -> Result<String, OptimizerError> {
        self.check()?;
        let outcome = create_dataset_summary(trainset, self.view_data_batch_size, self.prompt_model.as_ref()).await?;
        Ok(outcome.summary?)
    }

    /// Propose instructions for every predictor of `program`: DSPy's
    /// `propose_instructions_for_program(trainset, program, demo_candidates,
    /// trial_logs={}, N=num_candidates)`.
    ///
    /// `demo_candidates[i]` are predictor `i`'s demo sets (empty: none, as
    /// in zero-shot MIPROv2). Each predictor gets `min(N, number of sets)`
    /// proposals (`N` without sets), one per demo set. `rng` is the
    /// optimizer's generator: every draw is made first, in DSPy's order,
    /// then the calls run, `concurrency` proposals at a time, the dataset
    /// summary alongside; the result does not depend on the concurrency.
    pub async fn propose_instructions<M: Predictors>(
        &self,
        program: &M,
        trainset: &[Example],
        demo_candidates: &[Vec<Vec<Example>>],
        rng: &mut PyRandom,
        num_candidates: usize,
    ) -> Result<InstructionProposals, OptimizerError> {
        self.check()?;
        let summary = async {
            if self.use_dataset_summary {
                create_dataset_summary(trainset, self.view_data_batch_size, self.prompt_model.as_ref()).await.map(Some)
            } else {
                Ok(None)
            }
        };
        self.propose(program, demo_candidates, rng, num_candidates, summary).await
    }

    /// [`Self::propose_instructions`] with a dataset summary computed
    /// beforehand (or `None` for none), so a caller can overlap the summary
    /// with other work.
    pub async fn propose_instructions_with_summary<M: Predictors>(
        &self,
        program: &M,
        demo_candidates: &[Vec<Vec<Example>>],
        rng: &mut PyRandom,
        num_candidates: usize,
        data_summary: Option<String>,
    ) -> Result<InstructionProposals, OptimizerError> {
        self.check()?;
        let outcome = data_summary.map(|s| SummaryOutcome { summary: Ok(s), note: None });
        self.propose(program, demo_candidates, rng, num_candidates, future::ready(Ok(outcome))).await
    }

    async fn propose<M, F>(
        &self,
        program: &M,
        demo_candidates: &[Vec<Vec<Example>>],
        rng: &mut PyRandom,
        num_candidates: usize,
        summary: F,
    ) -> Result<InstructionProposals, OptimizerError>
    where
        M: Predictors,
        F: Future<Output = Result<Option<SummaryOutcome>, OptimizerError>>,
    {
        let mut signatures: Vec<SignatureSpec> = Vec::new();
        program.visit_predictors("", &mut |_, p| signatures.push(p.signature().clone()));
        if signatures.is_empty() {
            return Err(OptimizerError::Config("the program has no predictors to propose instructions for".into()));
        }
        let program_code =
            self.program_aware.then(|| self.program_code.clone().unwrap_or_else(|| default_program_code(program)));
        let jobs = self.plan(&signatures, demo_candidates, rng, num_candidates)?;

        // Every call of a proposal runs after the draws; the summary runs
        // alongside the descriptions and is awaited before the instruction
        // call. At concurrency 1 it comes first, as in DSPy.
        let summary = summary.shared();
        let window = if self.concurrency == 1 { 1 } else { self.concurrency - 1 };
        if self.concurrency == 1 {
            let _ = summary.clone().await;
        }
        let generate = |use_summary: bool, tip: bool| {
            proposer_prompts::generate_single_module_instruction(GenerateFields {
                dataset_description: use_summary,
                program: self.program_aware,
                tip,
            })
        };
        let run = |job: Job| {
            let summary = summary.clone();
            let program_code = program_code.clone();
            async move {
                let config = CallConfig {
                    temperature: Some(self.init_temperature),
                    rollout_id: Some(job.draw.rollout_id),
                    ..CallConfig::default()
                };
                let described = match &program_code {
                    Some(code) => self.describe(code, &job, &config).await?,
                    None => Described {
                        program_description: "Not available".into(),
                        module: "Not provided".into(),
                        module_description: "Not provided".into(),
                        notes: Vec::new(),
                    },
                };
                let data_summary = match summary.await? {
                    Some(SummaryOutcome { summary: Ok(s), .. }) => Some(s),
                    _ => None,
                };
                let signature = generate(data_summary.is_some(), !job.tip_text.is_empty())?;
                let mut fields: Vec<(&str, String)> = Vec::with_capacity(8);
                if let Some(s) = &data_summary {
                    fields.push(("dataset_description", s.clone()));
                }
                if let Some(code) = &program_code {
                    fields.push(("program_code", code.clone()));
                    fields.push(("program_description", described.program_description.clone()));
                    fields.push(("module", described.module.clone()));
                    fields.push(("module_description", described.module_description.clone()));
                }
                fields.push(("task_demos", job.task_demos.clone()));
                fields.push(("basic_instruction", job.signature.instructions().to_string()));
                if !job.tip_text.is_empty() {
                    fields.push(("tip", job.tip_text.to_string()));
                }
                let lm = self.prompt_model.as_ref();
                let text = ask(lm, &signature, config, inputs(fields), "proposed_instruction").await?;
                // DSPy strips the label twice: in the module and in the proposer.
                Ok::<_, OptimizerError>((strip_prefix(&strip_prefix(&text)), described.notes))
            }
        };
        let draws: Vec<ProposalDraw> = jobs.iter().map(|j| j.draw.clone()).collect();
        let proposals = stream::iter(jobs).map(run).buffered(window).collect::<Vec<_>>();
        let (summary, results) = future::join(summary.clone(), proposals).await;

        let mut notes = Vec::new();
        let data_summary = match summary? {
            Some(SummaryOutcome { summary, note }) => {
                notes.extend(note);
                match summary {
                    Ok(s) => Some(s),
                    Err(e) => {
                        notes.push(format!("dataset summary failed, proposing without it: {e}"));
                        None
                    }
                }
            }
            None => None,
        };
        let mut instructions: Vec<Vec<String>> = vec![Vec::new(); signatures.len()];
        for (draw, result) in draws.iter().zip(results) {
            let (instruction, job_notes) = result?;
            notes.extend(job_notes);
            instructions[draw.predictor].push(instruction);
        }
        Ok(InstructionProposals { instructions, data_summary, program_code, draws, notes })
    }

    /// Draw every proposal's randomness in DSPy's order and prepare what
    /// does not need the LM.
    fn plan(
        &self,
        signatures: &[SignatureSpec],
        demo_candidates: &[Vec<Vec<Example>>],
        rng: &mut PyRandom,
        num_candidates: usize,
    ) -> Result<Vec<Job>, OptimizerError> {
        let has_sets = !demo_candidates.is_empty();
        let num_sets = if has_sets { demo_candidates[0].len().max(1) } else { num_candidates };
        let per_predictor = num_candidates.min(num_sets);
        let use_task_demos = self.use_task_demos && has_sets;
        if use_task_demos {
            if demo_candidates.len() < signatures.len() {
                return Err(OptimizerError::Config(format!(
                    "demo candidates are given for {} predictors, the program has {}",
                    demo_candidates.len(),
                    signatures.len()
                )));
            }
            if let Some(i) = demo_candidates.iter().take(signatures.len()).position(|sets| sets.len() < per_predictor) {
                return Err(OptimizerError::Config(format!(
                    "predictor {i} has {} demo sets, {per_predictor} are needed",
                    demo_candidates[i].len()
                )));
            }
        }
        let mut jobs = Vec::with_capacity(signatures.len() * per_predictor);
        for (predictor, signature) in signatures.iter().enumerate() {
            for demo_set in 0..per_predictor {
                let (tip, tip_text) = if self.use_tip {
                    let (key, text) = draw_tip(rng);
                    (Some(key), text)
                } else {
                    (None, "")
                };
                let rollout_id = rng.randint(0, 1_000_000_000) as u64;
                let sets = use_task_demos.then(|| demo_candidates[predictor].as_slice());
                jobs.push(Job {
                    draw: ProposalDraw { predictor, demo_set, tip, rollout_id },
                    tip_text,
                    signature: signature.clone(),
                    task_demos: task_demos(signature, sets, demo_set, self.num_demos_in_context),
                });
            }
        }
        Ok(jobs)
    }

    /// DescribeProgram then DescribeModule; a failure falls back to DSPy's
    /// placeholders ("Not available" / "Not provided") with a note.
    async fn describe(&self, program_code: &str, job: &Job, config: &CallConfig) -> Result<Described, OptimizerError> {
        let lm = self.prompt_model.as_ref();
        let mut out = Described {
            program_description: "Not available".into(),
            module: "Not provided".into(),
            module_description: "Not provided".into(),
            notes: Vec::new(),
        };
        let where_ = format!("predictor {} demo set {}", job.draw.predictor, job.draw.demo_set);
        let request = inputs([("program_code", program_code.to_string()), ("program_example", job.task_demos.clone())]);
        let description =
            match ask(lm, &proposer_prompts::describe_program()?, config.clone(), request, "program_description").await
            {
                Ok(text) => strip_prefix(&text),
                Err(e) => {
                    out.notes.push(format!("{where_}: program description failed: {e}"));
                    return Ok(out);
                }
            };
        out.program_description = description;
        out.module = module_line(&job.signature);
        let request = inputs([
            ("program_code", program_code.to_string()),
            ("program_example", job.task_demos.clone()),
            ("program_description", out.program_description.clone()),
            ("module", out.module.clone()),
        ]);
        match ask(lm, &proposer_prompts::describe_module()?, config.clone(), request, "module_description").await {
            Ok(text) => out.module_description = text,
            Err(e) => out.notes.push(format!("{where_}: module description failed: {e}")),
        }
        Ok(out)
    }
}
