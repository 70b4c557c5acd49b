//! What an adversarial probe found: answers to unauthenticated requests
//! without a rate limit, RFC 3489 Binding requests unanswered, channel
//! numbers outside RFC 8656's range, and the relay reaching the server's
//! own addresses.

use super::*;

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
