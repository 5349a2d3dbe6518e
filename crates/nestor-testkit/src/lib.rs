//! The one test harness of Nestor's integration tests (`tests/*.rs` of every crate): real
//! servers on 127.0.0.1, definitions built in one line, and the fixtures several crates share.
//!
//! ```no_run
//! # async fn example() {
//! use nestor_testkit::{TestServer, spec};
//!
//! let s = TestServer::memory().await;
//! s.client.publish(&spec("pg", "1.0.0").build()).await.unwrap();
//! assert_eq!(s.get("/health").await.0, 200);
//! s.stop().await;
//! # }
//! ```
//!
//! # Layout
//! - [`server`]: [`TestServer`] (the catalog, the router and `nestor_api::serve` in the test's
//!   runtime, on a free port), its [`ServerBuilder`] (store, configuration, a prebuilt router),
//!   [`KillableServer`] (a server on a runtime of its own, to crash and restart), the stores and
//!   configurations tests start from.
//! - [`spec`](mod@spec): [`spec()`] and [`minimal()`], the definition builders, and
//!   [`published()`], a definition as a store holds it.
//! - [`sse`]: [`SseReader`], a small reader of `text/event-stream` responses.
//! - [`process`]: what tests that run the `nestor` binary share: [`Served`] (a child process
//!   that logged "serving on"), [`free_port`], [`block_on`], [`blocking_get`].
//! - [`git`]: repositories for the git source tests, through the `git` command or libgit2.
//! - [`dynamodb`]: DynamoDB Local for the tests (`scripts/test` starts it), skipped loudly
//!   without it and a failure under CI.
//!
//! # Use
//! A dev-dependency only (`publish = false`). It depends on nestor-api, nestor-catalog and the
//! crates below them, so those crates may use it from their integration tests (a separate
//! compilation that links the library as any dependent does), never from their unit tests
//! (`#[cfg(test)]` inside `src`), where its types would be those of another copy of the crate.
//! The `nestor` binary's tests spawn the binary itself: the path to it
//! (`CARGO_BIN_EXE_nestor`) is only known inside that crate, so it stays in its tests.
#![warn(missing_docs)]

pub mod dynamodb;
pub mod git;
pub mod process;
pub mod server;
pub mod spec;
pub mod sse;
pub mod tls;

pub use process::{Served, block_on, blocking_get, free_port};
pub use server::{
    KillableServer, ServerBuilder, TestServer, catalog, install_metrics, locked_down, memory_store,
    metric_sum, quick_events, sqlite_store, token,
};
pub use spec::{SpecBuilder, input, minimal, published, spec, tester};
pub use sse::{SseEvent, SseReader};
