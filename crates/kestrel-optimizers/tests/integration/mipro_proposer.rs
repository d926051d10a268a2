//! MIPROv2's grounded proposer on rule-scripted LMs: concurrent proposals
//! equal the sequential ones, DSPy's fallbacks when a step fails, the
//! zero-shot and tip-less settings, and the default `program_code`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kestrel_core::{Example, PyRandom};
use kestrel_lm::{Lm, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm};
use kestrel_modules::{Predict, Predictor, Predictors, join_path};
use kestrel_optimizers::mipro::{GroundedProposer, default_program_code};
use kestrel_testkit::{RequestLog, Rule, RuleLm};
use serde_json::json;

/// A rule LM that takes `delay` per call and counts calls in flight.
#[derive(Debug)]
struct Slow {
    inner: RuleLm,
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[async_trait]
impl Lm for Slow {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let out = self.inner.call(request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

fn rule(last_contains: &str, reply: &str) -> Rule {
    Rule { last_contains: vec![last_contains.into()], replies: vec![reply.into()], ..Rule::default() }
}

/// Replies for every step; the proposal echoes nothing of the request, so a
/// distinct tip gives a distinct instruction.
fn full_rules() -> Vec<Rule> {
    vec![
        rule("[[ ## prior_observations ## ]]", "[[ ## observations ## ]]\n More.\n\n[[ ## completed ## ]]"),
        rule("field `[[ ## observations ## ]]`", "[[ ## observations ## ]]\nArithmetic.\n\n[[ ## completed ## ]]"),
        rule("field `[[ ## summary ## ]]`", "[[ ## summary ## ]]\nSummary: Sums.\n\n[[ ## completed ## ]]"),
        rule(
            "field `[[ ## program_description ## ]]`",
            "[[ ## program_description ## ]]\nAdds.\n\n[[ ## completed ## ]]",
        ),
        rule(
            "field `[[ ## module_description ## ]]`",
            "[[ ## module_description ## ]]\nOne step.\n\n[[ ## completed ## ]]",
        ),
        rule("Keep the instruction clear", "[[ ## proposed_instruction ## ]]\nBe brief.\n\n[[ ## completed ## ]]"),
        rule("creative", "[[ ## proposed_instruction ## ]]\nBe bold.\n\n[[ ## completed ## ]]"),
        rule(
            "field `[[ ## proposed_instruction ## ]]`",
            "[[ ## proposed_instruction ## ]]\nInstruction: Add.\n\n[[ ## completed ## ]]",
        ),
    ]
}

fn trainset(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            Example::from_pairs([("question", json!(format!("{i} + 1?"))), ("answer", json!(i + 1))])
                .with_inputs(["question"])
        })
        .collect()
}

fn demo_sets(n: usize) -> Vec<Vec<Vec<Example>>> {
    let sets = (0..n)
        .map(|s| {
            (0..2)
                .map(|d| {
                    let mut demo =
                        Example::from_pairs([("question", json!(format!("set {s} demo {d}"))), ("answer", json!(d))]);
                    if s % 2 == 0 {
                        demo.insert("augmented", true);
                    }
                    demo
                })
                .collect()
        })
        .collect();
    vec![sets]
}

/// Two predictors, as a custom module.
struct Pipeline(Vec<(String, Predict)>);

impl Predictors for Pipeline {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        for (name, p) in &self.0 {
            p.visit_predictors(&join_path(path, name), visit);
        }
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        for (name, p) in &mut self.0 {
            p.visit_predictors_mut(&join_path(path, name), visit);
        }
    }
}

fn one_step() -> Pipeline {
    Pipeline(vec![("add".into(), Predict::from_signature("question -> answer: int").unwrap().instructions("Add."))])
}

#[tokio::test]
async fn concurrent_proposals_equal_the_sequential_ones() {
    let program = one_step();
    let trainset = trainset(25);
    let candidates = demo_sets(6);
    let mut runs = Vec::new();
    for concurrency in [1, 4] {
        let log = RequestLog::new();
        let slow = Arc::new(Slow {
            inner: RuleLm::new("prompt", full_rules(), Vec::new(), log.clone()),
            delay: Duration::from_millis(20),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let proposer = GroundedProposer::new().prompt_model(SharedLm::from_arc(slow.clone())).concurrency(concurrency);
        let mut rng = PyRandom::new(3);
        let out = proposer.propose_instructions(&program, &trainset, &candidates, &mut rng, 5).await.unwrap();
        let after = rng.randint(0, 1_000_000_000);
        let max = slow.max_in_flight.load(Ordering::SeqCst);
        assert!(max <= concurrency, "{max} calls in flight at concurrency {concurrency}");
        let mut requests: Vec<String> =
            log.requests().iter().map(|r| format!("{:?}{:?}", r.messages, r.lm_kwargs)).collect();
        requests.sort();
        runs.push((out, after, max, requests));
    }
    let (seq, par) = (&runs[0], &runs[1]);
    assert_eq!(seq.0, par.0, "same proposals, summary, draws and notes");
    assert_eq!(seq.1, par.1, "the generator is left in the same state");
    assert_eq!(seq.3, par.3, "the same requests");
    assert_eq!(seq.2, 1);
    assert!(par.2 > 1, "proposals overlapped");
    // 3 summary batches + the summarizer, then 3 calls for each of 5 proposals.
    assert_eq!(seq.3.len(), 4 + 3 * 5);
    assert_eq!(seq.0.data_summary.as_deref(), Some("Sums."));
    assert_eq!(seq.0.instructions.len(), 1);
    assert_eq!(seq.0.instructions[0].len(), 5);
    // random.Random(3): choice(TIPS) = 'creative', then randint(0, 10**9).
    assert_eq!(seq.0.draws[0].tip, Some("creative"));
    assert_eq!(seq.0.draws[0].rollout_id, 636_343_332);
    assert_eq!(seq.0.instructions[0][0], "Be bold.");
}

#[tokio::test]
async fn failed_summary_and_descriptions_fall_back_as_dspy_does() {
    let log = RequestLog::new();
    // Only the instruction step has a reply; every other call fails.
    let rules = vec![rule(
        "field `[[ ## proposed_instruction ## ]]`",
        "[[ ## proposed_instruction ## ]]\nAdd.\n\n[[ ## completed ## ]]",
    )];
    let lm = SharedLm::new(RuleLm::new("prompt", rules, Vec::new(), log.clone()));
    let proposer = GroundedProposer::new().prompt_model(lm).use_tip(false).concurrency(1);
    let mut rng = PyRandom::new(0);
    let out = proposer.propose_instructions(&one_step(), &trainset(4), &demo_sets(2), &mut rng, 2).await.unwrap();
    assert_eq!(out.instructions, vec![vec!["Add.".to_string(), "Add.".to_string()]]);
    assert_eq!(out.data_summary, None);
    assert_eq!(out.notes.len(), 3, "{:?}", out.notes);
    // Only the answered requests are logged: the two proposals.
    let requests = log.requests();
    assert_eq!(requests.len(), 2);
    let system = &requests[0].messages[0].content;
    assert!(!system.contains("dataset_description"), "no summary field without a summary");
    assert!(!system.contains("`tip`"), "no tip field without tips");
    let user = &requests[1].messages[1].content;
    assert!(user.contains("[[ ## program_description ## ]]\nNot available\n\n[[ ## module ## ]]\nNot provided\n\n"));
    assert!(user.contains("[[ ## module_description ## ]]\nNot provided\n\n"));
    // random.Random(0): only the two rollout ids are drawn.
    let rollouts: Vec<_> = out.draws.iter().map(|d| (d.tip, d.rollout_id)).collect();
    assert_eq!(rollouts, [(None, 906_691_059), (None, 413_653_999)]);
}

#[tokio::test]
async fn zero_shot_proposes_n_instructions_without_demos() {
    let log = RequestLog::new();
    let lm = SharedLm::new(RuleLm::new("prompt", full_rules(), Vec::new(), log.clone()));
    let proposer =
        GroundedProposer::new().prompt_model(lm).program_aware(false).use_dataset_summary(false).concurrency(1);
    // random.Random(2) draws `none`, `none`, `creative` (CPython 3.11).
    let mut rng = PyRandom::new(2);
    let out = proposer.propose_instructions(&one_step(), &trainset(3), &[], &mut rng, 3).await.unwrap();
    assert_eq!(out.instructions[0].len(), 3);
    let tips: Vec<_> = out.draws.iter().map(|d| d.tip).collect();
    assert_eq!(tips, [Some("none"), Some("none"), Some("creative")]);
    let rollouts: Vec<_> = out.draws.iter().map(|d| d.rollout_id).collect();
    assert_eq!(rollouts, [98_338_420, 387_682_509, 790_241_758]);
    assert_eq!(out.program_code, None);
    let requests = log.requests();
    assert_eq!(requests.len(), 3, "no summary, no descriptions");
    for r in &requests {
        assert!(r.messages[1].content.contains("[[ ## task_demos ## ]]\nNo task demos provided.\n\n"));
        assert!(!r.messages[0].content.contains("program_code"));
        assert_eq!(serde_json::Value::Object(r.lm_kwargs.clone())["temperature"], json!(1.0));
    }
    assert!(!requests[0].messages[0].content.contains("`tip`"), "the `none` tip drops the field");
    assert!(requests[2].messages[0].content.contains("`tip`"));
    assert_eq!(out.instructions[0][2], "Be bold.");
}

#[test]
fn the_default_program_code_is_the_program_in_dspy_source_form() {
    struct CapitalProgram(Pipeline);
    impl Predictors for CapitalProgram {
        fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
            self.0.visit_predictors(path, visit);
        }
        fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
            self.0.visit_predictors_mut(path, visit);
        }
    }
    let respond = Predict::from_signature("question -> answer").unwrap().instructions("Name the capital.");
    let check = Predict::from_signature("question, answer -> ok: bool").unwrap();
    let program = CapitalProgram(Pipeline(vec![("respond".into(), respond), ("check".into(), check)]));
    assert_eq!(
        default_program_code(&program),
        "class RespondSignature(dspy.Signature):\n    \"\"\"Name the capital.\"\"\"\n\n    \
question: str = dspy.InputField()\n    answer: str = dspy.OutputField()\n\n\n\n\n\
class CheckSignature(dspy.Signature):\n    \"\"\"Given the fields `question`, `answer`, produce the fields `ok`.\"\"\"\n\n    \
question: str = dspy.InputField()\n    answer: str = dspy.InputField()\n    ok: bool = dspy.OutputField()\n\n\n\
class CapitalProgram(dspy.Module):\n    def __init__(self):\n        super().__init__()\n        \
self.respond = dspy.Predict(RespondSignature)\n        self.check = dspy.Predict(CheckSignature)\n"
    );
    let bare = Predict::from_signature("question -> answer").unwrap();
    // DSPy 3.4.1's get_dspy_source_code(dspy.Predict(..)) is "\n\n", class
    // signature or not.
    assert_eq!(default_program_code(&bare), "\n\n", "nothing for a bare Predict");
}

#[tokio::test]
async fn a_chain_of_thought_module_is_described_with_its_reasoning_field() {
    let log = RequestLog::new();
    let lm = SharedLm::new(RuleLm::new("prompt", full_rules(), Vec::new(), log.clone()));
    let program = kestrel_modules::ChainOfThought::from_signature("question -> answer: int").unwrap();
    let sets = vec![vec![
        Vec::new(),
        vec![Example::from_pairs([
            ("augmented", json!(true)),
            ("question", json!("1.5 + 1?")),
            ("reasoning", json!(null)),
            ("answer", json!(2.5)),
        ])],
    ]];
    let proposer = GroundedProposer::new().prompt_model(lm).use_dataset_summary(false).concurrency(1);
    let out = proposer.propose_instructions(&program, &[], &sets, &mut PyRandom::new(0), 2).await.unwrap();
    assert_eq!(out.instructions[0].len(), 2);
    let requests = log.requests();
    // Per demo set: DescribeProgram, DescribeModule, the instruction.
    assert_eq!(requests.len(), 6);
    let module = &requests[4].messages[1].content;
    assert!(module.contains("[[ ## module ## ]]\nPredict(question) -> reasoning, answer\n\n"), "{module}");
    assert!(module.contains("[[ ## program_example ## ]]\nQuestion: 1.5 + 1?\nReasoning: None\nAnswer: 2.5\n\n\n\n"));
}
