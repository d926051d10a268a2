//! [`PrefixCache`]: computed KV state of recent prompts, so a request that
//! shares a prefix with one of them (a DSPy program's system message and
//! demos) skips that part of the prefill. Least recently used entries are
//! evicted past a byte budget.

use super::kv_cache::KvCache;

/// Prompt tokens → their KV cache, LRU-bounded in bytes.
#[derive(Debug)]
pub(crate) struct PrefixCache {
    entries: Vec<Entry>,
    bytes: usize,
    budget: usize,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    tokens: Vec<u32>,
    kv: KvCache,
    last_used: u64,
}

impl PrefixCache {
    /// An empty cache holding at most `budget` bytes (0: disabled).
    pub(crate) fn new(budget: usize) -> Self {
        Self { entries: Vec::new(), bytes: 0, budget, tick: 0 }
    }

    /// The KV state of the longest cached prefix of `prompt`, leaving at
    /// least one prompt token to run (the model must produce logits), and
    /// its length; `None` when nothing is shared.
    pub(crate) fn lookup(&mut self, prompt: &[u32]) -> Option<(KvCache, usize)> {
        let limit = prompt.len().saturating_sub(1);
        let (index, shared) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, entry)| (i, common_prefix(&entry.tokens, prompt).min(limit).min(entry.kv.len())))
            .max_by_key(|&(i, shared)| (shared, std::cmp::Reverse(i)))?;
        if shared == 0 {
            return None;
        }
        self.tick += 1;
        let entry = &mut self.entries[index];
        entry.last_used = self.tick;
        Some((entry.kv.truncated(shared), shared))
    }

    /// Stores the KV state of a prompt (replacing entries it extends),
    /// then evicts the least recently used entries past the budget.
    pub(crate) fn insert(&mut self, tokens: &[u32], kv: &KvCache) {
        let size = kv.bytes();
        if size == 0 || size > self.budget {
            return;
        }
        let mut i = 0;
        while i < self.entries.len() {
            let entry = &self.entries[i];
            if tokens.starts_with(&entry.tokens) {
                self.bytes -= entry.kv.bytes();
                self.entries.swap_remove(i);
            } else if entry.tokens.starts_with(tokens) {
                return;
            } else {
                i += 1;
            }
        }
        self.tick += 1;
        self.bytes += size;
        self.entries.push(Entry { tokens: tokens.to_vec(), kv: kv.clone(), last_used: self.tick });
        while self.bytes > self.budget {
            let Some((oldest, _)) = self.entries.iter().enumerate().min_by_key(|(_, e)| e.last_used) else {
                break;
            };
            let entry = self.entries.swap_remove(oldest);
            self.bytes -= entry.kv.bytes();
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(len: usize) -> KvCache {
        let mut kv = KvCache::new(1);
        kv.append(0, &vec![1.0; len * 4], &vec![2.0; len * 4]);
        kv.advance(len);
        kv
    }

    #[test]
    fn longest_shared_prefix_wins_and_one_token_is_left_to_run() {
        let mut cache = PrefixCache::new(1 << 20);
        cache.insert(&[1, 2, 3, 4], &kv(4));
        cache.insert(&[1, 9], &kv(2));
        let (hit, n) = cache.lookup(&[1, 2, 3, 7, 7]).unwrap();
        assert_eq!((n, hit.len()), (3, 3));
        assert_eq!(cache.lookup(&[1, 2, 3, 4]).unwrap().1, 3);
        assert!(cache.lookup(&[5, 6]).is_none());
    }

    #[test]
    fn budget_evicts_least_recently_used() {
        let one = kv(4).bytes();
        let mut cache = PrefixCache::new(2 * one);
        cache.insert(&[1, 1, 1, 1], &kv(4));
        cache.insert(&[2, 2, 2, 2], &kv(4));
        cache.lookup(&[1, 1, 1, 1, 5]);
        cache.insert(&[3, 3, 3, 3], &kv(4));
        assert_eq!(cache.bytes(), 2 * one);
        assert!(cache.lookup(&[2, 2, 2, 2, 5]).is_none());
        assert!(cache.lookup(&[1, 1, 1, 1, 5]).is_some());
    }
}
