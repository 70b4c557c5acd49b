//! Allocate without sockets: the challenge, the two steps, retransmissions,
//! the caps while allocations are pending, reservations, families.

use super::*;

#[test]
fn binding_answers_with_the_mapped_address() {
    let mut shell = Shell::new(settings());
    let from = ClientKey::Udp(addr("203.0.113.5:6000"));
    let mut request = Vec::new();
    Builder::new(&mut request, method::BINDING, Class::Request, [5; 12])
        .attr(attr::PRIORITY, &[0, 0, 0, 1])
        .fingerprint();
    let reply = shell.send(from, &request).unwrap();
    let msg = Message::parse(&reply).unwrap();
    assert_eq!(msg.class, Class::Success);
    assert_eq!(msg.transaction_id, [5; 12]);
    assert_eq!(
        msg.get_xor_address(attr::XOR_MAPPED_ADDRESS),
        Some(Ok(addr("203.0.113.5:6000")))
    );
    assert!(msg.has_fingerprint);
    assert_eq!(shell.metric("parlor_turn_binding_requests_total"), 1);
    // An IPv4 client on a dual-stack socket is shown as IPv4.
    let mapped = ClientKey::Udp(addr("[::ffff:203.0.113.5]:6000"));
    let reply = shell.send(mapped, &request).unwrap();
    assert_eq!(
        Message::parse(&reply)
            .unwrap()
            .get_xor_address(attr::XOR_MAPPED_ADDRESS),
        Some(Ok(addr("203.0.113.5:6000")))
    );
    // A comprehension-required attribute it does not know: 420.
    let mut request = Vec::new();
    Builder::new(&mut request, method::BINDING, Class::Request, [6; 12]).attr(0x0031, b"?");
    let reply = shell.send(from, &request).unwrap();
    assert_eq!(error_code(&reply), Some(420));
}

#[test]
fn allocate_is_challenged_then_opens_a_relay_in_two_steps() {
    let mut shell = Shell::new(settings());
    let mut alice = Client::new(ClientKey::Udp(addr("203.0.113.1:5000")), "alice");
    // No credentials yet: 401 with the realm and a nonce, not counted as a
    // failure.
    let mut hello = Vec::new();
    Builder::new(&mut hello, method::ALLOCATE, Class::Request, [1; 12])
        .attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0])
        .fingerprint();
    let reply = shell.send(alice.key, &hello).unwrap();
    assert_eq!(error_code(&reply), Some(401));
    let msg = Message::parse(&reply).unwrap();
    assert_eq!(msg.get_str(attr::REALM), Some(REALM));
    assert_eq!(shell.metric("parlor_turn_auth_failures_total"), 0);
    alice.nonce = nonce(&reply).unwrap();

    // Step one: the core asks for a relay on a port of the range.
    let tid = alice.tid();
    let open = shell.allocate_pending(&mut alice, tid);
    let RelaySource::Bind { v4, plan } = &open.source else {
        panic!("a reservation was not asked for");
    };
    assert!(*v4);
    assert!(!plan.reserves_next());
    assert!(plan.ports().all(|p| p >= 49152));
    assert_eq!(shell.metric("parlor_turn_allocations"), 0);
    // Step two: the shell bound port 50000.
    let opened = Opened::Relay {
        relay: 50000,
        port: 50000,
        reserved: None,
    };
    let reply = shell.finish(alice.key, open.id, opened).unwrap();
    assert_eq!(class(&reply), Class::Success);
    assert!(signed_for(&reply, &alice));
    assert_eq!(relayed(&reply), SocketAddr::from((RELAY_IP, 50000)));
    assert_eq!(lifetime(&reply), 600);
    assert_eq!(
        Message::parse(&reply)
            .unwrap()
            .get_xor_address(attr::XOR_MAPPED_ADDRESS),
        Some(Ok(addr("203.0.113.1:5000")))
    );
    assert_eq!(shell.metric("parlor_turn_allocations"), 1);
    assert_eq!(shell.metric("parlor_turn_allocations_total"), 1);
    assert!(shell.core.has_allocation(alice.key));

    // A retransmission gets the same answer, with the lifetime left.
    shell.advance(Duration::from_secs(100));
    let again = shell.ask_as(&mut alice, method::ALLOCATE, tid, |b| {
        b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    assert_eq!(relayed(&again), SocketAddr::from((RELAY_IP, 50000)));
    assert_eq!(lifetime(&again), 500);
    // Another Allocate on the same 5-tuple: 437.
    let other = shell.allocate(&mut alice, |_| {});
    assert_eq!(error_code(&other), Some(437));
    assert!(signed_for(&other, &alice));
}

#[test]
fn a_retransmission_while_the_relay_opens_waits() {
    let mut shell = Shell::new(settings());
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let tid = alice.tid();
    let open = shell.allocate_pending(&mut alice, tid);
    // The same request again: no answer yet, and no second relay.
    let packet = alice.request(method::ALLOCATE, tid, &|b| {
        b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    assert!(shell.send(alice.key, &packet).is_none());
    // A different Allocate: a second allocation on one 5-tuple.
    let reply = shell.allocate(&mut alice, |_| {});
    assert_eq!(error_code(&reply), Some(437));
    // Requests that need the allocation find none yet.
    let reply = shell.refresh(&mut alice, 600);
    assert_eq!(error_code(&reply), Some(437));
    let opened = Opened::Relay {
        relay: 50001,
        port: 50001,
        reserved: None,
    };
    let reply = shell.finish(alice.key, open.id, opened).unwrap();
    assert_eq!(class(&reply), Class::Success);
    // Now the retransmission gets the answer.
    let reply = shell.send(alice.key, &packet).unwrap();
    assert_eq!(relayed(&reply).port(), 50001);
}

#[test]
fn pending_allocations_count_against_the_server_cap() {
    let mut shell = Shell::new(Settings {
        max_allocations: 1,
        ..settings()
    });
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let mut bob = shell.client("203.0.113.2:5000", "bob");
    let tid = alice.tid();
    let open = shell.allocate_pending(&mut alice, tid);
    // While Alice's relay is being opened, the last place is hers.
    let reply = shell.allocate(&mut bob, |_| {});
    assert_eq!(error_code(&reply), Some(508));
    assert_eq!(shell.metric("parlor_turn_allocation_refusals_total"), 1);
    // Her relay cannot be opened: 508 for her, counted, and the place is
    // free again.
    let reply = shell.finish(alice.key, open.id, Opened::NoPort).unwrap();
    assert_eq!(error_code(&reply), Some(508));
    assert!(signed_for(&reply, &alice));
    assert_eq!(shell.metric("parlor_turn_allocation_refusals_total"), 2);
    assert_eq!(shell.metric("parlor_turn_allocations"), 0);
    let reply = shell.allocate(&mut bob, |_| {});
    assert_eq!(class(&reply), Class::Success);
    // A socket that could not be used: 508 too, not counted as a refusal.
    let tid = alice.tid();
    let mut carol = shell.client("203.0.113.3:5000", "carol");
    let reply = shell.allocate(&mut carol, |_| {});
    assert_eq!(error_code(&reply), Some(508));
    shell.core.forget(bob.key);
    let open = shell.allocate_pending(&mut alice, tid);
    let refusals = shell.metric("parlor_turn_allocation_refusals_total");
    let reply = shell.finish(alice.key, open.id, Opened::Unusable).unwrap();
    assert_eq!(error_code(&reply), Some(508));
    assert_eq!(
        shell.metric("parlor_turn_allocation_refusals_total"),
        refusals
    );
}

#[test]
fn allocations_per_user_are_capped_pending_ones_included() {
    let mut shell = Shell::new(Settings {
        user_allocations: 2,
        ..settings()
    });
    let mut first = shell.client("203.0.113.1:5000", "alice");
    let mut second = shell.client("203.0.113.1:5001", "alice");
    let mut third = shell.client("203.0.113.1:5002", "alice");
    let mut bob = shell.client("203.0.113.2:5000", "bob");
    assert_eq!(class(&shell.allocate(&mut first, |_| {})), Class::Success);
    let tid = second.tid();
    let open = shell.allocate_pending(&mut second, tid);
    let reply = shell.allocate(&mut third, |_| {});
    assert_eq!(error_code(&reply), Some(486));
    assert_eq!(shell.metric("parlor_turn_allocation_refusals_total"), 1);
    // Another user is not affected.
    assert_eq!(class(&shell.allocate(&mut bob, |_| {})), Class::Success);
    // A rolled-back allocation gives its place back.
    shell.finish(second.key, open.id, Opened::NoPort).unwrap();
    assert_eq!(class(&shell.allocate(&mut third, |_| {})), Class::Success);
    // And so does a deleted one.
    assert_eq!(error_code(&shell.allocate(&mut second, |_| {})), Some(486));
    assert_eq!(lifetime(&shell.refresh(&mut first, 0)), 0);
    assert_eq!(class(&shell.allocate(&mut second, |_| {})), Class::Success);
}

#[test]
fn a_client_gone_while_its_relay_opens_gets_nothing_and_its_sockets_close() {
    let mut shell = Shell::new(Settings {
        user_allocations: 1,
        ..settings()
    });
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    alice.key = ClientKey::Tcp(addr("203.0.113.1:5000"));
    let tid = alice.tid();
    let open = shell.allocate_pending(&mut alice, tid);
    // The TCP connection closes between the two steps.
    let released = shell.core.forget(alice.key);
    assert!(released.relays.is_empty());
    let opened = Opened::Relay {
        relay: 50002,
        port: 50002,
        reserved: Some((50003, 99)),
    };
    assert!(shell.finish(alice.key, open.id, opened).is_none());
    assert_eq!(shell.closed, [50002, 50003]);
    assert!(!shell.core.has_allocation(alice.key));
    assert_eq!(shell.metric("parlor_turn_allocations"), 0);
    // Its place in the user's quota is free again.
    let mut again = shell.client("203.0.113.1:5001", "alice");
    assert_eq!(class(&shell.allocate(&mut again, |_| {})), Class::Success);
}

#[test]
fn no_free_port_is_insufficient_capacity() {
    let mut shell = Shell::new(Settings {
        relay_ports: PortRange {
            low: 50000,
            high: 50003,
        },
        ..settings()
    });
    shell.busy = vec![50000, 50001, 50002];
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    assert_eq!(relayed(&shell.allocate(&mut alice, |_| {})).port(), 50003);
    shell.busy.push(50003);
    let mut bob = shell.client("203.0.113.2:5000", "bob");
    let reply = shell.allocate(&mut bob, |_| {});
    assert_eq!(error_code(&reply), Some(508));
    assert_eq!(shell.metric("parlor_turn_allocation_refusals_total"), 1);
}

#[test]
fn the_port_choice_follows_the_seed() {
    let ports = || {
        let mut shell = Shell::new(settings());
        let mut ports = Vec::new();
        for n in 0..5 {
            let mut c = shell.client(&format!("203.0.113.1:{}", 5000 + n), "alice");
            ports.push(relayed(&shell.allocate(&mut c, |_| {})).port());
        }
        ports
    };
    let first = ports();
    assert_eq!(first, ports());
    assert!(first.windows(2).any(|w| w[0] != w[1]), "{first:?}");
}

#[test]
fn allocate_checks_its_attributes_in_order() {
    let mut shell = Shell::with_families(settings(), Some(RELAY_IP.into()), None);
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let ask = |shell: &mut Shell, c: &mut Client, add: &dyn Fn(&mut Builder)| {
        let reply = shell.ask(c, method::ALLOCATE, add);
        error_code(&reply)
    };
    // Transport: missing, or not UDP.
    assert_eq!(ask(&mut shell, &mut alice, &|_| {}), Some(400));
    assert_eq!(
        ask(&mut shell, &mut alice, &|b| {
            b.attr(attr::REQUESTED_TRANSPORT, &[6, 0, 0, 0]);
        }),
        Some(442)
    );
    let udp = |b: &mut Builder| {
        b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    };
    // Families: IPv6 is not offered here; 3 is no family; a short value
    // is malformed.
    for (value, code) in [
        (&[2u8, 0, 0, 0][..], 440),
        (&[3, 0, 0, 0][..], 440),
        (&[1, 0][..], 400),
    ] {
        let reply = shell.ask(&mut alice, method::ALLOCATE, |b| {
            udp(b);
            b.attr(attr::REQUESTED_ADDRESS_FAMILY, value);
        });
        assert_eq!(error_code(&reply), Some(code), "{value:?}");
    }
    // A token with EVEN-PORT or a family: 400; a token of the wrong size:
    // 400; a token nobody holds: 508.
    let reply = shell.ask(&mut alice, method::ALLOCATE, |b| {
        udp(b);
        b.attr(attr::RESERVATION_TOKEN, &[1; 8])
            .attr(attr::EVEN_PORT, &[0]);
    });
    assert_eq!(error_code(&reply), Some(400));
    let reply = shell.ask(&mut alice, method::ALLOCATE, |b| {
        udp(b);
        b.attr(attr::RESERVATION_TOKEN, &[1; 4]);
    });
    assert_eq!(error_code(&reply), Some(400));
    let reply = shell.ask(&mut alice, method::ALLOCATE, |b| {
        udp(b);
        b.attr(attr::RESERVATION_TOKEN, &[1; 8]);
    });
    assert_eq!(error_code(&reply), Some(508));
    // An empty EVEN-PORT: 400.
    let reply = shell.ask(&mut alice, method::ALLOCATE, |b| {
        udp(b);
        b.attr(attr::EVEN_PORT, &[]);
    });
    assert_eq!(error_code(&reply), Some(400));
    // An unknown comprehension-required attribute: 420, signed.
    let reply = shell.ask(&mut alice, method::ALLOCATE, |b| {
        udp(b);
        b.attr(0x0031, b"?");
    });
    assert_eq!(error_code(&reply), Some(420));
    assert!(signed_for(&reply, &alice));
    // None of that made an allocation or counted as a refusal.
    assert_eq!(shell.metric("parlor_turn_allocations_total"), 0);
    assert_eq!(shell.metric("parlor_turn_allocation_refusals_total"), 0);
}

#[test]
fn ipv6_relays_when_offered_and_asked_for() {
    let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
    let mut shell = Shell::with_families(settings(), Some(RELAY_IP.into()), Some(v6));
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let reply = shell.allocate(&mut alice, |b| {
        b.attr(attr::REQUESTED_ADDRESS_FAMILY, &[2, 0, 0, 0]);
    });
    assert_eq!(relayed(&reply).ip(), v6);
    // Refresh may name the family it has, not the other.
    let reply = shell.ask(&mut alice, method::REFRESH, |b| {
        b.attr(attr::REQUESTED_ADDRESS_FAMILY, &[1, 0, 0, 0]);
    });
    assert_eq!(error_code(&reply), Some(443));
    let reply = shell.ask(&mut alice, method::REFRESH, |b| {
        b.attr(attr::REQUESTED_ADDRESS_FAMILY, &[2, 0, 0, 0]);
    });
    assert_eq!(class(&reply), Class::Success);
    // Peers must be of the relay's family.
    let reply = shell.create_permission(&mut alice, &[addr("198.51.100.1:4000")]);
    assert_eq!(error_code(&reply), Some(443));
}

#[test]
fn even_port_reservations_hold_the_next_port() {
    let mut shell = Shell::new(settings());
    let mut alice = shell.client("203.0.113.1:5000", "alice");
    let reply = shell.allocate(&mut alice, |b| {
        b.attr(attr::EVEN_PORT, &[0x80]);
    });
    let port = relayed(&reply).port();
    assert_eq!(port % 2, 0);
    let claim = token_of(&reply);
    // EVEN-PORT without R: even, no token.
    let mut bob = shell.client("203.0.113.2:5000", "bob");
    let reply = shell.allocate(&mut bob, |b| {
        b.attr(attr::EVEN_PORT, &[0]);
    });
    assert_eq!(relayed(&reply).port() % 2, 0);
    assert_eq!(token(&reply), None);
    // The token claims the reserved port, once.
    let mut carol = shell.client("203.0.113.3:5000", "carol");
    let reply = shell.allocate(&mut carol, |b| {
        b.attr(attr::RESERVATION_TOKEN, &claim.to_be_bytes());
    });
    assert_eq!(relayed(&reply), SocketAddr::from((RELAY_IP, port + 1)));
    let mut dave = shell.client("203.0.113.4:5000", "dave");
    let reply = shell.allocate(&mut dave, |b| {
        b.attr(attr::RESERVATION_TOKEN, &claim.to_be_bytes());
    });
    assert_eq!(error_code(&reply), Some(508));
    // An unclaimed reservation lapses after 30 s, and the sweep closes its
    // socket.
    let reply = shell.allocate(&mut dave, |b| {
        b.attr(attr::EVEN_PORT, &[0x80]);
    });
    let held = relayed(&reply).port() + 1;
    let lapsed = token_of(&reply);
    shell.advance(Duration::from_secs(30));
    let mut erin = shell.client("203.0.113.5:5000", "erin");
    let reply = shell.allocate(&mut erin, |b| {
        b.attr(attr::RESERVATION_TOKEN, &lapsed.to_be_bytes());
    });
    assert_eq!(error_code(&reply), Some(508));
    assert_eq!(shell.sweep(), [held]);
}

fn token_of(reply: &[u8]) -> u64 {
    token(reply).expect("a reservation token")
}

#[test]
fn reservations_are_capped_pending_ones_included() {
    let mut shell = Shell::new(Settings {
        max_allocations: 4,
        ..settings()
    });
    let reserve = |b: &mut Builder| {
        b.attr(attr::EVEN_PORT, &[0x80]);
    };
    // Two reservations whose allocations are gone, and a third with its
    // allocation: one allocation, three reservations.
    for n in 1..=3 {
        let mut c = shell.client(&format!("203.0.113.{n}:5000"), "u");
        assert!(token(&shell.allocate(&mut c, reserve)).is_some());
        if n < 3 {
            assert_eq!(lifetime(&shell.refresh(&mut c, 0)), 0);
        }
    }
    // A fourth on its way: the cap of four is reached...
    let mut c = shell.client("203.0.113.9:5000", "u");
    let tid = c.tid();
    let packet = c.request(method::ALLOCATE, tid, &|b| {
        b.attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        reserve(b);
    });
    let now = shell.now();
    let outcome = shell
        .core
        .handle_packet(c.key, &packet, now, &mut shell.out);
    let Outcome::Open(open) = outcome else {
        panic!("no relay to open");
    };
    // ...for reservations, not for allocations.
    let mut d = shell.client("203.0.113.10:5000", "u");
    let reply = shell.allocate(&mut d, reserve);
    assert_eq!(error_code(&reply), Some(508));
    assert_eq!(shell.metric("parlor_turn_allocation_refusals_total"), 1);
    assert_eq!(class(&shell.allocate(&mut d, |_| {})), Class::Success);
    // Once the pending one is refused, there is room again.
    shell.finish(c.key, open.id, Opened::NoPort).unwrap();
    let mut e = shell.client("203.0.113.11:5000", "u");
    assert!(token(&shell.allocate(&mut e, reserve)).is_some());
}
