//! Why a request was refused: the error codes of PROTOCOL.md and a sentence
//! for people. The room rules produce them; signaling and the HTTP API put
//! them on the wire.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// Every error code of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ErrorCode {
    RoomNotFound,
    RoomFull,
    BadRequest,
    NotInRoom,
    PeerNotFound,
    AlreadyJoined,
    RateLimited,
}

impl ErrorCode {
    pub(crate) const ALL: [ErrorCode; 7] = [
        ErrorCode::RoomNotFound,
        ErrorCode::RoomFull,
        ErrorCode::BadRequest,
        ErrorCode::NotInRoom,
        ErrorCode::PeerNotFound,
        ErrorCode::AlreadyJoined,
        ErrorCode::RateLimited,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RoomNotFound => "room-not-found",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::NotInRoom => "not-in-room",
            ErrorCode::PeerNotFound => "peer-not-found",
            ErrorCode::AlreadyJoined => "already-joined",
            ErrorCode::RateLimited => "rate-limited",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: Cow<'static, str>,
}

impl Refusal {
    pub(crate) fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn not_in_room() -> Self {
        Refusal::new(ErrorCode::NotInRoom, "you are not in a room")
    }

    pub(crate) fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Refusal::new(ErrorCode::BadRequest, message)
    }
}
