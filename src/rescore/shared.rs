//! One history fetch shared by the alerts of an entity: [`SharedHistory`] wraps a
//! [`HistorySource`] so that, in an alert storm, the alerts of one patient, device or node with
//! nearby `startsAt` are scored on one fetch instead of one each, and so that no more than a
//! bounded number of fetches run at once.
//!
//! A window is exact whichever fetch it is cut from. Prometheus evaluates a range query at
//! `start`, `start + step`, … and each of those points as an instant query of its own, so a
//! longer range on the same grid holds every point of a shorter one, unchanged. Requests share
//! a fetch only when they ask for the same entity, the same queries and the same step on the
//! same grid (their start times equal modulo the step — the alerts of one rule group are, since
//! Prometheus evaluates a group at a fixed phase of its interval). Each request's window is cut
//! from the shared series and put together by [`assemble`](super::history::assemble), as a fetch of its own would be.
//!
//! How requests come to share:
//! - **in flight**: a request joins a fetch still waiting for its turn (one of `concurrency`
//!   permits), widening it, or one already running whose range covers it;
//! - **recently fetched**: a fetch reaches `within` before the earliest window it serves and
//!   `within` past the latest (never past `settle` before now, so only complete data is kept),
//!   and its series are kept for `keep_for`, so the next alerts of the entity are served from
//!   memory. At most `max_points` samples are kept; the oldest fetch goes first.
//!
//! Nothing here changes what an alert is scored on, nor the rescoring's budget: waiting for a
//! shared fetch counts against the alert's budget like its own fetch would, and a failed fetch
//! fails every request that waited for it (each alert then goes out unscored, saying why). A
//! fetch runs in a task of its own, so an alert that gives up waiting does not cancel it for the
//! others. A request for an instant (`lookback` zero: "is it still firing?") is never shared.

use super::history::{FetchError, FetchSeries, Fetched, HistoryRequest, HistorySource};
use super::window::Series;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// Points per series Prometheus answers a range query with at most.
const PROMETHEUS_MAX_POINTS: i64 = 11_000;

/// How fetches are shared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sharing {
    /// Fetches running at once, at most.
    pub concurrency: usize,
    /// How far before the earliest and after the latest window a fetch reaches, so alerts of
    /// the entity that start that much earlier or later are served by it.
    pub within: Duration,
    /// A fetch never reaches later than this before now: newer samples may still be arriving.
    pub settle: Duration,
    /// How long a fetch's series are kept to serve later requests.
    pub keep_for: Duration,
    /// Samples kept in all, at most.
    pub max_points: usize,
}

impl Default for Sharing {
    fn default() -> Self {
        Self {
            concurrency: 4,
            within: Duration::from_secs(600),
            settle: Duration::from_secs(30),
            keep_for: Duration::from_secs(60),
            max_points: 4_000_000,
        }
    }
}

/// Counts of what the shared source did since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SharingStats {
    /// Windows asked for.
    pub requests: u64,
    /// Fetches sent to the wrapped source (each of one or more queries).
    pub fetches: u64,
    /// Queries those fetches made (one per signal group).
    pub queries: u64,
    /// Windows served by a fetch made for another request.
    pub shared: u64,
}

/// A fetch's outcome, shared by every request it serves.
type Outcome = Option<Result<Arc<Vec<Fetched>>, FetchError>>;

/// What requests share: the entity, its queries, the step and the grid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    entity: String,
    queries: String,
    step_ms: i64,
    phase_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a permit; requests may still widen it.
    Open,
    /// Fetching `start_ms..=end_ms`.
    Running,
    /// Fetched; its series serve requests until `expires`.
    Done { expires: Instant },
}

struct Entry {
    id: u64,
    /// The range asked for while open; the range fetched once running.
    start_ms: i64,
    end_ms: i64,
    state: State,
    points: usize,
    outcome: watch::Receiver<Outcome>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<Key, Vec<Entry>>,
    points: usize,
    next_id: u64,
}

/// A [`HistorySource`] whose fetches are shared by nearby requests and bounded in number; see
/// the module's documentation.
pub struct SharedHistory {
    inner: Arc<dyn HistorySource>,
    sharing: Sharing,
    permits: Arc<Semaphore>,
    entries: Arc<Mutex<Entries>>,
    counts: Arc<Counts>,
    /// Now, in Unix milliseconds (a parameter so tests can fix it).
    now_ms: fn() -> i64,
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    fetches: AtomicU64,
    queries: AtomicU64,
    shared: AtomicU64,
}

fn wall_clock_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SharedHistory {
    /// Share the fetches of `inner` as `sharing` says.
    pub fn new(inner: Arc<dyn HistorySource>, sharing: Sharing) -> Self {
        Self::with_clock(inner, sharing, wall_clock_ms)
    }

    /// Like [`SharedHistory::new`], with `now_ms` telling the time (Unix milliseconds).
    pub fn with_clock(inner: Arc<dyn HistorySource>, sharing: Sharing, now_ms: fn() -> i64) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(sharing.concurrency.max(1))),
            sharing,
            entries: Arc::default(),
            counts: Arc::default(),
            now_ms,
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> SharingStats {
        let c = &self.counts;
        SharingStats {
            requests: c.requests.load(Ordering::Relaxed),
            fetches: c.fetches.load(Ordering::Relaxed),
            queries: c.queries.load(Ordering::Relaxed),
            shared: c.shared.load(Ordering::Relaxed),
        }
    }

    /// The key of a request that may share, or `None` for one fetched on its own.
    fn key(request: &HistoryRequest) -> Option<Key> {
        let step_ms = request.step_ms();
        let lookback_ms = request.lookback.as_millis() as i64;
        if lookback_ms == 0 || lookback_ms % step_ms != 0 || lookback_ms / step_ms >= PROMETHEUS_MAX_POINTS {
            return None;
        }
        let queries = request.groups.iter().map(|g| format!("{}\u{1f}{:?}", g.query, g.naming)).collect::<Vec<_>>();
        Some(Key {
            entity: request.entity.clone(),
            queries: queries.join("\u{1e}"),
            step_ms,
            phase_ms: request.start_ms().rem_euclid(step_ms),
        })
    }

    /// A receiver of the outcome of a fetch covering `start..=end`: one kept, one running or
    /// open (widened to it), or a new one.
    fn join(&self, key: &Key, request: &HistoryRequest) -> (watch::Receiver<Outcome>, bool) {
        let (start, end) = (request.start_ms(), request.end_ms);
        let widest = (PROMETHEUS_MAX_POINTS - 1) * key.step_ms;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        entries.expire(now);
        let list = entries.by_key.entry(key.clone()).or_default();
        for e in list.iter_mut() {
            let covers = e.start_ms <= start && end <= e.end_ms;
            match e.state {
                State::Running | State::Done { .. } if covers => return (e.outcome.clone(), true),
                State::Open if e.end_ms.max(end) - e.start_ms.min(start) <= widest => {
                    e.start_ms = e.start_ms.min(start);
                    e.end_ms = e.end_ms.max(end);
                    return (e.outcome.clone(), true);
                }
                _ => {}
            }
        }
        let (tx, rx) = watch::channel(None);
        entries.next_id += 1;
        let id = entries.next_id;
        let entry = Entry { id, start_ms: start, end_ms: end, state: State::Open, points: 0, outcome: rx.clone() };
        entries.by_key.entry(key.clone()).or_default().push(entry);
        drop(entries);
        self.spawn_fetch(key.clone(), id, request.clone(), tx);
        (rx, false)
    }

    /// Run the fetch of entry `id` when a permit is free, over the range asked for by then,
    /// widened by `within` on both sides; keep its series and tell every waiting request.
    fn spawn_fetch(&self, key: Key, id: u64, template: HistoryRequest, tx: watch::Sender<Outcome>) {
        let (inner, permits, entries, counts) =
            (self.inner.clone(), self.permits.clone(), self.entries.clone(), self.counts.clone());
        let (sharing, now_ms) = (self.sharing, self.now_ms);
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else { return };
            let widened = |start, end| widen(start, end, key.step_ms, &sharing, now_ms());
            let Some((start, end)) = entries.lock().unwrap_or_else(|p| p.into_inner()).start(&key, id, widened) else {
                return;
            };
            let end_time = Duration::from_millis((end - start) as u64);
            let request = HistoryRequest { end_ms: end, lookback: end_time, ..template };
            counts.fetches.fetch_add(1, Ordering::Relaxed);
            counts.queries.fetch_add(request.groups.len() as u64, Ordering::Relaxed);
            // A panic in the wrapped source fails this fetch's requests, as it would fail one.
            let fetched = std::panic::AssertUnwindSafe(inner.fetch_series(&request));
            let result = match futures_util::FutureExt::catch_unwind(fetched).await {
                Ok(result) => result,
                Err(_) => Err(FetchError::Failed("the history source panicked".into())),
            };
            let result = result.map(Arc::new);
            let mut all = entries.lock().unwrap_or_else(|p| p.into_inner());
            match &result {
                Ok(series) => {
                    let points = series.iter().map(|f| f.series.len()).sum();
                    all.finish(&key, id, points, Instant::now() + sharing.keep_for, sharing.max_points);
                }
                Err(_) => all.remove(&key, id),
            }
            drop(all);
            let _ = tx.send(Some(result));
        });
    }
}

/// The range a fetch asks for: `within` before `start` and after `end` on the grid, no later
/// than `settle` before `now_ms` (but never short of `end`), and no more points than
/// Prometheus answers with.
fn widen(start: i64, end: i64, step_ms: i64, sharing: &Sharing, now_ms: i64) -> (i64, i64) {
    let within = (sharing.within.as_millis() as i64 / step_ms) * step_ms;
    let latest = (end + within).min(now_ms - sharing.settle.as_millis() as i64);
    let later = if latest > end { ((latest - end) / step_ms) * step_ms } else { 0 };
    let room = ((PROMETHEUS_MAX_POINTS - 1) * step_ms - (end - start)).max(0);
    let later = later.min(room / 2 / step_ms * step_ms);
    let earlier = within.min(room - later);
    let earlier = (earlier / step_ms) * step_ms;
    (start - earlier, end + later)
}

impl Entries {
    fn find(&mut self, key: &Key, id: u64) -> Option<&mut Entry> {
        self.by_key.get_mut(key)?.iter_mut().find(|e| e.id == id)
    }

    /// Mark entry `id` running over its range as `widen` widens it: no request widens it any
    /// more, and those it covers wait for it. The range, if the entry still exists.
    fn start(&mut self, key: &Key, id: u64, widen: impl FnOnce(i64, i64) -> (i64, i64)) -> Option<(i64, i64)> {
        let e = self.find(key, id)?;
        (e.start_ms, e.end_ms) = widen(e.start_ms, e.end_ms);
        e.state = State::Running;
        Some((e.start_ms, e.end_ms))
    }

    fn finish(&mut self, key: &Key, id: u64, points: usize, expires: Instant, max_points: usize) {
        if let Some(e) = self.find(key, id) {
            e.state = State::Done { expires };
            e.points = points;
            self.points += points;
        }
        while self.points > max_points {
            let oldest = self
                .by_key
                .iter()
                .flat_map(|(k, list)| list.iter().map(move |e| (k, e)))
                .filter_map(|(k, e)| match e.state {
                    State::Done { expires } => Some((expires, k.clone(), e.id)),
                    _ => None,
                })
                .min_by_key(|(expires, _, id)| (*expires, *id));
            let Some((_, k, id)) = oldest else { break };
            self.remove(&k, id);
        }
    }

    fn remove(&mut self, key: &Key, id: u64) {
        let Some(list) = self.by_key.get_mut(key) else { return };
        if let Some(i) = list.iter().position(|e| e.id == id) {
            let e = list.swap_remove(i);
            self.points -= e.points;
        }
        if list.is_empty() {
            self.by_key.remove(key);
        }
    }

    /// Forget fetches kept past their time.
    fn expire(&mut self, now: Instant) {
        let mut freed = 0;
        self.by_key.retain(|_, list| {
            list.retain(|e| match e.state {
                State::Done { expires } if expires <= now => {
                    freed += e.points;
                    false
                }
                _ => true,
            });
            !list.is_empty()
        });
        self.points -= freed;
    }
}

/// The samples of `series` from `start_ms` to `end_ms`, both included: a window's share of a
/// longer fetch on the same grid.
pub fn cut(series: &Series, start_ms: i64, end_ms: i64) -> Series {
    let from = series.times_ms.partition_point(|&t| t < start_ms);
    let to = series.times_ms.partition_point(|&t| t <= end_ms);
    Series { times_ms: series.times_ms[from..to].to_vec(), values: series.values[from..to].to_vec() }
}

impl HistorySource for SharedHistory {
    fn fetch_series<'a>(&'a self, request: &'a HistoryRequest) -> FetchSeries<'a> {
        Box::pin(async move {
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            let Some(key) = Self::key(request) else {
                let _permit = self.permits.acquire().await.map_err(|e| FetchError::Failed(e.to_string()))?;
                self.counts.fetches.fetch_add(1, Ordering::Relaxed);
                self.counts.queries.fetch_add(request.groups.len() as u64, Ordering::Relaxed);
                return self.inner.fetch_series(request).await;
            };
            let (mut outcome, shared) = self.join(&key, request);
            let result = loop {
                if let Some(result) = outcome.borrow_and_update().clone() {
                    break result;
                }
                if outcome.changed().await.is_err() {
                    break Err(FetchError::Failed("the shared history fetch was abandoned".into()));
                }
            };
            if shared {
                self.counts.shared.fetch_add(1, Ordering::Relaxed);
            }
            let series = result?;
            let (start, end) = (request.start_ms(), request.end_ms);
            Ok(series
                .iter()
                .map(|f| Fetched { group: f.group, signal: f.signal.clone(), series: cut(&f.series, start, end) })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::history::{InMemorySource, Naming, SignalGroup};
    use std::sync::atomic::AtomicUsize;

    const STEP: i64 = 5_000;
    /// 2026-12-02 00:00:00 UTC plus an odd phase, as a rule group's evaluation has.
    const T0: i64 = 1_796_169_600_000 + 1_234;

    fn late_clock() -> i64 {
        T0 + 48 * 3_600_000
    }

    /// An in-memory hospital: a day of three patients' SpO2 and heart rate every 5 s (raw
    /// samples at a phase of their own), counting the fetches that reach it.
    struct Counting {
        source: InMemorySource,
        fetches: AtomicUsize,
        delay: Duration,
    }

    impl HistorySource for Counting {
        fn fetch_series<'a>(&'a self, request: &'a HistoryRequest) -> FetchSeries<'a> {
            Box::pin(async move {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                self.source.fetch_series(request).await
            })
        }
    }

    fn hospital(delay: Duration) -> Arc<Counting> {
        let mut source = InMemorySource::new();
        for p in 0..3 {
            for i in 0..(24 * 720) {
                let t = T0 - 24 * 3_600_000 + i * STEP + 777;
                let wobble = ((i * (p + 3)) % 17) as f64;
                source.push(&format!("patient=p{p}"), "spo2", t, 0.9 + wobble / 200.0);
                if i % 3 != 0 {
                    source.push(&format!("patient=p{p}"), "heart_rate", t, 60.0 + wobble);
                }
            }
        }
        Arc::new(Counting { source, fetches: AtomicUsize::new(0), delay })
    }

    fn request(patient: usize, end_ms: i64) -> HistoryRequest {
        HistoryRequest {
            entity: format!("patient=p{patient}"),
            groups: vec![SignalGroup { query: "q".into(), naming: Naming::One("x".into()) }],
            end_ms,
            lookback: Duration::from_secs(7200),
            step: Duration::from_millis(STEP as u64),
        }
    }

    #[tokio::test]
    async fn windows_cut_from_a_shared_fetch_equal_their_own_fetches() {
        let direct = hospital(Duration::ZERO);
        let shared = SharedHistory::with_clock(direct.clone(), Sharing::default(), late_clock);
        let ends: Vec<(usize, i64)> =
            (0..40).map(|i| (i % 3, T0 - (i as i64 * 37 % 100) * STEP - (i as i64 % 2) * 60 * STEP)).collect();
        let windows = futures_util::future::join_all(ends.iter().map(|&(p, end)| {
            let shared = &shared;
            async move { shared.fetch(&request(p, end)).await.unwrap() }
        }))
        .await;
        for ((p, end), window) in ends.iter().zip(&windows) {
            let own = direct.source.window(&request(*p, *end));
            assert_eq!(window, &own, "patient {p}, end {end}");
            assert!(
                window.signal("spo2").is_some_and(|s| s.len() == 1441),
                "{:?}",
                window.signal("spo2").map(|s| s.len())
            );
        }
        let stats = shared.stats();
        let own_fetches = direct.fetches.load(Ordering::SeqCst);
        assert!(own_fetches <= 6, "{own_fetches} fetches for 40 windows of 3 patients");
        assert_eq!(stats.requests, 40);
        assert_eq!(stats.fetches as usize, own_fetches);
        assert_eq!(stats.shared as usize, 40 - own_fetches);
    }

    #[tokio::test]
    async fn a_kept_fetch_serves_the_next_alerts_of_the_entity_from_memory() {
        let direct = hospital(Duration::ZERO);
        let shared = SharedHistory::with_clock(direct.clone(), Sharing::default(), late_clock);
        let first = shared.fetch(&request(1, T0)).await.unwrap();
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 1);
        for k in [1, 30, 119, -119] {
            let end = T0 + k * STEP;
            assert_eq!(shared.fetch(&request(1, end)).await.unwrap(), direct.source.window(&request(1, end)));
        }
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 1, "ten minutes either side come from memory");
        // Further away, on another grid, or another patient: fetched.
        shared.fetch(&request(1, T0 + 121 * STEP)).await.unwrap();
        shared.fetch(&request(1, T0 + 1_000)).await.unwrap();
        shared.fetch(&request(2, T0)).await.unwrap();
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 4);
        assert_eq!(first, direct.source.window(&request(1, T0)));
    }

    #[tokio::test]
    async fn a_fetch_never_reaches_into_samples_that_may_still_arrive() {
        let direct = hospital(Duration::ZERO);
        fn just_after() -> i64 {
            T0 + 40_000
        }
        let shared = SharedHistory::with_clock(direct.clone(), Sharing::default(), just_after);
        shared.fetch(&request(0, T0)).await.unwrap();
        // Settle is 30 s: the fetch reached T0 + 10 s at most, so T0 + 15 s is fetched anew.
        shared.fetch(&request(0, T0 + 2 * STEP)).await.unwrap();
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 1);
        shared.fetch(&request(0, T0 + 3 * STEP)).await.unwrap();
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn fetches_run_no_more_than_the_concurrency_at_once_and_a_failure_fails_its_requests() {
        struct Slow {
            running: AtomicUsize,
            most: AtomicUsize,
        }
        impl HistorySource for Slow {
            fn fetch_series<'a>(&'a self, request: &'a HistoryRequest) -> FetchSeries<'a> {
                Box::pin(async move {
                    let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                    self.most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    self.running.fetch_sub(1, Ordering::SeqCst);
                    if request.entity.ends_with("p7") {
                        return Err(FetchError::Failed("Prometheus answered HTTP 503".into()));
                    }
                    Ok(Vec::new())
                })
            }
        }
        let slow = Arc::new(Slow { running: AtomicUsize::new(0), most: AtomicUsize::new(0) });
        let sharing = Sharing { concurrency: 3, ..Sharing::default() };
        let shared = SharedHistory::with_clock(slow.clone(), sharing, late_clock);
        let results = futures_util::future::join_all((0..24).map(|i| {
            let shared = &shared;
            async move { shared.fetch(&request(i % 12, T0 - (i / 12) as i64 * STEP)).await }
        }))
        .await;
        assert_eq!(slow.most.load(Ordering::SeqCst), 3);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_err(), i % 12 == 7, "request {i}: {r:?}");
        }
        assert_eq!(shared.stats().fetches, 12, "two requests of each patient share one fetch");
    }

    #[tokio::test]
    async fn an_alert_that_gives_up_waiting_does_not_cancel_the_fetch_for_the_others() {
        let direct = hospital(Duration::from_millis(50));
        let shared = Arc::new(SharedHistory::with_clock(direct.clone(), Sharing::default(), late_clock));
        let impatient = tokio::time::timeout(Duration::from_millis(5), shared.fetch(&request(0, T0))).await;
        assert!(impatient.is_err());
        let patient = shared.fetch(&request(0, T0 - STEP)).await.unwrap();
        assert_eq!(patient, direct.source.window(&request(0, T0 - STEP)));
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn kept_samples_are_bounded_and_instants_are_never_shared() {
        let direct = hospital(Duration::ZERO);
        let sharing = Sharing { max_points: 4_000, ..Sharing::default() };
        let shared = SharedHistory::with_clock(direct.clone(), sharing, late_clock);
        for p in 0..3 {
            shared.fetch(&request(p, T0)).await.unwrap();
        }
        let kept = shared.entries.lock().unwrap().points;
        assert!(kept <= 4_000, "{kept}");
        shared.fetch(&request(0, T0)).await.unwrap();
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 4, "the oldest fetch was let go");
        let instant = HistoryRequest { lookback: Duration::ZERO, ..request(2, T0) };
        shared.fetch(&instant).await.unwrap();
        shared.fetch(&instant).await.unwrap();
        assert_eq!(direct.fetches.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn a_fetch_is_widened_on_its_grid_within_what_prometheus_answers() {
        let s = Sharing::default();
        let (start, end) = (T0 - 7_200_000, T0);
        let far_later = T0 + 86_400_000;
        assert_eq!(widen(start, end, STEP, &s, far_later), (start - 600_000, end + 600_000));
        // 30 s of settle before now = T0 + 62 s: the end reaches T0 + 30 s (on the grid).
        assert_eq!(widen(start, end, STEP, &s, T0 + 62_000), (start - 600_000, end + 30_000));
        assert_eq!(widen(start, end, STEP, &s, T0 - 1), (start - 600_000, end));
        // At 1 s, 10,999 points at most.
        let (a, b) = widen(T0 - 10_000_000, T0, 1_000, &s, far_later);
        assert!((b - a) / 1_000 < PROMETHEUS_MAX_POINTS, "{}", (b - a) / 1_000);
        assert_eq!((T0 - a) % 1_000, 0);
    }
}
