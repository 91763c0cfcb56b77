//! Integration tests: the real service over real HTTP, on SQLite and on Postgres.

mod helpers;

mod admin;
mod ask;
mod catalog_load;
mod errors;
mod llm_server;
mod ops;
mod processes;
mod reload_under_load;
mod search;
mod semantic;
