use std::time::Instant;
fn main() {
    let m = descoberta_e5::E5Model::load(std::path::Path::new(&std::env::args().nth(1).unwrap()))
        .unwrap();
    let qs: Vec<String> = std::fs::read_to_string("/work/shared/eval/questions/spider_dev.jsonl")
        .unwrap()
        .lines()
        .map(|l| {
            let q = l
                .split("\"question\": \"")
                .nth(1)
                .unwrap()
                .split("\"")
                .next()
                .unwrap();
            format!("query: {} (1000{})", q, l.len())
        })
        .collect();
    for &b in &[1usize, 2, 4, 8, 16] {
        let mut times = vec![];
        for r in 0..3 {
            for chunk in qs.chunks(b).take(400 / b) {
                let refs: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
                let t = Instant::now();
                m.embed(&refs, 1).unwrap();
                if r > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1e3 / b as f64);
                }
            }
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "batch {b}: per question p50 {:.3} ms",
            times[times.len() / 2]
        );
    }
}
