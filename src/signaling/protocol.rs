//! The WebSocket messages of PROTOCOL.md: parsing what clients send and
//! encoding what the server sends. Pure data, no I/O.
//!
//! Client frames are parsed into a flat envelope first, so that a frame with
//! an unknown `type` or a missing field gets a precise `bad-request` instead
//! of a generic serde error, and so that `signal` payloads are kept as the
//! exact bytes the sender wrote ([`RawValue`]) and never re-encoded.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::rooms::{ErrorCode, PeerInfo, Refusal, RoomKind};

/// Longest accepted display name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// Longest chat message, in characters.
pub(crate) const MAX_CHAT_CHARS: usize = 2000;

/// Largest accepted WebSocket frame (and message) payload, in bytes.
pub(crate) const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A request from a client, validated.
#[derive(Debug)]
pub(crate) enum ClientMessage<'a> {
    Join {
        room: String,
        name: Option<String>,
        /// Extension: the token from an earlier `welcome`, to take that
        /// seat back after a lost connection.
        resume: Option<String>,
    },
    Signal {
        to: String,
        data: &'a RawValue,
    },
    Leave,
    /// Extension: a chat message for everyone in the room.
    Chat {
        text: String,
    },
}

/// A frame that could not be turned into a [`ClientMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) refusal: Refusal,
    /// The `type` of the refused message, when the frame had one.
    pub(crate) message_type: Option<String>,
}

/// The fields any client message may carry; which ones are required depends
/// on `type`. Unknown fields are ignored so that clients may send extensions.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    resume: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// Parses one text frame from a client.
pub(crate) fn parse_client_message(text: &str) -> Result<ClientMessage<'_>, ParseError> {
    let envelope: Envelope = serde_json::from_str(text).map_err(|err| ParseError {
        refusal: Refusal::bad_request(describe_json_error(text, &err)),
        message_type: message_type_of(text),
    })?;
    let refuse = |message: &'static str| ParseError {
        refusal: Refusal::bad_request(message),
        message_type: Some(envelope.kind.to_string()),
    };
    match &*envelope.kind {
        "join" => {
            let room = envelope
                .room
                .ok_or_else(|| refuse("join needs a string field \"room\""))?;
            let name = match envelope.name {
                Some(name) if name.chars().count() > MAX_NAME_CHARS => {
                    return Err(refuse("name is longer than 64 characters"));
                }
                // Before the check below: a blank name ("\t") is none.
                Some(name) if name.trim().is_empty() => None,
                Some(name) if name.chars().any(is_unfit_for_a_name) => {
                    return Err(refuse(
                        "name may not hold control characters, line breaks or \
                         characters that change the text's direction",
                    ));
                }
                other => other,
            };
            Ok(ClientMessage::Join {
                room,
                name,
                resume: envelope.resume,
            })
        }
        "signal" => {
            let to = envelope
                .to
                .ok_or_else(|| refuse("signal needs a string field \"to\""))?;
            let data = envelope
                .data
                .ok_or_else(|| refuse("signal needs an object field \"data\""))?;
            if !data.get().starts_with('{') {
                return Err(refuse("signal data must be a JSON object"));
            }
            Ok(ClientMessage::Signal { to, data })
        }
        "leave" => Ok(ClientMessage::Leave),
        "chat" => {
            let text = envelope
                .text
                .ok_or_else(|| refuse("chat needs a string field \"text\""))?;
            if text.trim().is_empty() {
                return Err(refuse("a chat message cannot be empty"));
            }
            if text.chars().count() > MAX_CHAT_CHARS {
                return Err(refuse("a chat message has at most 2000 characters"));
            }
            Ok(ClientMessage::Chat { text })
        }
        _ => Err(refuse("unknown message type")),
    }
}

/// The `type` of a frame whose other fields did not parse, for `ref`.
fn message_type_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<TypeOnly>(text).ok().map(|t| t.kind)
}

fn describe_json_error(text: &str, err: &serde_json::Error) -> &'static str {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        "the frame is not valid JSON"
    } else if !text.trim_start().starts_with('{') {
        "the frame must be a JSON object"
    } else if err.to_string().contains("`type`") {
        "the message needs a string field \"type\""
    } else {
        "a field of the message has the wrong type"
    }
}

/// A message from the server to one client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum ServerMessage<'a> {
    Welcome {
        room: &'a str,
        id: &'a str,
        peers: &'a [PeerInfo],
        #[serde(rename = "iceServers")]
        ice_servers: &'a RawValue,
        /// Extension: present to the member on a later `join` to take this
        /// seat back.
        resume: &'a str,
        /// Extension: how the room carries media (`mesh` today).
        kind: RoomKind,
        /// Extension: true when this `welcome` answers a resume that found
        /// the seat still held.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    PeerJoined {
        peer: &'a PeerInfo,
    },
    PeerLeft {
        id: &'a str,
    },
    Signal {
        from: &'a str,
        data: &'a RawValue,
    },
    /// Extension: a chat message, to everyone in the room.
    Chat {
        from: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        text: &'a str,
        /// Unix time in milliseconds, from the server's clock.
        time: u64,
        /// True for messages replayed to a newcomer after its `welcome`.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        history: bool,
    },
    Error {
        code: ErrorCode,
        message: &'a str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
    },
}

impl ServerMessage<'_> {
    /// The JSON text of the message.
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// Characters a name may not hold: it is shown to the others beside their
/// picture and in chat, so nothing that breaks lines, hides in logs (NUL)
/// or reverses the text around it (U+202E makes "gpj.exe" read "exe.jpg").
fn is_unfit_for_a_name(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> ParseError {
        parse_client_message(text).expect_err(text)
    }

    #[test]
    fn parses_join_with_and_without_name() {
        match parse_client_message(r#"{"type":"join","room":"abc","name":"Ada"}"#).unwrap() {
            ClientMessage::Join { room, name, resume } => {
                assert_eq!(resume, None);
                assert_eq!(room, "abc");
                assert_eq!(name.as_deref(), Some("Ada"));
            }
            other => panic!("{other:?}"),
        }
        match parse_client_message(r#"{"type":"join","room":"abc"}"#).unwrap() {
            ClientMessage::Join { name, .. } => assert_eq!(name, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_may_not_break_lines_or_turn_text_around() {
        for bad in [
            "A\\tB",
            "A\\u0000B",
            "A\\nB",
            "A\\rB",
            "\\u202Egpj.exe",
            "A\\u2066B",
            "A\\u0085",
        ] {
            let join = format!(r#"{{"type":"join","room":"r","name":"{bad}"}}"#);
            assert_eq!(refused(&join).refusal.code, ErrorCode::BadRequest, "{bad}");
        }
        for good in ["Ada Lovelace", "Zoë", "محمد", "李雷", "👩‍💻 dev"] {
            let join = format!(r#"{{"type":"join","room":"r","name":"{good}"}}"#);
            assert!(parse_client_message(&join).is_ok(), "{good}");
        }
    }

    #[test]
    fn name_limit_counts_characters_not_bytes() {
        let ok = format!(
            r#"{{"type":"join","room":"r","name":"{}"}}"#,
            "é".repeat(64)
        );
        assert!(parse_client_message(&ok).is_ok());
        let long = format!(
            r#"{{"type":"join","room":"r","name":"{}"}}"#,
            "é".repeat(65)
        );
        let err = refused(&long);
        assert_eq!(err.refusal.code, ErrorCode::BadRequest);
        assert_eq!(err.message_type.as_deref(), Some("join"));
    }

    #[test]
    fn signal_keeps_data_bytes_exactly() {
        let text = r#"{"type":"signal","to":"p","data":{ "b" : 1.50, "a":[1, 2] }}"#;
        match parse_client_message(text).unwrap() {
            ClientMessage::Signal { to, data } => {
                assert_eq!(to, "p");
                assert_eq!(data.get(), r#"{ "b" : 1.50, "a":[1, 2] }"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signal_data_must_be_an_object() {
        for data in ["1", "\"x\"", "[1]", "null", "true"] {
            let err = refused(&format!(r#"{{"type":"signal","to":"p","data":{data}}}"#));
            assert_eq!(err.refusal.code, ErrorCode::BadRequest, "{data}");
            assert_eq!(err.message_type.as_deref(), Some("signal"));
        }
        refused(r#"{"type":"signal","to":"p"}"#);
        refused(r#"{"type":"signal","data":{}}"#);
    }

    #[test]
    fn malformed_frames_are_bad_requests() {
        for text in [
            "",
            "not json",
            "[]",
            "42",
            "{}",
            r#"{"type":7}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"join","room":5}"#,
            r#"{"type":"join","room":"r","name":5}"#,
            r#"{"type":"dance"}"#,
            r#"{"type":"join","room":"r""#,
        ] {
            assert_eq!(refused(text).refusal.code, ErrorCode::BadRequest, "{text}");
        }
        assert_eq!(
            refused(r#"{"type":"dance"}"#).message_type.as_deref(),
            Some("dance")
        );
    }

    #[test]
    fn chat_text_is_required_and_bounded() {
        match parse_client_message(r#"{"type":"chat","text":"hi"}"#).unwrap() {
            ClientMessage::Chat { text } => assert_eq!(text, "hi"),
            other => panic!("{other:?}"),
        }
        let longest = format!(r#"{{"type":"chat","text":"{}"}}"#, "é".repeat(2000));
        assert!(parse_client_message(&longest).is_ok());
        let too_long = format!(r#"{{"type":"chat","text":"{}"}}"#, "é".repeat(2001));
        for text in [
            too_long.as_str(),
            r#"{"type":"chat"}"#,
            r#"{"type":"chat","text":"  "}"#,
            r#"{"type":"chat","text":5}"#,
        ] {
            let err = refused(text);
            assert_eq!(err.refusal.code, ErrorCode::BadRequest, "{text}");
            assert_eq!(err.message_type.as_deref(), Some("chat"));
        }
    }

    #[test]
    fn leave_and_extra_fields() {
        assert!(matches!(
            parse_client_message(r#"{"type":"leave","extra":[1,2]}"#),
            Ok(ClientMessage::Leave)
        ));
    }

    #[test]
    fn encodes_server_messages() {
        let data = RawValue::from_string(r#"{"x": 1}"#.into()).unwrap();
        let text = ServerMessage::Signal {
            from: "a",
            data: &data,
        }
        .encode();
        assert_eq!(text, r#"{"type":"signal","from":"a","data":{"x": 1}}"#);
        let text = ServerMessage::Error {
            code: ErrorCode::RoomFull,
            message: "full",
            reference: Some("join"),
        }
        .encode();
        assert_eq!(
            text,
            r#"{"type":"error","code":"room-full","message":"full","ref":"join"}"#
        );
        let peers = [PeerInfo {
            id: "b".into(),
            name: None,
        }];
        let ice = RawValue::from_string("[]".into()).unwrap();
        let text = ServerMessage::Welcome {
            room: "r",
            id: "a",
            peers: &peers,
            ice_servers: &ice,
            resume: "t",
            kind: RoomKind::Mesh,
            resumed: false,
        }
        .encode();
        assert_eq!(
            text,
            r#"{"type":"welcome","room":"r","id":"a","peers":[{"id":"b"}],"iceServers":[],"resume":"t","kind":"mesh"}"#
        );
    }

    mod properties {
        //! Whatever arrives, parsing answers with a message or a
        //! `bad-request`, and never panics; whole valid messages, and
        //! mutations of them, parse or are refused as they should.

        use super::*;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn arbitrary_text_never_panics(text in any::<String>()) {
                if let Err(err) = parse_client_message(&text) {
                    prop_assert_eq!(err.refusal.code, ErrorCode::BadRequest);
                }
            }
        }

        /// A whole valid message of each kind, as a JSON object.
        fn valid_message() -> impl Strategy<Value = Map<String, Value>> {
            let id = "[A-Za-z0-9_-]{1,24}";
            let name = "[a-zé漢][a-z0-9 é漢]{0,63}";
            let join = (id, proptest::option::of(name), proptest::option::of(id)).prop_map(
                |(room, name, resume)| {
                    let mut m = object("join");
                    m.insert("room".into(), room.into());
                    if let Some(name) = name {
                        m.insert("name".into(), name.into());
                    }
                    if let Some(resume) = resume {
                        m.insert("resume".into(), resume.into());
                    }
                    m
                },
            );
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<String>().prop_map(Value::from),
            ];
            let data = proptest::collection::btree_map(
                "[a-z]{1,6}",
                leaf.prop_recursive(2, 16, 4, |inner| {
                    proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect()))
                }),
                0..5,
            );
            let signal = (id, data).prop_map(|(to, data)| {
                let mut m = object("signal");
                m.insert("to".into(), to.into());
                m.insert("data".into(), Value::Object(data.into_iter().collect()));
                m
            });
            let text = prop_oneof![
                "[a-zA-Z0-9.,!?é漢😀][a-zA-Z0-9 .,!?é漢😀\n]{0,80}",
                (1..=MAX_CHAT_CHARS).prop_map(|n| "é".repeat(n)),
            ];
            let chat = text.prop_map(|text| {
                let mut m = object("chat");
                m.insert("text".into(), text.into());
                m
            });
            prop_oneof![join, signal, chat, Just(object("leave"))]
        }

        fn object(kind: &str) -> Map<String, Value> {
            let mut m = Map::new();
            m.insert("type".into(), kind.into());
            m
        }

        /// What is done to a valid message before it is parsed.
        #[derive(Debug, Clone)]
        enum Mutation {
            None,
            /// An unknown field more: still valid.
            Extra(String, Value),
            /// The field at this index (modulo the count) removed.
            Drop(usize),
            /// The field at this index given a value of another type.
            Retype(usize, Value),
            /// Another `type`.
            Kind(Value),
            /// A name past 64 characters, or with this unfit character.
            Name(Option<char>),
            /// A chat text past 2,000 characters, or of white space only.
            Text(bool),
            /// The frame cut short after this many characters.
            Cut(usize),
            /// The object inside an array.
            Wrapped,
        }

        fn mutation() -> impl Strategy<Value = Mutation> {
            let other_type = prop_oneof![
                Just(Value::Null),
                any::<i64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
                Just(Value::Array(vec![])),
                Just(Value::Object(Map::new())),
            ];
            prop_oneof![
                4 => Just(Mutation::None),
                1 => ("x-[a-z]{1,5}", other_type.clone()).prop_map(|(k, v)| Mutation::Extra(k, v)),
                2 => any::<usize>().prop_map(Mutation::Drop),
                2 => (any::<usize>(), other_type).prop_map(|(i, v)| Mutation::Retype(i, v)),
                1 => prop_oneof!["[a-z-]{0,8}".prop_map(Value::from), Just(Value::from(7))]
                    .prop_map(Mutation::Kind),
                1 => proptest::option::of(prop_oneof![
                    Just('\n'), Just('\0'), Just('\u{202E}'), Just('\u{2066}'), Just('\u{2028}')
                ])
                .prop_map(Mutation::Name),
                1 => any::<bool>().prop_map(Mutation::Text),
                1 => any::<usize>().prop_map(Mutation::Cut),
                1 => Just(Mutation::Wrapped),
            ]
        }

        /// Applies `mutation`; returns the frame and whether it must parse
        /// (`Some(true)`), must be refused (`Some(false)`), or may be either.
        fn apply(mut m: Map<String, Value>, mutation: &Mutation) -> (String, Option<bool>) {
            let kind = m["type"].as_str().unwrap().to_owned();
            let nth = |m: &Map<String, Value>, i: usize| m.keys().nth(i % m.len()).unwrap().clone();
            let expect = match mutation {
                Mutation::None => Some(true),
                Mutation::Extra(k, v) => {
                    m.insert(k.clone(), v.clone());
                    Some(true)
                }
                Mutation::Drop(i) => {
                    let field = nth(&m, *i);
                    m.remove(&field);
                    let required = matches!(
                        (kind.as_str(), field.as_str()),
                        (_, "type")
                            | ("join", "room")
                            | ("signal", "to" | "data")
                            | ("chat", "text")
                    );
                    Some(!required)
                }
                Mutation::Retype(i, v) => {
                    let field = nth(&m, *i);
                    m.insert(field, v.clone());
                    None
                }
                Mutation::Kind(v) => {
                    let known = matches!(v.as_str(), Some("join" | "signal" | "leave" | "chat"));
                    m.insert("type".into(), v.clone());
                    (!known).then_some(false)
                }
                Mutation::Name(unfit) => {
                    let name = match unfit {
                        Some(c) => format!("Ada{c}Lovelace"),
                        None => "n".repeat(MAX_NAME_CHARS + 1),
                    };
                    m.insert("name".into(), name.into());
                    Some(kind != "join")
                }
                Mutation::Text(long) => {
                    let text = if *long {
                        "é".repeat(MAX_CHAT_CHARS + 1)
                    } else {
                        " \t\n".into()
                    };
                    m.insert("text".into(), text.into());
                    Some(kind != "chat")
                }
                Mutation::Cut(at) => {
                    let text = Value::Object(m).to_string();
                    let chars = text.chars().count();
                    return (text.chars().take(at % chars).collect(), Some(false));
                }
                Mutation::Wrapped => {
                    return (
                        Value::Array(vec![Value::Object(m)]).to_string(),
                        Some(false),
                    );
                }
            };
            (Value::Object(m).to_string(), expect)
        }

        /// Whole valid messages of every kind, and mutations of them: each
        /// parses or is refused as it should, never panics, and both
        /// outcomes (and every kind of message) are a good share of the
        /// cases, so that the test fails if its generator degenerates.
        #[test]
        fn valid_and_mutated_messages_parse_or_are_refused_as_they_should() {
            use std::cell::RefCell;
            use std::collections::BTreeMap;

            const CASES: u32 = 3000;
            let reach: RefCell<BTreeMap<&'static str, u32>> = RefCell::default();
            let mut runner =
                proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(CASES));
            runner
                .run(&(valid_message(), mutation()), |(message, mutation)| {
                    let (text, expect) = apply(message, &mutation);
                    let outcome = parse_client_message(&text);
                    let class = match &outcome {
                        Ok(ClientMessage::Join { .. }) => "ok join",
                        Ok(ClientMessage::Signal { .. }) => "ok signal",
                        Ok(ClientMessage::Chat { .. }) => "ok chat",
                        Ok(ClientMessage::Leave) => "ok leave",
                        Err(_) => "refused",
                    };
                    *reach.borrow_mut().entry(class).or_default() += 1;
                    if let Some(expect) = expect {
                        prop_assert_eq!(outcome.is_ok(), expect, "{:?}: {}", mutation, text);
                    }
                    match outcome {
                        Err(err) => {
                            prop_assert_eq!(err.refusal.code, ErrorCode::BadRequest);
                            let kind = serde_json::from_str::<Value>(&text)
                                .ok()
                                .and_then(|v| v.get("type")?.as_str().map(str::to_owned));
                            prop_assert_eq!(err.message_type, kind);
                        }
                        // What a valid signal carries is the sender's bytes.
                        Ok(ClientMessage::Signal { to, data }) => {
                            let sent: Value = serde_json::from_str(&text).unwrap();
                            prop_assert_eq!(&sent["to"], &Value::from(to));
                            let carried: Value = serde_json::from_str(data.get()).unwrap();
                            prop_assert_eq!(&sent["data"], &carried);
                        }
                        Ok(ClientMessage::Chat { text: said }) => {
                            let sent: Value = serde_json::from_str(&text).unwrap();
                            prop_assert_eq!(&sent["text"], &Value::from(said));
                        }
                        Ok(_) => {}
                    }
                    Ok(())
                })
                .unwrap();
            let reach = reach.into_inner();
            eprintln!("message parsing, {CASES} cases: {reach:?}");
            let share =
                |class: &str| f64::from(reach.get(class).copied().unwrap_or(0)) / f64::from(CASES);
            assert!(share("refused") >= 0.25, "{reach:?}");
            for kind in ["ok join", "ok signal", "ok chat", "ok leave"] {
                assert!(share(kind) >= 0.05, "{kind}: {reach:?}");
            }
        }
    }
}
