//! SemanticF1 with a scripted judge: the prompts are DSPy's, the score is
//! the F1 of the judged recall and precision, and a trace turns it into
//! pass / fail.

use kestrel_core::{Example, Prediction};
use kestrel_eval::metrics::{SemanticF1, clamped_f1};
use kestrel_eval::{EvalError, Evaluate, Metric, Trace};
use kestrel_lm::with_lm;
use kestrel_modules::{Predict, with_trace};
use kestrel_testkit::{Reply, ScriptedLm};

fn example() -> Example {
    Example::from_pairs([("question", "Where is the Eiffel Tower?"), ("response", "It is in Paris.")])
        .with_inputs(["question"])
}

fn prediction() -> Prediction {
    serde_json::from_value(serde_json::json!({"response": "Paris, France."})).unwrap()
}

fn judged(recall: &str, precision: &str) -> Reply {
    Reply::fields([("reasoning", "Both mention Paris."), ("recall", recall), ("precision", precision)])
}

/// The system message DSPy 3.4.1 sends for `ChainOfThought(SemanticRecallPrecision)`.
const SYSTEM: &str = "Your input fields are:\n1. `question` (str): \n2. `ground_truth` (str): \n3. `system_response` (str):\nYour output fields are:\n1. `reasoning` (str): \n2. `recall` (float): fraction (out of 1.0) of ground truth covered by the system response\n3. `precision` (float): fraction (out of 1.0) of system response covered by the ground truth\nAll interactions will be structured in the following way, with the appropriate values filled in.\n\n[[ ## question ## ]]\n{question}\n\n[[ ## ground_truth ## ]]\n{ground_truth}\n\n[[ ## system_response ## ]]\n{system_response}\n\n[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## recall ## ]]\n{recall}        # note: the value you produce must be a single float value\n\n[[ ## precision ## ]]\n{precision}        # note: the value you produce must be a single float value\n\n[[ ## completed ## ]]\nIn adhering to this structure, your objective is: \n        Compare a system's response to the ground truth to compute its recall and precision.\n        If asked to reason, enumerate key ideas in each response, and whether they are present in the other response.";

const USER: &str = "[[ ## question ## ]]\nWhere is the Eiffel Tower?\n\n[[ ## ground_truth ## ]]\nIt is in Paris.\n\n[[ ## system_response ## ]]\nParis, France.\n\nRespond with the corresponding output fields, starting with the field `[[ ## reasoning ## ]]`, then `[[ ## recall ## ]]` (must be formatted as a valid Python float), then `[[ ## precision ## ]]` (must be formatted as a valid Python float), and then ending with the marker for `[[ ## completed ## ]]`.";

/// The system message for the decompositional variant.
const DECOMPOSITIONAL_SYSTEM: &str = "Your input fields are:\n1. `question` (str): \n2. `ground_truth` (str): \n3. `system_response` (str):\nYour output fields are:\n1. `reasoning` (str): \n2. `ground_truth_key_ideas` (str): enumeration of key ideas in the ground truth\n3. `system_response_key_ideas` (str): enumeration of key ideas in the system response\n4. `discussion` (str): discussion of the overlap between ground truth and system response\n5. `recall` (float): fraction (out of 1.0) of ground truth covered by the system response\n6. `precision` (float): fraction (out of 1.0) of system response covered by the ground truth\nAll interactions will be structured in the following way, with the appropriate values filled in.\n\n[[ ## question ## ]]\n{question}\n\n[[ ## ground_truth ## ]]\n{ground_truth}\n\n[[ ## system_response ## ]]\n{system_response}\n\n[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## ground_truth_key_ideas ## ]]\n{ground_truth_key_ideas}\n\n[[ ## system_response_key_ideas ## ]]\n{system_response_key_ideas}\n\n[[ ## discussion ## ]]\n{discussion}\n\n[[ ## recall ## ]]\n{recall}        # note: the value you produce must be a single float value\n\n[[ ## precision ## ]]\n{precision}        # note: the value you produce must be a single float value\n\n[[ ## completed ## ]]\nIn adhering to this structure, your objective is: \n        Compare a system's response to the ground truth to compute recall and precision of key ideas.\n        You will first enumerate key ideas in each response, discuss their overlap, and then report recall and precision.";

#[tokio::test]
async fn semantic_f1_sends_dspys_prompt_and_scores_the_f1() {
    let lm = ScriptedLm::sequence([judged("0.8", "0.5")]);
    let metric = SemanticF1::new().unwrap();
    let score = with_lm(lm.clone(), metric.score(&example(), &prediction(), None)).await.unwrap();
    // 2 * 0.8 * 0.5 / 1.3, as DSPy computes it.
    assert_eq!(score.score, 0.6153846153846154);
    assert_eq!(metric.name(), "semantic_f1");

    let requests = lm.requests();
    assert_eq!(requests.len(), 1);
    let messages = &requests[0].messages;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].content, SYSTEM);
    assert_eq!(messages[1].content, USER);
}

#[tokio::test]
async fn the_decompositional_variant_uses_its_own_signature() {
    let reply = Reply::fields([
        ("reasoning", "r"),
        ("ground_truth_key_ideas", "1. Paris"),
        ("system_response_key_ideas", "1. Paris 2. France"),
        ("discussion", "overlap"),
        ("recall", "1.0"),
        ("precision", "0.5"),
    ]);
    let lm = ScriptedLm::sequence([reply]);
    let metric = SemanticF1::decompositional().unwrap();
    assert!(metric.get_decompositional());
    let score = with_lm(lm.clone(), metric.score(&example(), &prediction(), None)).await.unwrap();
    assert_eq!(score.score, 2.0 * 0.5 / 1.5);
    assert_eq!(lm.requests()[0].messages[0].content, DECOMPOSITIONAL_SYSTEM);
}

#[tokio::test]
async fn with_a_trace_the_score_is_pass_or_fail_at_the_threshold() {
    let lm = ScriptedLm::sequence([judged("0.8", "0.5"), judged("0.8", "0.5"), judged("1.0", "1.0")]);
    let trace = Trace::new();
    let strict = SemanticF1::new().unwrap().threshold(0.7);
    let lenient = SemanticF1::new().unwrap();
    with_lm(lm.clone(), async {
        // F1 0.615 < 0.7.
        assert_eq!(strict.score(&example(), &prediction(), Some(&trace)).await.unwrap().score, 0.0);
        // F1 0.615 < DSPy's default 0.66.
        assert_eq!(lenient.score(&example(), &prediction(), Some(&trace)).await.unwrap().score, 0.0);
        assert_eq!(lenient.score(&example(), &prediction(), Some(&trace)).await.unwrap().score, 1.0);
    })
    .await;
}

#[tokio::test]
async fn the_judge_stays_out_of_the_callers_trace() {
    let lm = ScriptedLm::sequence([judged("0.5", "0.5")]);
    let metric = SemanticF1::new().unwrap();
    let (score, trace) = with_lm(lm, with_trace(metric.score(&example(), &prediction(), None))).await;
    assert_eq!(score.unwrap().score, 0.5);
    assert!(trace.is_empty(), "{trace:?}");
}

#[tokio::test]
async fn judged_values_are_clamped_and_bad_inputs_are_errors() {
    assert_eq!(clamped_f1(1.5, -0.2), 0.0);
    assert_eq!(clamped_f1(2.0, 1.0), 1.0);
    let lm = ScriptedLm::sequence([judged("1.7", "0.5")]);
    let metric = SemanticF1::new().unwrap();
    let score = with_lm(lm, metric.score(&example(), &prediction(), None)).await.unwrap();
    assert_eq!(score.score, 2.0 * 0.5 / 1.5);

    let err = metric.score(&Example::from_pairs([("question", "q")]), &prediction(), None).await.unwrap_err();
    assert!(matches!(&err, EvalError::MissingField { field, on: "example", .. } if field == "response"), "{err}");

    // A judge that fails to answer is a module error.
    let err = with_lm(ScriptedLm::sequence(Vec::<Reply>::new()), metric.score(&example(), &prediction(), None))
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::Module(_)), "{err}");
}

#[tokio::test]
async fn semantic_f1_judges_inside_an_evaluation_with_custom_fields() {
    // The program answers, then the judge scores; one scripted LM serves both.
    let lm = ScriptedLm::keyed([
        (
            "Respond with the corresponding output fields, starting with the field `[[ ## reasoning",
            judged("1.0", "0.5"),
        ),
        ("[[ ## question ## ]]", Reply::fields([("answer", "Paris, France.")])),
    ]);
    let devset = vec![
        Example::from_pairs([("question", "Where is the Eiffel Tower?"), ("gold", "Paris")]).with_inputs(["question"]),
    ];
    let program = Predict::from_signature("question -> answer").unwrap();
    let metric = SemanticF1::new().unwrap().fields("question", "gold", "answer");
    let result = with_lm(lm.clone(), Evaluate::new(devset).run(&program, &metric)).await.unwrap();
    assert_eq!(result.score, 66.67);
    assert_eq!(result.metric_name, "semantic_f1");
    let judge_prompt = &lm.requests()[1].messages[1].content;
    assert!(judge_prompt.contains("[[ ## ground_truth ## ]]\nParis\n\n[[ ## system_response ## ]]\nParis, France."));
}
