//! `file_sd_configs`: target groups from JSON or YAML files, re-read when
//! their directory changes (inotify through `notify`) and every
//! `refresh_interval`.
//!
//! A file that fails to parse keeps its last good groups (and the error is
//! reported); a deleted file removes its groups; a file renamed over another
//! is read like any change.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher;
use tokio::sync::mpsc;

use super::{
    BoxFuture, Discoverer, ProviderMessage, ProviderSender, SdError, groups_unless_all_failed,
    poll_interval,
};
use crate::config::FileSdConfig;
use crate::paths::glob;
use crate::target_group::{TargetGroup, groups_from_json, yaml_to_json};

/// Largest file_sd file read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Label holding the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// One `file_sd_configs` entry.
#[derive(Debug, Clone)]
pub struct FileDiscoverer {
    name: String,
    config: FileSdConfig,
}

/// Reads one file_sd file: groups with sources `path:index` and
/// `__meta_filepath`.
pub fn read_file(path: &str) -> Result<Vec<TargetGroup>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("file is larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let ext = Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let json = match ext.as_str() {
        "json" => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        "yml" | "yaml" => {
            let yaml: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())?;
            yaml_to_json(&yaml)
        }
        other => {
            return Err(format!(
                "retrieval target groups from {other:?} files is not supported"
            ));
        }
    };
    let mut groups = groups_from_json(&json).map_err(|e| e.to_string())?;
    for (i, group) in groups.iter_mut().enumerate() {
        group.source = format!("{path}:{i}");
        group.labels.insert(FILEPATH_LABEL, path);
    }
    Ok(groups)
}

impl FileDiscoverer {
    /// A provider named `name` for `config`.
    pub fn new(name: String, config: FileSdConfig) -> Self {
        Self { name, config }
    }

    fn list_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        for pattern in &self.config.files {
            match glob(pattern) {
                Ok(matches) => {
                    for m in matches {
                        if !files.contains(&m) {
                            files.push(m);
                        }
                    }
                }
                Err(e) => tracing::warn!(provider = %self.name, "{e}"),
            }
        }
        files
    }
}

/// Per file: how many groups it had and the last good groups.
type FileState = BTreeMap<String, Vec<TargetGroup>>;

impl FileDiscoverer {
    /// Re-reads every file; returns the messages to send.
    fn rescan(&self, state: &mut FileState) -> Vec<ProviderMessage> {
        let mut messages = Vec::new();
        let files = self.list_files();
        for file in &files {
            match read_file(file) {
                Ok(groups) => {
                    let previous = state.get(file);
                    if previous != Some(&groups) {
                        // Groups the file no longer has are sent empty: removed.
                        let gone = groups.len()..previous.map_or(0, Vec::len);
                        let mut update = groups.clone();
                        update.extend(gone.map(|i| TargetGroup {
                            source: format!("{file}:{i}"),
                            ..TargetGroup::default()
                        }));
                        messages.push(ProviderMessage::Update(update));
                    }
                    state.insert(file.clone(), groups);
                }
                Err(e) => messages.push(ProviderMessage::Error(format!("reading {file}: {e}"))),
            }
        }
        let gone: Vec<String> = state
            .keys()
            .filter(|f| !files.contains(f))
            .cloned()
            .collect();
        for file in gone {
            if let Some(groups) = state.remove(&file) {
                messages.push(ProviderMessage::Update(
                    groups
                        .into_iter()
                        .map(|g| TargetGroup {
                            source: g.source,
                            ..TargetGroup::default()
                        })
                        .collect(),
                ));
            }
        }
        messages
    }

    fn watch_dirs(&self) -> Vec<String> {
        let mut dirs = Vec::new();
        for pattern in &self.config.files {
            let dir = crate::paths::dir_of(Path::new(pattern))
                .to_string_lossy()
                .into_owned();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

impl Discoverer for FileDiscoverer {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Vec<TargetGroup>, SdError>> {
        Box::pin(async move {
            let mut groups = Vec::new();
            let mut errors = Vec::new();
            for file in self.list_files() {
                match read_file(&file) {
                    Ok(g) => groups.extend(g),
                    Err(e) => errors.push(format!("reading {file}: {e}")),
                }
            }
            groups_unless_all_failed(&self.name, groups, errors)
        })
    }

    fn run(self: Arc<Self>, tx: ProviderSender) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // A capacity-1 channel is a "something changed" flag: bursts of
            // events collapse into one rescan.
            let (dirty_tx, mut dirty_rx) = mpsc::channel::<()>(1);
            let watcher =
                notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    // Opening and reading a file (our own rescans included)
                    // changes nothing: reacting to it would rescan forever.
                    if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                        let _ = dirty_tx.try_send(());
                    }
                });
            let mut watcher = match watcher {
                Ok(w) => Some(w),
                Err(e) => {
                    let _ = tx
                        .send(ProviderMessage::Error(format!(
                            "watching files: {e}; relying on refresh_interval"
                        )))
                        .await;
                    None
                }
            };
            if let Some(w) = watcher.as_mut() {
                for dir in self.watch_dirs() {
                    if let Err(e) = w.watch(Path::new(&dir), notify::RecursiveMode::NonRecursive) {
                        tracing::warn!(provider = %self.name, "watching {dir}: {e}; relying on refresh_interval");
                    }
                }
            }
            let mut state = FileState::new();
            let mut ticker = tokio::time::interval(poll_interval(self.config.refresh_interval));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.reset();
            loop {
                for message in self.rescan(&mut state) {
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = ticker.tick() => {}
                    Some(()) = dirty_rx.recv() => {
                        // Let a writer finish its burst (write + rename) first.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        while dirty_rx.try_recv().is_ok() {}
                    }
                    () = tx.closed() => return,
                }
            }
        })
    }
}
