//! The room store: the interface between the rules of rooms and where their
//! state lives. [`MemoryStore`](super::MemoryStore) keeps it in this
//! process; a store shared by several instances (Redis) keeps the same rules
//! and gives the same answers behind the same interface.
//!
//! Everything is keyed by room id and peer id, never by a connection, and
//! time comes in as an argument. A store does no I/O towards clients: it
//! answers who must be told what, and the hub does the telling. Every
//! refusal leaves the store exactly as it was.
//!
//! The methods are async (boxed futures, so that the hub can hold any store
//! as `dyn RoomStore`) and take `&self`: a store serves many tasks at once,
//! with no lock over all rooms.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{ChatEntry, PeerInfo, Refusal, RoomKind};

/// What every store method returns.
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One connection's hold on a seat. A seat taken again by a resume gets a
/// new epoch, so that the earlier connection's late `leave` or disconnect
/// cannot touch the seat it no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seat {
    /// Shared, not copied, by whoever keeps the seat (a session, the
    /// delivery's table): an idle connection's bytes count.
    pub(crate) room: Arc<str>,
    pub(crate) peer: Arc<str>,
    pub(crate) epoch: u64,
}

/// A member claiming its seat back, from a resume token already verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) peer_id: String,
    /// The room's capacity and kind, to make the room again if the store
    /// forgot it (the server restarted).
    pub(crate) capacity: usize,
    pub(crate) kind: RoomKind,
    /// When the token was made. A token made in the room's present life
    /// whose seat is gone is spent: the member left, or did not come back
    /// in time.
    pub(crate) issued: SystemTime,
    /// Until when the token may make the room again if the store does not
    /// know it. A room is forgotten only once empty for the idle timeout,
    /// so a younger token means the store lost it (a restart); an older
    /// one may belong to a room that expired, and must not bring it back.
    pub(crate) remakes_until: SystemTime,
}

/// A request to enter a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinRequest {
    pub(crate) room: String,
    pub(crate) name: Option<String>,
    pub(crate) resume: Option<Resume>,
}

/// What a successful join produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Joined {
    pub(crate) seat: Seat,
    pub(crate) peer: PeerInfo,
    pub(crate) kind: RoomKind,
    pub(crate) capacity: usize,
    /// The others in the room, oldest first.
    pub(crate) peers: Vec<PeerInfo>,
    /// Members to be told `peer-joined`; none when a held seat was taken
    /// back, since for the others the member never left.
    pub(crate) notify: Vec<String>,
    /// True when the member took back a seat held for it.
    pub(crate) resumed: bool,
    /// Messages that waited for the member while its connection was down.
    pub(crate) parked: Vec<String>,
    /// True when an older connection still held the seat: it must be closed.
    pub(crate) replaced: bool,
    /// The room's chat so far, for a member that was not here: empty when
    /// a held seat was taken back.
    pub(crate) history: Vec<ChatEntry>,
}

/// A chat message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chat {
    pub(crate) entry: ChatEntry,
    /// Everyone in the room who is here, the sender included.
    pub(crate) notify: Vec<String>,
}

/// What a leave produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) room: String,
    pub(crate) peer_id: String,
    /// The members still in the room and here, to be told `peer-left`.
    pub(crate) notify: Vec<String>,
}

/// A seat whose connection went down at `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwaySeat {
    pub(crate) room: String,
    pub(crate) peer: String,
    pub(crate) since: SystemTime,
}

/// Where a signal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Deliver it to the receiver now.
    Now,
    /// The receiver's connection is down; the message waits for it.
    Parked,
    /// The receiver's connection is down and too much waits already: its
    /// seat is given up, and the others must be told.
    SeatReleased(Left),
}

/// A room as seen from outside: for the HTTP API and the pre-join screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomSummary {
    pub(crate) kind: RoomKind,
    pub(crate) capacity: usize,
    pub(crate) members: usize,
}

/// Totals for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Occupancy {
    pub(crate) rooms: usize,
    pub(crate) members: usize,
}

/// The rules of rooms, wherever their state lives.
pub(crate) trait RoomStore: Send + Sync {
    /// Makes a room with a fresh unguessable id.
    fn create_room(
        &self,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> StoreFuture<'_, Result<String, Refusal>>;

    /// Makes room `room` again, empty, unless it exists: a room the server
    /// knew before it restarted. True if it was made.
    fn restore_room<'a>(
        &'a self,
        room: &'a str,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<bool, Refusal>>;

    fn room_summary<'a>(&'a self, room: &'a str) -> StoreFuture<'a, Option<RoomSummary>>;

    /// Enters a room, or takes a seat back with a verified resume claim.
    fn join(
        &self,
        request: JoinRequest,
        now: SystemTime,
    ) -> StoreFuture<'_, Result<Joined, Refusal>>;

    /// An explicit `leave`.
    fn leave<'a>(
        &'a self,
        seat: &'a Seat,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Left, Refusal>>;

    /// The seat's connection is gone. With `keep_seat` the member stays in
    /// the room, away, until it resumes or [`RoomStore::release_away`] gives
    /// the seat up; otherwise it leaves now. Nothing happens if the
    /// connection no longer holds the seat.
    fn disconnect<'a>(
        &'a self,
        seat: &'a Seat,
        now: SystemTime,
        keep_seat: bool,
    ) -> StoreFuture<'a, Option<Left>>;

    /// Finds where a signal from `from` to peer `to` goes; `message` is kept
    /// if the receiver is away.
    fn route_signal<'a>(
        &'a self,
        from: &'a Seat,
        to: &'a str,
        message: &'a str,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Route, Refusal>>;

    /// Remembers a chat message from `from` and says who must get it.
    fn chat<'a>(
        &'a self,
        from: &'a Seat,
        text: String,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Chat, Refusal>>;

    /// The seats away for at least `grace`, oldest first, taken off the
    /// store's list of away seats (a shared store may list a seat again
    /// until it is released, so that no instance's crash loses it). Each is
    /// then given up on its own with [`RoomStore::release_away`], in its
    /// room's turn.
    fn away_past(&self, now: SystemTime, grace: Duration) -> StoreFuture<'_, Vec<AwaySeat>>;

    /// Gives up `seat` if it is still away since then (its member may have
    /// resumed, or left, meanwhile).
    fn release_away<'a>(
        &'a self,
        seat: &'a AwaySeat,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<Left>>;

    /// Forgets rooms that have been empty for `idle`; returns how many.
    fn forget_idle_rooms(&self, now: SystemTime, idle: Duration) -> StoreFuture<'_, usize>;

    /// Forgets rooms that nobody has joined since their creation `timeout`
    /// or more ago; returns how many. Rooms cost nothing to create but a
    /// place under `--max-rooms`: unused ones must not hold it for long.
    fn forget_unjoined_rooms(&self, now: SystemTime, timeout: Duration) -> StoreFuture<'_, usize>;

    /// Rooms and members now; cheap, for every metrics scrape.
    fn occupancy(&self) -> Occupancy;

    /// False while the store cannot be reached (a shared store whose
    /// server is away): requests are refused meanwhile, and `/healthz`
    /// says so.
    fn reachable(&self) -> bool {
        true
    }
}

/// Unix time in milliseconds, as chat messages carry it.
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
