//! Searches during reloads: 16 concurrent clients while 20 loads alternate between two
//! catalogs. No request fails, and every response's results belong to the catalog version it
//! reports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::admin::{CATALOG_A, CATALOG_B, upload};
use crate::helpers::{Backend, result_names, spawn_custom};
use crate::on_both_backends;

on_both_backends!(searches_stay_consistent_during_reloads);

const CLIENTS: usize = 16;
const RELOADS: usize = 20;
/// Upper bound of requests per client, so the test is bounded whatever the timing.
const MAX_REQUESTS_PER_CLIENT: usize = 400;

async fn searches_stay_consistent_during_reloads(backend: Backend) {
    let app = Arc::new(spawn_custom(backend, Some(CATALOG_A), |_| {}).await);
    let first = app.app.versions.snapshot().unwrap().version;
    let catalog_of: Arc<Mutex<HashMap<i64, &'static str>>> =
        Arc::new(Mutex::new(HashMap::from([(first, "alpha.")])));
    let done = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let app = app.clone();
        let done = done.clone();
        clients.push(tokio::spawn(async move {
            let mut seen: Vec<(u16, i64, Vec<String>)> = Vec::new();
            let query = if c % 2 == 0 { "orders" } else { "order+key" };
            while !done.load(Ordering::SeqCst) && seen.len() < MAX_REQUESTS_PER_CLIENT {
                let res = app
                    .client
                    .get(app.url(&format!("/v1/search?q={query}&limit=20")))
                    .send()
                    .await;
                match res {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body: serde_json::Value = res.json().await.unwrap_or_default();
                        let version = body["catalog_version"].as_i64().unwrap_or(-1);
                        seen.push((status, version, result_names(&body)));
                    }
                    Err(_) => seen.push((0, -1, Vec::new())),
                }
            }
            seen
        }));
    }

    for i in 0..RELOADS {
        let (csv, prefix) = if i % 2 == 0 {
            (CATALOG_B, "beta.")
        } else {
            (CATALOG_A, "alpha.")
        };
        let (status, body) = upload(&app, csv, "").await;
        assert_eq!(status, 200, "reload {i}: {body}");
        let version = body["version"].as_i64().unwrap();
        catalog_of.lock().unwrap().insert(version, prefix);
    }
    done.store(true, Ordering::SeqCst);

    let catalog_of = catalog_of.lock().unwrap().clone();
    let mut total = 0;
    let mut versions_seen = std::collections::HashSet::new();
    for client in clients {
        for (status, version, names) in client.await.unwrap() {
            total += 1;
            assert_eq!(status, 200, "a search failed during reloads");
            let prefix = catalog_of
                .get(&version)
                .unwrap_or_else(|| panic!("response reports unknown version {version}"));
            assert!(!names.is_empty(), "version {version} returned nothing");
            for name in &names {
                assert!(
                    name.starts_with(prefix),
                    "version {version} is catalog {prefix} but returned {name}"
                );
            }
            versions_seen.insert(version);
        }
    }
    assert!(total >= CLIENTS, "{total} requests");
    assert!(
        versions_seen.len() > 1,
        "searches should have spanned several versions, saw {versions_seen:?}"
    );
}
