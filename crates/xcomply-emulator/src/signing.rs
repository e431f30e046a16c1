//! Google Cloud Storage V4 signed URLs, with HMAC-SHA256 in place of the RSA key.
//!
//! The URL shape, the canonical request and the string-to-sign are those of GCS; only the
//! signature differs: eight HMAC-SHA256 blocks over the string-to-sign under a key derived from the
//! seed, hex-encoded to the 512 characters of a real 2048-bit RSA signature.

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use xcomply_core::civil_from_days;

type HmacSha256 = Hmac<Sha256>;

/// The service account in every real URL.
const CREDENTIAL_ACCOUNT: &str =
    "complianceapi-public-svc-acct@twttr-compliance-public-prod.iam.gserviceaccount.com";

/// The algorithm X's URLs name.
pub(crate) const ALGORITHM: &str = "GOOG4-RSA-SHA256";

/// The query parameters every signed URL carries.
pub(crate) const REQUIRED_PARAMS: [&str; 6] = [
    "X-Goog-Algorithm",
    "X-Goog-Credential",
    "X-Goog-Date",
    "X-Goog-Expires",
    "X-Goog-SignedHeaders",
    "X-Goog-Signature",
];

/// The signing key.
#[derive(Clone)]
pub(crate) struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(REDACTED)")
    }
}

/// RFC 3986 percent-encoding: everything but unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Percent-decoding; `None` on a malformed escape or invalid UTF-8.
pub(crate) fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a raw query into decoded (name, value) pairs, keeping order.
pub(crate) fn parse_query(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// `YYYYMMDDTHHMMSSZ` of Unix milliseconds.
pub(crate) fn goog_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds.
pub(crate) fn parse_goog_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some(
        xcomply_core::days_from_civil(year, month, day) * 86_400
            + hour * 3600
            + minute * 60
            + second,
    )
}

/// The canonical query: every parameter but the signature, sorted by name then value, encoded.
pub(crate) fn canonical_query(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "X-Goog-Signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The V4 canonical request: method, path, canonical query, canonical headers, a blank line, the
/// signed header names and `UNSIGNED-PAYLOAD`, joined by `\n`.
pub(crate) fn canonical_request(
    method: &str,
    path: &str,
    params: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let mut out = format!("{method}\n{path}\n{}\n", canonical_query(params));
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(
        &headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";"),
    );
    out.push_str("\nUNSIGNED-PAYLOAD");
    out
}

/// `GOOG4-RSA-SHA256\n{date}\n{YYYYMMDD}/auto/storage/goog4_request\n{hex sha256(canonical)}`.
pub(crate) fn string_to_sign(date: &str, canonical: &str) -> String {
    let scope_day = date.get(..8).unwrap_or_default();
    format!(
        "{ALGORITHM}\n{date}\n{scope_day}/auto/storage/goog4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The operation a byte-path token allows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ByteOp {
    Upload,
    Download,
}

impl ByteOp {
    fn letter(self) -> &'static str {
        match self {
            ByteOp::Upload => "u",
            ByteOp::Download => "d",
        }
    }

    fn from_letter(s: &str) -> Option<ByteOp> {
        match s {
            "u" => Some(ByteOp::Upload),
            "d" => Some(ByteOp::Download),
            _ => None,
        }
    }

    /// The last path segment of the route.
    pub(crate) fn path(self) -> &'static str {
        match self {
            ByteOp::Upload => "upload",
            ByteOp::Download => "download",
        }
    }
}

/// What a byte-path token is worth.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TokenCheck {
    /// Genuine, for this job and operation, not expired.
    Valid,
    /// Not a token of this job (forged, altered, another job's, or no token at all): 401.
    Unusable,
    /// Genuine but for the other operation: 403.
    WrongOperation(ByteOp),
    /// Genuine but expired at this Unix second: 403.
    Expired(i64),
}

impl Signer {
    pub(crate) fn new(seed: u64) -> Signer {
        let mut key = [0u8; 32];
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(
                &xcomply_core::seeded::hash3(seed, 0x5349_474e, i as u64).to_le_bytes(),
            );
        }
        Signer { key }
    }

    /// 512 hex characters: eight HMAC blocks, block `i` over `i` followed by the string-to-sign.
    pub(crate) fn sign(&self, string_to_sign: &str) -> String {
        let mut out = String::with_capacity(512);
        for i in 0u8..8 {
            let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length works");
            mac.update(&[i]);
            mac.update(string_to_sign.as_bytes());
            out.push_str(&hex::encode(mac.finalize().into_bytes()));
        }
        out
    }

    /// An opaque secret for a resumable session, derived from the key so it cannot be guessed.
    pub(crate) fn session_id(&self, n: u64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length works");
        mac.update(b"upload_id");
        mac.update(&n.to_le_bytes());
        format!("ADPycd{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// A signed URL for `method` on `/{path}` at `base` (`http://host:port`), signed at `date_ms`
    /// for `expires_secs`, with `signed` headers (lower-case names and the values the client must
    /// send; `host` is added from `base`).
    pub(crate) fn url(
        &self,
        base: &str,
        method: &str,
        path: &str,
        date_ms: i64,
        expires_secs: u64,
        signed: &[(&str, &str)],
    ) -> String {
        let host = base
            .split_once("://")
            .map_or(base, |(_, rest)| rest)
            .trim_end_matches('/');
        let date = goog_date(date_ms);
        let mut headers: Vec<(String, String)> = signed
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .chain(std::iter::once(("host".to_owned(), host.to_owned())))
            .collect();
        headers.sort();
        let names = headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let params = vec![
            ("X-Goog-Algorithm".to_owned(), ALGORITHM.to_owned()),
            (
                "X-Goog-Credential".to_owned(),
                format!(
                    "{CREDENTIAL_ACCOUNT}/{}/auto/storage/goog4_request",
                    &date[..8]
                ),
            ),
            ("X-Goog-Date".to_owned(), date.clone()),
            ("X-Goog-Expires".to_owned(), expires_secs.to_string()),
            ("X-Goog-SignedHeaders".to_owned(), names),
        ];
        let canonical = canonical_request(method, path, &params, &headers);
        let signature = self.sign(&string_to_sign(&date, &canonical));
        format!(
            "{}{path}?{}&X-Goog-Signature={signature}",
            base.trim_end_matches('/'),
            canonical_query(&params)
        )
    }

    /// A byte-path URL of the live flow:
    /// `{base}/2/compliance/jobs/{job}/{upload|download}?token=…`. The token is
    /// `{u|d}.{expiry in Unix seconds}.{HMAC}`, the HMAC binding (job, operation, expiry), so the
    /// server can tell a forged or foreign token (401) from a genuine one that expired or is for
    /// the other operation (403) without storing tokens.
    pub(crate) fn byte_path_url(
        &self,
        base: &str,
        job: u64,
        op: ByteOp,
        date_ms: i64,
        expires_secs: u64,
    ) -> String {
        let expiry = date_ms.div_euclid(1000) + expires_secs as i64;
        format!(
            "{}/2/compliance/jobs/{job}/{}?token={}.{expiry}.{}",
            base.trim_end_matches('/'),
            op.path(),
            op.letter(),
            self.token_mac(job, op, expiry)
        )
    }

    fn token_mac(&self, job: u64, op: ByteOp, expiry: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length works");
        mac.update(format!("byte-path|{job}|{}|{expiry}", op.letter()).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks a byte-path token for `op` on `job` at `now_secs`.
    pub(crate) fn check_token(
        &self,
        token: &str,
        job: u64,
        op: ByteOp,
        now_secs: i64,
    ) -> TokenCheck {
        let mut parts = token.split('.');
        let (Some(letter), Some(expiry), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return TokenCheck::Unusable;
        };
        let Some(token_op) = ByteOp::from_letter(letter) else {
            return TokenCheck::Unusable;
        };
        let Ok(expiry) = expiry.parse::<i64>() else {
            return TokenCheck::Unusable;
        };
        let expected = self.token_mac(job, token_op, expiry);
        let same = expected.len() == mac.len()
            && expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            TokenCheck::Unusable
        } else if token_op != op {
            TokenCheck::WrongOperation(token_op)
        } else if now_secs >= expiry {
            TokenCheck::Expired(expiry)
        } else {
            TokenCheck::Valid
        }
    }

    /// Whether `signature` is the signature of `string_to_sign`, in constant time.
    pub(crate) fn verify(&self, string_to_sign: &str, signature: &str) -> bool {
        let expected = self.sign(string_to_sign);
        expected.len() == signature.len()
            && expected
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_path_tokens_bind_job_operation_and_expiry() {
        let s = Signer::new(1);
        let url = s.byte_path_url("http://h:1/", 7, ByteOp::Upload, 1_000_000, 900);
        let token = url.split_once("?token=").unwrap().1;
        assert!(url.starts_with("http://h:1/2/compliance/jobs/7/upload?token=u.1900."));
        assert_eq!(
            s.check_token(token, 7, ByteOp::Upload, 1_899),
            TokenCheck::Valid
        );
        assert_eq!(
            s.check_token(token, 7, ByteOp::Upload, 1_900),
            TokenCheck::Expired(1_900)
        );
        assert_eq!(
            s.check_token(token, 7, ByteOp::Download, 1_000),
            TokenCheck::WrongOperation(ByteOp::Upload)
        );
        assert_eq!(
            s.check_token(token, 8, ByteOp::Upload, 1_000),
            TokenCheck::Unusable
        );
        let later = token.replace("u.1900.", "u.9900.");
        assert_eq!(
            s.check_token(&later, 7, ByteOp::Upload, 1_000),
            TokenCheck::Unusable
        );
        assert_eq!(
            s.check_token("", 7, ByteOp::Upload, 1_000),
            TokenCheck::Unusable
        );
        assert_eq!(
            Signer::new(2).check_token(token, 7, ByteOp::Upload, 1_000),
            TokenCheck::Unusable
        );
    }

    #[test]
    fn dates_round_trip() {
        let ms = 1_633_592_478_000;
        assert_eq!(goog_date(ms), "20211007T074118Z");
        assert_eq!(parse_goog_date("20211007T074118Z"), Some(ms / 1000));
        assert_eq!(parse_goog_date("2021107T074118Z"), None);
        assert_eq!(parse_goog_date("20211307T074118Z"), None);
    }

    #[test]
    fn url_has_the_real_shape_and_verifies() {
        let s = Signer::new(1);
        let url = s.url(
            "http://127.0.0.1:8080",
            "PUT",
            "/twttr-tweet-compliance/1/submission/2_1",
            1_633_592_478_000,
            900,
            &[("content-type", "text/plain")],
        );
        assert!(url.starts_with(
            "http://127.0.0.1:8080/twttr-tweet-compliance/1/submission/2_1?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=complianceapi-public-svc-acct%40twttr-compliance-public-prod.iam.gserviceaccount.com%2F20211007%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20211007T074118Z&X-Goog-Expires=900&X-Goog-SignedHeaders=content-type%3Bhost&X-Goog-Signature="
        ), "{url}");
        let (_, query) = url.split_once('?').unwrap();
        let params = parse_query(query).unwrap();
        let sig = &params
            .iter()
            .find(|(k, _)| k == "X-Goog-Signature")
            .unwrap()
            .1;
        assert_eq!(sig.len(), 512);
        let headers = vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("host".to_owned(), "127.0.0.1:8080".to_owned()),
        ];
        let path = "/twttr-tweet-compliance/1/submission/2_1";
        let ok = canonical_request("PUT", path, &params, &headers);
        assert!(s.verify(&string_to_sign("20211007T074118Z", &ok), sig));
        let wrong = canonical_request("GET", path, &params, &headers);
        assert!(!s.verify(&string_to_sign("20211007T074118Z", &wrong), sig));
    }
}
