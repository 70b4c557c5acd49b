//! [`RedisStore`]: the room store shared by every instance, in Redis.
//!
//! Each operation is one Lua script (see `lua/`), run by Redis as a whole:
//! it checks the rules, changes the state and publishes the events it
//! makes to the channels of the instances holding their receivers'
//! connections, in one step. The scripts are the same rules as
//! [`MemoryStore`](crate::rooms::MemoryStore), checked by the same
//! contract tests. Scripts answer in JSON, with the cluster's room and
//! member counts, which [`RoomStore::occupancy`] then gives without a
//! round trip.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use super::answer::{Answer, refusal, unavailable};
use super::events::Events;
use super::scripts;
use crate::rooms::room::{
    MAX_CHAT_HISTORY, MAX_CHAT_HISTORY_BYTES, MAX_PARKED_BYTES, MAX_PARKED_MESSAGES,
};
use crate::rooms::store::{
    AwaySeat, Chat, JoinRequest, Joined, Left, Occupancy, RoomStore, RoomSummary, Route, Seat,
    StoreFuture, unix_millis,
};
use crate::rooms::{PeerInfo, Refusal, RoomKind, StoreLimits, ids};
use redis::Script;
use redis::aio::ConnectionManager;

pub(crate) struct RedisStore {
    /// For the subscription to this instance's channel.
    client: redis::Client,
    conn: ConnectionManager,
    /// Namespace of every key and channel, e.g. `parlor:`.
    prefix: String,
    /// This instance's name: whose channel gets the events for the
    /// connections it holds.
    instance: String,
    limits: StoreLimits,
    /// False since a heartbeat failed, until one succeeds: operations then
    /// fail at once instead of each waiting for Redis to time out.
    reachable: AtomicBool,
    /// False while this instance's event subscription is lost: what the
    /// scripts publish for its connections would not reach them.
    subscribed: AtomicBool,
    /// Counts the outages the heartbeat noticed, so that the subscription
    /// (which may not notice that its connection is gone) is made again.
    outages: tokio::sync::watch::Sender<u64>,
    /// Connections that ended while Redis could not be reached, to tell it
    /// once it can be (see [`MAX_OWED`]).
    owed: Mutex<Vec<LeaveArgs>>,
    /// The cluster's counts as the last script saw them.
    rooms: AtomicUsize,
    members: AtomicUsize,
}

/// The arguments of `leave.lua`, owned, so that a disconnect can be kept
/// while Redis is away.
struct LeaveArgs([String; 5]);

impl LeaveArgs {
    fn each(&self) -> [&str; 5] {
        self.0.each_ref().map(String::as_str)
    }
}

fn leave_args(seat: &Seat, now: SystemTime, how: &str) -> LeaveArgs {
    LeaveArgs([
        seat.room.to_string(),
        seat.peer.to_string(),
        seat.epoch.to_string(),
        millis(now),
        how.to_owned(),
    ])
}

/// Most disconnects kept while Redis is away: what bounds their memory.
const MAX_OWED: usize = 100_000;

/// A failed round trip: Redis unreachable, or an answer not understood.
#[derive(Debug)]
struct Unreachable;

fn millis(time: SystemTime) -> String {
    unix_millis(time).to_string()
}

fn cutoff(now: SystemTime, age: Duration) -> String {
    (unix_millis(now) as i128 - age.as_millis() as i128).to_string()
}

/// How long a Redis call may take before the operation counts as failed:
/// a client waits no longer than this for an answer while Redis is away.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The namespace of every key and channel in production.
const PREFIX: &str = "parlor:";

impl RedisStore {
    /// Connects to the Redis server at `url` as a new instance of the
    /// cluster; fails if it cannot be reached now. Later outages are
    /// survived: the connection is made again in the background.
    pub(crate) async fn connect(url: &str, limits: StoreLimits) -> std::io::Result<RedisStore> {
        let fail = |err: redis::RedisError| {
            std::io::Error::other(format!("cannot reach Redis at {url}: {err}"))
        };
        let client = redis::Client::open(url).map_err(fail)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(fail)?;
        Ok(RedisStore::new(
            client,
            conn,
            PREFIX.into(),
            ids::room_id(),
            limits,
        ))
    }

    pub(crate) fn new(
        client: redis::Client,
        conn: ConnectionManager,
        prefix: String,
        instance: String,
        limits: StoreLimits,
    ) -> Self {
        RedisStore {
            client,
            conn,
            prefix,
            instance,
            limits,
            reachable: AtomicBool::new(true),
            subscribed: AtomicBool::new(true),
            outages: tokio::sync::watch::Sender::new(0),
            owed: Mutex::default(),
            rooms: AtomicUsize::new(0),
            members: AtomicUsize::new(0),
        }
    }

    /// Subscribes to this instance's channel, where the scripts publish the
    /// events for the connections it holds.
    pub(crate) async fn events(&self) -> redis::RedisResult<Events> {
        let (mut sink, stream) = self.client.get_async_pubsub().await?.split();
        sink.subscribe(format!("{}inst:{}", self.prefix, self.instance))
            .await?;
        Ok(Events::new(sink, stream))
    }

    /// Says this instance is alive, for `ttl`; the instance that holds the
    /// sweeper's lock also marks away the seats of instances that stopped
    /// saying so. Returns how many seats it marked, or the failure, and
    /// notes whether Redis answered. Tried twice, as it changes nothing the
    /// second time: the first call after Redis came back may find the
    /// connection broken, and the second makes it again.
    pub(crate) async fn heartbeat(&self, ttl: Duration, now: SystemTime) -> Result<usize, String> {
        let mut invocation = scripts::HEARTBEAT.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(&self.instance)
            .arg(ttl.as_millis() as u64)
            .arg(unix_millis(now));
        let mut answer: Result<String, _> = invocation.invoke_async(&mut self.conn.clone()).await;
        if answer.is_err() {
            answer = invocation.invoke_async(&mut self.conn.clone()).await;
        }
        let swept = match answer {
            Ok(text) => serde_json::from_str::<Answer>(&text)
                .map(|a| a.swept)
                .map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match &swept {
            Ok(_) => {
                if !self.reachable.swap(true, Relaxed) {
                    tracing::info!("cluster: Redis can be reached again");
                }
                self.settle_owed().await;
            }
            Err(err) => self.lost(err),
        }
        swept
    }

    /// Notes that Redis cannot be reached, until a heartbeat says it can.
    pub(crate) fn lost(&self, why: &str) {
        if self.reachable.swap(false, Relaxed) {
            self.outages.send_modify(|n| *n += 1);
            tracing::error!(%why, "cluster: Redis cannot be reached; refusing joins until it can");
        }
    }

    /// True unless the last heartbeat failed or the event subscription is
    /// lost.
    pub(crate) fn reachable(&self) -> bool {
        self.reachable.load(Relaxed) && self.subscribed.load(Relaxed)
    }

    /// Changes each time Redis is found gone.
    pub(crate) fn outages(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outages.subscribe()
    }

    /// Notes whether this instance's event subscription stands.
    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Relaxed);
    }

    /// Runs `script` with the namespace and `args`.
    async fn eval(&self, script: &Script, args: &[&str]) -> Result<Answer, Unreachable> {
        if !self.reachable() {
            return Err(Unreachable);
        }
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix);
        for arg in args {
            invocation.arg(*arg);
        }
        let text: String = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|err: redis::RedisError| {
                tracing::warn!(%err, "room store: Redis call failed");
                if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() {
                    self.lost(&err.to_string());
                }
                Unreachable
            })?;
        let answer: Answer = serde_json::from_str(&text).map_err(|err| {
            tracing::error!(%err, "room store: a script answered what this build does not read");
            Unreachable
        })?;
        self.rooms.store(answer.counts.0, Relaxed);
        self.members.store(answer.counts.1, Relaxed);
        Ok(answer)
    }

    /// Runs `script`; a refusal it answers, or Redis unreachable, is an error.
    async fn checked(&self, script: &Script, args: &[&str]) -> Result<Answer, Refusal> {
        let answer = self.eval(script, args).await.map_err(|_| unavailable())?;
        match &answer.err {
            Some(tag) => Err(refusal(tag)),
            None => Ok(answer),
        }
    }

    async fn make_room(
        &self,
        room: &str,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
        mode: &str,
    ) -> Result<bool, Refusal> {
        let answer = self
            .checked(
                &scripts::CREATE,
                &[
                    room,
                    kind.as_str(),
                    &capacity.to_string(),
                    &millis(now),
                    &self.limits.max_rooms.to_string(),
                    mode,
                ],
            )
            .await?;
        Ok(!answer.exists)
    }

    async fn join_now(&self, request: JoinRequest, now: SystemTime) -> Result<Joined, Refusal> {
        let name = request.name.as_deref();
        let resume = request.resume.as_ref();
        let claim = resume.map(|r| {
            [
                r.capacity.to_string(),
                unix_millis(r.issued).to_string(),
                unix_millis(r.remakes_until).to_string(),
            ]
        });
        let now = millis(now);
        let max_rooms = self.limits.max_rooms.to_string();
        let answer = loop {
            let fresh = ids::peer_id();
            let mut args = vec![
                request.room.as_str(),
                &now,
                &max_rooms,
                &self.instance,
                &fresh,
                if name.is_some() { "1" } else { "0" },
                name.unwrap_or(""),
                if resume.is_some() { "1" } else { "0" },
            ];
            if let (Some(r), Some(claim)) = (resume, &claim) {
                args.extend([
                    r.peer_id.as_str(),
                    &claim[0],
                    r.kind.as_str(),
                    &claim[1],
                    &claim[2],
                ]);
            }
            let answer = self.checked(&scripts::JOIN, &args).await?;
            if !answer.retry {
                break answer;
            }
        };
        let peer: PeerInfo = answer.peer.ok_or_else(unavailable)?.into();
        let kind = RoomKind::from_str(answer.kind.as_deref().unwrap_or_default())
            .map_err(|_| unavailable())?;
        Ok(Joined {
            seat: Seat {
                room: request.room.into(),
                peer: peer.id.as_str().into(),
                epoch: answer.epoch,
            },
            peer,
            kind,
            capacity: answer.cap,
            peers: answer.peers.into_iter().map(Into::into).collect(),
            notify: answer.notify,
            resumed: answer.resumed,
            parked: answer.parked,
            replaced: answer.replaced,
            history: answer.history.into_iter().map(Into::into).collect(),
        })
    }

    /// Leaves, or drops or keeps the seat of a connection gone.
    async fn leave_as(&self, seat: &Seat, now: SystemTime, how: &str) -> Result<Answer, Refusal> {
        self.checked(&scripts::LEAVE, &leave_args(seat, now, how).each())
            .await
    }

    /// Tells the store of a connection that ended; if Redis cannot be
    /// reached, keeps it to tell once Redis can be, so that its seat is
    /// not held for ever.
    async fn disconnect_now(
        &self,
        seat: &Seat,
        now: SystemTime,
        how: &'static str,
    ) -> Option<Left> {
        let args = leave_args(seat, now, how);
        match self.eval(&scripts::LEAVE, &args.each()).await {
            Ok(answer) => answer.left.map(Into::into),
            Err(Unreachable) => {
                let mut owed = self.owed.lock().unwrap_or_else(|e| e.into_inner());
                if owed.len() < MAX_OWED {
                    owed.push(args);
                } else {
                    tracing::warn!(
                        "cluster: too many connections ended while Redis was away; \
                        some seats stay taken until their rooms expire"
                    );
                }
                None
            }
        }
    }

    /// Tells the store of the connections that ended while it could not be
    /// reached; their events go out as usual.
    async fn settle_owed(&self) {
        let owed = std::mem::take(&mut *self.owed.lock().unwrap_or_else(|e| e.into_inner()));
        if !owed.is_empty() {
            tracing::info!(
                connections = owed.len(),
                "cluster: telling Redis of connections that ended while it was away"
            );
        }
        for args in owed {
            if self.eval(&scripts::LEAVE, &args.each()).await.is_err() {
                return;
            }
        }
    }

    async fn route_now(
        &self,
        from: &Seat,
        to: &str,
        message: &str,
        now: SystemTime,
    ) -> Result<Route, Refusal> {
        let answer = self
            .checked(
                &scripts::SIGNAL,
                &[
                    &from.room,
                    &from.peer,
                    &from.epoch.to_string(),
                    to,
                    message,
                    &millis(now),
                    &MAX_PARKED_MESSAGES.to_string(),
                    &MAX_PARKED_BYTES.to_string(),
                ],
            )
            .await?;
        match (answer.route.as_deref(), answer.left) {
            (Some("now"), _) => Ok(Route::Now),
            (Some("parked"), _) => Ok(Route::Parked),
            (Some("released"), Some(left)) => Ok(Route::SeatReleased(left.into())),
            _ => Err(unavailable()),
        }
    }

    async fn chat_now(&self, from: &Seat, text: String, now: SystemTime) -> Result<Chat, Refusal> {
        let answer = self
            .checked(
                &scripts::CHAT,
                &[
                    &from.room,
                    &from.peer,
                    &from.epoch.to_string(),
                    &text,
                    &millis(now),
                    &MAX_CHAT_HISTORY.to_string(),
                    &MAX_CHAT_HISTORY_BYTES.to_string(),
                ],
            )
            .await?;
        Ok(Chat {
            entry: answer.entry.ok_or_else(unavailable)?.into(),
            notify: answer.notify,
        })
    }

    async fn forget(&self, index: &str, now: SystemTime, age: Duration) -> usize {
        self.eval(&scripts::FORGET, &[index, &cutoff(now, age)])
            .await
            .map_or(0, |answer| answer.forgotten)
    }
}

impl RoomStore for RedisStore {
    fn create_room(
        &self,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> StoreFuture<'_, Result<String, Refusal>> {
        Box::pin(async move {
            loop {
                let id = ids::room_id();
                if self.make_room(&id, kind, capacity, now, "new").await? {
                    return Ok(id);
                }
            }
        })
    }

    fn restore_room<'a>(
        &'a self,
        room: &'a str,
        kind: RoomKind,
        capacity: usize,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<bool, Refusal>> {
        Box::pin(self.make_room(room, kind, capacity, now, "restore"))
    }

    fn room_summary<'a>(&'a self, room: &'a str) -> StoreFuture<'a, Option<RoomSummary>> {
        Box::pin(async move {
            let answer = self.eval(&scripts::SUMMARY, &[room]).await.ok()?;
            Some(RoomSummary {
                kind: RoomKind::from_str(answer.kind.as_deref()?).ok()?,
                capacity: answer.cap,
                members: answer.members,
            })
        })
    }

    fn join(
        &self,
        request: JoinRequest,
        now: SystemTime,
    ) -> StoreFuture<'_, Result<Joined, Refusal>> {
        Box::pin(self.join_now(request, now))
    }

    fn leave<'a>(
        &'a self,
        seat: &'a Seat,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Left, Refusal>> {
        Box::pin(async move {
            let answer = self.leave_as(seat, now, "leave").await?;
            answer.left.map(Into::into).ok_or_else(unavailable)
        })
    }

    fn disconnect<'a>(
        &'a self,
        seat: &'a Seat,
        now: SystemTime,
        keep_seat: bool,
    ) -> StoreFuture<'a, Option<Left>> {
        let how = if keep_seat { "keep" } else { "drop" };
        Box::pin(async move { self.disconnect_now(seat, now, how).await })
    }

    fn route_signal<'a>(
        &'a self,
        from: &'a Seat,
        to: &'a str,
        message: &'a str,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Route, Refusal>> {
        Box::pin(self.route_now(from, to, message, now))
    }

    fn chat<'a>(
        &'a self,
        from: &'a Seat,
        text: String,
        now: SystemTime,
    ) -> StoreFuture<'a, Result<Chat, Refusal>> {
        Box::pin(self.chat_now(from, text, now))
    }

    fn away_past(&self, now: SystemTime, grace: Duration) -> StoreFuture<'_, Vec<AwaySeat>> {
        Box::pin(async move {
            let Ok(answer) = self.eval(&scripts::AWAY, &[&cutoff(now, grace)]).await else {
                return Vec::new();
            };
            answer
                .away
                .into_iter()
                .map(|a| AwaySeat {
                    room: a.room,
                    peer: a.peer,
                    since: SystemTime::UNIX_EPOCH + Duration::from_millis(a.since),
                })
                .collect()
        })
    }

    fn release_away<'a>(
        &'a self,
        seat: &'a AwaySeat,
        now: SystemTime,
    ) -> StoreFuture<'a, Option<Left>> {
        Box::pin(async move {
            self.eval(
                &scripts::RELEASE,
                &[&seat.room, &seat.peer, &millis(seat.since), &millis(now)],
            )
            .await
            .ok()?
            .left
            .map(Into::into)
        })
    }

    fn forget_idle_rooms(&self, now: SystemTime, idle: Duration) -> StoreFuture<'_, usize> {
        Box::pin(self.forget("empty", now, idle))
    }

    fn forget_unjoined_rooms(&self, now: SystemTime, timeout: Duration) -> StoreFuture<'_, usize> {
        Box::pin(self.forget("unjoined", now, timeout))
    }

    fn occupancy(&self) -> Occupancy {
        Occupancy {
            rooms: self.rooms.load(Relaxed),
            members: self.members.load(Relaxed),
        }
    }

    fn reachable(&self) -> bool {
        RedisStore::reachable(self)
    }
}

#[cfg(test)]
impl RedisStore {
    /// Everything the store holds in a stable form, and what disagrees in
    /// its bookkeeping, the counts this instance last saw included.
    pub(super) fn inspect(&self) -> (String, Vec<String>) {
        // Asked from inside a test's runtime, answered on a thread of its own.
        let answer = std::thread::scope(|scope| {
            scope
                .spawn(|| crate::rooms::contract::run(self.eval(&scripts::SNAPSHOT, &[])))
                .join()
                .expect("the snapshot thread")
        })
        .expect("Redis answers");
        let mut problems = answer.problems;
        if answer.counts != (self.rooms.load(Relaxed), self.members.load(Relaxed)) {
            problems.push("the counts this instance saw are stale".into());
        }
        (answer.dump, problems)
    }
}
