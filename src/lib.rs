//! descoberta: natural-language metadata discovery.
//!
//! Data flows one way (see the README's architecture sketch): [`sources`] → [`catalog`] →
//! [`store`] → [`index`] + [`embed`] → [`retrieval`] → [`answer`] → the front doors [`http`]
//! and [`mcp`].
//! [`versions`] is the load pipeline, [`governance`] keys, votes and the question log;
//! [`app`] wires them, [`startup`] adds the HTTP server. [`settings`], [`telemetry`],
//! [`metrics`], [`text`], [`clock`], [`random`] and [`tls`] are shared helpers.

pub mod answer;
pub mod app;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod embed;
pub mod eval;
pub mod governance;
pub mod http;
pub mod index;
pub mod mcp;
pub mod metrics;
pub mod random;
pub mod retrieval;
pub mod settings;
pub mod sources;
pub mod startup;
pub mod stewardship;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod versions;
