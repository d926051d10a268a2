//! [`Vocab`]: a chat model's vocabulary as bytes — what each token id
//! decodes to, which ids are special (control) tokens, which end a turn
//! (EOS), and the width of the model's logits.
//!
//! Built from a GGUF file's `tokenizer.ggml.tokens` / `token_type` (byte-level
//! BPE pieces are stored in GPT-2's printable byte alphabet; this undoes it).
//! Constrained decoding (feature `constrained`) builds its token trie from
//! it; the engine uses it to detokenize.

use crate::LocalError;

/// GGUF `token_type` values (llama.cpp's `llama_token_type`).
mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const UNUSED: i32 = 5;
    pub const BYTE: i32 = 6;
}

/// Texts of special tokens that end a turn in the common chat formats
/// (llama.cpp's end-of-generation list); each present as a control token is
/// an EOS id besides the file's `eos_token_id`.
const END_OF_TURN_TEXTS: [&str; 6] = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>"];

/// A model's vocabulary: token id → bytes, special flags, EOS ids and the
/// logits width. Cheap to share behind an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    tokens: Vec<Vec<u8>>,
    special: Vec<bool>,
    eos: Vec<u32>,
    size: usize,
}

impl Vocab {
    /// A vocabulary from its parts: `tokens[id]` is the decoded byte string
    /// of token `id`, `special[id]` whether it is a control token (not
    /// text), `eos_token_ids` the ids that end generation, and
    /// `vocab_size` the width of the model's logits (at least
    /// `tokens.len()`: models pad their output layer).
    pub fn new(
        tokens: Vec<Vec<u8>>,
        special: Vec<bool>,
        eos_token_ids: Vec<u32>,
        vocab_size: usize,
    ) -> Result<Self, LocalError> {
        let bad = |message: String| LocalError::Vocab { message };
        if tokens.is_empty() {
            return Err(bad("the vocabulary is empty".to_owned()));
        }
        if special.len() != tokens.len() {
            return Err(bad(format!("{} special flags for {} tokens", special.len(), tokens.len())));
        }
        if vocab_size < tokens.len() {
            return Err(bad(format!("vocabulary size {vocab_size} is below the {} tokens", tokens.len())));
        }
        if let Some(id) = eos_token_ids.iter().find(|&&id| id as usize >= tokens.len()) {
            return Err(bad(format!("EOS token id {id} is outside the {} tokens", tokens.len())));
        }
        let mut eos = eos_token_ids;
        eos.sort_unstable();
        eos.dedup();
        Ok(Self { tokens, special, eos, size: vocab_size })
    }

    /// A vocabulary from GGUF metadata: the `tokenizer.ggml.tokens` pieces,
    /// their `token_type`s (empty: all normal) and the file's EOS id. With
    /// `byte_level` (`tokenizer.ggml.model` = `gpt2`), normal pieces are
    /// decoded from GPT-2's byte alphabet; control, user-defined and unused
    /// tokens are their literal text; sentencepiece byte tokens
    /// (`<0xAB>`) are that byte. Control tokens named like an end of turn
    /// (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, ...) are EOS ids too.
    pub fn from_gguf(
        pieces: &[String],
        token_types: &[i32],
        eos_token_id: Option<u32>,
        byte_level: bool,
        vocab_size: usize,
    ) -> Result<Self, LocalError> {
        if !token_types.is_empty() && token_types.len() != pieces.len() {
            let message = format!("{} token types for {} tokens", token_types.len(), pieces.len());
            return Err(LocalError::Vocab { message });
        }
        let mut tokens = Vec::with_capacity(pieces.len());
        let mut special = Vec::with_capacity(pieces.len());
        let mut eos: Vec<u32> = eos_token_id.into_iter().collect();
        for (id, piece) in pieces.iter().enumerate() {
            let kind = token_types.get(id).copied().unwrap_or(token_type::NORMAL);
            let is_special = matches!(kind, token_type::CONTROL | token_type::UNKNOWN | token_type::UNUSED);
            let bytes = match kind {
                token_type::BYTE => byte_token(piece).map_or_else(|| piece.as_bytes().to_vec(), |b| vec![b]),
                token_type::NORMAL if byte_level => decode_byte_level(piece),
                token_type::NORMAL => piece.replace('\u{2581}', " ").into_bytes(),
                _ => piece.as_bytes().to_vec(),
            };
            if kind == token_type::CONTROL && END_OF_TURN_TEXTS.contains(&piece.as_str()) {
                eos.push(id as u32);
            }
            tokens.push(bytes);
            special.push(is_special);
        }
        Self::new(tokens, special, eos, vocab_size.max(pieces.len()))
    }

    /// The width of the model's logits (ids at or above the token count
    /// exist only as padding of the output layer and decode to nothing).
    pub fn vocab_size(&self) -> usize {
        self.size
    }

    /// The number of tokens with a byte string.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The bytes token `id` decodes to (a control token's literal text),
    /// `None` for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(Vec::as_slice)
    }

    /// Whether `id` is a special (control, unknown or unused) token rather
    /// than text. Ids outside the vocabulary count as special.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(true)
    }

    /// The ids that end generation, sorted.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos
    }

    /// Whether `id` ends generation.
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos.binary_search(&id).is_ok()
    }

    /// The text bytes of a token sequence: special tokens are skipped (as
    /// chat servers do), ids outside the vocabulary too.
    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            if !self.is_special(id) {
                out.extend_from_slice(self.token_bytes(id).unwrap_or_default());
            }
        }
        out
    }
}

/// `<0xAB>` → `0xAB`.
fn byte_token(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's byte → printable character table, inverted: the byte each
/// character of a byte-level BPE piece stands for. Characters outside the
/// table (never in a well-formed piece) keep their UTF-8 bytes.
pub(crate) fn decode_byte_level(piece: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(piece.len());
    for c in piece.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// The byte GPT-2's `bytes_to_unicode` maps to `c`.
fn char_to_byte(c: char) -> Option<u8> {
    let code = c as u32;
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if code < 256 && printable(code) {
        return u8::try_from(code).ok();
    }
    // Non-printable bytes map, in order, to 256, 257, ...
    let index = code.checked_sub(256)?;
    (0u32..256).filter(|&b| !printable(b)).nth(index as usize).and_then(|b| u8::try_from(b).ok())
}

/// GPT-2's `bytes_to_unicode`: the printable character standing for `byte`.
#[cfg(test)]
fn byte_to_char(byte: u8) -> char {
    let b = u32::from(byte);
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if printable(b) {
        return char::from(byte);
    }
    let index = (0u32..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + index).unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_round_trips_every_byte() {
        for byte in 0..=255u8 {
            let c = byte_to_char(byte);
            assert_eq!(char_to_byte(c), Some(byte), "byte {byte} via {c:?}");
        }
        assert_eq!(decode_byte_level("Ġhello"), b" hello");
        assert_eq!(decode_byte_level("Ċ"), b"\n");
    }

    #[test]
    fn gguf_vocab_decodes_pieces_and_finds_end_of_turn_tokens() {
        let pieces: Vec<String> =
            ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "Ġhi", "Ċ", "<0x41>"].map(String::from).to_vec();
        let vocab = Vocab::from_gguf(&pieces, &[3, 3, 3, 1, 1, 6], Some(2), true, 8).unwrap();
        assert_eq!(vocab.vocab_size(), 8);
        assert_eq!(vocab.token_bytes(3), Some(&b" hi"[..]));
        assert_eq!(vocab.token_bytes(5), Some(&b"A"[..]));
        assert_eq!(vocab.token_bytes(1), Some(&b"<|im_start|>"[..]));
        assert!(vocab.is_special(1) && !vocab.is_special(3) && vocab.is_special(7));
        assert_eq!(vocab.eos_token_ids(), &[0, 2]);
        assert_eq!(vocab.decode(&[1, 3, 4, 2, 7]), b" hi\n");
    }

    #[test]
    fn inconsistent_parts_are_typed_errors() {
        assert!(matches!(Vocab::new(vec![], vec![], vec![], 0), Err(LocalError::Vocab { .. })));
        assert!(matches!(Vocab::new(vec![b"a".to_vec()], vec![false], vec![3], 1), Err(LocalError::Vocab { .. })));
        assert!(matches!(Vocab::new(vec![b"a".to_vec()], vec![false], vec![], 0), Err(LocalError::Vocab { .. })));
        let pieces = vec!["a".to_owned()];
        assert!(matches!(Vocab::from_gguf(&pieces, &[1, 1], None, true, 1), Err(LocalError::Vocab { .. })));
    }
}
