//! LabeledFewShot: DSPy's `random.Random(0).sample`, shared across
//! predictors in order; `sample(false)` takes the first k.

use kestrel_core::{Example, Prediction};
use kestrel_modules::{ChainOfThought, Module, ModuleError, Predict, PredictorsExt};
use kestrel_optimizers::{LabeledFewShot, Optimizer};

use crate::support::trainset;

#[derive(Clone, kestrel_macros::Module)]
struct TwoSteps {
    first: Predict,
    second: ChainOfThought,
}

impl Module for TwoSteps {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        let draft = self.first.forward_example(&input, None).await?;
        let next = input.with("draft", draft.get("answer").cloned().unwrap_or_default());
        self.second.forward_example(&next, None).await
    }
}

#[tokio::test]
async fn samples_like_python_random() {
    let train = trainset(20);
    let program = Predict::from_signature("question -> answer").unwrap();
    let compiled = LabeledFewShot::default().compile(&program, &train).await.unwrap();
    let demos = &compiled.predictor_states()[0].1.demos;
    // random.Random(0).sample(range(20), 16) in CPython 3.11.
    let expected = [12, 13, 1, 8, 15, 6, 19, 4, 7, 5, 9, 3, 2, 11, 17, 0];
    assert_eq!(demos.len(), 16);
    for (demo, i) in demos.iter().zip(expected) {
        assert_eq!(demo, &train[i]);
    }
    // The student is untouched.
    assert!(program.predictor_states()[0].1.demos.is_empty());
}

#[tokio::test]
async fn one_generator_across_predictors_and_first_k_without_sampling() {
    let train = trainset(20);
    let program = TwoSteps {
        first: Predict::from_signature("question -> answer").unwrap(),
        second: ChainOfThought::from_signature("question -> answer").unwrap(),
    };
    let compiled = LabeledFewShot::new(3).compile(&program, &train).await.unwrap();
    let states = compiled.predictor_states();
    assert_eq!(states[0].0, "first");
    assert_eq!(states[1].0, "second.predict");
    // First predictor: random.Random(0).sample(range(20), 3) = [12, 13, 1];
    // the second continues the same generator, so it differs.
    assert_eq!(states[0].1.demos, vec![train[12].clone(), train[13].clone(), train[1].clone()]);
    assert_ne!(states[0].1.demos, states[1].1.demos);

    let first_k = LabeledFewShot::new(3).sample(false).compile(&program, &train).await.unwrap();
    assert_eq!(first_k.predictor_states()[1].1.demos, train[..3].to_vec());
    let empty = LabeledFewShot::new(3).compile(&program, &[]).await.unwrap();
    assert!(empty.predictor_states().iter().all(|(_, s)| s.demos.is_empty()));
}
