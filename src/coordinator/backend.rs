//! Where shards come from and how their number changes.
//!
//! A backend lists the shards (index, replica group, the sidecar API URL,
//! whether it is being drained for removal) and carries out scale decisions.
//! The "removing" mark is kept by the backend, not the coordinator, so that a
//! drain in progress survives a coordinator restart.

use std::future::Future;
use std::path::Path;

use serde::Deserialize;

/// A backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The static shard list could not be read.
    #[error("shard list {path}: {reason}")]
    ShardList {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The backend cannot do this (e.g. scale a static list).
    #[error("the {backend} backend cannot {what}")]
    Unsupported {
        /// Which backend.
        backend: &'static str,
        /// What was asked.
        what: &'static str,
    },
    /// Starting or stopping a shard failed.
    #[error("shard {index}: {reason}")]
    Shard {
        /// The shard.
        index: u32,
        /// Why.
        reason: String,
    },
}

/// One shard as the backend knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardEndpoint {
    /// Shard index (`<statefulset>-<index>`).
    pub index: u32,
    /// Replica group.
    pub group: u32,
    /// The sidecar's API base URL.
    pub api_url: String,
    /// The Prometheus UI/API URL, for humans.
    pub prometheus_url: Option<String>,
    /// Marked for removal (drained before it goes away).
    pub removing: bool,
    /// The backend considers it started (pod Ready, process answering).
    pub started: bool,
    /// What the backend knows of its state, for humans (a restart in
    /// progress, a container waiting).
    pub detail: Option<String>,
}

/// The shards of the fleet and how to change their number.
pub trait ShardBackend: Send + Sync + 'static {
    /// Short name for logs and errors (`static`, `local`, `kubernetes`).
    fn name(&self) -> &'static str;

    /// Whether [`ShardBackend::scale_up`] and [`ShardBackend::remove`] work.
    fn can_scale(&self) -> bool;

    /// Every shard of every replica group.
    fn shards(&self) -> impl Future<Output = Result<Vec<ShardEndpoint>, BackendError>> + Send;

    /// Makes `count` shards exist in every replica group.
    fn scale_up(&self, count: u32) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Marks shard `index` (every group) as draining for removal, or clears it.
    fn set_removing(
        &self,
        index: u32,
        removing: bool,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes shard `index` (every group); it is the highest and empty.
    fn remove(&self, index: u32) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// A fixed list of shards (bare metal, VMs): no scaling; the desired count
/// is exported as `promshard_desired_shards` for an external autoscaler.
#[derive(Debug, Clone)]
pub struct StaticBackend {
    shards: Vec<ShardEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticList {
    shards: Vec<StaticShard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticShard {
    /// The sidecar API URL.
    sidecar: String,
    #[serde(default)]
    prometheus: Option<String>,
    #[serde(default)]
    group: u32,
}

impl StaticBackend {
    /// Reads a YAML list:
    ///
    /// ```yaml
    /// shards:
    ///   - sidecar: http://prom-0:8080
    ///     prometheus: http://prom-0:9090   # optional, for humans
    ///   - sidecar: http://prom-1:8080
    /// ```
    ///
    /// Shards are numbered in list order within each `group` (default 0).
    pub(crate) fn load(path: &Path) -> Result<Self, BackendError> {
        let fail = |reason: String| BackendError::ShardList {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::from_yaml(&text).map_err(fail)
    }

    /// Parses the YAML list (see `StaticBackend::load`).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let list: StaticList = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if list.shards.is_empty() {
            return Err("no shards listed".into());
        }
        let mut next_index = std::collections::BTreeMap::<u32, u32>::new();
        let shards = list
            .shards
            .into_iter()
            .map(|s| {
                let index = next_index.entry(s.group).or_default();
                let endpoint = ShardEndpoint {
                    index: *index,
                    group: s.group,
                    api_url: s.sidecar,
                    prometheus_url: s.prometheus,
                    removing: false,
                    started: true,
                    detail: None,
                };
                *index += 1;
                endpoint
            })
            .collect();
        Ok(Self { shards })
    }
}

impl ShardBackend for StaticBackend {
    fn name(&self) -> &'static str {
        "static"
    }

    fn can_scale(&self) -> bool {
        false
    }

    async fn shards(&self) -> Result<Vec<ShardEndpoint>, BackendError> {
        Ok(self.shards.clone())
    }

    async fn scale_up(&self, _count: u32) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            backend: "static",
            what: "scale up",
        })
    }

    async fn set_removing(&self, _index: u32, _removing: bool) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            backend: "static",
            what: "drain a shard for removal",
        })
    }

    async fn remove(&self, _index: u32) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            backend: "static",
            what: "remove a shard",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lists_number_shards_per_group() {
        let backend = StaticBackend::from_yaml(
            "shards:\n- {sidecar: 'http://a:8080'}\n- {sidecar: 'http://b:8080'}\n- {sidecar: 'http://c:8080', group: 1}\n",
        )
        .unwrap();
        let got: Vec<(u32, u32, &str)> = backend
            .shards
            .iter()
            .map(|s| (s.group, s.index, s.api_url.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, "http://a:8080"),
                (0, 1, "http://b:8080"),
                (1, 0, "http://c:8080")
            ]
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        assert!(
            StaticBackend::from_yaml("shards: []")
                .unwrap_err()
                .contains("no shards")
        );
        assert!(
            StaticBackend::from_yaml("shards: [{url: x}]")
                .unwrap_err()
                .contains("url")
        );
    }
}
