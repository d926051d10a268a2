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

    /// `n` copies of the reply (the same request gets the same reply);
    /// tokens counted as words, as the mock server counts them.
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let text = self.respond(&request).map_err(|message| LmError::Provider { model: MODEL.to_string(), message })?;
        let n = request.n.max(1) as usize;
        let usage = Usage {
            prompt_tokens: request.messages.iter().map(|m| words(&m.content)).sum(),
            completion_tokens: words(&text) * n as u64,
        };
        Ok(LmResponse::new(vec![Completion::stop(text); n], usage, MODEL.to_string()))
    }
}
