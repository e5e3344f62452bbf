//! The decision: escalate, keep, or downgrade as a likely artifact — never drop.
//!
//! A downgraded alert still reaches a human channel, marked as a likely artifact with its
//! reasons; nothing here can make an alert disappear. Three guards keep true alarms from being
//! downgraded: a per-severity floor, the requirement that the score itself be low (and, unless
//! [`Policy::routine_critical`] is on, that a critical alert show positive artifact evidence), and
//! re-escalation of an alert that is still firing after [`Policy::reescalate_after`].
//!
//! At its re-escalation time a downgraded alert still firing is looked at again on its history
//! up to then ([`Policy::recheck`]). If the evidence of an artifact still holds, the patient's
//! readings are lost rather than dangerous: the held channels get a *technical* notice ("check
//! the sensor"), the distinction IEC 60601-1-8 draws between technical and physiological alarm
//! conditions. A warning still within the entity's usual range and not dangerous stays
//! downgraded. Otherwise it goes out again at full priority, escalated if it now scores so.

use super::score::{Assessment, Reason, Subject};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use crate::alert::decision::Decision;

/// The lowest decision each alert severity may receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Floors {
    /// Floor for `severity: critical`. `downgrade` (default) lets a critical alert that is very
    /// likely an artifact go out at lower priority; `keep` never lowers a critical alert.
    pub critical: Decision,
    /// Floor for `severity: warning`.
    pub warning: Decision,
    /// Floor for `severity: info`.
    pub info: Decision,
    /// Floor for any other or missing severity.
    pub other: Decision,
}

impl Default for Floors {
    fn default() -> Self {
        Self {
            critical: Decision::Downgrade,
            warning: Decision::Downgrade,
            info: Decision::Downgrade,
            other: Decision::Downgrade,
        }
    }
}

impl Floors {
    /// The floor for a severity label.
    pub fn of(&self, severity: &str) -> Decision {
        match severity {
            "critical" => self.critical,
            "warning" => self.warning,
            "info" => self.info,
            _ => self.other,
        }
    }
}

/// The `rescoring.policy` section of the sidecar's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Escalate when the score is at least this (0–1). Default 0.8.
    pub escalate_at: f64,
    /// Downgrade when the artifact likelihood is at least this (0–1) ... Default 0.5.
    pub downgrade_at: f64,
    /// ... and the score is below this (0–1, at most `escalate_at`). Default 0.5.
    pub downgrade_below: f64,
    /// Downgrade as not actionable when the score is below this (0–1), even without artifact
    /// evidence: 0.15 is about the score of a level that is neither clinically dangerous nor
    /// unusual for this entity, with nothing corroborating it (an alert with no features scores
    /// 0.12). 0 turns this off. Default 0.15.
    pub routine_below: f64,
    /// Whether `routine_below` also downgrades `severity: critical` alerts. Default `false`: a
    /// critical alert is downgraded only on positive evidence of an artifact, never for the mere
    /// absence of evidence that it is dangerous — the first minutes of an episode can look
    /// exactly like the patient's usual range (a COPD patient at their own 90% as a hypoxia
    /// begins). `true` also quiets a chronically hypoxaemic patient's SpO2 alerts at their usual
    /// level, far fewer false alerts, at the cost of lowering such an onset (docs/evaluation.md,
    /// "Rescoring quality").
    pub routine_critical: bool,
    /// The lowest decision per alert severity. Default: `downgrade` for all (downgraded alerts
    /// still reach a human channel); set `critical: keep` never to lower a critical alert.
    pub floor: Floors,
    /// A downgraded alert still firing this long after its `startsAt` is kept again: an artifact
    /// that lasts this long leaves the patient unmonitored and needs someone at the bedside anyway.
    /// Default `5m`; it must be shorter than `queue.stale_after`, as held channels wait in the queue.
    #[serde(with = "duration_text")]
    pub reescalate_after: Duration,
    /// Whether a downgraded alert still firing at `reescalate_after` and, rescored on its history
    /// up to then, still a likely artifact goes out as a technical notice (sensor problem) rather
    /// than at full priority. Default `true`; `false` re-escalates every such alert at full
    /// priority.
    pub technical_notices: bool,
}

/// A downgraded alert still firing at its re-escalation time, looked at again.
#[derive(Debug, Clone, PartialEq)]
pub struct Recheck {
    /// `downgrade` for a technical notice or an alert that stays downgraded; `keep` or
    /// `escalate` for full priority again.
    pub decision: Decision,
    /// The evidence of an artifact still holds: a technical notice.
    pub technical: bool,
    /// Why, for people.
    pub why: String,
}

impl Recheck {
    /// Still usual and not dangerous: it stays downgraded, its held channels skipped.
    pub fn stays_downgraded(&self) -> bool {
        self.decision == Decision::Downgrade && !self.technical
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            escalate_at: 0.8,
            downgrade_at: 0.5,
            downgrade_below: 0.5,
            routine_below: 0.15,
            routine_critical: false,
            floor: Floors::default(),
            reescalate_after: Duration::from_secs(5 * 60),
            technical_notices: true,
        }
    }
}

/// A policy value that makes no sense, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rescoring.policy.{field}: {reason}")]
pub struct PolicyError {
    /// The field at fault.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// The decision with the reasons for it, most important first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What to do.
    pub decision: Decision,
    /// Why: the policy's own reason first, then the assessment's.
    pub reasons: Vec<Reason>,
}

impl Policy {
    /// Reject thresholds outside [0, 1], a downgrade bound above the escalation threshold, and a
    /// zero re-escalation delay.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let unit = |field: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(PolicyError { field, reason: format!("{v} is outside 0..=1") })
            }
        };
        unit("escalate_at", self.escalate_at)?;
        unit("downgrade_at", self.downgrade_at)?;
        unit("downgrade_below", self.downgrade_below)?;
        unit("routine_below", self.routine_below)?;
        if self.routine_below > self.downgrade_below {
            return Err(PolicyError {
                field: "routine_below",
                reason: format!("{} is above downgrade_below {}", self.routine_below, self.downgrade_below),
            });
        }
        if self.downgrade_at == 0.0 {
            return Err(PolicyError { field: "downgrade_at", reason: "0 would downgrade every alert".into() });
        }
        if self.downgrade_below > self.escalate_at {
            return Err(PolicyError {
                field: "downgrade_below",
                reason: format!("{} is above escalate_at {}", self.downgrade_below, self.escalate_at),
            });
        }
        if self.reescalate_after.is_zero() {
            return Err(PolicyError { field: "reescalate_after", reason: "must be positive".into() });
        }
        Ok(())
    }

    /// Decide for an alert that has been firing for `firing_for` since its `startsAt`.
    pub fn decide(&self, subject: &Subject, assessment: &Assessment, firing_for: Duration) -> Verdict {
        let (mut decision, mut why) = if assessment.score >= self.escalate_at {
            (Decision::Escalate, format!("score {:.2} ≥ {:.2}: escalated", assessment.score, self.escalate_at))
        } else if assessment.artifact >= self.downgrade_at && assessment.score < self.downgrade_below {
            (
                Decision::Downgrade,
                format!(
                    "likely artifact ({:.2}) with score {:.2}: downgraded, still delivered",
                    assessment.artifact, assessment.score
                ),
            )
        } else if assessment.score < self.routine_below && (self.routine_critical || subject.severity != "critical") {
            (
                Decision::Downgrade,
                format!(
                    "score {:.2}: within this entity's usual range and not dangerous in itself — downgraded as not actionable, still delivered",
                    assessment.score
                ),
            )
        } else {
            (Decision::Keep, format!("score {:.2}, artifact {:.2}: kept", assessment.score, assessment.artifact))
        };
        let floor = self.floor.of(&subject.severity);
        if decision < floor {
            decision = floor;
            why = format!("severity {} is never below {}: kept", subject.severity, floor.as_str());
        }
        if decision == Decision::Downgrade && firing_for >= self.reescalate_after {
            decision = Decision::Keep;
            why = format!("still firing after {} min: kept again despite artifact evidence", firing_for.as_secs() / 60);
        }
        let mut reasons = Vec::with_capacity(assessment.reasons.len() + 1);
        reasons.push(Reason { text: why, weight: 0.0 });
        reasons.extend(assessment.reasons.iter().cloned());
        Verdict { decision, reasons }
    }

    /// Look again at a downgraded alert still firing `firing_for` after its `startsAt`, assessed
    /// on its history up to now: a technical notice while the evidence of an artifact holds (and
    /// [`Policy::technical_notices`] is on); still downgraded while it is still within the
    /// entity's usual range and not dangerous (the first decision's own test, which a critical
    /// alert never meets unless [`Policy::routine_critical`]); full priority otherwise — never
    /// lower than `keep` then, and escalated if it now scores so.
    pub fn recheck(&self, subject: &Subject, assessment: &Assessment, firing_for: Duration) -> Recheck {
        let minutes = firing_for.as_secs() / 60;
        let artifact = assessment.artifact >= self.downgrade_at && assessment.score < self.downgrade_below;
        let routine =
            assessment.score < self.routine_below && (self.routine_critical || subject.severity != "critical");
        if !artifact && routine && self.floor.of(&subject.severity) == Decision::Downgrade {
            return Recheck {
                decision: Decision::Downgrade,
                technical: false,
                why: format!(
                    "still firing after {minutes} min, still within this entity's usual range and not dangerous \
                     (score {:.2}): stays downgraded",
                    assessment.score
                ),
            };
        }
        if self.technical_notices && artifact {
            return Recheck {
                decision: Decision::Downgrade,
                technical: true,
                why: format!(
                    "still firing after {minutes} min and still a likely artifact ({:.2}, score {:.2}): \
                     a technical notice — the readings are lost, check the sensor",
                    assessment.artifact, assessment.score
                ),
            };
        }
        let (decision, why) = if assessment.score >= self.escalate_at {
            (
                Decision::Escalate,
                format!("still firing after {minutes} min, score now {:.2}: escalated", assessment.score),
            )
        } else if artifact {
            (Decision::Keep, format!("still firing after {minutes} min: kept again despite artifact evidence"))
        } else {
            (
                Decision::Keep,
                format!(
                    "still firing after {minutes} min, no longer like an artifact (artifact {:.2}, score {:.2}): kept again",
                    assessment.artifact, assessment.score
                ),
            )
        };
        Recheck { decision, technical: false, why }
    }
}

/// (De)serialises a [`Duration`] as text like `15m` or `90s`.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}s", d.as_secs_f64()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::duration::parse(&text, false).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::score::EntityKind;

    fn subject(severity: &str) -> Subject {
        Subject {
            alertname: "HypoxiaDetected".into(),
            severity: severity.into(),
            entity: EntityKind::Patient,
            focus: Some("spo2".into()),
        }
    }

    fn assessed(score: f64, artifact: f64) -> Assessment {
        Assessment { score, artifact, reasons: vec![Reason { text: "x".into(), weight: 1.0 }] }
    }

    #[test]
    fn a_likely_artifact_is_downgraded_not_dropped_and_says_why() {
        let v = Policy::default().decide(&subject("critical"), &assessed(0.05, 0.95), Duration::ZERO);
        assert_eq!(v.decision, Decision::Downgrade);
        assert!(v.reasons[0].text.contains("still delivered"));
        assert_eq!(v.reasons.len(), 2, "the assessment's reasons follow the policy's");
    }

    #[test]
    fn credible_alerts_escalate_and_uncertain_ones_are_kept() {
        let p = Policy::default();
        assert_eq!(p.decide(&subject("warning"), &assessed(0.9, 0.0), Duration::ZERO).decision, Decision::Escalate);
        assert_eq!(p.decide(&subject("warning"), &assessed(0.6, 0.9), Duration::ZERO).decision, Decision::Keep);
        assert_eq!(p.decide(&subject("warning"), &assessed(0.2, 0.3), Duration::ZERO).decision, Decision::Keep);
    }

    #[test]
    fn a_routine_level_is_downgraded_as_not_actionable_unless_turned_off() {
        let p = Policy::default();
        let v = p.decide(&subject("warning"), &assessed(0.12, 0.0), Duration::ZERO);
        assert_eq!(v.decision, Decision::Downgrade);
        assert!(v.reasons[0].text.contains("not actionable"));
        let off = Policy { routine_below: 0.0, ..Policy::default() };
        assert_eq!(off.decide(&subject("warning"), &assessed(0.12, 0.0), Duration::ZERO).decision, Decision::Keep);
    }

    #[test]
    fn by_default_a_critical_alert_needs_artifact_evidence_to_be_downgraded() {
        let p = Policy::default();
        // A low score with no artifact evidence: the patient's usual range, or an onset.
        let v = p.decide(&subject("critical"), &assessed(0.12, 0.0), Duration::ZERO);
        assert_eq!(v.decision, Decision::Keep, "{:?}", v.reasons[0]);
        // The same score with artifact evidence is still downgraded, and warnings still are.
        assert_eq!(p.decide(&subject("critical"), &assessed(0.12, 0.9), Duration::ZERO).decision, Decision::Downgrade);
        assert_eq!(p.decide(&subject("warning"), &assessed(0.12, 0.0), Duration::ZERO).decision, Decision::Downgrade);
        // With `routine_critical` the routine downgrade applies to critical alerts too.
        let quiet = Policy { routine_critical: true, ..Policy::default() };
        let v = quiet.decide(&subject("critical"), &assessed(0.12, 0.0), Duration::ZERO);
        assert_eq!(v.decision, Decision::Downgrade);
        assert!(v.reasons[0].text.contains("not actionable"));
    }

    #[test]
    fn the_strict_floor_never_lowers_a_critical_alert() {
        let mut p = Policy::default();
        p.floor.critical = Decision::Keep;
        let v = p.decide(&subject("critical"), &assessed(0.01, 1.0), Duration::ZERO);
        assert_eq!(v.decision, Decision::Keep);
        assert_eq!(p.decide(&subject("warning"), &assessed(0.01, 1.0), Duration::ZERO).decision, Decision::Downgrade);
    }

    #[test]
    fn a_downgraded_alert_still_firing_is_kept_again() {
        let p = Policy::default();
        let a = assessed(0.05, 0.95);
        let just_under = p.reescalate_after - Duration::from_secs(1);
        assert_eq!(p.decide(&subject("critical"), &a, just_under).decision, Decision::Downgrade);
        let v = p.decide(&subject("critical"), &a, p.reescalate_after);
        assert_eq!(v.decision, Decision::Keep);
        assert!(v.reasons[0].text.contains("still firing"));
    }

    #[test]
    fn a_recheck_gives_a_technical_notice_only_while_the_artifact_evidence_holds() {
        let p = Policy::default();
        let five = p.reescalate_after;
        let still_off = p.recheck(&subject("critical"), &assessed(0.05, 0.95), five);
        assert_eq!((still_off.decision, still_off.technical), (Decision::Downgrade, true));
        assert!(still_off.why.contains("check the sensor"), "{}", still_off.why);
        let gone = p.recheck(&subject("critical"), &assessed(0.4, 0.1), five);
        assert_eq!((gone.decision, gone.technical), (Decision::Keep, false), "the evidence is gone: full priority");
        let now_dangerous = p.recheck(&subject("critical"), &assessed(0.9, 0.9), five);
        assert_eq!((now_dangerous.decision, now_dangerous.technical), (Decision::Escalate, false));
        let off = Policy { technical_notices: false, ..Policy::default() };
        let v = off.recheck(&subject("critical"), &assessed(0.05, 0.95), five);
        assert_eq!((v.decision, v.technical), (Decision::Keep, false), "turned off: full priority as before");
        // Still usual and not dangerous: a warning stays downgraded, a critical alert does not.
        let usual = p.recheck(&subject("warning"), &assessed(0.1, 0.0), five);
        assert_eq!((usual.decision, usual.technical), (Decision::Downgrade, false), "{}", usual.why);
        assert!(usual.why.contains("stays downgraded"), "{}", usual.why);
        let critical = p.recheck(&subject("critical"), &assessed(0.1, 0.0), five);
        assert_eq!(critical.decision, Decision::Keep);
    }

    #[test]
    fn nonsense_thresholds_are_rejected_naming_the_field() {
        assert_eq!(Policy::default().validate(), Ok(()));
        let bad = Policy { escalate_at: 1.5, ..Policy::default() };
        assert_eq!(bad.validate().unwrap_err().field, "escalate_at");
        let bad = Policy { downgrade_below: 0.9, escalate_at: 0.8, ..Policy::default() };
        assert_eq!(bad.validate().unwrap_err().field, "downgrade_below");
        let bad = Policy { reescalate_after: Duration::ZERO, ..Policy::default() };
        assert_eq!(bad.validate().unwrap_err().field, "reescalate_after");
    }

    #[test]
    fn policy_reads_from_yaml_with_defaults_and_rejects_unknown_fields() {
        let p: Policy =
            serde_yaml::from_str("escalate_at: 0.9\nfloor: {critical: keep}\nreescalate_after: 5m\n").unwrap();
        assert_eq!(p.escalate_at, 0.9);
        assert_eq!(p.floor.critical, Decision::Keep);
        assert_eq!(p.floor.warning, Decision::Downgrade);
        assert!(!p.routine_critical, "critical alerts are lowered only on artifact evidence by default");
        let quiet: Policy = serde_yaml::from_str("routine_critical: true\n").unwrap();
        assert!(quiet.routine_critical);
        assert_eq!(p.reescalate_after, Duration::from_secs(300));
        assert!(serde_yaml::from_str::<Policy>("escalate_above: 0.9\n").is_err());
        assert_eq!(serde_json::to_string(&Decision::Downgrade).unwrap(), "\"downgrade\"");
    }
}
