//! Life with an allocation, without sockets: refresh, permissions and
//! channels gating data both ways, the user's bandwidth, expiry.

use super::super::Framing;
use super::*;

/// A client of `shell` with an allocation, and its relay port.
fn allocated(shell: &mut Shell, from: &str, user: &str) -> (Client, u16) {
    let mut c = shell.client(from, user);
    let reply = shell.allocate(&mut c, |b| {
        b.u32(attr::LIFETIME, 3600);
    });
    assert_eq!(class(&reply), Class::Success);
    (c, relayed(&reply).port())
}

/// The id of the allocation of `c`, as its relay task knows it: the
/// allocations in these tests are numbered from 1.
fn from_peer(
    shell: &mut Shell,
    c: &Client,
    id: u64,
    peer: SocketAddr,
    len: usize,
) -> Option<Framing> {
    let now = shell.now().mono;
    shell.core.peer_datagram(c.key, id, peer, len, now)
}

#[test]
fn refresh_extends_caps_and_deletes() {
    let mut shell = Shell::new(settings());
    let (mut alice, port) = allocated(&mut shell, "203.0.113.1:5000", "alice");
    assert_eq!(lifetime(&shell.refresh(&mut alice, 1200)), 1200);
    // Capped at the maximum; never below the default.
    assert_eq!(lifetime(&shell.refresh(&mut alice, 999_999)), 3600);
    assert_eq!(lifetime(&shell.refresh(&mut alice, 30)), 600);
    // Someone else's credentials on this 5-tuple: 441.
    let mut mallory = Client::new(alice.key, "mallory");
    mallory.nonce = alice.nonce.clone();
    assert_eq!(error_code(&shell.refresh(&mut mallory, 600)), Some(441));
    // LIFETIME 0 deletes it, and its relay is closed.
    let reply = shell.refresh(&mut alice, 0);
    assert_eq!(lifetime(&reply), 0);
    assert_eq!(shell.closed, [port]);
    assert!(!shell.core.has_allocation(alice.key));
    assert_eq!(shell.metric("parlor_turn_allocations"), 0);
    assert_eq!(error_code(&shell.refresh(&mut alice, 600)), Some(437));
    // No allocation: 437 for permissions and channels too.
    let peer = addr("198.51.100.1:4000");
    assert_eq!(
        error_code(&shell.create_permission(&mut alice, &[peer])),
        Some(437)
    );
    assert_eq!(
        error_code(&shell.channel_bind(&mut alice, 0x4000, peer)),
        Some(437)
    );
}

#[test]
fn permissions_gate_relaying_both_ways_and_expire() {
    let mut shell = Shell::new(settings());
    let (mut alice, port) = allocated(&mut shell, "203.0.113.1:5000", "alice");
    let peer = addr("198.51.100.1:4000");
    // No permission yet: dropped, both ways.
    assert!(!shell.send_indication(&alice, peer, b"hello"));
    assert_eq!(
        shell.metric("parlor_turn_dropped_packets_total{reason=\"no_permission\"}"),
        1
    );
    assert_eq!(from_peer(&mut shell, &alice, 1, peer, 5), None);
    assert_eq!(
        class(&shell.create_permission(&mut alice, &[peer])),
        Class::Success
    );
    assert!(shell.send_indication(&alice, peer, b"hello"));
    assert_eq!(shell.sent, [(port, peer, b"hello".to_vec())]);
    // Any port of the peer's address.
    let other_port = addr("198.51.100.1:4001");
    assert!(shell.send_indication(&alice, other_port, b"x"));
    assert_eq!(
        from_peer(&mut shell, &alice, 1, other_port, 5),
        Some(Framing::Indication)
    );
    // Not for the allocation before (a client may delete and allocate
    // again), and not for another client.
    assert_eq!(from_peer(&mut shell, &alice, 2, peer, 5), None);
    let stranger = Client::new(ClientKey::Udp(addr("203.0.113.9:5000")), "x");
    assert!(!shell.send_indication(&stranger, peer, b"x"));
    assert_eq!(
        shell.metric("parlor_turn_dropped_packets_total{reason=\"no_allocation\"}"),
        1
    );
    // 300 s later the permission is gone.
    shell.advance(Duration::from_secs(299));
    assert!(shell.send_indication(&alice, peer, b"x"));
    shell.advance(Duration::from_secs(1));
    assert!(!shell.send_indication(&alice, peer, b"x"));
    assert_eq!(from_peer(&mut shell, &alice, 1, peer, 5), None);
    // A Send indication without a peer or data is malformed.
    let mut packet = Vec::new();
    Builder::new(&mut packet, method::SEND, Class::Indication, [3; 12]).attr(attr::DATA, b"x");
    assert!(!shell.relayed_by(alice.key, &packet));
    assert_eq!(
        shell.metric("parlor_turn_dropped_packets_total{reason=\"malformed\"}"),
        1
    );
}

#[test]
fn create_permission_checks_its_peers() {
    let mut shell = Shell::new(settings());
    let (mut alice, _) = allocated(&mut shell, "203.0.113.1:5000", "alice");
    // The filter refuses private and loopback peers unless allow-listed.
    for refused in ["10.0.0.1:4000", "127.0.0.1:4000"] {
        let reply = shell.create_permission(&mut alice, &[addr(refused)]);
        assert_eq!(error_code(&reply), Some(403), "{refused}");
    }
    assert_eq!(shell.metric("parlor_turn_peers_refused_total"), 2);
    // One refused peer refuses the request.
    let reply = shell.create_permission(&mut alice, &[addr("198.51.100.1:1"), addr("10.0.0.1:1")]);
    assert_eq!(error_code(&reply), Some(403));
    assert!(!shell.send_indication(&alice, addr("198.51.100.1:1"), b"x"));
    // A peer of the other family: 443; no peer: 400.
    let reply = shell.create_permission(&mut alice, &[addr("[2001:db8::1]:1")]);
    assert_eq!(error_code(&reply), Some(443));
    assert_eq!(
        error_code(&shell.create_permission(&mut alice, &[])),
        Some(400)
    );
    // At most 64 addresses in one request, and in one allocation.
    let many: Vec<SocketAddr> = (0..65)
        .map(|n| SocketAddr::from(([198, 51, 100, n], 1)))
        .collect();
    assert_eq!(
        error_code(&shell.create_permission(&mut alice, &many)),
        Some(508)
    );
    assert_eq!(
        class(&shell.create_permission(&mut alice, &many[..64])),
        Class::Success
    );
    assert_eq!(
        error_code(&shell.create_permission(&mut alice, &many[64..])),
        Some(508)
    );
    // Refreshing existing ones still works.
    assert_eq!(
        class(&shell.create_permission(&mut alice, &many[..2])),
        Class::Success
    );
}

#[test]
fn channels_carry_data_both_ways() {
    let mut shell = Shell::new(settings());
    let (mut alice, port) = allocated(&mut shell, "203.0.113.1:5000", "alice");
    let peer = addr("198.51.100.1:4000");
    let other = addr("198.51.100.1:4001");
    // Data on an unbound channel: dropped.
    assert!(!shell.send_channel_data(&alice, 0x4000, b"x"));
    assert_eq!(
        class(&shell.channel_bind(&mut alice, 0x4000, peer)),
        Class::Success
    );
    assert!(shell.send_channel_data(&alice, 0x4000, b"hi"));
    assert_eq!(shell.sent.last(), Some(&(port, peer, b"hi".to_vec())));
    // The peer's datagrams come back on the channel; others of its
    // address (permitted by the binding) as Data indications.
    assert_eq!(
        from_peer(&mut shell, &alice, 1, peer, 2),
        Some(Framing::Channel(0x4000))
    );
    assert_eq!(
        from_peer(&mut shell, &alice, 1, other, 2),
        Some(Framing::Indication)
    );
    // Numbers outside 0x4000-0x4FFF (RFC 8656; 0x5000-0x7FFF were RFC
    // 5766's), and conflicting bindings: 400, and nothing bound.
    for (number, to) in [
        (0x3FFF, other),
        (0x5000, other),
        (0x7FFF, other),
        (0x8000, other),
        (0x4000, other),
        (0x4001, peer),
    ] {
        let reply = shell.channel_bind(&mut alice, number, to);
        assert_eq!(error_code(&reply), Some(400), "{number:#x} {to}");
    }
    // ChannelData on a reserved number is dropped as malformed, and the
    // refusals left the one binding as it was.
    let before = shell.metric("parlor_turn_dropped_packets_total{reason=\"malformed\"}");
    for number in [0x5000, 0x7FFF] {
        assert!(
            !shell.send_channel_data(&alice, number, b"x"),
            "{number:#x}"
        );
    }
    assert_eq!(
        shell.metric("parlor_turn_dropped_packets_total{reason=\"malformed\"}"),
        before + 2
    );
    assert!(shell.send_channel_data(&alice, 0x4000, b"still"));
    assert_eq!(shell.sent.last(), Some(&(port, peer, b"still".to_vec())));
    // A refused peer: 403.
    let reply = shell.channel_bind(&mut alice, 0x4001, addr("10.0.0.1:1"));
    assert_eq!(error_code(&reply), Some(403));
    // A binding lasts 600 s unless refreshed, and refreshes the permission
    // of its peer, which lasts 300 s.
    shell.advance(Duration::from_secs(400));
    assert_eq!(
        class(&shell.channel_bind(&mut alice, 0x4000, peer)),
        Class::Success
    );
    shell.advance(Duration::from_secs(299));
    assert!(shell.send_channel_data(&alice, 0x4000, b"x"));
    shell.advance(Duration::from_secs(1));
    assert!(!shell.send_channel_data(&alice, 0x4000, b"x"));
    shell.advance(Duration::from_secs(150));
    assert_eq!(
        class(&shell.create_permission(&mut alice, &[peer])),
        Class::Success
    );
    shell.advance(Duration::from_secs(149));
    assert!(shell.send_channel_data(&alice, 0x4000, b"x"));
    shell.advance(Duration::from_secs(1));
    assert!(!shell.send_channel_data(&alice, 0x4000, b"x"));
    // The peer's datagrams come as Data indications again.
    assert_eq!(
        from_peer(&mut shell, &alice, 1, peer, 2),
        Some(Framing::Indication)
    );
    // A malformed ChannelData: dropped as such.
    let before = shell.metric("parlor_turn_dropped_packets_total{reason=\"malformed\"}");
    assert!(!shell.relayed_by(alice.key, &[0x40, 0, 0, 9, 1]));
    assert_eq!(
        shell.metric("parlor_turn_dropped_packets_total{reason=\"malformed\"}"),
        before + 1
    );
}

#[test]
fn bandwidth_is_per_user_and_refills() {
    let mut shell = Shell::new(Settings {
        user_bandwidth: 100_000,
        ..settings()
    });
    let (mut alice, _) = allocated(&mut shell, "203.0.113.1:5000", "alice");
    let (mut again, _) = allocated(&mut shell, "203.0.113.1:5001", "alice");
    let (mut bob, _) = allocated(&mut shell, "203.0.113.2:5000", "bob");
    let peer = addr("198.51.100.1:4000");
    for c in [&mut alice, &mut again, &mut bob] {
        assert_eq!(class(&shell.create_permission(c, &[peer])), Class::Success);
    }
    let kilobyte = [0u8; 1000];
    // A second's worth as a burst, shared by the user's allocations and
    // by both directions.
    for _ in 0..50 {
        assert!(shell.send_indication(&alice, peer, &kilobyte));
    }
    for _ in 0..49 {
        assert!(shell.send_indication(&again, peer, &kilobyte));
    }
    assert!(from_peer(&mut shell, &again, 2, peer, 1000).is_some());
    assert!(!shell.send_indication(&alice, peer, &kilobyte));
    assert_eq!(from_peer(&mut shell, &alice, 1, peer, 1000), None);
    assert_eq!(
        shell.metric("parlor_turn_dropped_packets_total{reason=\"bandwidth\"}"),
        2
    );
    // Another user has their own.
    assert!(shell.send_indication(&bob, peer, &kilobyte));
    // 100 bytes a millisecond come back.
    shell.advance(Duration::from_millis(10));
    assert!(shell.send_indication(&alice, peer, &kilobyte));
    assert!(!shell.send_indication(&alice, peer, &kilobyte));
}

#[test]
fn allocations_expire_in_the_sweep() {
    let mut shell = Shell::new(settings());
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let port = relayed(&shell.allocate(&mut alice, |_| {})).port();
    let (mut bob, bob_port) = allocated(&mut shell, "203.0.113.2:5000", "bob");
    let peer = addr("198.51.100.1:4000");
    assert_eq!(
        class(&shell.create_permission(&mut bob, &[peer])),
        Class::Success
    );
    assert_eq!(shell.metric("parlor_turn_allocations"), 2);
    shell.advance(Duration::from_secs(599));
    assert!(shell.sweep().is_empty());
    shell.advance(Duration::from_secs(1));
    assert_eq!(shell.sweep(), [port]);
    assert!(!shell.core.has_allocation(alice.key));
    assert_eq!(shell.metric("parlor_turn_allocations"), 1);
    // A refresh keeps Bob's; its permission lapsed on its own.
    assert_eq!(lifetime(&shell.refresh(&mut bob, 3600)), 3600);
    assert!(!shell.send_indication(&bob, peer, b"x"));
    shell.advance(Duration::from_secs(3599));
    assert!(shell.sweep().is_empty());
    shell.advance(Duration::from_secs(1));
    assert_eq!(shell.sweep(), [bob_port]);
    assert_eq!(shell.metric("parlor_turn_allocations"), 0);
    // The client's allocation is gone: it may allocate again.
    assert_eq!(class(&shell.allocate(&mut alice, |_| {})), Class::Success);
}

#[test]
fn a_closed_connection_ends_its_allocation() {
    let mut shell = Shell::new(settings());
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    alice.key = ClientKey::Tcp(addr("203.0.113.1:5000"));
    let port = relayed(&shell.allocate(&mut alice, |_| {})).port();
    assert!(shell.core.has_allocation(alice.key));
    // The same address over UDP is another client.
    assert!(
        !shell
            .core
            .has_allocation(ClientKey::Udp(addr("203.0.113.1:5000")))
    );
    let released = shell.core.forget(alice.key);
    assert_eq!(released.relays, [port]);
    assert!(!shell.core.has_allocation(alice.key));
    assert_eq!(shell.metric("parlor_turn_allocations"), 0);
    // Stopping the server lets go of everything.
    let (_, bob_port) = allocated(&mut shell, "203.0.113.2:5000", "bob");
    let released = shell.core.clear();
    assert_eq!(released.relays, [bob_port]);
}

#[test]
fn stale_nonces_and_bad_credentials_are_told_apart() {
    let mut shell = Shell::new(settings());
    let (mut alice, _) = allocated(&mut shell, "203.0.113.1:5000", "alice");
    // After 600 s the nonce is stale: 438 with a new one, not a failure.
    shell.advance(Duration::from_secs(601));
    let tid = alice.tid();
    let packet = alice.request(method::REFRESH, tid, &|_| {});
    let reply = shell.send(alice.key, &packet).unwrap();
    assert_eq!(error_code(&reply), Some(438));
    assert!(nonce(&reply).is_some_and(|n| n != alice.nonce));
    assert_eq!(shell.metric("parlor_turn_auth_failures_total"), 0);
    // A wrong password: 401, counted.
    alice.nonce = nonce(&reply).unwrap();
    alice.mac_key = [0; 16];
    let packet = alice.request(method::REFRESH, tid, &|_| {});
    assert_eq!(
        error_code(&shell.send(alice.key, &packet).unwrap()),
        Some(401)
    );
    assert_eq!(shell.metric("parlor_turn_auth_failures_total"), 1);
    // MESSAGE-INTEGRITY without credentials: 400.
    let mut packet = Vec::new();
    Builder::new(&mut packet, method::REFRESH, Class::Request, tid).integrity(&[0; 16]);
    assert_eq!(
        error_code(&shell.send(alice.key, &packet).unwrap()),
        Some(400)
    );
    // A request of no TURN method: 400 once authenticated.
    let mut bob = shell.client("203.0.113.2:5000", "bob");
    assert_eq!(error_code(&shell.ask(&mut bob, 0x00A, |_| {})), Some(400));
}
