//! The queue's unit tests: one process, its own directory per test.

use super::io::{CORRUPT_DIR, SEEN_DIR, TMP_DIR};
use super::record::{ITEM_EXT, MAX_ERROR_LEN};
use super::*;
use chrono::TimeDelta;
use serde_json::json;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

fn config(dir: &Path) -> QueueConfig {
    QueueConfig { fsync: false, ..QueueConfig::new(dir) }
}

fn channels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn open(dir: &Path) -> (Queue, Recovery) {
    Queue::open(config(dir)).await.unwrap()
}

fn item_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(ITEM_EXT))
        .collect();
    names.sort();
    names
}

fn far_future() -> DateTime<Utc> {
    Utc::now() + TimeDelta::days(365)
}

#[tokio::test]
async fn enqueue_then_deliver_removes_the_file_and_empties_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    let stored = q.enqueue("a1", &channels(&["pager"]), json!({"alert": 1})).await.unwrap();
    assert!(matches!(stored, Enqueued::Stored { .. }));
    assert_eq!(item_files(tmp.path()).len(), 1);
    let due = q.due(Utc::now(), 10).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payload.value(), json!({"alert": 1}));
    q.mark_delivered("a1", "pager").await.unwrap();
    assert!(item_files(tmp.path()).is_empty());
    assert_eq!(q.depth(), 0);
    assert!(q.due(far_future(), 10).await.is_empty());
    assert!(q.dead_letters().await.is_empty());
}

#[tokio::test]
async fn file_is_checksummed_json_envelope() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager"]), json!([1, 2])).await.unwrap();
    let name = item_files(tmp.path()).remove(0);
    assert_eq!(name, "00000000000000000001-a1.json");
    let text = fs::read_to_string(tmp.path().join(&name)).unwrap();
    let (json, crc) = text.trim_end().split_once('\n').unwrap();
    assert_eq!(crc, format!("crc32:{:08x}", crc32fast::hash(json.as_bytes())));
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["v"], 1);
    assert_eq!(v["channels"]["pager"]["state"], "pending");
    assert_eq!(v["payload"], json!([1, 2]));
}

#[tokio::test]
async fn duplicate_id_is_reported_and_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
    let again = q.enqueue("a1", &channels(&["pager"]), json!(2)).await.unwrap();
    assert_eq!(again, Enqueued::Duplicate);
    assert_eq!(item_files(tmp.path()).len(), 1);
    assert_eq!(q.due(Utc::now(), 10).await[0].payload.value(), json!(1));
}

#[tokio::test]
async fn pending_duplicate_is_still_detected_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
    drop(q);
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!(recovery, Recovery { pending: 1, removed_tmp: 0, corrupt: 0 });
    assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
    assert_eq!(item_files(tmp.path()).len(), 1);
}

#[tokio::test]
async fn delivered_id_is_still_duplicate_after_reopen_within_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
    q.mark_delivered("a1", "pager").await.unwrap();
    drop(q);
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!(recovery.pending, 0);
    assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
    assert!(item_files(tmp.path()).is_empty());
}

#[tokio::test]
async fn seen_ids_are_forgotten_after_the_retention_window() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = QueueConfig { seen_retention: Duration::ZERO, ..config(tmp.path()) };
    let (q, _) = Queue::open(cfg.clone()).await.unwrap();
    q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
    q.mark_delivered("a1", "pager").await.unwrap();
    assert!(tmp.path().join(SEEN_DIR).join("a1").exists());
    drop(q);
    let (q, _) = Queue::open(cfg).await.unwrap();
    assert!(!tmp.path().join(SEEN_DIR).join("a1").exists(), "expired marker pruned at open");
    assert!(matches!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Stored { .. }));
}

#[tokio::test]
async fn retry_sets_next_attempt_and_due_respects_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
    let now = Utc::now();
    let later = now + TimeDelta::minutes(5);
    q.mark_retry("a1", "pager", later, "connection refused").await.unwrap();
    assert!(q.due(now, 10).await.is_empty());
    let due = q.due(later, 10).await;
    let pager = &due[0].channels["pager"];
    assert_eq!((pager.attempts, pager.next_attempt_at), (1, Some(later)));
    assert_eq!(pager.last_error.as_deref(), Some("connection refused"));
    drop(q);
    let (q, _) = open(tmp.path()).await;
    assert!(q.due(now, 10).await.is_empty(), "retry time survives reopen");
    assert_eq!(q.due(later, 10).await.len(), 1);
}

#[tokio::test]
async fn all_channels_dead_moves_the_item_to_dead_letters_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager", "mail"]), json!(1)).await.unwrap();
    q.mark_dead("a1", "pager", "404 no such pager").await.unwrap();
    assert_eq!(q.depth(), 1);
    q.mark_dead("a1", "mail", "mailbox unknown").await.unwrap();
    assert_eq!(q.depth(), 0);
    assert!(item_files(tmp.path()).is_empty());
    let dead = q.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].channels["pager"].last_error.as_deref(), Some("404 no such pager"));
    assert_eq!(dead[0].channels["mail"].state, DeliveryState::Dead);
    assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
}

#[tokio::test]
async fn partial_delivery_survives_reopen_without_redelivering_the_done_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["pager", "mail"]), json!(1)).await.unwrap();
    q.mark_delivered("a1", "pager").await.unwrap();
    drop(q);
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!(recovery.pending, 1);
    let due = q.due(Utc::now(), 10).await;
    assert_eq!(due[0].channels["pager"].state, DeliveryState::Delivered);
    assert_eq!(due[0].channels["mail"].state, DeliveryState::Pending);
    q.mark_delivered("a1", "pager").await.unwrap(); // idempotent: still delivered
    q.mark_delivered("a1", "mail").await.unwrap();
    assert_eq!(q.depth(), 0);
    assert!(q.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_reroute_replaces_gone_channels_durably_and_keeps_the_note() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["slack", "email"]), json!(1)).await.unwrap();
    q.mark_delivered("a1", "email").await.unwrap();
    let note = "Re-routed to file: slack is no longer configured.";
    let item = q.reroute("a1", vec!["slack".into()], vec!["file".into(), "email".into()], note).await.unwrap();
    assert_eq!(item.channels["slack"].state, DeliveryState::Rerouted);
    assert_eq!(item.channels["email"].state, DeliveryState::Delivered, "a channel already on the item stays");
    assert_eq!(item.channels["file"].state, DeliveryState::Pending);
    drop(q);
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!(recovery.pending, 1);
    let due = q.due(Utc::now(), 10).await;
    assert_eq!(due[0].notes, [note]);
    assert_eq!(due[0].channels["slack"].last_error.as_deref(), Some(note));
    q.mark_delivered("a1", "file").await.unwrap();
    assert_eq!(q.depth(), 0, "rerouted is final: the item is done");
    assert!(q.dead_letters().await.is_empty(), "and not a dead letter");
}

#[tokio::test]
async fn a_recorded_verdict_holds_and_skips_channels_durably() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["slack", "email", "file"]), json!(1)).await.unwrap();
    let until = Utc::now() + TimeDelta::minutes(2);
    q.record_verdict("a1", json!({"decision": "downgrade"}), vec![("email".into(), until)], vec!["file".into()], "r")
        .await
        .unwrap();
    drop(q);
    let (q, _) = open(tmp.path()).await;
    let due = q.due(Utc::now(), 10).await;
    assert_eq!(due[0].verdict, Some(json!({"decision": "downgrade"})));
    assert_eq!(due[0].channels["file"].state, DeliveryState::Skipped);
    assert_eq!(due[0].channels["email"].next_attempt_at, Some(until), "held until re-escalation");
    assert!(due[0].channels["slack"].is_due(Utc::now()));
    q.mark_delivered("a1", "slack").await.unwrap();
    assert!(q.due(Utc::now(), 10).await.is_empty(), "only the held channel is left, not yet due");
    q.record_verdict("a1", json!({"decision": "downgrade"}), vec![], vec!["email".into()], "ended").await.unwrap();
    assert_eq!(q.depth(), 0, "skipped and delivered channels complete the item");
    assert!(q.dead_letters().await.is_empty());
}

#[tokio::test]
async fn full_when_over_max_items() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = Queue::open(QueueConfig { max_items: 2, ..config(tmp.path()) }).await.unwrap();
    q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
    q.enqueue("a2", &channels(&["c"]), json!(1)).await.unwrap();
    let err = q.enqueue("a3", &channels(&["c"]), json!(1)).await.unwrap_err();
    assert!(matches!(err, QueueError::Full { items: 2, max_items: 2, .. }), "{err}");
    assert_eq!(q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
    q.mark_delivered("a1", "c").await.unwrap();
    assert!(matches!(q.enqueue("a3", &channels(&["c"]), json!(1)).await.unwrap(), Enqueued::Stored { .. }));
}

#[tokio::test]
async fn full_when_over_max_bytes_and_too_large_when_over_the_whole_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = Queue::open(QueueConfig { max_bytes: 1000, ..config(tmp.path()) }).await.unwrap();
    let blob = json!("x".repeat(300));
    q.enqueue("a1", &channels(&["c"]), blob.clone()).await.unwrap();
    q.enqueue("a2", &channels(&["c"]), blob.clone()).await.unwrap();
    let err = q.enqueue("a3", &channels(&["c"]), blob.clone()).await.unwrap_err();
    assert!(matches!(err, QueueError::Full { items: 2, .. }), "{err}");
    let err = q.enqueue("a4", &channels(&["c"]), json!("x".repeat(2000))).await.unwrap_err();
    assert!(matches!(err, QueueError::TooLarge { .. }), "{err}");
    assert_eq!(item_files(tmp.path()).len(), 2);
    assert_eq!(q.depth(), 2);
}

#[tokio::test]
async fn corrupt_files_are_quarantined_on_open_and_the_rest_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    for id in ["a1", "a2", "a3"] {
        q.enqueue(id, &channels(&["c"]), json!({"id": id})).await.unwrap();
    }
    drop(q);
    let files = item_files(tmp.path());
    let torn = tmp.path().join(&files[0]);
    let len = fs::metadata(&torn).unwrap().len();
    OpenOptions::new().write(true).open(&torn).unwrap().set_len(len / 2).unwrap();
    let flipped = tmp.path().join(&files[1]);
    let mut bytes = fs::read(&flipped).unwrap();
    bytes[10] ^= 0x01;
    fs::write(&flipped, bytes).unwrap();
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!(recovery, Recovery { pending: 1, removed_tmp: 0, corrupt: 2 });
    assert_eq!(item_files(tmp.path()), vec![files[2].clone()]);
    assert_eq!(fs::read_dir(tmp.path().join(CORRUPT_DIR)).unwrap().count(), 2);
    assert_eq!(q.due(Utc::now(), 10).await[0].id, "a3");
    let stored = q.enqueue("a4", &channels(&["c"]), json!(1)).await.unwrap();
    assert_eq!(stored, Enqueued::Stored { seq: 4 }, "seq continues past quarantined files");
}

#[tokio::test]
async fn leftover_tmp_files_are_removed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
    drop(q);
    fs::write(tmp.path().join(TMP_DIR).join("00000000000000000002-a2.json.tmp"), b"{\"v\":1,").unwrap();
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!(recovery, Recovery { pending: 1, removed_tmp: 1, corrupt: 0 });
    assert_eq!(fs::read_dir(tmp.path().join(TMP_DIR)).unwrap().count(), 0);
    assert_eq!(q.depth(), 1);
}

#[tokio::test]
async fn seq_continues_after_reopen_even_when_the_queue_drained() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
    q.enqueue("a2", &channels(&["c"]), json!(1)).await.unwrap();
    q.mark_delivered("a2", "c").await.unwrap();
    q.mark_delivered("a1", "c").await.unwrap();
    drop(q);
    let (q, _) = open(tmp.path()).await;
    assert_eq!(q.enqueue("a3", &channels(&["c"]), json!(1)).await.unwrap(), Enqueued::Stored { seq: 3 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_are_all_stored_with_distinct_seqs() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let q = q.clone();
            tokio::spawn(async move { q.enqueue(&format!("a{i}"), &channels(&["c"]), json!(i)).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Enqueued::Stored { seq } => seqs.push(seq),
            Enqueued::Duplicate => panic!("distinct ids reported as duplicate"),
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 100);
    assert_eq!(q.depth(), 100);
    assert_eq!(item_files(tmp.path()).len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_of_one_id_store_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move { q.enqueue("same", &channels(&["c"]), json!(1)).await.unwrap() })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        stored += usize::from(matches!(task.await.unwrap(), Enqueued::Stored { .. }));
    }
    assert_eq!(stored, 1);
    assert_eq!(item_files(tmp.path()).len(), 1);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    let err = Queue::open(config(tmp.path())).await.unwrap_err();
    assert!(matches!(err, QueueError::Locked { .. }), "{err}");
    drop(q);
    open(tmp.path()).await;
}

#[tokio::test]
async fn ids_and_channels_that_are_unsafe_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    for id in ["", "../etc", ".hidden", "a/b", "a b", &"x".repeat(201)] {
        let err = q.enqueue(id, &channels(&["c"]), json!(1)).await.unwrap_err();
        assert!(matches!(err, QueueError::InvalidId { .. }), "{id}: {err}");
    }
    assert!(matches!(q.enqueue("a1", &[], json!(1)).await, Err(QueueError::NoChannels { .. })));
    assert!(matches!(q.enqueue("a1", &channels(&[""]), json!(1)).await, Err(QueueError::NoChannels { .. })));
    assert_eq!(q.depth(), 0);
}

#[tokio::test]
async fn marking_an_unknown_id_or_channel_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
    assert!(matches!(q.mark_delivered("nope", "c").await, Err(QueueError::NotFound { .. })));
    assert!(matches!(q.mark_dead("a1", "other", "x").await, Err(QueueError::UnknownChannel { .. })));
    assert_eq!(q.depth(), 1);
}

#[tokio::test]
async fn age_and_writability_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    assert_eq!(q.oldest_pending_age(Utc::now()), None);
    q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
    let age = q.oldest_pending_age(Utc::now() + TimeDelta::seconds(30)).unwrap();
    assert!(age >= Duration::from_secs(29) && age <= Duration::from_secs(31), "{age:?}");
    assert!(q.writable().await);
    assert_eq!(fs::read_dir(tmp.path().join(TMP_DIR)).unwrap().count(), 0);
}

#[test]
fn long_errors_are_truncated_on_a_char_boundary() {
    let long = "é".repeat(MAX_ERROR_LEN);
    let short = truncate_error(&long);
    assert!(short.len() <= MAX_ERROR_LEN + "…".len());
    assert!(short.ends_with('…'));
}

/// The real file system, except that the operations armed fail as a full disk does.
#[derive(Default)]
struct Faulty {
    armed: Mutex<HashSet<&'static str>>,
}

impl Faulty {
    fn arm(&self, op: &'static str) {
        self.armed.lock().unwrap().insert(op);
    }

    fn disarm(&self) {
        self.armed.lock().unwrap().clear();
    }

    fn check(&self, op: &'static str) -> stdio::Result<()> {
        match self.armed.lock().unwrap().contains(op) {
            true => Err(stdio::Error::from_raw_os_error(28)), // ENOSPC
            false => Ok(()),
        }
    }
}

impl Io for Faulty {
    fn write_file(&self, path: &Path, bytes: &[u8], sync: bool) -> stdio::Result<()> {
        self.check("write_file").and_then(|()| StdIo.write_file(path, bytes, sync))
    }
    fn rename(&self, from: &Path, to: &Path) -> stdio::Result<()> {
        self.check("rename").and_then(|()| StdIo.rename(from, to))
    }
    fn remove_file(&self, path: &Path) -> stdio::Result<()> {
        self.check("remove_file").and_then(|()| StdIo.remove_file(path))
    }
    fn sync_dir(&self, dir: &Path) -> stdio::Result<()> {
        self.check("sync_dir").and_then(|()| StdIo.sync_dir(dir))
    }
    fn create_dir_all(&self, dir: &Path) -> stdio::Result<()> {
        StdIo.create_dir_all(dir)
    }
    fn list_files(&self, dir: &Path) -> stdio::Result<Vec<OsString>> {
        StdIo.list_files(dir)
    }
    fn read(&self, path: &Path) -> stdio::Result<Vec<u8>> {
        StdIo.read(path)
    }
    fn modified(&self, path: &Path) -> stdio::Result<SystemTime> {
        StdIo.modified(path)
    }
    fn exists(&self, path: &Path) -> bool {
        StdIo.exists(path)
    }
}

async fn open_faulty(dir: &Path, fsync: bool) -> (Queue, Arc<Faulty>) {
    let faulty = Arc::new(Faulty::default());
    let (q, _) = Queue::open_with(QueueConfig { fsync, ..QueueConfig::new(dir) }, faulty.clone()).await.unwrap();
    (q, faulty)
}

#[tokio::test]
async fn an_enqueue_whose_write_fails_stores_nothing_and_the_same_alert_is_stored_when_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, faulty) = open_faulty(tmp.path(), false).await;
    for op in ["write_file", "rename"] {
        faulty.arm(op);
        let failed = q.enqueue("a1", &channels(&["pager"]), json!({"n": 1})).await;
        assert!(matches!(failed, Err(QueueError::Io { .. })), "{op}: {failed:?}");
        assert_eq!((q.depth(), item_files(tmp.path()).len()), (0, 0), "{op}: nothing pending, nothing on disk");
        assert_eq!(fs::read_dir(tmp.path().join(TMP_DIR)).unwrap().count(), 0, "{op}: no temporary file left");
        faulty.disarm();
    }
    assert!(matches!(q.enqueue("a1", &channels(&["pager"]), json!({"n": 1})).await, Ok(Enqueued::Stored { .. })));
    drop(q);
    let (q, recovery) = open(tmp.path()).await;
    assert_eq!((recovery.pending, q.depth()), (1, 1));
}

#[tokio::test]
async fn an_enqueue_whose_directory_sync_fails_takes_its_file_back_and_answers_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, faulty) = open_faulty(tmp.path(), true).await;
    faulty.arm("sync_dir");
    let failed = q.enqueue("a1", &channels(&["pager"]), json!({"n": 1})).await;
    assert!(matches!(failed, Err(QueueError::Io { op: "fsync directory", .. })), "{failed:?}");
    assert_eq!(item_files(tmp.path()), Vec::<String>::new(), "the renamed file is removed again");
    assert_eq!(q.depth(), 0, "the index shows what is on disk: nothing");
    faulty.disarm();
    assert!(matches!(q.enqueue("a1", &channels(&["pager"]), json!({"n": 1})).await, Ok(Enqueued::Stored { .. })));
    q.mark_delivered("a1", "pager").await.unwrap();
    assert_eq!((q.depth(), item_files(tmp.path()).len()), (0, 0));
}

#[tokio::test]
async fn an_outcome_that_cannot_be_written_leaves_the_item_as_it_was_until_it_can() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, faulty) = open_faulty(tmp.path(), false).await;
    q.enqueue("a1", &channels(&["pager", "mail"]), json!({"n": 1})).await.unwrap();
    faulty.arm("rename");
    assert!(matches!(q.mark_delivered("a1", "pager").await, Err(QueueError::Io { .. })));
    assert!(matches!(q.mark_dead("a1", "mail", "refused").await, Err(QueueError::Io { .. })));
    let due = q.due(Utc::now(), 10).await;
    assert_eq!(due.len(), 1, "still pending");
    assert!(due[0].channels.values().all(|c| c.state == DeliveryState::Pending && c.attempts == 0), "{due:?}");
    faulty.disarm();
    q.mark_delivered("a1", "pager").await.unwrap();
    faulty.arm("write_file");
    assert!(matches!(q.mark_dead("a1", "mail", "refused").await, Err(QueueError::Io { .. })), "no dead/ copy, no end");
    assert_eq!(q.depth(), 1, "a dead letter leaves the queue only once its copy is written");
    faulty.disarm();
    q.mark_dead("a1", "mail", "refused").await.unwrap();
    assert_eq!(q.depth(), 0);
    let dead = q.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].channels["pager"].state, DeliveryState::Delivered, "the delivered channel stays delivered");
    drop(q);
    let (q, _) = open(tmp.path()).await;
    assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!({"n": 1})).await.unwrap(), Enqueued::Duplicate);
}

#[tokio::test]
async fn escalation_steps_are_stored_with_the_item_pending_from_their_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    let steps =
        [(Duration::from_secs(120), channels(&["email-b"])), (Duration::from_secs(300), channels(&["slack-c"]))];
    let plan = Plan { channels: &channels(&["email"]), escalation: &steps, priority: 0 };
    q.enqueue_planned("e1", &plan, json!(1)).await.unwrap();
    drop(q);
    let (q, _) = open(tmp.path()).await;
    let item = q.lookup("e1").await.expect("pending after a reopen");
    assert_eq!(item.escalation.len(), 2);
    let second = &item.escalation[1];
    assert_eq!((second.step, second.after_ms, second.channels.clone()), (2, 300_000, channels(&["slack-c"])));
    assert_eq!(second.due_at, item.enqueued_at + TimeDelta::seconds(300));
    assert_eq!(item.channels["email"].next_attempt_at, None, "the route's channel is due at once");
    assert_eq!(item.channels["email-b"].next_attempt_at, Some(item.enqueued_at + TimeDelta::seconds(120)));
    assert!(item.is_due(Utc::now()) && !item.channels["slack-c"].is_due(Utc::now()));
    assert_eq!(item.escalation_of("slack-c").map(|e| e.step), Some(2));
    assert_eq!(item.escalation_of("email"), None);

    let skipped = q.reschedule("e1", vec![], channels(&["email-b"]), "acknowledged by Sam").await.unwrap();
    assert_eq!(skipped.channels["email-b"].state, DeliveryState::Skipped);
    assert_eq!(skipped.channels["email-b"].last_error.as_deref(), Some("acknowledged by Sam"));
}

#[tokio::test]
async fn a_delivered_item_is_looked_up_as_delivered_on_every_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    q.enqueue("d1", &channels(&["email", "file"]), json!(1)).await.unwrap();
    q.mark_delivered("d1", "file").await.unwrap();
    q.mark_delivered("d1", "email").await.unwrap();
    assert_eq!(q.depth(), 0, "retired");
    let item = q.lookup("d1").await.expect("remembered within seen_retention");
    assert!(item.channels.values().all(|c| c.state == DeliveryState::Delivered), "{:?}", item.channels);
}

#[tokio::test]
async fn the_most_urgent_due_item_goes_first_then_the_oldest() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = open(tmp.path()).await;
    let file = channels(&["file"]);
    for (id, priority) in [("w1", 1), ("w2", 1), ("r1", 3), ("c1", 0), ("w3", 1)] {
        q.enqueue_planned(id, &Plan { channels: &file, escalation: &[], priority }, json!(id)).await.unwrap();
    }
    let order = |items: Vec<Item>| items.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(order(q.due(Utc::now(), 3).await), ["c1", "w1", "w2"], "the critical alert first, then by age");
    assert_eq!(order(q.due_except(Utc::now(), 10, |item| item.id == "c1").await), ["w1", "w2", "w3", "r1"]);
    drop(q);
    let (q, _) = open(tmp.path()).await;
    assert_eq!(q.lookup("c1").await.unwrap().priority, 0, "kept across a restart");
}
