//! The question log's writer. Requests hand their entries to one background task, which
//! writes whatever has queued up in one transaction, then lets the next entries gather for
//! a moment ([`GATHER`]) so that a busy service commits (and syncs the disk) a few times a
//! second, not once for every few searches. So logging holds at most one store connection
//! however many searches run at once. Logging never delays a request, and a
//! catalog load never waits behind thousands of single-row inserts for the pool. When the
//! store cannot keep up and the queue is full, new entries are dropped and counted
//! (`descoberta_question_log_dropped_total`), since the log is a report, not a record. When
//! the server stops, [`QuestionLog::flush`] writes what is still queued.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use tokio::sync::{mpsc, oneshot};

use crate::store::{GovernanceStore, QuestionLogEntry};

/// Entries that may wait for the writer.
const QUEUE: usize = 8192;
/// Entries written in one transaction at most.
const BATCH: usize = 1024;
/// How long entries gather after a write before the next one: a logged question shows
/// in reports this much later at most (the first after a quiet spell goes out at once).
/// 1M columns over wrk, 16 clients: a commit for every few searches cost about 7% of the
/// service's CPU.
const GATHER: Duration = Duration::from_millis(100);

/// What the writer is handed: an entry, or a request to say when all before it are written.
enum Item {
    Entry(QuestionLogEntry),
    Flush(oneshot::Sender<()>),
}

pub struct QuestionLog {
    queue: mpsc::Sender<Item>,
    dropped: IntCounter,
}

impl QuestionLog {
    /// Starts the writer over `store` (needs a Tokio runtime).
    pub fn start(store: Arc<dyn GovernanceStore>, dropped: IntCounter) -> QuestionLog {
        QuestionLog::with_writer(QUEUE, BATCH, GATHER, dropped, move |batch| {
            let store = store.clone();
            async move { store.log_questions(&batch).await }
        })
    }

    fn with_writer<W, F>(
        queue: usize,
        batch: usize,
        gather: Duration,
        dropped: IntCounter,
        write: W,
    ) -> QuestionLog
    where
        W: FnMut(Vec<QuestionLogEntry>) -> F + Send + 'static,
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(queue);
        tokio::spawn(write_batches(receiver, batch, gather, write));
        QuestionLog {
            queue: sender,
            dropped,
        }
    }

    /// Waits until every entry queued before this call has been written (or its write has
    /// failed), at most `within`; `false` if that took longer.
    pub async fn flush(&self, within: Duration) -> bool {
        let (done, written) = oneshot::channel();
        let flushed =
            async { self.queue.send(Item::Flush(done)).await.is_ok() && written.await.is_ok() };
        matches!(tokio::time::timeout(within, flushed).await, Ok(true))
    }

    /// Queues an entry; never waits and never fails the caller.
    pub fn push(&self, entry: QuestionLogEntry) {
        if self.queue.try_send(Item::Entry(entry)).is_err() {
            self.dropped.inc();
            // One warning per power of two keeps a long overload from flooding the log.
            let dropped = self.dropped.get();
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the question log is behind; questions were not logged"
                );
            }
        }
    }
}

async fn write_batches<W, F>(
    mut queue: mpsc::Receiver<Item>,
    most: usize,
    gather: Duration,
    mut write: W,
) where
    W: FnMut(Vec<QuestionLogEntry>) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let mut items = Vec::with_capacity(most);
    while queue.recv_many(&mut items, most).await > 0 {
        let mut batch = Vec::with_capacity(items.len());
        let mut flushes = Vec::new();
        for item in items.drain(..) {
            match item {
                Item::Entry(entry) => batch.push(entry),
                Item::Flush(done) => flushes.push(done),
            }
        }
        let wrote = !batch.is_empty();
        if wrote {
            let entries = batch.len();
            if let Err(e) = write(batch).await {
                tracing::warn!(error = ?e, entries, "could not log questions");
            }
        }
        for done in flushes {
            // The one waiting may have given up; nothing to tell then.
            let _ = done.send(());
        }
        if wrote {
            tokio::time::sleep(gather).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::sync::Semaphore;

    fn entry(question: &str) -> QuestionLogEntry {
        QuestionLogEntry {
            at_ms: 1,
            source: "search".into(),
            question: question.into(),
            question_key: question.into(),
            key_id: None,
            top_datasets: Vec::new(),
            confidence: 0.0,
            mode: "lexical".into(),
            latency_ms: 0.0,
        }
    }

    /// A writer that records each batch's questions and waits for a permit before it
    /// returns, so a test decides when the store "finishes" a write.
    struct Gated {
        batches: Arc<Mutex<Vec<Vec<String>>>>,
        gate: Arc<Semaphore>,
        log: QuestionLog,
    }

    fn gated(queue: usize, batch: usize) -> Gated {
        gated_gathering(queue, batch, Duration::ZERO)
    }

    fn gated_gathering(queue: usize, batch: usize, gather: Duration) -> Gated {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Semaphore::new(0));
        let dropped = IntCounter::new("dropped", "dropped").unwrap();
        let (seen, permits) = (batches.clone(), gate.clone());
        let log = QuestionLog::with_writer(queue, batch, gather, dropped, move |entries| {
            let (seen, permits) = (seen.clone(), permits.clone());
            async move {
                seen.lock()
                    .unwrap()
                    .push(entries.into_iter().map(|e| e.question).collect());
                permits.acquire().await?.forget();
                Ok(())
            }
        });
        Gated { batches, gate, log }
    }

    impl Gated {
        fn batches(&self) -> Vec<Vec<String>> {
            self.batches.lock().unwrap().clone()
        }

        async fn until_batches(&self, n: usize) {
            for _ in 0..500 {
                if self.batches.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the writer never took batch {n}: {:?}", self.batches());
        }

        /// Leaves the writer busy with "q0" (its write not finished), then queues "q1" to
        /// "q{more}".
        async fn busy_then_queue(&self, more: usize) {
            self.log.push(entry("q0"));
            self.until_batches(1).await;
            for i in 1..=more {
                self.log.push(entry(&format!("q{i}")));
            }
        }
    }

    #[tokio::test]
    async fn entries_queued_during_a_write_go_out_together_in_order() {
        let g = gated(100, 256);
        g.busy_then_queue(5).await;
        g.gate.add_permits(1);
        g.until_batches(2).await;
        assert_eq!(
            g.batches(),
            vec![vec!["q0"], vec!["q1", "q2", "q3", "q4", "q5"]]
        );
    }

    #[tokio::test]
    async fn entries_that_come_after_a_write_gather_before_the_next() {
        let g = gated_gathering(100, 256, Duration::from_secs(2));
        g.gate.add_permits(2);
        g.log.push(entry("q0"));
        g.until_batches(1).await;
        // Once the write of "q0" is over, a writer that did not gather would take "q1"
        // alone at once, long before "q2" comes.
        g.log.push(entry("q1"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        g.log.push(entry("q2"));
        g.log.push(entry("q3"));
        g.until_batches(2).await;
        assert_eq!(g.batches(), vec![vec!["q0"], vec!["q1", "q2", "q3"]]);
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_the_batch_size() {
        let g = gated(100, 2);
        g.busy_then_queue(3).await;
        g.gate.add_permits(3);
        g.until_batches(3).await;
        assert_eq!(g.batches(), vec![vec!["q0"], vec!["q1", "q2"], vec!["q3"]]);
    }

    #[tokio::test]
    async fn a_flush_returns_once_what_was_queued_before_it_is_written() {
        let g = gated(100, 256);
        g.busy_then_queue(1).await;
        // The store has not finished the first write: the flush cannot complete.
        assert!(!g.log.flush(Duration::from_millis(50)).await);
        g.gate.add_permits(2);
        assert!(g.log.flush(Duration::from_secs(5)).await);
        assert_eq!(g.batches(), vec![vec!["q0"], vec!["q1"]]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let g = gated(3, 256);
        g.busy_then_queue(5).await;
        assert_eq!(g.log.dropped.get(), 2);
        g.gate.add_permits(2);
        g.until_batches(2).await;
        assert_eq!(g.batches(), vec![vec!["q0"], vec!["q1", "q2", "q3"]]);
    }
}
