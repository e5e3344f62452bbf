//! Crash safety of the sidecar's durable queue: a `kill -9` at any point loses nothing and
//! duplicates nothing.
//!
//! The parent test re-executes this test binary as a child running the `#[ignore]`d
//! `child_writer` test, which opens the queue and works in a loop, printing one line per
//! acknowledged step. The parent SIGKILLs it at a random point, reopens the queue and checks it
//! against everything the child acknowledged before dying.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use rand::Rng;
use wardwatch::sidecar::queue::{DeliveryState, Enqueued, Item, Queue, QueueConfig};

const DIR_ENV: &str = "WARDWATCH_QUEUE_CRASH_DIR";
const MODE_ENV: &str = "WARDWATCH_QUEUE_CRASH_MODE";
/// Marks the child's protocol lines, wherever libtest's own output puts them.
const TAG: &str = "@@ ";
/// The ids every writer round walks through, in order.
const IDS: usize = 400;
const WRITERS: usize = 4;
const PAGER: &str = "pager";
const MAIL: &str = "mail";

fn id(i: usize) -> String {
    format!("alert-{i:04}")
}

/// Every fifth alert's mail channel gives up instead of delivering.
fn mail_dies(id: &str) -> bool {
    id.trim_start_matches("alert-").parse::<usize>().is_ok_and(|i| i % 5 == 0)
}

fn say(what: &str, id: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{TAG}{what} {id}").unwrap();
    out.flush().unwrap();
}

fn far_future() -> chrono::DateTime<Utc> {
    Utc::now() + TimeDelta::days(3650)
}

// ------------------------------------------------------------------------------------------
// The child
// ------------------------------------------------------------------------------------------

#[test]
#[ignore = "child process of crash_at_any_point_loses_nothing_and_duplicates_nothing"]
fn child_writer() {
    let Ok(dir) = std::env::var(DIR_ENV) else { return };
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (queue, _) = Queue::open(QueueConfig::new(&dir)).await.unwrap();
        match mode.as_str() {
            "deliver" => deliver_all(&queue).await,
            _ => enqueue_all(&queue).await,
        }
    });
    say("done", "-");
}

/// Enqueue `IDS` ids from `WRITERS` concurrent tasks; print `acked`/`dup` after each answer.
async fn enqueue_all(queue: &Queue) {
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let channels = vec![PAGER.to_owned(), MAIL.to_owned()];
                for i in (w..IDS).step_by(WRITERS) {
                    let id = id(i);
                    let payload = serde_json::json!({ "alert": id, "body": "x".repeat(i % 97) });
                    match queue.enqueue(&id, &channels, payload).await.unwrap() {
                        Enqueued::Stored { .. } => say("acked", &id),
                        Enqueued::Duplicate => say("dup", &id),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Work the queue empty: a failed attempt, pager delivered (`half`), then mail delivered
/// (`delivered`) or given up (`dead`).
async fn deliver_all(queue: &Queue) {
    loop {
        let due = queue.due(far_future(), 8).await;
        if due.is_empty() {
            return;
        }
        for item in due {
            let id = item.id.as_str();
            if item.channels[PAGER].state == DeliveryState::Pending {
                queue.mark_retry(id, PAGER, Utc::now(), "503 from pager gateway").await.unwrap();
                queue.mark_delivered(id, PAGER).await.unwrap();
                say("half", id);
            }
            if mail_dies(id) {
                queue.mark_dead(id, MAIL, "550 mailbox unknown").await.unwrap();
                say("dead", id);
            } else {
                queue.mark_delivered(id, MAIL).await.unwrap();
                say("delivered", id);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// The parent
// ------------------------------------------------------------------------------------------

/// What a child printed before it died (or finished).
#[derive(Default)]
struct Transcript {
    lines: Vec<(String, String)>,
    finished: bool,
}

impl Transcript {
    fn ids<'a>(&'a self, what: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines.iter().filter(move |(w, _)| w == what).map(|(_, id)| id.as_str())
    }
}

/// Run the child in `mode`; SIGKILL it shortly after its `kill_after`-th line of kind `count`.
fn run_child(dir: &Path, mode: &str, count: &str, kill_after: usize, rng: &mut impl Rng) -> Transcript {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--ignored"])
        .env(DIR_ENV, dir)
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut transcript = Transcript::default();
    let mut seen = 0;
    let mut killed = false;
    while let Some(line) = lines.next().transpose().unwrap() {
        let Some((what, id)) = line.find(TAG).and_then(|at| line[at + TAG.len()..].split_once(' ')) else { continue };
        transcript.finished |= what == "done";
        seen += usize::from(what == count);
        transcript.lines.push((what.to_owned(), id.to_owned()));
        if seen == kill_after && !killed {
            std::thread::sleep(Duration::from_micros(rng.random_range(0..2000)));
            child.kill().unwrap(); // SIGKILL; lines already in the pipe are still read below
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed || status.success(), "child ({mode}) failed on its own: {status}");
    transcript
}

/// Reopen the queue and return its pending items, checking what must hold after any crash.
async fn reopen_and_check(dir: &Path) -> (Queue, Vec<Item>) {
    let (queue, recovery) = Queue::open(QueueConfig::new(dir)).await.unwrap();
    assert_eq!(recovery.corrupt, 0, "a crash produced a corrupt file");
    assert_eq!(std::fs::read_dir(dir.join("corrupt")).unwrap().count(), 0);
    let pending = queue.due(far_future(), usize::MAX).await;
    assert_eq!(pending.len(), queue.depth());
    assert_eq!(pending.len(), recovery.pending);
    let seqs: HashSet<u64> = pending.iter().map(|i| i.seq).collect();
    assert_eq!(seqs.len(), pending.len(), "two pending items share a seq");
    let ids: HashSet<&str> = pending.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), pending.len(), "two pending items share an id");
    let files = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(files, pending.len(), "item files on disk do not match the recovered items");
    (queue, pending)
}

/// Writer rounds: every acknowledged id is pending exactly once; none is acknowledged twice.
async fn check_after_writer(dir: &Path, run: &Transcript, stored: &mut BTreeSet<String>) {
    for id in run.ids("acked") {
        assert!(stored.insert(id.to_owned()), "{id} was acknowledged as stored twice (duplicate)");
    }
    let (_queue, pending) = reopen_and_check(dir).await;
    let pending: HashSet<&str> = pending.iter().map(|i| i.id.as_str()).collect();
    for id in run.ids("dup") {
        assert!(pending.contains(id), "{id} was reported duplicate but is not stored");
    }
    for id in stored.iter() {
        assert!(pending.contains(id.as_str()), "acknowledged {id} was lost");
    }
}

/// Deliver rounds: every id is pending xor completed; completed ones stay duplicates.
async fn check_after_deliver(dir: &Path, runs: &[Transcript], stored: &BTreeSet<String>) {
    let (queue, pending) = reopen_and_check(dir).await;
    let by_id: std::collections::HashMap<&str, &Item> = pending.iter().map(|i| (i.id.as_str(), i)).collect();
    let printed = |what: &'static str| runs.iter().flat_map(move |r| r.ids(what)).collect::<HashSet<&str>>();
    let (half, done, dead) = (printed("half"), printed("delivered"), printed("dead"));
    for id in done.iter().chain(&dead) {
        assert!(!by_id.contains_key(id), "{id} was reported completed but is still pending");
    }
    for id in &half {
        if let Some(item) = by_id.get(id) {
            assert_eq!(item.channels[PAGER].state, DeliveryState::Delivered, "{id}: delivered pager is due again");
        }
    }
    let dead_letters: HashSet<String> = queue.dead_letters().await.into_iter().map(|i| i.id).collect();
    for id in &dead {
        assert!(dead_letters.contains(*id), "{id} was reported dead but is not in dead letters");
    }
    for id in stored {
        let again = queue.enqueue(id, &[PAGER.to_owned()], serde_json::json!(null)).await.unwrap();
        assert_eq!(again, Enqueued::Duplicate, "{id}: neither pending nor remembered as completed");
    }
    assert_eq!(queue.depth(), pending.len(), "a duplicate check stored something");
}

#[test]
fn crash_at_any_point_loses_nothing_and_duplicates_nothing() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::rng();
    let mut stored = BTreeSet::new();
    for _ in 0..6 {
        let run = run_child(dir, "enqueue", "acked", rng.random_range(1..=60), &mut rng);
        rt.block_on(check_after_writer(dir, &run, &mut stored));
    }
    assert!(!stored.is_empty());
    let mut runs = Vec::new();
    for _ in 0..4 {
        runs.push(run_child(dir, "deliver", "half", rng.random_range(1..=30), &mut rng));
        rt.block_on(check_after_deliver(dir, &runs, &stored));
    }
    runs.push(run_child(dir, "deliver", "half", usize::MAX, &mut rng));
    assert!(runs.last().unwrap().finished);
    rt.block_on(check_after_deliver(dir, &runs, &stored));
    let (queue, _) = rt.block_on(reopen_and_check(dir));
    assert_eq!(queue.depth(), 0, "a full delivery run left items behind");
    drop(queue);
    assert!(started.elapsed() < Duration::from_secs(60), "crash test took {:?}", started.elapsed());
}
