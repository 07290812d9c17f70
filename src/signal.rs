//! Waiting for the signals that stop a long-running subcommand.
//!
//! `promshard sidecar`, `coordinator` and `local` all run until SIGINT
//! (Ctrl-C) or SIGTERM (what Kubernetes and systemd send), then shut down in
//! order: this is the one place that waits for either.

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
