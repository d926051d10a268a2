//! Reading a GGUF file: the header and metadata (candle's `gguf_file`),
//! typed metadata getters, and the tensors the model asks for, with every
//! failure a [`LocalError`] naming the file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::QTensor;
use candle_core::quantized::gguf_file::{Content, Value};

use crate::LocalError;

/// An open GGUF file: parsed header and metadata, and the reader its
/// tensors are loaded from.
pub(crate) struct GgufFile {
    path: PathBuf,
    content: Content,
    reader: BufReader<File>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The largest array or string length the header may declare relative to
/// the file: a corrupt length must not become a huge allocation.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

impl GgufFile {
    /// Opens and parses the header; a file that is not GGUF, truncated or
    /// whose lengths do not fit in the file is [`LocalError::InvalidFile`].
    pub(crate) fn open(path: &Path) -> Result<Self, LocalError> {
        let file = File::open(path).map_err(|error| io_error(path, error))?;
        let size = file.metadata().map_err(|error| io_error(path, error))?.len();
        let mut reader = BufReader::new(file);
        check_header(&mut reader, size).map_err(|message| invalid(path, message))?;
        reader.seek(SeekFrom::Start(0)).map_err(|error| io_error(path, error))?;
        let content = Content::read(&mut reader).map_err(|error| invalid(path, error.to_string()))?;
        for (name, info) in &content.tensor_infos {
            let bytes = info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
            let end = content.tensor_data_offset.saturating_add(info.offset).saturating_add(bytes as u64);
            if end > size {
                return Err(invalid(
                    path,
                    format!("tensor {name} ends at byte {end}, past the end of the file ({size})"),
                ));
            }
        }
        Ok(Self { path: path.to_owned(), content, reader })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A required unsigned integer (any integer width).
    pub(crate) fn u32(&self, key: &str) -> Result<u32, LocalError> {
        let value = self.get(key).ok_or_else(|| self.missing(key))?;
        as_u64(value).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| self.wrong(key, "an unsigned integer"))
    }

    /// An optional unsigned integer.
    pub(crate) fn opt_u32(&self, key: &str) -> Result<Option<u32>, LocalError> {
        if self.get(key).is_some() { self.u32(key).map(Some) } else { Ok(None) }
    }

    /// An optional float (f32 or f64).
    pub(crate) fn opt_f32(&self, key: &str) -> Result<Option<f32>, LocalError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::F32(v)) => Ok(Some(*v)),
            Some(Value::F64(v)) => Ok(Some(*v as f32)),
            Some(_) => Err(self.wrong(key, "a float")),
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, LocalError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(v)) => Ok(Some(*v)),
            Some(_) => Err(self.wrong(key, "a boolean")),
        }
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&str>, LocalError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    /// A required string.
    pub(crate) fn str(&self, key: &str) -> Result<&str, LocalError> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    /// An array of strings (absent: empty).
    pub(crate) fn str_array(&self, key: &str) -> Result<Vec<String>, LocalError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.wrong(key, "an array of strings")),
                })
                .collect(),
            Some(_) => Err(self.wrong(key, "an array of strings")),
        }
    }

    /// An array of integers (absent: empty).
    pub(crate) fn i32_array(&self, key: &str) -> Result<Vec<i32>, LocalError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    as_i64(item)
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| self.wrong(key, "an array of integers"))
                })
                .collect(),
            Some(_) => Err(self.wrong(key, "an array of integers")),
        }
    }

    /// Whether the file holds a tensor of that name.
    pub(crate) fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// Loads a tensor onto the CPU.
    pub(crate) fn tensor(&mut self, name: &str) -> Result<QTensor, LocalError> {
        if !self.has_tensor(name) {
            return Err(invalid(&self.path, format!("missing tensor {name}")));
        }
        self.content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .map_err(|error| invalid(&self.path, format!("tensor {name}: {error}")))
    }

    /// The shape of a tensor, GGUF's order reversed (rows first).
    pub(crate) fn tensor_dims(&self, name: &str) -> Option<Vec<usize>> {
        self.content.tensor_infos.get(name).map(|info| info.shape.dims().to_vec())
    }

    fn missing(&self, key: &str) -> LocalError {
        invalid(&self.path, format!("missing metadata {key}"))
    }

    fn wrong(&self, key: &str, expected: &str) -> LocalError {
        invalid(&self.path, format!("metadata {key} is not {expected}"))
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::U8(v) => Some(u64::from(*v)),
        Value::U16(v) => Some(u64::from(*v)),
        Value::U32(v) => Some(u64::from(*v)),
        Value::U64(v) => Some(*v),
        Value::I8(_) | Value::I16(_) | Value::I32(_) | Value::I64(_) => {
            as_i64(value).and_then(|v| u64::try_from(v).ok())
        }
        _ => None,
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::I8(v) => Some(i64::from(*v)),
        Value::I16(v) => Some(i64::from(*v)),
        Value::I32(v) => Some(i64::from(*v)),
        Value::I64(v) => Some(*v),
        Value::U8(v) => Some(i64::from(*v)),
        Value::U16(v) => Some(i64::from(*v)),
        Value::U32(v) => Some(i64::from(*v)),
        Value::U64(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

/// Walks the header (magic, counts, metadata, tensor infos) checking that
/// every declared length fits in the remaining file, so that candle's
/// reader never allocates for a corrupt length.
fn check_header<R: Read + Seek>(reader: &mut R, size: u64) -> Result<(), String> {
    let mut walker = Walker { reader, size };
    let mut magic = [0u8; 4];
    walker.read_exact(&mut magic)?;
    if &magic != GGUF_MAGIC {
        return Err("not a GGUF file (bad magic)".to_owned());
    }
    let version = walker.u32()?;
    if !(1..=3).contains(&version) {
        return Err(format!("unsupported GGUF version {version}"));
    }
    let wide = version >= 2;
    let tensors = walker.count(wide, 8)?;
    let entries = walker.count(wide, 12)?;
    for _ in 0..entries {
        walker.string(wide)?;
        let kind = walker.u32()?;
        walker.value(kind, wide, 0)?;
    }
    for _ in 0..tensors {
        walker.string(wide)?;
        let dims = walker.u32()?;
        if dims > 4 {
            return Err(format!("a tensor with {dims} dimensions"));
        }
        for _ in 0..dims {
            walker.count(wide, 0)?;
        }
        walker.u32()?;
        walker.skip(8)?;
    }
    Ok(())
}

struct Walker<'a, R> {
    reader: &'a mut R,
    size: u64,
}

impl<R: Read + Seek> Walker<'_, R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.reader.read_exact(buf).map_err(|_| "truncated header".to_owned())
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut buf = [0u8; 4];
        self.read_exact(&mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut buf = [0u8; 8];
        self.read_exact(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn remaining(&mut self) -> Result<u64, String> {
        let at = self.reader.stream_position().map_err(|error| error.to_string())?;
        Ok(self.size.saturating_sub(at))
    }

    /// A length or count; `min_item` bytes per item must fit in the file.
    fn count(&mut self, wide: bool, min_item: u64) -> Result<u64, String> {
        let n = if wide { self.u64()? } else { u64::from(self.u32()?) };
        if n.saturating_mul(min_item.max(1)) > self.remaining()? && min_item > 0 {
            return Err(format!("declared length {n} does not fit in the file"));
        }
        Ok(n)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.remaining()? {
            return Err("truncated header".to_owned());
        }
        let offset = i64::try_from(n).map_err(|_| "length overflow".to_owned())?;
        self.reader.seek(SeekFrom::Current(offset)).map_err(|error| error.to_string())?;
        Ok(())
    }

    fn string(&mut self, wide: bool) -> Result<(), String> {
        let n = self.count(wide, 1)?;
        self.skip(n)
    }

    fn value(&mut self, kind: u32, wide: bool, depth: u32) -> Result<(), String> {
        match kind {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => self.string(wide),
            9 if depth < 4 => {
                let item = self.u32()?;
                let n = self.count(wide, 1)?;
                match item {
                    0 | 1 | 7 => self.skip(n),
                    2 | 3 => self.skip(n.saturating_mul(2)),
                    4..=6 => self.skip(n.saturating_mul(4)),
                    10..=12 => self.skip(n.saturating_mul(8)),
                    _ => (0..n).try_for_each(|_| self.value(item, wide, depth + 1)),
                }
            }
            _ => Err(format!("unknown metadata value type {kind}")),
        }
    }
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> LocalError {
    if source.kind() == std::io::ErrorKind::NotFound {
        LocalError::MissingFile { path: path.to_owned() }
    } else {
        LocalError::Io { path: path.to_owned(), source }
    }
}

pub(crate) fn invalid(path: &Path, message: String) -> LocalError {
    LocalError::InvalidFile { path: path.to_owned(), message }
}
