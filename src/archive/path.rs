//! Path rules: which entry paths and symlink targets are safe to create under a target directory.

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

/// Checks that a symlink at `link_path` pointing at `target` stays inside the root, resolving
/// `..` lexically against the link's directory. Absolute targets are refused outright, and so is
/// `..` after a normal component: `x/..` is only lexically harmless when `x` is a directory, and
/// if `x` is another link (say to `../..`) the kernel would climb out of the root from there.
/// With leading `..` only, every link lands inside the root and links through links stay inside.
pub fn check_symlink_target(link_path: &str, target: &str) -> Result<(), &'static str> {
    if target.is_empty() {
        return Err("empty symlink target");
    }
    if target.starts_with('/') {
        return Err("symlink target is absolute");
    }
    if target.contains('\0') {
        return Err("NUL in symlink target");
    }
    let mut depth: Vec<&str> = components(link_path)?;
    depth.pop(); // the link's own name: the target is relative to its directory
    let mut descended = false;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." if descended => return Err("'..' after a normal component in symlink target"),
            ".." => {
                if depth.pop().is_none() {
                    return Err("symlink target escapes the target directory");
                }
            }
            c => {
                descended = true;
                depth.push(c)
            }
        }
    }
    Ok(())
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

    #[test]
    fn symlink_targets_table() {
        assert!(check_symlink_target("a/l", "b").is_ok());
        assert!(check_symlink_target("a/l", "../b").is_ok());
        assert!(check_symlink_target("a/l", "./../c/d").is_ok());
        assert!(check_symlink_target("a/l", "x/../c").is_err());
        assert!(check_symlink_target("l", "../b").is_err());
        assert!(check_symlink_target("a/l", "../../b").is_err());
        assert!(check_symlink_target("a/l", "/etc/passwd").is_err());
        assert!(check_symlink_target("a/l", "").is_err());
    }
}
