//! The engine thread: it owns the model, receives jobs over a channel and
//! decodes every active sequence together — each step is one batched
//! forward holding one new token per decoding sequence plus a chunk of each
//! waiting prompt (chunked prefill). Prompts start from the longest prefix
//! found in the [`PrefixCache`]; a job with `n > 1` prefills once and forks
//! its KV state into `n` sequences.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::kv_cache::KvCache;
use super::model::{Model, SeqStep};
use super::prefix_cache::PrefixCache;
use super::sampler::Sampler;
use super::vocab::Vocab;
use crate::LocalError;
use crate::constraint::TokenConstraint;

/// Scheduling limits of the engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineLimits {
    /// Prompt tokens prefilled per step, over all waiting prompts.
    pub(crate) prefill_chunk: usize,
    /// Sequences decoding at once (more wait).
    pub(crate) max_sequences: usize,
    /// Prefix cache budget in bytes.
    pub(crate) prefix_cache_bytes: usize,
}

/// One request, tokenized.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) prompt: Vec<u32>,
    pub(crate) max_tokens: usize,
    pub(crate) stop: Vec<String>,
    /// One per choice (`n` of them).
    pub(crate) choices: Vec<ChoiceSpec>,
    pub(crate) reply: oneshot::Sender<Result<JobOutput, LocalError>>,
}

/// How one choice samples.
#[derive(Debug)]
pub(crate) struct ChoiceSpec {
    pub(crate) sampler: Sampler,
    pub(crate) constraint: Option<Box<dyn TokenConstraint>>,
}

/// Why a choice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// EOS, a stop sequence, or the constraint completed.
    Stop,
    /// `max_tokens` or the context limit.
    Length,
}

/// One finished choice.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceOutput {
    pub(crate) text: String,
    pub(crate) finish: Finish,
    pub(crate) tokens: usize,
}

/// A finished job.
#[derive(Debug, Clone)]
pub(crate) struct JobOutput {
    pub(crate) choices: Vec<ChoiceOutput>,
    pub(crate) prompt_tokens: usize,
    /// Prompt tokens served by the prefix cache.
    pub(crate) cached_tokens: usize,
}

struct JobState {
    id: u64,
    reply: Option<oneshot::Sender<Result<JobOutput, LocalError>>>,
    prompt: Vec<u32>,
    max_tokens: usize,
    stop: Vec<String>,
    choices: Vec<Option<ChoiceSpec>>,
    outputs: Vec<Option<ChoiceOutput>>,
    cached_tokens: usize,
}

struct Prefill {
    job: u64,
    cache: KvCache,
}

struct Decode {
    job: u64,
    choice: usize,
    cache: KvCache,
    next: u32,
    sampler: Sampler,
    constraint: Option<Box<dyn TokenConstraint>>,
    generated: Vec<u32>,
}

/// The engine loop; returns when every sender is gone.
pub(crate) fn run(name: String, model: Model, vocab: Arc<Vocab>, limits: EngineLimits, jobs: Receiver<Job>) {
    let mut engine = Engine {
        name,
        model,
        vocab,
        limits,
        prefix: PrefixCache::new(limits.prefix_cache_bytes),
        jobs: Vec::new(),
        prefills: Vec::new(),
        decodes: Vec::new(),
        next_id: 0,
    };
    loop {
        let idle = engine.prefills.is_empty() && engine.decodes.is_empty();
        let first = if idle {
            match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            }
        } else {
            match jobs.recv_timeout(Duration::ZERO) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        for job in first.into_iter().chain(std::iter::from_fn(|| jobs.try_recv().ok())) {
            engine.admit(job);
        }
        engine.step();
    }
}

struct Engine {
    name: String,
    model: Model,
    vocab: Arc<Vocab>,
    limits: EngineLimits,
    prefix: PrefixCache,
    jobs: Vec<JobState>,
    prefills: Vec<Prefill>,
    decodes: Vec<Decode>,
    next_id: u64,
}

impl Engine {
    fn admit(&mut self, job: Job) {
        let context = self.model.max_positions();
        if job.prompt.is_empty() || job.prompt.len() >= context {
            let message = format!("prompt of {} tokens does not fit the context of {context}", job.prompt.len());
            let _ = job.reply.send(Err(LocalError::Inference { model: self.name.clone(), message }));
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let (cache, cached_tokens) = self.prefix.lookup(&job.prompt).unwrap_or_else(|| (self.model.new_cache(), 0));
        let n = job.choices.len();
        self.jobs.push(JobState {
            id,
            reply: Some(job.reply),
            prompt: job.prompt,
            max_tokens: job.max_tokens,
            stop: job.stop,
            choices: job.choices.into_iter().map(Some).collect(),
            outputs: vec![None; n],
            cached_tokens,
        });
        self.prefills.push(Prefill { job: id, cache });
    }

    fn job(&mut self, id: u64) -> Option<&mut JobState> {
        self.jobs.iter_mut().find(|job| job.id == id)
    }

    /// One batched forward over every decoding sequence and a chunk of the
    /// waiting prompts; then sampling and bookkeeping.
    fn step(&mut self) {
        self.drop_cancelled();
        if self.prefills.is_empty() && self.decodes.is_empty() {
            return;
        }
        // Which prefills run this step, and how many of their tokens.
        let mut budget = self.limits.prefill_chunk.max(1);
        let room = self.limits.max_sequences.saturating_sub(self.decodes.len());
        let mut chunks: Vec<(usize, usize, usize)> = Vec::new(); // (prefill index, from, to)
        let mut waiting_choices = 0;
        for (i, prefill) in self.prefills.iter().enumerate() {
            let Some(job) = self.jobs.iter().find(|job| job.id == prefill.job) else { continue };
            if budget == 0 || (waiting_choices > 0 && waiting_choices + job.choices.len() > room) {
                break;
            }
            let from = prefill.cache.len();
            let to = (from + budget).min(job.prompt.len());
            budget -= to - from;
            waiting_choices += job.choices.len();
            chunks.push((i, from, to));
        }
        let decode_count = self.decodes.len();
        let prompts: Vec<Vec<u32>> = chunks
            .iter()
            .map(|&(i, from, to)| {
                let id = self.prefills[i].job;
                self.jobs.iter().find(|job| job.id == id).map_or_else(Vec::new, |job| job.prompt[from..to].to_vec())
            })
            .collect();
        let next_tokens: Vec<[u32; 1]> = self.decodes.iter().map(|d| [d.next]).collect();
        let result = {
            let mut batch: Vec<SeqStep<'_>> = Vec::with_capacity(decode_count + chunks.len());
            for (decode, token) in self.decodes.iter_mut().zip(&next_tokens) {
                batch.push(SeqStep { tokens: token, cache: &mut decode.cache });
            }
            let chosen: Vec<usize> = chunks.iter().map(|&(i, _, _)| i).collect();
            for ((i, prefill), tokens) in
                self.prefills.iter_mut().enumerate().filter(|(i, _)| chosen.contains(i)).zip(&prompts)
            {
                let _ = i;
                batch.push(SeqStep { tokens, cache: &mut prefill.cache });
            }
            self.model.forward(&mut batch)
        };
        let logits = match result {
            Ok(logits) => logits,
            Err(error) => {
                let mut ids: Vec<u64> = self.decodes.iter().map(|d| d.job).collect();
                ids.extend(chunks.iter().map(|&(i, _, _)| self.prefills[i].job));
                self.fail(&ids, &error.to_string());
                return;
            }
        };
        let (decode_logits, prefill_logits) = logits.split_at(decode_count.min(logits.len()));
        // Decoding sequences: sample their next token.
        let decodes = std::mem::take(&mut self.decodes);
        for (mut decode, logits) in decodes.into_iter().zip(decode_logits) {
            match self.advance(&mut decode, logits.clone()) {
                Ok(true) => self.decodes.push(decode),
                Ok(false) => {}
                Err(error) => self.fail(&[decode.job], &error.to_string()),
            }
        }
        // Prefills that reached the end of their prompt fork into choices.
        let mut finished = Vec::new();
        for (&(i, _, to), logits) in chunks.iter().zip(prefill_logits) {
            let id = self.prefills[i].job;
            if self.jobs.iter().any(|job| job.id == id && job.prompt.len() == to) {
                finished.push((i, logits.clone()));
            }
        }
        let mut done: Vec<usize> = finished.iter().map(|(i, _)| *i).collect();
        done.sort_unstable();
        let mut removed: Vec<(usize, Prefill)> = Vec::new();
        for &i in done.iter().rev() {
            removed.push((i, self.prefills.remove(i)));
        }
        for (i, logits) in finished {
            let Some(prefill) = removed.iter().position(|(j, _)| *j == i).map(|p| removed.swap_remove(p).1) else {
                continue;
            };
            self.start_choices(prefill, logits);
        }
    }

    fn start_choices(&mut self, prefill: Prefill, logits: Vec<f32>) {
        let id = prefill.job;
        let Some(job) = self.job(id) else { return };
        let prompt = job.prompt.clone();
        let specs: Vec<(usize, ChoiceSpec)> =
            job.choices.iter_mut().enumerate().filter_map(|(c, spec)| spec.take().map(|s| (c, s))).collect();
        self.prefix.insert(&prompt, &prefill.cache);
        let count = specs.len();
        let mut cache = Some(prefill.cache);
        for (k, (choice, spec)) in specs.into_iter().enumerate() {
            let cache =
                if k + 1 == count { cache.take().unwrap_or_default() } else { cache.clone().unwrap_or_default() };
            let mut decode = Decode {
                job: id,
                choice,
                cache,
                next: 0,
                sampler: spec.sampler,
                constraint: spec.constraint,
                generated: Vec::new(),
            };
            match self.advance(&mut decode, logits.clone()) {
                Ok(true) => self.decodes.push(decode),
                Ok(false) => {}
                Err(error) => {
                    self.fail(&[id], &error.to_string());
                    return;
                }
            }
        }
    }

    /// Samples one token for a sequence from its logits; `Ok(true)` while it
    /// goes on, `Ok(false)` once its choice is finished (and recorded).
    fn advance(&mut self, decode: &mut Decode, mut logits: Vec<f32>) -> Result<bool, LocalError> {
        let inference = |message: String| LocalError::Inference { model: self.name.clone(), message };
        if let Some(constraint) = decode.constraint.as_mut() {
            constraint.mask_logits(&mut logits)?;
        }
        let token = decode
            .sampler
            .sample(&logits)
            .ok_or_else(|| inference("every token was masked out: the constraint allows nothing".to_owned()))?;
        let complete = match decode.constraint.as_mut() {
            Some(constraint) => constraint.commit(token)?,
            None => false,
        };
        let vocab = Arc::clone(&self.vocab);
        let max_positions = self.model.max_positions();
        let Some(job) = self.job(decode.job) else { return Ok(false) };
        let finish = if vocab.is_eos(token) {
            Some(Finish::Stop)
        } else {
            decode.generated.push(token);
            if complete {
                Some(Finish::Stop)
            } else if decode.generated.len() >= job.max_tokens || decode.cache.len() + 1 >= max_positions {
                Some(Finish::Length)
            } else {
                None
            }
        };
        let mut text = vocab.decode(&decode.generated);
        let stopped = first_stop(&text, &job.stop);
        if let Some(at) = stopped {
            text.truncate(at);
        }
        let finish = if stopped.is_some() { Some(Finish::Stop) } else { finish };
        let Some(finish) = finish else {
            decode.next = token;
            return Ok(true);
        };
        let output =
            ChoiceOutput { text: String::from_utf8_lossy(&text).into_owned(), finish, tokens: decode.generated.len() };
        job.outputs[decode.choice] = Some(output);
        if job.outputs.iter().all(Option::is_some) {
            self.complete(decode.job);
        }
        Ok(false)
    }

    fn complete(&mut self, id: u64) {
        let Some(index) = self.jobs.iter().position(|job| job.id == id) else { return };
        let mut job = self.jobs.swap_remove(index);
        let output = JobOutput {
            choices: job.outputs.iter_mut().filter_map(Option::take).collect(),
            prompt_tokens: job.prompt.len(),
            cached_tokens: job.cached_tokens,
        };
        if let Some(reply) = job.reply.take() {
            let _ = reply.send(Ok(output));
        }
    }

    fn fail(&mut self, ids: &[u64], message: &str) {
        for &id in ids {
            if let Some(index) = self.jobs.iter().position(|job| job.id == id) {
                let mut job = self.jobs.swap_remove(index);
                if let Some(reply) = job.reply.take() {
                    let error = LocalError::Inference { model: self.name.clone(), message: message.to_owned() };
                    let _ = reply.send(Err(error));
                }
            }
        }
        self.prune();
    }

    /// Drops the sequences of jobs whose caller went away.
    fn drop_cancelled(&mut self) {
        let before = self.jobs.len();
        self.jobs.retain(|job| job.reply.as_ref().is_some_and(|reply| !reply.is_closed()));
        if self.jobs.len() != before {
            self.prune();
        }
    }

    fn prune(&mut self) {
        let live: Vec<u64> = self.jobs.iter().map(|job| job.id).collect();
        self.prefills.retain(|p| live.contains(&p.job));
        self.decodes.retain(|d| live.contains(&d.job));
    }
}

/// The byte offset of the earliest stop sequence in `text`.
fn first_stop(text: &[u8], stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| text.windows(stop.len()).position(|window| window == stop.as_bytes()))
        .min()
}

#[cfg(test)]
mod tests {
    use super::first_stop;

    #[test]
    fn earliest_stop_sequence_wins() {
        let stops = vec!["[[".to_owned(), "\n\n".to_owned(), String::new()];
        assert_eq!(first_stop(b"ab\n\ncd[[", &stops), Some(2));
        assert_eq!(first_stop(b"abc", &stops), None);
    }
}
