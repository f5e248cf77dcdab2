//! Sizes and durations as people write them, for flags, environment
//! variables and the settings file: `256MiB`, `1.5GB`, `1h`, `90s`, `500ms`.
//! A bare number keeps the setting's own unit (bytes, seconds or
//! milliseconds), so what worked before still works.

use std::time::Duration;

/// A size: a bare number of bytes, or a number with a unit (`KiB`, `MiB`,
/// `GiB` are powers of 1024; `KB`, `MB`, `GB` powers of 1000).
pub fn bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| format!("{text:?} is not a size (say 256MiB, 1GB or a number of bytes)"))
}

/// [`bytes`] for settings held as `usize`.
pub fn bytes_usize(text: &str) -> Result<usize, String> {
    usize::try_from(bytes(text)?).map_err(|_| format!("{text:?} is too large"))
}

fn duration(text: &str, bare: fn(u64) -> Duration, unit: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(bare(n));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a duration (say 90s, 5m, 1h, 500ms or a number of {unit})"))
}

/// A duration in whole seconds (a bare number is seconds).
pub fn seconds(text: &str) -> Result<u64, String> {
    let duration = duration(text, Duration::from_secs, "seconds")?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text:?}: this setting counts whole seconds"));
    }
    Ok(duration.as_secs())
}

/// A duration in milliseconds (a bare number is milliseconds).
pub fn millis(text: &str) -> Result<u64, String> {
    let duration = duration(text, Duration::from_millis, "milliseconds")?;
    u64::try_from(duration.as_millis()).map_err(|_| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units_and_bare_bytes() {
        assert_eq!(bytes("268435456"), Ok(256 * 1024 * 1024));
        assert_eq!(bytes("256MiB"), Ok(256 * 1024 * 1024));
        assert_eq!(bytes("256 MiB"), Ok(256 * 1024 * 1024));
        assert_eq!(bytes("1GB"), Ok(1_000_000_000));
        assert_eq!(bytes("8KiB"), Ok(8192));
        assert!(bytes("lots").unwrap_err().contains("256MiB"));
        assert!(bytes("-1").is_err());
    }

    #[test]
    fn durations_take_units_and_bare_numbers_in_the_settings_unit() {
        assert_eq!(seconds("300"), Ok(300));
        assert_eq!(seconds("1h"), Ok(3600));
        assert_eq!(seconds("5m 30s"), Ok(330));
        assert!(seconds("1500ms").unwrap_err().contains("whole seconds"));
        assert_eq!(millis("2000"), Ok(2000));
        assert_eq!(millis("2s"), Ok(2000));
        assert_eq!(millis("250ms"), Ok(250));
        assert!(millis("soon").unwrap_err().contains("90s"));
    }
}
