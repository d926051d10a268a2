//! The compile report as an HTML page: the plot points, the prompts with
//! their word changes, the candidates and the cost by phase are on the page;
//! no script; text from an LM is escaped. An ignored test renders the page
//! with headless Chromium.

use std::sync::Arc;
use std::time::Duration;

use kestrel_core::Example;
use kestrel_lm::usage::ModelUsage;
use kestrel_lm::{SharedLm, with_lm};
use kestrel_modules::{Predict, Predictor, PredictorsExt};
use kestrel_optimizers::mipro::{ScoredDemoSet, ScoredInstruction};
use kestrel_optimizers::{
    CandidateKind, CandidateScore, CompileReport, CostEstimate, EvalBatch, MiproReport, Optimizer, PhaseUsage,
    PredictorChoice, TrialKind, TrialLog,
};
use kestrel_testkit::RequestLog;

use crate::copro::{InstructionLm, copro};
use crate::support::trainset;

const MALICIOUS: &str = "Answer. </style><script>alert('x')</script> & \"quote\"";

fn trial(number: usize, kind: TrialKind, score: f64, instruction: usize, demos: usize) -> TrialLog {
    TrialLog {
        number,
        kind,
        params: vec![PredictorChoice { instruction, demos: Some(demos) }],
        batch: if kind == TrialKind::Minibatch { EvalBatch::Minibatch(vec![0, 1]) } else { EvalBatch::Full },
        score,
        total_eval_calls_so_far: number * 2,
    }
}

fn usage(calls: u64, cost_usd: f64) -> ModelUsage {
    ModelUsage { calls, cache_hits: 1, prompt_tokens: calls * 100, completion_tokens: calls * 10, cost_usd }
}

/// A MIPROv2 report whose winning instruction came from an LM and tries to
/// break out of the page.
fn mipro_report() -> CompileReport {
    let mut report = CompileReport::new("MIPROv2");
    report.usage.total = usage(60, 0.0123);
    report.elapsed = Duration::from_millis(2500);
    report.evaluations = 4;
    let demo = Example::from_pairs([("question", "1 + 1?"), ("answer", "2")]).with_inputs(["question"]);
    report.mipro = Some(Box::new(MiproReport {
        auto: None,
        zero_shot: false,
        minibatch: true,
        num_trials: 3,
        num_instruct_candidates: 2,
        num_fewshot_candidates: 1,
        trainset_size: 10,
        valset_size: 4,
        estimate: CostEstimate { prompt_model_calls: 13, trial_program_calls: 10, ..CostEstimate::default() },
        predictors: vec!["self".into()],
        demo_sets: Vec::new(),
        instruction_candidates: vec![vec![
            ScoredInstruction {
                index: 0,
                instruction: "Answer the question.".into(),
                average_score: Some(50.0),
                trials: 1,
            },
            ScoredInstruction { index: 1, instruction: MALICIOUS.into(), average_score: Some(87.5), trials: 1 },
        ]],
        demo_set_candidates: vec![vec![ScoredDemoSet {
            index: 0,
            seed: -2,
            kind: CandidateKind::Labeled,
            demos: vec![demo],
            average_score: Some(68.75),
            trials: 2,
        }]],
        data_summary: None,
        proposer_notes: Vec::new(),
        trials: vec![
            trial(1, TrialKind::Default, 25.0, 0, 0),
            trial(2, TrialKind::Minibatch, 50.0, 0, 0),
            trial(3, TrialKind::Minibatch, 87.5, 1, 0),
            trial(4, TrialKind::Full, 75.0, 1, 0),
        ],
        best_score: Some(75.0),
        best_trial: Some(4),
        best_params: vec![PredictorChoice { instruction: 1, demos: Some(0) }],
        phases: vec![
            PhaseUsage {
                phase: "demo sets and dataset summary".into(),
                usage: usage(20, 0.004),
                elapsed: Duration::from_millis(700),
            },
            PhaseUsage {
                phase: "instruction proposal".into(),
                usage: usage(4, 0.002),
                elapsed: Duration::from_millis(300),
            },
            PhaseUsage { phase: "trials".into(), usage: usage(36, 0.0063), elapsed: Duration::from_millis(1500) },
        ],
    }));
    report
}

fn programs() -> (Predict, Predict) {
    let student = Predict::from_signature("question -> answer").unwrap();
    let mut compiled = student.clone();
    compiled.set_instructions(MALICIOUS.into());
    (student, compiled)
}

#[test]
fn a_mipro_page_holds_trials_prompts_candidates_and_phases() {
    let (student, compiled) = programs();
    let page = mipro_report().to_html(&student, &compiled);
    assert!(page.starts_with("<!DOCTYPE html>"));
    // The plot: one point per trial, each kind its own series, the winner ringed.
    assert!(page.contains("<svg"), "{page}");
    assert!(page.contains("<title>trial 1 (default program, full valset): 25.00 — instruction 0 / demos 0</title>"));
    assert!(page.contains("<title>trial 3 (minibatch): 87.50 — instruction 1 / demos 0</title>"));
    assert!(page.contains("<title>trial 4 (full evaluation): 75.00 — instruction 1 / demos 0</title>"));
    assert_eq!(page.matches(r#"<circle class="point"#).count(), 4);
    assert_eq!(page.matches(r#"<circle class="best""#).count(), 1);
    // The prompt: the original's words removed, the LM's added, all escaped.
    assert!(page.contains("<del>Given the fields `question`, produce the fields `answer`.</del>"), "{page}");
    assert!(page.contains(
        "<ins>Answer. &lt;/style&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quote&quot;</ins>"
    ));
    // Candidates: the winning instruction and demo set marked.
    assert!(page.contains(r#"<tr class="won"><td class="num">1</td><td class="num">87.50</td>"#), "{page}");
    assert!(page.contains(r#"<td class="num">68.75</td>"#));
    // Cost by phase, then the whole compile.
    for row in [
        r#"<th>demo sets and dataset summary</th><td class="num">20</td><td class="num">1</td><td class="num">2000</td><td class="num">200</td><td class="num">$0.0040</td><td class="num">0.70 s</td>"#,
        "<th>instruction proposal</th>",
        "<th>trials</th>",
        r#"<th>whole compile</th><td class="num">60</td>"#,
    ] {
        assert!(page.contains(row), "missing {row}");
    }
    assert!(page.contains("13 prompt-model calls"));
}

#[test]
fn text_from_an_lm_never_becomes_markup() {
    let (student, compiled) = programs();
    let page = mipro_report().to_html(&student, &compiled);
    assert!(!page.to_lowercase().contains("<script"), "a script element on the page");
    // The page's own style element is the only one, and it closes once.
    assert_eq!(page.matches("</style>").count(), 1);
    assert!(!page.contains("alert('x')"));
}

#[test]
fn a_random_search_page_plots_candidates_by_seed() {
    let mut report = CompileReport::new("BootstrapFewShotWithRandomSearch");
    for (seed, score) in [(-3, 20.0), (-2, 40.0), (-1, 55.0), (0, 60.0)] {
        report.candidates.push(CandidateScore {
            seed,
            kind: CandidateKind::of_seed(seed),
            score,
            subscores: Vec::new(),
            demos: vec![if seed == -3 { 0 } else { 4 }],
            lm_calls: 12,
        });
    }
    report.best_seed = Some(0);
    let student = Predict::from_signature("question -> answer").unwrap();
    let mut compiled = student.clone();
    compiled.set_demos(trainset(4));
    let page = report.to_html(&student, &compiled);
    assert!(page.contains("<title>seed -2 (labeled): 40.00, demos [4], 12 LM calls</title>"), "{page}");
    assert!(page.contains("<title>seed 0 (shuffled): 60.00, demos [4], 12 LM calls</title>"));
    assert!(page.contains(r#"<tr><th>demos</th><td class="num">0</td><td class="num">4</td></tr>"#), "{page}");
    assert!(page.contains(r#"<span class="unchanged">instruction unchanged</span>"#));
    assert!(page.contains(r#"<tr class="won"><td class="num">0</td><td>shuffled</td>"#));
}

#[tokio::test]
async fn a_copro_page_shows_the_chosen_instruction_beside_the_original() {
    let task = SharedLm::from_arc(Arc::new(InstructionLm::default()));
    let train = trainset(12);
    let student = Predict::from_signature("question -> answer").unwrap();
    let compiled = with_lm(task, copro(&RequestLog::new(), 4).compile(&student, &train)).await.unwrap();
    let page = compiled.report.to_html(&student, &compiled.program);
    assert!(page.contains("<title>self depth 0: 100.00 — Add the numbers carefully.</title>"), "{page}");
    assert!(page.contains("<title>self depth 0: 0.00 — Guess the sum.</title>"), "{page}");
    // Both sides of the instruction, and the output prefix COPRO rewrote.
    assert!(page.contains("<del>Given the fields `question`, produce the fields `answer`.</del>"), "{page}");
    assert!(page.contains("<ins>Add the numbers carefully.</ins>"), "{page}");
    assert!(page.contains("<ins>Total:</ins>"), "{page}");
    assert!(page.contains(r#"<th>whole compile</th><td class="num">"#));
    assert!(!page.contains("<script"));
    assert_eq!(compiled.program.predictor_paths(), ["self"]);
}

#[test]
fn write_html_creates_the_folder_and_reports_failures() {
    let (student, compiled) = programs();
    let dir = std::env::temp_dir().join(format!("kestrel-report-html-{}", std::process::id()));
    let path = dir.join("nested").join("report.html");
    mipro_report().write_html(&path, &student, &compiled).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("MIPROv2 compile report"));
    // A folder where the file should be: a typed error naming the path.
    let err = mipro_report().write_html(dir.join("nested"), &student, &compiled).unwrap_err();
    assert!(err.to_string().contains("nested"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Renders a page with headless Chromium (Debian's `chromium`) and checks
/// the screenshot is a real image. Not in CI: it needs the browser
/// (`apt-get install -y chromium`).
#[test]
#[ignore = "needs headless Chromium (apt-get install -y chromium)"]
fn the_page_renders_in_headless_chromium() {
    let (student, compiled) = programs();
    let dir = std::env::temp_dir().join(format!("kestrel-report-shot-{}", std::process::id()));
    let html = dir.join("report.html");
    let png = dir.join("report.png");
    mipro_report().write_html(&html, &student, &compiled).unwrap();
    let status = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,1800"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .status()
        .expect("chromium runs");
    assert!(status.success());
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1200×1800 page compresses to a few kilobytes; text, tables and a plot do not.
    assert!(bytes.len() > 30_000, "screenshot of {} bytes looks empty", bytes.len());
    if let Some(keep) = std::env::var_os("KESTREL_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
