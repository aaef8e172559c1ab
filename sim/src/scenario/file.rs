//! Reading scenario and campus files: TOML through serde with the path of the field that
//! failed, and the error that names the file, the line, the field and what was wrong.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::validate::Invalid;

/// Reads a file named in errors as the scenario and campus files are.
pub(crate) fn read_text(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_owned(),
        line: None,
        field: None,
        value: None,
        message: format!("cannot read: {e}"),
    })
}

/// Parses TOML text into `T`; errors name the file, the line and the field.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ScenarioError> {
    let line_of = |offset: usize| {
        text.get(..offset)
            .map_or(1, |s| s.matches('\n').count() + 1)
    };
    let error = |e: &toml::de::Error, field: Option<String>| ScenarioError {
        file: path.to_owned(),
        line: e.span().map(|s| line_of(s.start)),
        field,
        value: None,
        message: e.message().trim().to_owned(),
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| error(&e, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = (field != ".").then_some(field);
        error(e.inner(), field)
    })
}

/// A scenario file that could not be used.
#[derive(Debug)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// Line (1-based), when known.
    pub line: Option<usize>,
    /// Path of the field, when known.
    pub field: Option<String>,
    /// The value the file gave, when it parsed but is not allowed.
    pub value: Option<String>,
    /// What was wrong (with a value: what is allowed).
    pub message: String,
}

impl ScenarioError {
    /// A value of `text` (the file `path`) that is not allowed, found on its line.
    pub(crate) fn invalid(path: &Path, text: &str, invalid: Invalid) -> Self {
        Self {
            file: path.to_owned(),
            line: find_key_line(text, &invalid.field),
            field: Some(invalid.field),
            value: Some(invalid.value),
            message: format!("allowed {}", invalid.allowed),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match (&self.field, &self.value) {
            (Some(field), Some(value)) => write!(f, ": {field} = {value}")?,
            (Some(field), None) => write!(f, ": field `{field}`")?,
            (None, _) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// The line of a field path such as `faults[1].fault.pump`, found by walking the path: the
/// `n`-th `[[faults]]` table, then the first line after it that sets each key in turn.
pub(crate) fn find_key_line(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0;
    for segment in field.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let sets_key = |line: &str| {
            let line = line.trim_start();
            line.starts_with(&format!("[{name}]"))
                || line.starts_with(&format!("[[{name}]]"))
                || line.split(['{', ',']).any(|part| {
                    part.trim_start()
                        .strip_prefix(name)
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                })
        };
        let mut matches = lines
            .iter()
            .enumerate()
            .skip(at)
            .filter(|(_, l)| sets_key(l));
        let (found, _) = match index {
            Some(n) => matches.nth(n)?,
            None => matches.next()?,
        };
        at = found;
    }
    Some(at + 1)
}
