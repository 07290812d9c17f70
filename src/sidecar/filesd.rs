//! The shard's per-job `file_sd` files.
//!
//! Each assigned target becomes one file_sd entry that points Prometheus at the
//! sidecar, never at the target: `__address__` is the sidecar's scrape
//! address, `__metrics_path__` is `/scrape/<id>`, and every final label of the
//! target (`job` and `instance` included) is written explicitly, so the stored
//! series carry exactly the labels a single Prometheus would have given them.
//! Prometheus notices the change by itself; no reload is needed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsutil::{WriteError, write_atomic};
use crate::shard_api::ScrapeTarget;

/// The file_sd file of `job` in `dir`. Job names may hold any character, so
/// the name is escaped into a safe, injective file name.
pub(super) fn job_file(dir: &Path, job: &str) -> PathBuf {
    dir.join(format!("{}.json", escape_file_name(job)))
}

/// Keeps `[A-Za-z0-9_-]` and percent-escapes every other byte (`.` too, so
/// no job name can produce `..` or a hidden file), which keeps distinct job
/// names distinct.
fn escape_file_name(job: &str) -> String {
    let mut out = String::with_capacity(job.len());
    for b in job.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if out.is_empty() { "%".to_owned() } else { out }
}

#[derive(Serialize)]
struct Entry<'a> {
    targets: [&'a str; 1],
    labels: BTreeMap<&'a str, &'a str>,
}

/// Renders the file_sd JSON of one job's targets. Entries are sorted by id so
/// the same assignment always gives the same bytes (and an unchanged job is
/// not rewritten).
pub(super) fn render(scrape_address: &str, targets: &[&ScrapeTarget]) -> Vec<u8> {
    let mut sorted: Vec<&ScrapeTarget> = targets.to_vec();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let paths: Vec<String> = sorted.iter().map(|t| format!("/scrape/{}", t.id)).collect();
    let entries: Vec<Entry<'_>> = sorted
        .iter()
        .zip(&paths)
        .map(|(target, path)| {
            let mut labels: BTreeMap<&str, &str> = target
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.insert("__metrics_path__", path);
            Entry {
                targets: [scrape_address],
                labels,
            }
        })
        .collect();
    let mut json = serde_json::to_vec_pretty(&entries).unwrap_or_else(|_| b"[]".to_vec());
    json.push(b'\n');
    json
}

/// Writes every job's file in `dir`: one file per job of `jobs` (an empty list
/// for jobs with no target here, so a target moving in later needs no reload).
/// Files whose content is unchanged are not touched. Returns the jobs written.
pub(super) fn write_all<'a>(
    dir: &Path,
    scrape_address: &str,
    jobs: impl IntoIterator<Item = &'a str>,
    targets: &[ScrapeTarget],
) -> Result<Vec<String>, WriteError> {
    let mut by_job: BTreeMap<&str, Vec<&ScrapeTarget>> = BTreeMap::new();
    for job in jobs {
        by_job.entry(job).or_default();
    }
    for target in targets {
        by_job.entry(target.job.as_str()).or_default().push(target);
    }
    let mut written = Vec::new();
    for (job, targets) in by_job {
        let path = job_file(dir, job);
        let contents = render(scrape_address, &targets);
        if std::fs::read(&path).is_ok_and(|old| old == contents) {
            continue;
        }
        write_atomic(&path, &contents)?;
        written.push(job.to_owned());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_api::{Role, TargetId};

    fn target(id: &str, job: &str, instance: &str) -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId(id.to_owned()),
            job: job.to_owned(),
            url: format!("http://{instance}/metrics"),
            labels: [("job", job), ("instance", instance), ("team", "a")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            role: Role::Active,
        }
    }

    #[test]
    fn entries_point_at_the_sidecar_and_carry_every_label() {
        let t = target("00ff", "node", "10.0.0.1:9100");
        let json: serde_json::Value =
            serde_json::from_slice(&render("127.0.0.1:8008", &[&t])).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "targets": ["127.0.0.1:8008"],
                "labels": {
                    "__metrics_path__": "/scrape/00ff",
                    "instance": "10.0.0.1:9100",
                    "job": "node",
                    "team": "a"
                }
            }])
        );
    }

    #[test]
    fn job_names_map_to_distinct_safe_file_names() {
        let dir = Path::new("/d");
        assert_eq!(job_file(dir, "node"), Path::new("/d/node.json"));
        assert_eq!(job_file(dir, "a/b"), Path::new("/d/a%2Fb.json"));
        assert_eq!(job_file(dir, ".."), Path::new("/d/%2E%2E.json"));
        assert_ne!(job_file(dir, "a.b"), job_file(dir, "a%2Eb"));
    }

    #[test]
    fn unchanged_jobs_are_not_rewritten_and_empty_jobs_get_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let targets = vec![target("01", "node", "a:1"), target("02", "node", "b:1")];
        let written = write_all(dir.path(), "s:1", ["node", "idle"], &targets).unwrap();
        assert_eq!(written, vec!["idle".to_owned(), "node".to_owned()]);
        assert_eq!(
            std::fs::read(job_file(dir.path(), "idle")).unwrap(),
            b"[]\n"
        );
        let again = write_all(dir.path(), "s:1", ["node", "idle"], &targets).unwrap();
        assert!(again.is_empty());
        let moved = write_all(dir.path(), "s:1", ["node", "idle"], &targets[..1]).unwrap();
        assert_eq!(moved, vec!["node".to_owned()]);
    }
}
