//! The room store of a cluster: rooms in Redis, shared by every instance
//! started with `--redis`.
//!
//! - `lua/`: the rules, one script per operation, each run by Redis as a
//!   whole ([`scripts`]);
//! - [`store`]: [`RedisStore`], the [`RoomStore`](super::RoomStore) that
//!   runs them;
//! - [`answer`]: what the scripts answer, as the store reads it;
//! - [`events`]: what the scripts publish, as an instance receives it.
//!
//! Keys: `<prefix>{<room>}:room` (kind, capacity, creation, next epoch,
//! chat bytes), `:m` (members by peer id), `:order` (peer ids, oldest
//! first), `:chat`, `:parked:<peer>`; a room's keys share its hash tag.
//! Global: `<prefix>count` (rooms, members), the indexes `empty`,
//! `unjoined` and `away` (sorted by time), and `seats:<instance>` (the
//! seats each instance's connections hold). Events go out on
//! `<prefix>inst:<instance>`.

mod answer;
mod events;
mod scripts;
mod store;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub(crate) use events::{Events, Published, RoomEvent};
pub(crate) use store::RedisStore;

/// How often an instance says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long its word holds: an instance silent for this long is taken for
/// dead, and its members' seats are marked away.
const ALIVE_FOR: Duration = Duration::from_secs(5);

/// Says this instance is alive every [`HEARTBEAT`], sweeping the seats of
/// dead instances when it holds the sweeper's lock, and keeps the store's
/// word on whether Redis can be reached.
pub(crate) async fn keep_alive(store: Arc<RedisStore>) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    loop {
        ticks.tick().await;
        if let Ok(swept) = store.heartbeat(ALIVE_FOR, SystemTime::now()).await
            && swept > 0
        {
            tracing::info!(
                seats = swept,
                "cluster: marked away the seats of a dead instance"
            );
        }
    }
}

#[cfg(test)]
#[path = "../../../tests/support/redis.rs"]
pub(crate) mod server;

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;
    use redis::aio::ConnectionManager;

    use super::server::RedisServer;
    use super::*;
    use crate::rooms::contract::{self, Inspect, properties};
    use crate::rooms::store::{JoinRequest, Resume, RoomStore, Route};
    use crate::rooms::{RoomKind, StoreLimits};

    /// Runs the connections the tests' stores share, whichever runtime
    /// each test drives its store from.
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for Redis connections")
    });

    /// A Redis server of one test's own, and a connection to it.
    pub(crate) struct TestRedis {
        /// Kept running for as long as the connection is used.
        _server: RedisServer,
        client: redis::Client,
        conn: ConnectionManager,
    }

    impl TestRedis {
        /// `None` when Redis tests are skipped (`PARLOR_SKIP_REDIS=1`).
        pub(crate) fn start() -> Option<TestRedis> {
            let server = RedisServer::start()?;
            let client = redis::Client::open(server.url()).expect("a Redis URL");
            let conn = RUNTIME
                .block_on(ConnectionManager::new(client.clone()))
                .expect("Redis answers");
            Some(TestRedis {
                _server: server,
                client,
                conn,
            })
        }

        /// A store on an emptied database: the one before is done with.
        pub(crate) fn store(&self, limits: StoreLimits) -> RedisStore {
            let mut conn = self.conn.clone();
            RUNTIME
                .block_on(redis::cmd("FLUSHDB").query_async::<()>(&mut conn))
                .expect("FLUSHDB");
            self.instance("test", limits)
        }

        /// Another instance's store on the same database.
        pub(crate) fn instance(&self, name: &str, limits: StoreLimits) -> RedisStore {
            RedisStore::new(
                self.client.clone(),
                self.conn.clone(),
                "parlor:".into(),
                name.into(),
                limits,
            )
        }
    }

    impl Inspect for RedisStore {
        fn snapshot(&self) -> String {
            self.inspect().0
        }

        fn check_invariants(&self) {
            let (_, problems) = self.inspect();
            assert!(problems.is_empty(), "{problems:?}");
        }
    }

    #[test]
    fn keeps_the_room_store_contract() {
        let Some(redis) = TestRedis::start() else {
            return;
        };
        contract::check_store(|limits| redis.store(limits));
    }

    #[test]
    fn a_dead_instances_seats_are_kept_away_for_their_members() {
        let Some(redis) = TestRedis::start() else {
            return;
        };
        let limits = StoreLimits { max_rooms: 10 };
        let (dying, living) = (redis.store(limits), redis.instance("living", limits));
        contract::run(async {
            let now = SystemTime::now();
            let request = |room: &str, resume| JoinRequest {
                room: room.into(),
                name: None,
                resume,
            };
            let room = dying.create_room(RoomKind::Mesh, 2, now).await.unwrap();
            let x = dying.join(request(&room, None), now).await.unwrap();
            let y = living.join(request(&room, None), now).await.unwrap();
            // The dying instance's last word holds for a millisecond.
            dying
                .heartbeat(Duration::from_millis(1), now)
                .await
                .unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while living.heartbeat(ALIVE_FOR, now).await != Ok(1) {
                assert!(tokio::time::Instant::now() < deadline, "never swept");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // X is away: what is sent to it waits, and nobody heard it leave.
            assert_eq!(
                living.route_signal(&y.seat, &x.peer.id, "m", now).await,
                Ok(Route::Parked)
            );
            let claim = Resume {
                peer_id: x.peer.id.clone(),
                capacity: 2,
                kind: RoomKind::Mesh,
                issued: now,
                remakes_until: now + Duration::from_secs(60),
            };
            let back = living.join(request(&room, Some(claim)), now).await.unwrap();
            assert!(back.resumed && !back.replaced);
            assert_eq!(back.parked, ["m"]);
            assert_eq!(living.occupancy().members, 2);
        });
    }

    /// The property test of the memory store, on one Redis server for all
    /// its cases, stopped at the end (a static would outlive the test).
    #[test]
    fn any_sequence_of_events_keeps_the_store_consistent() {
        let Some(redis) = TestRedis::start() else {
            return;
        };
        let events = proptest::collection::vec(properties::event(), 1..60);
        TestRunner::new(ProptestConfig::with_cases(128))
            .run(&events, |events| {
                let store = redis.store(StoreLimits { max_rooms: 3 });
                properties::check_sequence(&store, events);
                Ok(())
            })
            .unwrap();
    }
}
