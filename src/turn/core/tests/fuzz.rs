//! Random requests, signed and not, well-formed and corrupted, for every
//! method, from a client with an allocation and from strangers, straight
//! into the core: it answers or drops, never panics, keeps its tables
//! within their caps, and still works after. Most corruption is done before
//! signing, so that it gets past MESSAGE-INTEGRITY and FINGERPRINT to the
//! attribute parser and the request logic; the test counts what each
//! packet reached, and fails if a class of outcome is rare.

use super::super::Rng;
use super::*;
use crate::turn::stun::{self, HEADER_LEN};

#[test]
fn request_handling_survives_random_input() {
    let mut shell = Shell::new(Settings {
        filter: PeerFilter::new(vec!["127.0.0.0/8".parse().unwrap()]),
        ..settings()
    });
    let mut client = shell.client("127.0.0.1:40000", "fuzzer");
    let key = client.key;
    assert_eq!(class(&shell.allocate(&mut client, |_| {})), Class::Success);
    let sign = |b: &mut Builder<'_>| {
        b.attr(attr::USERNAME, client.username.as_bytes())
            .attr(attr::REALM, REALM.as_bytes())
            .attr(attr::NONCE, client.nonce.as_bytes())
            .integrity(&client.mac_key)
            .fingerprint();
    };

    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut next = |n: u64| rng.next_u64() % n;
    let methods = [
        0x001, 0x003, 0x004, 0x006, 0x007, 0x008, 0x009, 0x00A, 0xFFF,
    ];
    let classes = [
        Class::Request,
        Class::Request,
        Class::Indication,
        Class::Success,
    ];
    let kinds = [
        attr::LIFETIME,
        attr::XOR_PEER_ADDRESS,
        attr::XOR_PEER_ADDRESS,
        attr::DATA,
        attr::REQUESTED_TRANSPORT,
        attr::REQUESTED_ADDRESS_FAMILY,
        attr::EVEN_PORT,
        attr::RESERVATION_TOKEN,
        attr::CHANNEL_NUMBER,
        attr::CHANNEL_NUMBER,
        attr::DONT_FRAGMENT,
        attr::USERNAME,
        0x8000,
        0x0031,
    ];
    const ROUNDS: u32 = 20_000;
    let mut reach: std::collections::BTreeMap<String, u32> = Default::default();
    let mut request = Vec::new();
    for round in 0..ROUNDS {
        let tid = [(round % 251) as u8; 12];
        let method = methods[next(methods.len() as u64) as usize];
        let class = classes[next(4) as usize];
        let mut b = Builder::new(&mut request, method, class, tid);
        for _ in 0..next(4) {
            let kind = kinds[next(kinds.len() as u64) as usize];
            let value: Vec<u8> = match (kind, next(4)) {
                // Plausible values: a loopback or private peer, a low
                // channel number, a lifetime, IPv4 UDP.
                (attr::XOR_PEER_ADDRESS, 0..=2) => {
                    let mut addr = [0u8; 20];
                    let ip = if next(4) == 0 {
                        [10, 0, 0, 1]
                    } else {
                        [127, 0, 0, 1]
                    };
                    let peer = SocketAddr::from((ip, 50000 + next(4) as u16));
                    let len = stun::encode_xor_address(&mut addr, peer, &tid);
                    addr[..len].to_vec()
                }
                (attr::CHANNEL_NUMBER, 0..=2) => vec![0x40, next(4) as u8, 0, 0],
                (attr::LIFETIME, 0..=2) => (next(4) as u32 * 300).to_be_bytes().to_vec(),
                (attr::REQUESTED_TRANSPORT, 0..=2) => vec![17, 0, 0, 0],
                _ => (0..next(24)).map(|_| next(256) as u8).collect(),
            };
            b.attr(kind, &value);
        }
        // Corrupted before signing, in half the rounds: a bit of an
        // attribute, an attribute's length, or bytes cut or added.
        let corrupted = request.len() > HEADER_LEN && next(2) == 0;
        if corrupted {
            let body = request.len() - HEADER_LEN;
            let at = HEADER_LEN + next(body as u64) as usize;
            match next(4) {
                0 => request[at] ^= 1 << next(8),
                1 => {
                    // The length of the first attribute.
                    let len = [next(256) as u8, next(64) as u8];
                    request[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&len);
                }
                2 => request.truncate(at),
                _ => request.extend((0..1 + next(7)).map(|_| next(256) as u8)),
            }
            let length = (request.len() - HEADER_LEN) as u16;
            request[2..4].copy_from_slice(&length.to_be_bytes());
        }
        let signed = next(4) > 0;
        if signed {
            sign(&mut Builder::reopen(&mut request, tid));
        }
        let mut packet = request.clone();
        // And after signing, now and then: the checks must catch it.
        if next(8) == 0 {
            let at = next(packet.len() as u64) as usize;
            packet[at] ^= 1 << next(8);
        }
        if next(10) == 0 {
            packet.truncate(next(packet.len() as u64 + 1) as usize);
        }
        let from = if next(5) == 0 {
            ClientKey::Udp(SocketAddr::from(([127, 0, 0, 2], 1 + next(9) as u16)))
        } else {
            key
        };
        let outcome = match shell.send(from, &packet) {
            None => "dropped".to_owned(),
            Some(reply) => match error_code(&reply) {
                Some(code) => format!("error {code}"),
                None => "success".to_owned(),
            },
        };
        // Corrupted and signed, and answered past the credentials check:
        // the corruption reached the attribute parser and the requests.
        if corrupted && signed && !matches!(outcome.as_str(), "dropped" | "error 401") {
            *reach
                .entry("corrupted, yet past the checks".into())
                .or_default() += 1;
        }
        *reach.entry(outcome).or_default() += 1;
        // ChannelData on the low channels, sometimes with a length past
        // the end.
        let len = next(40) as usize;
        let mut data = vec![0x40, next(4) as u8, 0, len as u8];
        data.extend((0..(len + 4).saturating_sub(next(8) as usize)).map(|_| next(256) as u8));
        shell.send(key, &data);
        // Datagrams from peers to every allocation there is.
        let peer = SocketAddr::from(([127, 0, 0, 1], 50000 + next(4) as u16));
        let now = shell.now().mono;
        let keys: Vec<(ClientKey, u64)> = shell
            .core
            .allocations
            .iter()
            .map(|(k, e)| (*k, e.id))
            .collect();
        for (k, id) in keys {
            shell.core.peer_datagram(k, id, peer, len, now);
        }
        shell.advance(Duration::from_millis(next(20)));
        if round % 1000 == 0 {
            shell.sweep();
        }
    }
    eprintln!("STUN fuzz, {ROUNDS} requests: {reach:?}");
    for (what, share) in [
        ("success", 0.008),
        ("dropped", 0.3),
        ("error 400", 0.04),
        ("error 401", 0.04),
        ("error 420", 0.02),
        ("error 437", 0.01),
        ("corrupted, yet past the checks", 0.01),
    ] {
        let got = f64::from(reach.get(what).copied().unwrap_or(0));
        assert!(
            got >= share * f64::from(ROUNDS),
            "{what}: {got} of {ROUNDS}; {reach:?}"
        );
    }
    // Every path was taken...
    for reached in [
        "parlor_turn_peers_refused_total",
        "parlor_turn_relayed_packets_total{direction=\"to_peer\"}",
        "parlor_turn_dropped_packets_total{reason=\"malformed\"}",
    ] {
        assert_ne!(shell.metric(reached), 0, "never reached: {reached}");
    }
    // ...the core still answers, and the tables are within their caps.
    let mut binding = Vec::new();
    Builder::new(&mut binding, method::BINDING, Class::Request, [9; 12]);
    let reply = shell.send(key, &binding).unwrap();
    assert_eq!(class(&reply), Class::Success);
    assert!(shell.core.allocations.len() <= 50);
    assert!(shell.core.pending.is_empty());
    for entry in shell.core.allocations.values() {
        assert!(entry.alloc.permission_count() <= 64);
        assert!(entry.alloc.channel_count() <= 64);
    }
    let users: usize = shell.core.users.values().map(|u| u.allocations).sum();
    assert_eq!(users, shell.core.allocations.len());
    let addresses: usize = shell.core.addresses.values().map(|a| a.allocations).sum();
    assert_eq!(addresses, shell.core.allocations.len());
}
