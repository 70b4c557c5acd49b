//! What an adversarial probe found: answers to unauthenticated requests
//! without a rate limit, RFC 3489 Binding requests unanswered, channel
//! numbers outside RFC 8656's range, and the relay reaching the server's
//! own addresses.

use super::*;
use crate::turn::Settings;

/// A bare request with no attributes: the smallest STUN message there is.
fn bare(method: u16, n: u8) -> Vec<u8> {
    let mut packet = Vec::new();
    Builder::new(&mut packet, method, Class::Request, [n; 12]);
    packet
}

/// How many of `count` packets from `from` got an answer.
fn answered(shell: &mut Shell, from: &str, count: u8, packet: impl Fn(u8) -> Vec<u8>) -> usize {
    let key = ClientKey::Udp(addr(from));
    (0..count)
        .filter(|n| shell.send(key, &packet(*n)).is_some())
        .count()
}

#[test]
fn unauthenticated_answers_are_rate_limited_per_source() {
    let mut shell = Shell::new(settings());
    // A burst of 32, then 16 a second, per source address.
    assert_eq!(
        answered(&mut shell, "203.0.113.9:1000", 100, |n| bare(
            method::ALLOCATE,
            n
        )),
        32
    );
    assert_eq!(
        answered(&mut shell, "203.0.113.9:2000", 10, |n| bare(
            method::BINDING,
            n
        )),
        0,
        "the limit is per address, not per port"
    );
    assert!(shell.metric("parlor_turn_dropped_packets_total{reason=\"rate_limited\"}") >= 78);
    // Other sources are answered meanwhile.
    assert_eq!(
        answered(&mut shell, "203.0.113.10:1000", 5, |n| bare(
            method::BINDING,
            n
        )),
        5
    );
    shell.advance(Duration::from_secs(1));
    assert_eq!(
        answered(&mut shell, "203.0.113.9:1000", 100, |n| bare(
            method::BINDING,
            n
        )),
        16
    );
    // Once the bucket is full again, the sweep forgets the source.
    shell.advance(Duration::from_secs(10));
    shell.sweep();
    assert!(shell.core.unauthenticated.is_empty());
    // Signed requests are not counted: a client with credentials goes on.
    let mut alice = shell.client("203.0.113.11:1000", "alice");
    for _ in 0..40 {
        let reply = shell.refresh(&mut alice, 600);
        assert_eq!(error_code(&reply), Some(437));
    }
}

#[test]
fn challenges_are_small() {
    let mut shell = Shell::new(settings());
    let reply = shell
        .send(
            ClientKey::Udp(addr("203.0.113.9:1000")),
            &bare(method::ALLOCATE, 1),
        )
        .unwrap();
    assert_eq!(error_code(&reply), Some(401));
    // Header, ERROR-CODE without a reason phrase, REALM "parlor", a
    // nonce of 24 characters: 68 bytes, where it was 88.
    assert_eq!(reply.len(), 20 + 8 + 12 + 28);
}

#[test]
fn classic_binding_requests_get_a_mapped_address() {
    let mut shell = Shell::new(settings());
    let mut request = vec![0x00, 0x01, 0x00, 0x00];
    request.extend_from_slice(&[0xA5; 16]);
    let reply = shell
        .send(ClientKey::Udp(addr("203.0.113.9:1000")), &request)
        .expect("an answer");
    assert_eq!(
        reply,
        [
            &[0x01, 0x01, 0x00, 0x0C][..],
            &[0xA5; 16],
            &[
                0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x03, 0xE8, 203, 0, 113, 9
            ],
        ]
        .concat()
    );
    // Over TCP too, and for IPv6 clients.
    let reply = shell
        .send(ClientKey::Tcp(addr("[2001:4860::1]:1000")), &request)
        .unwrap();
    assert_eq!(&reply[..4], &[0x01, 0x01, 0x00, 24]);
    assert_eq!(&reply[24..28], &[0x00, 0x02, 0x03, 0xE8]);
    // Anything else without the magic cookie is dropped.
    let mut other = request.clone();
    other[1] = 0x03;
    assert!(
        shell
            .send(ClientKey::Udp(addr("203.0.113.9:1000")), &other)
            .is_none()
    );
    // A damaged RFC 8489 request (a FINGERPRINT) is no RFC 3489 one.
    let mut damaged = Vec::new();
    Builder::new(&mut damaged, method::BINDING, Class::Request, [7; 12]).fingerprint();
    damaged[4] ^= 0xff;
    assert!(
        shell
            .send(ClientKey::Udp(addr("203.0.113.9:1000")), &damaged)
            .is_none()
    );
    // RFC 3489's CHANGE-REQUEST is fine (the server has one address, so
    // it answers from it anyway).
    let mut change = vec![0x00, 0x01, 0x00, 0x08];
    change.extend_from_slice(&[0xA6; 16]);
    change.extend_from_slice(&[0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0]);
    assert!(
        shell
            .send(ClientKey::Udp(addr("203.0.113.9:1000")), &change)
            .is_some()
    );
    let mut short = request.clone();
    short[3] = 4;
    assert!(
        shell
            .send(ClientKey::Udp(addr("203.0.113.9:1000")), &short)
            .is_none()
    );
    assert_eq!(shell.metric("parlor_turn_binding_requests_total"), 3);
}

#[test]
fn the_relay_does_not_reach_the_servers_own_addresses() {
    // Relayed addresses advertised on a public address, as with
    // --turn-external-ip; the server listens on port 3478.
    let own = "8.8.8.8".parse().unwrap();
    let mut shell = Shell::with_families(settings(), Some(own), None);
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let reply = shell.allocate(&mut alice, |_| {});
    assert_eq!(relayed(&reply).ip(), own);
    // A permission is for an address: the relayed addresses of other
    // clients share it.
    let turn = addr("8.8.8.8:3478");
    let reply = shell.create_permission(&mut alice, &[turn]);
    assert_eq!(class(&reply), Class::Success);
    assert!(!shell.send_indication(&alice, turn, b"to the TURN port"));
    assert!(!shell.send_indication(&alice, addr("8.8.8.8:22"), b"ssh"));
    assert!(!shell.send_indication(&alice, addr("8.8.8.8:443"), b"web"));
    assert!(shell.send_indication(&alice, addr("8.8.8.8:50000"), b"relayed"));
    assert_eq!(
        error_code(&shell.channel_bind(&mut alice, 0x4000, turn)),
        Some(403)
    );
    let other = addr("8.8.8.8:50001");
    assert_eq!(
        class(&shell.channel_bind(&mut alice, 0x4001, other)),
        Class::Success
    );
    assert!(shell.send_channel_data(&alice, 0x4001, b"relayed"));
}

/// Issue "abuse found", item 2: every `join` minted a new peer id and so a
/// new TURN user, and one visitor took every allocation of the server by
/// joining and leaving. A user name costs nothing; an address does.
#[test]
fn allocations_are_capped_per_address_whatever_the_user() {
    let mut shell = Shell::new(Settings {
        max_allocations: 1000,
        user_allocations: 64,
        address_allocations: 3,
        ..settings()
    });
    let mut taken = 0;
    // (20: the unauthenticated challenges of one address are rate limited.)
    for n in 0..20u16 {
        // A fresh user (a fresh peer id) for every allocation, each from
        // another port of one address.
        let mut c = shell.client(&format!("203.0.113.7:{}", 5000 + n), &format!("peer{n}"));
        if class(&shell.allocate(&mut c, |_| {})) == Class::Success {
            taken += 1;
        } else {
            assert_eq!(error_code(&shell.allocate(&mut c, |_| {})), Some(486));
        }
    }
    assert_eq!(taken, 3);
    // IPv4 seen through a dual-stack socket is the same address.
    let mut mapped = shell.client("[::ffff:203.0.113.7]:6000", "mapped");
    assert_eq!(error_code(&shell.allocate(&mut mapped, |_| {})), Some(486));
    // Another address is not affected.
    let mut other = shell.client("203.0.113.8:5000", "other");
    assert_eq!(class(&shell.allocate(&mut other, |_| {})), Class::Success);
}

#[test]
fn an_ipv6_slash_64_is_one_address() {
    let mut shell = Shell::with_families(
        Settings {
            address_allocations: 2,
            ..settings()
        },
        Some(RELAY_IP.into()),
        None,
    );
    let mut a = shell.client("[2001:db8:1:2::1]:5000", "a");
    let mut b = shell.client("[2001:db8:1:2:ffff::9]:5000", "b");
    let mut c = shell.client("[2001:db8:1:2::abcd]:5000", "c");
    let mut d = shell.client("[2001:db8:1:3::1]:5000", "d");
    assert_eq!(class(&shell.allocate(&mut a, |_| {})), Class::Success);
    assert_eq!(class(&shell.allocate(&mut b, |_| {})), Class::Success);
    assert_eq!(error_code(&shell.allocate(&mut c, |_| {})), Some(486));
    // The next /64 is another subscriber.
    assert_eq!(class(&shell.allocate(&mut d, |_| {})), Class::Success);
    // A deleted allocation gives its place back, as a rolled-back one does.
    assert_eq!(lifetime(&shell.refresh(&mut a, 0)), 0);
    let tid = c.tid();
    let open = shell.allocate_pending(&mut c, tid);
    shell.finish(c.key, open.id, Opened::NoPort).unwrap();
    assert_eq!(class(&shell.allocate(&mut c, |_| {})), Class::Success);
    shell.core.forget(b.key);
    shell.core.forget(c.key);
    shell.core.forget(d.key);
    assert!(shell.core.addresses.is_empty());
}

#[test]
fn bandwidth_is_shared_by_every_user_of_one_address() {
    let mut shell = Shell::new(Settings {
        user_bandwidth: 100_000,
        address_bandwidth: 100_000,
        ..settings()
    });
    let peer = addr("198.51.100.1:4000");
    let mut clients = Vec::new();
    for n in 0..4u16 {
        let mut c = shell.client(&format!("203.0.113.7:{}", 5000 + n), &format!("peer{n}"));
        assert_eq!(class(&shell.allocate(&mut c, |_| {})), Class::Success);
        assert_eq!(
            class(&shell.create_permission(&mut c, &[peer])),
            Class::Success
        );
        clients.push(c);
    }
    let kilobyte = [0u8; 1000];
    // One second's worth for the address, however many users it mints.
    let sent = (0..400)
        .filter(|n| shell.send_indication(&clients[n % 4], peer, &kilobyte))
        .count();
    assert_eq!(sent, 100);
    let mut other = shell.client("203.0.113.8:5000", "other");
    assert_eq!(class(&shell.allocate(&mut other, |_| {})), Class::Success);
    assert_eq!(
        class(&shell.create_permission(&mut other, &[peer])),
        Class::Success
    );
    assert!(shell.send_indication(&other, peer, &kilobyte));
}

/// Issue "abuse found", item 2: credentials outlived their member by a
/// day. Revoked ones (the hub revokes a member's as it leaves) are
/// refused like forged ones: no allocation, refresh or permission.
#[test]
fn revoked_credentials_are_refused() {
    let settings = settings();
    let secret = settings.secret.clone();
    let mut shell = Shell::new(settings);
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let mut bob = shell.client("203.0.113.2:5000", "bob");
    assert_eq!(class(&shell.allocate(&mut alice, |_| {})), Class::Success);
    // Every credential of alice's issued so far expires by this.
    secret.revoke("alice", UNIX0 + 1_000_000, UNIX0);
    assert_eq!(error_code(&shell.refresh(&mut alice, 600)), Some(401));
    let peer = addr("198.51.100.1:4000");
    assert_eq!(
        error_code(&shell.create_permission(&mut alice, &[peer])),
        Some(401)
    );
    let mut again = shell.client("203.0.113.1:5001", "alice");
    assert_eq!(error_code(&shell.allocate(&mut again, |_| {})), Some(401));
    assert_eq!(shell.metric("parlor_turn_auth_failures_total"), 3);
    let relay = relayed(&shell.allocate(&mut bob, |_| {}));
    // The next sweep ends alice's allocation and gives back its places;
    // bob's stays.
    let closed = shell.sweep();
    assert_eq!(closed.len(), 1);
    assert!(!shell.core.has_allocation(alice.key));
    assert!(shell.core.has_allocation(bob.key));
    assert_ne!(closed[0], relay.port());
    assert!(!shell.core.users.contains_key("alice"));
    assert_eq!(shell.metric("parlor_turn_allocations"), 1);
}
