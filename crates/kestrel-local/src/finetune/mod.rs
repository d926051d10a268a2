//! LoRA fine-tuning of the local chat models on the CPU (cargo feature
//! `finetune`).
//!
//! [`LoraTrainer`] loads a GGUF chat model (llama, qwen2), dequantizes it
//! into a differentiable `f32` copy (quantized matmuls have no backward
//! pass), adds LoRA matrices to the chosen projections and trains them with
//! AdamW on the causal-LM loss of the assistant tokens only. The result is
//! saved as a PEFT adapter directory, which
//! [`crate::LocalLmOptions::lora_adapter`] merges into a [`crate::LocalLm`].
//!
//! # Inputs (for a fine-tuning backend)
//!
//! - The model: a `.gguf` file or a directory holding one (as
//!   [`crate::LocalLm::load`] takes).
//! - Training data: chat-format JSONL, one `{"messages": [{"role": …,
//!   "content": …}, …]}` object per line — the format DSPy writes for
//!   fine-tuning ([`ChatExample::parse_jsonl`]). Each conversation must end
//!   with an assistant message. Its prompt (every message before it,
//!   few-shot demos included) is rendered with the model's own chat
//!   template and tokenized exactly as [`crate::LocalLm`] does at inference;
//!   the loss is taken on the final assistant message's tokens followed by
//!   the model's end-of-turn (EOS) token, so the model also learns to stop.
//!   Earlier assistant turns are context, not targets.
//! - [`LoraConfig`]: rank, alpha, dropout, target modules (PEFT names
//!   `q_proj` … `down_proj`), learning rate, epochs, batch size, seed and
//!   the longest sequence trained on.
//! - A progress callback, called after each optimizer step.
//!
//! The output: a [`TrainReport`] (the loss of every step, time) and, from
//! [`LoraTrainer::save_adapter`], a PEFT directory (`adapter_config.json`,
//! `adapter_model.safetensors`) loadable by this crate and by Hugging Face
//! PEFT on the original model.
//!
//! - `data.rs` — parsing and tokenizing chat examples.
//! - `net.rs` — the differentiable forward pass with LoRA.
//! - `train.rs` — [`LoraTrainer`]: batches, AdamW, evaluation, saving.
//! - `backend.rs` — [`LocalFinetune`]: the trainer as a
//!   [`kestrel_lm::finetune::FinetuneBackend`] (jobs on a blocking thread,
//!   `train_kwargs`, cancelling, the fine-tuned [`crate::LocalLm`]).

mod backend;
mod data;
mod net;
mod train;

use std::time::Duration;

pub use backend::LocalFinetune;
pub use data::ChatExample;
pub use train::LoraTrainer;

/// LoRA hyper-parameters and the training schedule.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoraConfig {
    /// Rank `r` of each update (default 8).
    pub rank: usize,
    /// Scale numerator: updates are `B·A·alpha/r` (default 16).
    pub alpha: f64,
    /// Dropout on the LoRA branch's input during training (default 0.05).
    pub dropout: f64,
    /// The projections adapted, by PEFT name (default: all seven of
    /// [`crate::chat::peft::TARGET_MODULES`]).
    pub target_modules: Vec<String>,
    /// AdamW learning rate (default 2e-4; no weight decay).
    pub learning_rate: f64,
    /// Passes over the data (default 1).
    pub epochs: usize,
    /// Examples per optimizer step (default 8); their assistant tokens'
    /// losses are averaged together.
    pub batch_size: usize,
    /// Seeds the LoRA initialisation, the shuffling of each epoch and the
    /// dropout masks (default 0).
    pub seed: u64,
    /// Tokens per example at most (default 512): longer assistant replies
    /// are cut; an example whose prompt alone is that long is skipped.
    pub max_seq_len: usize,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            dropout: 0.05,
            target_modules: crate::chat::peft::TARGET_MODULES.iter().map(|m| (*m).to_owned()).collect(),
            learning_rate: 2e-4,
            epochs: 1,
            batch_size: 8,
            seed: 0,
            max_seq_len: 512,
        }
    }
}

impl LoraConfig {
    /// Sets [`Self::rank`].
    #[must_use]
    pub fn rank(mut self, rank: usize) -> Self {
        self.rank = rank;
        self
    }

    /// Sets [`Self::alpha`].
    #[must_use]
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets [`Self::dropout`].
    #[must_use]
    pub fn dropout(mut self, dropout: f64) -> Self {
        self.dropout = dropout;
        self
    }

    /// Sets [`Self::target_modules`].
    #[must_use]
    pub fn target_modules<S: Into<String>>(mut self, modules: impl IntoIterator<Item = S>) -> Self {
        self.target_modules = modules.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`Self::learning_rate`].
    #[must_use]
    pub fn learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = learning_rate;
        self
    }

    /// Sets [`Self::epochs`].
    #[must_use]
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets [`Self::batch_size`].
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`Self::seed`].
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`Self::max_seq_len`].
    #[must_use]
    pub fn max_seq_len(mut self, max_seq_len: usize) -> Self {
        self.max_seq_len = max_seq_len;
        self
    }
}

/// Progress after one optimizer step.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepProgress {
    /// 1-based step number.
    pub step: usize,
    /// Steps in the whole run.
    pub total_steps: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean loss per assistant token of the step's batch (before the update).
    pub loss: f32,
    /// Time since training started.
    pub elapsed: Duration,
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrainReport {
    /// The loss of every step, in order (see [`StepProgress::loss`]).
    pub losses: Vec<f32>,
    /// Examples trained on (per epoch).
    pub examples: usize,
    /// Examples skipped because their prompt alone reached
    /// [`LoraConfig::max_seq_len`].
    pub skipped: usize,
    /// Assistant tokens trained on per epoch.
    pub target_tokens: usize,
    /// All tokens run through the model per epoch.
    pub tokens: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The progress callback of [`LoraTrainer::train_while`] stopped the
    /// run before its last step.
    pub stopped_early: bool,
}
