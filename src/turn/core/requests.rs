//! The answers to STUN requests: authentication and the 401/438 challenge,
//! Binding, and the TURN requests on an existing allocation (Refresh,
//! CreatePermission, ChannelBind), plus the writing of success and error
//! responses that Allocate ([`super::allocate`]) shares.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::allocation::{BindError, granted_lifetime};
use super::super::auth::Verdict;
use super::super::stun::{
    Builder, Class, HEADER_LEN, Message, TransactionId, attr, channel_data, method,
};
use super::allocate::Allocated;
use super::{ClientKey, Core, Handles, Now, Outcome, canonical};

const SOFTWARE: &[u8] = b"parlor";

/// An error: code and reason phrase.
#[derive(Debug, Clone, Copy)]
pub(super) struct Failure(pub(super) u16, pub(super) &'static str);

pub(super) const BAD_REQUEST: Failure = Failure(400, "Bad Request");
const FORBIDDEN: Failure = Failure(403, "Forbidden");
pub(super) const MISMATCH: Failure = Failure(437, "Allocation Mismatch");
const WRONG_CREDENTIALS: Failure = Failure(441, "Wrong Credentials");
pub(super) const FAMILY_NOT_SUPPORTED: Failure = Failure(440, "Address Family not Supported");
pub(super) const UNSUPPORTED_TRANSPORT: Failure = Failure(442, "Unsupported Transport Protocol");
const FAMILY_MISMATCH: Failure = Failure(443, "Peer Address Family Mismatch");
pub(super) const QUOTA: Failure = Failure(486, "Allocation Quota Reached");
pub(super) const CAPACITY: Failure = Failure(508, "Insufficient Capacity");

/// What a successful request answers with.
pub(super) enum Success {
    Allocate {
        relayed: SocketAddr,
        lifetime: u32,
        mapped: SocketAddr,
        token: Option<u64>,
    },
    Refresh {
        lifetime: u32,
    },
    Empty,
}

/// What a response takes from its request: enough to answer an Allocate
/// after its relay socket is open, when the request itself is gone.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reply {
    pub(super) method: u16,
    pub(super) tid: TransactionId,
    pub(super) fingerprint: bool,
}

impl Reply {
    pub(super) fn to(msg: &Message<'_>) -> Reply {
        Reply {
            method: msg.method,
            tid: msg.transaction_id,
            fingerprint: msg.has_fingerprint,
        }
    }

    pub(super) fn success(self, out: &mut Vec<u8>, success: Success, mac_key: &[u8]) {
        let mut b = Builder::new(out, self.method, Class::Success, self.tid);
        match success {
            Success::Allocate {
                relayed,
                lifetime,
                mapped,
                token,
            } => {
                b.xor_address(attr::XOR_RELAYED_ADDRESS, relayed)
                    .u32(attr::LIFETIME, lifetime)
                    .xor_address(attr::XOR_MAPPED_ADDRESS, mapped);
                if let Some(token) = token {
                    b.attr(attr::RESERVATION_TOKEN, &token.to_be_bytes());
                }
                b.attr(attr::SOFTWARE, SOFTWARE);
            }
            Success::Refresh { lifetime } => {
                b.u32(attr::LIFETIME, lifetime);
            }
            Success::Empty => {}
        }
        self.seal(&mut b, Some(mac_key));
    }

    pub(super) fn error(
        self,
        out: &mut Vec<u8>,
        Failure(code, reason): Failure,
        key: Option<&[u8]>,
    ) {
        let mut b = Builder::new(out, self.method, Class::Error, self.tid);
        b.error_code(code, reason);
        self.seal(&mut b, key);
    }

    /// Ends a response: signed with `key`, if any, and with a FINGERPRINT
    /// if the request had one.
    fn seal(self, b: &mut Builder<'_>, key: Option<&[u8]>) {
        if let Some(key) = key {
            b.integrity(key);
        }
        if self.fingerprint {
            b.fingerprint();
        }
    }

    /// An authenticated request refused: logged, and answered signed.
    pub(super) fn refuse(
        self,
        out: &mut Vec<u8>,
        client: SocketAddr,
        failure: Failure,
        mac_key: &[u8],
    ) {
        tracing::debug!(
            client = %client,
            method = self.method,
            code = failure.0,
            "TURN request refused: {}",
            failure.1
        );
        self.error(out, failure, Some(mac_key))
    }
}

/// Attributes a TURN request may carry that the server understands.
fn known_request_attribute(kind: u16) -> bool {
    matches!(
        kind,
        attr::USERNAME
            | attr::REALM
            | attr::NONCE
            | attr::LIFETIME
            | attr::XOR_PEER_ADDRESS
            | attr::DATA
            | attr::REQUESTED_TRANSPORT
            | attr::REQUESTED_ADDRESS_FAMILY
            | attr::EVEN_PORT
            | attr::RESERVATION_TOKEN
            | attr::CHANNEL_NUMBER
    )
}

/// Attributes a Binding request may carry: ICE's, sent to a STUN server by
/// some clients.
fn known_binding_attribute(kind: u16) -> bool {
    matches!(kind, attr::USERNAME | attr::PRIORITY | attr::USE_CANDIDATE)
}

/// Whether `packet`, which is not an RFC 8489 message for want of the
/// magic cookie, is an RFC 3489 Binding request: type 0x0001, a length
/// that matches, and only attributes RFC 3489 defines (0x0001-0x000B),
/// each within the message. An RFC 8489 request with a damaged cookie
/// (say, one with a FINGERPRINT) is not one.
pub(super) fn is_classic_binding(packet: &[u8]) -> bool {
    if packet.len() < HEADER_LEN
        || packet[..2] != [0x00, 0x01]
        || usize::from(u16::from_be_bytes([packet[2], packet[3]])) != packet.len() - HEADER_LEN
        || !packet.len().is_multiple_of(4)
    {
        return false;
    }
    let mut rest = &packet[HEADER_LEN..];
    while !rest.is_empty() {
        let [t0, t1, l0, l1, ..] = *rest else {
            return false;
        };
        let kind = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if !(0x0001..=0x000B).contains(&kind) || !len.is_multiple_of(4) || rest.len() < 4 + len {
            return false;
        }
        rest = &rest[4 + len..];
    }
    true
}

/// The answer to an RFC 3489 Binding request, as RFC 8489 section 12.2
/// has a server give it: a Binding success response with the request's
/// 128-bit transaction id and MAPPED-ADDRESS (the client does not know
/// XOR-MAPPED-ADDRESS), and nothing else.
pub(super) fn classic_binding(request: &[u8], from: SocketAddr, out: &mut Vec<u8>) {
    out.clear();
    let (family, ip): (u8, Vec<u8>) = match from.ip() {
        std::net::IpAddr::V4(ip) => (1, ip.octets().to_vec()),
        std::net::IpAddr::V6(ip) => (2, ip.octets().to_vec()),
    };
    let value_len = 4 + ip.len();
    out.extend_from_slice(&[0x01, 0x01]);
    out.extend_from_slice(&((4 + value_len) as u16).to_be_bytes());
    out.extend_from_slice(&request[4..HEADER_LEN]);
    out.extend_from_slice(&attr::MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&(value_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&from.port().to_be_bytes());
    out.extend_from_slice(&ip);
}

impl<H: Handles> Core<H> {
    pub(super) fn binding(&self, msg: &Message<'_>, from: SocketAddr, out: &mut Vec<u8>) {
        let unknown = msg.unknown_required(known_binding_attribute);
        let mut b = if unknown.is_empty() {
            self.metrics.binding_request();
            let mut b = Builder::new(out, method::BINDING, Class::Success, msg.transaction_id);
            b.xor_address(attr::XOR_MAPPED_ADDRESS, canonical(from));
            b
        } else {
            let mut b = Builder::new(out, method::BINDING, Class::Error, msg.transaction_id);
            b.error_code(420, "Unknown Attribute")
                .unknown_attributes(&unknown);
            b
        };
        Reply::to(msg).seal(&mut b, None);
    }

    /// A TURN request: authenticated, then handed to its method.
    pub(super) fn request<'p>(
        &mut self,
        key: ClientKey,
        msg: &Message<'_>,
        now: Now,
        out: &mut Vec<u8>,
    ) -> Outcome<'p, H> {
        let client = key.addr();
        let reply = Reply::to(msg);
        let verdict = self.auth.check(msg, client, now.unix);
        if !matches!(verdict, Verdict::Accept { .. })
            && !self.may_answer_unauthenticated(key, now.mono)
        {
            if matches!(verdict, Verdict::Reject) {
                self.metrics.auth_failure();
            }
            return Outcome::Silent;
        }
        let (username, user, mac_key) = match verdict {
            Verdict::Accept {
                username,
                user,
                key,
            } => (username, user, key),
            Verdict::Challenge => {
                return self.challenge(msg, client, 401, now, out);
            }
            Verdict::StaleNonce => {
                return self.challenge(msg, client, 438, now, out);
            }
            Verdict::Reject => {
                self.metrics.auth_failure();
                return self.challenge(msg, client, 401, now, out);
            }
            Verdict::BadRequest => {
                tracing::debug!(%client, "TURN request with MESSAGE-INTEGRITY but no credentials");
                reply.error(out, BAD_REQUEST, None);
                return Outcome::Reply;
            }
        };
        let unknown = msg.unknown_required(known_request_attribute);
        if !unknown.is_empty() {
            let mut b = Builder::new(out, msg.method, Class::Error, msg.transaction_id);
            b.error_code(420, "Unknown Attribute")
                .unknown_attributes(&unknown);
            reply.seal(&mut b, Some(&mac_key));
            return Outcome::Reply;
        }
        let mono = now.mono;
        let result = match msg.method {
            method::ALLOCATE => match self.allocate(key, msg, username, user, mac_key, mono) {
                Ok(Allocated::Answer(success)) => Ok((success, None)),
                Ok(Allocated::Open(open)) => return Outcome::Open(open),
                Ok(Allocated::Wait) => return Outcome::Silent,
                Err(failure) => Err(failure),
            },
            method::REFRESH => self.refresh(key, msg, username, mono),
            method::CREATE_PERMISSION => self
                .create_permission(key, msg, username, mono)
                .map(|s| (s, None)),
            method::CHANNEL_BIND => self
                .channel_bind(key, msg, username, mono)
                .map(|s| (s, None)),
            _ => Err(BAD_REQUEST),
        };
        match result {
            Ok((success, closed)) => {
                reply.success(out, success, &mac_key);
                match closed {
                    Some(relay) => Outcome::ReplyAndClose(relay),
                    None => Outcome::Reply,
                }
            }
            Err(failure) => {
                reply.refuse(out, client, failure, &mac_key);
                Outcome::Reply
            }
        }
    }

    /// A 401 or 438 carrying REALM and a fresh NONCE. It answers anyone
    /// who asks, so it is kept small: no reason phrase (RFC 8489 leaves it
    /// to the server; clients act on the code).
    fn challenge<'p>(
        &self,
        msg: &Message<'_>,
        client: SocketAddr,
        code: u16,
        now: Now,
        out: &mut Vec<u8>,
    ) -> Outcome<'p, H> {
        let nonce = self.auth.nonce(client, now.unix);
        let mut b = Builder::new(out, msg.method, Class::Error, msg.transaction_id);
        b.error_code(code, "")
            .attr(attr::REALM, self.auth.realm().as_bytes())
            .attr(attr::NONCE, nonce.as_bytes());
        if msg.has_fingerprint {
            b.fingerprint();
        }
        Outcome::Reply
    }

    /// Refresh: a new lifetime, or with LIFETIME 0 the end of the
    /// allocation, whose relay is returned to be closed.
    fn refresh(
        &mut self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        now: Instant,
    ) -> Result<(Success, Option<H::Relay>), Failure> {
        let relayed = self.allocation_of(key, username)?;
        match msg.get(attr::REQUESTED_ADDRESS_FAMILY) {
            None => {}
            Some([0x01, _, _, _]) if relayed.is_ipv4() => {}
            Some([0x02, _, _, _]) if relayed.is_ipv6() => {}
            Some(_) => return Err(FAMILY_MISMATCH),
        }
        let requested = msg.get_u32(attr::LIFETIME);
        if requested == Some(0) {
            let removed = self.remove(key);
            self.metrics.set_allocations(self.allocations.len());
            return Ok((Success::Refresh { lifetime: 0 }, removed));
        }
        let lifetime = granted_lifetime(
            requested.map(|s| Duration::from_secs(s.into())),
            self.settings.max_lifetime,
        );
        let entry = self.allocations.get_mut(&key).ok_or(MISMATCH)?;
        entry.alloc.refresh(now, lifetime);
        Ok((
            Success::Refresh {
                lifetime: lifetime.as_secs() as u32,
            },
            None,
        ))
    }

    /// The relayed address of the allocation of `key`, which a request of
    /// `username` may change only if the same username made it.
    fn allocation_of(&self, key: ClientKey, username: &str) -> Result<SocketAddr, Failure> {
        let entry = self.allocations.get(&key).ok_or(MISMATCH)?;
        if *entry.username != *username {
            return Err(WRONG_CREDENTIALS);
        }
        Ok(entry.relayed)
    }

    /// Checks a peer address of a request against the allocation's family
    /// and the filter.
    fn check_peer(&self, peer: SocketAddr, relayed: SocketAddr) -> Result<(), Failure> {
        if peer.is_ipv4() != relayed.is_ipv4() {
            return Err(FAMILY_MISMATCH);
        }
        if !self.settings.filter.permits(peer.ip()) {
            self.metrics.peer_refused();
            tracing::debug!(%peer, "TURN peer refused by the address filter");
            return Err(FORBIDDEN);
        }
        Ok(())
    }

    fn create_permission(
        &mut self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        now: Instant,
    ) -> Result<Success, Failure> {
        let relayed = self.allocation_of(key, username)?;
        let mut ips = Vec::new();
        for peer in msg.xor_addresses(attr::XOR_PEER_ADDRESS) {
            let peer = peer.map_err(|_| BAD_REQUEST)?;
            self.check_peer(peer, relayed)?;
            if ips.len() >= self.caps.permissions {
                return Err(CAPACITY);
            }
            ips.push(peer.ip());
        }
        if ips.is_empty() {
            return Err(BAD_REQUEST);
        }
        let entry = self.allocations.get_mut(&key).ok_or(MISMATCH)?;
        if !entry.alloc.can_permit(&ips, now) {
            return Err(CAPACITY);
        }
        for ip in ips {
            entry.alloc.permit(ip, now);
        }
        Ok(Success::Empty)
    }

    fn channel_bind(
        &mut self,
        key: ClientKey,
        msg: &Message<'_>,
        username: &str,
        now: Instant,
    ) -> Result<Success, Failure> {
        let relayed = self.allocation_of(key, username)?;
        let number = match msg.get(attr::CHANNEL_NUMBER) {
            Some([a, b, _, _]) => u16::from_be_bytes([*a, *b]),
            _ => return Err(BAD_REQUEST),
        };
        if !channel_data::CHANNELS.contains(&number) {
            return Err(BAD_REQUEST);
        }
        let peer = match msg.get_xor_address(attr::XOR_PEER_ADDRESS) {
            Some(Ok(peer)) => peer,
            _ => return Err(BAD_REQUEST),
        };
        self.check_peer(peer, relayed)?;
        if !self.own.permits(peer, &self.settings.filter) {
            self.metrics.peer_refused();
            tracing::debug!(%peer, "TURN peer refused: an address of the server itself");
            return Err(FORBIDDEN);
        }
        let entry = self.allocations.get_mut(&key).ok_or(MISMATCH)?;
        match entry.alloc.bind_channel(number, peer, now) {
            Ok(()) => Ok(Success::Empty),
            Err(BindError::Conflict) => Err(BAD_REQUEST),
            Err(BindError::Full) => Err(CAPACITY),
        }
    }
}
