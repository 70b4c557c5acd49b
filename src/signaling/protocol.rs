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
        //! `bad-request`, and never panics.

        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn arbitrary_text_never_panics(text in any::<String>()) {
                if let Err(err) = parse_client_message(&text) {
                    prop_assert_eq!(err.refusal.code, ErrorCode::BadRequest);
                }
            }

            #[test]
            fn json_shaped_frames_never_panic(
                kind in prop_oneof![
                    Just("join".to_owned()), Just("signal".to_owned()),
                    Just("leave".to_owned()), "[a-z-]{0,8}"
                ],
                field in prop_oneof![
                    Just("room"), Just("name"), Just("to"), Just("data"), Just("resume")
                ],
                value in prop_oneof![
                    Just("null".to_owned()), Just("{}".to_owned()), Just("[]".to_owned()),
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
                    "\\{[\"a-z:,0-9 ]{0,20}\\}",
                ],
            ) {
                let text = format!(r#"{{"type":"{kind}","{field}":{value}}}"#);
                if let Err(err) = parse_client_message(&text) {
                    prop_assert_eq!(err.refusal.code, ErrorCode::BadRequest);
                }
            }
        }
    }
}
