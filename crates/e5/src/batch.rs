//! The bulk path of both models: texts packed by length into batches of a token budget
//! (no padding), run by a pool of scoped workers, each with a scratch space kept between
//! calls.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail};

/// Scratch spaces kept between calls, so a batch of texts (or one query) does not allocate
/// a forward pass's buffers again.
#[derive(Debug)]
pub(crate) struct Pool<W>(Mutex<Vec<W>>);

/// Scratch spaces kept: one per worker of the widest machines we run on, and the query path.
const KEPT: usize = 8;

impl<W: Default> Pool<W> {
    pub(crate) fn new() -> Pool<W> {
        Pool(Mutex::new(Vec::new()))
    }

    pub(crate) fn take(&self) -> W {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_default()
    }

    pub(crate) fn put(&self, w: W) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < KEPT {
            pool.push(w);
        }
    }
}

/// Indices of `lens` in batches of at most `budget` tokens (a longer text alone), longest
/// first: big batches start early, the short tail balances the workers.
pub(crate) fn pack(lens: &[usize], budget: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut tokens = 0;
    for i in order {
        if !cur.is_empty() && tokens + lens[i] > budget {
            batches.push(std::mem::take(&mut cur));
            tokens = 0;
        }
        cur.push(i);
        tokens += lens[i];
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

/// One vector per sequence of `ids`: packed into batches of `budget` tokens, each run by
/// `forward` (one vector per sequence it is given, in order) on up to `threads` workers.
pub(crate) fn embed_packed<W, F>(
    ids: &[Vec<u32>],
    budget: usize,
    threads: usize,
    pool: &Pool<W>,
    forward: F,
) -> Result<Vec<Vec<f32>>>
where
    W: Default + Send,
    F: Fn(&[&[u32]], &mut W) -> Vec<Vec<f32>> + Sync,
{
    let lens: Vec<usize> = ids.iter().map(Vec::len).collect();
    let batches = pack(&lens, budget);
    let run = |w: &mut W, batch: &[usize]| -> Vec<(usize, Vec<f32>)> {
        let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
        batch.iter().copied().zip(forward(&seqs, w)).collect()
    };
    let mut out = vec![Vec::new(); ids.len()];
    let workers = threads.max(1).min(batches.len());
    if workers <= 1 {
        let mut w = pool.take();
        for b in &batches {
            for (i, v) in run(&mut w, b) {
                out[i] = v;
            }
        }
        pool.put(w);
        return Ok(out);
    }
    let next = AtomicUsize::new(0);
    type Done = Vec<(usize, Vec<f32>)>;
    let results: Vec<std::thread::Result<Done>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut w = pool.take();
                    let mut done = Vec::new();
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = batches.get(b) else { break };
                        done.extend(run(&mut w, batch));
                    }
                    pool.put(w);
                    done
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    for r in results {
        let Ok(done) = r else {
            bail!("an embedding worker thread panicked");
        };
        for (i, v) in done {
            out[i] = v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_keeps_every_text_once_within_the_budget_longest_first() {
        let lens = [5, 40, 12, 3, 30, 30, 100, 1];
        let batches = pack(&lens, 40);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lens.len()).collect::<Vec<_>>());
        for b in &batches {
            let tokens: usize = b.iter().map(|&i| lens[i]).sum();
            assert!(tokens <= 40 || b.len() == 1, "{b:?}: {tokens} tokens");
        }
        // The over-long text alone, first.
        assert_eq!(batches[0], vec![6]);
        assert!(pack(&[], 40).is_empty());
    }

    #[test]
    fn embed_packed_returns_each_sequences_vector_in_input_order_on_any_workers() {
        let ids: Vec<Vec<u32>> = (0..50u32).map(|i| (i..i + 1 + i % 7).collect()).collect();
        let lens: Vec<usize> = ids.iter().map(Vec::len).collect();
        let batches = pack(&lens, 10).len();
        // A vector that names its sequence (its first id and length); the scratch space
        // counts the batches it ran.
        let forward = |seqs: &[&[u32]], calls: &mut usize| -> Vec<Vec<f32>> {
            *calls += 1;
            seqs.iter()
                .map(|s| vec![s[0] as f32, s.len() as f32])
                .collect()
        };
        for threads in [1, 2, 4] {
            let pool = Pool::new();
            let out = embed_packed(&ids, 10, threads, &pool, forward).unwrap();
            for (i, (v, s)) in out.iter().zip(&ids).enumerate() {
                assert_eq!(v, &vec![i as f32, s.len() as f32]);
            }
            // Every worker's scratch space went back to the pool (a worker that starts after
            // another has finished takes the one it left).
            let kept = pool.0.lock().unwrap();
            assert!((1..=threads.min(batches)).contains(&kept.len()));
            assert_eq!(kept.iter().sum::<usize>(), batches);
        }
    }
}
