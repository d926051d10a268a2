//! [`SimulatedLm`] as an in-process [`Lm`], for tests that want its answers
//! without the mock server's HTTP round trip (the replies are the same).

use async_trait::async_trait;
use kestrel_core::Usage;
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse};

use super::{MODEL, SimulatedLm};

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[async_trait]
impl Lm for SimulatedLm {
    fn model(&self) -> &str {
        MODEL
    }

    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default()
    }

    /// `n` choices, each [`SimulatedLm::respond_choice`] of its index (the
    /// same as the mock server's); tokens counted as words, as the mock
    /// server counts them.
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let n = request.n.max(1);
        let mut completions = Vec::with_capacity(n as usize);
        let mut completion_tokens = 0;
        for index in 0..n {
            let text = self
                .respond_choice(&request, index)
                .map_err(|message| LmError::Provider { model: MODEL.to_string(), message })?;
            completion_tokens += words(&text);
            completions.push(Completion::stop(text));
        }
        let usage =
            Usage { prompt_tokens: request.messages.iter().map(|m| words(&m.content)).sum(), completion_tokens };
        Ok(LmResponse::new(completions, usage, MODEL.to_string()))
    }
}
