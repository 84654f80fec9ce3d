//! Durations on the command line: `60s`, `5m`, `1h` (a bare number is seconds).

use std::time::Duration;

/// Parses a positive duration such as `60s`, `5m` or `1h`.
pub fn parse(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 60s, 5m or 1h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: the unit must be s, m or h")),
    };
    if seconds == 0 {
        return Err("the interval must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(super::parse("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(super::parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(super::parse("90").unwrap(), Duration::from_secs(90));
        assert!(super::parse("1d").is_err());
        assert!(super::parse("0s").is_err());
    }
}
