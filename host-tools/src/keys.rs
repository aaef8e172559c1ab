//! The key rackctl signs writes with: from `--key-file`, `RACKCTL_KEY` (`ID ROLE SECRET`),
//! `RACKCTL_KEY_FILE`, or `key` / `key_file` in `~/.config/rackctl/config.toml`, in that order.
//! A file that holds a secret and can be read by anyone but its owner is refused, as ssh
//! refuses such a private key.

use std::path::{Path, PathBuf};

use rack_protocol::auth::{Key, parse_key_line};
use rack_protocol::types::KeyRole;

use crate::Failure;
use crate::cli::Cli;

/// The configuration file's path.
pub(crate) fn config_path() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    Path::new(&home).join(".config/rackctl/config.toml")
}

/// Refuses a file holding a secret that others can read.
fn private(path: &Path) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Failure::Usage(format!(
                "{} holds a key and can be read by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
    }
    Ok(())
}

/// The keys in a file of `ID ROLE SECRET` lines.
fn from_file(path: &Path) -> Result<Vec<(Key, KeyRole)>, Failure> {
    private(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("key file {}: {e}", path.display())))?;
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match parse_key_line(line) {
            Ok(Some(k)) => keys.push(k),
            Ok(None) => {}
            Err(e) => {
                return Err(Failure::Usage(format!(
                    "key file {} line {}: {e}",
                    path.display(),
                    number + 1
                )));
            }
        }
    }
    Ok(keys)
}

/// One key line given directly (the environment, the configuration file).
fn from_line(line: &str, source: &str) -> Result<Vec<(Key, KeyRole)>, Failure> {
    match parse_key_line(line) {
        Ok(Some(k)) => Ok(vec![k]),
        Ok(None) => Ok(Vec::new()),
        Err(e) => Err(Failure::Usage(format!("{source}: {e}"))),
    }
}

/// The key to sign with, if any is configured: the one `--key-id` names, else the one with
/// the highest role.
pub(crate) fn key(cli: &Cli) -> Result<Option<Key>, Failure> {
    let keys = if let Some(path) = &cli.key_file {
        from_file(path)?
    } else if let Ok(line) = std::env::var("RACKCTL_KEY") {
        from_line(&line, "RACKCTL_KEY")?
    } else if let Ok(path) = std::env::var("RACKCTL_KEY_FILE") {
        from_file(Path::new(&path))?
    } else {
        let path = config_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let v: toml::Table = toml::from_str(&text)
                    .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
                if let Some(line) = v.get("key").and_then(toml::Value::as_str) {
                    private(&path)?;
                    from_line(line, &path.display().to_string())?
                } else if let Some(file) = v.get("key_file").and_then(toml::Value::as_str) {
                    from_file(Path::new(file))?
                } else {
                    Vec::new()
                }
            }
            Err(_) => Vec::new(),
        }
    };
    let chosen = match cli.key_id {
        Some(id) => Some(keys.into_iter().find(|(k, _)| k.id == id).ok_or_else(|| {
            Failure::Usage(format!("--key-id {id}: no such key in the configured keys"))
        })?),
        None => keys.into_iter().max_by_key(|(_, role)| *role),
    };
    Ok(chosen.map(|(k, _)| k))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rackctl-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("row.keys");
        std::fs::write(&path, format!("1 maintenance {}\n", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(Failure::Usage(text)) = from_file(&path) else {
            panic!("a world-readable key file was accepted")
        };
        assert!(text.contains("chmod 600"), "{text}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let keys = from_file(&path).ok().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].1, KeyRole::Maintenance);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
