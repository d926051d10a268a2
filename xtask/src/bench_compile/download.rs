//! `bench-compile --download`: fetch a reference dataset's upstream files at
//! pinned commits, check their SHA-256, and convert them into the layout of
//! the project's shared datasets folder (`<dataset>/*.jsonl`, the same
//! fields) under `target/kestrel-data/`.
//!
//! The fetch itself needs HTTPS, so it is compiled only with the xtask's
//! `download` cargo feature (default builds carry no TLS stack); the pinned
//! sources and the conversions are always compiled and tested.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::datasets::DatasetChoice;

/// How an upstream file becomes a file of the shared layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    /// GSM8K JSONL (`answer` = rationale + `#### n`) of a split.
    Gsm8k(&'static str),
    /// banking77 CSV (`text,category`) of a split.
    Banking77(&'static str),
    /// banking77 `categories.json` (a list of labels), kept as is.
    Banking77Labels,
    /// ReAct's `hotpot_dev_v1_simplified.json` (a list of question/answer/type).
    HotpotQa,
    /// HoVer's `hover_dev_release_v1.1.json`.
    Hover,
}

/// One pinned upstream file.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// The file written, relative to the data folder.
    pub file: &'static str,
    /// GitHub `owner/name`.
    pub repo: &'static str,
    /// The pinned commit.
    pub commit: &'static str,
    /// The file's path in the repository.
    pub path: &'static str,
    /// SHA-256 of the upstream file's bytes at that commit.
    pub sha256: &'static str,
    /// The conversion.
    pub convert: Convert,
    /// Licence and attribution, written next to the data.
    pub licence: &'static str,
}

const GSM8K: (&str, &str) = ("openai/grade-school-math", "3101c7d5072418e28b9008a6636bde82a006892c");
const BANKING: (&str, &str) = ("PolyAI-LDN/task-specific-datasets", "57ec275d8078af65b7731c2a98be812d844a6d6b");
const REACT: (&str, &str) = ("ysymyth/ReAct", "6bdb3a1fd38b8188fc7ba4102969fe483df8fdc9");
const HOVER: (&str, &str) = ("hover-nlp/hover", "39b84697f196308f398a251a7aea9b82ae0f0562");

const GSM8K_LICENCE: &str =
    "MIT, Copyright (c) 2021 OpenAI. Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems.";
const BANKING_LICENCE: &str =
    "CC BY 4.0. Casanueva et al. 2020, Efficient Intent Detection with Dual Sentence Encoders (PolyAI).";
const HOTPOT_LICENCE: &str =
    "CC BY-SA 4.0. Yang et al. 2018, HotpotQA (hotpotqa.github.io); text from English Wikipedia.";
const HOVER_LICENCE: &str =
    "MIT (repository); claims derived from Wikipedia, treat as CC BY-SA 4.0. Jiang et al. 2020, HoVer.";

/// Every pinned file.
pub const SOURCES: &[Source] = &[
    Source {
        file: "gsm8k/train.jsonl",
        repo: GSM8K.0,
        commit: GSM8K.1,
        path: "grade_school_math/data/train.jsonl",
        sha256: "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
        convert: Convert::Gsm8k("train"),
        licence: GSM8K_LICENCE,
    },
    Source {
        file: "gsm8k/test.jsonl",
        repo: GSM8K.0,
        commit: GSM8K.1,
        path: "grade_school_math/data/test.jsonl",
        sha256: "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        convert: Convert::Gsm8k("test"),
        licence: GSM8K_LICENCE,
    },
    Source {
        file: "banking77/train.jsonl",
        repo: BANKING.0,
        commit: BANKING.1,
        path: "banking_data/train.csv",
        sha256: "b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b",
        convert: Convert::Banking77("train"),
        licence: BANKING_LICENCE,
    },
    Source {
        file: "banking77/test.jsonl",
        repo: BANKING.0,
        commit: BANKING.1,
        path: "banking_data/test.csv",
        sha256: "d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d",
        convert: Convert::Banking77("test"),
        licence: BANKING_LICENCE,
    },
    Source {
        file: "banking77/labels.json",
        repo: BANKING.0,
        commit: BANKING.1,
        path: "banking_data/categories.json",
        sha256: "53261da888122daf2d120d925458631d9619e15d82e56052e7a42e535ce32b63",
        convert: Convert::Banking77Labels,
        licence: BANKING_LICENCE,
    },
    Source {
        file: "hotpotqa/dev_qa.jsonl",
        repo: REACT.0,
        commit: REACT.1,
        path: "data/hotpot_dev_v1_simplified.json",
        sha256: "05001dcdeb2b2b2243a88f23daaf8de9237494cd387e13bc25854d3e031101d3",
        convert: Convert::HotpotQa,
        licence: HOTPOT_LICENCE,
    },
    Source {
        file: "hover/dev.jsonl",
        repo: HOVER.0,
        commit: HOVER.1,
        path: "data/hover/hover_dev_release_v1.1.json",
        sha256: "67c14858f2d7fcdb96b6fe3d538ffcd6f76e3ba594aa2c0cd4359f601101e89d",
        convert: Convert::Hover,
        licence: HOVER_LICENCE,
    },
];

impl Source {
    /// Where the pinned file is served.
    pub fn url(&self) -> String {
        format!("https://raw.githubusercontent.com/{}/{}/{}", self.repo, self.commit, self.path)
    }
}

/// The pinned files of a reference dataset.
pub fn sources_for(choice: &DatasetChoice) -> Vec<&'static Source> {
    choice.required_files().iter().filter_map(|file| SOURCES.iter().find(|s| s.file == *file)).collect()
}

/// Fail unless `bytes` has the pinned SHA-256.
pub fn verify(source: &Source, bytes: &[u8]) -> Result<()> {
    let digest: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    if digest != source.sha256 {
        bail!(
            "{} at {}: SHA-256 {digest}, expected {} (not the pinned file)",
            source.path,
            source.commit,
            source.sha256
        );
    }
    Ok(())
}

/// Convert an upstream file into the shared layout's file.
pub fn convert(convert: Convert, bytes: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).context("the file is not UTF-8")?;
    let records: Vec<Value> = match convert {
        Convert::Gsm8k(split) => gsm8k(text, split)?,
        Convert::Banking77(split) => banking77(bytes, split)?,
        Convert::Banking77Labels => {
            let labels: Vec<String> =
                serde_json::from_str(text).context("categories.json: expected a list of strings")?;
            return Ok(serde_json::to_vec_pretty(&labels)?);
        }
        Convert::HotpotQa => hotpotqa(text)?,
        Convert::Hover => hover(text)?,
    };
    let mut out = String::new();
    for record in records {
        let _ = writeln!(out, "{record}");
    }
    Ok(out.into_bytes())
}

fn str_field<'a>(record: &'a Value, key: &str, at: usize) -> Result<&'a str> {
    record.get(key).and_then(Value::as_str).with_context(|| format!("record {at}: no string `{key}`"))
}

fn gsm8k(text: &str, split: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let record: Value = serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        let solution = str_field(&record, "answer", i)?;
        let (rationale, answer) = solution.rsplit_once("####").with_context(|| format!("record {i}: no `####`"))?;
        out.push(json!({
            "id": format!("gsm8k-{split}-{i:04}"),
            "question": str_field(&record, "question", i)?,
            "answer": answer.trim().replace(',', ""),
            "rationale": rationale.trim(),
        }));
    }
    Ok(out)
}

fn banking77(bytes: &[u8], split: &str) -> Result<Vec<Value>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let mut out = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("CSV row {}", i + 1))?;
        let (Some(text), Some(label)) = (row.get(0), row.get(1)) else {
            bail!("CSV row {}: expected text,category", i + 1)
        };
        out.push(json!({"id": format!("banking77-{split}-{i:05}"), "text": text, "label": label}));
    }
    Ok(out)
}

fn hotpotqa(text: &str) -> Result<Vec<Value>> {
    let records: Vec<Value> = serde_json::from_str(text).context("expected a JSON list")?;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(json!({
                "id": format!("hotpotqa-dev-{i:04}"),
                "question": str_field(r, "question", i)?,
                "answer": str_field(r, "answer", i)?,
                "type": str_field(r, "type", i)?,
            }))
        })
        .collect()
}

fn hover(text: &str) -> Result<Vec<Value>> {
    let records: Vec<Value> = serde_json::from_str(text).context("expected a JSON list")?;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let facts: Vec<Value> = r
                .get("supporting_facts")
                .and_then(Value::as_array)
                .with_context(|| format!("record {i}: no `supporting_facts` list"))?
                .iter()
                .map(|f| match f.as_array().map(Vec::as_slice) {
                    Some([title, sent]) => Ok(json!({"title": title, "sent_id": sent})),
                    _ => bail!("record {i}: a supporting fact is not [title, sent_id]"),
                })
                .collect::<Result<_>>()?;
            Ok(json!({
                "id": str_field(r, "uid", i)?,
                "claim": str_field(r, "claim", i)?,
                "label": str_field(r, "label", i)?,
                "num_hops": r.get("num_hops").cloned().unwrap_or(Value::Null),
                "supporting_facts": facts,
                "hotpotqa_id": r.get("hpqa_id").cloned().unwrap_or(Value::Null),
            }))
        })
        .collect()
}

/// Fetch, check and convert every missing file of `choice` into `dir`.
pub async fn fetch(choice: &DatasetChoice, dir: &Path) -> Result<()> {
    if !cfg!(feature = "download") {
        bail!(
            "--download needs the xtask's `download` feature (it brings a TLS stack): run `cargo run -p xtask \
             --features download -- bench-compile --dataset {choice} --download`, or point KESTREL_DATA_DIR at a \
             folder that has the files"
        );
    }
    let sources = sources_for(choice);
    for source in &sources {
        let target = dir.join(source.file);
        if target.is_file() {
            continue;
        }
        eprintln!("downloading {} ({} at {})", source.path, source.repo, &source.commit[..10]);
        let bytes = get(&source.url()).await?;
        verify(source, &bytes)?;
        let converted = convert(source.convert, &bytes).with_context(|| format!("converting {}", source.path))?;
        let folder = target.parent().context("a dataset file has no folder")?;
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        let mut file = tempfile::NamedTempFile::new_in(folder)?;
        std::io::Write::write_all(&mut file, &converted)?;
        file.persist(&target).with_context(|| format!("writing {}", target.display()))?;
        let mut readme = format!("# {}\n\nDownloaded by `cargo xtask bench-compile --download`.\n\n", source.file);
        for s in &sources {
            let _ = writeln!(
                readme,
                "- `{}`: github.com/{} `{}` at {} (sha256 {})",
                s.file, s.repo, s.path, s.commit, s.sha256
            );
        }
        let _ = writeln!(readme, "\nLicence: {}", source.licence);
        std::fs::write(folder.join("SOURCE.md"), readme)?;
    }
    Ok(())
}

#[cfg(feature = "download")]
async fn get(url: &str) -> Result<Vec<u8>> {
    let response = reqwest::get(url).await.with_context(|| format!("fetching {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("fetching {url}: HTTP {status}");
    }
    Ok(response.bytes().await.with_context(|| format!("reading {url}"))?.to_vec())
}

#[cfg(not(feature = "download"))]
async fn get(url: &str) -> Result<Vec<u8>> {
    bail!("cannot fetch {url}: built without the `download` feature")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Value> {
        std::str::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn every_reference_dataset_file_is_pinned() {
        for choice in [DatasetChoice::Gsm8k, DatasetChoice::HotpotQa, DatasetChoice::Hover, DatasetChoice::Banking77] {
            let sources = sources_for(&choice);
            assert_eq!(sources.len(), choice.required_files().len(), "{choice}");
            for s in sources {
                assert_eq!((s.commit.len(), s.sha256.len()), (40, 64), "{}", s.file);
                assert!(s.url().starts_with("https://") && s.url().contains(s.commit));
            }
        }
    }

    #[test]
    fn checksums_are_checked() {
        let source = Source { sha256: "00", ..SOURCES[0] };
        assert!(verify(&source, b"x").unwrap_err().to_string().contains("expected 00"));
        let hello = Source { sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", ..SOURCES[0] };
        verify(&hello, b"hello").unwrap();
    }

    #[test]
    fn gsm8k_keeps_the_final_number_and_rationale() {
        let upstream = "{\"question\": \"Q?\", \"answer\": \"3 + 4 = <<3+4=7>>7\\n#### 1,007\"}\n";
        let out = lines(&convert(Convert::Gsm8k("test"), upstream.as_bytes()).unwrap());
        assert_eq!(
            out,
            [json!({"id": "gsm8k-test-0000", "question": "Q?", "answer": "1007", "rationale": "3 + 4 = <<3+4=7>>7"})]
        );
        assert!(convert(Convert::Gsm8k("test"), b"{\"question\": \"Q\", \"answer\": \"7\"}").is_err());
    }

    #[test]
    fn banking77_reads_quoted_csv() {
        let upstream = "text,category\n\"Hi, where is my card?\",card_arrival\nPIN blocked,pin_blocked\n";
        let out = lines(&convert(Convert::Banking77("train"), upstream.as_bytes()).unwrap());
        assert_eq!(
            out[0],
            json!({"id": "banking77-train-00000", "text": "Hi, where is my card?", "label": "card_arrival"})
        );
        assert_eq!(out[1]["label"], "pin_blocked");
        let labels = convert(Convert::Banking77Labels, br#"["a", "b"]"#).unwrap();
        assert_eq!(serde_json::from_slice::<Vec<String>>(&labels).unwrap(), ["a", "b"]);
    }

    #[test]
    fn hotpotqa_and_hover_take_the_shared_fields() {
        let hotpot = r#"[{"question": "Q", "answer": "yes", "type": "comparison"}]"#;
        let out = lines(&convert(Convert::HotpotQa, hotpot.as_bytes()).unwrap());
        assert_eq!(out, [json!({"id": "hotpotqa-dev-0000", "question": "Q", "answer": "yes", "type": "comparison"})]);
        let hover_json = r#"[{"uid": "u1", "claim": "C", "supporting_facts": [["T", 2]], "label": "SUPPORTED",
                              "num_hops": 2, "hpqa_id": "h"}]"#;
        let out = lines(&convert(Convert::Hover, hover_json.as_bytes()).unwrap());
        assert_eq!(
            out,
            [json!({"id": "u1", "claim": "C", "label": "SUPPORTED", "num_hops": 2,
                    "supporting_facts": [{"title": "T", "sent_id": 2}], "hotpotqa_id": "h"})]
        );
        assert!(convert(Convert::Hover, br#"[{"uid": "u"}]"#).is_err());
    }
}
