//! [`LocalLm`]: kestrel-lm's [`Lm`] for GGUF chat models run in-process.
//! A call renders the chat template, tokenizes, and hands the job to the
//! model's engine thread; concurrent calls decode together there.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};

use async_trait::async_trait;
use kestrel_core::Usage;
use kestrel_lm::{Completion, FinishReason, Lm, LmCapabilities, LmError, LmRequest, LmResponse};
use tokenizers::Tokenizer;
use tokio::sync::oneshot;

use super::engine::{self, ChoiceSpec, EngineLimits, Finish, Job, JobOutput};
use super::gguf::{GgufFile, invalid, io_error};
use super::model::Model;
use super::sampler::{Sampler, seed_of};
use super::template::{CHATML_TEMPLATE, ChatTemplate};
use super::tokenizer::load_tokenizer;
use super::vocab::Vocab;
use crate::LocalError;
use crate::constraint::TokenConstraint;
use crate::model_dir::{PREFIX, model_dir, resolve};

/// Builds a request's per-sequence constraint (constrained decoding plugs
/// in here); `Ok(None)`: the request decodes freely. Called once per
/// choice.
pub type ConstraintFactory =
    Arc<dyn Fn(&LmRequest, &Vocab) -> Result<Option<Box<dyn TokenConstraint>>, LocalError> + Send + Sync>;

/// Engine options of a [`LocalLm`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalLmOptions {
    /// Byte budget of the prefix cache (default 512 MiB; 0 disables it).
    pub prefix_cache_bytes: usize,
    /// Prompt tokens prefilled per engine step over all waiting prompts
    /// (default 512).
    pub prefill_chunk: usize,
    /// Sequences decoding at once (default 16).
    pub max_sequences: usize,
    /// Constrained decoding (cargo feature `constrained`; default on with
    /// it): the model says it decodes under a grammar, so the ChatAdapter
    /// asks for its field structure and the JSON adapter sends its schema,
    /// and replies follow them. Without the feature there is no grammar
    /// engine and this is ignored.
    pub constrained: bool,
    /// Convert, at load time, the weight matrices stored in block formats
    /// for which candle has no SIMD dot product (Q4_1, Q5_0, Q5_1: every
    /// matrix of SmolLM2-135M's Q4_1 file, 133 of Qwen2.5-0.5B Q4_K_M's)
    /// to Q8_0, which has one (default off). Faster for Qwen2.5-0.5B's
    /// single stream (see docs/PERFORMANCE.md, "Local models"; for Q4_1 the
    /// engine's own kernel is now cheaper), but the weights are re-rounded
    /// to 8 bits per 32-weight block, so the arithmetic is no longer exactly
    /// the file's and greedy replies can differ from llama.cpp's or from
    /// this engine's without it.
    pub requantize_q8: bool,
    /// Run the weight matrices through candle's `QMatMul` instead of the
    /// engine's own weight-stationary kernels (default off). Both give the
    /// same outputs (the kernels mirror candle's arithmetic); this exists to
    /// measure one against the other (docs/PERFORMANCE.md, "Local models").
    pub candle_kernels: bool,
    /// A LoRA adapter in PEFT's format (a directory holding
    /// `adapter_config.json` and `adapter_model.safetensors`, as
    /// `finetune::LoraTrainer` or Hugging Face PEFT write it),
    /// merged into the weights at load time: each adapted projection
    /// becomes the dense `f32` matrix `W + B·A·alpha/r` (not re-quantized:
    /// a LoRA update is mostly below one quantization step). An adapter
    /// that does not fit the model is [`LocalError::Adapter`].
    pub lora_adapter: Option<PathBuf>,
}

impl Default for LocalLmOptions {
    fn default() -> Self {
        Self {
            prefix_cache_bytes: 512 << 20,
            prefill_chunk: 512,
            max_sequences: 16,
            constrained: true,
            requantize_q8: false,
            candle_kernels: false,
            lora_adapter: None,
        }
    }
}

impl LocalLmOptions {
    /// Sets [`Self::prefix_cache_bytes`].
    #[must_use]
    pub fn prefix_cache_bytes(mut self, bytes: usize) -> Self {
        self.prefix_cache_bytes = bytes;
        self
    }

    /// Sets [`Self::prefill_chunk`] (at least 1).
    #[must_use]
    pub fn prefill_chunk(mut self, tokens: usize) -> Self {
        self.prefill_chunk = tokens.max(1);
        self
    }

    /// Sets [`Self::max_sequences`] (at least 1).
    #[must_use]
    pub fn max_sequences(mut self, n: usize) -> Self {
        self.max_sequences = n.max(1);
        self
    }

    /// Sets [`Self::requantize_q8`].
    #[must_use]
    pub fn requantize_q8(mut self, on: bool) -> Self {
        self.requantize_q8 = on;
        self
    }

    /// Sets [`Self::candle_kernels`].
    #[must_use]
    pub fn candle_kernels(mut self, on: bool) -> Self {
        self.candle_kernels = on;
        self
    }

    /// Sets [`Self::lora_adapter`].
    #[must_use]
    pub fn lora_adapter(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lora_adapter = Some(dir.into());
        self
    }

    /// Sets [`Self::constrained`].
    #[must_use]
    pub fn constrained(mut self, on: bool) -> Self {
        self.constrained = on;
        self
    }
}

/// A GGUF chat model (llama, qwen2) running on an engine thread of its own.
/// Cheap to clone; the engine stops when the last clone is dropped.
#[derive(Clone)]
pub struct LocalLm {
    model: String,
    shared: Arc<Shared>,
    constraint_factory: Option<ConstraintFactory>,
}

struct Shared {
    tokenizer: Tokenizer,
    template: ChatTemplate,
    vocab: Arc<Vocab>,
    bos: Option<u32>,
    add_bos: bool,
    context: usize,
    jobs: Sender<Job>,
}

impl std::fmt::Debug for LocalLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLm")
            .field("model", &self.model)
            .field("vocab_size", &self.shared.vocab.vocab_size())
            .field("context", &self.shared.context)
            .field("constrained", &self.constraint_factory.is_some())
            .finish_non_exhaustive()
    }
}

/// A completed call with engine details (for measurements).
#[derive(Debug, Clone)]
pub struct LocalResponse {
    /// What the [`Lm`] call returns.
    pub response: LmResponse,
    /// Prompt tokens served by the prefix cache.
    pub cached_prompt_tokens: usize,
}

impl LocalLm {
    /// Loads the model a model string names: `local/<name>` (a directory
    /// or `.gguf` file in the model directory, see [`crate::model_dir`]),
    /// `local/<path>` or a path. A directory must hold one `.gguf` file.
    pub fn from_model_string(model: &str) -> Result<Self, LocalError> {
        Self::from_model_string_with(model, LocalLmOptions::default())
    }

    /// [`Self::from_model_string`] with engine options.
    pub fn from_model_string_with(model: &str, options: LocalLmOptions) -> Result<Self, LocalError> {
        let path = model_path(model)?;
        Self::load_as(model.to_owned(), &path, options)
    }

    /// Loads a `.gguf` file (or a directory holding one); its model string
    /// is `local/<path>`.
    pub fn load(path: impl AsRef<Path>, options: LocalLmOptions) -> Result<Self, LocalError> {
        let path = path.as_ref();
        Self::load_as(format!("{PREFIX}{}", path.display()), path, options)
    }

    /// Loads `path` under the model string `model`.
    pub(crate) fn load_as(model: String, path: &Path, options: LocalLmOptions) -> Result<Self, LocalError> {
        let file_path = gguf_in(path)?;
        let mut file = GgufFile::open(&file_path)?;
        let tokenizer = load_tokenizer(&file, file_path.parent())?;
        let pieces = file.str_array("tokenizer.ggml.tokens")?;
        let types = file.i32_array("tokenizer.ggml.token_type")?;
        let eos = file.opt_u32("tokenizer.ggml.eos_token_id")?;
        let bos = file.opt_u32("tokenizer.ggml.bos_token_id")?;
        let add_bos = file.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false);
        let byte_level = file.opt_str("tokenizer.ggml.model")?.unwrap_or("gpt2") == "gpt2";
        let mut loaded = Model::load(&mut file, options.requantize_q8, !options.candle_kernels)?;
        if let Some(dir) = &options.lora_adapter {
            loaded.merge_lora(&super::peft::load(dir)?, dir)?;
        }
        let vocab = Vocab::from_gguf(&pieces, &types, eos, byte_level, loaded.config().vocab_size)
            .map_err(|error| invalid(&file_path, error.to_string()))?;
        let token_text = |id: Option<u32>| id.and_then(|id| pieces.get(id as usize)).cloned().unwrap_or_default();
        let source = file.opt_str("tokenizer.chat_template")?.unwrap_or(CHATML_TEMPLATE).to_owned();
        let template = ChatTemplate::new(&source, &token_text(bos), &token_text(eos))?;
        let context = loaded.max_positions();
        let vocab = Arc::new(vocab);
        let (jobs, receiver) = mpsc::channel();
        let limits = EngineLimits {
            prefill_chunk: options.prefill_chunk.max(1),
            max_sequences: options.max_sequences.max(1),
            prefix_cache_bytes: options.prefix_cache_bytes,
        };
        let engine_vocab = Arc::clone(&vocab);
        let name = model.clone();
        std::thread::Builder::new()
            .name(format!("kestrel-local {model}"))
            .spawn(move || engine::run(name, loaded, engine_vocab, limits, receiver))
            .map_err(|error| io_error(&file_path, error))?;
        let shared = Shared { tokenizer, template, vocab, bos, add_bos, context, jobs };
        Ok(Self { model, shared: Arc::new(shared), constraint_factory: default_constraints(&options) })
    }

    /// Decodes freely: no constraint factory, and the capabilities no
    /// longer claim constrained decoding or structured outputs.
    #[must_use]
    pub fn without_constraints(mut self) -> Self {
        self.constraint_factory = None;
        self
    }

    /// Plugs in constrained decoding: `factory` builds each choice's
    /// [`TokenConstraint`] from the request (see [`ConstraintFactory`]).
    #[must_use]
    pub fn with_constraint_factory(mut self, factory: ConstraintFactory) -> Self {
        self.constraint_factory = Some(factory);
        self
    }

    /// The vocabulary (token bytes, EOS ids, logits width).
    pub fn vocab(&self) -> &Arc<Vocab> {
        &self.shared.vocab
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.shared.tokenizer
    }

    /// The longest prompt + completion the model runs, in tokens.
    pub fn context_length(&self) -> usize {
        self.shared.context
    }

    /// The chat template applied to messages (with the generation prompt).
    pub fn render(&self, messages: &[kestrel_core::Message]) -> Result<String, LocalError> {
        self.shared.template.render(messages)
    }

    /// The prompt token ids of a conversation.
    pub fn prompt_ids(&self, messages: &[kestrel_core::Message]) -> Result<Vec<u32>, LocalError> {
        let text = self.render(messages)?;
        let encoding = self.shared.tokenizer.encode(text, false).map_err(|error| self.failed(error.to_string()))?;
        let mut ids = encoding.get_ids().to_vec();
        if let Some(bos) = self.shared.bos.filter(|_| self.shared.add_bos) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    /// Runs one request and reports engine details besides the response.
    pub async fn generate(&self, request: &LmRequest) -> Result<LocalResponse, LocalError> {
        let prompt = self.prompt_ids(&request.messages)?;
        let n = request.n.max(1) as usize;
        let room = self.shared.context.saturating_sub(prompt.len());
        let max_tokens = request.max_tokens.map_or(room, |m| m as usize).min(room);
        let mut choices = Vec::with_capacity(n);
        for choice in 0..n {
            let constraint = match &self.constraint_factory {
                Some(factory) => factory(request, &self.shared.vocab)?,
                None => None,
            };
            let seed = seed_of(&prompt, request.rollout_id, request.temperature, choice);
            choices.push(ChoiceSpec { sampler: Sampler::new(request.temperature, seed), constraint });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job { prompt, max_tokens: max_tokens.max(1), stop: request.stop.clone(), choices, reply };
        self.shared.jobs.send(job).map_err(|_| self.failed("the engine thread has stopped".to_owned()))?;
        let output = answer.await.map_err(|_| self.failed("the engine thread has stopped".to_owned()))??;
        Ok(self.response(output))
    }

    fn response(&self, output: JobOutput) -> LocalResponse {
        let completion_tokens: usize = output.choices.iter().map(|c| c.tokens).sum();
        let completions = output
            .choices
            .into_iter()
            .map(|choice| {
                Completion::new(
                    choice.text,
                    Some(match choice.finish {
                        Finish::Stop => FinishReason::Stop,
                        Finish::Length => FinishReason::Length,
                    }),
                )
            })
            .collect();
        let usage = Usage { prompt_tokens: output.prompt_tokens as u64, completion_tokens: completion_tokens as u64 };
        LocalResponse {
            response: LmResponse::new(completions, usage, self.model.clone()),
            cached_prompt_tokens: output.cached_tokens,
        }
    }

    fn failed(&self, message: String) -> LocalError {
        LocalError::Inference { model: self.model.clone(), message }
    }
}

#[async_trait]
impl Lm for LocalLm {
    fn model(&self) -> &str {
        &self.model
    }

    /// With a constraint factory (feature `constrained`, the default), the
    /// model decodes under grammars: the ChatAdapter's field structure and
    /// JSON-schema `response_format`s.
    fn capabilities(&self) -> LmCapabilities {
        let constrained = self.constraint_factory.is_some();
        LmCapabilities::default().with_constrained_decoding(constrained).with_structured_outputs(constrained)
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        Ok(self.generate(&request).await?.response)
    }
}

/// The constraint factory a model starts with: llguidance's (feature
/// `constrained`) unless the options turn it off.
#[cfg(feature = "constrained")]
fn default_constraints(options: &LocalLmOptions) -> Option<ConstraintFactory> {
    options.constrained.then(crate::constrain::constraint_factory)
}

/// Without the feature there is no grammar engine: decode freely.
#[cfg(not(feature = "constrained"))]
fn default_constraints(_options: &LocalLmOptions) -> Option<ConstraintFactory> {
    None
}

/// The `.gguf` file a path names: the file itself, or the only `.gguf` file
/// in a directory.
/// The file or directory a model string names (see
/// [`LocalLm::from_model_string`]).
pub(crate) fn model_path(model: &str) -> Result<PathBuf, LocalError> {
    match model.strip_prefix(PREFIX) {
        Some(name) if !name.is_empty() && !name.contains(['/', '\\']) && !name.ends_with(".gguf") => {
            resolve(model, &model_dir()?)
        }
        _ => resolve(model, Path::new("")),
    }
}

pub(crate) fn gguf_in(path: &Path) -> Result<PathBuf, LocalError> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    if !path.is_dir() {
        return Err(LocalError::MissingFile { path: path.to_owned() });
    }
    let entries = std::fs::read_dir(path).map_err(|error| io_error(path, error))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("gguf")))
        .collect();
    found.sort();
    match found.len() {
        0 => Err(LocalError::MissingFile { path: path.join("*.gguf") }),
        1 => Ok(found.remove(0)),
        _ => Err(invalid(path, format!("{} .gguf files; name one", found.len()))),
    }
}
