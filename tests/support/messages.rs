//! Assertions on the server's messages: the shapes of `welcome` and
//! `error` (docs/protocol.md).

use serde_json::Value;

/// Fields Parlor adds to `welcome` beyond PROTOCOL.md (docs/protocol.md):
/// a resume token, `resumed` on a resumed seat, and the room's `kind`.
pub const WELCOME_EXTENSIONS: [&str; 3] = ["resume", "resumed", "kind"];

/// A `welcome` without its extension fields, after checking their types:
/// what is left must be exactly the message of PROTOCOL.md.
pub fn welcome_core(message: &Value) -> Value {
    let mut core = message.clone();
    let object = core.as_object_mut().expect("welcome is an object");
    if let Some(token) = object.remove("resume") {
        assert!(token.as_str().is_some_and(|t| !t.is_empty()), "{message}");
    }
    if let Some(resumed) = object.remove("resumed") {
        assert!(resumed.is_boolean(), "{message}");
    }
    if let Some(kind) = object.remove("kind") {
        assert_eq!(kind, "mesh", "{message}");
    }
    core
}

/// Asserts the shape of a `welcome` for `room`.
pub fn assert_welcome(message: &Value, room: &str) {
    let core = welcome_core(message);
    let mut keys: Vec<&str> = core
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["iceServers", "id", "peers", "room", "type"],
        "{message}"
    );
    assert_eq!(message["type"], "welcome", "expected welcome: {message}");
    assert_eq!(message["room"], room, "{message}");
    let id = message["id"].as_str().expect("welcome.id is a string");
    assert!(!id.is_empty(), "{message}");
    let peers = message["peers"]
        .as_array()
        .expect("welcome.peers is an array");
    for peer in peers {
        assert!(peer["id"].is_string(), "peer ids are strings: {message}");
        assert_ne!(peer["id"], id, "peers are the others: {message}");
        let keys = peer.as_object().expect("a peer is an object").len();
        assert!(
            keys == 1 || (keys == 2 && peer["name"].is_string()),
            "{message}"
        );
    }
    let ice = message["iceServers"]
        .as_array()
        .expect("welcome.iceServers is an array");
    // RTCIceServer: urls (a string or a list of them), and for TURN a
    // username and credential.
    for server in ice {
        let urls = match &server["urls"] {
            Value::String(url) => vec![url.as_str()],
            Value::Array(list) => list
                .iter()
                .map(|u| u.as_str().expect("urls are strings"))
                .collect(),
            other => panic!("urls is {other}: {message}"),
        };
        assert!(!urls.is_empty(), "{message}");
        for url in urls {
            assert!(
                ["stun:", "stuns:", "turn:", "turns:"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)),
                "{url}"
            );
        }
        for field in ["username", "credential"] {
            if let Some(value) = server.get(field) {
                assert!(value.is_string(), "{message}");
            }
        }
    }
}

/// Asserts an `error` message: code, `ref` (exactly, or absent for `None`),
/// a non-empty message, and nothing else.
pub fn assert_error(message: &Value, code: &str, reference: Option<&str>) {
    assert_eq!(message["type"], "error", "expected an error: {message}");
    assert_eq!(message["code"], code, "{message}");
    let text = message["message"]
        .as_str()
        .expect("error.message is a string");
    assert!(!text.trim().is_empty(), "{message}");
    match reference {
        Some(r) => assert_eq!(message["ref"], r, "{message}"),
        None => assert!(message.get("ref").is_none(), "no ref expected: {message}"),
    }
    let expected_keys = 3 + usize::from(reference.is_some());
    assert_eq!(
        message.as_object().unwrap().len(),
        expected_keys,
        "{message}"
    );
}
