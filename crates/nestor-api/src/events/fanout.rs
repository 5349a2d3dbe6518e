//! Live fan-out of the change feed to event-stream sockets, by a few writer threads instead of
//! a task per subscriber.
//!
//! With one task per stream, every change wakes every stream's task, each of which polls its
//! stream adapters and makes one `write` for one frame: at 10,000 subscribers and 50 changes/s
//! that is half a million task wake-ups and syscalls a second, and under that load a stream
//! never has more than the one frame to write. Here:
//!
//! - **One journal per process.** A hub task follows the catalog's broadcast into a journal of
//!   the most recent changes, dense by revision (a gap or a lag is filled from the log once,
//!   for everyone, rather than by each stream), plus the latest `engine.status` notices.
//! - **A few writers.** Live streams are spread over writer threads (one per core by default).
//!   Each pass, a writer takes what the journal gained and gives every stream it owns all its
//!   pending frames in one non-blocking vectored write: the frames are the shared, pre-rendered
//!   ones, nothing is copied; the write is one HTTP chunk, its size line and end two more
//!   small slices of the same write. The slower a pass, the more frames the next one carries per write,
//!   so the cost per change falls as the load grows instead of the queue.
//! - **Slow streams leave.** A stream whose socket does not take the whole write (its reader is
//!   slow) is handed back to its connection's task with the unwritten rest. That task waits for
//!   the socket as long as it takes, catches up from the journal — or from the persistent log
//!   when the journal no longer reaches back far enough — and then hands the stream to a writer
//!   again. A slow reader therefore costs only itself, and never loses an event.
//!
//! What a stream is sent, and in which order, is the same as on the per-task path
//! (`body`): the same frames, bookmarks and keep-alives.

use std::{
    collections::VecDeque,
    io::IoSlice,
    sync::{
        Arc, Condvar, Mutex, RwLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use nestor_catalog::{Catalog, SharedEvent};
use nestor_model::{Bookmark, ComponentFilter, Revision};
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::sync::CancellationToken;

use super::{
    frame::{self, EngineFrames, KEEP_ALIVE},
    raw::{CHUNK_END, ChunkSize, LAST_CHUNK},
};

/// Most bytes given to one stream in one write; a stream with more pending gets the rest on
/// the next pass (which then starts at once).
pub(crate) const MAX_WRITE: usize = 64 * 1024;
/// Most frames in one vectored write.
const MAX_FRAMES: usize = 64;
/// Engine status notices kept for streams that have not written them yet.
const MAX_NOTICES: usize = 64;
/// Changes read from the log per store call when the journal fills a gap.
const FILL_PAGE: usize = 512;

/// Settings of the fan-out.
#[derive(Debug, Clone)]
pub(crate) struct FanoutConfig {
    /// Writer threads.
    pub threads: usize,
    /// Most recent changes kept in memory for live streams.
    pub journal_events: usize,
    pub keep_alive: Duration,
    pub bookmark_interval: Duration,
}

/// The most recent changes, dense by revision, and the latest engine notices.
struct Journal {
    /// Set once the hub knows where the log stands.
    ready: bool,
    /// Revisions `head - events.len() + 1 ..= head`.
    events: VecDeque<Arc<SharedEvent>>,
    head: Revision,
    capacity: usize,
    /// `(sequence, frames)`, ascending.
    notices: VecDeque<(u64, EngineFrames)>,
    notice_seq: u64,
}

impl Journal {
    /// The oldest revision held (`head + 1` when empty).
    fn first(&self) -> Revision {
        Revision(self.head.0 + 1 - self.events.len() as u64)
    }

    fn push(&mut self, event: Arc<SharedEvent>) {
        debug_assert_eq!(event.revision, self.head.next());
        self.head = event.revision;
        self.events.push_back(event);
        while self.events.len() > self.capacity {
            self.events.pop_front();
        }
    }
}

/// What a writer pass (or a catching-up connection) works from: the journal's changes after a
/// revision, with their frames, taken under the lock and used without it.
struct View {
    ready: bool,
    /// The journal's version when taken.
    version: u64,
    /// The journal's oldest revision.
    first: Revision,
    /// Revision of `events[0]`.
    base: Revision,
    events: Vec<Arc<SharedEvent>>,
    frames: Vec<Bytes>,
    notices: Vec<(u64, EngineFrames)>,
}

impl View {
    /// The changes after `after` (or after the journal's oldest, if that is later).
    fn take(journal: &Journal, after: Revision, notices_after: u64) -> View {
        let first = journal.first();
        let base = Revision(after.0.saturating_add(1).max(first.0));
        let skip = (base.0 - first.0) as usize;
        let events: Vec<_> = journal.events.iter().skip(skip).cloned().collect();
        let frames = events.iter().map(|e| frame::change(e)).collect();
        View {
            ready: journal.ready,
            version: 0,
            first,
            base,
            events,
            frames,
            notices: journal
                .notices
                .iter()
                .filter(|(seq, _)| *seq > notices_after)
                .cloned()
                .collect(),
        }
    }

    /// Whether everything after `last` is in the journal (or not written yet).
    fn covers(&self, last: Revision) -> bool {
        last.0 + 1 >= self.first.0
    }

    /// The frames due to `pos` (at most `MAX_WRITE` bytes, `MAX_FRAMES` frames), with a
    /// bookmark when asked for one and due. `None`: the journal does not reach back to `pos`.
    fn gather(&self, pos: &Position, bookmark: bool) -> Option<Gathered> {
        if !self.covers(pos.last) {
            return None;
        }
        let mut g = Gathered::nothing(pos);
        for (seq, frames) in &self.notices {
            if *seq > pos.notice_seq {
                let frame = frames.for_reader(pos.probe_details);
                g.len += frame.len();
                g.frames.push(frame.clone());
                g.notice_seq = *seq;
            }
        }
        let start = pos.last.0.saturating_add(1).saturating_sub(self.base.0) as usize;
        for (event, frame) in self.events.iter().zip(&self.frames).skip(start) {
            if g.len >= MAX_WRITE || g.frames.len() >= MAX_FRAMES {
                g.more = true;
                break;
            }
            if pos.everything || pos.filter.passes(event) {
                g.len += frame.len();
                g.frames.push(frame.clone());
                g.told = event.revision;
                g.changes += 1;
            }
            g.last = event.revision;
        }
        if bookmark && !g.more && g.last > g.told {
            let frame = frame::bookmark(Bookmark {
                revision: g.last,
                snapshot_end: false,
            });
            g.len += frame.len();
            g.frames.push(frame);
            g.told = g.last;
        }
        Some(g)
    }
}

/// Frames to write to one stream, and where it stands once they are written.
pub(crate) struct Gathered {
    pub frames: Vec<Bytes>,
    pub len: usize,
    last: Revision,
    told: Revision,
    notice_seq: u64,
    pub changes: u64,
    /// More frames were due than one write carries.
    pub more: bool,
}

impl Gathered {
    /// Nothing due: `pos` stays where it is.
    fn nothing(pos: &Position) -> Gathered {
        Gathered {
            frames: Vec::new(),
            len: 0,
            last: pos.last,
            told: pos.told,
            notice_seq: pos.notice_seq,
            changes: 0,
            more: false,
        }
    }
}

/// A stream's socket and position: owned by a writer while the stream is live, by its
/// connection's task while it catches up.
pub(crate) struct Position {
    pub writer: OwnedWriteHalf,
    pub filter: Arc<ComponentFilter>,
    pub everything: bool,
    /// Every matching change up to here has been written.
    pub last: Revision,
    /// The last revision written as an event id or a bookmark.
    pub told: Revision,
    /// The last engine notice written.
    pub notice_seq: u64,
    pub last_write: Instant,
    /// Set by the connection's task when the client has gone.
    pub closed: Arc<AtomicBool>,
    /// Each write is one chunk of `Transfer-Encoding: chunked` (else: close-delimited).
    pub chunked: bool,
    /// `engine.status` events carry the probe's error (else its redacted form).
    pub probe_details: bool,
}

impl Position {
    /// Takes the position a written [`Gathered`] reaches.
    pub fn advance(&mut self, g: &Gathered) {
        self.last = g.last;
        self.told = g.told;
        self.notice_seq = g.notice_seq;
        if !g.frames.is_empty() {
            self.last_write = Instant::now();
        }
    }
}

/// A stream a writer gives back to its connection: the socket did not take a whole write.
pub(crate) struct Returned {
    pub position: Position,
    /// Bytes the writer had committed to but the socket did not take.
    pub pending: Vec<u8>,
}

struct Sub {
    position: Position,
    back: tokio::sync::oneshot::Sender<Returned>,
}

impl Sub {
    /// Gives the stream back to its connection's task, with what the socket did not take.
    fn give_back(self, pending: Vec<u8>) {
        crate::metrics::slow_stream();
        let _ = self.back.send(Returned {
            position: self.position,
            pending,
        });
    }
}

#[derive(Default)]
struct Inbox {
    new: Vec<Sub>,
    dirty: bool,
    stop: bool,
}

struct Writer {
    inbox: Mutex<Inbox>,
    wake: Condvar,
}

impl Writer {
    fn notify(&self, stop: bool) {
        if let Ok(mut inbox) = self.inbox.lock() {
            inbox.dirty = true;
            inbox.stop |= stop;
        }
        self.wake.notify_one();
    }
}

struct Shared {
    journal: RwLock<Journal>,
    /// Bumped (under the journal's lock) whenever the journal changes.
    version: std::sync::atomic::AtomicU64,
    writers: Vec<Writer>,
    next_writer: AtomicUsize,
    config: FanoutConfig,
}

impl Shared {
    /// The journal's changes after `from` and notices after `notices_from`; `None` if its
    /// lock is poisoned.
    fn view(&self, from: Revision, notices_from: u64) -> Option<View> {
        let journal = self.journal.read().ok()?;
        let mut view = View::take(&journal, from, notices_from);
        view.version = self.version.load(Ordering::Acquire);
        Some(view)
    }

    /// Changes the journal, and its version with it.
    fn change(&self, f: impl FnOnce(&mut Journal)) {
        if let Ok(mut journal) = self.journal.write() {
            f(&mut journal);
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    fn notify_all(&self, stop: bool) {
        for w in &self.writers {
            w.notify(stop);
        }
    }
}

/// The fan-out of one server: its journal, hub and writers. Stops them when dropped or when
/// the server shuts down.
pub(crate) struct Fanout {
    shared: Arc<Shared>,
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.shared.notify_all(true);
    }
}

impl Fanout {
    /// Starts the hub (on the current runtime) and the writer threads.
    pub fn start(
        catalog: Arc<Catalog>,
        engines: Option<Arc<nestor_engines::Registry>>,
        config: FanoutConfig,
        shutdown: CancellationToken,
    ) -> std::io::Result<Fanout> {
        let threads = config.threads.max(1);
        let shared = Arc::new(Shared {
            version: std::sync::atomic::AtomicU64::new(0),
            journal: RwLock::new(Journal {
                ready: false,
                events: VecDeque::new(),
                head: Revision(0),
                capacity: config.journal_events.max(1),
                notices: VecDeque::new(),
                notice_seq: 0,
            }),
            writers: (0..threads)
                .map(|_| Writer {
                    inbox: Mutex::new(Inbox::default()),
                    wake: Condvar::new(),
                })
                .collect(),
            next_writer: AtomicUsize::new(0),
            config,
        });
        for i in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("nestor-fanout-{i}"))
                .spawn(move || write_loop(&shared, i))?;
        }
        // Subscribe before the hub reads where the log stands, so nothing falls in between.
        let changes = catalog.subscribe();
        let notices = engines.map(|r| r.subscribe());
        tokio::spawn(hub(catalog, changes, notices, shared.clone(), shutdown));
        Ok(Fanout { shared })
    }

    /// The engine notice sequence a new stream starts after (it gets later ones only).
    pub fn notice_seq(&self) -> u64 {
        self.shared
            .journal
            .read()
            .map(|j| j.notice_seq)
            .unwrap_or(0)
    }

    /// Frames due to `pos` from the journal, without waiting. `None`: the journal does not
    /// reach back to `pos.last` (read the log).
    pub fn gather(&self, pos: &Position) -> Option<Gathered> {
        let view = self.shared.view(pos.last, pos.notice_seq)?;
        if !view.ready {
            // Nothing to give yet; the writer will wait for the hub.
            return Some(Gathered::nothing(pos));
        }
        view.gather(pos, false)
    }

    /// Gives a live stream to a writer; it comes back through the returned receiver if its
    /// socket stops taking whole writes. Dropping the receiver is fine.
    pub fn hand_over(&self, position: Position) -> tokio::sync::oneshot::Receiver<Returned> {
        let (back, rx) = tokio::sync::oneshot::channel();
        let i = self.shared.next_writer.fetch_add(1, Ordering::Relaxed) % self.shared.writers.len();
        let writer = &self.shared.writers[i];
        if let Ok(mut inbox) = writer.inbox.lock() {
            inbox.new.push(Sub { position, back });
            inbox.dirty = true;
        }
        writer.wake.notify_one();
        rx
    }
}

/// Follows the catalog's broadcast into the journal until shutdown.
async fn hub(
    catalog: Arc<Catalog>,
    mut changes: tokio::sync::broadcast::Receiver<Arc<SharedEvent>>,
    mut notices: Option<tokio::sync::broadcast::Receiver<nestor_engines::EngineStatus>>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    // Where the log stands now: what is after it arrives through the broadcast.
    let mut head = loop {
        match catalog.current_revision().await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, "fan-out: reading the log's revision; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => { shared.notify_all(true); return; }
                }
            }
        }
    };
    shared.change(|j| {
        j.head = head;
        j.ready = true;
    });
    let mut check = tokio::time::interval(Duration::from_secs(1));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut fill = false;
        tokio::select! {
            received = changes.recv() => match received {
                Ok(e) if e.revision <= head => continue,
                Ok(e) if e.revision == head.next() => {
                    head = e.revision;
                    shared.change(|j| j.push(e));
                    shared.notify_all(false);
                }
                // A gap (writers broadcast out of order) or a lag: the log has it.
                Ok(_) | Err(RecvError::Lagged(_)) => fill = true,
                Err(RecvError::Closed) => break,
            },
            status = async {
                match notices.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match status {
                Ok(status) => {
                    let frame = frame::engine_status(&status);
                    shared.change(|j| {
                        j.notice_seq += 1;
                        let seq = j.notice_seq;
                        j.notices.push_back((seq, frame));
                        while j.notices.len() > MAX_NOTICES {
                            j.notices.pop_front();
                        }
                    });
                    shared.notify_all(false);
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "fan-out skipped engine status changes");
                }
                Err(RecvError::Closed) => notices = None,
            },
            _ = check.tick() => fill = catalog.broadcast_revision() > head,
            () = shutdown.cancelled() => break,
        }
        if fill {
            head = fill_from_log(&catalog, &shared, head).await;
        }
    }
    shared.notify_all(true);
}

/// Appends what the log holds after `head` to the journal; returns the new head. A store
/// error leaves the rest for the next check.
async fn fill_from_log(catalog: &Catalog, shared: &Shared, mut head: Revision) -> Revision {
    loop {
        let events = match catalog.events_after(head, FILL_PAGE).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, %head, "fan-out: reading the log; retrying in 1 s");
                return head;
            }
        };
        let n = events.len();
        shared.change(|j| {
            for e in events {
                if e.revision == head.next() {
                    head = e.revision;
                    j.push(SharedEvent::new(e));
                }
            }
        });
        shared.notify_all(false);
        if n < FILL_PAGE {
            return head;
        }
    }
}

/// One writer thread: waits for the journal to move (or a tick), then gives each of its
/// streams what is due in one non-blocking write.
fn write_loop(shared: &Shared, index: usize) {
    let me = &shared.writers[index];
    let config = &shared.config;
    let tick = (config.keep_alive.min(config.bookmark_interval) / 4)
        .clamp(Duration::from_millis(5), Duration::from_millis(500));
    let mut subs: Vec<Sub> = Vec::new();
    let mut next_bookmark = Instant::now() + config.bookmark_interval;
    let mut again = false;
    loop {
        {
            let Ok(mut inbox) = me.inbox.lock() else {
                return;
            };
            if !again {
                let deadline = Instant::now() + tick;
                while !inbox.dirty && !inbox.stop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    inbox = match me.wake.wait_timeout(inbox, left) {
                        Ok((inbox, _)) => inbox,
                        Err(_) => return,
                    };
                }
            }
            if inbox.stop {
                // Each stream here is at a chunk's boundary: end its body with the last chunk
                // (best effort), then dropping the write halves closes the connections; their
                // tasks see the shutdown themselves.
                for sub in subs.iter().chain(&inbox.new) {
                    if sub.position.chunked {
                        let _ = sub.position.writer.try_write(LAST_CHUNK);
                    }
                }
                return;
            }
            inbox.dirty = false;
            subs.append(&mut inbox.new);
        }
        again = false;
        let now = Instant::now();
        let bookmark = now >= next_bookmark;
        if bookmark {
            next_bookmark = now + config.bookmark_interval;
        }
        let (from, notices_from) = {
            let Ok(journal) = shared.journal.read() else {
                return;
            };
            let from = subs.iter().map(|s| s.position.last).min();
            let notices_from = subs.iter().map(|s| s.position.notice_seq).min();
            (
                from.unwrap_or(journal.head),
                notices_from.unwrap_or(journal.notice_seq),
            )
        };
        let Some(mut view) = shared.view(from, notices_from) else {
            return;
        };
        if !view.ready {
            continue;
        }
        let mut sent = 0;
        let mut i = 0;
        while i < subs.len() {
            // A change that arrived during the pass goes to the streams not yet visited at
            // once, rather than waiting for the next pass: a stream then waits at most one
            // pass for any change, not up to two.
            if shared.version.load(Ordering::Acquire) != view.version {
                match shared.view(from, notices_from) {
                    Some(v) => view = v,
                    None => return,
                }
            }
            let sub = &mut subs[i];
            if sub.position.closed.load(Ordering::Relaxed) {
                subs.swap_remove(i);
                continue;
            }
            let Some(mut g) = view.gather(&sub.position, bookmark) else {
                // Behind the journal: its connection reads the log.
                subs.swap_remove(i).give_back(Vec::new());
                continue;
            };
            if g.frames.is_empty() {
                if now.duration_since(sub.position.last_write) < config.keep_alive {
                    sub.position.advance(&g);
                    i += 1;
                    continue;
                }
                g.frames.push(Bytes::from_static(KEEP_ALIVE));
                g.len = KEEP_ALIVE.len();
            }
            again |= g.more;
            // One chunk: its size line, the shared frames, its end.
            let size = ChunkSize::new(g.len);
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(g.frames.len() + 2);
            let chunked = sub.position.chunked;
            if chunked {
                slices.push(IoSlice::new(size.as_bytes()));
            }
            slices.extend(g.frames.iter().map(|f| IoSlice::new(f)));
            if chunked {
                slices.push(IoSlice::new(CHUNK_END));
            }
            let total: usize = slices.iter().map(|s| s.len()).sum();
            match sub.position.writer.try_write_vectored(&slices) {
                Ok(n) if n == total => {
                    sent += g.changes;
                    sub.position.advance(&g);
                    i += 1;
                }
                Ok(n) => {
                    // The socket took part: the rest (of the chunk) goes back with the stream.
                    let mut pending = Vec::with_capacity(total - n);
                    let mut skip = n;
                    for f in &slices {
                        if skip >= f.len() {
                            skip -= f.len();
                        } else {
                            pending.extend_from_slice(&f[skip..]);
                            skip = 0;
                        }
                    }
                    sent += g.changes;
                    let mut sub = subs.swap_remove(i);
                    sub.position.advance(&g);
                    sub.give_back(pending);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    subs.swap_remove(i).give_back(Vec::new());
                }
                Err(_) => {
                    // The client is gone; its connection's task notices too.
                    subs.swap_remove(i);
                }
            }
        }
        if sent > 0 {
            crate::metrics::events_sent(sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestor_model::{ChangeEvent, EventType};

    fn event(revision: u64, name: &str) -> Arc<SharedEvent> {
        let definition = serde_json::json!({
            "name": name, "version": "1.0.0", "description": "d", "provider": "aws",
            "category": "network", "resource_type": "aws_thing", "deployment_engines": ["terraform"],
        });
        let spec = nestor_model::parse_definition_json(definition.to_string().as_bytes())
            .expect("a valid definition");
        let component = nestor_model::Component {
            spec,
            content_hash: "sha256:0".into(),
            published_at: time::OffsetDateTime::UNIX_EPOCH,
            revision: Revision(revision),
            deprecated: None,
            yanked: false,
            published_by: None,
            changed_by: None,
        };
        SharedEvent::new(ChangeEvent {
            revision: Revision(revision),
            event_type: EventType::Published,
            name: name.into(),
            version: component.spec.version.clone(),
            component,
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            changed_by: None,
        })
    }

    fn journal(first: u64, head: u64, capacity: usize) -> Journal {
        let mut j = Journal {
            ready: true,
            events: VecDeque::new(),
            head: Revision(first - 1),
            capacity,
            notices: VecDeque::new(),
            notice_seq: 0,
        };
        for r in first..=head {
            j.push(event(r, if r % 2 == 0 { "even" } else { "odd" }));
        }
        j
    }

    async fn position(last: u64, filter: ComponentFilter) -> (Position, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_, writer) = server.into_split();
        (
            Position {
                writer,
                everything: filter.is_empty(),
                filter: Arc::new(filter),
                last: Revision(last),
                told: Revision(last),
                notice_seq: 0,
                last_write: Instant::now(),
                closed: Arc::new(AtomicBool::new(false)),
                chunked: true,
                probe_details: true,
            },
            client,
        )
    }

    #[test]
    fn the_journal_keeps_its_capacity_of_the_newest_changes() {
        let j = journal(1, 10, 4);
        assert_eq!(j.first(), Revision(7));
        assert_eq!(j.head, Revision(10));
        let view = View::take(&j, Revision(2), 0);
        assert!(!view.covers(Revision(5)));
        assert!(view.covers(Revision(6)));
        assert!(
            view.covers(Revision(12)),
            "later revisions are simply not written yet"
        );
        assert_eq!(view.base, Revision(7));
    }

    #[tokio::test]
    async fn gathering_gives_what_follows_the_position_and_moves_filtered_streams_on() {
        let j = journal(1, 10, 100);
        let view = View::take(&j, Revision(3), 0);
        let (all, _c1) = position(5, ComponentFilter::default()).await;
        let g = view.gather(&all, false).unwrap();
        assert_eq!(g.changes, 5);
        assert_eq!(g.last, Revision(10));
        let text: Vec<u8> = g.frames.iter().flat_map(|f| f.to_vec()).collect();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("id: 6\n"), "{text}");
        assert_eq!(text.matches("\n\n").count(), 5);

        let mut odd = ComponentFilter::default();
        odd.names.push("odd".into());
        let (filtered, _c2) = position(5, odd).await;
        let g = view.gather(&filtered, false).unwrap();
        assert_eq!(g.changes, 2, "7 and 9");
        assert_eq!((g.last, g.told), (Revision(10), Revision(9)));
        let g = view.gather(&filtered, true).unwrap();
        let last = String::from_utf8(g.frames.last().unwrap().to_vec()).unwrap();
        assert!(
            last.contains("catalog.bookmark") && last.contains("\"revision\":10"),
            "{last}"
        );
        assert_eq!(g.told, Revision(10));

        let (behind, _c3) = position(1, ComponentFilter::default()).await;
        let small = View::take(&journal(1, 10, 4), Revision(0), 0);
        assert!(
            small.gather(&behind, false).is_none(),
            "the log must be read"
        );
    }
}
