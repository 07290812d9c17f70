//! Counting a scrape body on the side while it is forwarded: the [`Tee`]
//! the streaming scrape body hands each chunk to, and which delivers the
//! counts once the body has ended. Counting never changes the bytes, and
//! never holds up the end of a scrape.
//!
//! Where the counting runs is what this module decides:
//!
//! - A body's first [`COUNT_INLINE_UP_TO`] bytes are counted on the
//!   forwarding task, but each chunk only after it has been handed to
//!   hyper: chunks wait, by reference count, until hyper has flushed them
//!   (the body's previous poll was pending, [`Tee::flushed`]) or until
//!   [`LANE_BACKLOG`] bytes wait. What still waits when the body ends is
//!   counted on a task of its own, after the response has ended. Most
//!   scrapes end within that part, and a thread hand-over would cost more
//!   than it saves.
//! - A larger body's chunks go to a [`CountingLane`] (a blocking-pool
//!   thread, chunks passed by reference count), so forwarding and counting
//!   overlap when a core is free; forwarding waits ([`Tee::poll_room`])
//!   while more than `LANE_BACKLOG` bytes are uncounted, which bounds the
//!   memory per scrape. (An earlier version counted every scrape on a tokio
//!   task fed by a bounded queue of small chunks; its cross-task wake-ups,
//!   on the two-thread runtime the sidecar then ran on, made it slower than
//!   counting inline.)
//!
//! What is counted, and how, is the scrape's [`ScrapeObserver`]
//! (`scrape::counting`); whether a scrape is counted at all is the
//! statistics' counting schedule.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::scrape::counting::{Counts, ScrapeObserver};

/// Bytes of a body counted without a lane (on the forwarding task, the last
/// chunks on a task of their own); the rest of a larger body is counted on
/// a [`CountingLane`].
pub(super) const COUNT_INLINE_UP_TO: u64 = 1 << 20;

/// Counts one scrape body as its chunks are forwarded. The streaming body
/// calls [`Tee::poll_room`] before it polls the target's body,
/// [`Tee::flushed`] when that poll is pending, [`Tee::chunk`] with each
/// chunk it forwards, and [`Tee::finish`] when the body ends.
pub(super) struct Tee {
    /// Counts the first chunks on the forwarding task; `None` once a lane
    /// has taken over.
    observer: Option<Box<dyn ScrapeObserver>>,
    /// Chunks handed to hyper but not yet shown to `observer`, oldest first.
    uncounted: VecDeque<Bytes>,
    uncounted_bytes: usize,
    /// The previous poll was pending, so hyper has flushed every chunk it
    /// was given: counting them now delays nothing already sent.
    flushed: bool,
    /// Bytes teed so far.
    teed_bytes: u64,
    /// Counts the rest of a large body off the forwarding path.
    lane: Option<CountingLane>,
}

impl fmt::Debug for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tee")
            .field("teed_bytes", &self.teed_bytes)
            .field("uncounted_bytes", &self.uncounted_bytes)
            .field("lane", &self.lane)
            .finish_non_exhaustive()
    }
}

impl Tee {
    /// A tee counting with `observer`.
    pub(super) fn new(observer: Box<dyn ScrapeObserver>) -> Self {
        Self {
            observer: Some(observer),
            uncounted: VecDeque::new(),
            uncounted_bytes: 0,
            flushed: false,
            teed_bytes: 0,
            lane: None,
        }
    }

    /// Ready when another chunk may be forwarded; pending (waking `cx` when
    /// the counter has caught up some) while a lane's backlog is full.
    /// When ready, first counts the chunks already handed to hyper if they
    /// have been flushed or too many wait.
    pub(super) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(lane) = &self.lane
            && lane.poll_room(cx).is_pending()
        {
            return Poll::Pending;
        }
        self.count_uncounted();
        self.flushed = false;
        Poll::Ready(())
    }

    /// The target's body had nothing yet: hyper flushes what it has before
    /// it polls again.
    pub(super) fn flushed(&mut self) {
        self.flushed = true;
    }

    /// A chunk being handed to hyper; `more` is whether the body may have
    /// more after it. Counted by a later poll on the forwarding task for the
    /// first bytes, then on a counting lane.
    pub(super) fn chunk(&mut self, data: &Bytes, more: bool) {
        self.teed_bytes += data.len() as u64;
        if let Some(lane) = &self.lane {
            lane.chunk(data);
            return;
        }
        if self.observer.is_none() {
            return;
        }
        self.uncounted_bytes += data.len();
        self.uncounted.push_back(data.clone());
        if self.teed_bytes >= COUNT_INLINE_UP_TO
            && more
            && let Some(observer) = self.observer.take()
        {
            match CountingLane::start(observer) {
                Ok(lane) => {
                    for chunk in self.uncounted.drain(..) {
                        lane.chunk(&chunk);
                    }
                    self.uncounted_bytes = 0;
                    self.lane = Some(lane);
                }
                Err(observer) => self.observer = Some(observer),
            }
        }
    }

    /// Counts the chunks already handed to hyper, if they have been flushed
    /// or too many wait.
    fn count_uncounted(&mut self) {
        if !(self.flushed || self.uncounted_bytes >= LANE_BACKLOG) {
            return;
        }
        if let Some(observer) = self.observer.as_mut() {
            for chunk in self.uncounted.drain(..) {
                observer.chunk(&chunk);
            }
        }
        self.uncounted_bytes = 0;
    }

    /// The body ended (`complete`: cleanly, else it was cut). `done` gets
    /// the counts once the last chunks are counted: on the lane, or on a
    /// task of its own.
    pub(super) fn finish(self, complete: bool, done: impl FnOnce(Counts) + Send + 'static) {
        let Self {
            observer,
            uncounted,
            lane,
            ..
        } = self;
        if let Some(lane) = lane {
            // Recorded when the lane has counted the last chunk.
            lane.end(complete, Box::new(done));
        } else if let Some(mut observer) = observer {
            let count_rest = move || {
                for chunk in &uncounted {
                    observer.chunk(chunk);
                }
                done(observer.finish(complete));
            };
            // On a task of its own, which runs once this task has yielded:
            // hyper ends the response first, so counting the last chunks
            // and finishing the count never delay the end of the scrape.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move { count_rest() });
                }
                Err(_) => count_rest(),
            }
        }
    }
}

/// Counting moved off the forwarding path: a blocking-pool thread feeds the
/// scrape's observer while the proxy goes on forwarding, so a large body
/// reaches Prometheus at forwarding speed instead of forwarding plus
/// counting speed when a core is free.
///
/// Chunks are `Bytes` handed over by reference count (never copied). The
/// body must not be forwarded further while more than [`LANE_BACKLOG`]
/// bytes wait to be counted ([`CountingLane::is_full`], [`CountingLane::poll_room`]), so a
/// scrape holds at most that much extra memory.
struct CountingLane {
    to_counter: std::sync::mpsc::Sender<LaneMessage>,
    backlog: Arc<Backlog>,
}

/// Most bytes a scrape may have forwarded but not yet counted.
const LANE_BACKLOG: usize = 512 << 10;

/// What the tee calls with the scrape's counts once counting has ended.
type CountsDone = Box<dyn FnOnce(Counts) + Send>;

enum LaneMessage {
    Chunk(Bytes),
    End { complete: bool, done: CountsDone },
}

#[derive(Default)]
struct Backlog {
    bytes: std::sync::atomic::AtomicUsize,
    room: futures_util::task::AtomicWaker,
}

impl fmt::Debug for CountingLane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingLane")
            .field("backlog", &self.backlog.bytes)
            .finish_non_exhaustive()
    }
}

impl CountingLane {
    /// Moves `observer` to a blocking-pool thread of the current tokio
    /// runtime; gives it back when there is no runtime to run it on.
    fn start(mut observer: Box<dyn ScrapeObserver>) -> Result<Self, Box<dyn ScrapeObserver>> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(observer);
        };
        let (to_counter, from_proxy) = std::sync::mpsc::channel::<LaneMessage>();
        let backlog = Arc::new(Backlog::default());
        let counted = Arc::clone(&backlog);
        runtime.spawn_blocking(move || {
            while let Ok(message) = from_proxy.recv() {
                match message {
                    LaneMessage::Chunk(chunk) => {
                        observer.chunk(&chunk);
                        counted
                            .bytes
                            .fetch_sub(chunk.len(), std::sync::atomic::Ordering::AcqRel);
                        counted.room.wake();
                    }
                    LaneMessage::End { complete, done } => {
                        done(observer.finish(complete));
                        return;
                    }
                }
            }
        });
        Ok(Self {
            to_counter,
            backlog,
        })
    }

    /// Hands one forwarded chunk to the counter.
    fn chunk(&self, chunk: &Bytes) {
        self.backlog
            .bytes
            .fetch_add(chunk.len(), std::sync::atomic::Ordering::AcqRel);
        // The counter thread only ends after `End`, so this cannot fail
        // before `end`; if it ever did, `end` reports the lost counts.
        let _ = self.to_counter.send(LaneMessage::Chunk(chunk.clone()));
    }

    /// Whether forwarding must wait for the counter.
    fn is_full(&self) -> bool {
        self.backlog
            .bytes
            .load(std::sync::atomic::Ordering::Acquire)
            >= LANE_BACKLOG
    }

    /// Ready when there is room to forward another chunk; otherwise wakes
    /// `cx` when the counter has caught up some.
    fn poll_room(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if !self.is_full() {
            return std::task::Poll::Ready(());
        }
        self.backlog.room.register(cx.waker());
        if self.is_full() {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    }

    /// The body ended (`complete`: cleanly); `done` gets the counts once the
    /// counter has seen every chunk.
    fn end(self, complete: bool, done: CountsDone) {
        if let Err(std::sync::mpsc::SendError(LaneMessage::End { done, .. })) =
            self.to_counter.send(LaneMessage::End { complete, done })
        {
            done(Counts {
                error: Some("counting stopped before the body ended".to_owned()),
                ..Counts::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::counting::{CountingHooks, ExpositionCounting, ResponseMeta};
    use crate::shard_api::{Role, ScrapeTarget, TargetId};

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn target() -> Arc<ScrapeTarget> {
        Arc::new(ScrapeTarget {
            id: TargetId("t".into()),
            job: "j".into(),
            url: "http://x/metrics".into(),
            labels: Default::default(),
            role: Role::Active,
        })
    }

    /// Counts the bytes it was shown, visibly to the test.
    struct Seen(Arc<std::sync::atomic::AtomicU64>);

    impl ScrapeObserver for Seen {
        fn chunk(&mut self, wire: &Bytes) {
            self.0
                .fetch_add(wire.len() as u64, std::sync::atomic::Ordering::SeqCst);
        }

        fn finish(self: Box<Self>, complete: bool) -> Counts {
            Counts {
                decoded_bytes: self.0.load(std::sync::atomic::Ordering::SeqCst),
                error: (!complete).then(|| "cut".to_owned()),
                ..Counts::default()
            }
        }
    }

    /// A chunk is counted on the forwarding task only once hyper has
    /// flushed it, or once a backlog's worth waits; the rest when the body
    /// ends, on a task of its own.
    #[tokio::test]
    async fn inline_chunks_are_counted_once_flushed_and_the_rest_after_the_end() {
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = || seen.load(std::sync::atomic::Ordering::SeqCst);
        let mut tee = Tee::new(Box::new(Seen(Arc::clone(&seen))));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        tee.chunk(&Bytes::from_static(b"first"), true);
        assert!(tee.poll_room(&mut cx).is_ready());
        assert_eq!(count(), 0, "not flushed yet");
        tee.flushed();
        assert!(tee.poll_room(&mut cx).is_ready());
        assert_eq!(count(), 5);
        let big = Bytes::from(vec![b'x'; LANE_BACKLOG]);
        tee.chunk(&big, true);
        assert!(tee.poll_room(&mut cx).is_ready());
        assert_eq!(count(), 5 + LANE_BACKLOG as u64, "a backlog's worth waits");
        tee.chunk(&Bytes::from_static(b"last"), false);
        let (tx, rx) = tokio::sync::oneshot::channel();
        tee.finish(false, move |counts| drop(tx.send(counts)));
        assert_eq!(count(), 5 + LANE_BACKLOG as u64, "after this task yields");
        let counts = rx.await.unwrap();
        assert_eq!(counts.decoded_bytes, 5 + LANE_BACKLOG as u64 + 4);
        assert_eq!(counts.error.as_deref(), Some("cut"));
    }

    /// Past the inline part, a body that goes on is counted on a lane, every
    /// byte exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_body_moves_to_a_lane_and_is_counted_exactly() {
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tee = Tee::new(Box::new(Seen(Arc::clone(&seen))));
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = 3 * usize::try_from(COUNT_INLINE_UP_TO).unwrap() / chunk.len();
        for i in 0..chunks {
            std::future::poll_fn(|cx| tee.poll_room(cx)).await;
            tee.chunk(&chunk, i + 1 < chunks);
        }
        assert!(tee.lane.is_some() && tee.observer.is_none());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tee.finish(true, move |counts| drop(tx.send(counts)));
        let counts = rx.await.unwrap();
        assert_eq!(counts.decoded_bytes, (chunks * chunk.len()) as u64);
        assert_eq!(counts.error, None);
    }

    /// Counts chunk bytes, but only as fast as the test lets it.
    struct Gated {
        gate: std::sync::mpsc::Receiver<()>,
        bytes: u64,
    }

    impl ScrapeObserver for Gated {
        fn chunk(&mut self, wire: &Bytes) {
            let _ = self.gate.recv();
            self.bytes += wire.len() as u64;
        }

        fn finish(self: Box<Self>, complete: bool) -> Counts {
            Counts {
                decoded_bytes: self.bytes,
                error: (!complete).then(|| "cut".to_owned()),
                ..Counts::default()
            }
        }
    }

    #[tokio::test]
    async fn a_lane_counts_every_chunk_in_order_and_bounds_the_backlog() {
        let hooks = ExpositionCounting::default();
        let meta = ResponseMeta {
            content_type: Some("text/plain; version=0.0.4"),
            content_encoding: Some("gzip"),
        };
        let plain = b"a 1\nb{x=\"y\"} 2\n".repeat(50_000);
        let wire = gzip(&plain);
        let lane = CountingLane::start(hooks.observer(&target(), &meta))
            .unwrap_or_else(|_| panic!("inside a runtime"));
        for piece in wire.chunks(1000) {
            std::future::poll_fn(|cx| lane.poll_room(cx)).await;
            lane.chunk(&Bytes::copy_from_slice(piece));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        lane.end(true, Box::new(move |counts| drop(tx.send(counts))));
        let counts = rx.await.unwrap();
        assert_eq!(counts.samples, Some(100_000));
        assert_eq!(counts.decoded_bytes, plain.len() as u64);
        assert_eq!(counts.error, None);

        // A counter that does not keep up makes the proxy wait.
        let (open, gate) = std::sync::mpsc::channel();
        let slow = Box::new(Gated { gate, bytes: 0 });
        let lane = CountingLane::start(slow).unwrap_or_else(|_| panic!("inside a runtime"));
        let chunk = Bytes::from(vec![b'x'; 256 * 1024]);
        while !lane.is_full() {
            lane.chunk(&chunk);
        }
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(lane.poll_room(&mut cx).is_pending());
        for _ in 0..LANE_BACKLOG / chunk.len() {
            open.send(()).unwrap();
        }
        std::future::poll_fn(|cx| lane.poll_room(cx)).await;
        drop(open);
        let (tx, rx) = tokio::sync::oneshot::channel();
        lane.end(false, Box::new(move |counts| drop(tx.send(counts))));
        let counts = rx.await.unwrap();
        assert_eq!(counts.decoded_bytes, LANE_BACKLOG as u64);
        assert_eq!(counts.error.as_deref(), Some("cut"));
    }
}
