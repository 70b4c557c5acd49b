//! The contract every room store keeps, as tests that take the store under
//! test: [`MemoryStore`](super::MemoryStore) runs them, and so must any
//! other store (a Redis one on a real server), so that the rules cannot
//! differ between a single instance and several.
//!
//! A test "connection" is what a session holds: the [`Seat`] its join gave
//! it, or none.
//!
//! Past 600 lines on purpose: the contract is one list that a new store
//! must pass as a whole, so it stays in one place.

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::room::MAX_PARKED_MESSAGES;
use super::store::{AwaySeat, Joined, Left, Occupancy, Resume, RoomStore, RoomSummary, Route};
use super::{ErrorCode, JoinRequest, Refusal, RoomKind, Seat, StoreLimits};

/// What a store under test shows of itself beyond the interface: enough to
/// tell that a refusal changed nothing, and that its own indexes agree.
pub(crate) trait Inspect {
    /// Everything the store holds, in a stable form.
    fn snapshot(&self) -> String;
    /// Panics if the store's own bookkeeping disagrees with its rooms.
    fn check_invariants(&self);
}

/// Runs every contract test against stores made by `make`.
pub(crate) fn check_store<S: RoomStore + Inspect>(make: impl Fn(StoreLimits) -> S) {
    let limits = StoreLimits { max_rooms: 100 };
    run(join_lists_earlier_peers_and_notifies_them(&make(limits)));
    run(refusals_change_nothing(&make(limits)));
    run(signals_route_only_within_the_room_and_never_to_self(&make(
        limits,
    )));
    run(leave_notifies_the_rest_and_frees_the_seat(&make(limits)));
    run(a_lost_connection_keeps_its_seat_and_its_messages_until_it_resumes(&make(limits)));
    run(seats_away_past_the_grace_period_are_released(&make(limits)));
    run(a_member_that_overflows_its_parked_messages_loses_its_seat(
        &make(limits),
    ));
    run(resuming_after_a_restart_makes_the_room_again_with_the_same_ids(&make(limits)));
    run(a_second_connection_takes_the_seat_from_a_stale_one(&make(
        limits,
    )));
    run(an_explicit_disconnect_without_keeping_the_seat_is_a_leave(
        &make(limits),
    ));
    run(chat_reaches_everyone_here_and_newcomers_get_the_history(
        &make(limits),
    ));
    run(empty_rooms_are_forgotten_after_idle_time_only(&make(
        limits,
    )));
    run(rooms_nobody_joined_are_forgotten_sooner(&make(limits)));
    run(a_spent_or_expired_token_takes_nothing_back(&make(limits)));
    run(room_count_is_capped(&make(StoreLimits { max_rooms: 1 })));
    run(a_room_known_before_a_restart_is_made_again_empty(&make(
        limits,
    )));
}

/// Drives a store's future to its end, on a runtime of its own.
pub(crate) fn run<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(future)
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn create(store: &dyn RoomStore, capacity: usize) -> String {
    store
        .create_room(RoomKind::Mesh, capacity, t0())
        .await
        .unwrap()
}

fn request(room: &str, name: Option<&str>, resume: Option<Resume>) -> JoinRequest {
    JoinRequest {
        room: room.into(),
        name: name.map(Into::into),
        resume,
    }
}

async fn join(store: &dyn RoomStore, room: &str, now: SystemTime) -> Joined {
    store.join(request(room, None, None), now).await.unwrap()
}

/// A genuine claim to a seat, made by a server before this store's rooms.
fn claim(peer: &str, capacity: usize) -> Resume {
    Resume {
        peer_id: peer.into(),
        capacity,
        kind: RoomKind::Mesh,
        issued: t0() - secs(1),
        remakes_until: t0() + secs(3600),
    }
}

/// A seat nobody was ever given.
fn stranger(room: &str) -> Seat {
    Seat {
        room: room.into(),
        peer: "stranger".into(),
        epoch: 0,
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, Refusal>) -> ErrorCode {
    result.unwrap_err().code
}

async fn join_lists_earlier_peers_and_notifies_them(store: &impl RoomStore) {
    let room = create(store, 3).await;
    let a = store
        .join(request(&room, Some("Ada"), None), t0())
        .await
        .unwrap();
    assert!(a.peers.is_empty() && a.notify.is_empty() && !a.resumed);
    assert_eq!(a.peer.name.as_deref(), Some("Ada"));
    assert_eq!(a.kind, RoomKind::Mesh);
    let b = join(store, &room, t0()).await;
    assert_eq!(b.peers, vec![a.peer.clone()]);
    assert_eq!(b.notify, vec![a.peer.id.clone()]);
    let c = join(store, &room, t0()).await;
    assert_eq!(c.peers, vec![a.peer.clone(), b.peer.clone()]);
    assert_eq!(c.notify, vec![a.peer.id.clone(), b.peer.id.clone()]);
    assert_ne!(a.peer.id, b.peer.id);
    assert_eq!(
        store.occupancy(),
        Occupancy {
            rooms: 1,
            members: 3
        }
    );
}

async fn refusals_change_nothing<S: RoomStore + Inspect>(store: &S) {
    let room = create(store, 2).await;
    let a = join(store, &room, t0()).await;
    join(store, &room, t0()).await;
    let before = store.snapshot();

    let now = t0();
    assert_eq!(
        code(store.join(request(&room, None, None), now).await),
        ErrorCode::RoomFull
    );
    assert_eq!(
        code(store.join(request("nope", None, None), now).await),
        ErrorCode::RoomNotFound
    );
    let newcomer = Some(claim("newcomer", 2));
    assert_eq!(
        code(store.join(request(&room, None, newcomer), now).await),
        ErrorCode::RoomFull
    );
    assert_eq!(
        code(store.leave(&stranger(&room), now).await),
        ErrorCode::NotInRoom
    );
    assert_eq!(
        code(store.route_signal(&stranger(&room), "x", "m", now).await),
        ErrorCode::NotInRoom
    );
    assert_eq!(
        code(store.route_signal(&a.seat, "x", "m", now).await),
        ErrorCode::PeerNotFound
    );
    assert_eq!(
        code(store.route_signal(&a.seat, &a.peer.id, "m", now).await),
        ErrorCode::PeerNotFound
    );
    assert_eq!(
        code(store.chat(&stranger(&room), "x".into(), now).await),
        ErrorCode::NotInRoom
    );
    assert_eq!(store.snapshot(), before);
}

async fn signals_route_only_within_the_room_and_never_to_self(store: &impl RoomStore) {
    let now = t0();
    let room = create(store, 2).await;
    let other = create(store, 2).await;
    let a = join(store, &room, now).await;
    let b = join(store, &room, now).await;
    let x = join(store, &other, now).await;
    assert_eq!(
        store.route_signal(&a.seat, &b.peer.id, "m", now).await,
        Ok(Route::Now)
    );
    assert_eq!(
        store.route_signal(&b.seat, &a.peer.id, "m", now).await,
        Ok(Route::Now)
    );
    for (from, to) in [(&a, &a), (&a, &x), (&x, &a)] {
        assert_eq!(
            code(store.route_signal(&from.seat, &to.peer.id, "m", now).await),
            ErrorCode::PeerNotFound
        );
    }
}

async fn leave_notifies_the_rest_and_frees_the_seat(store: &impl RoomStore) {
    let now = t0();
    let room = create(store, 2).await;
    let a = join(store, &room, now).await;
    let b = join(store, &room, now).await;
    let left = store.leave(&a.seat, now).await.unwrap();
    assert_eq!(left.peer_id, a.peer.id);
    assert_eq!(left.notify, vec![b.peer.id.clone()]);
    // The connection may join again, and gets a new peer id.
    let again = join(store, &room, now).await;
    assert_ne!(again.peer.id, a.peer.id);
    assert_eq!(again.notify, vec![b.peer.id.clone()]);
}

async fn a_lost_connection_keeps_its_seat_and_its_messages_until_it_resumes(
    store: &impl RoomStore,
) {
    let t0 = t0();
    let room = create(store, 2).await;
    let a = join(store, &room, t0).await;
    let b = join(store, &room, t0).await;
    assert_eq!(
        store.disconnect(&b.seat, t0, true).await,
        None,
        "nobody is told"
    );
    for message in ["m1", "m2"] {
        assert_eq!(
            store.route_signal(&a.seat, &b.peer.id, message, t0).await,
            Ok(Route::Parked)
        );
    }
    assert_eq!(
        code(store.join(request(&room, None, None), t0).await),
        ErrorCode::RoomFull,
        "the seat is still taken"
    );
    let back = store
        .join(request(&room, None, Some(claim(&b.peer.id, 2))), t0)
        .await
        .unwrap();
    assert!(back.resumed);
    assert_eq!(back.peer, b.peer);
    assert_eq!(back.peers, vec![a.peer.clone()]);
    assert!(back.notify.is_empty());
    assert_eq!(back.parked, ["m1", "m2"]);
    assert_ne!(back.seat, b.seat, "a new hold on the same seat");
    assert_eq!(
        store.route_signal(&a.seat, &b.peer.id, "m3", t0).await,
        Ok(Route::Now)
    );
    // The old away entry does not release the resumed seat.
    for away in store.away_past(t0 + secs(99), Duration::ZERO).await {
        assert_eq!(store.release_away(&away, t0 + secs(99)).await, None);
    }
    assert_eq!(store.occupancy().members, 2);
}

async fn seats_away_past_the_grace_period_are_released(store: &impl RoomStore) {
    let t0 = t0();
    let grace = secs(30);
    let room = create(store, 2).await;
    let a = join(store, &room, t0).await;
    let b = join(store, &room, t0).await;
    store.disconnect(&b.seat, t0, true).await;
    assert!(store.away_past(t0 + secs(29), grace).await.is_empty());
    let away = store.away_past(t0 + grace, grace).await;
    assert_eq!(
        away,
        vec![AwaySeat {
            room: room.clone(),
            peer: b.peer.id.clone(),
            since: t0
        }]
    );
    assert_eq!(
        store.release_away(&away[0], t0 + grace).await,
        Some(Left {
            room: room.clone(),
            peer_id: b.peer.id,
            notify: vec![a.peer.id]
        })
    );
    assert_eq!(store.occupancy().members, 1);
}

async fn a_member_that_overflows_its_parked_messages_loses_its_seat(store: &impl RoomStore) {
    let t0 = t0();
    let room = create(store, 2).await;
    let a = join(store, &room, t0).await;
    let b = join(store, &room, t0).await;
    store.disconnect(&b.seat, t0, true).await;
    for _ in 0..MAX_PARKED_MESSAGES {
        assert_eq!(
            store.route_signal(&a.seat, &b.peer.id, "m", t0).await,
            Ok(Route::Parked)
        );
    }
    assert_eq!(
        store.route_signal(&a.seat, &b.peer.id, "m", t0).await,
        Ok(Route::SeatReleased(Left {
            room: room.clone(),
            peer_id: b.peer.id.clone(),
            notify: vec![a.peer.id.clone()]
        }))
    );
    assert_eq!(
        code(store.route_signal(&a.seat, &b.peer.id, "m", t0).await),
        ErrorCode::PeerNotFound
    );
}

async fn resuming_after_a_restart_makes_the_room_again_with_the_same_ids(store: &impl RoomStore) {
    let t0 = t0();
    let a = store
        .join(request("room", Some("A"), Some(claim("pa", 2))), t0)
        .await
        .unwrap();
    assert!(!a.resumed, "a fresh seat, not a held one");
    assert_eq!(a.peer.id, "pa");
    assert_eq!(
        store.room_summary("room").await,
        Some(RoomSummary {
            kind: RoomKind::Mesh,
            capacity: 2,
            members: 1
        })
    );
    let b = store
        .join(request("room", None, Some(claim("pb", 2))), t0)
        .await
        .unwrap();
    assert_eq!(b.peers, vec![a.peer.clone()]);
    assert_eq!(
        b.notify,
        vec![a.peer.id],
        "the other learns the peer is back"
    );
}

async fn a_second_connection_takes_the_seat_from_a_stale_one(store: &impl RoomStore) {
    let t0 = t0();
    let room = create(store, 2).await;
    let a = join(store, &room, t0).await;
    let again = store
        .join(request(&room, None, Some(claim(&a.peer.id, 2))), t0)
        .await
        .unwrap();
    assert!(again.replaced);
    assert!(again.resumed);
    assert_eq!(
        store.disconnect(&a.seat, t0, false).await,
        None,
        "the old one holds nothing"
    );
    assert_eq!(code(store.leave(&a.seat, t0).await), ErrorCode::NotInRoom);
    assert_eq!(store.occupancy().members, 1);
}

async fn an_explicit_disconnect_without_keeping_the_seat_is_a_leave(store: &impl RoomStore) {
    let t0 = t0();
    let room = create(store, 2).await;
    join(store, &room, t0).await;
    let b = join(store, &room, t0).await;
    let left = store.disconnect(&b.seat, t0, false).await.unwrap();
    assert_eq!(left.peer_id, b.peer.id);
    assert_eq!(store.disconnect(&b.seat, t0, false).await, None);
}

async fn chat_reaches_everyone_here_and_newcomers_get_the_history(store: &impl RoomStore) {
    let t0 = t0();
    let room = create(store, 3).await;
    let a = store
        .join(request(&room, Some("Ada"), None), t0)
        .await
        .unwrap();
    let b = join(store, &room, t0).await;
    let chat = store.chat(&a.seat, "hello".into(), t0).await.unwrap();
    assert_eq!(chat.notify, vec![a.peer.id.clone(), b.peer.id.clone()]);
    assert_eq!(chat.entry.name.as_deref(), Some("Ada"));
    assert_eq!(
        chat.entry.time, 1_800_000_000_000,
        "stamped with the time given"
    );
    store.disconnect(&b.seat, t0, true).await;
    assert_eq!(
        store
            .chat(&a.seat, "still there?".into(), t0)
            .await
            .unwrap()
            .notify,
        vec![a.peer.id.clone()]
    );
    let c = join(store, &room, t0).await;
    let texts: Vec<_> = c.history.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["hello", "still there?"]);
    let back = store
        .join(request(&room, None, Some(claim(&b.peer.id, 3))), t0)
        .await
        .unwrap();
    assert!(back.resumed && back.history.is_empty());
    assert_eq!(
        code(store.chat(&b.seat, "x".into(), t0).await),
        ErrorCode::NotInRoom,
        "the connection that lost the seat"
    );
}

async fn empty_rooms_are_forgotten_after_idle_time_only(store: &impl RoomStore) {
    let t0 = t0();
    let idle = secs(60);
    let unused = create(store, 2).await;
    let busy = create(store, 2).await;
    let member = join(store, &busy, t0).await;
    assert_eq!(store.forget_idle_rooms(t0 + secs(59), idle).await, 0);
    assert_eq!(store.forget_idle_rooms(t0 + idle, idle).await, 1);
    assert!(store.room_summary(&unused).await.is_none());
    assert_eq!(
        store.room_summary(&busy).await,
        Some(RoomSummary {
            kind: RoomKind::Mesh,
            capacity: 2,
            members: 1
        })
    );
    let t1 = t0 + secs(120);
    store.leave(&member.seat, t1).await.unwrap();
    assert_eq!(store.forget_idle_rooms(t1 + secs(30), idle).await, 0);
    assert_eq!(store.forget_idle_rooms(t1 + idle, idle).await, 1);
    assert_eq!(store.occupancy(), Occupancy::default());
}

async fn rooms_nobody_joined_are_forgotten_sooner(store: &impl RoomStore) {
    let t0 = t0();
    let timeout = secs(600);
    let unjoined = create(store, 2).await;
    let used = create(store, 2).await;
    let member = join(store, &used, t0).await;
    store.leave(&member.seat, t0 + secs(1)).await.unwrap();
    assert_eq!(
        store.forget_unjoined_rooms(t0 + secs(599), timeout).await,
        0
    );
    assert_eq!(store.forget_unjoined_rooms(t0 + timeout, timeout).await, 1);
    assert!(store.room_summary(&unjoined).await.is_none());
    assert!(
        store.room_summary(&used).await.is_some(),
        "a room someone joined waits for the idle timeout"
    );
    assert_eq!(store.occupancy().rooms, 1);
}

async fn a_spent_or_expired_token_takes_nothing_back(store: &impl RoomStore) {
    let t0 = t0();
    let room = create(store, 2).await;
    let a = join(store, &room, t0).await;
    store.leave(&a.seat, t0 + secs(1)).await.unwrap();
    // A token made in this room's life, for the seat A gave up.
    let spent = Resume {
        issued: t0,
        ..claim(&a.peer.id, 2)
    };
    let before = store.room_summary(&room).await;
    assert_eq!(
        code(
            store
                .join(request(&room, None, Some(spent)), t0 + secs(2))
                .await
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(store.room_summary(&room).await, before, "nothing changed");
    // A token too old to tell an expired room from a forgotten one.
    let expired = Resume {
        remakes_until: t0 + secs(10),
        ..claim("gone", 2)
    };
    assert_eq!(
        code(
            store
                .join(request("expired-room", None, Some(expired)), t0 + secs(10))
                .await
        ),
        ErrorCode::RoomNotFound
    );
    assert!(store.room_summary("expired-room").await.is_none());
}

async fn room_count_is_capped(store: &impl RoomStore) {
    create(store, 2).await;
    assert_eq!(
        code(store.create_room(RoomKind::Mesh, 2, t0()).await),
        ErrorCode::RateLimited
    );
}

async fn a_room_known_before_a_restart_is_made_again_empty(store: &impl RoomStore) {
    let t0 = t0();
    assert_eq!(
        store.restore_room("kept", RoomKind::Mesh, 3, t0).await,
        Ok(true)
    );
    assert_eq!(
        store.room_summary("kept").await,
        Some(RoomSummary {
            kind: RoomKind::Mesh,
            capacity: 3,
            members: 0
        })
    );
    // Kept across a restart, it waits for the idle timeout even if nobody
    // comes back soon: its invite link was handed out before.
    assert_eq!(
        store.forget_unjoined_rooms(t0 + secs(3600), secs(60)).await,
        0
    );
    let member = join(store, "kept", t0).await;
    assert_eq!(
        store.restore_room("kept", RoomKind::Mesh, 2, t0).await,
        Ok(false),
        "a room that exists is left as it is"
    );
    assert_eq!(store.room_summary("kept").await.unwrap().capacity, 3);
    assert!(member.peers.is_empty());
    // Restored rooms count like any other, and expire like any other.
    assert_eq!(store.occupancy().rooms, 1);
    store.leave(&member.seat, t0).await.unwrap();
    assert_eq!(store.forget_idle_rooms(t0 + secs(60), secs(60)).await, 1);
}

/// Random sequences of events: no panic, the store's own bookkeeping always
/// agrees with its rooms, and every refusal changes nothing. Each run says
/// what its events reached (joins that worked and were refused, resumes,
/// full rooms, signals, chats, seats given up, rooms forgotten) and fails if
/// any of it is too rare, so that the generator cannot quietly degenerate.
pub(crate) mod properties {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    pub(crate) enum Event {
        Create(usize),
        Join {
            conn: usize,
            room: usize,
            name: Option<usize>,
            /// Takes back the seat of this earlier peer, in its room.
            resume: Option<usize>,
        },
        Leave(usize),
        Disconnect {
            conn: usize,
            keep_seat: bool,
        },
        Signal {
            from: usize,
            to: usize,
        },
        Chat {
            from: usize,
            blank: bool,
        },
        Elapse(u64),
        ReleaseAway,
        ForgetIdle,
    }

    /// How many test connections an event sequence uses.
    const CONNECTIONS: usize = 10;

    /// The display names joins give, when they give one.
    const NAMES: [&str; 4] = ["Ada", "Grace Hopper", "Zoë", "渡辺"];

    /// The most rooms a store under these tests may hold.
    const MAX_ROOMS: usize = 8;

    pub(crate) fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            2 => prop_oneof![2usize..=4, Just(2), 5usize..=12].prop_map(Event::Create),
            6 => (
                0..CONNECTIONS,
                0usize..16,
                proptest::option::of(0..NAMES.len()),
                proptest::option::weighted(0.3, 0usize..64),
            )
                .prop_map(|(conn, room, name, resume)| Event::Join {
                    conn,
                    room,
                    name,
                    resume
                }),
            1 => (0..CONNECTIONS).prop_map(Event::Leave),
            2 => (0..CONNECTIONS, any::<bool>())
                .prop_map(|(conn, keep_seat)| Event::Disconnect { conn, keep_seat }),
            3 => (0..CONNECTIONS, 0usize..64).prop_map(|(from, to)| Event::Signal { from, to }),
            2 => (0..CONNECTIONS, proptest::bool::weighted(0.1))
                .prop_map(|(from, blank)| Event::Chat { from, blank }),
            2 => (0u64..40).prop_map(Event::Elapse),
            1 => Just(Event::ReleaseAway),
            1 => Just(Event::ForgetIdle),
        ]
    }

    /// What the events of a run reached, by outcome.
    pub(crate) type Reach = BTreeMap<&'static str, u32>;

    /// Runs `cases` random sequences against stores made by `make` (at
    /// most [`MAX_ROOMS`] rooms each); prints and checks what they reached.
    pub(crate) fn check_random_sequences<S: RoomStore + Inspect>(
        make: impl Fn(StoreLimits) -> S,
        cases: u32,
    ) {
        let reach = RefCell::new(Reach::new());
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
        let events = proptest::collection::vec(event(), 1..80);
        runner
            .run(&events, |events| {
                let store = make(StoreLimits {
                    max_rooms: MAX_ROOMS,
                });
                let run = check_sequence(&store, events);
                let mut reach = reach.borrow_mut();
                for (what, n) in run {
                    *reach.entry(what).or_default() += n;
                }
                Ok(())
            })
            .unwrap();
        let reach = reach.into_inner();
        eprintln!("room store sequences, {cases} cases: {reach:?}");
        // Each outcome at least this often per case, on average.
        for (what, per_case) in [
            ("join", 2.0),
            ("join refused: room-not-found", 0.5),
            ("join refused: room-full", 0.2),
            ("join resumed", 0.5),
            ("create refused", 0.08),
            ("signal", 0.15),
            ("signal refused", 0.5),
            ("chat", 0.4),
            ("chat refused", 0.1),
            ("seat given up", 0.03),
            ("room forgotten", 0.2),
            ("named join", 1.0),
        ] {
            let got = f64::from(reach.get(what).copied().unwrap_or(0));
            assert!(
                got >= per_case * f64::from(cases),
                "{what}: {got} in {cases} cases; {reach:?}"
            );
        }
    }

    /// Applies `events` to `store` as sessions would, checking after each;
    /// returns what they reached.
    pub(crate) fn check_sequence<S: RoomStore + Inspect>(store: &S, events: Vec<Event>) -> Reach {
        let mut reach = Reach::new();
        let mut count = |what: &'static str| *reach.entry(what).or_default() += 1;
        run(async {
            let grace = secs(30);
            let idle = secs(60);
            let mut now = t0();
            let mut seats: Vec<Option<Seat>> = vec![None; CONNECTIONS];
            let mut rooms: Vec<String> = vec!["unknown".into()];
            // Every peer a join made, with its room.
            let mut peers: Vec<(String, String)> = vec![("nobody".into(), "unknown".into())];
            for event in events {
                let before = store.snapshot();
                let refused = match event {
                    Event::Create(capacity) => {
                        match store.create_room(RoomKind::Mesh, capacity, now).await {
                            Ok(room) => {
                                rooms.push(room);
                                count("create");
                                false
                            }
                            Err(_) => {
                                count("create refused");
                                true
                            }
                        }
                    }
                    // A session in a room refuses a join itself.
                    Event::Join { conn, .. } if seats[conn].is_some() => false,
                    Event::Join {
                        conn,
                        room,
                        name,
                        resume,
                    } => {
                        let (room, claim) = match resume {
                            Some(p) => {
                                let (peer, room) = &peers[p % peers.len()];
                                (room.clone(), Some(claim(peer, 2 + p % 4)))
                            }
                            None => (rooms[room % rooms.len()].clone(), None),
                        };
                        let name = name.map(|n| NAMES[n]);
                        match store.join(request(&room, name, claim.clone()), now).await {
                            Ok(joined) => {
                                count(if joined.resumed {
                                    "join resumed"
                                } else {
                                    "join"
                                });
                                if name.is_some() {
                                    count("named join");
                                }
                                if claim.is_none() {
                                    assert_eq!(joined.peer.name.as_deref(), name);
                                }
                                peers.push((joined.peer.id, room));
                                seats[conn] = Some(joined.seat);
                                false
                            }
                            Err(refusal) => {
                                count(match refusal.code {
                                    ErrorCode::RoomNotFound => "join refused: room-not-found",
                                    ErrorCode::RoomFull => "join refused: room-full",
                                    _ => "join refused: other",
                                });
                                true
                            }
                        }
                    }
                    Event::Leave(conn) => match &seats[conn] {
                        Some(seat) => {
                            let refused = store.leave(seat, now).await.is_err();
                            count(if refused { "leave refused" } else { "leave" });
                            seats[conn] = None;
                            refused
                        }
                        None => false,
                    },
                    Event::Disconnect { conn, keep_seat } => {
                        if let Some(seat) = seats[conn].take() {
                            store.disconnect(&seat, now, keep_seat).await;
                            count(if keep_seat { "away" } else { "disconnect" });
                        }
                        false
                    }
                    Event::Signal { from, to } => match &seats[from] {
                        Some(seat) => {
                            let (to, _) = &peers[to % peers.len()];
                            let refused = store.route_signal(seat, to, "m", now).await.is_err();
                            count(if refused { "signal refused" } else { "signal" });
                            refused
                        }
                        None => false,
                    },
                    Event::Chat { from, blank } => match &seats[from] {
                        Some(seat) => {
                            let text = if blank { " " } else { "hello" };
                            let refused = store.chat(seat, text.into(), now).await.is_err();
                            count(if refused { "chat refused" } else { "chat" });
                            refused
                        }
                        None => false,
                    },
                    Event::Elapse(secs) => {
                        now += Duration::from_secs(secs);
                        false
                    }
                    Event::ReleaseAway => {
                        for away in store.away_past(now, grace).await {
                            if store.release_away(&away, now).await.is_some() {
                                count("seat given up");
                            }
                        }
                        false
                    }
                    Event::ForgetIdle => {
                        let forgotten = store.forget_idle_rooms(now, idle).await
                            + store.forget_unjoined_rooms(now, idle / 2).await;
                        for _ in 0..forgotten {
                            count("room forgotten");
                        }
                        false
                    }
                };
                if refused {
                    assert_eq!(store.snapshot(), before, "a refusal changed the store");
                }
                store.check_invariants();
            }
        });
        reach
    }
}
