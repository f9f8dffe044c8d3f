//! Path rules: which entry paths are safe to create under a target directory. A symlink's
//! target is data, restored verbatim; it is never followed while writing (see `extract`).

/// Splits a relative `/`-separated path into its components, refusing anything that could
/// leave the directory it is joined to: absolute paths, `.`/`..`, empty components, NUL.
pub fn components(path: &str) -> Result<Vec<&str>, &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\0') {
        return Err("NUL in path");
    }
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" => return Err("empty path component (// or trailing /)"),
            "." => return Err("'.' component"),
            ".." => return Err("'..' component"),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_table() {
        let ok = [
            ("a", 1),
            ("a b/ü c", 2),
            ("x/y/z", 3),
            (".hidden", 1),
            ("..x", 1),
        ];
        for (p, n) in ok {
            assert_eq!(components(p).map(|c| c.len()), Ok(n), "{p}");
        }
        for p in ["", "/a", "a/../b", "..", ".", "a//b", "a/", "a/./b", "a\0b"] {
            assert!(components(p).is_err(), "{p:?} should be refused");
        }
    }
}
