//! Signed URLs that never print their secrets.
//!
//! The upload and download URLs are bearer credentials: anyone holding the `X-Goog-Signature` (or a
//! resumable session's `upload_id`) can write or read the object. [`SignedUrl`] keeps the full URL
//! for the HTTP client and shows a redacted form everywhere else: `Debug`, `Display`, serde errors
//! and therefore every log line and error message built from it.

use std::fmt;

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 3] = ["x-goog-signature", "upload_id", "token"];

/// The placeholder that replaces a secret value.
pub const REDACTED: &str = "REDACTED";

/// A URL whose signature must not be shown.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedUrl(String);

impl SignedUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> SignedUrl {
        SignedUrl(url.into())
    }

    /// The full URL, signature included: only for the request itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with secret query values replaced by `REDACTED`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }

    /// The value of a query parameter (case-insensitive name), undecoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.0.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            k.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

/// Replaces the values of secret query parameters (`X-Goog-Signature`, `upload_id`, `token`) in
/// any URL-like text with `REDACTED`.
///
/// ```
/// use xcomply_core::redact_url;
/// assert_eq!(
///     redact_url("https://h/b/o?X-Goog-Date=1&X-Goog-Signature=abc123"),
///     "https://h/b/o?X-Goog-Date=1&X-Goog-Signature=REDACTED",
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedUrl({:?})", self.redacted())
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl serde::Serialize for SignedUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SignedUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SignedUrl, D::Error> {
        String::deserialize(d).map(SignedUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://storage.googleapis.com/b/1/submission/2_1?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20211007T074118Z&X-Goog-Expires=900&X-Goog-SignedHeaders=content-type%3Bhost&X-Goog-Signature=deadbeef";

    #[test]
    fn signature_never_printed() {
        let url = SignedUrl::new(format!("{URL}&upload_id=sess1"));
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted()] {
            assert!(!shown.contains("deadbeef"), "{shown}");
            assert!(!shown.contains("sess1"), "{shown}");
            assert!(shown.contains("X-Goog-Signature=REDACTED"), "{shown}");
            assert!(shown.contains("X-Goog-Expires=900"), "{shown}");
        }
        assert!(url.expose().contains("deadbeef"));
        assert_eq!(url.query_param("x-goog-expires"), Some("900"));
    }

    #[test]
    fn urls_without_query_are_unchanged() {
        assert_eq!(
            redact_url("http://127.0.0.1:1/2/compliance/jobs"),
            "http://127.0.0.1:1/2/compliance/jobs"
        );
        assert_eq!(
            redact_url("http://h/?token=s#frag"),
            "http://h/?token=REDACTED#frag"
        );
    }
}
