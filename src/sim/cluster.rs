//! The Kubernetes cluster running the hospital's software: the EHR gateway, the HL7 interface
//! engine, PACS and the alerting stack.
//!
//! Nodes carry pods with CPU and memory requests. Utilisation wanders as Ornstein–Uhlenbeck
//! processes around per-node baselines with a day/night rhythm, disks fill slowly and drop at log
//! rotation, and the daytime autoscaler adds pods a few at a time. Incidents act on top of that
//! healthy state, which keeps evolving underneath, so a node returns to it when they end.

use crate::exposition::{render_labels, Family, Kind, Writer};
use crate::sim::config::ClusterConfig;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::Range;

const MIB: f64 = 1024.0 * 1024.0;

// Pods: requests are drawn per pod around the 0.25 cores and 512 MiB typical of these services.
const POD_CPU_CORES: Range<f64> = 0.15..0.35;
const POD_MEMORY_BYTES: Range<f64> = 384.0 * MIB..640.0 * MIB;
const AUTOSCALE_SWING: f64 = 0.1; // pods × (1 + swing × (1 + circadian)): up to +20% by day
const AUTOSCALE_INTERVAL_SECONDS: f64 = 30.0; // the autoscaler acts in small, spaced steps
const AUTOSCALE_STEP_SHARE: f64 = 0.02; // of the baseline pods, at most, per interval

// Utilisation, as ratios; drawn per node where a range.
const CPU_BASE: Range<f64> = 0.3..0.5;
const CPU_CIRCADIAN: f64 = 0.15; // busier wards by day mean busier services
const CPU_TAU_SECONDS: f64 = 300.0;
const CPU_SD: f64 = 0.03;
const MEMORY_BASE: Range<f64> = 0.5..0.65;
const MEMORY_TAU_SECONDS: f64 = 3600.0; // heaps move slowly
const MEMORY_SD: f64 = 0.01;
const DISK_AFTER_ROTATION: Range<f64> = 0.4..0.45;
const DISK_BEFORE_ROTATION: Range<f64> = 0.55..0.6;
const DISK_ROTATION_SECONDS: Range<f64> = 4.0 * 3600.0..12.0 * 3600.0; // one sawtooth tooth

// Incidents.
const LEAK_CEILING: f64 = 0.98; // where the OOM killer strikes
const SATURATED_CPU: f64 = 0.97;
const FULL_DISK: f64 = 0.97;
const BACKOFF_FIRST_SECONDS: f64 = 10.0; // Kubernetes' CrashLoopBackOff: 10 s, doubling…
const BACKOFF_MAX_SECONDS: f64 = 300.0; // …capped at five minutes

/// A worker node with its utilisation, scheduled pods and restart count.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Label value `node`: `node-1`, `node-2`, …
    pub name: String,
    /// CPU in use, ratio of the node's cores.
    pub cpu_utilisation: f64,
    /// Memory in use, ratio of the node's memory.
    pub memory_utilisation: f64,
    /// Disk in use, ratio of the node's disk.
    pub disk_utilisation: f64,
    /// Pods scheduled on the node.
    pub pods: u32,
    /// Pods on the node that are not running (a crash-looping container's pod).
    pub pods_not_ready: u32,
    /// Sum of the pods' CPU requests, cores.
    pub cpu_requests_cores: f64,
    /// Sum of the pods' memory requests, bytes.
    pub memory_requests_bytes: f64,
    /// Container restarts on the node, ever.
    pub container_restarts: f64,
    labels: String,
    /// (CPU cores, memory bytes) requested by each pod.
    pod_requests: Vec<(f64, f64)>,
    cpu_base: f64,
    cpu_level: f64,
    memory_base: f64,
    memory_level: f64,
    disk_low: f64,
    disk_high: f64,
    disk_level: f64,
    disk_growth_per_second: f64,
    /// Memory when the running leak began.
    leak_start: Option<f64>,
    /// (current back-off, seconds to the next restart) while crash-looping.
    crash: Option<(f64, f64)>,
}

/// What cluster incidents are doing this step (set by the event engine).
#[derive(Debug, Clone, Default)]
pub struct ClusterIncidents {
    /// Leaking nodes: (node index, progress 0–1 of the event).
    pub memory_leak: Vec<(usize, f64)>,
    /// Saturated nodes: (node index, intensity 0–1).
    pub cpu_saturation: Vec<(usize, f64)>,
    /// Nodes with a crash-looping container.
    pub crash_loop: Vec<usize>,
    /// Nodes whose disk is filling: (node index, progress 0–1).
    pub disk_fill: Vec<(usize, f64)>,
}

/// The cluster: its nodes and the autoscaler's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Worker nodes, `node-1` first.
    pub nodes: Vec<Node>,
    cfg: ClusterConfig,
    seconds_to_autoscale: f64,
}

/// One node's share of [`ClusterIncidents`].
#[derive(Default)]
struct NodeIncidents {
    memory_leak: Option<f64>,
    cpu_saturation: f64,
    crash_loop: bool,
    disk_fill: Option<f64>,
}

impl NodeIncidents {
    /// Each node's incidents; indices beyond the cluster are ignored.
    fn split(inc: &ClusterIncidents, nodes: usize) -> Vec<Self> {
        let mut per_node: Vec<Self> = (0..nodes).map(|_| Self::default()).collect();
        for &(i, p) in &inc.memory_leak {
            if let Some(n) = per_node.get_mut(i) {
                n.memory_leak = Some(p);
            }
        }
        for &(i, s) in &inc.cpu_saturation {
            if let Some(n) = per_node.get_mut(i) {
                n.cpu_saturation = n.cpu_saturation.max(s);
            }
        }
        for &i in &inc.crash_loop {
            if let Some(n) = per_node.get_mut(i) {
                n.crash_loop = true;
            }
        }
        for &(i, p) in &inc.disk_fill {
            if let Some(n) = per_node.get_mut(i) {
                n.disk_fill = Some(p);
            }
        }
        per_node
    }
}

/// Exact Ornstein–Uhlenbeck step of `x` toward `mean` with time constant `tau` and stationary sd.
fn ou<R: Rng + ?Sized>(x: f64, mean: f64, tau: f64, sd: f64, dt: f64, rng: &mut R) -> f64 {
    let decay = (-dt / tau).exp();
    let z: f64 = StandardNormal.sample(rng);
    mean + (x - mean) * decay + sd * (1.0 - decay * decay).sqrt() * z
}

/// `from` moved toward `to` by `share` (0–1).
fn blend(from: f64, to: f64, share: f64) -> f64 {
    from + (to - from) * share.clamp(0.0, 1.0)
}

impl Node {
    fn new<R: Rng + ?Sized>(index: usize, rng: &mut R) -> Self {
        let name = format!("node-{}", index + 1);
        let (cpu_base, memory_base) = (rng.random_range(CPU_BASE), rng.random_range(MEMORY_BASE));
        let (low, high) = (rng.random_range(DISK_AFTER_ROTATION), rng.random_range(DISK_BEFORE_ROTATION));
        let growth = (high - low) / rng.random_range(DISK_ROTATION_SECONDS);
        let disk = rng.random_range(low..high);
        Self {
            labels: render_labels(&[("node", &name)]),
            name,
            cpu_utilisation: cpu_base,
            memory_utilisation: memory_base,
            disk_utilisation: disk,
            pods: 0,
            pods_not_ready: 0,
            cpu_requests_cores: 0.0,
            memory_requests_bytes: 0.0,
            container_restarts: 0.0,
            pod_requests: Vec::new(),
            cpu_base,
            cpu_level: cpu_base,
            memory_base,
            memory_level: memory_base,
            disk_low: low,
            disk_high: high,
            disk_level: disk,
            disk_growth_per_second: growth,
            leak_start: None,
            crash: None,
        }
    }

    /// Schedule or remove a pod and keep the request sums in step.
    fn set_pods(&mut self, change: impl FnOnce(&mut Vec<(f64, f64)>)) {
        change(&mut self.pod_requests);
        self.pods = self.pod_requests.len() as u32;
        self.cpu_requests_cores = self.pod_requests.iter().map(|p| p.0).sum();
        self.memory_requests_bytes = self.pod_requests.iter().map(|p| p.1).sum();
    }

    /// Advance the healthy state, then lay this step's incidents over it.
    fn step<R: Rng + ?Sized>(&mut self, dt: f64, circadian: f64, inc: &NodeIncidents, rng: &mut R) {
        let cpu_mean = self.cpu_base + CPU_CIRCADIAN * circadian;
        self.cpu_level = ou(self.cpu_level, cpu_mean, CPU_TAU_SECONDS, CPU_SD, dt, rng).clamp(0.01, 1.0);
        let memory = ou(self.memory_level, self.memory_base, MEMORY_TAU_SECONDS, MEMORY_SD, dt, rng);
        self.memory_level = memory.clamp(0.05, 0.95);
        self.disk_level += self.disk_growth_per_second * dt;
        if self.disk_level >= self.disk_high {
            // Log rotation compresses and removes old logs.
            self.disk_level = self.disk_low;
        }
        // A saturating workload takes whatever CPU the node has: at the mildest (0.6) the node
        // still sits past 93%, at the worst at 97%.
        let saturation = if inc.cpu_saturation > 0.0 { 0.85 + 0.15 * inc.cpu_saturation.min(1.0) } else { 0.0 };
        self.cpu_utilisation = blend(self.cpu_level, SATURATED_CPU, saturation);
        let fill = inc.disk_fill.unwrap_or(0.0);
        self.disk_utilisation = blend(self.disk_level, FULL_DISK, fill);
        self.leak(inc.memory_leak);
        self.crash_loop(dt, inc.crash_loop);
    }

    /// Memory climbs from where the leak began toward the ceiling; its end is an OOM kill.
    fn leak(&mut self, progress: Option<f64>) {
        match (progress, self.leak_start) {
            (Some(p), _) => {
                // Start from what was last shown, so the climb is continuous.
                let start = *self.leak_start.get_or_insert(self.memory_utilisation);
                self.memory_utilisation = blend(start, LEAK_CEILING, p);
            }
            (None, Some(_)) => {
                // The OOM killer restarts the container, which comes back at its usual footprint.
                self.leak_start = None;
                self.container_restarts += 1.0;
                self.memory_utilisation = self.memory_level;
            }
            (None, None) => self.memory_utilisation = self.memory_level,
        }
    }

    /// Restart a crash-looping container with Kubernetes' doubling back-off.
    fn crash_loop(&mut self, dt: f64, active: bool) {
        if !active {
            // Simplified: the kubelet resets the back-off once the container stays up.
            self.crash = None;
            self.pods_not_ready = 0;
            return;
        }
        let (backoff, until) = self.crash.get_or_insert((BACKOFF_FIRST_SECONDS, BACKOFF_FIRST_SECONDS));
        *until -= dt;
        while *until <= 0.0 {
            self.container_restarts += 1.0;
            *backoff = (*backoff * 2.0).min(BACKOFF_MAX_SECONDS);
            *until += *backoff;
        }
        self.pods_not_ready = self.pods.min(1);
    }
}

impl Cluster {
    /// Build the cluster with its baseline pods spread evenly over the nodes.
    pub fn new<R: Rng + ?Sized>(cfg: &ClusterConfig, rng: &mut R) -> Self {
        let mut nodes: Vec<Node> = (0..cfg.nodes as usize).map(|i| Node::new(i, rng)).collect();
        for i in 0..cfg.pods as usize {
            let pod = (rng.random_range(POD_CPU_CORES), rng.random_range(POD_MEMORY_BYTES));
            // Round-robin is the even spread a scheduler reaches on identical empty nodes.
            if let Some(node) = nodes.get_mut(i % cfg.nodes.max(1) as usize) {
                node.set_pods(|p| p.push(pod));
            }
        }
        Self { nodes, cfg: cfg.clone(), seconds_to_autoscale: AUTOSCALE_INTERVAL_SECONDS }
    }

    /// Index of a node by name.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Advance `dt` seconds; `circadian` runs −1 (night) to +1 (afternoon).
    pub fn step<R: Rng + ?Sized>(&mut self, dt: f64, circadian: f64, inc: &ClusterIncidents, rng: &mut R) {
        self.autoscale(dt, circadian, rng);
        let per_node = NodeIncidents::split(inc, self.nodes.len());
        for (node, inc) in self.nodes.iter_mut().zip(&per_node) {
            node.step(dt, circadian, inc, rng);
        }
    }

    /// Move the pod count toward the daytime target a few pods per autoscaler interval.
    fn autoscale<R: Rng + ?Sized>(&mut self, dt: f64, circadian: f64, rng: &mut R) {
        self.seconds_to_autoscale -= dt;
        let base = f64::from(self.cfg.pods);
        let max_change = (base * AUTOSCALE_STEP_SHARE).ceil() as i64;
        while self.seconds_to_autoscale <= 0.0 {
            self.seconds_to_autoscale += AUTOSCALE_INTERVAL_SECONDS;
            let target = (base * (1.0 + AUTOSCALE_SWING * (1.0 + circadian))).round() as i64;
            let running: i64 = self.nodes.iter().map(|n| i64::from(n.pods)).sum();
            let change = (target - running).clamp(-max_change, max_change);
            for _ in 0..change.abs() {
                if change > 0 {
                    self.add_pod(rng);
                } else {
                    self.remove_pod();
                }
            }
        }
    }

    /// Schedule a pod on the node with the least CPU requested that has room for it.
    fn add_pod<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        let pod = (rng.random_range(POD_CPU_CORES), rng.random_range(POD_MEMORY_BYTES));
        let capacity = self.cfg.node_pod_capacity;
        let roomy = self.nodes.iter_mut().filter(|n| n.pods < capacity);
        if let Some(node) = roomy.min_by(|a, b| a.cpu_requests_cores.total_cmp(&b.cpu_requests_cores)) {
            node.set_pods(|p| p.push(pod));
        }
    }

    /// Scale in: remove a pod from the busiest node.
    fn remove_pod(&mut self) {
        if let Some(node) = self.nodes.iter_mut().max_by_key(|n| n.pods) {
            node.set_pods(|p| {
                p.pop();
            });
        }
    }

    /// CPU requested over CPU allocatable, cluster-wide.
    pub fn cpu_request_ratio(&self) -> f64 {
        let requested: f64 = self.nodes.iter().map(|n| n.cpu_requests_cores).sum();
        requested / (self.nodes.len() as f64 * self.cfg.node_cpu_cores)
    }

    /// Memory requested over memory allocatable, cluster-wide.
    pub fn memory_request_ratio(&self) -> f64 {
        let requested: f64 = self.nodes.iter().map(|n| n.memory_requests_bytes).sum();
        requested / (self.nodes.len() as f64 * self.cfg.node_memory_bytes)
    }

    /// Pods scheduled over pod capacity, cluster-wide.
    pub fn pod_ratio(&self) -> f64 {
        let pods: f64 = self.nodes.iter().map(|n| f64::from(n.pods)).sum();
        pods / (self.nodes.len() as f64 * f64::from(self.cfg.node_pod_capacity))
    }

    /// Write the cluster and node families.
    pub fn write_metrics(&self, w: &mut Writer) {
        for (family, value) in [
            (CLUSTER_CPU_REQUEST, self.cpu_request_ratio()),
            (CLUSTER_MEMORY_REQUEST, self.memory_request_ratio()),
            (CLUSTER_PODS, self.pod_ratio()),
        ] {
            w.family(family);
            w.sample("", "", value);
        }
        let nodes = |w: &mut Writer, family: Family, value: fn(&Node) -> f64| {
            w.family(family);
            for node in &self.nodes {
                w.sample(&node.labels, "", value(node));
            }
        };
        nodes(w, NODE_CPU, |n| n.cpu_utilisation);
        nodes(w, NODE_MEMORY, |n| n.memory_utilisation);
        nodes(w, NODE_DISK, |n| n.disk_utilisation);
        nodes(w, NODE_PODS, |n| f64::from(n.pods));
        nodes(w, NODE_PODS_NOT_READY, |n| f64::from(n.pods_not_ready));
        nodes(w, NODE_RESTARTS, |n| n.container_restarts);
    }
}

/// A gauge family written with `decimals` decimals.
const fn gauge(name: &'static str, help: &'static str, decimals: u8) -> Family {
    Family { name, help, kind: Kind::Gauge, decimals }
}

const CLUSTER_CPU_REQUEST: Family =
    gauge("wardwatch_cluster_cpu_request_ratio", "CPU requested by pods over CPU allocatable in the cluster.", 4);
const CLUSTER_MEMORY_REQUEST: Family =
    gauge("wardwatch_cluster_mem_request_ratio", "Memory requested by pods over memory allocatable in the cluster.", 4);
const CLUSTER_PODS: Family =
    gauge("wardwatch_cluster_pod_ratio", "Pods scheduled over pod capacity in the cluster.", 4);
const NODE_CPU: Family = gauge("wardwatch_node_cpu_utilisation_ratio", "CPU in use over the node's cores.", 4);
const NODE_MEMORY: Family =
    gauge("wardwatch_node_memory_utilisation_ratio", "Memory in use over the node's memory.", 4);
const NODE_DISK: Family = gauge("wardwatch_node_disk_utilisation_ratio", "Disk in use over the node's disk.", 4);
const NODE_PODS: Family = gauge("wardwatch_node_pods", "Pods scheduled on the node.", 0);
const NODE_PODS_NOT_READY: Family = gauge("wardwatch_node_pods_not_ready", "Pods on the node that are not running.", 0);
const NODE_RESTARTS: Family = Family {
    name: "wardwatch_node_container_restarts",
    help: "Container restarts on the node (OOM kills, crash loops).",
    kind: Kind::Counter,
    decimals: 0,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Format;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn cluster(seed: u64) -> (Cluster, Pcg64Mcg) {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        (Cluster::new(&ClusterConfig::default(), &mut rng), rng)
    }

    fn quiet() -> ClusterIncidents {
        ClusterIncidents::default()
    }

    /// Run `seconds` one-second steps, returning node 0 after each.
    fn run(c: &mut Cluster, rng: &mut Pcg64Mcg, seconds: usize, circadian: f64, inc: &ClusterIncidents) -> Vec<Node> {
        (0..seconds)
            .map(|_| {
                c.step(1.0, circadian, inc, rng);
                c.nodes[0].clone()
            })
            .collect()
    }

    #[test]
    fn baseline_ratios_lie_strictly_between_zero_and_one() {
        let (mut c, mut rng) = cluster(1);
        for _ in 0..24 {
            run(&mut c, &mut rng, 3600, 0.0, &quiet());
            for r in [c.cpu_request_ratio(), c.memory_request_ratio(), c.pod_ratio()] {
                assert!(r > 0.0 && r < 1.0, "{r}");
            }
            for n in &c.nodes {
                for u in [n.cpu_utilisation, n.memory_utilisation, n.disk_utilisation] {
                    assert!(u > 0.0 && u < 1.0, "{n:?}");
                }
                assert!((0.39..=0.61).contains(&n.disk_utilisation), "{n:?}");
            }
        }
    }

    #[test]
    fn request_ratios_are_requests_over_allocatable() {
        let (mut c, mut rng) = cluster(2);
        run(&mut c, &mut rng, 600, 1.0, &quiet());
        let cfg = ClusterConfig::default();
        let nodes = f64::from(cfg.nodes);
        let cpu: f64 = c.nodes.iter().map(|n| n.cpu_requests_cores).sum();
        let memory: f64 = c.nodes.iter().map(|n| n.memory_requests_bytes).sum();
        let pods: u32 = c.nodes.iter().map(|n| n.pods).sum();
        assert!((c.cpu_request_ratio() - cpu / (nodes * cfg.node_cpu_cores)).abs() < 1e-12);
        assert!((c.memory_request_ratio() - memory / (nodes * cfg.node_memory_bytes)).abs() < 1e-12);
        assert!((c.pod_ratio() - f64::from(pods) / (nodes * f64::from(cfg.node_pod_capacity))).abs() < 1e-12);
        assert!((0.4..0.8).contains(&c.cpu_request_ratio()), "{}", c.cpu_request_ratio());
    }

    #[test]
    fn daytime_autoscaling_adds_pods_gradually() {
        let (mut c, mut rng) = cluster(3);
        let pods = |c: &Cluster| c.nodes.iter().map(|n| n.pods).sum::<u32>();
        let mut last = pods(&c);
        for _ in 0..1800 {
            c.step(1.0, 1.0, &quiet(), &mut rng);
            assert!(pods(&c) - last <= 5, "at most 2% of 240 pods per autoscaler interval");
            last = pods(&c);
        }
        assert_eq!(last, 288, "+20% by day");
        run(&mut c, &mut rng, 1800, -1.0, &quiet());
        assert_eq!(pods(&c), 240, "back to baseline at night");
    }

    #[test]
    fn memory_leak_climbs_monotonically_then_ends_in_an_oom_restart() {
        let (mut c, mut rng) = cluster(4);
        let mut last = c.nodes[1].memory_utilisation;
        for s in 0..=1000 {
            let inc = ClusterIncidents { memory_leak: vec![(1, s as f64 / 1000.0)], ..quiet() };
            c.step(1.0, 0.0, &inc, &mut rng);
            assert!(c.nodes[1].memory_utilisation >= last);
            last = c.nodes[1].memory_utilisation;
        }
        assert!((last - LEAK_CEILING).abs() < 1e-9 && c.nodes[1].container_restarts == 0.0);
        c.step(1.0, 0.0, &quiet(), &mut rng);
        assert_eq!(c.nodes[1].container_restarts, 1.0, "OOM kill");
        assert!(c.nodes[1].memory_utilisation < 0.7, "back to its usual footprint");
    }

    #[test]
    fn crash_loop_restarts_back_off_from_ten_seconds_doubling_to_five_minutes() {
        let (mut c, mut rng) = cluster(5);
        let inc = ClusterIncidents { crash_loop: vec![0], ..quiet() };
        let nodes = run(&mut c, &mut rng, 1500, 0.0, &inc);
        // Restart counts after 0, 1, 2, … seconds.
        let counts = [0.0].into_iter().chain(nodes.iter().map(|n| n.container_restarts));
        let counts: Vec<f64> = counts.collect();
        let times: Vec<usize> = (1..counts.len()).filter(|&t| counts[t] > counts[t - 1]).collect();
        let gaps: Vec<usize> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(times[0], 10, "{times:?}");
        assert_eq!(gaps, [20, 40, 80, 160, 300, 300, 300], "restarts at {times:?} s");
        assert!(nodes.iter().all(|n| n.pods_not_ready == 1));
        c.step(1.0, 0.0, &quiet(), &mut rng);
        assert_eq!(c.nodes[0].pods_not_ready, 0);
    }

    #[test]
    fn disk_fill_reaches_ninety_five_percent_at_full_progress() {
        let (mut c, mut rng) = cluster(6);
        for p in [0.0, 0.5, 1.0] {
            c.step(1.0, 0.0, &ClusterIncidents { disk_fill: vec![(2, p)], ..quiet() }, &mut rng);
        }
        assert!(c.nodes[2].disk_utilisation >= 0.95);
        c.step(1.0, 0.0, &quiet(), &mut rng);
        assert!(c.nodes[2].disk_utilisation <= 0.6, "cleaned up when the event ends");
    }

    #[test]
    fn cpu_saturation_pins_cpu_above_ninety_percent() {
        for severity in [0.6, 1.0] {
            let (mut c, mut rng) = cluster(7);
            let inc = ClusterIncidents { cpu_saturation: vec![(3, severity)], ..quiet() };
            for n in run(&mut c, &mut rng, 60, 1.0, &inc) {
                assert!(n.cpu_utilisation < 0.8, "other nodes are untouched");
            }
            assert!(c.nodes[3].cpu_utilisation >= 0.9, "severity {severity}: {}", c.nodes[3].cpu_utilisation);
        }
    }

    #[test]
    fn daytime_cpu_exceeds_night_cpu() {
        let (mut c, mut rng) = cluster(8);
        let mean = |ns: Vec<Node>| ns.iter().map(|n| n.cpu_utilisation).sum::<f64>() / ns.len() as f64;
        run(&mut c, &mut rng, 1800, 1.0, &quiet());
        let day = mean(run(&mut c, &mut rng, 3600, 1.0, &quiet()));
        run(&mut c, &mut rng, 1800, -1.0, &quiet());
        let night = mean(run(&mut c, &mut rng, 3600, -1.0, &quiet()));
        assert!(day > night + 0.2, "{day} vs {night}");
    }

    #[test]
    fn same_seed_and_steps_give_identical_state() {
        let simulate = || {
            let (mut c, mut rng) = cluster(9);
            let inc = ClusterIncidents {
                memory_leak: vec![(0, 0.5)],
                cpu_saturation: vec![(1, 0.7)],
                crash_loop: vec![2],
                disk_fill: vec![(3, 0.3)],
            };
            run(&mut c, &mut rng, 500, 0.3, &inc);
            c
        };
        assert_eq!(simulate(), simulate());
    }

    #[test]
    fn metrics_write_every_family_once_in_order_and_one_line_per_series() {
        let (c, _) = cluster(10);
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, Format::Text);
        c.write_metrics(&mut w);
        w.finish();
        let text = String::from_utf8(buf).unwrap();
        let cluster = ["cpu_request_ratio", "mem_request_ratio", "pod_ratio"];
        let cluster = cluster.map(|n| (format!("wardwatch_cluster_{n}"), 1, ""));
        let node = ["cpu_utilisation_ratio", "memory_utilisation_ratio", "disk_utilisation_ratio"];
        let node = node.into_iter().chain(["pods", "pods_not_ready", "container_restarts_total"]);
        let node = node.map(|n| (format!("wardwatch_node_{n}"), c.nodes.len(), "{node=\""));
        let expected: Vec<_> = cluster.into_iter().chain(node).collect();
        let types: Vec<_> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        let names: Vec<_> = types.iter().map(|t| t.split(' ').next().unwrap()).collect();
        assert_eq!(names, expected.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>());
        for (name, n, labels) in &expected {
            let lines = text.lines().filter(|l| l.starts_with(&format!("{name}{labels}")));
            assert_eq!(lines.filter(|l| !l.starts_with('#')).count(), *n, "{name}");
        }
        assert!(text.contains("wardwatch_node_pods{node=\"node-1\"} 40\n"));
    }
}
