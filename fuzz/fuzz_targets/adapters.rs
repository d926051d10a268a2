//! Fuzz target: the ChatAdapter's, the JSONAdapter's and the XMLAdapter's
//! reply parsers (the JSON adapter's includes the JSON repair of broken
//! replies, the XML adapter's an XML reader), on a few
//! signatures whose outputs are strings, numbers, booleans, lists, dicts,
//! optionals and literals. The first byte picks the signature; the rest is
//! the LM's reply. A reply must parse or fail with a typed error.

#![no_main]

use std::sync::OnceLock;

use kestrel_core::{Adapter, ChatAdapter, JsonAdapter, SignatureSpec, XmlAdapter};
use libfuzzer_sys::fuzz_target;

const SIGNATURES: &[&str] = &[
    "question -> answer",
    "question -> reasoning, answer: int",
    "text -> labels: list[str], found: bool, score: float",
    "context: list[str], question -> answer: dict[str, int], note: Optional[str]",
    "message -> label: Literal['refund', 'card_arrival', 'other'], pair: tuple[int, str]",
    "q -> nested: list[dict[str, list[int]]], flag: bool | None",
];

fn specs() -> &'static [SignatureSpec] {
    static SPECS: OnceLock<Vec<SignatureSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        SIGNATURES.iter().map(|s| SignatureSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(reply) = std::str::from_utf8(rest) else { return };
    let spec = &specs()[usize::from(pick) % SIGNATURES.len()];
    let _ = ChatAdapter.parse(spec, reply);
    let _ = JsonAdapter.parse(spec, reply);
    let _ = XmlAdapter.parse(spec, reply);
});
