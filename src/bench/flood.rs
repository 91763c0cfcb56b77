//! `descoberta bench flood`: the rate limiter under a flood of distinct callers. The service
//! (a child process, rate limits on, behind a "proxy" so every request can claim its own
//! client address) gets `requests` requests, each from a new address or with a new random
//! key; its RSS is read before, right after, and after the buckets' sweep. Prints a table.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::service::Service;

#[derive(Debug, Args)]
pub struct FloodArgs {
    /// Requests per flood (each from a distinct address, then each with a distinct key).
    #[arg(long, default_value_t = 250_000)]
    pub requests: usize,
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// The service's sweep interval, seconds.
    #[arg(long, default_value_t = 2)]
    pub sweep_secs: u64,
    /// The catalog the service serves while flooded.
    #[arg(long, default_value = "metadata/catalog.csv")]
    pub catalog: PathBuf,
}

pub async fn run(args: FloodArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let env = vec![
        (
            "DESCOBERTA_EMBEDDING_ENABLED".to_string(),
            "false".to_string(),
        ),
        (
            "DESCOBERTA_RATE_LIMIT_SWEEP_SECS".into(),
            args.sweep_secs.to_string(),
        ),
        (
            "DESCOBERTA_ACCESS_TRUSTED_PROXIES".into(),
            "[\"127.0.0.1\"]".into(),
        ),
    ];
    let (service, _) = Service::start(tmp.path(), &env)?;
    crate::tls::init();
    let client = reqwest::Client::builder().build()?;
    let csv = std::fs::read(&args.catalog)
        .with_context(|| format!("reading {}", args.catalog.display()))?;
    let loaded = client
        .post(format!("{}/v1/admin/catalog", service.base))
        .bearer_auth(&service.admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .context("loading the catalog")?;
    anyhow::ensure!(
        loaded.status().is_success(),
        "loading the catalog failed: {}",
        loaded.text().await.unwrap_or_default()
    );
    let base = Arc::new(service.base.clone());
    let mut rows = vec![("before".to_string(), service.rss_mib(), 0usize)];
    for (label, by_key) in [
        ("distinct addresses", false),
        ("distinct random keys", true),
    ] {
        let (c, b) = (client.clone(), base.clone());
        let per_client = args.requests.div_ceil(args.concurrency.max(1));
        let row = super::drive_with(
            label,
            args.concurrency,
            move |client_no, i| {
                let (c, b) = (c.clone(), b.clone());
                async move {
                    if i >= per_client {
                        return None;
                    }
                    let n = (client_no * per_client + i) as u32;
                    let request = c.get(format!("{b}/v1/suggest?q=ord"));
                    let request = if by_key {
                        request.header("x-api-key", format!("dk_{:016x}", rand::random::<u64>()))
                    } else {
                        let ip = std::net::Ipv4Addr::from(0x0a00_0000 | n);
                        request.header("x-forwarded-for", ip.to_string())
                    };
                    let status = request.send().await.ok()?.status().as_u16();
                    Some(status == 200 || status == 401 || status == 429)
                }
            },
            None,
        )
        .await;
        rows.push((format!("after {label}"), service.rss_mib(), row.errors));
        tokio::time::sleep(Duration::from_secs(args.sweep_secs * 2 + 1)).await;
        rows.push((format!("{label}, after the sweep"), service.rss_mib(), 0));
    }
    println!(
        "rate-limit table under a flood: {} requests per flood, {} clients, sweep every {} s",
        args.requests, args.concurrency, args.sweep_secs
    );
    println!();
    println!("| moment | RSS MiB | peak RSS MiB | request errors |");
    println!("|---|---|---|---|");
    for (label, (peak, rss), errors) in rows {
        println!("| {label} | {rss:.1} | {peak:.1} | {errors} |");
    }
    Ok(())
}
