//! The hospital network: bedside monitors → ward switches → core → datacenter and cloud EHR.
//!
//! Traffic is modelled as rates (bytes/s) flowing up a tree and integrated into byte counters.
//! Each link carries what it is offered up to its capacity, and its utilisation drives queueing
//! latency and loss, so a DDoS, an exfiltrating monitor, a flapping link or a latency spike shows
//! the way it would on a real switch's counters and a probe's measurements.

use crate::exposition::{render_labels, Family, Kind, Writer};
use crate::sim::config::NetworkConfig;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::Range;

// Traffic, bits/s unless said otherwise. Ranges are drawn once per device, ward or direction.
const DEVICE_TRANSMIT_BITS: Range<f64> = 20e3..45e3; // waveforms to the central station
const DEVICE_RECEIVE_SHARE: f64 = 0.1; // acks, configuration, time sync: ~3 kbit/s
const WARD_TRANSMIT_BITS: Range<f64> = 20e6..80e6; // workstations and phones, neutral hour
const WARD_RECEIVE_FACTOR: f64 = 3.0; // workstations mostly fetch (EHR pages, images)
const CIRCADIAN_SWING: f64 = 0.4; // ward traffic × (1 + swing × circadian)
const DATACENTER_SHARE: f64 = 0.7; // of ward traffic; the rest goes to the cloud EHR
const EHR_SYNC_BITS: Range<f64> = 40e6..60e6; // the EHR's own replication with the cloud
const RATE_NOISE: f64 = 0.1; // uniform ± on every rate, every step

// Incidents.
const EXFILTRATION_BITS: f64 = 40e6; // added upstream by a device at full intensity
const DDOS_CAPACITY_MULTIPLE: f64 = 3.0; // attack traffic at full intensity, × cloud capacity
const DDOS_DATACENTER_SHARE: f64 = 0.1; // × cloud capacity that gets past the firewall
const LATENCY_SPIKE_GAIN: f64 = 30.0; // latency × (1 + gain × intensity)
const FLAP_SECONDS: Range<f64> = 5.0..40.0; // between toggles of a flapping link
const CRC_BURST: Range<f64> = 20.0..200.0; // errors from frames cut on each transition

// Link behaviour.
const PACKET_BYTES: f64 = 800.0; // to turn carried bytes into packets for the error counter
const BASE_LOSS: f64 = 1e-6; // a healthy link
const LOSS_KNEE: f64 = 0.9; // utilisation where buffers start to overflow
const MAX_CONGESTION_LOSS: f64 = 0.3; // what probes see through an overwhelming flood
const LOSS_SCALE: f64 = 0.5; // utilisation past the knee for loss to reach 63% of its maximum
const MAX_QUEUE_FACTOR: f64 = 19.0; // finite buffers: queueing adds at most 19 base latencies
const LATENCY_JITTER: f64 = 0.03; // standard deviation, as a fraction
const BACKGROUND_ERRORS_PER_SECOND: f64 = 1e-4; // a few a day, even on a healthy link

/// Layer of the network a link belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Bedside devices to the ward switch.
    Access,
    /// Ward switch to the core.
    Distribution,
    /// Core to the on-site datacenter.
    Core,
    /// The link to the cloud EHR.
    Wan,
}

impl Tier {
    /// Label value `tier`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Access => "access",
            Tier::Distribution => "distribution",
            Tier::Core => "core",
            Tier::Wan => "wan",
        }
    }

    /// Latency of an idle link: switching on site, distance to the cloud.
    fn base_latency_seconds(self) -> f64 {
        match self {
            Tier::Access => 0.2e-3,
            Tier::Distribution => 0.5e-3,
            Tier::Core => 0.3e-3,
            Tier::Wan => 12e-3,
        }
    }
}

/// A network link with its counters and measurements; transmit is upstream, receive downstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Label value `link`, e.g. `icu-1-uplink`.
    pub name: String,
    /// Layer of the network.
    pub tier: Tier,
    /// Index of the ward the link serves; `None` for core and WAN links.
    pub ward: Option<usize>,
    /// Capacity per direction, bits/s.
    pub capacity_bits_per_second: f64,
    /// Bytes carried upstream (toward core and cloud), ever.
    pub transmit_bytes: f64,
    /// Bytes carried downstream, ever.
    pub receive_bytes: f64,
    /// Interface errors, ever.
    pub errors: f64,
    /// Whether the link is up.
    pub up: bool,
    /// Round-trip latency measured over the link, seconds.
    pub latency_seconds: f64,
    /// Share of packets lost, 0–1.
    pub packet_loss_ratio: f64,
    labels: String,
    /// The link's own traffic on top of what flows through it (workstations, EHR sync), bytes/s.
    own_rates: (f64, f64),
    flapping: bool,
    seconds_to_toggle: f64,
    spike: f64,
}

/// A bedside monitor streaming waveforms to the central station.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Label value `device`: `mon-<ward>-<bed>`.
    pub name: String,
    /// Index of the ward it is in.
    pub ward: usize,
    /// Bytes sent, ever.
    pub transmit_bytes: f64,
    /// Bytes received, ever.
    pub receive_bytes: f64,
    labels: String,
    base_transmit: f64,
}

/// What network incidents are doing this step (set by the event engine).
#[derive(Debug, Clone, Default)]
pub struct NetworkIncidents {
    /// DDoS intensity on the cloud link, 0–1.
    pub ddos: f64,
    /// Exfiltrating devices: (device index, intensity 0–1).
    pub exfiltration: Vec<(usize, f64)>,
    /// Indices of flapping links.
    pub flapping: Vec<usize>,
    /// Links with a latency spike: (link index, intensity 0–1).
    pub latency_spike: Vec<(usize, f64)>,
}

/// The whole hospital network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Per ward `<ward>-access` then `<ward>-uplink`, then `core-datacenter` and `core-cloud-ehr`.
    pub links: Vec<Link>,
    /// One bedside monitor per patient.
    pub devices: Vec<Device>,
    access_port_bytes_per_second: f64,
    datacenter: usize,
    cloud: usize,
}

/// Where a ward link sits: (ward index, department, ward).
type WardOf<'a> = Option<(usize, &'a str, &'a str)>;

impl Link {
    fn new(name: String, tier: Tier, at: WardOf, capacity: f64) -> Self {
        let labels = match at {
            Some((_, dept, ward)) => {
                render_labels(&[("tier", tier.as_str()), ("link", &name), ("department", dept), ("ward", ward)])
            }
            None => render_labels(&[("tier", tier.as_str()), ("link", &name)]),
        };
        Self {
            name,
            tier,
            ward: at.map(|(w, _, _)| w),
            capacity_bits_per_second: capacity,
            transmit_bytes: 0.0,
            receive_bytes: 0.0,
            errors: 0.0,
            up: true,
            latency_seconds: tier.base_latency_seconds(),
            packet_loss_ratio: BASE_LOSS,
            labels,
            own_rates: (0.0, 0.0),
            flapping: false,
            seconds_to_toggle: 0.0,
            spike: 0.0,
        }
    }

    /// Advance a flap: toggle at random intervals while flapping, come back up when it stops.
    fn flap<R: Rng + ?Sized>(&mut self, flapping: bool, dt: f64, rng: &mut R) {
        if !flapping {
            self.flapping = false;
            if !self.up {
                self.up = true;
                self.errors += rng.random_range(CRC_BURST);
            }
            return;
        }
        if !self.flapping {
            // Go down at once so a flap shows from its first step.
            self.flapping = true;
            self.seconds_to_toggle = 0.0;
        }
        self.seconds_to_toggle -= dt;
        while self.seconds_to_toggle <= 0.0 {
            self.up = !self.up;
            self.errors += rng.random_range(CRC_BURST);
            self.seconds_to_toggle += rng.random_range(FLAP_SECONDS);
        }
    }

    /// Carry offered (upstream, downstream) bytes/s for `dt`; returns what got through.
    fn carry<R: Rng + ?Sized>(&mut self, offered: (f64, f64), dt: f64, rng: &mut R) -> (f64, f64) {
        if !self.up {
            // Probes across a down link get no answers; latency keeps its last measurement.
            self.packet_loss_ratio = 1.0;
            return (0.0, 0.0);
        }
        let capacity = self.capacity_bits_per_second / 8.0;
        let u = offered.0.max(offered.1) / capacity;
        let carried = (offered.0.min(capacity), offered.1.min(capacity));
        self.transmit_bytes += carried.0 * dt;
        self.receive_bytes += carried.1 * dt;
        let queue = (u / (1.0 - u.min(0.98))).min(MAX_QUEUE_FACTOR);
        let jitter: f64 = StandardNormal.sample(rng);
        self.latency_seconds = self.tier.base_latency_seconds()
            * (1.0 + queue)
            * (1.0 + LATENCY_JITTER * jitter).max(0.5)
            * (1.0 + LATENCY_SPIKE_GAIN * self.spike.clamp(0.0, 1.0));
        // Loss is negligible below the knee, then climbs steeply toward its maximum.
        let excess = (u - LOSS_KNEE).max(0.0);
        self.packet_loss_ratio = BASE_LOSS + MAX_CONGESTION_LOSS * (1.0 - (-excess / LOSS_SCALE).exp());
        let packets = (carried.0 + carried.1) * dt / PACKET_BYTES;
        self.errors += packets * self.packet_loss_ratio + BACKGROUND_ERRORS_PER_SECOND * dt;
        carried
    }
}

/// `x` with uniform noise of ± [`RATE_NOISE`].
fn noisy<R: Rng + ?Sized>(x: f64, rng: &mut R) -> f64 {
    x * (1.0 + rng.random_range(-RATE_NOISE..RATE_NOISE))
}

/// Share of `offered` that was `carried` (1 when nothing was offered).
fn pass_ratio(carried: f64, offered: f64) -> f64 {
    if offered > 0.0 {
        (carried / offered).min(1.0)
    } else {
        1.0
    }
}

impl Device {
    fn new<R: Rng + ?Sized>(ward: usize, at: &(String, String), bed: &str, rng: &mut R) -> Self {
        let (dept, ward_name) = at;
        let name = format!("mon-{ward_name}-{bed}");
        let labels = render_labels(&[("department", dept), ("ward", ward_name), ("bed", bed), ("device", &name)]);
        Self {
            name,
            ward,
            transmit_bytes: 0.0,
            receive_bytes: 0.0,
            labels,
            base_transmit: rng.random_range(DEVICE_TRANSMIT_BITS) / 8.0,
        }
    }
}

impl Network {
    /// Build the network. `wards`: (department, ward) per ward; `devices`: (ward index, bed) per
    /// patient, each getting one bedside monitor.
    ///
    /// # Panics
    /// If a device names a ward index out of range.
    pub fn new<R: Rng + ?Sized>(
        cfg: &NetworkConfig,
        wards: &[(String, String)],
        devices: &[(usize, String)],
        rng: &mut R,
    ) -> Self {
        let mut ports = vec![0usize; wards.len()];
        for (w, bed) in devices {
            assert!(*w < wards.len(), "bed {bed} is in unknown ward {w}");
            ports[*w] += 1;
        }
        let mut links = Vec::with_capacity(2 * wards.len() + 2);
        for (w, (dept, ward)) in wards.iter().enumerate() {
            let at = Some((w, dept.as_str(), ward.as_str()));
            let access = cfg.access_capacity_bits_per_second * ports[w].max(1) as f64;
            let name = format!("{ward}-access");
            links.push(Link::new(name, Tier::Access, at, access));
            let capacity = cfg.ward_uplink_capacity_bits_per_second;
            let mut uplink = Link::new(format!("{ward}-uplink"), Tier::Distribution, at, capacity);
            let up = rng.random_range(WARD_TRANSMIT_BITS) / 8.0;
            uplink.own_rates = (up, up * WARD_RECEIVE_FACTOR);
            links.push(uplink);
        }
        let datacenter = links.len();
        let capacity = cfg.core_capacity_bits_per_second;
        let name = "core-datacenter".to_string();
        links.push(Link::new(name, Tier::Core, None, capacity));
        let capacity = cfg.cloud_capacity_bits_per_second;
        let mut cloud = Link::new("core-cloud-ehr".into(), Tier::Wan, None, capacity);
        let sync = [(); 2].map(|()| rng.random_range(EHR_SYNC_BITS) / 8.0);
        cloud.own_rates = (sync[0], sync[1]);
        links.push(cloud);
        let devices = devices.iter().map(|(w, bed)| Device::new(*w, &wards[*w], bed, rng));
        Self {
            links,
            devices: devices.collect(),
            access_port_bytes_per_second: cfg.access_capacity_bits_per_second / 8.0,
            datacenter,
            cloud: datacenter + 1,
        }
    }

    /// Index of a link by name.
    pub fn link_index(&self, name: &str) -> Option<usize> {
        self.links.iter().position(|l| l.name == name)
    }

    /// Index of the WAN link to the cloud EHR.
    pub fn cloud_link(&self) -> usize {
        self.cloud
    }

    /// Advance `dt` seconds; `circadian` runs −1 (night) to +1 (afternoon).
    pub fn step<R: Rng + ?Sized>(&mut self, dt: f64, circadian: f64, inc: &NetworkIncidents, rng: &mut R) {
        for (i, link) in self.links.iter_mut().enumerate() {
            link.flap(inc.flapping.contains(&i), dt, rng);
            let spikes = inc.latency_spike.iter().filter(|(l, _)| *l == i);
            link.spike = spikes.map(|(_, s)| *s).fold(0.0, f64::max);
        }
        let wards = self.datacenter / 2;
        // Per ward: traffic offered to the access link, and the exfiltrated part of its upstream.
        let (mut offered, mut exfiltrated) = (vec![(0.0, 0.0); wards], vec![0.0; wards]);
        self.step_devices(dt, inc, &mut offered, &mut exfiltrated, rng);
        let rhythm = 1.0 + CIRCADIAN_SWING * circadian;
        let (mut to_core, mut exfiltrated_to_core) = ((0.0, 0.0), 0.0);
        for w in 0..wards {
            let access = self.links[2 * w].carry(offered[w], dt, rng);
            let uplink = &mut self.links[2 * w + 1];
            let own = uplink.own_rates;
            let own = (noisy(own.0 * rhythm, rng), noisy(own.1 * rhythm, rng));
            let through = (access.0 + own.0, access.1 + own.1);
            let carried = uplink.carry(through, dt, rng);
            // The stolen data gets through each hop in proportion to what that hop carried.
            let passed = pass_ratio(access.0, offered[w].0) * pass_ratio(carried.0, through.0);
            exfiltrated_to_core += exfiltrated[w] * passed;
            to_core = (to_core.0 + carried.0, to_core.1 + carried.1);
        }
        self.step_core(dt, to_core, exfiltrated_to_core, inc.ddos, rng);
    }

    /// Integrate the monitors' counters and add their traffic to their ward's access offer.
    fn step_devices<R: Rng + ?Sized>(
        &mut self,
        dt: f64,
        inc: &NetworkIncidents,
        offered: &mut [(f64, f64)],
        exfiltrated: &mut [f64],
        rng: &mut R,
    ) {
        for (i, device) in self.devices.iter_mut().enumerate() {
            let base = device.base_transmit;
            let normal = (noisy(base, rng), noisy(base * DEVICE_RECEIVE_SHARE, rng));
            // A monitor whose switch port is down has no carrier and sends nothing.
            if !self.links[2 * device.ward].up {
                continue;
            }
            let stolen = inc.exfiltration.iter().filter(|(d, _)| *d == i);
            let stolen: f64 = stolen.map(|(_, e)| e.clamp(0.0, 1.0) * EXFILTRATION_BITS / 8.0).sum();
            let transmit = (normal.0 + stolen).min(self.access_port_bytes_per_second);
            device.transmit_bytes += transmit * dt;
            device.receive_bytes += normal.1 * dt;
            offered[device.ward].0 += transmit;
            offered[device.ward].1 += normal.1;
            exfiltrated[device.ward] += transmit - normal.0.min(transmit);
        }
    }

    /// Split ward traffic between the datacenter and the cloud, adding EHR sync and any attack.
    fn step_core<R: Rng + ?Sized>(&mut self, dt: f64, to_core: (f64, f64), exfiltrated: f64, ddos: f64, rng: &mut R) {
        let attack = ddos.clamp(0.0, 1.0) * self.links[self.cloud].capacity_bits_per_second / 8.0;
        let ordinary = (to_core.0 - exfiltrated).max(0.0);
        let datacenter = (DATACENTER_SHARE * ordinary, DATACENTER_SHARE * to_core.1 + DDOS_DATACENTER_SHARE * attack);
        self.links[self.datacenter].carry(datacenter, dt, rng);
        let cloud = &mut self.links[self.cloud];
        let sync = (noisy(cloud.own_rates.0, rng), noisy(cloud.own_rates.1, rng));
        let cloud_share = 1.0 - DATACENTER_SHARE;
        let offered = (
            cloud_share * ordinary + exfiltrated + sync.0,
            cloud_share * to_core.1 + sync.1 + DDOS_CAPACITY_MULTIPLE * attack,
        );
        cloud.carry(offered, dt, rng);
    }

    /// Write the link and device families.
    pub fn write_metrics(&self, w: &mut Writer) {
        let links = |w: &mut Writer, family: Family, value: fn(&Link) -> f64| {
            w.family(family);
            for link in &self.links {
                w.sample(&link.labels, "", value(link));
            }
        };
        links(w, LINK_TRANSMIT, |l| l.transmit_bytes);
        links(w, LINK_RECEIVE, |l| l.receive_bytes);
        links(w, LINK_ERRORS, |l| l.errors);
        links(w, LINK_UP, |l| f64::from(u8::from(l.up)));
        links(w, LINK_LATENCY, |l| l.latency_seconds);
        links(w, LINK_LOSS, |l| l.packet_loss_ratio);
        links(w, LINK_CAP, |l| l.capacity_bits_per_second / 8.0);
        let devices = |w: &mut Writer, family: Family, value: fn(&Device) -> f64| {
            w.family(family);
            for device in &self.devices {
                w.sample(&device.labels, "", value(device));
            }
        };
        devices(w, DEVICE_TRANSMIT, |d| d.transmit_bytes);
        devices(w, DEVICE_RECEIVE, |d| d.receive_bytes);
    }
}

/// A counter family (written as an integer; the writer appends `_total`).
const fn counter(name: &'static str, help: &'static str) -> Family {
    Family { name, help, kind: Kind::Counter, decimals: 0 }
}

/// A gauge family written with `decimals` decimals.
const fn gauge(name: &'static str, help: &'static str, decimals: u8) -> Family {
    Family { name, help, kind: Kind::Gauge, decimals }
}

const LINK_TRANSMIT: Family =
    counter("wardwatch_network_link_transmit_bytes", "Bytes the link carried upstream, toward the core and the cloud.");
const LINK_RECEIVE: Family =
    counter("wardwatch_network_link_receive_bytes", "Bytes the link carried downstream, toward the bedside.");
const LINK_ERRORS: Family = counter("wardwatch_network_link_errors", "Interface errors (CRC, drops) on the link.");
const LINK_UP: Family = gauge("wardwatch_network_link_up", "Whether the link is up (1) or down (0).", 0);
const LINK_LATENCY: Family =
    gauge("wardwatch_network_link_latency_seconds", "Round-trip latency measured over the link.", 6);
const LINK_LOSS: Family =
    gauge("wardwatch_network_link_packet_loss_ratio", "Share of probe packets lost on the link.", 6);
const LINK_CAP: Family =
    gauge("wardwatch_network_link_capacity_bytes_per_second", "Capacity of the link in each direction.", 0);
const DEVICE_TRANSMIT: Family = counter("wardwatch_network_device_transmit_bytes", "Bytes the bedside monitor sent.");
const DEVICE_RECEIVE: Family = counter("wardwatch_network_device_receive_bytes", "Bytes the bedside monitor received.");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::Format;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    const BEDS: usize = 8;
    type Bytes = Vec<(f64, f64)>;

    /// Two wards of eight monitors; links 0–3 are icu-0 access/uplink and icu-1 access/uplink.
    fn hospital(seed: u64) -> (Network, Pcg64Mcg) {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let wards: Vec<_> = (0..2).map(|w| ("icu".into(), format!("icu-{w}"))).collect();
        let devices: Vec<_> = (0..2 * BEDS).map(|i| (i / BEDS, format!("b{}", i % BEDS))).collect();
        let net = Network::new(&NetworkConfig::default(), &wards, &devices, &mut rng);
        (net, rng)
    }

    /// Bytes each link and each device sent and received over `steps` one-second steps.
    fn run(net: &mut Network, rng: &mut Pcg64Mcg, steps: usize, c: f64, inc: &NetworkIncidents) -> (Bytes, Bytes) {
        let links = |n: &Network| n.links.iter().map(|l| (l.transmit_bytes, l.receive_bytes)).collect::<Bytes>();
        let devices = |n: &Network| n.devices.iter().map(|d| (d.transmit_bytes, d.receive_bytes)).collect::<Bytes>();
        let (l0, d0) = (links(net), devices(net));
        for _ in 0..steps {
            net.step(1.0, c, inc, rng);
        }
        let delta = |now: Bytes, then: Bytes| now.iter().zip(then).map(|(n, t)| (n.0 - t.0, n.1 - t.1)).collect();
        (delta(links(net), l0), delta(devices(net), d0))
    }

    fn quiet() -> NetworkIncidents {
        NetworkIncidents::default()
    }

    #[test]
    fn counters_only_increase_over_a_thousand_steps() {
        let (mut net, mut rng) = hospital(1);
        let inc = NetworkIncidents { ddos: 0.5, flapping: vec![1], exfiltration: vec![(3, 1.0)], ..quiet() };
        let counters = |n: &Network| -> Vec<f64> {
            let links = n.links.iter().flat_map(|l| [l.transmit_bytes, l.receive_bytes, l.errors]);
            links.chain(n.devices.iter().flat_map(|d| [d.transmit_bytes, d.receive_bytes])).collect()
        };
        let mut last = counters(&net);
        for step in 0..1000 {
            let now_inc = if step % 300 < 100 { inc.clone() } else { quiet() };
            net.step(1.0, (step as f64 / 100.0).sin(), &now_inc, &mut rng);
            let now = counters(&net);
            assert!(now.iter().zip(&last).all(|(n, l)| n >= l), "a counter fell at step {step}");
            last = now;
        }
    }

    #[test]
    fn ward_uplink_carries_at_least_its_access_traffic() {
        let (mut net, mut rng) = hospital(2);
        let (links, _) = run(&mut net, &mut rng, 60, 0.0, &quiet());
        for (access, uplink) in [(links[0], links[1]), (links[2], links[3])] {
            assert!(uplink.0 >= access.0 && uplink.1 >= access.1, "{access:?} vs {uplink:?}");
        }
    }

    #[test]
    fn daytime_traffic_exceeds_night_traffic() {
        let (mut net, mut rng) = hospital(3);
        let (day, _) = run(&mut net, &mut rng, 60, 1.0, &quiet());
        let (night, _) = run(&mut net, &mut rng, 60, -1.0, &quiet());
        for i in [1, 3, net.datacenter] {
            assert!(day[i].0 > 1.5 * night[i].0 && day[i].1 > 1.5 * night[i].1, "link {i}");
        }
    }

    #[test]
    fn ddos_floods_the_cloud_link_and_raises_loss_and_latency() {
        let (mut net, mut rng) = hospital(4);
        let (cloud, dc) = (net.cloud_link(), net.datacenter);
        let (calm, _) = run(&mut net, &mut rng, 30, 0.0, &quiet());
        let before = net.links[cloud].clone();
        let (flood, _) = run(&mut net, &mut rng, 30, 0.0, &NetworkIncidents { ddos: 1.0, ..quiet() });
        let link = &net.links[cloud];
        let capacity = link.capacity_bits_per_second / 8.0 * 30.0;
        assert!(flood[cloud].1 > 3.0 * calm[cloud].1 && flood[cloud].1 <= capacity * 1.000_001);
        assert!(before.packet_loss_ratio < 1e-4 && link.packet_loss_ratio > 0.2);
        assert!(link.latency_seconds > 12.0 * before.latency_seconds, "{link:?}");
        assert!(flood[dc].1 > calm[dc].1, "some of the attack reaches the datacenter");
    }

    #[test]
    fn exfiltration_makes_one_device_stand_out_and_raises_its_ward_uplink() {
        let (mut net, mut rng) = hospital(5);
        let (calm, _) = run(&mut net, &mut rng, 30, 0.0, &quiet());
        let thief = BEDS + 2;
        let inc = NetworkIncidents { exfiltration: vec![(thief, 0.5)], ..quiet() };
        let (links, devices) = run(&mut net, &mut rng, 30, 0.0, &inc);
        for (i, d) in devices.iter().enumerate().filter(|(i, _)| *i != thief) {
            assert!(devices[thief].0 >= 10.0 * d.0, "device {i}");
        }
        let stolen = 0.8 * devices[thief].0;
        assert!(links[3].0 > calm[3].0 + stolen, "the thief's ward uplink carries it");
        assert!(links[1].0 < 1.5 * calm[1].0, "the other ward's uplink does not");
        assert!(links[net.cloud].0 > calm[net.cloud].0 + stolen, "it leaves by the cloud link");
    }

    #[test]
    fn flapping_link_goes_down_stops_counting_and_gathers_errors() {
        let (mut net, mut rng) = hospital(6);
        let (inc, errors) = (NetworkIncidents { flapping: vec![1], ..quiet() }, net.links[1].errors);
        let mut down_steps = 0;
        for _ in 0..600 {
            let before = (net.links[1].transmit_bytes, net.links[1].receive_bytes);
            net.step(1.0, 0.0, &inc, &mut rng);
            let link = &net.links[1];
            if !link.up {
                down_steps += 1;
                assert_eq!((link.transmit_bytes, link.receive_bytes), before);
            }
        }
        assert!((60..540).contains(&down_steps), "down {down_steps} of 600 s");
        assert!(net.links[1].errors > errors + 200.0, "CRC bursts on each transition");
        net.step(1.0, 0.0, &quiet(), &mut rng);
        assert!(net.links[1].up, "back up when the flap ends");
    }

    #[test]
    fn latency_spike_multiplies_latency() {
        let (mut net, mut rng) = hospital(7);
        let mut mean_latency = |inc: &NetworkIncidents| {
            let mut sum = 0.0;
            for _ in 0..50 {
                net.step(1.0, 0.0, inc, &mut rng);
                sum += net.links[2].latency_seconds;
            }
            sum / 50.0
        };
        let calm = mean_latency(&quiet());
        let spiked = mean_latency(&NetworkIncidents { latency_spike: vec![(2, 1.0)], ..quiet() });
        assert!((spiked / calm - 31.0).abs() < 2.0, "{calm} → {spiked}");
    }

    #[test]
    fn same_seed_and_steps_give_identical_state() {
        let simulate = || {
            let (mut net, mut rng) = hospital(8);
            let inc = NetworkIncidents {
                ddos: 0.3,
                flapping: vec![0],
                exfiltration: vec![(1, 1.0)],
                latency_spike: vec![(4, 0.5)],
            };
            run(&mut net, &mut rng, 200, 0.5, &inc);
            net
        };
        assert_eq!(simulate(), simulate());
    }

    #[test]
    fn metrics_write_every_family_once_in_order_and_one_line_per_series() {
        let (mut net, mut rng) = hospital(9);
        run(&mut net, &mut rng, 10, 0.0, &quiet());
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, Format::Text);
        net.write_metrics(&mut w);
        w.finish();
        let text = String::from_utf8(buf).unwrap();
        let link = ["transmit_bytes_total", "receive_bytes_total", "errors_total", "up"];
        let link = link.into_iter().chain(["latency_seconds", "packet_loss_ratio", "capacity_bytes_per_second"]);
        let link = link.map(|n| (format!("wardwatch_network_link_{n}"), net.links.len()));
        let device = ["transmit_bytes_total", "receive_bytes_total"];
        let device = device.map(|n| (format!("wardwatch_network_device_{n}"), net.devices.len()));
        let expected: Vec<_> = link.chain(device).collect();
        let types: Vec<_> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        let names: Vec<_> = types.iter().map(|t| t.split(' ').next().unwrap()).collect();
        assert_eq!(names, expected.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
        for (name, n) in &expected {
            let lines = text.lines().filter(|l| l.starts_with(&format!("{name}{{")));
            assert_eq!(lines.count(), *n, "{name}");
        }
        assert!(text.contains("{tier=\"wan\",link=\"core-cloud-ehr\"} "));
        assert!(text.contains("{department=\"icu\",ward=\"icu-1\",bed=\"b2\",device=\"mon-icu-1-b2\"} "));
    }
}
