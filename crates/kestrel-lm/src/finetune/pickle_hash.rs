//! DSPy's training-file name: `Hasher.hash(data)`, the SHA-256 of
//! `pickle.dumps(data)` (CPython 3.11, protocol 4, the C pickler). Training
//! records are lists and dicts of strings, so only those are written; any
//! other JSON value gives `None` (the caller falls back to another hash).
//!
//! The pickler memoizes by object identity. In DSPy's records the dict keys
//! (`messages`, `role`, `content`) and role values are interned literals — one
//! object each — while every message content is a fresh string, so keys and
//! roles are memoized by value and contents never shared.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

const PROTO: u8 = 0x80;
const FRAME: u8 = 0x95;
const EMPTY_LIST: u8 = b']';
const EMPTY_DICT: u8 = b'}';
const MEMOIZE: u8 = 0x94;
const MARK: u8 = b'(';
const APPEND: u8 = b'a';
const APPENDS: u8 = b'e';
const SETITEM: u8 = b's';
const SETITEMS: u8 = b'u';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE: u8 = b'X';
const BINGET: u8 = b'h';
const LONG_BINGET: u8 = b'j';
const STOP: u8 = b'.';
/// The pickler's batch size for `APPENDS` / `SETITEMS`.
const BATCH: usize = 1000;
/// CPython's `_FRAME_SIZE_TARGET`.
const FRAME_TARGET: usize = 64 * 1024;
/// CPython's `FRAME_SIZE_MIN`: shorter frames get no header.
const FRAME_MIN: usize = 4;
const FRAME_HEADER: usize = 9;

/// The hex SHA-256 of `pickle.dumps(records)`; `None` when a record holds
/// anything but lists, dicts and strings, or a string too large to frame
/// (64 KiB and more are written outside frames; not reproduced).
pub(crate) fn pickle_sha256(records: &[Value]) -> Option<String> {
    let mut p = Pickler::default();
    p.out.extend_from_slice(&[PROTO, 4]);
    p.start_frame();
    p.list(records.iter(), records.len(), Role::Other)?;
    p.out.push(STOP);
    p.commit_frame();
    Some(Sha256::digest(&p.out).iter().map(|b| format!("{b:02x}")).collect())
}

/// Where a string sits, which decides whether it is shared (memoized by
/// value) or a fresh object.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// A dict key (interned in DSPy's code).
    Key,
    /// A message's `role` value (interned).
    Speaker,
    /// Anything else (a fresh object).
    Other,
}

#[derive(Default)]
struct Pickler {
    out: Vec<u8>,
    frame_start: usize,
    memo_len: u32,
    shared: HashMap<String, u32>,
}

impl Pickler {
    fn start_frame(&mut self) {
        self.frame_start = self.out.len();
        self.out.extend_from_slice(&[0; FRAME_HEADER]);
    }

    fn commit_frame(&mut self) {
        let len = self.out.len() - self.frame_start - FRAME_HEADER;
        if len >= FRAME_MIN {
            self.out[self.frame_start] = FRAME;
            self.out[self.frame_start + 1..self.frame_start + FRAME_HEADER]
                .copy_from_slice(&(len as u64).to_le_bytes());
        } else {
            self.out.drain(self.frame_start..self.frame_start + FRAME_HEADER);
        }
    }

    /// The pickler's frame check, made as each object's save starts.
    fn boundary(&mut self) {
        if self.out.len() - self.frame_start - FRAME_HEADER >= FRAME_TARGET {
            self.commit_frame();
            self.start_frame();
        }
    }

    fn memoize(&mut self) -> u32 {
        self.out.push(MEMOIZE);
        self.memo_len += 1;
        self.memo_len - 1
    }

    fn value(&mut self, value: &Value, role: Role) -> Option<()> {
        self.boundary();
        match value {
            Value::String(s) => self.string(s, role),
            Value::Array(items) => self.list(items.iter(), items.len(), Role::Other),
            Value::Object(map) => self.dict(map),
            _ => None,
        }
    }

    fn string(&mut self, s: &str, role: Role) -> Option<()> {
        self.boundary();
        if role != Role::Other {
            if let Some(&idx) = self.shared.get(s) {
                match u8::try_from(idx) {
                    Ok(i) => self.out.extend_from_slice(&[BINGET, i]),
                    Err(_) => {
                        self.out.push(LONG_BINGET);
                        self.out.extend_from_slice(&idx.to_le_bytes());
                    }
                }
                return Some(());
            }
        }
        let bytes = s.as_bytes();
        if bytes.len() >= FRAME_TARGET {
            return None;
        }
        match u8::try_from(bytes.len()) {
            Ok(n) => self.out.extend_from_slice(&[SHORT_BINUNICODE, n]),
            Err(_) => {
                self.out.push(BINUNICODE);
                self.out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            }
        }
        self.out.extend_from_slice(bytes);
        let idx = self.memoize();
        if role != Role::Other {
            self.shared.insert(s.to_string(), idx);
        }
        Some(())
    }

    fn list<'a>(&mut self, items: impl Iterator<Item = &'a Value>, len: usize, _role: Role) -> Option<()> {
        self.out.push(EMPTY_LIST);
        self.memoize();
        let items: Vec<&Value> = items.collect();
        if len == 1 {
            self.value(items[0], Role::Other)?;
            self.out.push(APPEND);
            return Some(());
        }
        for batch in items.chunks(BATCH) {
            self.out.push(MARK);
            for item in batch {
                self.value(item, Role::Other)?;
            }
            self.out.push(APPENDS);
        }
        Some(())
    }

    fn dict(&mut self, map: &serde_json::Map<String, Value>) -> Option<()> {
        self.out.push(EMPTY_DICT);
        self.memoize();
        let entries: Vec<(&String, &Value)> = map.iter().collect();
        let value_role = |k: &str| if k == "role" { Role::Speaker } else { Role::Other };
        if entries.len() == 1 {
            let (k, v) = entries[0];
            self.string(k, Role::Key)?;
            self.value(v, value_role(k))?;
            self.out.push(SETITEM);
            return Some(());
        }
        for batch in entries.chunks(BATCH) {
            self.out.push(MARK);
            for (k, v) in batch {
                self.string(k, Role::Key)?;
                self.value(v, value_role(k))?;
            }
            self.out.push(SETITEMS);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Records built as DSPy builds them; the expected hashes are
    /// `hashlib.sha256(pickle.dumps(data)).hexdigest()` from CPython 3.11
    /// for the same records (interned keys and roles, fresh contents).
    fn records(count: usize, pad: usize) -> Vec<Value> {
        (0..count)
            .map(|i| {
                json!({"messages": [
                    {"role": "system", "content": format!("sys {i} {}", "x".repeat(pad))},
                    {"role": "user", "content": format!("q{i} é")},
                    {"role": "assistant", "content": format!("a{i}")},
                ]})
            })
            .collect()
    }

    #[test]
    fn matches_cpython_pickle() {
        let cases = [
            (records(3, 10), "ce05ffbd96743701b133b34342588be7e4c832e96b7fb6cd408082a490b8bd0c"),
            // 147 748 bytes: three frames.
            (records(400, 300), "787a5dfbd48c6012a2ee2aea2b082f4561a55b095004b30666165daaf3d56c79"),
            (records(1, 0), "a2fb3233127fd6887e904f2af429aa61815a98ba4c431f80fcff1f492e51cf38"),
            (Vec::new(), "ec0a6ccf9debf1c16781445c4b9106080d00478b0559469336db7c7b7b9711c8"),
        ];
        for (data, want) in cases {
            assert_eq!(pickle_sha256(&data).as_deref(), Some(want), "{} records", data.len());
        }
    }

    #[test]
    fn numbers_are_not_pickled() {
        assert_eq!(pickle_sha256(&[json!({"prompt": 1})]), None);
    }
}
