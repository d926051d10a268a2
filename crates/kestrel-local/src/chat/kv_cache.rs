//! [`KvCache`]: one sequence's attention keys and values, kept outside the
//! model so that sequences can be batched, forked (`n > 1`) and stored in
//! the prefix cache.

/// The keys and values of one sequence, per layer, as
/// `[position][kv_head][head_dim]` rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvCache {
    layers: Vec<LayerKv>,
    len: usize,
}

#[derive(Debug, Clone, Default)]
struct LayerKv {
    k: Vec<f32>,
    v: Vec<f32>,
}

impl KvCache {
    /// An empty cache for a model with `layers` layers.
    pub(crate) fn new(layers: usize) -> Self {
        Self { layers: vec![LayerKv::default(); layers], len: 0 }
    }

    /// The number of positions cached.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends the rows of new positions to one layer (the caller appends
    /// to every layer, then calls [`Self::advance`]).
    pub(crate) fn append(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        if let Some(kv) = self.layers.get_mut(layer) {
            kv.k.extend_from_slice(k);
            kv.v.extend_from_slice(v);
        }
    }

    /// One layer's keys and values, every position.
    pub(crate) fn layer(&self, layer: usize) -> (&[f32], &[f32]) {
        self.layers.get(layer).map_or((&[], &[]), |kv| (&kv.k, &kv.v))
    }

    /// Records that `n` positions were appended to every layer.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }

    /// A copy of the first `len` positions.
    pub(crate) fn truncated(&self, len: usize) -> Self {
        let len = len.min(self.len);
        let layers = self
            .layers
            .iter()
            .map(|kv| {
                let width = kv.k.len().checked_div(self.len).unwrap_or(0);
                LayerKv { k: kv.k[..len * width].to_vec(), v: kv.v[..len * width].to_vec() }
            })
            .collect();
        Self { layers, len }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.layers.iter().map(|kv| (kv.k.len() + kv.v.len()) * std::mem::size_of::<f32>()).sum()
    }
}
