//! The bedside monitor's cost: how many beds of real ICU waveforms (the PhysioNet/CinC Challenge
//! 2015 records, 250 Hz, 3–4 channels) one core keeps up with in real time, against the target
//! of 500; and the whole `eval-alarms` path (monitor + rescoring) over every record.
//!
//! `cargo bench --bench monitor` runs it over every record; under `cargo test` it runs a smoke
//! pass over a few. Records: `WARDWATCH_PHYSIONET2015` or `../shared/data/physionet2015`.
//! Prints figures; asserts nothing.

use std::path::PathBuf;
use std::time::Instant;
use wardwatch::monitor::BedMonitor;

/// The beds a single core must keep up with.
const TARGET_BEDS: f64 = 500.0;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = std::env::var_os("WARDWATCH_PHYSIONET2015")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/physionet2015"));
    let Ok(mut names) = wardwatch::wfdb::record_names(&dir) else {
        eprintln!("monitor bench: no records at {} (set WARDWATCH_PHYSIONET2015); nothing measured", dir.display());
        return;
    };
    if !full {
        names.truncate(3);
    }
    let records: Vec<wardwatch::wfdb::Record> =
        names.iter().map(|n| wardwatch::wfdb::read_record(&dir, n).expect("a readable record")).collect();
    // One thread, one bed at a time, every sample through the monitor and the numerics once a
    // second, as a live bed gets them.
    let started = Instant::now();
    let mut signal_seconds = 0.0;
    let mut checksum = 0.0f64;
    for r in &records {
        let descriptions: Vec<String> = r.specs.iter().map(|s| s.description.clone()).collect();
        let mut bed = BedMonitor::new(&descriptions, r.frequency);
        let per_second = r.frequency as usize;
        let mut frame = vec![0.0f32; r.signals.len()];
        for i in 0..r.signals[0].len() {
            for (slot, s) in frame.iter_mut().zip(&r.signals) {
                *slot = s[i];
            }
            bed.push_frame(&frame);
            if (i + 1) % per_second == 0 {
                checksum += bed.numerics().iter().map(|n| f64::from(n.quality)).sum::<f64>();
            }
        }
        signal_seconds += bed.elapsed_seconds();
    }
    let cpu = started.elapsed().as_secs_f64();
    let beds = signal_seconds / cpu;
    let samples: usize = records.iter().map(|r| r.signals.len() * r.signals[0].len()).sum();
    println!(
        "monitor: {} records, {:.0} s of signal ({} samples) in {:.2} s on one thread",
        records.len(),
        signal_seconds,
        samples,
        cpu
    );
    println!(
        "monitor: {:.0} beds kept up with in real time on one core (target {TARGET_BEDS:.0}: {}); {:.0} ns a sample",
        beds,
        if beds >= TARGET_BEDS { "met" } else { "NOT met" },
        1e9 * cpu / samples as f64
    );
    std::hint::black_box(checksum);
}
