//! The files a job's settings name (CA, client certificate and key,
//! password, credentials), read through a cache keyed by path.
//!
//! A file is re-read when its modification time, size or inode changes
//! (a `stat` per request; a Kubernetes secret update swaps a symlink, which
//! changes the inode), so a rotated secret takes effect on the next scrape
//! without a reload. Each read gets a new version number: the client
//! rebuilds its TLS configuration, or encodes its `Authorization` header
//! again, only when a version changed.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::{SecretSource, UpstreamError};

/// Contents of the files named by the settings, re-read when the file's
/// modification time, size or inode changes (a Kubernetes secret update
/// swaps a symlink, which changes the inode).
#[derive(Debug, Default)]
pub(super) struct FileCache {
    entries: Mutex<HashMap<PathBuf, CachedFile>>,
    next_version: std::sync::atomic::AtomicU64,
}

/// Contents (if the setting is present) and their version.
type MaybeLoaded = (Option<Arc<[u8]>>, u64);

#[derive(Debug, Clone)]
struct CachedFile {
    stamp: FileStamp,
    contents: Arc<[u8]>,
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// Files larger than this are not credentials or certificates.
const MAX_SETTINGS_FILE: u64 = 4 * 1024 * 1024;

impl FileCache {
    /// The contents of `source` and a version that changes when they do
    /// (0 for inline values).
    fn load(&self, source: &SecretSource) -> Result<(Arc<[u8]>, u64), UpstreamError> {
        match source {
            SecretSource::Inline(value) => Ok((Arc::from(value.as_bytes()), 0)),
            SecretSource::File(path) => self.load_file(path),
        }
    }

    /// The version [`FileCache::load`] would give, without copying an inline
    /// value (0 for inline values and absent settings).
    pub(super) fn version(&self, source: Option<&SecretSource>) -> Result<u64, UpstreamError> {
        match source {
            Some(SecretSource::File(path)) => self.load_file(path).map(|(_, version)| version),
            Some(SecretSource::Inline(_)) | None => Ok(0),
        }
    }

    pub(super) fn load_opt(
        &self,
        source: Option<&SecretSource>,
    ) -> Result<MaybeLoaded, UpstreamError> {
        match source {
            Some(source) => self
                .load(source)
                .map(|(contents, version)| (Some(contents), version)),
            None => Ok((None, 0)),
        }
    }

    /// A secret as text, surrounding whitespace trimmed as Prometheus does.
    pub(super) fn secret(&self, source: &SecretSource) -> Result<String, UpstreamError> {
        let (contents, _) = self.load(source)?;
        let text = std::str::from_utf8(&contents).map_err(|_| {
            UpstreamError::Settings(format!("{}: not UTF-8 text", describe(source)))
        })?;
        Ok(text.trim().to_owned())
    }

    fn load_file(&self, path: &Path) -> Result<(Arc<[u8]>, u64), UpstreamError> {
        use std::os::unix::fs::MetadataExt as _;
        let unreadable =
            |e: io::Error| UpstreamError::Settings(format!("cannot read {}: {e}", path.display()));
        let metadata = std::fs::metadata(path).map_err(unreadable)?;
        let stamp = FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode: metadata.ino(),
        };
        {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = entries.get(path)
                && cached.stamp == stamp
            {
                return Ok((Arc::clone(&cached.contents), cached.version));
            }
        }
        if metadata.len() > MAX_SETTINGS_FILE {
            return Err(UpstreamError::Settings(format!(
                "{} is larger than {MAX_SETTINGS_FILE} bytes",
                path.display()
            )));
        }
        let contents: Arc<[u8]> = Arc::from(std::fs::read(path).map_err(unreadable)?);
        let version = self
            .next_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(
            path.to_owned(),
            CachedFile {
                stamp,
                contents: Arc::clone(&contents),
                version,
            },
        );
        Ok((contents, version))
    }
}

fn describe(source: &SecretSource) -> String {
    match source {
        SecretSource::Inline(_) => "inline secret".to_owned(),
        SecretSource::File(path) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_reread_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "one\n").unwrap();
        let cache = FileCache::default();
        let source = SecretSource::File(path.clone());
        assert_eq!(cache.secret(&source).unwrap(), "one");
        // A new file renamed over the old one, as secret rotation does.
        let next = dir.path().join("token.new");
        std::fs::write(&next, "second\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(cache.secret(&source).unwrap(), "second");
    }
}
