//! Human-readable byte sizes for `--memory-limit` and `--max-bytes-per-job`.

use crate::ShardError;

/// Parses `1GiB`, `512MiB`, `64k`, `1.5G`, `1000000` (bytes) and the like.
///
/// Binary units (`KiB`, `MiB`, `GiB`, `TiB`, and the bare `K`, `M`, `G`, `T` that `sort -S` and
/// `DuckDB` accept) are powers of 1024; `KB`, `MB`, `GB`, `TB` are powers of 1000. Case is ignored.
///
/// ```
/// assert_eq!(xcomply_shard::parse_size("128MiB").unwrap(), 128 << 20);
/// assert_eq!(xcomply_shard::parse_size("2GB").unwrap(), 2_000_000_000);
/// ```
pub fn parse_size(text: &str) -> Result<u64, ShardError> {
    let invalid = || ShardError::InvalidSize {
        found: text.to_owned(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(invalid()),
    };
    if number.is_empty() {
        return Err(invalid());
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(invalid);
    }
    let fraction: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = fraction * multiplier as f64;
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Ok(bytes as u64)
    } else {
        Err(invalid())
    }
}

/// Parses a per-job byte cap: a size as [`parse_size`] reads it, or `none` for no cap.
///
/// ```
/// assert_eq!(xcomply_shard::parse_byte_cap("128MB").unwrap(), Some(128_000_000));
/// assert_eq!(xcomply_shard::parse_byte_cap("none").unwrap(), None);
/// ```
pub fn parse_byte_cap(text: &str) -> Result<Option<u64>, ShardError> {
    if text.trim().eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        parse_size(text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        for (text, bytes) in [
            ("0", 0),
            ("1000", 1000),
            ("1GiB", 1 << 30),
            ("1gib", 1 << 30),
            ("128MiB", 128 << 20),
            ("64k", 64 << 10),
            ("1.5G", 3 << 29),
            ("2GB", 2_000_000_000),
            (" 7 MB ", 7_000_000),
        ] {
            assert_eq!(parse_size(text).unwrap(), bytes, "{text}");
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        for text in ["", "GiB", "1XB", "-1G", "1..5M", "99999999999999999999T"] {
            assert_eq!(
                parse_size(text).unwrap_err().to_string(),
                format!("expected a size such as `512MiB` or `2GiB`, found `{text}`"),
            );
        }
    }
}
