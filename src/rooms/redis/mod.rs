//! The room store of a cluster: rooms in Redis, shared by every instance
//! started with `--redis`.
//!
//! - `lua/`: the rules, one script per operation, each run by Redis as a
//!   whole ([`scripts`]);
//! - [`store`]: [`RedisStore`], the [`RoomStore`](super::RoomStore) that
//!   runs them.
//!
//! Keys: `<prefix>{<room>}:room` (kind, capacity, creation, next epoch,
//! chat bytes), `:m` (members by peer id), `:order` (peer ids, oldest
//! first), `:chat`, `:parked:<peer>`; a room's keys share its hash tag.
//! Global: `<prefix>count` (rooms, members), the indexes `empty`,
//! `unjoined` and `away` (sorted by time), and `seats:<instance>` (the
//! seats each instance's connections hold). Events go out on
//! `<prefix>inst:<instance>`.

mod scripts;
mod store;

pub(crate) use store::RedisStore;

#[cfg(test)]
#[path = "../../../tests/support/redis.rs"]
pub(crate) mod server;

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use redis::aio::ConnectionManager;

    use super::server::RedisServer;
    use super::*;
    use crate::rooms::StoreLimits;
    use crate::rooms::contract::{self, Inspect, properties};

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
        pub(crate) conn: ConnectionManager,
    }

    impl TestRedis {
        /// `None` when Redis tests are skipped (`PARLOR_SKIP_REDIS=1`).
        pub(crate) fn start() -> Option<TestRedis> {
            let server = RedisServer::start()?;
            let client = redis::Client::open(server.url()).expect("a Redis URL");
            let conn = RUNTIME
                .block_on(ConnectionManager::new(client))
                .expect("Redis answers");
            Some(TestRedis {
                _server: server,
                conn,
            })
        }

        /// A store on an emptied database: the one before is done with.
        pub(crate) fn store(&self, limits: StoreLimits) -> RedisStore {
            let mut conn = self.conn.clone();
            RUNTIME
                .block_on(redis::cmd("FLUSHDB").query_async::<()>(&mut conn))
                .expect("FLUSHDB");
            RedisStore::new(self.conn.clone(), "parlor:".into(), "test".into(), limits)
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_sequence_of_events_keeps_the_store_consistent(
            events in proptest::collection::vec(properties::event(), 1..60)
        ) {
            static REDIS: LazyLock<Option<TestRedis>> = LazyLock::new(TestRedis::start);
            if let Some(redis) = REDIS.as_ref() {
                let store = redis.store(StoreLimits { max_rooms: 3 });
                properties::check_sequence(&store, events);
            }
        }
    }
}
