//! [`LoraTrainer`]: loads a model, trains LoRA matrices on chat examples
//! with AdamW, evaluates the loss, and saves the PEFT adapter.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::data::{ChatExample, Sample, tokenize};
use super::net::{LoraNet, Rng};
use super::{LoraConfig, StepProgress, TrainReport};
use crate::chat::gguf::GgufFile;
use crate::chat::model::{Architecture, Model};
use crate::chat::peft::{self, AdapterMeta, LoraPair, TARGET_MODULES};
use crate::{LocalError, LocalLm, LocalLmOptions};

/// LoRA fine-tuning of one local GGUF chat model (see the
/// [module documentation](super) for the inputs it needs).
///
/// ```no_run
/// # fn main() -> Result<(), kestrel_local::LocalError> {
/// use kestrel_local::finetune::{ChatExample, LoraConfig, LoraTrainer};
/// let data = std::fs::read_to_string("train.jsonl").map_err(|e| kestrel_local::LocalError::Finetune { message: e.to_string() })?;
/// let examples = ChatExample::parse_jsonl(&data)?;
/// let mut trainer = LoraTrainer::new("model.gguf", LoraConfig::default().rank(8).epochs(2))?;
/// let report = trainer.train(&examples, |step| eprintln!("step {} loss {}", step.step, step.loss))?;
/// trainer.save_adapter("adapter")?;
/// # let _ = report; Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoraTrainer {
    lm: LocalLm,
    net: LoraNet,
    config: LoraConfig,
    targets: Vec<usize>,
    base_model: String,
    rng: Rng,
}

fn failed(error: impl std::fmt::Display) -> LocalError {
    LocalError::Finetune { message: error.to_string() }
}

impl LoraTrainer {
    /// Loads the model (a `.gguf` file or a directory holding one) and sets
    /// up LoRA as `config` says. A bad configuration (rank 0, unknown
    /// target module, dropout outside `[0, 1)`, zero epochs or batch) is
    /// [`LocalError::Finetune`].
    pub fn new(model_path: impl AsRef<Path>, config: LoraConfig) -> Result<Self, LocalError> {
        let path = model_path.as_ref();
        let mut targets = Vec::new();
        for name in &config.target_modules {
            let index = TARGET_MODULES.iter().position(|m| m == name).ok_or_else(|| {
                failed(format!("unknown target module `{name}` (expected some of {TARGET_MODULES:?})"))
            })?;
            if !targets.contains(&index) {
                targets.push(index);
            }
        }
        if targets.is_empty() || config.rank == 0 || config.epochs == 0 || config.batch_size == 0 {
            return Err(failed("rank, epochs, batch size and target modules must be non-zero"));
        }
        if !(0.0..1.0).contains(&config.dropout)
            || config.max_seq_len < 2
            || config.learning_rate.is_nan()
            || config.learning_rate <= 0.0
        {
            return Err(failed("dropout must be in [0, 1), max_seq_len at least 2, the learning rate positive"));
        }
        targets.sort_unstable();
        let lm = LocalLm::load(path, LocalLmOptions::default().prefix_cache_bytes(0).constrained(false))?;
        let file_path = crate::chat::lm::gguf_in(path)?;
        let mut file = GgufFile::open(&file_path)?;
        let base_model = file
            .opt_str("general.name")?
            .map(str::to_owned)
            .unwrap_or_else(|| file_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let dense = Model::load(&mut file, false, false)?.to_dense().map_err(failed)?;
        let max_len = config.max_seq_len.min(lm.context_length());
        let mut rng = Rng::new(config.seed);
        let scale = config.alpha / config.rank as f64;
        let net = LoraNet::new(dense, &targets, config.rank, scale, config.dropout as f32, max_len, &mut rng)
            .map_err(failed)?;
        Ok(Self { lm, net, config, targets, base_model, rng })
    }

    /// The configuration.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// Trains on `examples` for [`LoraConfig::epochs`] epochs (shuffled,
    /// seeded), one AdamW step per batch, calling `progress` after each.
    pub fn train(
        &mut self,
        examples: &[ChatExample],
        mut progress: impl FnMut(&StepProgress),
    ) -> Result<TrainReport, LocalError> {
        self.train_while(examples, |step| {
            progress(step);
            true
        })
    }

    /// [`Self::train`], stopping after the step at which `progress` returns
    /// `false` (the report then says [`TrainReport::stopped_early`]; the
    /// adapter keeps the updates made so far). A fine-tuning backend
    /// cancels a job this way, between steps.
    pub fn train_while(
        &mut self,
        examples: &[ChatExample],
        mut progress: impl FnMut(&StepProgress) -> bool,
    ) -> Result<TrainReport, LocalError> {
        let start = Instant::now();
        let (samples, skipped) = self.samples(examples)?;
        if samples.is_empty() {
            return Err(failed("no example fits max_seq_len"));
        }
        let params = ParamsAdamW { lr: self.config.learning_rate, weight_decay: 0.0, ..ParamsAdamW::default() };
        let vars = self.net.vars();
        let mut optimizer = AdamW::new(vars.clone(), params).map_err(failed)?;
        let batch = self.config.batch_size;
        let steps_per_epoch = samples.len().div_ceil(batch);
        let total_steps = steps_per_epoch * self.config.epochs;
        let mut losses = Vec::with_capacity(total_steps);
        let mut order: Vec<usize> = (0..samples.len()).collect();
        let mut stopped_early = false;
        'epochs: for epoch in 0..self.config.epochs {
            self.rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                let batch_tokens: usize = chunk.iter().map(|&i| samples[i].ids.len() - samples[i].first_target).sum();
                let mut sums: Vec<Option<Tensor>> = vec![None; vars.len()];
                let mut loss_total = 0f32;
                let mut last_grads = None;
                for &i in chunk {
                    let sample = &samples[i];
                    let loss = self
                        .net
                        .target_loss(&sample.ids, sample.first_target, Some(&mut self.rng))
                        .and_then(|loss| loss / batch_tokens as f64)
                        .map_err(failed)?;
                    loss_total += loss.to_scalar::<f32>().map_err(failed)?;
                    let grads = loss.backward().map_err(failed)?;
                    for (sum, var) in sums.iter_mut().zip(&vars) {
                        if let Some(grad) = grads.get(var.as_tensor()) {
                            *sum = Some(match sum.take() {
                                Some(previous) => (previous + grad).map_err(failed)?,
                                None => grad.clone(),
                            });
                        }
                    }
                    last_grads = Some(grads);
                }
                let Some(mut grads) = last_grads else { continue };
                for (sum, var) in sums.into_iter().zip(&vars) {
                    if let Some(sum) = sum {
                        grads.insert(var.as_tensor(), sum);
                    }
                }
                optimizer.step(&grads).map_err(failed)?;
                losses.push(loss_total);
                let go_on = progress(&StepProgress {
                    step: losses.len(),
                    total_steps,
                    epoch,
                    loss: loss_total,
                    elapsed: start.elapsed(),
                });
                if !go_on {
                    stopped_early = losses.len() < total_steps;
                    break 'epochs;
                }
            }
        }
        let target_tokens = samples.iter().map(|s| s.ids.len() - s.first_target).sum();
        Ok(TrainReport {
            losses,
            examples: samples.len(),
            skipped,
            target_tokens,
            tokens: samples.iter().map(|s| s.ids.len()).sum(),
            elapsed: start.elapsed(),
            stopped_early,
        })
    }

    /// The mean loss per assistant token over `examples` with the current
    /// adapter (no dropout, no update): compare before and after training.
    pub fn loss(&self, examples: &[ChatExample]) -> Result<f32, LocalError> {
        let (samples, _) = self.samples(examples)?;
        let mut sum = 0f64;
        let mut tokens = 0usize;
        for sample in &samples {
            let loss = self.net.target_loss(&sample.ids, sample.first_target, None).map_err(failed)?;
            sum += f64::from(loss.to_scalar::<f32>().map_err(failed)?);
            tokens += sample.ids.len() - sample.first_target;
        }
        if tokens == 0 {
            return Err(failed("no example fits max_seq_len"));
        }
        Ok((sum / tokens as f64) as f32)
    }

    /// Writes the adapter in PEFT's format to `dir` (created if needed):
    /// `adapter_model.safetensors` and `adapter_config.json`. Returns the
    /// directory.
    pub fn save_adapter(&self, dir: impl AsRef<Path>) -> Result<PathBuf, LocalError> {
        let dir = dir.as_ref();
        let llama = self.net.dense.config.architecture == Architecture::Llama;
        let head_dim = self.net.dense.config.heads.head_dim;
        let mut pairs = Vec::new();
        for (layer, slots) in self.net.lora.iter().enumerate() {
            for (module, vars) in slots.iter().enumerate() {
                let Some(vars) = vars else { continue };
                let a = vars.a.as_tensor().detach();
                let b = vars.b.as_tensor().detach();
                let b = if llama && module < 2 { peft::hf_rows_from_gguf(&b, head_dim).map_err(failed)? } else { b };
                pairs.push(LoraPair { layer, module, a, b });
            }
        }
        let meta = AdapterMeta {
            r: self.config.rank,
            alpha: self.config.alpha,
            dropout: self.config.dropout,
            target_modules: self.targets.iter().map(|&i| TARGET_MODULES[i].to_owned()).collect(),
            base_model: self.base_model.clone(),
        };
        peft::save(dir, &meta, &pairs)?;
        Ok(dir.to_owned())
    }

    fn samples(&self, examples: &[ChatExample]) -> Result<(Vec<Sample>, usize), LocalError> {
        let max_len = self.config.max_seq_len.min(self.lm.context_length());
        let mut samples = Vec::with_capacity(examples.len());
        let mut skipped = 0;
        for example in examples {
            match tokenize(&self.lm, example, max_len)? {
                Some(sample) => samples.push(sample),
                None => skipped += 1,
            }
        }
        Ok((samples, skipped))
    }
}
