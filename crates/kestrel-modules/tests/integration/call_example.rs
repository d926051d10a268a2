//! `ModuleExt::call_example` on a dynamic module keeps the whole
//! prediction: every `n` completion (COPRO and BestOfN-style callers read
//! them) and the usage.

use kestrel_core::Example;
use kestrel_lm::{SharedLm, with_lm};
use kestrel_modules::{DynModule, ModuleExt, Predict};

#[tokio::test]
async fn keeps_every_completion_of_a_dynamic_prediction() {
    let lm = SharedLm::new(kestrel_testkit::RuleLm::new(
        "n-choices",
        Vec::new(),
        vec![
            "[[ ## answer ## ]]\none\n\n[[ ## completed ## ]]".into(),
            "[[ ## answer ## ]]\ntwo\n\n[[ ## completed ## ]]".into(),
            "[[ ## answer ## ]]\nthree\n\n[[ ## completed ## ]]".into(),
        ],
        kestrel_testkit::RequestLog::new(),
    ));
    let predict = Predict::from_signature("question -> answer").unwrap().n(3);
    let input = Example::from_pairs([("question", "count")]).with_inputs(["question"]);
    // The same through a boxed program (`Box<dyn DynModule>` is a Module too).
    let boxed: Box<dyn DynModule> = Box::new(predict.clone());
    for prediction in [
        with_lm(lm.clone(), predict.call_example(&input)).await.unwrap(),
        with_lm(lm.clone(), boxed.call_example(&input)).await.unwrap(),
    ] {
        let answers: Vec<_> = prediction.completions().iter().map(|c| c["answer"].clone()).collect();
        assert_eq!(answers, ["one", "two", "three"]);
        assert_eq!(prediction.get_str("answer"), Some("one"));
    }
}
