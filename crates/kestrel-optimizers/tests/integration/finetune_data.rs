//! BootstrapFinetune's training data against DSPy 3.4.1's: the golden in
//! `finetune_golden/` (recorded by `finetune_golden/record.py` with a
//! DummyLM) holds, for a two-predictor program on three examples (one
//! answered wrong), the file DSPy's `save_data` writes — its name (SHA-256
//! of the pickled records) and its JSONL — for `multitask` and per
//! predictor. Kestrel runs the same program on a scripted LM through the
//! OpenAI-compatible backend and the mock server; the uploaded files must
//! be byte for byte DSPy's, under DSPy's names.

use std::sync::Arc;
use std::time::Duration;

use kestrel_core::{Example, Prediction};
use kestrel_lm::finetune::OpenAiFinetune;
use kestrel_lm::{RetryPolicy, SharedLm, with_lm};
use kestrel_modules::{DynModule, Module, ModuleError, Predict, Predictor, Predictors, Trace};
use kestrel_optimizers::{BootstrapFinetune, Optimizer, OptimizerError};
use kestrel_testkit::Reply;
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::MockServer;
use serde_json::Value;

const GOLDEN: &str = include_str!("finetune_golden/dspy_finetune_data.json");

#[derive(Clone, Debug, kestrel_macros::Module)]
struct QaCheck {
    generate: Predict,
    check: Predict,
}

impl Module for QaCheck {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        let question = input.get("question").cloned().unwrap_or_default();
        let asked = Example::from_pairs([("question", question.clone())]).with_inputs(["question"]);
        let answer = self.generate.forward_example(&asked, None).await?.get("answer").cloned().unwrap_or_default();
        let checked = Example::from_pairs([("question", question), ("answer", answer.clone())])
            .with_inputs(["question", "answer"]);
        let verdict = self.check.forward_example(&checked, None).await?.get("verdict").cloned().unwrap_or_default();
        Ok(Prediction::new([("answer".to_string(), answer), ("verdict".to_string(), verdict)].into_iter().collect()))
    }
}

fn program() -> QaCheck {
    let demo = Example::from_pairs([("question", "What is 1 + 1?"), ("answer", "2")]);
    QaCheck {
        generate: Predict::from_signature("question -> answer").unwrap().demos_from(vec![demo]),
        check: Predict::from_signature("question, answer -> verdict").unwrap(),
    }
}

fn trainset() -> Vec<Example> {
    [("What is 2 + 3?", "5"), ("What is 4 + 4?", "8"), ("What is 7 + 1?", "8")]
        .into_iter()
        .map(|(q, a)| Example::from_pairs([("question", q), ("answer", a)]).with_inputs(["question"]))
        .collect()
}

/// The DummyLM's answers of the recorder, keyed by the call's last message
/// (check calls first: their message also holds the question).
fn scripted() -> ScriptedLm {
    ScriptedLm::keyed([
        ("2 + 3?\n\n[[ ## answer ## ]]", Reply::fields([("verdict", "correct")])),
        ("4 + 4?\n\n[[ ## answer ## ]]", Reply::fields([("verdict", "wrong")])),
        ("7 + 1?\n\n[[ ## answer ## ]]", Reply::fields([("verdict", "correct")])),
        ("What is 2 + 3?", Reply::fields([("answer", "5")])),
        ("What is 4 + 4?", Reply::fields([("answer", "9")])),
        ("What is 7 + 1?", Reply::fields([("answer", "8")])),
    ])
}

fn exact(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    example.get("answer") == prediction.get("answer")
}

async fn compile(multitask: bool) -> (Vec<(String, String)>, Vec<Option<String>>) {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let lm = SharedLm::new(scripted());
    let fine_tuned = lm.clone();
    let backend = OpenAiFinetune::new(server.base_url())
        .retry(RetryPolicy::none())
        .lm_factory(Arc::new(move |_model: &str| Ok(fine_tuned.clone())));
    let dir = tempfile::tempdir().unwrap();
    let optimizer = BootstrapFinetune::new(Arc::new(backend))
        .metric(exact)
        .multitask(multitask)
        .poll_interval(Duration::from_millis(1))
        .data_dir(dir.path());
    let compiled = with_lm(lm, optimizer.compile(&program(), &trainset())).await.unwrap();
    let files =
        server.uploaded_files().into_iter().map(|f| (f.filename, String::from_utf8(f.bytes).unwrap())).collect();
    // The files are also where the report says, with the same bytes.
    for job in &compiled.report.finetune.as_ref().unwrap().jobs {
        assert!(job.data_path.starts_with(dir.path()));
        assert!(job.fine_tuned_model.starts_with("ft:"), "{}", job.fine_tuned_model);
    }
    let mut models = Vec::new();
    compiled.visit_predictors("", &mut |_, p: &dyn Predictor| models.push(p.lm().map(|lm| lm.model().to_string())));
    (files, models)
}

fn golden(name: &str) -> (String, String) {
    let golden: Value = serde_json::from_str(GOLDEN).unwrap();
    let entry = &golden[name];
    assert_eq!(entry["format"], "chat");
    (entry["file_name"].as_str().unwrap().to_string(), entry["jsonl"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn multitask_data_is_dspys_file() {
    let (files, models) = compile(true).await;
    assert_eq!(files, vec![golden("multitask")]);
    // Two kept runs × two calls.
    assert_eq!(files[0].1.lines().count(), 4);
    assert_eq!(models.len(), 2);
    assert!(models.iter().all(Option::is_some), "every predictor gets the fine-tuned LM");
}

#[tokio::test]
async fn per_predictor_data_is_dspys_files() {
    let (files, _) = compile(false).await;
    assert_eq!(files, vec![golden("predictor_0"), golden("predictor_1")]);
}

#[tokio::test]
async fn an_adapter_without_a_finetune_format_is_a_config_error() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let optimizer = BootstrapFinetune::new(Arc::new(OpenAiFinetune::new(server.base_url())))
        .adapter(Arc::new(kestrel_core::JsonAdapter))
        .data_dir(tempfile::tempdir().unwrap().path());
    let err = with_lm(SharedLm::new(scripted()), optimizer.compile(&program(), &trainset())).await.unwrap_err();
    assert!(matches!(&err, OptimizerError::Config(m) if m.contains("JSONAdapter")), "{err}");
    assert!(server.uploaded_files().is_empty());
}

#[tokio::test]
async fn more_jobs_than_threads_is_refused_before_training() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let optimizer =
        BootstrapFinetune::new(Arc::new(OpenAiFinetune::new(server.base_url()))).multitask(false).num_threads(1);
    let err = with_lm(SharedLm::new(scripted()), optimizer.compile(&program(), &trainset())).await.unwrap_err();
    assert!(err.to_string().contains("num_threads"), "{err}");
    assert!(server.uploaded_files().is_empty());
}

#[tokio::test]
async fn exclude_demos_drops_them_from_the_data_and_the_program() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let lm = SharedLm::new(scripted());
    let tuned = lm.clone();
    let backend = OpenAiFinetune::new(server.base_url()).lm_factory(Arc::new(move |_: &str| Ok(tuned.clone())));
    let dir = tempfile::tempdir().unwrap();
    let optimizer = BootstrapFinetune::new(Arc::new(backend))
        .metric(exact)
        .exclude_demos(true)
        .poll_interval(Duration::from_millis(1))
        .data_dir(dir.path());
    let compiled = with_lm(lm, optimizer.compile(&program(), &trainset())).await.unwrap();
    let file = String::from_utf8(server.uploaded_files()[0].bytes.clone()).unwrap();
    assert_eq!(file.lines().count(), 4);
    assert!(!file.contains("What is 1 + 1?"), "the demo is not in the records");
    assert!(compiled.generate.demos().is_empty() && compiled.check.demos().is_empty());
}

#[tokio::test]
async fn teachers_must_have_the_students_predictors() {
    #[derive(Clone, Debug, kestrel_macros::Module)]
    struct Single {
        generate: Predict,
    }
    impl Module for Single {
        type Input = Example;
        type Output = Prediction;
        async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
            self.generate.forward_example(&input, None).await
        }
    }
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let optimizer = BootstrapFinetune::new(Arc::new(OpenAiFinetune::new(server.base_url())))
        .poll_interval(Duration::from_millis(1))
        .data_dir(tempfile::tempdir().unwrap().path());
    let student: Box<dyn DynModule> = Box::new(program());
    let single: Box<dyn DynModule> =
        Box::new(Single { generate: Predict::from_signature("question -> answer").unwrap() });
    let (train, teachers) = (trainset(), [single]);
    let run = optimizer.compile_with_teachers(&student, &train, &teachers);
    let Err(err) = with_lm(SharedLm::new(scripted()), run).await else { panic!("a teacher of another shape") };
    assert!(matches!(&err, OptimizerError::Structure(m) if m.contains("2 != 1")), "{err}");
    assert!(server.uploaded_files().is_empty());
    // A teacher of the same shape (here a clone) is run instead of the student.
    let teacher: Box<dyn DynModule> = Box::new(program());
    let teachers = [teacher];
    let run = optimizer.compile_with_teachers(&student, &train, &teachers);
    let compiled = with_lm(SharedLm::new(scripted()), run).await.unwrap();
    assert_eq!(compiled.report.teacher_runs, 3);
    assert_eq!(server.uploaded_files().len(), 1);
}
