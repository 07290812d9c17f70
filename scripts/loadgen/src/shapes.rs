//! Body shapes modelled on real exporters.
//!
//! Each shape produces families one at a time from `(seed, series, churn)`;
//! label values and values are drawn from sub-streams of the seed keyed by the
//! thing they describe (pod, container, route, ...), so a body is the same
//! bytes for the same inputs, and a churn epoch changes only the label values
//! of the churning share.

use crate::model::{Bucket, Exemplar, Family, Kind, Metric, Value, labels};
use crate::rng::Rng;

/// What a generated body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// node_exporter: many small families, short labels, a Go summary.
    NodeExporter,
    /// kube-state-metrics: few families, very many series with long label sets.
    KubeStateMetrics,
    /// kubelet/cAdvisor: very long label values (cgroup paths, image digests), timestamps.
    Cadvisor,
    /// An instrumented app: mostly classic histograms.
    HistogramApp,
    /// An OpenMetrics app: exemplars on counters and buckets, `_created`, units.
    OpenMetricsExemplars,
}

impl Shape {
    /// Every shape, in a fixed order.
    pub const ALL: [Shape; 5] = [
        Shape::NodeExporter,
        Shape::KubeStateMetrics,
        Shape::Cadvisor,
        Shape::HistogramApp,
        Shape::OpenMetricsExemplars,
    ];

    /// Short name for the command line, file names and target labels.
    pub fn name(self) -> &'static str {
        match self {
            Shape::NodeExporter => "node",
            Shape::KubeStateMetrics => "ksm",
            Shape::Cadvisor => "cadvisor",
            Shape::HistogramApp => "histogram",
            Shape::OpenMetricsExemplars => "exemplars",
        }
    }

    /// Whether its bodies carry explicit timestamps (cAdvisor's sample
    /// timestamps, exemplar timestamps), which follow [`crate::BodySpec::time_ms`].
    pub fn has_timestamps(self) -> bool {
        matches!(self, Shape::Cadvisor | Shape::OpenMetricsExemplars)
    }

    /// Parses [`Shape::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Which label values change in a churn epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Churn {
    pub(crate) seed: u64,
    pub(crate) epoch: u64,
    /// Share of entities (pods, containers, interfaces, routes) that churn, 0..=1.
    pub(crate) share: f64,
}

impl Churn {
    /// The generation of entity `id`: `epoch` if it churns, else 0 forever.
    fn generation(&self, kind: u64, id: u64) -> u64 {
        if self.epoch == 0 || self.share <= 0.0 {
            return 0;
        }
        let draw = Rng::derive(self.seed, &[0xC4_0A, kind, id]).unit();
        if draw < self.share { self.epoch } else { 0 }
    }

    /// A random stream for entity `id` that changes when the entity churns.
    fn entity(&self, kind: u64, id: u64) -> Rng {
        Rng::derive(self.seed, &[kind, id, self.generation(kind, id)])
    }
}

/// How far (ms) the oldest explicit timestamp of a body lies before its
/// collection time: cAdvisor samples are spread over 10,000 steps of 7 ms.
const TIMESTAMP_SPREAD_MS: i64 = 9_999 * 7;

/// Produces the families of `shape`, about `series` samples in text format,
/// with explicit timestamps ending at `time_ms`.
pub(crate) fn generate(
    shape: Shape,
    series: usize,
    churn: Churn,
    time_ms: i64,
    sink: &mut dyn FnMut(&Family),
) {
    let series = series.max(1);
    match shape {
        Shape::NodeExporter => node_exporter(series, churn, sink),
        Shape::KubeStateMetrics => kube_state_metrics(series, churn, sink),
        Shape::Cadvisor => cadvisor(series, churn, time_ms, sink),
        Shape::HistogramApp => histogram_app(series, churn, sink),
        Shape::OpenMetricsExemplars => exemplars(series, churn, time_ms, sink),
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn l(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// A value with three decimals, so text stays realistic in length.
fn milli(rng: &mut Rng, scale: f64) -> f64 {
    (rng.unit() * scale * 1000.0).round() / 1000.0
}

fn whole(rng: &mut Rng, scale: f64) -> f64 {
    (rng.unit() * scale).round()
}

fn counter(value: f64) -> Value {
    Value::Counter {
        value,
        exemplar: None,
    }
}

/// Cumulative buckets over `bounds` (a `+Inf` bucket is appended).
fn histogram(rng: &mut Rng, bounds: &[f64], exemplar_every: usize, ts: f64) -> Value {
    let count = rng.below(100_000);
    let mut cumulative = 0u64;
    let mut buckets = Vec::with_capacity(bounds.len() + 1);
    for (i, bound) in bounds.iter().enumerate() {
        let left = count - cumulative;
        let steps_left = (bounds.len() - i) as u64;
        cumulative += rng.below(left / steps_left * 2 + 1).min(left);
        buckets.push(Bucket {
            upper_bound: *bound,
            cumulative_count: cumulative,
            exemplar: exemplar_at(rng, i, exemplar_every, *bound, ts),
        });
    }
    buckets.push(Bucket {
        upper_bound: f64::INFINITY,
        cumulative_count: count,
        exemplar: None,
    });
    let mean = bounds.get(bounds.len() / 3).copied().unwrap_or(1.0);
    Value::Histogram {
        buckets,
        sum: (count as f64 * mean * 1000.0).round() / 1000.0,
        count,
    }
}

fn exemplar_at(rng: &mut Rng, i: usize, every: usize, bound: f64, ts: f64) -> Option<Exemplar> {
    if every == 0 || !i.is_multiple_of(every) {
        return None;
    }
    Some(Exemplar {
        labels: vec![l("trace_id", rng.hex(32)), l("span_id", rng.hex(16))],
        value: (bound * 0.9 * 1e6).round() / 1e6,
        timestamp: Some(ts + i as f64 * 0.125),
    })
}

fn summary(rng: &mut Rng, quantiles: &[f64]) -> Value {
    let count = rng.below(1_000_000);
    let mut v = 0.0;
    let quantiles = quantiles
        .iter()
        .map(|q| {
            v += milli(rng, 0.01);
            (*q, (v * 1e6_f64).round() / 1e6)
        })
        .collect();
    Value::Summary {
        quantiles,
        sum: milli(rng, 1000.0),
        count,
    }
}

fn node_exporter(series: usize, churn: Churn, sink: &mut dyn FnMut(&Family)) {
    const FIXED: usize = 62;
    let rest = series.saturating_sub(FIXED);
    let cpus = (rest * 4 / 10 / 10).max(1);
    let filesystems = (rest * 2 / 10 / 7).max(1);
    let nics = (rest * 2 / 10 / 10).max(1);
    let disks = (rest * 2 / 10 / 10).max(1);
    let mut rng = Rng::derive(churn.seed, &[1]);

    let mut f = Family::new(
        "go_gc_duration_seconds",
        "A summary of the pause duration of garbage collection cycles.",
        Kind::Summary,
    );
    f.push(Vec::new(), summary(&mut rng, &[0.0, 0.25, 0.5, 0.75, 1.0]));
    sink(&f);
    for (name, help) in [
        (
            "go_goroutines",
            "Number of goroutines that currently exist.",
        ),
        (
            "go_memstats_alloc_bytes",
            "Number of bytes allocated and still in use.",
        ),
        ("go_memstats_heap_objects", "Number of allocated objects."),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        ),
        ("process_open_fds", "Number of open file descriptors."),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        ),
        ("node_load1", "1m load average."),
        ("node_load5", "5m load average."),
        ("node_load15", "15m load average."),
        ("node_boot_time_seconds", "Node boot time, in unixtime."),
        (
            "node_memory_MemAvailable_bytes",
            "Memory information field MemAvailable_bytes.",
        ),
        (
            "node_memory_MemTotal_bytes",
            "Memory information field MemTotal_bytes.",
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Gauge);
        f.push(Vec::new(), Value::Gauge(milli(&mut rng, 1e6)));
        sink(&f);
    }
    let mut f = Family::new(
        "go_info",
        "Information about the Go environment.",
        Kind::Gauge,
    );
    f.push(labels(&[("version", "go1.19.8")]), Value::Gauge(1.0));
    sink(&f);
    let mut f = Family::new(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        Kind::Counter,
    );
    f.push(Vec::new(), counter(milli(&mut rng, 1e5)));
    sink(&f);
    let mut f = Family::new(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        Kind::Gauge,
    );
    f.push(
        labels(&[
            ("domainname", "(none)"),
            ("machine", "x86_64"),
            ("nodename", "worker-17"),
            ("release", "6.1.0-13-amd64"),
            ("sysname", "Linux"),
            (
                "version",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)",
            ),
        ]),
        Value::Gauge(1.0),
    );
    sink(&f);
    let collectors = [
        "arp",
        "bcache",
        "bonding",
        "btrfs",
        "conntrack",
        "cpu",
        "cpufreq",
        "diskstats",
        "dmi",
        "edac",
        "entropy",
        "fibrechannel",
        "filefd",
        "filesystem",
        "hwmon",
        "infiniband",
        "ipvs",
        "loadavg",
        "mdadm",
        "meminfo",
    ];
    let mut duration = Family::new(
        "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.",
        Kind::Gauge,
    );
    let mut success = Family::new(
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
        Kind::Gauge,
    );
    for c in collectors {
        duration.push(vec![l("collector", c)], Value::Gauge(milli(&mut rng, 0.01)));
        success.push(vec![l("collector", c)], Value::Gauge(1.0));
    }
    sink(&duration);
    sink(&success);

    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let mut cpu = Family::new(
        "node_cpu_seconds",
        "Seconds the CPUs spent in each mode.",
        Kind::Counter,
    );
    let mut guest = Family::new(
        "node_cpu_guest_seconds",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
        Kind::Counter,
    );
    for c in 0..cpus {
        for m in modes {
            cpu.push(
                vec![l("cpu", s(c)), l("mode", m)],
                counter(milli(&mut rng, 1e6)),
            );
        }
        for m in ["nice", "user"] {
            guest.push(vec![l("cpu", s(c)), l("mode", m)], counter(0.0));
        }
    }
    sink(&cpu);
    sink(&guest);

    let fs_label = |i: usize| {
        let (device, fstype, mount) = match i {
            0 => ("/dev/nvme0n1p1".to_owned(), "ext4", "/".to_owned()),
            1 => ("tmpfs".to_owned(), "tmpfs", "/run".to_owned()),
            _ => (
                format!("/dev/nvme{}n1", i),
                "xfs",
                format!("/var/lib/kubelet/pods/volume-{i}/mount"),
            ),
        };
        vec![
            l("device", device),
            l("fstype", fstype),
            l("mountpoint", mount),
        ]
    };
    for (name, help) in [
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
        ),
        ("node_filesystem_size_bytes", "Filesystem size in bytes."),
        ("node_filesystem_files", "Filesystem total file nodes."),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
        ),
        ("node_filesystem_readonly", "Filesystem read-only status."),
        (
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics.",
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Gauge);
        for i in 0..filesystems {
            f.push(fs_label(i), Value::Gauge(whole(&mut rng, 1e11)));
        }
        sink(&f);
    }

    // Pod network interfaces come and go: the churning part of a node.
    let nic_name = |i: usize| {
        if i == 0 {
            "eth0".to_owned()
        } else {
            format!("veth{}", churn.entity(11, i as u64).hex(8))
        }
    };
    for (name, kind) in [
        ("node_network_receive_bytes", Kind::Counter),
        ("node_network_transmit_bytes", Kind::Counter),
        ("node_network_receive_packets", Kind::Counter),
        ("node_network_transmit_packets", Kind::Counter),
        ("node_network_receive_errs", Kind::Counter),
        ("node_network_transmit_errs", Kind::Counter),
        ("node_network_receive_drop", Kind::Counter),
        ("node_network_transmit_drop", Kind::Counter),
        ("node_network_up", Kind::Gauge),
        ("node_network_mtu_bytes", Kind::Gauge),
    ] {
        let mut f = Family::new(name, "Network device statistic.", kind);
        for i in 0..nics {
            let v = whole(&mut rng, 1e9);
            let value = if kind == Kind::Counter {
                counter(v)
            } else {
                Value::Gauge(1500.0)
            };
            f.push(vec![l("device", nic_name(i))], value);
        }
        sink(&f);
    }

    for name in [
        "node_disk_io_time_seconds",
        "node_disk_read_bytes",
        "node_disk_written_bytes",
        "node_disk_reads_completed",
        "node_disk_writes_completed",
        "node_disk_read_time_seconds",
        "node_disk_write_time_seconds",
        "node_disk_reads_merged",
        "node_disk_writes_merged",
        "node_disk_discards_completed",
    ] {
        let mut f = Family::new(name, "Disk statistic.", Kind::Counter);
        for i in 0..disks {
            f.push(
                vec![l("device", format!("nvme{i}n1"))],
                counter(milli(&mut rng, 1e7)),
            );
        }
        sink(&f);
    }
}

const WORDS: &[&str] = &[
    "api",
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "edge",
    "events",
    "frontend",
    "gateway",
    "inventory",
    "ledger",
    "mailer",
    "orders",
    "payments",
    "pricing",
    "search",
    "session",
    "shipping",
    "users",
];
const TEAMS: &[&str] = &[
    "core", "growth", "infra", "data", "platform", "payments", "sre",
];

/// One kube-state-metrics pod, derived from its index (and churn generation).
struct Pod {
    namespace: String,
    deployment: String,
    name: String,
    replicaset: String,
    uid: String,
    node: String,
    host_ip: String,
    pod_ip: String,
    containers: usize,
    team: &'static str,
}

fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    )
}

fn pod(churn: &Churn, i: usize, pods: usize) -> Pod {
    let namespaces = (pods / 40).max(1);
    let ns = i % namespaces;
    let deploy_id = i / 3;
    let mut stable = Rng::derive(churn.seed, &[20, deploy_id as u64]);
    let deployment = format!(
        "{}-{}-{}",
        stable.pick(WORDS),
        stable.pick(WORDS),
        deploy_id
    );
    let replicaset_hash = stable.alnum(10);
    let team = stable.pick(TEAMS);
    let mut e = churn.entity(21, i as u64);
    let node_id = e.below(500);
    Pod {
        namespace: format!("{}-{}", WORDS[ns % WORDS.len()], ns),
        name: format!("{deployment}-{replicaset_hash}-{}", e.alnum(5)),
        replicaset: format!("{deployment}-{replicaset_hash}"),
        deployment,
        uid: uuid(&mut e),
        node: format!(
            "ip-10-0-{}-{}.eu-west-1.compute.internal",
            node_id / 250,
            node_id % 250
        ),
        host_ip: format!("10.0.{}.{}", node_id / 250, node_id % 250),
        pod_ip: format!(
            "10.{}.{}.{}",
            100 + e.below(100),
            e.below(256),
            e.below(256)
        ),
        containers: 1 + i % 3,
        team,
    }
}

fn kube_state_metrics(series: usize, churn: Churn, sink: &mut dyn FnMut(&Family)) {
    let pods = (series / 20).max(1);
    let base = |p: &Pod| {
        vec![
            l("namespace", &*p.namespace),
            l("pod", &*p.name),
            l("uid", &*p.uid),
        ]
    };
    let container_name = |p: &Pod, c: usize| {
        ["app", "istio-proxy", "log-shipper"]
            .get(c)
            .map_or_else(|| format!("c{c}"), |n| (*n).to_owned())
            .replace("app", &p.deployment)
    };

    let mut f = Family::new("kube_pod_info", "Information about pod.", Kind::Gauge);
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        let mut ls = base(&p);
        ls.extend([
            l("host_ip", &*p.host_ip),
            l("pod_ip", &*p.pod_ip),
            l("node", &*p.node),
            l("created_by_kind", "ReplicaSet"),
            l("created_by_name", &*p.replicaset),
            l("priority_class", "standard"),
            l("host_network", "false"),
        ]);
        f.push(ls, Value::Gauge(1.0));
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_owner",
        "Information about the Pod's owner.",
        Kind::Gauge,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        let mut ls = base(&p);
        ls.extend([
            l("owner_kind", "ReplicaSet"),
            l("owner_name", &*p.replicaset),
            l("owner_is_controller", "true"),
        ]);
        f.push(ls, Value::Gauge(1.0));
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_labels",
        "Kubernetes labels converted to Prometheus labels.",
        Kind::Gauge,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        let mut ls = base(&p);
        ls.extend([
            l("label_app", &*p.deployment),
            l("label_app_kubernetes_io_name", &*p.deployment),
            l(
                "label_app_kubernetes_io_instance",
                format!("{}-{}", p.deployment, p.namespace),
            ),
            l("label_app_kubernetes_io_component", "server"),
            l("label_app_kubernetes_io_part_of", &*p.namespace),
            l("label_app_kubernetes_io_managed_by", "Helm"),
            l(
                "label_app_kubernetes_io_version",
                format!("1.{}.{}", i % 17, i % 5),
            ),
            l(
                "label_helm_sh_chart",
                format!("{}-0.{}.0", p.deployment, i % 9),
            ),
            l("label_team", p.team),
            l("label_environment", "production"),
        ]);
        f.push(ls, Value::Gauge(1.0));
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_status_phase",
        "The pods current phase.",
        Kind::Gauge,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        for phase in ["Pending", "Succeeded", "Failed", "Unknown", "Running"] {
            let mut ls = base(&p);
            ls.push(l("phase", phase));
            f.push(ls, Value::Gauge(if phase == "Running" { 1.0 } else { 0.0 }));
        }
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_status_ready",
        "Describes whether the pod is ready to serve requests.",
        Kind::Gauge,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        for condition in ["true", "false", "unknown"] {
            let mut ls = base(&p);
            ls.push(l("condition", condition));
            f.push(
                ls,
                Value::Gauge(if condition == "true" { 1.0 } else { 0.0 }),
            );
        }
    }
    sink(&f);

    let mut f = Family::new("kube_pod_created", "Unix creation timestamp", Kind::Gauge);
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        f.push(base(&p), Value::Gauge(1.7e9 + (i % 100_000) as f64));
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_container_info",
        "Information about a container in a pod.",
        Kind::Gauge,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        let mut e = churn.entity(22, i as u64);
        for c in 0..p.containers {
            let name = container_name(&p, c);
            let digest = e.hex(64);
            let mut ls = base(&p);
            ls.extend([
                l("container", &*name),
                l(
                    "image_spec",
                    format!("registry.example.com/{name}:v1.{}", i % 40),
                ),
                l(
                    "image",
                    format!("registry.example.com/{name}:v1.{}", i % 40),
                ),
                l(
                    "image_id",
                    format!("registry.example.com/{name}@sha256:{digest}"),
                ),
                l("container_id", format!("containerd://{}", e.hex(64))),
            ]);
            f.push(ls, Value::Gauge(1.0));
        }
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_container_resource_requests",
        "The number of requested request resource by a container.",
        Kind::Gauge,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        for c in 0..p.containers {
            for (resource, unit, v) in [("cpu", "core", 0.25), ("memory", "byte", 268_435_456.0)] {
                let mut ls = base(&p);
                ls.extend([
                    l("container", container_name(&p, c)),
                    l("node", &*p.node),
                    l("resource", resource),
                    l("unit", unit),
                ]);
                f.push(ls, Value::Gauge(v));
            }
        }
    }
    sink(&f);

    let mut f = Family::new(
        "kube_pod_container_status_restarts",
        "The number of container restarts per container.",
        Kind::Counter,
    );
    for i in 0..pods {
        let p = pod(&churn, i, pods);
        for c in 0..p.containers {
            let mut ls = base(&p);
            ls.push(l("container", container_name(&p, c)));
            f.push(ls, counter((i % 4) as f64));
        }
    }
    sink(&f);
}

/// One cAdvisor container with its very long identifying label values.
struct Container {
    labels: Vec<(String, String)>,
}

fn container(churn: &Churn, i: usize) -> Container {
    let pod_id = i / 2;
    let mut stable = Rng::derive(churn.seed, &[30, pod_id as u64]);
    let app = format!("{}-{}", stable.pick(WORDS), stable.pick(WORDS));
    let namespace = format!("{}-{}", stable.pick(WORDS), pod_id % 37);
    let mut e = churn.entity(31, pod_id as u64);
    let pod_uid = uuid(&mut e);
    let pod_name = format!("{app}-{}-{}", e.alnum(10), e.alnum(5));
    let mut ce = churn.entity(32, i as u64);
    let container_id = ce.hex(64);
    let container_name = if i.is_multiple_of(2) {
        app.clone()
    } else {
        "istio-proxy".to_owned()
    };
    let qos = ["burstable", "besteffort"][i % 2];
    let id = format!(
        "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{}.slice/cri-containerd-{container_id}.scope",
        pod_uid.replace('-', "_")
    );
    let image = format!(
        "registry.example.com/team-{}/{container_name}@sha256:{}",
        pod_id % 13,
        ce.hex(64)
    );
    Container {
        labels: vec![
            l("container", container_name),
            l("id", id),
            l("image", image),
            l("name", container_id),
            l("namespace", namespace),
            l("pod", pod_name),
        ],
    }
}

fn cadvisor(series: usize, churn: Churn, time_ms: i64, sink: &mut dyn FnMut(&Family)) {
    const PER_CONTAINER: usize = 14;
    let containers = (series / PER_CONTAINER).max(1);
    let mut rng = Rng::derive(churn.seed, &[3]);
    // cAdvisor stamps every sample with the time it collected the stats,
    // container by container, so a body holds slightly different times.
    let oldest = time_ms.saturating_sub(TIMESTAMP_SPREAD_MS);
    let ts = |i: usize| Some(oldest.saturating_add((i % 10_000) as i64 * 7));
    type Column = (&'static str, Kind, Option<(&'static str, &'static str)>);
    let families: [Column; PER_CONTAINER] = [
        (
            "container_cpu_usage_seconds",
            Kind::Counter,
            Some(("cpu", "total")),
        ),
        ("container_cpu_user_seconds", Kind::Counter, None),
        ("container_cpu_system_seconds", Kind::Counter, None),
        ("container_cpu_cfs_periods", Kind::Counter, None),
        ("container_memory_usage_bytes", Kind::Gauge, None),
        ("container_memory_working_set_bytes", Kind::Gauge, None),
        ("container_memory_rss", Kind::Gauge, None),
        ("container_memory_cache", Kind::Gauge, None),
        ("container_memory_failcnt", Kind::Counter, None),
        (
            "container_fs_reads_bytes",
            Kind::Counter,
            Some(("device", "/dev/nvme0n1")),
        ),
        (
            "container_fs_writes_bytes",
            Kind::Counter,
            Some(("device", "/dev/nvme0n1")),
        ),
        ("container_spec_memory_limit_bytes", Kind::Gauge, None),
        ("container_start_time_seconds", Kind::Gauge, None),
        ("container_last_seen", Kind::Gauge, None),
    ];
    for (name, kind, extra) in families {
        let mut f = Family::new(name, &format!("cAdvisor metric {name}."), kind);
        for i in 0..containers {
            let mut ls = container(&churn, i).labels;
            if let Some((k, v)) = extra {
                // cAdvisor sorts labels: insert the extra one in place.
                let at = ls
                    .iter()
                    .position(|(n, _)| n.as_str() > k)
                    .unwrap_or(ls.len());
                ls.insert(at, l(k, v));
            }
            let v = milli(&mut rng, 1e6);
            f.metrics.push(Metric {
                labels: ls,
                value: if kind == Kind::Counter {
                    counter(v)
                } else {
                    Value::Gauge(v)
                },
                timestamp_ms: ts(i),
                created: None,
            });
        }
        sink(&f);
    }
}

const ROUTES: &[&str] = &[
    "users",
    "orders",
    "carts",
    "items",
    "payments",
    "sessions",
    "search",
    "reviews",
    "stock",
    "prices",
    "invoices",
    "shipments",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
const CODES: &[&str] = &["200", "201", "204", "400", "404", "500"];

fn route_labels(churn: &Churn, i: usize) -> Vec<(String, String)> {
    let mut e = churn.entity(41, i as u64);
    let route = ROUTES[(i / 24) % ROUTES.len()];
    let version = i / (24 * ROUTES.len());
    vec![
        l("code", CODES[i % CODES.len()]),
        l(
            "handler",
            format!("/api/v{version}/{route}/{{id}}/{}", e.alnum(4)),
        ),
        l("method", METHODS[(i / CODES.len()) % METHODS.len()]),
    ]
}

fn histogram_app(series: usize, churn: Churn, sink: &mut dyn FnMut(&Family)) {
    const LATENCY: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    const SIZE: &[f64] = &[100.0, 1000.0, 10_000.0, 100_000.0, 1e6, 1e7, 1e8];
    // 14 + 10 + 1 samples per route, plus 3 summaries of 7.
    let routes = (series.saturating_sub(21) / 25).max(1);
    let mut rng = Rng::derive(churn.seed, &[4]);
    let mut f = Family::new(
        "http_request_duration_seconds",
        "Duration of HTTP requests.",
        Kind::Histogram,
    );
    for i in 0..routes {
        f.push(
            route_labels(&churn, i),
            histogram(&mut rng, LATENCY, 0, 0.0),
        );
    }
    sink(&f);
    let mut f = Family::new(
        "http_response_size_bytes",
        "Size of HTTP responses.",
        Kind::Histogram,
    );
    for i in 0..routes {
        f.push(route_labels(&churn, i), histogram(&mut rng, SIZE, 0, 0.0));
    }
    sink(&f);
    let mut f = Family::new("http_requests", "Total HTTP requests.", Kind::Counter);
    for i in 0..routes {
        f.push(route_labels(&churn, i), counter(whole(&mut rng, 1e7)));
    }
    sink(&f);
    let mut f = Family::new(
        "rpc_durations_seconds",
        "RPC latency distributions.",
        Kind::Summary,
    );
    for service in ["exponential", "normal", "uniform"] {
        f.push(
            vec![l("service", service)],
            summary(&mut rng, &[0.5, 0.9, 0.99, 0.999, 0.9999]),
        );
    }
    sink(&f);
}

fn exemplars(series: usize, churn: Churn, time_ms: i64, sink: &mut dyn FnMut(&Family)) {
    const LATENCY: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
    // 13 + 1 + 1 samples per route in text (OpenMetrics adds 2 `_created`).
    let routes = (series / 15).max(1);
    let mut rng = Rng::derive(churn.seed, &[5]);
    let created = |i: usize| Some(1_690_000_000.0 + (i % 1000) as f64);
    // Traced requests happened shortly before the scrape.
    let ts = time_ms.saturating_sub(TIMESTAMP_SPREAD_MS) as f64 / 1000.0;

    let mut f = Family::new(
        "app_request_duration_seconds",
        "Request latency, with exemplars linking to traces.",
        Kind::Histogram,
    );
    f.unit = Some("seconds");
    for i in 0..routes {
        f.metrics.push(Metric {
            labels: route_labels(&churn, i),
            value: histogram(&mut rng, LATENCY, 3, ts),
            timestamp_ms: None,
            created: created(i),
        });
    }
    sink(&f);

    let mut f = Family::new("app_requests", "Requests served.", Kind::Counter);
    for i in 0..routes {
        let exemplar = Some(Exemplar {
            labels: vec![l("trace_id", rng.hex(32))],
            value: 1.0,
            timestamp: Some(ts + i as f64 * 0.001),
        });
        f.metrics.push(Metric {
            labels: route_labels(&churn, i),
            value: Value::Counter {
                value: whole(&mut rng, 1e6),
                exemplar,
            },
            timestamp_ms: None,
            created: created(i),
        });
    }
    sink(&f);

    let mut f = Family::new("app_inflight_requests", "Requests in flight.", Kind::Gauge);
    for i in 0..routes {
        f.push(route_labels(&churn, i), Value::Gauge(whole(&mut rng, 50.0)));
    }
    sink(&f);

    let mut f = Family::new("app_build_info", "Build information.", Kind::Untyped);
    f.push(
        labels(&[
            ("version", "2.3.1"),
            ("revision", "4f2a9c1"),
            ("goversion", "go1.22.3"),
        ]),
        Value::Untyped(1.0),
    );
    sink(&f);
}
