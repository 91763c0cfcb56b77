//! Integration tests: the real service over real HTTP, on SQLite and on Postgres.

mod helpers;

mod access;
mod admin;
mod ask;
mod catalog_load;
mod errors;
mod fuzz_corpus;
mod governance;
mod hardening;
mod llm_server;
mod mcp;
mod ops;
mod processes;
mod relationships;
mod reload_under_load;
mod search;
mod semantic;
mod sources;
mod stewardship;
mod store_conformance;
