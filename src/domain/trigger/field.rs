//! The five fields of a cron trigger and their syntax, in the seed's numbering.
//!
//! Each field is `*`, `n`, `a-b`, `*/n`, `a-b/n`, `n/s` (from `n` to the end in steps of `s`),
//! or a comma list of those. Month and day_of_week also take names (`jan`..`dec`,
//! `sun`..`sat`, any case) wherever a number goes, so `mon-fri`, `sat,sun` and `jun-aug/2`
//! work. day_of_week keeps the seed's 0 = Sunday … 6 = Saturday; `7` is refused rather than
//! read as cron's second Sunday, so one number never means two days.

/// One field: its JSON name, its range and the names of its values (`names[i]` is `lo + i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub lo: u32,
    pub hi: u32,
    pub names: &'static [&'static str],
}

pub const MINUTE: Field = Field {
    name: "minute",
    lo: 0,
    hi: 59,
    names: &[],
};
pub const HOUR: Field = Field {
    name: "hour",
    lo: 0,
    hi: 23,
    names: &[],
};
pub const DAY: Field = Field {
    name: "day",
    lo: 1,
    hi: 31,
    names: &[],
};
pub const MONTH: Field = Field {
    name: "month",
    lo: 1,
    hi: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
pub const DAY_OF_WEEK: Field = Field {
    name: "day_of_week",
    lo: 0,
    hi: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// The fields in the order of a cron line: minute hour day month day_of_week.
pub const FIELDS: [Field; 5] = [MINUTE, HOUR, DAY, MONTH, DAY_OF_WEEK];

impl Field {
    /// The sorted, deduplicated values `text` selects, or why it selects nothing valid.
    pub fn parse(&self, text: &str) -> Result<Vec<u32>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty field".into());
        }
        let mut out = Vec::new();
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s
                        .trim()
                        .parse()
                        .map_err(|_| format!("step {s:?} is not a number"))?;
                    if step == 0 {
                        return Err("step must be at least 1".into());
                    }
                    (r.trim(), step)
                }
                None => (part.trim(), 1),
            };
            let (a, b) = if range == "*" {
                (self.lo, self.hi)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!("range {a}-{b} runs backwards"));
                }
                (a, b)
            } else {
                let v = self.value(range)?;
                // `5/15` means from 5 to the end in steps of 15, as in cron.
                (v, if step > 1 { self.hi } else { v })
            };
            out.extend((a..=b).step_by(step as usize));
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// One value: a number in range or one of the field's names.
    fn value(&self, s: &str) -> Result<u32, String> {
        let s = s.trim();
        let v = match s.parse::<u32>() {
            Ok(v) => v,
            Err(_) => {
                let lower = s.to_ascii_lowercase();
                match self.names.iter().position(|n| *n == lower) {
                    Some(i) => self.lo + i as u32,
                    None if self.names.is_empty() => return Err(format!("{s:?} is not a number")),
                    None => {
                        return Err(format!(
                            "{s:?} is not a number or one of {}",
                            self.names.join(", ")
                        ))
                    }
                }
            }
        };
        if v < self.lo || v > self.hi {
            return Err(format!("{v} is outside {}..={}", self.lo, self.hi));
        }
        Ok(v)
    }
}

/// The five fields of a cron line (`"30 2 * * mon-fri"`), each as written, or why not.
pub fn split_line(line: &str) -> Result<[String; 5], String> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let fields: [&str; 5] = parts.as_slice().try_into().map_err(|_| {
        format!(
            "{line:?} has {} fields; a cron line has five: minute hour day month day_of_week",
            parts.len()
        )
    })?;
    Ok(fields.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ranges_and_lists() {
        #[rustfmt::skip]
        let cases: &[(Field, &str, Option<&[u32]>)] = &[
            (DAY_OF_WEEK, "mon-fri", Some(&[1, 2, 3, 4, 5])),
            (DAY_OF_WEEK, "sat,sun", Some(&[0, 6])),
            (DAY_OF_WEEK, "SUN", Some(&[0])),
            (DAY_OF_WEEK, "Mon-Wed,fri", Some(&[1, 2, 3, 5])),
            (DAY_OF_WEEK, "sun-sat/2", Some(&[0, 2, 4, 6])),
            (DAY_OF_WEEK, "0", Some(&[0])),
            (DAY_OF_WEEK, "7", None),
            (DAY_OF_WEEK, "fri-mon", None),
            (DAY_OF_WEEK, "monday", None),
            (DAY_OF_WEEK, "jan", None),
            (MONTH, "jan", Some(&[1])),
            (MONTH, "Dec", Some(&[12])),
            (MONTH, "jun-aug", Some(&[6, 7, 8])),
            (MONTH, "*/3", Some(&[1, 4, 7, 10])),
            (MONTH, "1,feb,3", Some(&[1, 2, 3])),
            (MONTH, "0", None),
            (MONTH, "13", None),
            (MONTH, "mon", None),
            (HOUR, "mon", None),
            (MINUTE, "", None),
        ];
        for (field, text, want) in cases {
            let got = field.parse(text);
            match want {
                Some(v) => assert_eq!(got.as_deref(), Ok(*v), "{} {text}", field.name),
                None => assert!(got.is_err(), "{} {text}: {got:?}", field.name),
            }
        }
    }

    #[test]
    fn cron_lines_have_five_fields() {
        assert_eq!(
            split_line(" 30 2  * * mon-fri ").unwrap(),
            ["30", "2", "*", "*", "mon-fri"].map(String::from)
        );
        for bad in ["", "30 2 * *", "0 30 2 * * mon", "@daily"] {
            assert!(split_line(bad).is_err(), "{bad:?}");
        }
    }
}
