//! Crash-safe file replacement.
//!
//! Prometheus re-reads file_sd files as soon as they change, and the sidecar
//! restores its assignment from disk after a restart: a reader must never see
//! a half-written file. Every file promshard writes for others to read goes
//! through [`write_atomic`].

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A file could not be written; names the file.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct WriteError {
    /// The file that was being replaced.
    pub path: PathBuf,
    /// What the file system said.
    #[source]
    pub source: io::Error,
}

/// Replaces `path` with `contents` so that readers see either the old file or
/// the new one, never a mix: write a temp file beside it, fsync, rename over,
/// fsync the directory (so the rename itself survives a power loss).
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_atomic_mode(path, contents, 0o644)
}

/// [`write_atomic`] for files that hold secrets from the user's config: the
/// file is created with `mode` (e.g. `0o600`) before any byte is written, so
/// the secret is never readable by others, not even for a moment.
pub(crate) fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    // Same directory, so the rename never crosses a file system. The leading
    // dot keeps Prometheus's file_sd globs (`*.json`) from picking it up.
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Directory fsync is what makes the rename durable; not every file
        // system supports it, and the data itself is already synced.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Runs a file write (with its fsyncs) on the blocking pool: the sidecar's
/// runtime may be a single thread that also forwards every scrape, and an
/// fsync can take tens of milliseconds on a busy volume.
pub(crate) async fn off_runtime<T: Send + 'static>(
    path: PathBuf,
    write: impl FnOnce() -> Result<T, WriteError> + Send + 'static,
) -> Result<T, WriteError> {
    match tokio::task::spawn_blocking(write).await {
        Ok(result) => result,
        Err(join) => Err(WriteError {
            path,
            source: io::Error::other(format!("the writing task failed: {join}")),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.json");
        write_atomic(&path, b"[1]").unwrap();
        write_atomic(&path, b"[2]").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"[2]");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("job.json")]);
    }

    #[test]
    fn private_files_are_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        write_atomic_mode(&path, b"secret", 0o600).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("job.json");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("absent/job.json"), "{err}");
    }
}
