//! The evaluation's figures and their printout.
//!
//! "Kept at full priority" means the first notification was kept or escalated, not downgraded.
//! "Critical deterioration" means a true alert from a rule with `severity: critical`.

use super::truth::Cause;
use super::{AlertRecord, EvalOptions};
use crate::rescore::policy::Decision;
use crate::rescore::score::EntityKind;
use crate::sim::config::HospitalConfig;
use std::collections::BTreeMap;
use std::io::Write;

/// Patients in the default hospital.
pub fn default_patients() -> u32 {
    HospitalConfig::embedded_default().wards().map(|w| w.patients.unwrap_or(w.beds)).sum()
}

/// Patients × days of `seeds` runs of `hours` each of the default hospital.
pub fn patient_days(seeds: u64, hours: f64) -> f64 {
    f64::from(default_patients()) * seeds as f64 * hours / 24.0
}

/// ROC-AUC of `positives` against `negatives` (Mann–Whitney, ties count half); NaN if either is empty.
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> f64 {
    if positives.is_empty() || negatives.is_empty() {
        return f64::NAN;
    }
    let mut wins = 0.0;
    for &p in positives {
        for &n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positives.len() * negatives.len()) as f64
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        f64::NAN
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// The headline figures of a set of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Alerts by cause: true, artifact, unattributed.
    pub counts: [usize; 3],
    /// % of critical true alerts kept at full priority (target 100).
    pub critical_true_kept: f64,
    /// % of true alerts kept at full priority (target ≥ 98).
    pub true_kept: f64,
    /// % of artifact alerts downgraded (target ≥ 60, aim 90).
    pub artifact_downgraded: f64,
    /// % of unattributed alerts downgraded.
    pub unattributed_downgraded: f64,
    /// ROC-AUC of the score, true against artifact alerts (target ≥ 0.90).
    pub auc: f64,
    /// False (artifact + unattributed) patient alerts per patient-day, before rescoring.
    pub false_per_patient_day_before: f64,
    /// The same, not downgraded.
    pub false_per_patient_day_after: f64,
    /// Per-alert cost of features + score + decision, p50 and p99, µs.
    pub cost_us: (f64, f64),
}

impl Figures {
    /// Figures of `records` from `seeds` runs of `hours` each.
    pub fn of(records: &[AlertRecord], seeds: u64, hours: f64) -> Self {
        let kept = |r: &AlertRecord| r.decision != Decision::Downgrade;
        let by = |c: Cause| records.iter().filter(move |r| r.cause == c);
        let trues: Vec<_> = by(Cause::True).collect();
        let critical: Vec<_> = trues.iter().filter(|r| r.severity == "critical").collect();
        let artifacts: Vec<_> = by(Cause::Artifact).collect();
        let unattributed: Vec<_> = by(Cause::Unattributed).collect();
        let patient_days = patient_days(seeds, hours);
        let false_patient: Vec<_> =
            records.iter().filter(|r| r.cause != Cause::True && r.entity == EntityKind::Patient).collect();
        let mut costs: Vec<u64> = records.iter().map(|r| r.cost_ns).collect();
        costs.sort_unstable();
        let pct =
            |q: f64| costs.get(((costs.len() as f64 - 1.0) * q).round() as usize).map_or(0.0, |&c| c as f64 / 1e3);
        let scores = |v: &[&AlertRecord]| v.iter().map(|r| r.score).collect::<Vec<_>>();
        Self {
            counts: [trues.len(), artifacts.len(), unattributed.len()],
            critical_true_kept: share(critical.iter().filter(|r| kept(r)).count(), critical.len()),
            true_kept: share(trues.iter().filter(|r| kept(r)).count(), trues.len()),
            artifact_downgraded: share(artifacts.iter().filter(|r| !kept(r)).count(), artifacts.len()),
            unattributed_downgraded: share(unattributed.iter().filter(|r| !kept(r)).count(), unattributed.len()),
            auc: roc_auc(&scores(&trues), &scores(&artifacts)),
            false_per_patient_day_before: false_patient.len() as f64 / patient_days,
            false_per_patient_day_after: false_patient.iter().filter(|r| kept(r)).count() as f64 / patient_days,
            cost_us: (pct(0.5), pct(0.99)),
        }
    }

    /// One line per seed.
    pub fn one_line(&self) -> String {
        format!(
            "alerts true {} / artifact {} / unattributed {}; critical true kept {:.1}%, true kept {:.1}%, \
             artifacts downgraded {:.1}%, AUC {:.3}, false alerts/patient-day {:.2} -> {:.2}",
            self.counts[0],
            self.counts[1],
            self.counts[2],
            self.critical_true_kept,
            self.true_kept,
            self.artifact_downgraded,
            self.auc,
            self.false_per_patient_day_before,
            self.false_per_patient_day_after
        )
    }
}

/// Print the table by rule and cause, the overall figures, and the missed true alerts.
pub fn write(out: &mut dyn Write, records: &[AlertRecord], options: &EvalOptions) -> std::io::Result<()> {
    let mut table: BTreeMap<(&str, Cause), (usize, usize)> = BTreeMap::new();
    for r in records {
        let e = table.entry((r.rule.as_str(), r.cause)).or_default();
        e.0 += 1;
        e.1 += usize::from(r.decision == Decision::Downgrade);
    }
    writeln!(out, "\nalerts by rule and cause (downgraded in brackets):")?;
    writeln!(out, "{:<28} {:>14} {:>14} {:>14}", "rule", "true", "artifact", "unattributed")?;
    let mut names: Vec<&str> = records.iter().map(|r| r.rule.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let cell = |c| table.get(&(name, c)).map_or("-".to_string(), |(n, d)| format!("{n} ({d})"));
        writeln!(
            out,
            "{name:<28} {:>14} {:>14} {:>14}",
            cell(Cause::True),
            cell(Cause::Artifact),
            cell(Cause::Unattributed)
        )?;
    }
    let mut by_event: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.cause != Cause::Unattributed) {
        let e = by_event.entry(r.event.map_or("-", |k| k.as_str())).or_default();
        e.0 += 1;
        e.1 += usize::from(r.decision == Decision::Downgrade);
    }
    writeln!(out, "\nalerts by causing event (downgraded):")?;
    for (k, (n, d)) in by_event {
        writeln!(out, "  {k:<18} {n:>6} ({d})")?;
    }
    let mut again: BTreeMap<(&str, Cause), usize> = BTreeMap::new();
    let mut technical: BTreeMap<(&str, Cause), usize> = BTreeMap::new();
    let mut stays: BTreeMap<(&str, Cause), usize> = BTreeMap::new();
    for r in records.iter().filter(|r| r.looked_at_again()) {
        let to = match (r.technical_notice(), r.stays_downgraded()) {
            (true, _) => &mut technical,
            (false, true) => &mut stays,
            (false, false) => &mut again,
        };
        *to.entry((r.rule.as_str(), r.cause)).or_default() += 1;
    }
    let listed = |m: &BTreeMap<(&str, Cause), usize>| {
        m.iter().map(|((rule, c), n)| format!("{rule} {} {n}", c.as_str())).collect::<Vec<_>>().join(", ")
    };
    writeln!(
        out,
        "\ndowngraded and still firing at the re-escalation delay, by rule and cause:\n  re-escalated at full priority: {}\n  technical notices (still a likely artifact): {}\n  still downgraded (still usual, not dangerous): {}",
        listed(&again),
        listed(&technical),
        listed(&stays)
    )?;
    let f = Figures::of(records, options.seeds, options.hours);
    let rekept = records.iter().filter(|r| r.reescalated()).count();
    writeln!(
        out,
        "\noverall, {} seeds x {} h from seed {}:\n  {}\n  unattributed downgraded {:.1}%; downgraded alerts re-escalated \
         at full priority later (still firing at the re-escalation delay, no longer like an artifact): {rekept}\n  features + score + decision per alert: p50 {:.1} µs, p99 {:.1} µs",
        options.seeds,
        options.hours,
        options.first_seed,
        f.one_line(),
        f.unattributed_downgraded,
        f.cost_us.0,
        f.cost_us.1
    )?;
    let missed: Vec<_> =
        records.iter().filter(|r| r.cause == Cause::True && r.decision == Decision::Downgrade).collect();
    for r in missed.iter().take(10) {
        writeln!(
            out,
            "  true alert downgraded: seed {} {} ({:?}) score {:.2} artifact {:.2}: {}",
            r.seed, r.rule, r.event, r.score, r.artifact, r.top_reason
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_when_every_positive_outranks_every_negative_and_half_for_ties() {
        assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(roc_auc(&[0.1], &[0.9]), 0.0);
        assert_eq!(roc_auc(&[0.5], &[0.5]), 0.5);
        assert!(roc_auc(&[], &[0.5]).is_nan());
    }
}
