//! What an adversarial probe found: answers to unauthenticated requests
//! without a rate limit, RFC 3489 Binding requests unanswered, channel
//! numbers outside RFC 8656's range, and the relay reaching the server's
//! own addresses.

use super::*;

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
