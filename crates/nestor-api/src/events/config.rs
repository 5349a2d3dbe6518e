//! Settings of the change feed's HTTP side.

use std::time::Duration;

/// Settings of the change feed.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Concurrent streams beyond this are answered 503 with `Retry-After`.
    pub max_subscribers: usize,
    /// How often a stream whose resume point moved without a matching event gets a bookmark
    /// (and checks the store for changes written by another process).
    pub bookmark_interval: Duration,
    /// How often an idle stream gets a keep-alive comment.
    pub keep_alive: Duration,
    /// The reconnection delay suggested to clients (`retry:`).
    pub retry: Duration,
    /// Threads writing live changes to event streams; 0: half the cores (at least one).
    pub fanout_threads: usize,
    /// Most recent changes kept in memory for live streams; a stream further behind reads the
    /// event log until it has caught up.
    pub journal_events: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_subscribers: 20_000,
            bookmark_interval: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            fanout_threads: 0,
            journal_events: 1024,
        }
    }
}
