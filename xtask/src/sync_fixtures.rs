//! `cargo xtask sync-fixtures [--from DIR] [--check]`: copy DSPy's golden
//! fixtures (default `../shared/fixtures/dspy`) into `testdata/dspy/`, or with
//! `--check` fail when the committed copy differs from the source.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The fixture files (`*.json` and the README) of a folder, by name.
fn fixture_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.ends_with(".json") || name == "README.md" {
            out.insert(name, fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        }
    }
    Ok(out)
}

/// Copy (or with `check`, compare) the fixtures of `from` into `to`.
pub fn sync_fixtures(from: &Path, to: &Path, check: bool) -> Result<()> {
    let source = fixture_files(from)?;
    if source.is_empty() {
        bail!("no fixtures in {}", from.display());
    }
    fs::create_dir_all(to)?;
    let current = fixture_files(to)?;
    let mut differing = Vec::new();
    for (name, bytes) in &source {
        let state = match current.get(name) {
            None => "added",
            Some(old) if old != bytes => "changed",
            Some(_) => continue,
        };
        differing.push(format!("{state}: {name}"));
        if !check {
            fs::write(to.join(name), bytes)?;
        }
    }
    for name in current.keys().filter(|n| !source.contains_key(*n)) {
        differing.push(format!("only in testdata (kept): {name}"));
    }
    for line in &differing {
        println!("{line}");
    }
    if check && differing.iter().any(|l| !l.starts_with("only in")) {
        bail!("testdata/dspy differs from {}: run `cargo xtask sync-fixtures`", from.display());
    }
    println!("{} fixture file(s) in {}, {} difference(s)", source.len(), from.display(), differing.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn new_files_and_the_readme_are_copied_and_check_sees_them() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::write(from.path().join("a.json"), "{}").unwrap();
        fs::write(from.path().join("README.md"), "v1").unwrap();
        fs::write(from.path().join("notes.txt"), "not a fixture").unwrap();
        sync_fixtures(from.path(), to.path(), false).unwrap();
        sync_fixtures(from.path(), to.path(), true).unwrap();

        // A new kind of case and a changed README arrive on the next sync;
        // `--check` fails until then.
        fs::write(from.path().join("xml_parse_new.json"), r#"{"kind": "parse"}"#).unwrap();
        fs::write(from.path().join("README.md"), "v2").unwrap();
        assert!(sync_fixtures(from.path(), to.path(), true).is_err());
        sync_fixtures(from.path(), to.path(), false).unwrap();
        assert_eq!(fs::read_to_string(to.path().join("xml_parse_new.json")).unwrap(), r#"{"kind": "parse"}"#);
        assert_eq!(fs::read_to_string(to.path().join("README.md")).unwrap(), "v2");
        assert!(!to.path().join("notes.txt").exists());
        sync_fixtures(from.path(), to.path(), true).unwrap();
    }
}
