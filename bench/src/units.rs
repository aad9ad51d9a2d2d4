//! fio-style sizes ("4k", "1m", "1g", "128", "4KiB": binary multiples) and durations ("5s",
//! "500ms", "2m", "100us", a bare number is seconds), parsed for the command line.

use std::time::Duration;

/// Parses a size in bytes: a number with an optional k/m/g/t suffix (×1024ⁿ, case-insensitive,
/// optionally followed by "b" or "ib").
///
/// # Errors
/// A message naming the bad input.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 128, 4k, 1m, 1g)"))?;
    let shift = match suffix.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        other => return Err(format!("unknown size suffix {other:?} in {text:?}")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses a duration: a number (decimals allowed) with an optional unit us/ms/s/m/h; seconds
/// when bare.
///
/// # Errors
/// A message naming the bad input.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number_end = lower
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_end);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (examples: 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text:?}: {error}"))
}

/// Parses a deadline: a duration, or "none" (no staged route).
///
/// # Errors
/// As [`parse_duration`].
pub fn parse_deadline(text: &str) -> Result<Option<Duration>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    parse_duration(text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_like_fio() {
        // Goal: fio's spellings parse and bad ones are refused. Method: a table of inputs.
        assert_eq!(parse_size("128"), Ok(128));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("4x").is_err());
        assert!(parse_size("k").is_err());
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
        assert_eq!(parse_deadline("none"), Ok(None));
        assert_eq!(parse_deadline("2ms"), Ok(Some(Duration::from_millis(2))));
    }
}
