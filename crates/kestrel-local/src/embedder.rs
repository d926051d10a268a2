//! [`LocalEmbedder`]: sentence embeddings from a BERT model directory
//! (all-MiniLM-L6-v2: `config.json`, `tokenizer.json`, `model.safetensors`)
//! run in-process on the CPU with candle, pooled as sentence-transformers
//! does (masked mean, L2 normalization).
//!
//! The tokenizer file of all-MiniLM-L6-v2 pads every text to 128 tokens; the
//! embedder drops that padding and pads each batch itself to its longest
//! text (texts are batched by length), always passing the attention mask to
//! the model and to the mean, so a text's vector does not depend on its
//! batch or on padding. The batches of one call run on `concurrency`
//! threads at once (candle's CPU kernels alone leave cores idle). Truncation follows sentence-transformers'
//! `max_seq_length` (`sentence_bert_config.json`, 256 for MiniLM).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use kestrel_lm::{Embedder, LmError};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use crate::LocalError;
use crate::model_dir::{PREFIX, model_dir, resolve};
use crate::pooling::{l2_normalize, masked_mean};

/// The vectors of one batch, in batch order.
type BatchResult = candle_core::Result<Vec<Vec<f32>>>;

/// The default number of texts run through the model at once.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// A BERT sentence embedder running in-process (see the module docs).
/// Cheap to clone: the model is shared.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: String,
    batch_size: usize,
    concurrency: usize,
    inner: Arc<Inner>,
}

struct Inner {
    bert: BertModel,
    tokenizer: Tokenizer,
    pad_id: u32,
    dimension: usize,
    max_tokens: usize,
}

impl fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model", &self.model)
            .field("dimension", &self.inner.dimension)
            .field("max_tokens", &self.inner.max_tokens)
            .field("batch_size", &self.batch_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Loads the model a model string names: `local/<name>` in the model
    /// directory (`$KESTREL_MODEL_DIR`, else the user cache directory's
    /// `kestrel/models`), or `local/<path>` / a path.
    pub fn from_model_string(model: &str) -> Result<Self, LocalError> {
        let dir = match model.strip_prefix(PREFIX) {
            Some(name) if !name.is_empty() && !name.contains(['/', '\\']) => resolve(model, &model_dir()?)?,
            _ => resolve(model, Path::new(""))?,
        };
        Self::load_as(model.to_owned(), &dir)
    }

    /// Loads the model files of a directory; its model string is
    /// `local/<dir>`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LocalError> {
        let dir = dir.as_ref();
        Self::load_as(format!("local/{}", dir.display()), dir)
    }

    fn load_as(model: String, dir: &Path) -> Result<Self, LocalError> {
        let config_path = dir.join("config.json");
        let config: Config = serde_json::from_str(&read_text(&config_path)?)
            .map_err(|error| invalid(&config_path, error.to_string()))?;

        let tokenizer_path = dir.join("tokenizer.json");
        require(&tokenizer_path)?;
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|error| invalid(&tokenizer_path, error.to_string()))?;
        let tokens = tokenizer.get_vocab_size(true);
        if tokens > config.vocab_size {
            let message = format!("{tokens} tokens, but the model in config.json has {}", config.vocab_size);
            return Err(invalid(&tokenizer_path, message));
        }
        let pad_id = tokenizer.get_padding().map_or(config.pad_token_id as u32, |padding| padding.pad_id);
        let max_tokens = max_seq_length(dir, &tokenizer)?.min(config.max_position_embeddings);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_tokens, ..TruncationParams::default() }))
            .map_err(|error| invalid(&tokenizer_path, error.to_string()))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|error| io_error(&weights_path, error))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|error| invalid(&weights_path, error.to_string()))?;
        let bert = BertModel::load(vb, &config).map_err(|error| invalid(&weights_path, error.to_string()))?;

        let inner = Inner { bert, tokenizer, pad_id, dimension: config.hidden_size, max_tokens };
        let concurrency = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self { model, batch_size: DEFAULT_BATCH_SIZE, concurrency, inner: Arc::new(inner) })
    }

    /// How many texts run through the model at once (default
    /// [`DEFAULT_BATCH_SIZE`]; at least 1).
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The batch size in use.
    pub fn get_batch_size(&self) -> usize {
        self.batch_size
    }

    /// How many batches of one call run at once, each on its own thread
    /// (default: the number of CPUs; at least 1).
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The concurrency in use.
    pub fn get_concurrency(&self) -> usize {
        self.concurrency
    }

    /// The length of every vector (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.inner.dimension
    }

    /// The token limit a text is truncated to.
    pub fn max_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    /// Embeds on the current thread (the async [`Embedder::embed`] runs this
    /// on tokio's blocking pool).
    pub fn embed_blocking(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LocalError> {
        self.inner.embed(&self.model, inputs, self.batch_size, self.concurrency)
    }
}

impl Inner {
    fn embed(
        &self,
        model: &str,
        inputs: &[String],
        batch_size: usize,
        concurrency: usize,
    ) -> Result<Vec<Vec<f32>>, LocalError> {
        let failed = |message: String| LocalError::Inference { model: model.to_owned(), message };
        let encodings =
            self.tokenizer.encode_batch(inputs.to_vec(), true).map_err(|error| failed(error.to_string()))?;
        // Batch texts of similar length together: less padding to compute.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        let workers = concurrency.min(batches.len()).max(1);
        // candle's CPU kernels leave cores idle between matmuls, so several
        // batches run at once, batch `b` on worker `b % workers`.
        let results: Vec<(&[usize], BatchResult)> = if workers == 1 {
            batches.iter().map(|batch| (*batch, self.run_batch(batch, &encodings))).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|worker| {
                        let batches = &batches;
                        let encodings = &encodings;
                        scope.spawn(move || {
                            batches
                                .iter()
                                .skip(worker)
                                .step_by(workers)
                                .map(|batch| (*batch, self.run_batch(batch, encodings)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let mut results = Vec::with_capacity(batches.len());
                for handle in handles {
                    match handle.join() {
                        Ok(part) => results.extend(part),
                        Err(_) => return Err(failed("an embedding worker thread panicked".to_owned())),
                    }
                }
                Ok(results)
            })?
        };
        let mut out = vec![Vec::new(); inputs.len()];
        for (batch, vectors) in results {
            for (&i, vector) in batch.iter().zip(vectors.map_err(|error| failed(error.to_string()))?) {
                out[i] = vector;
            }
        }
        Ok(out)
    }

    /// Pads one batch to its longest text and runs it.
    fn run_batch(&self, batch: &[usize], encodings: &[Encoding]) -> BatchResult {
        let width = batch.iter().map(|&i| encodings[i].get_ids().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut types = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for &i in batch {
            let encoding = &encodings[i];
            let len = encoding.get_ids().len();
            ids.extend_from_slice(encoding.get_ids());
            types.extend_from_slice(encoding.get_type_ids());
            mask.extend(std::iter::repeat_n(1u32, len));
            ids.extend(std::iter::repeat_n(self.pad_id, width - len));
            types.extend(std::iter::repeat_n(0u32, width - len));
            mask.extend(std::iter::repeat_n(0u32, width - len));
        }
        self.run(batch.len(), width, ids, types, mask)
    }

    fn run(
        &self,
        rows: usize,
        width: usize,
        ids: Vec<u32>,
        types: Vec<u32>,
        mask: Vec<u32>,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let device = &self.bert.device;
        let ids = Tensor::from_vec(ids, (rows, width), device)?;
        let types = Tensor::from_vec(types, (rows, width), device)?;
        let mask = Tensor::from_vec(mask, (rows, width), device)?;
        let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
        l2_normalize(&masked_mean(&hidden, &mask)?)?.to_vec2::<f32>()
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Ok(self.embed_blocking(inputs)?);
        };
        let this = self.clone();
        let inputs = inputs.to_vec();
        let vectors = runtime
            .spawn_blocking(move || this.embed_blocking(&inputs))
            .await
            .map_err(|error| LocalError::Inference { model: self.model.clone(), message: error.to_string() })??;
        Ok(vectors)
    }
}

/// sentence-transformers' `max_seq_length` if the directory has
/// `sentence_bert_config.json`, else the tokenizer file's truncation, else 512.
fn max_seq_length(dir: &Path, tokenizer: &Tokenizer) -> Result<usize, LocalError> {
    let path = dir.join("sentence_bert_config.json");
    if path.is_file() {
        let value: serde_json::Value =
            serde_json::from_str(&read_text(&path)?).map_err(|error| invalid(&path, error.to_string()))?;
        if let Some(n) = value.get("max_seq_length").and_then(serde_json::Value::as_u64) {
            return Ok(usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
    Ok(tokenizer.get_truncation().map_or(512, |truncation| truncation.max_length))
}

fn require(path: &Path) -> Result<(), LocalError> {
    if path.is_file() { Ok(()) } else { Err(LocalError::MissingFile { path: path.to_owned() }) }
}

fn read_text(path: &Path) -> Result<String, LocalError> {
    require(path)?;
    std::fs::read_to_string(path).map_err(|error| io_error(path, error))
}

fn io_error(path: &Path, source: std::io::Error) -> LocalError {
    if source.kind() == std::io::ErrorKind::NotFound {
        LocalError::MissingFile { path: path.to_owned() }
    } else {
        LocalError::Io { path: path.to_owned(), source }
    }
}

fn invalid(path: &Path, message: String) -> LocalError {
    LocalError::InvalidFile { path: PathBuf::from(path), message }
}
