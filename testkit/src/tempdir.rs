//! Minimal self-deleting temporary directory.
//!
//! A tiny replacement for the `tempfile` crate (keeps the dependency graph of
//! the workspace unchanged): the directory is created under
//! [`std::env::temp_dir`] with a unique name and removed recursively on drop.

use std::io;
use std::path::{Path, PathBuf};

/// A uniquely named directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/testkit-<prefix>-<uuid>`.
    ///
    /// The returned path is canonicalized (symlinks in `$TMPDIR` resolved), so
    /// it can be compared with paths reported by the kernel.
    pub fn new(prefix: &str) -> io::Result<Self> {
        let name = format!("testkit-{prefix}-{}", uuid::Uuid::now_v7().simple());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path)?;
        let path = path.canonicalize()?;
        Ok(Self { path })
    }

    /// Path of the directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in $TMPDIR is not worth a panic.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_and_removed() {
        let dir = TempDir::new("unit").unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("f"), b"x").unwrap();
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists());
    }
}
