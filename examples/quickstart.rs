//! Quickstart: ChainOfThought on a question from the command line, against
//! a real model.
//!
//! ```sh
//! export KESTREL_LM=openai/gpt-4o-mini OPENAI_API_KEY=sk-...
//! cargo run --example quickstart --features tls -- "Why is the sky blue?"
//! # any OpenAI-compatible server, e.g. Ollama (plain HTTP, no TLS needed):
//! KESTREL_LM=openai/llama3.2 OPENAI_BASE_URL=http://localhost:11434/v1 \
//!   cargo run --example quickstart -- "Why is the sky blue?"
//! ```
//!
//! With nothing configured it says what to set and exits with status 2.
//! Replies are cached on disk (see docs/PROVIDERS.md), so a second run of the
//! same question costs nothing.

use std::process::ExitCode;

use kestrel::prelude::*;

/// Answer the question thoughtfully but briefly.
#[derive(Signature)]
struct Ask {
    #[input]
    question: String,
    #[output(desc = "a short, direct answer")]
    answer: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let question = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let question = if question.trim().is_empty() { "What is the capital of France?".to_string() } else { question };
    let Ok(model) = std::env::var("KESTREL_LM") else {
        eprintln!(
            "No model configured. Set KESTREL_LM to a DSPy-style model string and the provider's key, e.g.\n\
             \n  KESTREL_LM=openai/gpt-4o-mini OPENAI_API_KEY=sk-...        (OpenAI; build with --features tls)\
             \n  KESTREL_LM=anthropic/claude-3-5-haiku-latest ANTHROPIC_API_KEY=...  (build with --features tls)\
             \n  KESTREL_LM=openai/llama3.2 OPENAI_BASE_URL=http://localhost:11434/v1   (Ollama, plain HTTP)\
             \n\nSee docs/PROVIDERS.md for vLLM, llama.cpp, OpenRouter, Together, Groq and DeepSeek."
        );
        return ExitCode::from(2);
    };
    match run(&model, question).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(model: &str, question: String) -> kestrel::Result<()> {
    let lm = kestrel::lm::lm(model)?;
    let cot = ChainOfThought::<Ask>::new();
    let out = with_lm(lm.clone(), cot.call(AskInput { question })).await?;
    println!("Reasoning: {}\n\nAnswer: {}", out.reasoning, out.answer);
    if let Some(usage) = lm.usage() {
        let t = usage.total;
        println!(
            "\n[{} call(s), {} cache hit(s), {} prompt + {} completion tokens, ${:.6}]",
            t.calls, t.cache_hits, t.prompt_tokens, t.completion_tokens, t.cost_usd
        );
    }
    Ok(())
}
