//! The change feed as a stream of items, independent of any transport: what `GET
//! /api/v1/events` sends, in order.
//!
//! The promise is that a subscriber who resumes after the last revision it saw never misses,
//! duplicates or reorders a change. How it is kept:
//!
//! - The subscriber joins the in-memory broadcast *before* it reads the store, so nothing
//!   written in between is lost; anything it already has (revision ≤ `last`) is skipped.
//! - Live events arrive from the broadcast while they follow on densely (`last + 1`). A gap —
//!   the subscriber lagged behind the broadcast, or two writers committed in one order and
//!   broadcast in the other — switches it to reading the persistent log until it is caught up.
//!   A slow subscriber therefore costs the log some reads, never an event.
//! - A resume point the log no longer holds (pruned, or newer than the catalog) is answered
//!   with a reset and a full snapshot on the same stream: never silence, never a stuck stream.
//! - **Nothing is read ahead of the reader.** The snapshot and the catch-up are read from the
//!   store a small page at a time ([`FEED_PAGE`] items), and the next page only once the
//!   previous one has been taken: a stream whose reader stalls holds one page, whatever its
//!   resume point or the catalog's size. A snapshot read in pages is made exact with the log:
//!   the pages are read at successive revisions, so the changes written between the first
//!   page and the last are sent after them as snapshot items too (a version may then appear
//!   more than once: the later item is its state at the end of the snapshot), and the bookmark
//!   that ends the snapshot is the last page's revision.
//! - Changes written by another process reach the broadcast through [`Catalog::follow_log`]. A
//!   stream never polls the store on its own: with thousands of streams that would be thousands
//!   of reads per interval. On each bookmark tick it only compares its position with the
//!   highest revision broadcast, and catches up from the log if it somehow missed one.

use std::{
    collections::VecDeque,
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures_util::Stream;
use nestor_model::{
    Bookmark, ChangeEvent, Component, ComponentFilter, Reset, ResetReason, Revision,
};
use nestor_storage::CatalogStore;
use tokio::sync::broadcast;

use crate::{Catalog, CatalogError};

/// Versions or events read from the store per call while snapshotting or catching up, and so
/// the most a stream holds ahead of its reader. A typical version is 2–4 KiB in memory: a page
/// stays well within the 64 KiB a stalled stream may cost, beside the bytes its transport has
/// rendered (with 8, a stalled stream measured ~70 KiB in all; a catch-up of 10,000 changes is
/// 2,500 small reads of the log).
pub const FEED_PAGE: usize = 4;

/// How many feeds of one catalog read the store at the same time. Streams that start together
/// (a reconnect storm after a restart, a burst of stalled readers) take turns for their pages
/// instead of opening as many store requests at once: on DynamoDB each concurrent request is a
/// pooled HTTPS connection, kept (with its buffers) long after the burst.
pub const FEED_READERS: usize = 32;

/// A change event as every subscriber shares it: one allocation however many streams carry it,
/// and a slot for its encoding on the wire, made once by whichever stream needs it first. The
/// catalog knows no wire format: the transport (the API's event stream) supplies the encoder.
#[derive(Debug)]
pub struct SharedEvent {
    event: ChangeEvent,
    encoded: OnceLock<bytes::Bytes>,
}

impl SharedEvent {
    /// Wraps an event for sharing.
    pub fn new(event: ChangeEvent) -> Arc<SharedEvent> {
        Arc::new(SharedEvent {
            event,
            encoded: OnceLock::new(),
        })
    }

    /// The event's encoding, made by `encode` on the first call and shared by every later one.
    /// A process has one wire encoding of change events; every caller passes the same encoder.
    pub fn encoded(&self, encode: impl FnOnce(&ChangeEvent) -> bytes::Bytes) -> bytes::Bytes {
        self.encoded.get_or_init(|| encode(&self.event)).clone()
    }

    /// The event itself.
    pub fn event(&self) -> &ChangeEvent {
        &self.event
    }
}

impl std::ops::Deref for SharedEvent {
    type Target = ChangeEvent;
    fn deref(&self) -> &ChangeEvent {
        &self.event
    }
}

impl PartialEq for SharedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event
    }
}

/// Where a subscription starts.
#[derive(Debug, Clone, Default)]
pub struct FeedRequest {
    /// Resume strictly after this revision.
    pub since: Option<Revision>,
    /// Without `since`: stream the current state first.
    pub snapshot: bool,
    /// What to deliver.
    pub filter: ComponentFilter,
    /// How often to send a bookmark when the resume point moved without a matching event, and
    /// to check the store for changes written by another process.
    pub bookmark_interval: Duration,
}

/// One item of the feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// A change (its revision is the SSE id).
    Change(Arc<SharedEvent>),
    /// One version of a snapshot.
    Snapshot(Box<Component>),
    /// Every matching change up to this revision has been sent.
    Bookmark(Bookmark),
    /// The requested resume point is unavailable; a snapshot follows.
    Reset(Reset),
}

enum Phase {
    /// Reading the current state a page at a time: the versions after `after`; `first` is the
    /// first page's revision.
    Snapshot {
        after: Option<(String, String)>,
        first: Option<Revision>,
    },
    /// Sending the changes written while the snapshot was read (after `at`, up to `to`, the
    /// last page's revision) as snapshot items, then the bookmark that ends the snapshot.
    Settle {
        first: Revision,
        at: Revision,
        to: Revision,
    },
    CatchUp,
    Live,
    Done,
}

struct Feed {
    store: Arc<dyn CatalogStore>,
    /// Permits to read the store, shared by every feed of the catalog ([`FEED_READERS`]).
    reads: Arc<tokio::sync::Semaphore>,
    rx: broadcast::Receiver<Arc<SharedEvent>>,
    /// The highest revision the catalog has broadcast.
    broadcast_revision: Arc<std::sync::atomic::AtomicU64>,
    request: FeedRequest,
    phase: Phase,
    /// Every matching change up to here has been queued.
    last: Revision,
    /// The last revision the client was told (an event id or a bookmark).
    told: Revision,
    queue: VecDeque<FeedItem>,
    ticks: tokio::time::Interval,
}

/// A change feed opened by [`Catalog::cursor`]: the items of [`Catalog::feed`], pulled one at a
/// time, with the position reached. A transport that fans live changes out by other means (the
/// API's socket writers) drains a cursor until it is live — the snapshot, the reset, the
/// catch-up from the log — then continues from [`FeedCursor::last`] itself.
pub struct FeedCursor(Feed);

impl FeedCursor {
    /// The next item, waiting for live changes when there are none yet. `None`: the catalog's
    /// broadcast closed. After an error the cursor is finished.
    pub async fn next(&mut self) -> Option<Result<FeedItem, CatalogError>> {
        let item = self.0.next().await?;
        if item.is_err() {
            self.0.phase = Phase::Done;
            self.0.queue.clear();
        }
        Some(item)
    }

    /// The next item while there is one without waiting for a live change: what is queued
    /// (snapshot, reset, bookmarks) and what the log holds beyond the position. `None` once
    /// the cursor is caught up with the log (or finished).
    pub async fn next_before_live(&mut self) -> Option<Result<FeedItem, CatalogError>> {
        loop {
            if !self.0.queue.is_empty() {
                return self.next().await;
            }
            match self.0.phase {
                Phase::Live | Phase::Done => return None,
                Phase::Snapshot { .. } | Phase::Settle { .. } | Phase::CatchUp => {
                    if let Err(e) = self.0.read_ahead().await {
                        self.0.phase = Phase::Done;
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    /// Items read from the store and not yet returned: at most a page ([`FEED_PAGE`]) and the
    /// reset or bookmark around it, whatever the resume point or the catalog's size.
    pub fn buffered(&self) -> usize {
        self.0.queue.len()
    }

    /// Every matching change up to this revision has been returned.
    pub fn last(&self) -> Revision {
        self.0.last
    }

    /// The last revision returned as an event id or a bookmark.
    pub fn told(&self) -> Revision {
        self.0.told
    }
}

impl Catalog {
    /// Opens the change feed described by `request`: where it starts (and the snapshot, if one
    /// is due) is settled now, so a failing store is an error here rather than in the stream.
    /// The stream ends after an error item, or when the catalog's broadcast closes.
    pub async fn feed(
        &self,
        request: FeedRequest,
    ) -> Result<impl Stream<Item = Result<FeedItem, CatalogError>> + Send + 'static, CatalogError>
    {
        let cursor = self.cursor(request).await?;
        Ok(futures_util::stream::unfold(
            cursor,
            |mut cursor| async move { Some((cursor.next().await?, cursor)) },
        ))
    }

    /// [`Catalog::feed`] as a cursor.
    pub async fn cursor(&self, request: FeedRequest) -> Result<FeedCursor, CatalogError> {
        // Subscribe first: whatever is written from now on is either in the broadcast or, if
        // it was missed, in the log read below.
        let rx = self.subscribe();
        let period = request.bookmark_interval.max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut feed = Feed {
            store: self.store.clone(),
            reads: self.feed_reads.clone(),
            rx,
            broadcast_revision: self.broadcast_revision.clone(),
            request,
            phase: Phase::CatchUp,
            last: Revision(0),
            told: Revision(0),
            queue: VecDeque::new(),
            ticks,
        };
        feed.start().await?;
        Ok(FeedCursor(feed))
    }

    /// The highest revision this process has broadcast (its own writes, and other processes'
    /// through [`Catalog::follow_log`]).
    pub fn broadcast_revision(&self) -> Revision {
        Revision(
            self.broadcast_revision
                .load(std::sync::atomic::Ordering::SeqCst),
        )
    }
}

impl Feed {
    async fn next(&mut self) -> Option<Result<FeedItem, CatalogError>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                match &item {
                    FeedItem::Change(e) => self.told = e.revision,
                    FeedItem::Bookmark(b) => self.told = b.revision,
                    _ => {}
                }
                return Some(Ok(item));
            }
            let step = match self.phase {
                Phase::Done => return None,
                Phase::Snapshot { .. } | Phase::Settle { .. } | Phase::CatchUp => {
                    self.read_ahead().await
                }
                Phase::Live => match self.live().await {
                    Ok(true) => Ok(()),
                    Ok(false) => return None,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = step {
                return Some(Err(e));
            }
        }
    }

    async fn start(&mut self) -> Result<(), CatalogError> {
        let (current, retained) = {
            let _permit = self.reads.acquire().await;
            (
                self.store.current_revision().await?,
                self.store.retained_after().await?,
            )
        };
        match self.request.since {
            Some(since) if since > current => {
                self.reset(ResetReason::Ahead, since, retained, current)
            }
            Some(since) if since < retained => {
                self.reset(ResetReason::Expired, since, retained, current)
            }
            Some(since) => {
                self.last = since;
                self.told = since;
            }
            None if self.request.snapshot => self.snapshot(),
            None => {
                self.last = current;
                self.told = current;
            }
        }
        Ok(())
    }

    /// Queues a reset, then starts a snapshot.
    fn reset(
        &mut self,
        reason: ResetReason,
        requested: Revision,
        retained_after: Revision,
        current: Revision,
    ) {
        tracing::debug!(?reason, %requested, %retained_after, %current, "change feed reset");
        self.queue.push_back(FeedItem::Reset(Reset {
            reason,
            requested,
            retained_after,
            current,
        }));
        self.snapshot();
    }

    /// Starts sending the current state (read a page at a time by [`Feed::read_ahead`]) and
    /// the bookmark that ends it.
    fn snapshot(&mut self) {
        self.phase = Phase::Snapshot {
            after: None,
            first: None,
        };
    }

    /// Reads the next page of whatever comes before live changes: the snapshot, the changes
    /// that settle it, or the log.
    async fn read_ahead(&mut self) -> Result<(), CatalogError> {
        let _permit = self.reads.clone().acquire_owned().await;
        match &self.phase {
            Phase::Snapshot { .. } => self.snapshot_page().await,
            Phase::Settle { .. } => self.settle_page().await,
            Phase::CatchUp => self.catch_up().await,
            Phase::Live | Phase::Done => Ok(()),
        }
    }

    /// Queues the next page of the current state.
    async fn snapshot_page(&mut self) -> Result<(), CatalogError> {
        let Phase::Snapshot { after, first } = &mut self.phase else {
            return Ok(());
        };
        // A store that cannot read a page without reading everything (DynamoDB's scan) gives
        // the whole snapshot at once, as one page.
        let limit = if self.store.pages_cheaply() {
            FEED_PAGE
        } else {
            usize::MAX
        };
        let page = if limit == usize::MAX {
            self.store.list_all().await?
        } else {
            self.store.list_page(after.clone(), limit).await?
        };
        let first = *first.get_or_insert(page.revision);
        let full = page.value.len() == limit;
        if let Some(last) = page.value.last() {
            *after = Some((last.spec.name.clone(), last.spec.version.clone()));
        }
        self.queue.extend(
            page.value
                .into_iter()
                .filter(|c| self.request.filter.matches(c))
                .map(|c| FeedItem::Snapshot(Box::new(c))),
        );
        if !full {
            self.phase = Phase::Settle {
                first,
                at: first,
                to: page.revision,
            };
        }
        Ok(())
    }

    /// Queues the next page of the changes written while the snapshot was read, as the states
    /// they left (what the stream would have sent as changes, by its filter), or the bookmark
    /// that ends the snapshot. If the log no longer holds them (a snapshot read more slowly
    /// than the log's retention), the snapshot starts again after a reset.
    async fn settle_page(&mut self) -> Result<(), CatalogError> {
        let Phase::Settle { first, at, to } = self.phase else {
            return Ok(());
        };
        if at >= to {
            self.queue.push_back(FeedItem::Bookmark(Bookmark {
                revision: to,
                snapshot_end: true,
            }));
            self.last = to;
            self.phase = Phase::CatchUp;
            return Ok(());
        }
        let events = self.store.events_since(at, FEED_PAGE).await?;
        let retained = self.store.retained_after().await?;
        if retained > at {
            let current = self.store.current_revision().await?;
            self.reset(ResetReason::Expired, first, retained, current);
            return Ok(());
        }
        let mut reached = to; // an empty page: nothing more up to `to`
        for e in events {
            if e.revision > to {
                break;
            }
            reached = e.revision;
            if self.request.filter.passes(&e) {
                self.queue
                    .push_back(FeedItem::Snapshot(Box::new(e.component)));
            }
        }
        self.phase = Phase::Settle {
            first,
            at: reached,
            to,
        };
        Ok(())
    }

    /// Reads the next page of the log after `last`; switches to live when there is none.
    async fn catch_up(&mut self) -> Result<(), CatalogError> {
        let events = self.store.events_since(self.last, FEED_PAGE).await?;
        // Read after the events: if pruning overtook this subscriber, the page may have a hole.
        let retained = self.store.retained_after().await?;
        if retained > self.last {
            let current = self.store.current_revision().await?;
            let last = self.last;
            self.reset(ResetReason::Expired, last, retained, current);
            return Ok(());
        }
        if events.is_empty() {
            self.phase = Phase::Live;
        }
        for e in events {
            self.accept(SharedEvent::new(e));
        }
        Ok(())
    }

    /// Takes a change that follows `last` (the caller checked), queueing it if it matches.
    fn accept(&mut self, e: Arc<SharedEvent>) {
        if e.revision <= self.last {
            return;
        }
        self.last = e.revision;
        if self.request.filter.passes(&e) {
            self.queue.push_back(FeedItem::Change(e));
        }
    }

    /// Waits for the next live change or bookmark tick. `Ok(false)`: the catalog closed.
    async fn live(&mut self) -> Result<bool, CatalogError> {
        tokio::select! {
            received = self.rx.recv() => match received {
                Ok(e) if e.revision <= self.last => {}
                Ok(e) if e.revision == self.last.next() => self.accept(e),
                // A gap, or lagging behind the broadcast: the log has everything.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.phase = Phase::CatchUp;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(false),
            },
            _ = self.ticks.tick() => {
                // Take what is already waiting, then compare with what was broadcast: anything
                // still beyond `last` was missed (it went out before this stream subscribed).
                loop {
                    match self.rx.try_recv() {
                        Ok(e) if e.revision <= self.last => {}
                        Ok(e) if e.revision == self.last.next() => self.accept(e),
                        Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            self.phase = Phase::CatchUp;
                            return Ok(true);
                        }
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(broadcast::error::TryRecvError::Closed) => return Ok(false),
                    }
                }
                let broadcast = self.broadcast_revision.load(std::sync::atomic::Ordering::SeqCst);
                if broadcast > self.last.0 {
                    self.phase = Phase::CatchUp;
                } else if self.last > self.told {
                    self.queue.push_back(FeedItem::Bookmark(Bookmark {
                        revision: self.last,
                        snapshot_end: false,
                    }));
                }
            }
        }
        Ok(true)
    }
}
