//! Hello, signature: declare a typed signature, call it with `Predict` and
//! `ChainOfThought`, print the exact prompt DSPy 3.4.1 would send and the
//! typed result.
//!
//! Runs offline: the LM is the testkit's scripted LM. Run it with
//! `cargo run --example hello_signature`.

use kestrel::prelude::*;
use kestrel_testkit::ScriptedLm;

/// Answer questions with short factoid answers.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> kestrel::Result<()> {
    let lm = ScriptedLm::sequence([
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]\n",
        "[[ ## reasoning ## ]]\nThe Eiffel Tower stands in Paris, the capital of France.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]\n",
    ]);

    let qa = Predict::<Qa>::new();
    let out = with_lm(lm.clone(), qa.call(QaInput { question: "Where is the Eiffel Tower?".into() })).await?;
    println!("Predict<Qa> answered: {}", out.answer);

    let cot = ChainOfThought::<Qa>::new();
    let out = with_lm(lm.clone(), cot.call(QaInput { question: "Where is the Eiffel Tower?".into() })).await?;
    println!("ChainOfThought<Qa> answered: {} (because: {})", out.answer, out.reasoning);

    // The same signature as a DSPy string renders the same prompt.
    let dynamic = Predict::from_signature("question -> answer")?;
    println!("dynamic signature: {}", dynamic.signature_spec());

    println!("\n=== the ChainOfThought request, exactly as sent ===");
    if let Some(request) = lm.requests().last() {
        for message in &request.messages {
            let role = message.role.as_str();
            println!("--- {role} ---\n{}", message.content);
        }
    }
    Ok(())
}
