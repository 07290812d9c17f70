//! What a job's `metric_relabel_configs` keep, decided per sample exactly as
//! Prometheus's scrape loop does (`mutateSampleLabels` in
//! `scrape/scrape.go`): the target's labels are merged into the sample's
//! first (with `honor_labels`, the sample's own labels win; without it, the
//! target's win and a clashing sample label is renamed `exported_<name>`),
//! then the rules run on the merged set, and an empty result is dropped.
//! That count is Prometheus's `scrape_samples_post_metric_relabeling`.

use std::cell::RefCell;

use promshard_config::relabel::mutate_sample_labels;
use promshard_config::{LabelSet, RelabelRules};

use crate::scrape::counting::MetricRelabel;
use crate::shard_api::ScrapeTarget;

/// A job's compiled `metric_relabel_configs` and its `honor_labels`.
#[derive(Debug)]
pub(super) struct JobMetricRelabel {
    rules: RelabelRules,
    honor_labels: bool,
}

/// Per worker thread: the sample's label set, reused for every sample, and
/// the target labels of the target scraped last (rebuilt only when the
/// target changes), so the per-sample path does not allocate.
#[derive(Default)]
struct Scratch {
    sample: LabelSet,
    target_id: String,
    target: LabelSet,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl JobMetricRelabel {
    /// Rules that keep what `rules` keep for a job with `honor_labels`.
    /// `None` for an empty rule list: every sample is kept, nothing to run.
    pub(super) fn new(rules: RelabelRules, honor_labels: bool) -> Option<Self> {
        (!rules.is_empty()).then_some(Self {
            rules,
            honor_labels,
        })
    }
}

impl MetricRelabel for JobMetricRelabel {
    fn keeps(&self, target: &ScrapeTarget, labels: &[(&str, &str)]) -> bool {
        if self.rules.is_name_only() {
            let name = labels
                .iter()
                .find(|(n, _)| *n == "__name__")
                .map_or("", |(_, v)| v);
            return self.rules.keep_name(name);
        }
        SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                // Re-entered on this thread (never expected): use fresh sets.
                return self.keeps_with(&mut Scratch::default(), target, labels);
            };
            self.keeps_with(&mut scratch, target, labels)
        })
    }
}

impl JobMetricRelabel {
    fn keeps_with(
        &self,
        scratch: &mut Scratch,
        target: &ScrapeTarget,
        labels: &[(&str, &str)],
    ) -> bool {
        if scratch.target_id != target.id.0 || scratch.target.is_empty() {
            scratch.target_id.clone_from(&target.id.0);
            scratch.target.clear();
            // Labels starting with `__` are not target labels once relabeling
            // is done (Prometheus drops them), e.g. a `__scrape_interval__`.
            for (name, value) in target.labels.iter().filter(|(n, _)| !n.starts_with("__")) {
                scratch.target.push_unsorted(name, value);
            }
            scratch.target.sort();
        }
        let set = &mut scratch.sample;
        set.clear();
        for (name, value) in labels {
            // An empty value is the same as an absent label in Prometheus.
            if !value.is_empty() {
                set.push_unsorted(name, value);
            }
        }
        set.sort();
        mutate_sample_labels(set, &scratch.target, self.honor_labels);
        self.rules.process(set) && !set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard_api::{Role, TargetId};
    use promshard_config::RelabelConfig;
    use promshard_config::relabel::Action;

    fn target() -> ScrapeTarget {
        ScrapeTarget {
            id: TargetId("t".into()),
            job: "app".into(),
            url: "http://a:1/metrics".into(),
            labels: [("job", "app"), ("instance", "a:1"), ("team", "x")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            role: Role::Active,
        }
    }

    fn rule(source: &str, regex: &str, action: Action) -> RelabelRules {
        let config = RelabelConfig {
            source_labels: if source.is_empty() {
                vec![]
            } else {
                vec![source.to_owned()]
            },
            source_labels_set: !source.is_empty(),
            regex: regex.to_owned(),
            regex_set: true,
            action,
            ..RelabelConfig::default()
        };
        RelabelRules::compile([config]).unwrap()
    }

    #[test]
    fn empty_rules_need_no_relabeling() {
        assert!(JobMetricRelabel::new(RelabelRules::default(), false).is_none());
    }

    #[test]
    fn name_only_rules_decide_on_the_name() {
        let r = JobMetricRelabel::new(rule("__name__", "go_.*", Action::Drop), false).unwrap();
        assert!(!r.keeps(&target(), &[("__name__", "go_goroutines")]));
        assert!(r.keeps(&target(), &[("__name__", "up"), ("a", "b")]));
    }

    #[test]
    fn rules_see_target_labels() {
        let r = JobMetricRelabel::new(rule("team", "x", Action::Drop), false).unwrap();
        assert!(!r.keeps(&target(), &[("__name__", "up")]));
    }

    #[test]
    fn without_honor_labels_a_clashing_sample_label_becomes_exported() {
        let keep_db = || rule("exported_instance", "db-.*", Action::Keep);
        let r = JobMetricRelabel::new(keep_db(), false).unwrap();
        assert!(r.keeps(&target(), &[("__name__", "m"), ("instance", "db-1")]));
        assert!(!r.keeps(&target(), &[("__name__", "m"), ("instance", "web-1")]));
        // With honor_labels the sample keeps its own `instance`, nothing is exported.
        let honored = JobMetricRelabel::new(keep_db(), true).unwrap();
        assert!(!honored.keeps(&target(), &[("__name__", "m"), ("instance", "db-1")]));
    }

    #[test]
    fn honor_labels_lets_the_sample_win() {
        let keep_y = || rule("team", "y", Action::Keep);
        let r = JobMetricRelabel::new(keep_y(), true).unwrap();
        assert!(r.keeps(&target(), &[("__name__", "m"), ("team", "y")]));
        let not_honored = JobMetricRelabel::new(keep_y(), false).unwrap();
        assert!(!not_honored.keeps(&target(), &[("__name__", "m"), ("team", "y")]));
    }

    #[test]
    fn a_set_relabeled_to_nothing_is_dropped() {
        let r = JobMetricRelabel::new(rule("", ".*", Action::LabelDrop), false).unwrap();
        assert!(!r.keeps(&target(), &[("__name__", "m")]));
    }
}
