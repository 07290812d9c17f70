//! Leader election through a `coordination.k8s.io/v1` Lease.
//!
//! Several coordinator replicas run a [`LeaderElector`]; the one whose
//! identity is the Lease's `holderIdentity` leads. The leader renews every
//! [`LeaseSettings::renew_interval`]; a standby takes the Lease over when it
//! is free (no holder: handed back on shutdown) or expired. Expiry is judged
//! on the standby's own clock, from the moment it last saw the Lease record
//! change plus `leaseDurationSeconds`, never from the remote `renewTime`, so
//! clock skew between nodes cannot cause two leaders. A leader whose renewals
//! fail steps down after [`LeaseSettings::renew_deadline`], before any
//! standby could consider the Lease expired. Every write carries the
//! resourceVersion it was based on, so of two racing replicas one gets 409
//! Conflict and re-reads.
//!
//! The API calls (get, create, update on `leases`) go through the narrow
//! [`LeaseApi`] trait, implemented for the cluster by [`KubeLeaseApi`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use promshard_fake_kube::FakeApiServer;
//! use promshard_k8s::lease::{KubeLeaseApi, LeaderElector, LeaseSettings};
//!
//! let server = FakeApiServer::start().await?;
//! let api = KubeLeaseApi::new(server.client(), "default");
//! let settings = LeaseSettings::new("promshard-coordinator", "pod-a", Duration::from_secs(15));
//! let handle = LeaderElector::spawn(api, settings);
//! let mut leader = handle.watch();
//! leader.wait_for(|leading| *leading).await?;
//! assert!(handle.is_leader());
//! handle.release().await; // hands the Lease back so a standby takes over at once
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A failed Lease call.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another replica wrote first: 409 Conflict or AlreadyExists.
    #[error("lease {name}: conflicting write ({message})")]
    Conflict { name: String, message: String },
    /// Any other failure of the API call.
    #[error("lease {name}: API call failed")]
    Api {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A failure of a non-kube implementation of [`LeaseApi`].
    #[error("lease {name}: {message}")]
    Other { name: String, message: String },
}

/// The Lease calls leader election makes (RBAC: get, create, update on
/// `coordination.k8s.io/leases` in one namespace).
pub trait LeaseApi: Send + Sync + 'static {
    /// The Lease, or `None` when it does not exist.
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<Lease>, LeaseError>> + Send;
    /// Creates the Lease; [`LeaseError::Conflict`] when it already exists.
    fn create(&self, lease: &Lease) -> impl Future<Output = Result<Lease, LeaseError>> + Send;
    /// Replaces the Lease, conditional on its `metadata.resourceVersion`;
    /// [`LeaseError::Conflict`] when it changed since.
    fn replace(&self, lease: &Lease) -> impl Future<Output = Result<Lease, LeaseError>> + Send;
}

/// [`LeaseApi`] on a cluster, for Leases in one namespace.
#[derive(Clone)]
pub struct KubeLeaseApi {
    api: Api<Lease>,
}

impl std::fmt::Debug for KubeLeaseApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeLeaseApi").finish_non_exhaustive()
    }
}

impl KubeLeaseApi {
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
        }
    }
}

fn api_error(name: &str, error: kube::Error) -> LeaseError {
    match error {
        kube::Error::Api(status) if status.code == 409 => LeaseError::Conflict {
            name: name.to_owned(),
            message: status.message,
        },
        source => LeaseError::Api {
            name: name.to_owned(),
            source,
        },
    }
}

fn name_of(lease: &Lease) -> &str {
    lease.metadata.name.as_deref().unwrap_or("")
}

impl LeaseApi for KubeLeaseApi {
    async fn get(&self, name: &str) -> Result<Option<Lease>, LeaseError> {
        match self.api.get(name).await {
            Ok(lease) => Ok(Some(lease)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(error) => Err(api_error(name, error)),
        }
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        self.api
            .create(&PostParams::default(), lease)
            .await
            .map_err(|error| api_error(name_of(lease), error))
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        let name = name_of(lease);
        self.api
            .replace(name, &PostParams::default(), lease)
            .await
            .map_err(|error| api_error(name, error))
    }
}

/// How one replica takes part in the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The Lease's name.
    pub name: String,
    /// This replica's `holderIdentity` (the pod name).
    pub identity: String,
    /// `leaseDurationSeconds` written on acquire and renew (rounded up to
    /// whole seconds, at least one).
    pub lease_duration: Duration,
    /// How often the leader renews. Default: a third of the lease duration.
    pub renew_interval: Duration,
    /// How often a standby (or a leader whose renewal failed) tries again.
    /// Default: the renew interval, at most 2 s.
    pub retry_interval: Duration,
    /// A leader that could not renew for this long stops leading. Default:
    /// two thirds of the lease duration, so it steps down before a standby
    /// may take over.
    pub renew_deadline: Duration,
}

impl LeaseSettings {
    /// Settings with the default intervals derived from `lease_duration`.
    pub fn new(
        name: impl Into<String>,
        identity: impl Into<String>,
        lease_duration: Duration,
    ) -> Self {
        let renew_interval = lease_duration / 3;
        Self {
            name: name.into(),
            identity: identity.into(),
            lease_duration,
            renew_interval,
            retry_interval: renew_interval.min(Duration::from_secs(2)),
            renew_deadline: lease_duration * 2 / 3,
        }
    }

    pub fn with_renew_interval(mut self, renew_interval: Duration) -> Self {
        self.renew_interval = renew_interval;
        self
    }

    pub fn with_retry_interval(mut self, retry_interval: Duration) -> Self {
        self.retry_interval = retry_interval;
        self
    }

    pub fn with_renew_deadline(mut self, renew_deadline: Duration) -> Self {
        self.renew_deadline = renew_deadline;
        self
    }

    fn duration_seconds(&self) -> i32 {
        let seconds =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
    }
}

/// Runs leader election in a background task; see [`LeaderElector::spawn`].
#[derive(Debug)]
pub struct LeaderElector;

impl LeaderElector {
    /// Starts taking part in the election. Needs a tokio runtime.
    pub fn spawn<A: LeaseApi>(api: A, settings: LeaseSettings) -> LeaderHandle {
        let leading = Arc::new(watch::Sender::new(false));
        let (release_tx, release_rx) = oneshot::channel();
        let identity = settings.identity.clone();
        let elector = Elector {
            api,
            settings,
            observed: None,
            written: None,
            last_renewal: None,
        };
        let task = tokio::spawn(elector.run(Arc::clone(&leading), release_rx));
        LeaderHandle {
            identity,
            leading,
            release: Some(release_tx),
            task,
        }
    }
}

/// This replica's view of the election. Dropping it stops the election
/// without handing the Lease back (as a crash would): standbys take over
/// once it expires. Call [`LeaderHandle::release`] on orderly shutdown.
#[derive(Debug)]
pub struct LeaderHandle {
    identity: String,
    leading: Arc<watch::Sender<bool>>,
    release: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LeaderHandle {
    /// Whether this replica leads right now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Follows leadership changes.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// This replica's identity in the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Stops the election and, when leading, hands the Lease back (no
    /// holder, 1 s duration) so a standby takes over at its next try.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _already_ended = release.send(());
        }
        if let Err(error) = (&mut self.task).await {
            tracing::warn!(%error, "leader election task failed");
        }
        self.leading.send_replace(false);
    }
}

impl Drop for LeaderHandle {
    fn drop(&mut self) {
        self.task.abort();
        self.leading.send_replace(false);
    }
}

/// The Lease record as last seen, and when (on our clock) it last changed.
struct Observed {
    spec: Option<LeaseSpec>,
    changed_at: Instant,
}

/// What one attempt found.
enum Outcome {
    /// We hold the Lease, renewed just now.
    Leading,
    /// Someone else holds a Lease that has not expired, or won a race.
    Standby,
    /// The API call failed; nothing is known.
    Failed,
}

struct Elector<A> {
    api: A,
    settings: LeaseSettings,
    observed: Option<Observed>,
    /// The Lease as we last wrote it, for renewing without reading first.
    written: Option<Lease>,
    last_renewal: Option<Instant>,
}

impl<A: LeaseApi> Elector<A> {
    async fn run(mut self, leading: Arc<watch::Sender<bool>>, mut release: oneshot::Receiver<()>) {
        loop {
            let was_leading = *leading.borrow();
            let outcome = tokio::select! {
                outcome = self.try_acquire_or_renew(was_leading) => outcome,
                _ = &mut release => break,
            };
            let now = Instant::now();
            let is_leading = match outcome {
                Outcome::Leading => {
                    self.last_renewal = Some(now);
                    true
                }
                Outcome::Standby => false,
                Outcome::Failed => {
                    was_leading
                        && self.last_renewal.is_some_and(|renewed| {
                            now.duration_since(renewed) < self.settings.renew_deadline
                        })
                }
            };
            if is_leading != was_leading {
                if is_leading {
                    tracing::info!(lease = %self.settings.name, identity = %self.settings.identity, "became leader");
                } else {
                    tracing::warn!(lease = %self.settings.name, identity = %self.settings.identity, "stopped leading");
                }
                leading.send_replace(is_leading);
            }
            let wait = match outcome {
                Outcome::Leading => self.settings.renew_interval,
                Outcome::Standby | Outcome::Failed => self.settings.retry_interval,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = &mut release => break,
            }
        }
        if *leading.borrow() {
            self.hand_back().await;
        }
        leading.send_replace(false);
    }

    async fn try_acquire_or_renew(&mut self, leading: bool) -> Outcome {
        // Fast path: the leader renews the Lease it last wrote without
        // reading it first; a conflict means it must look again.
        if leading && let Some(written) = &self.written {
            let renewed = self.renewed(written);
            match self.api.replace(&renewed).await {
                Ok(lease) => {
                    self.remember_write(lease);
                    return Outcome::Leading;
                }
                Err(error) => {
                    tracing::debug!(%error, "lease renewal without reading first failed");
                }
            }
        }
        let current = match self.api.get(&self.settings.name).await {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(%error, "reading the lease failed");
                return Outcome::Failed;
            }
        };
        let Some(current) = current else {
            return self.create().await;
        };
        let now = Instant::now();
        let spec = current.spec.clone();
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|observed| observed.spec != spec);
        if changed {
            self.observed = Some(Observed {
                spec: spec.clone(),
                changed_at: now,
            });
        }
        let holder = spec
            .as_ref()
            .and_then(|spec| spec.holder_identity.as_deref())
            .filter(|holder| !holder.is_empty());
        if holder.is_some_and(|holder| holder != self.settings.identity)
            && !self.observed_expired(now)
        {
            return Outcome::Standby;
        }
        let next = self.renewed(&current);
        match self.api.replace(&next).await {
            Ok(lease) => {
                self.remember_write(lease);
                Outcome::Leading
            }
            Err(LeaseError::Conflict { .. }) => Outcome::Standby,
            Err(error) => {
                tracing::warn!(%error, "writing the lease failed");
                Outcome::Failed
            }
        }
    }

    async fn create(&mut self) -> Outcome {
        let now = now_micro();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.settings.identity.clone()),
                lease_duration_seconds: Some(self.settings.duration_seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&lease).await {
            Ok(created) => {
                self.remember_write(created);
                Outcome::Leading
            }
            Err(LeaseError::Conflict { .. }) => Outcome::Standby,
            Err(error) => {
                tracing::warn!(%error, "creating the lease failed");
                Outcome::Failed
            }
        }
    }

    /// Whether the Lease we observed has gone unchanged, on our clock, for
    /// longer than its duration.
    fn observed_expired(&self, now: Instant) -> bool {
        let Some(observed) = &self.observed else {
            return false;
        };
        let seconds = observed
            .spec
            .as_ref()
            .and_then(|spec| spec.lease_duration_seconds)
            .unwrap_or(0);
        let duration = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        now.duration_since(observed.changed_at) >= duration
    }

    /// `base` with us as the holder, renewed now. Taking over from another
    /// holder (or from nobody) starts a new term.
    fn renewed(&self, base: &Lease) -> Lease {
        let now = now_micro();
        let old = base.spec.clone().unwrap_or_default();
        let ours = old.holder_identity.as_deref() == Some(self.settings.identity.as_str());
        let spec = LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.settings.duration_seconds()),
            acquire_time: if ours {
                old.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: if ours {
                old.lease_transitions
            } else {
                Some(old.lease_transitions.unwrap_or(0).saturating_add(1))
            },
            ..old
        };
        Lease {
            metadata: base.metadata.clone(),
            spec: Some(spec),
        }
    }

    fn remember_write(&mut self, lease: Lease) {
        self.observed = Some(Observed {
            spec: lease.spec.clone(),
            changed_at: Instant::now(),
        });
        self.written = Some(lease);
    }

    /// Clears the holder so a standby need not wait for expiry.
    async fn hand_back(&mut self) {
        let Some(mut lease) = self.written.take() else {
            return;
        };
        for _attempt in 0..2 {
            let now = now_micro();
            let spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
                return;
            }
            let released = Lease {
                metadata: lease.metadata.clone(),
                spec: Some(LeaseSpec {
                    holder_identity: None,
                    lease_duration_seconds: Some(1),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    ..spec
                }),
            };
            match self.api.replace(&released).await {
                Ok(_) => {
                    tracing::info!(lease = %self.settings.name, "handed the lease back");
                    return;
                }
                Err(LeaseError::Conflict { .. }) => match self.api.get(&self.settings.name).await {
                    Ok(Some(current)) => lease = current,
                    Ok(None) => return,
                    Err(error) => {
                        tracing::warn!(%error, "reading the lease to hand it back failed");
                        return;
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "handing the lease back failed; standbys wait for it to expire");
                    return;
                }
            }
        }
    }
}

fn now_micro() -> MicroTime {
    MicroTime(Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_intervals_follow_the_lease_duration() {
        let settings = LeaseSettings::new("l", "me", Duration::from_secs(15));
        assert_eq!(settings.renew_interval, Duration::from_secs(5));
        assert_eq!(settings.retry_interval, Duration::from_secs(2));
        assert_eq!(settings.renew_deadline, Duration::from_secs(10));
        assert_eq!(settings.duration_seconds(), 15);
        let short = LeaseSettings::new("l", "me", Duration::from_millis(1500));
        assert_eq!(short.retry_interval, Duration::from_millis(500));
        assert_eq!(short.duration_seconds(), 2);
        assert_eq!(
            LeaseSettings::new("l", "me", Duration::ZERO).duration_seconds(),
            1
        );
    }
}
