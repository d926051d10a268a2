//! `DynOptimizer` / `DynModule`: a list of optimizers compiles a list of
//! programs of different types, with the same result as the typed calls.

use kestrel_core::{Example, Prediction};
use kestrel_lm::{SharedLm, with_lm};
use kestrel_modules::{ChainOfThought, DynModule, Predict, PredictorsExt, Trace};
use kestrel_optimizers::{
    BootstrapFewShot, BootstrapFewShotWithRandomSearch, DynOptimizer, LabeledFewShot, Optimizer, demo_counts,
};
use kestrel_testkit::simulated::{SimulatedLm, generate};

fn same_answer(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    example.get("answer") == prediction.get("answer")
}

fn trainset() -> Vec<Example> {
    generate(3, 20).iter().map(|p| p.to_example()).collect()
}

fn optimizers() -> Vec<Box<dyn DynOptimizer>> {
    vec![
        Box::new(LabeledFewShot::new(4)),
        Box::new(BootstrapFewShot::new(same_answer)),
        Box::new(BootstrapFewShotWithRandomSearch::new(same_answer)),
    ]
}

#[tokio::test]
async fn a_list_of_optimizers_compiles_a_list_of_programs() {
    let lm = SharedLm::new(SimulatedLm::new());
    let trainset = trainset();
    let programs: Vec<Box<dyn DynModule>> = vec![
        Box::new(Predict::from_signature("question -> answer").unwrap()),
        Box::new(ChainOfThought::from_signature("question -> answer").unwrap()),
    ];
    let mut names = Vec::new();
    for optimizer in &optimizers() {
        for program in &programs {
            let compiled =
                with_lm(lm.clone(), optimizer.compile_boxed(program.as_ref(), &trainset, None)).await.unwrap();
            names.push(compiled.report.optimizer.clone());
            assert_eq!(compiled.report.optimizer, optimizer.optimizer_name());
            assert_eq!(compiled.program.predictor_paths(), program.predictor_paths());
            assert!(demo_counts(&compiled.program).iter().all(|&n| n > 0), "{}", compiled.report);
            // The student is left as it was.
            assert_eq!(demo_counts(program), [0]);
            // The compiled program runs as a boxed program.
            let prediction = with_lm(lm.clone(), compiled.program.call_example_boxed(&trainset[0])).await.unwrap();
            assert!(prediction.get("answer").is_some());
        }
    }
    assert_eq!(names.len(), 6);
}

#[tokio::test]
async fn boxed_compiles_choose_the_demos_typed_compiles_choose() {
    let lm = SharedLm::new(SimulatedLm::new());
    let trainset = trainset();
    let typed = ChainOfThought::from_signature("question -> answer").unwrap();
    let boxed: Box<dyn DynModule> = Box::new(typed.clone());
    let optimizer = BootstrapFewShotWithRandomSearch::new(same_answer);
    let direct = with_lm(lm.clone(), optimizer.compile(&typed, &trainset)).await.unwrap();
    let dynamic = with_lm(lm.clone(), optimizer.compile_boxed(boxed.as_ref(), &trainset, None)).await.unwrap();
    assert_eq!(dynamic.program.predictor_states(), direct.program.predictor_states());
    assert_eq!(dynamic.report.best_seed, direct.report.best_seed);
}
