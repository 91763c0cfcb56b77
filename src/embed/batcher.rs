//! Questions that arrive while the model is busy go through it together. Each question
//! still runs on one thread, but a batch of questions shares each weight matrix's pass
//! (measured on multilingual-e5-small, one thread, Spider's questions: 2.13 ms each alone,
//! 1.70 in fours, 1.55 in eights). A question that finds a free worker starts at once, as
//! without batching: nobody waits for a batch to fill.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use prometheus::Histogram;
use tokio::sync::oneshot;

/// Embeds a batch of texts on the calling thread, one vector per text, in order.
pub(crate) type BatchFn = dyn Fn(&[String]) -> anyhow::Result<Vec<Vec<f32>>> + Send + Sync;

pub(crate) struct QueryBatcher {
    state: Mutex<State>,
    /// Batches run at once (one thread each).
    workers: usize,
    /// Texts in one batch: a question that joins a batch waits for all of it.
    max_batch: usize,
    run: Arc<BatchFn>,
    /// Each batch's size, when reported.
    batch_sizes: Option<Histogram>,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Job>,
    running: usize,
}

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

impl QueryBatcher {
    pub(crate) fn new(
        workers: usize,
        max_batch: usize,
        run: Arc<BatchFn>,
        batch_sizes: Option<Histogram>,
    ) -> QueryBatcher {
        QueryBatcher {
            state: Mutex::default(),
            workers: workers.max(1),
            max_batch: max_batch.max(1),
            run,
            batch_sizes,
        }
    }

    /// The vectors of `texts`, in order. They queue behind the texts already waiting; a
    /// worker starts (on the blocking pool, in the caller's span) when fewer than `workers`
    /// run, and takes up to `max_batch` waiting texts at a time until none is left.
    pub(crate) async fn embed(
        self: &Arc<Self>,
        texts: Vec<String>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut replies = Vec::with_capacity(texts.len());
        let start = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for text in texts {
                let (reply, answer) = oneshot::channel();
                state.waiting.push_back(Job { text, reply });
                replies.push(answer);
            }
            let start = state.running < self.workers;
            if start {
                state.running += 1;
            }
            start
        };
        if start {
            let me = self.clone();
            drop(crate::telemetry::blocking(move || me.work()));
        }
        let mut out = Vec::with_capacity(replies.len());
        for answer in replies {
            let vector = answer
                .await
                .context("the embedding worker stopped")?
                .map_err(anyhow::Error::msg)?;
            out.push(vector);
        }
        Ok(out)
    }

    fn work(&self) {
        loop {
            let batch: Vec<Job> = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.waiting.is_empty() {
                    state.running -= 1;
                    return;
                }
                let n = state.waiting.len().min(self.max_batch);
                state.waiting.drain(..n).collect()
            };
            let (texts, replies): (Vec<String>, Vec<_>) =
                batch.into_iter().map(|j| (j.text, j.reply)).unzip();
            if let Some(sizes) = &self.batch_sizes {
                sizes.observe(texts.len() as f64);
            }
            // A panic in the model fails this batch, not the worker count.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| (self.run)(&texts)));
            let vectors = match result {
                Ok(Ok(v)) if v.len() == texts.len() => Ok(v),
                Ok(Ok(v)) => Err(format!(
                    "the model returned {} vectors for {} texts",
                    v.len(),
                    texts.len()
                )),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err("the embedding model panicked".to_string()),
            };
            // A caller that went away (a dropped request) has no receiver: nothing to do.
            match vectors {
                Ok(vectors) => {
                    for (reply, vector) in replies.into_iter().zip(vectors) {
                        drop(reply.send(Ok(vector)));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        drop(reply.send(Err(e.clone())));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = Arc<Mutex<Vec<Vec<String>>>>;

    /// A model that records its batches; its first batch waits on `gate` until the test opens it.
    fn recording(gate: Arc<std::sync::Barrier>) -> (Arc<BatchFn>, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        let run = move |texts: &[String]| {
            log.lock().unwrap().push(texts.to_vec());
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                gate.wait();
            }
            if texts.iter().any(|t| t == "fail") {
                anyhow::bail!("no vector for this batch");
            }
            if texts.iter().any(|t| t == "panic") {
                panic!("model bug");
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        };
        (Arc::new(run), seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn questions_that_wait_go_through_together_in_order() {
        let gate = Arc::new(std::sync::Barrier::new(2));
        let (run, seen) = recording(gate.clone());
        let metrics = crate::metrics::Metrics::new().unwrap();
        let observed = metrics.question_embedding.batch_size.clone();
        let batcher = Arc::new(QueryBatcher::new(1, 3, run, Some(observed.clone())));
        // The first question occupies the only worker until the gate opens.
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.embed(vec!["a".into()]).await }
        });
        while seen.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        // Five more arrive meanwhile, from two callers, one after the other.
        let second = tokio::spawn({
            let b = batcher.clone();
            async move { b.embed(vec!["bb".into(), "ccc".into()]).await }
        });
        while batcher.state.lock().unwrap().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        let third = tokio::spawn({
            let b = batcher.clone();
            async move {
                b.embed(vec!["dddd".into(), "eeeee".into(), "f".into()])
                    .await
            }
        });
        while batcher.state.lock().unwrap().waiting.len() < 5 {
            tokio::task::yield_now().await;
        }
        tokio::task::spawn_blocking(move || gate.wait())
            .await
            .unwrap();
        assert_eq!(first.await.unwrap().unwrap(), [vec![1.0]]);
        assert_eq!(second.await.unwrap().unwrap(), [vec![2.0], vec![3.0]]);
        assert_eq!(
            third.await.unwrap().unwrap(),
            [vec![4.0], vec![5.0], vec![1.0]]
        );
        // One alone, then the five waiting ones in arrival order, at most three at a time.
        let batches = seen.lock().unwrap().clone();
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 3, 2], "{batches:?}");
        assert_eq!(batches.concat(), ["a", "bb", "ccc", "dddd", "eeeee", "f"]);
        // The metric saw the same batches.
        assert_eq!(
            (observed.get_sample_count(), observed.get_sample_sum()),
            (3, 6.0)
        );
        assert!(
            metrics
                .render()
                .unwrap()
                .contains("descoberta_question_embedding_batch_size_bucket{le=\"2\"} 2")
        );
        // Idle again: the worker stops and the next question starts one.
        while batcher.state.lock().unwrap().running > 0 {
            tokio::task::yield_now().await;
        }
        let again = batcher.embed(vec!["gg".into()]).await.unwrap();
        assert_eq!(again, [vec![2.0]]);
    }

    #[tokio::test]
    async fn a_failed_or_panicking_batch_is_an_error_and_the_next_one_runs() {
        let gate = Arc::new(std::sync::Barrier::new(1));
        let (run, _) = recording(gate);
        let batcher = Arc::new(QueryBatcher::new(2, 8, run, None));
        let err = batcher.embed(vec!["fail".into()]).await.unwrap_err();
        assert!(format!("{err:#}").contains("no vector"), "{err:#}");
        let err = batcher.embed(vec!["panic".into()]).await.unwrap_err();
        assert!(format!("{err:#}").contains("panicked"), "{err:#}");
        assert_eq!(batcher.embed(vec!["ok".into()]).await.unwrap(), [vec![2.0]]);
    }
}
