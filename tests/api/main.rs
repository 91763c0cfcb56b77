//! Integration tests: the real service over real HTTP, on SQLite and on Postgres.

mod helpers;

mod catalog_load;
mod errors;
mod ops;
mod search;
