//! Durations as operators write them in the config: `"90s"`, `"12h"`, `"7d"`, `"2w"`, `"forever"`.

/// Seconds, or `None` for `forever`.
pub fn parse(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t == "forever" {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a duration like \"90s\", \"12h\", \"7d\" or \"forever\"")
    })?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{text:?} has unit {unit:?}; use s, m, h, d, w or \"forever\""
            ))
        }
    };
    if n == 0 {
        return Err(format!("{text:?} is zero; use \"forever\" to keep things"));
    }
    n.checked_mul(scale)
        .map(Some)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// The shortest exact spelling, for showing a policy back.
pub fn format(secs: Option<u64>) -> String {
    match secs {
        None => "forever".into(),
        Some(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s % 3_600 == 0 => format!("{}h", s / 3_600),
        Some(s) if s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = [
            ("90s", Some(90)),
            ("12h", Some(43_200)),
            ("7d", Some(604_800)),
            ("2w", Some(1_209_600)),
            ("5m", Some(300)),
            ("forever", None),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
            assert_eq!(parse(&format(want)), Ok(want));
        }
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "-1d",
            "0s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
