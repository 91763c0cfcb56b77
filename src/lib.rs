//! descoberta: natural-language metadata discovery.
//!
//! Layers, from the outside in: [`http`] (actix handlers) → [`engine`] (the live catalog
//! version, loads) → [`retrieval`] (query understanding, ranking) → [`index`] (Tantivy) and
//! [`store`] (Postgres/SQLite). [`catalog`] is the data model and CSV parser.

pub mod access;
pub mod answer;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod embed;
pub mod engine;
pub mod error;
pub mod eval;
pub mod gaps;
pub mod http;
pub mod index;
pub mod llm;
pub mod metrics;
pub mod retrieval;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
