//! The bearer token, which never shows itself.

use std::fmt;
use std::path::Path;

use crate::ClientError;

/// The environment variable the token is read from by default.
pub const TOKEN_ENV: &str = "X_BEARER_TOKEN";

/// An OAuth 2.0 app-only bearer token. `Debug` and `Display` print `BearerToken(REDACTED)`, so it
/// can sit in configs that are logged.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token, trimming surrounding whitespace (token files end with a newline). An empty
    /// token or one with characters an HTTP header cannot carry is refused.
    pub fn new(token: impl Into<String>) -> Result<BearerToken, ClientError> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return Err(ClientError::Config("the bearer token is empty".to_owned()));
        }
        // The position is safe to show; the character is not quoted, since it is part of a secret.
        if let Some(pos) = trimmed.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(ClientError::Config(format!(
                "the bearer token has a space or non-printable character at byte {pos}; expected \
                 one line of printable ASCII"
            )));
        }
        Ok(BearerToken(trimmed.to_owned()))
    }

    /// Reads the token from `X_BEARER_TOKEN`.
    pub fn from_env() -> Result<BearerToken, ClientError> {
        match std::env::var(TOKEN_ENV) {
            Ok(v) => BearerToken::new(v).map_err(|e| match e {
                ClientError::Config(detail) => {
                    ClientError::Config(format!("{TOKEN_ENV}: {detail}"))
                }
                other => other,
            }),
            Err(std::env::VarError::NotPresent) => Err(ClientError::Config(format!(
                "no bearer token: set {TOKEN_ENV} or pass a token file"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(ClientError::Config(format!(
                "{TOKEN_ENV} is not valid UTF-8"
            ))),
        }
    }

    /// Reads the token from a file holding it on one line. On Unix, a file that its group or
    /// other users may read is accepted with one warning (per process) to restrict it to 0600;
    /// the token itself is never shown.
    pub fn from_file(path: &Path) -> Result<BearerToken, ClientError> {
        if let Some(mode) = loose_mode(path) {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "the token file {} is readable by its group or other users (mode {mode:04o}); \
                     restrict it with `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ClientError::Config(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        BearerToken::new(text).map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))
    }

    /// The secret itself, only for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The permission bits of a token file that grants its group or others any access, `None` when
/// it is private (or on platforms without Unix permissions, or when the file cannot be read, which
/// reading it reports).
#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_path: &Path) -> Option<u32> {
    None
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(REDACTED)")
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_prints_itself() {
        let t = BearerToken::new("  AAAAsecret%3Dtoken\n").unwrap();
        assert_eq!(t.expose(), "AAAAsecret%3Dtoken");
        assert_eq!(format!("{t:?}"), "BearerToken(REDACTED)");
        assert_eq!(format!("{t}"), "REDACTED");
    }

    #[test]
    fn bad_tokens_are_refused_without_echo() {
        let err = BearerToken::new(" \n").unwrap_err().to_string();
        assert_eq!(err, "the bearer token is empty");
        let err = BearerToken::new("abc def").unwrap_err().to_string();
        assert!(err.contains("at byte 3"), "{err}");
        assert!(!err.contains("abc"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn loose_token_file_modes_are_detected() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "tok123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose_mode(&path), Some(0o644));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(loose_mode(&path), Some(0o640));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_mode(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(loose_mode(&path), None);
        assert_eq!(BearerToken::from_file(&path).unwrap().expose(), "tok123");
    }

    #[test]
    fn token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "tok123\n").unwrap();
        assert_eq!(BearerToken::from_file(&path).unwrap().expose(), "tok123");
        let err = BearerToken::from_file(&dir.path().join("missing")).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read the token file"),
            "{err}"
        );
    }
}
