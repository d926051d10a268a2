//! Where local models live: `local/<name>` model strings resolved in the
//! model directory (`$KESTREL_MODEL_DIR`, else the user cache directory's
//! `kestrel/models`, the layout `cargo xtask fetch-models` writes), or paths.

use std::path::{Path, PathBuf};

use crate::LocalError;

/// The environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "KESTREL_MODEL_DIR";

/// The model string prefix of local models.
pub const PREFIX: &str = "local/";

/// The model directory from the environment: `$KESTREL_MODEL_DIR` if set and
/// non-empty, else `<user cache dir>/kestrel/models`.
pub fn model_dir() -> Result<PathBuf, LocalError> {
    model_dir_from(std::env::var_os(MODEL_DIR_ENV).map(PathBuf::from), dirs::cache_dir())
}

/// [`model_dir`] with its inputs given (pure).
pub fn model_dir_from(env: Option<PathBuf>, cache_dir: Option<PathBuf>) -> Result<PathBuf, LocalError> {
    match (env, cache_dir) {
        (Some(dir), _) if !dir.as_os_str().is_empty() => Ok(dir),
        (_, Some(cache)) => Ok(cache.join("kestrel").join("models")),
        _ => Err(LocalError::NoModelDir),
    }
}

/// Resolves a model string to a path: `local/<name>` (a bare name) is
/// `<model_dir>/<name>`; `local/<path>` with a separator, or any absolute or
/// `./` path, is that path. Anything else is [`LocalError::NotLocal`].
pub fn resolve(model: &str, model_dir: &Path) -> Result<PathBuf, LocalError> {
    let not_local = || LocalError::NotLocal { model: model.to_owned() };
    match model.strip_prefix(PREFIX) {
        Some("") => Err(not_local()),
        Some(rest) if rest.contains('/') || rest.contains('\\') => Ok(PathBuf::from(rest)),
        Some(name) => Ok(model_dir.join(name)),
        None if Path::new(model).is_absolute() || model.starts_with("./") || model.starts_with("../") => {
            Ok(PathBuf::from(model))
        }
        None => Err(not_local()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_in_the_model_dir_and_paths_stay_paths() {
        let dir = Path::new("/models");
        assert_eq!(resolve("local/all-minilm-l6-v2", dir).unwrap(), PathBuf::from("/models/all-minilm-l6-v2"));
        assert_eq!(resolve("local//opt/m", dir).unwrap(), PathBuf::from("/opt/m"));
        assert_eq!(resolve("local/./m", dir).unwrap(), PathBuf::from("./m"));
        assert_eq!(resolve("/opt/minilm", dir).unwrap(), PathBuf::from("/opt/minilm"));
        assert_eq!(resolve("./minilm", dir).unwrap(), PathBuf::from("./minilm"));
        assert!(matches!(resolve("openai/text-embedding-3-small", dir), Err(LocalError::NotLocal { .. })));
        assert!(matches!(resolve("local/", dir), Err(LocalError::NotLocal { .. })));
    }

    #[test]
    fn model_dir_prefers_the_environment() {
        let cache = Some(PathBuf::from("/c"));
        assert_eq!(model_dir_from(Some("/m".into()), cache.clone()).unwrap(), PathBuf::from("/m"));
        assert_eq!(model_dir_from(Some(PathBuf::new()), cache.clone()).unwrap(), PathBuf::from("/c/kestrel/models"));
        assert_eq!(model_dir_from(None, cache).unwrap(), PathBuf::from("/c/kestrel/models"));
        assert!(matches!(model_dir_from(None, None), Err(LocalError::NoModelDir)));
    }
}
