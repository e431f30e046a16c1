//! Where a path really is, and whether an output lies inside a dataset.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute against the current directory, with `.` components dropped and `..`
/// components taken lexically (without looking at symbolic links), as a glob pattern sees it.
pub fn lexical_absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The real location of `path`: its longest existing ancestor canonicalised (symbolic links
/// resolved, relative paths taken against the current directory), with the part that does not
/// exist yet appended lexically. Two spellings of one file (`ds/a.parquet`, `./ds/a.parquet`,
/// `/abs/ds/a.parquet`) resolve to the same path.
pub fn resolve(path: &Path) -> PathBuf {
    let abs = lexical_absolute(path);
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc, name| acc.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

/// The canonical location of a file as a manifest or summary names it: an object's URI as it is
/// (`s3://bucket/key`), a local path [`resolve`]d. Two spellings of one file compare equal.
pub fn canonical(location: &str) -> PathBuf {
    if crate::ObjectUri::parse(location).is_some() {
        PathBuf::from(location)
    } else {
        resolve(Path::new(location))
    }
}

/// Whether a dataset input is a glob pattern rather than a path.
pub fn is_glob(input: &str) -> bool {
    input.contains(['*', '?', '['])
}

/// The dataset input that `out` lies inside, if any: a directory input that contains it (paths
/// compared after resolving symlinks and `./`), or a glob that matches `probe` (a file xcomply
/// will write under `out`) or one of its directories, which discovery would walk.
pub fn input_containing<'a>(out: &Path, probe: &Path, inputs: &'a [String]) -> Option<&'a str> {
    let real_out = resolve(out);
    let glob_options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    for input in inputs {
        let inside = if is_glob(input) {
            // A glob: inside when the probe file, or a directory holding it (which discovery
            // would walk), matches the pattern.
            let absolute = if Path::new(input).is_absolute() {
                input.clone()
            } else {
                let cwd = std::env::current_dir().unwrap_or_default();
                format!("{}/{input}", glob::Pattern::escape(&cwd.to_string_lossy()))
            };
            glob::Pattern::new(&absolute).is_ok_and(|pattern| {
                let probe = lexical_absolute(probe);
                probe
                    .ancestors()
                    .any(|p| pattern.matches_path_with(p, glob_options))
            })
        } else {
            real_out.starts_with(resolve(Path::new(input)))
        };
        if inside {
            return Some(input);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_path_resolve_alike() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("ds")).unwrap();
        let a = resolve(&real.join("ds/./sub/../new.parquet"));
        assert_eq!(a, real.join("ds/new.parquet"));
        assert_eq!(resolve(&real.join("ds/")), real.join("ds"));
        assert_eq!(
            lexical_absolute(Path::new("./a/b/../c")),
            std::env::current_dir().unwrap().join("a/c")
        );
    }

    #[test]
    fn outputs_inside_directories_and_globs_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("ds")).unwrap();
        let inputs = vec![format!("{}/ds/", root.display())];
        let out = root.join("ds/out");
        assert_eq!(
            input_containing(&out, &out.join("x"), &inputs),
            Some(inputs[0].as_str())
        );
        let beside = root.join("out");
        assert_eq!(input_containing(&beside, &beside.join("x"), &inputs), None);
        let globs = vec![format!("{}/ds/*", root.display())];
        assert!(input_containing(&out, &out.join("x"), &globs).is_some());
    }
}
