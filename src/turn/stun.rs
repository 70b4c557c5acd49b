//! The STUN message format (RFC 8489) with the TURN additions (RFC 8656):
//! parsing without copying, building into a reusable buffer, and the two
//! integrity checks, MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32).
//!
//! Parsing never panics and never allocates: every length comes from the
//! packet and is checked against the bytes actually there. A message that
//! breaks any rule of the format is an [`Error`], and callers drop it.
//!
//! One file past 600 lines on purpose: parsing and building share the
//! attribute, padding and XOR-address rules, and a third of it is the test
//! vectors and malformed-input tests that keep both sides honest.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const MAGIC_COOKIE: u32 = 0x2112_A442;
pub const HEADER_LEN: usize = 20;
/// A transaction id, unique per request.
pub type TransactionId = [u8; 12];

/// Methods used here.
pub mod method {
    pub const BINDING: u16 = 0x001;
    pub const ALLOCATE: u16 = 0x003;
    pub const REFRESH: u16 = 0x004;
    pub const SEND: u16 = 0x006;
    pub const DATA: u16 = 0x007;
    pub const CREATE_PERMISSION: u16 = 0x008;
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// Attribute types used here. Types below 0x8000 are comprehension-required:
/// a request carrying one the server does not know is refused with 420.
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    pub const EVEN_PORT: u16 = 0x0018;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const DONT_FRAGMENT: u16 = 0x001A;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const RESERVATION_TOKEN: u16 = 0x0022;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

/// The four classes of a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }
}

/// The 14-bit message type: method bits with the two class bits spread in.
pub fn message_type(method: u16, class: Class) -> u16 {
    let m = method & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

/// Why bytes are not a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    TooShort,
    NotStun,
    BadLength,
    BadCookie,
    BadAttribute,
    BadFingerprint,
}

/// Whether `bytes` start like a STUN message (the first two bits are zero),
/// as opposed to ChannelData (first two bits 01).
pub fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b & 0xC0 == 0)
}

/// Total length of the STUN message at the start of `bytes`, once its
/// header is there: what a stream reader needs to frame messages.
pub fn stun_frame_len(header: &[u8]) -> Option<usize> {
    if header.len() < 4 {
        return None;
    }
    Some(HEADER_LEN + u16::from_be_bytes([header[2], header[3]]) as usize)
}

/// A parsed message borrowing the packet.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    raw: &'a [u8],
    pub method: u16,
    pub class: Class,
    pub transaction_id: TransactionId,
    /// Offset of the MESSAGE-INTEGRITY attribute, if present.
    integrity: Option<usize>,
    /// Whether a (valid) FINGERPRINT ends the message.
    pub has_fingerprint: bool,
}

impl<'a> Message<'a> {
    /// Parses exactly one message: `bytes` must hold it and nothing else.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::TooShort);
        }
        if bytes[0] & 0xC0 != 0 {
            return Err(Error::NotStun);
        }
        let length = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        if !length.is_multiple_of(4) || HEADER_LEN + length != bytes.len() {
            return Err(Error::BadLength);
        }
        if u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) != MAGIC_COOKIE {
            return Err(Error::BadCookie);
        }
        let (method, class) = split_type(u16::from_be_bytes([bytes[0], bytes[1]]));
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&bytes[8..20]);

        let mut integrity = None;
        let mut has_fingerprint = false;
        let mut offset = HEADER_LEN;
        while offset < bytes.len() {
            if has_fingerprint {
                // Nothing may follow FINGERPRINT.
                return Err(Error::BadAttribute);
            }
            let (kind, value, next) = attribute_at(bytes, offset)?;
            match kind {
                attr::MESSAGE_INTEGRITY if integrity.is_none() => {
                    if value.len() != 20 {
                        return Err(Error::BadAttribute);
                    }
                    integrity = Some(offset);
                }
                attr::FINGERPRINT => {
                    if value.len() != 4 {
                        return Err(Error::BadAttribute);
                    }
                    let expected = fingerprint(&bytes[..offset], offset + 8 - HEADER_LEN);
                    if value != expected.to_be_bytes() {
                        return Err(Error::BadFingerprint);
                    }
                    has_fingerprint = true;
                }
                _ => {}
            }
            offset = next;
        }
        Ok(Message {
            raw: bytes,
            method,
            class,
            transaction_id,
            integrity,
            has_fingerprint,
        })
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The attributes that count: those before MESSAGE-INTEGRITY (anything
    /// after it but FINGERPRINT is ignored, RFC 8489 section 14.5), without
    /// MESSAGE-INTEGRITY and FINGERPRINT themselves.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            raw: self.raw,
            offset: HEADER_LEN,
            end: self.integrity.unwrap_or(self.raw.len()),
        }
    }

    /// The value of the first attribute of type `kind`.
    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.attributes().find(|(k, _)| *k == kind).map(|(_, v)| v)
    }

    pub fn has(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }

    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// The first comprehension-required attribute types (up to 8) for
    /// which `known` says no.
    pub fn unknown_required(&self, known: impl Fn(u16) -> bool) -> Vec<u16> {
        let mut unknown = Vec::new();
        for (kind, _) in self.attributes() {
            if kind < 0x8000 && !known(kind) && !unknown.contains(&kind) && unknown.len() < 8 {
                unknown.push(kind);
            }
        }
        unknown
    }

    /// Checks MESSAGE-INTEGRITY with `key` in constant time.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some(offset) = self.integrity else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
            return false;
        };
        // The length in the header covers up to and including the
        // MESSAGE-INTEGRITY attribute, whatever follows it.
        let length = (offset + 24 - HEADER_LEN) as u16;
        mac.update(&self.raw[..2]);
        mac.update(&length.to_be_bytes());
        mac.update(&self.raw[4..offset]);
        mac.verify_slice(&self.raw[offset + 4..offset + 24]).is_ok()
    }

    /// A string attribute (USERNAME, REALM, NONCE), if valid UTF-8.
    pub fn get_str(&self, kind: u16) -> Option<&'a str> {
        self.get(kind).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A 32-bit attribute such as LIFETIME.
    pub fn get_u32(&self, kind: u16) -> Option<u32> {
        let v = self.get(kind)?;
        (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    /// An XOR-*-ADDRESS attribute, decoded.
    pub fn get_xor_address(&self, kind: u16) -> Option<Result<SocketAddr, Error>> {
        self.get(kind)
            .map(|v| decode_xor_address(v, &self.transaction_id))
    }

    /// Every XOR-*-ADDRESS attribute of `kind` (CreatePermission may carry
    /// several XOR-PEER-ADDRESS).
    pub fn xor_addresses(&self, kind: u16) -> impl Iterator<Item = Result<SocketAddr, Error>> + 'a {
        let tid = self.transaction_id;
        self.attributes()
            .filter(move |(k, _)| *k == kind)
            .map(move |(_, v)| decode_xor_address(v, &tid))
    }
}

/// Reads the attribute at `offset`: its type, its value and where the next
/// one starts.
fn attribute_at(bytes: &[u8], offset: usize) -> Result<(u16, &[u8], usize), Error> {
    let header = bytes.get(offset..offset + 4).ok_or(Error::BadAttribute)?;
    let kind = u16::from_be_bytes([header[0], header[1]]);
    let len = u16::from_be_bytes([header[2], header[3]]) as usize;
    let start = offset + 4;
    let value = bytes.get(start..start + len).ok_or(Error::BadAttribute)?;
    let next = start + padded(len);
    if next > bytes.len() {
        return Err(Error::BadAttribute);
    }
    Ok((kind, value, next))
}

/// Iterator over `(type, value)` of a parsed message's attributes.
pub struct Attributes<'a> {
    raw: &'a [u8],
    offset: usize,
    end: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.offset < self.end {
            // Parse already checked every attribute, so this cannot fail.
            let (kind, value, next) = attribute_at(self.raw, self.offset).ok()?;
            self.offset = next;
            if kind != attr::FINGERPRINT && kind != attr::MESSAGE_INTEGRITY {
                return Some((kind, value));
            }
        }
        None
    }
}

/// `len` rounded up to a multiple of 4.
pub fn padded(len: usize) -> usize {
    (len + 3) & !3
}

/// The FINGERPRINT value of `bytes` (a message up to the FINGERPRINT
/// attribute) once the header's length is `length`.
fn fingerprint(bytes: &[u8], length: usize) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..2]);
    hasher.update(&(length as u16).to_be_bytes());
    hasher.update(&bytes[4..]);
    hasher.finalize() ^ 0x5354_554E
}

fn decode_xor_address(value: &[u8], tid: &TransactionId) -> Result<SocketAddr, Error> {
    if value.len() < 4 {
        return Err(Error::BadAttribute);
    }
    let port = u16::from_be_bytes([value[2], value[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    match (value[1], value.len()) {
        (0x01, 8) => {
            let mut ip = [0u8; 4];
            for i in 0..4 {
                ip[i] = value[4 + i] ^ cookie[i];
            }
            Ok(SocketAddr::new(Ipv4Addr::from(ip).into(), port))
        }
        (0x02, 20) => {
            let mut ip = [0u8; 16];
            for i in 0..16 {
                let mask = if i < 4 { cookie[i] } else { tid[i - 4] };
                ip[i] = value[4 + i] ^ mask;
            }
            Ok(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
        }
        _ => Err(Error::BadAttribute),
    }
}

/// Writes a message into a buffer, keeping the header's length right after
/// every attribute.
pub struct Builder<'b> {
    buf: &'b mut Vec<u8>,
    transaction_id: TransactionId,
}

impl<'b> Builder<'b> {
    /// Starts a message in `buf`, which is cleared first.
    pub fn new(
        buf: &'b mut Vec<u8>,
        method: u16,
        class: Class,
        transaction_id: TransactionId,
    ) -> Self {
        buf.clear();
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&transaction_id);
        Builder {
            buf,
            transaction_id,
        }
    }

    /// Goes on with the message in `buf`, as it is: for tests that corrupt
    /// a message's attributes and then sign it, so that the corruption gets
    /// past the MESSAGE-INTEGRITY and FINGERPRINT checks to the parser.
    #[cfg(test)]
    pub(crate) fn reopen(buf: &'b mut Vec<u8>, transaction_id: TransactionId) -> Self {
        debug_assert!(buf.len() >= HEADER_LEN);
        Builder {
            buf,
            transaction_id,
        }
    }

    /// Appends an attribute, padded to four bytes.
    pub fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        debug_assert!(value.len() <= u16::MAX as usize);
        self.buf.extend_from_slice(&kind.to_be_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        let padding = padded(value.len()) - value.len();
        self.buf.extend_from_slice(&[0u8; 3][..padding]);
        self.set_length();
        self
    }

    pub fn u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_be_bytes())
    }

    /// An XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS or XOR-RELAYED-ADDRESS.
    pub fn xor_address(&mut self, kind: u16, addr: SocketAddr) -> &mut Self {
        let mut value = [0u8; 20];
        let len = encode_xor_address(&mut value, addr, &self.transaction_id);
        self.attr(kind, &value[..len])
    }

    /// A plain MAPPED-ADDRESS, for clients from before XOR addresses.
    pub fn mapped_address(&mut self, addr: SocketAddr) -> &mut Self {
        let mut value = vec![0u8, 0];
        value.extend_from_slice(&addr.port().to_be_bytes());
        match addr.ip() {
            IpAddr::V4(ip) => {
                value[1] = 0x01;
                value.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                value[1] = 0x02;
                value.extend_from_slice(&ip.octets());
            }
        }
        self.attr(attr::MAPPED_ADDRESS, &value)
    }

    /// ERROR-CODE: `code` is the full number, e.g. 401.
    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        let mut value = Vec::with_capacity(4 + reason.len());
        value.extend_from_slice(&[0, 0, (code / 100) as u8 & 0x07, (code % 100) as u8]);
        value.extend_from_slice(reason.as_bytes());
        self.attr(attr::ERROR_CODE, &value)
    }

    pub fn unknown_attributes(&mut self, kinds: &[u16]) -> &mut Self {
        let value: Vec<u8> = kinds.iter().flat_map(|k| k.to_be_bytes()).collect();
        self.attr(attr::UNKNOWN_ATTRIBUTES, &value)
    }

    /// Appends MESSAGE-INTEGRITY computed with `key`.
    pub fn integrity(&mut self, key: &[u8]) -> &mut Self {
        let offset = self.buf.len();
        // The length covers the attribute being added.
        let length = (offset + 24 - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&length.to_be_bytes());
        let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&self.buf[..offset]);
        let digest = mac.finalize().into_bytes();
        self.attr(attr::MESSAGE_INTEGRITY, &digest)
    }

    /// Appends FINGERPRINT; nothing may be added after it.
    pub fn fingerprint(&mut self) -> &mut Self {
        let offset = self.buf.len();
        let value = fingerprint(&self.buf[..offset], offset + 8 - HEADER_LEN);
        self.attr(attr::FINGERPRINT, &value.to_be_bytes())
    }

    fn set_length(&mut self) {
        let length = (self.buf.len() - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&length.to_be_bytes());
    }
}

/// Writes the value of an XOR address attribute into `out`; returns its
/// length (8 for IPv4, 20 for IPv6).
pub fn encode_xor_address(out: &mut [u8; 20], addr: SocketAddr, tid: &TransactionId) -> usize {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    out[0] = 0;
    out[2..4].copy_from_slice(&(addr.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[1] = 0x01;
            for (i, b) in ip.octets().iter().enumerate() {
                out[4 + i] = b ^ cookie[i];
            }
            8
        }
        IpAddr::V6(ip) => {
            out[1] = 0x02;
            for (i, b) in ip.octets().iter().enumerate() {
                let mask = if i < 4 { cookie[i] } else { tid[i - 4] };
                out[4 + i] = b ^ mask;
            }
            20
        }
    }
}

/// ChannelData (RFC 8656 section 12.4): a 4-byte header, channel number and
/// length, then the data.
pub mod channel_data {
    /// Channel numbers a client may bind: RFC 8656's range (section 12).
    /// 0x5000-0x7FFF, which RFC 5766 allowed, are reserved now: a
    /// ChannelBind for one is refused with 400 and ChannelData on one is
    /// dropped, as RFC 8656 requires (docs/turn.md says which clients
    /// still pick them).
    pub const CHANNELS: std::ops::RangeInclusive<u16> = 0x4000..=0x4FFF;

    /// Total length on a stream, where ChannelData is padded to four bytes.
    pub fn stream_frame_len(header: &[u8]) -> Option<usize> {
        if header.len() < 4 {
            return None;
        }
        Some(super::padded(
            4 + u16::from_be_bytes([header[2], header[3]]) as usize,
        ))
    }

    /// Splits ChannelData into channel number and data. Trailing bytes past
    /// the length (padding) are allowed; a length past the end is not.
    pub fn parse(bytes: &[u8]) -> Option<(u16, &[u8])> {
        if bytes.len() < 4 {
            return None;
        }
        let channel = u16::from_be_bytes([bytes[0], bytes[1]]);
        let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        if !CHANNELS.contains(&channel) {
            return None;
        }
        bytes.get(4..4 + len).map(|data| (channel, data))
    }

    /// Writes the header for `len` bytes of data on `channel`.
    pub fn header(channel: u16, len: u16) -> [u8; 4] {
        let c = channel.to_be_bytes();
        let l = len.to_be_bytes();
        [c[0], c[1], l[0], l[1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: TransactionId = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    /// RFC 5769 section 2.1: a sample request with short-term credentials.
    const SAMPLE_REQUEST: &[u8] = &[
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];

    /// RFC 5769 section 2.2: the IPv4 response.
    const SAMPLE_RESPONSE_V4: &[u8] = &[
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    #[test]
    fn message_types_round_trip() {
        assert_eq!(message_type(method::BINDING, Class::Request), 0x0001);
        assert_eq!(message_type(method::BINDING, Class::Success), 0x0101);
        assert_eq!(message_type(method::BINDING, Class::Error), 0x0111);
        assert_eq!(message_type(method::ALLOCATE, Class::Request), 0x0003);
        assert_eq!(message_type(method::SEND, Class::Indication), 0x0016);
        assert_eq!(message_type(method::DATA, Class::Indication), 0x0017);
        for m in [1u16, 3, 4, 6, 7, 8, 9, 0xABC] {
            for c in [
                Class::Request,
                Class::Indication,
                Class::Success,
                Class::Error,
            ] {
                assert_eq!(split_type(message_type(m, c)), (m, c));
            }
        }
    }

    #[test]
    fn rfc5769_request_parses_and_verifies_short_term() {
        let msg = Message::parse(SAMPLE_REQUEST).unwrap();
        assert_eq!(msg.method, method::BINDING);
        assert_eq!(msg.class, Class::Request);
        assert_eq!(msg.transaction_id, TID);
        assert!(msg.has_fingerprint);
        assert_eq!(msg.get_str(attr::USERNAME), Some("evtj:h6vY"));
        assert_eq!(msg.get(attr::SOFTWARE), Some(&b"STUN test client"[..]));
        assert!(msg.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt"));
        assert!(!msg.verify_integrity(b"wrong"));
    }

    #[test]
    fn rfc5769_response_address_and_integrity() {
        let msg = Message::parse(SAMPLE_RESPONSE_V4).unwrap();
        assert_eq!(msg.class, Class::Success);
        assert_eq!(
            msg.get_xor_address(attr::XOR_MAPPED_ADDRESS),
            Some(Ok("192.0.2.1:32853".parse().unwrap()))
        );
        assert!(msg.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt"));
    }

    #[test]
    fn builder_reproduces_rfc5769_response() {
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::BINDING, Class::Success, TID)
            .attr(attr::SOFTWARE, b"test vector")
            .xor_address(attr::XOR_MAPPED_ADDRESS, "192.0.2.1:32853".parse().unwrap())
            .integrity(b"VOkJxbRl1RmTxUk/WvJxBt")
            .fingerprint();
        // The RFC pads SOFTWARE with spaces where we pad with zeros, which
        // changes the digest; compare everything else.
        assert_eq!(buf.len(), SAMPLE_RESPONSE_V4.len());
        assert_eq!(buf[..35], SAMPLE_RESPONSE_V4[..35]);
        assert_eq!(buf[36..52], SAMPLE_RESPONSE_V4[36..52]);
        let msg = Message::parse(&buf).unwrap();
        assert!(msg.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt"));
        assert!(msg.has_fingerprint);
    }

    #[test]
    fn xor_addresses_round_trip_both_families() {
        for addr in ["203.0.113.9:1", "[2001:db8::1:2]:65535", "0.0.0.0:0"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut buf = Vec::new();
            Builder::new(&mut buf, method::ALLOCATE, Class::Success, TID)
                .xor_address(attr::XOR_RELAYED_ADDRESS, addr)
                .xor_address(attr::XOR_PEER_ADDRESS, addr)
                .xor_address(attr::XOR_PEER_ADDRESS, addr);
            let msg = Message::parse(&buf).unwrap();
            assert_eq!(
                msg.get_xor_address(attr::XOR_RELAYED_ADDRESS),
                Some(Ok(addr))
            );
            assert_eq!(msg.xor_addresses(attr::XOR_PEER_ADDRESS).count(), 2);
        }
    }

    #[test]
    fn error_codes_and_unknown_attributes() {
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::ALLOCATE, Class::Error, TID)
            .error_code(438, "Stale Nonce")
            .unknown_attributes(&[0x0031, 0x0032]);
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(
            msg.get(attr::ERROR_CODE),
            Some(&b"\0\0\x04\x26Stale Nonce"[..])
        );
        assert_eq!(
            msg.get(attr::UNKNOWN_ATTRIBUTES),
            Some(&[0, 0x31, 0, 0x32][..])
        );
    }

    #[test]
    fn unknown_required_ignores_optional_and_known() {
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::ALLOCATE, Class::Request, TID)
            .attr(0x0031, b"x")
            .attr(0x8031, b"y")
            .attr(attr::LIFETIME, &[0, 0, 0, 1]);
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.unknown_required(|k| k == attr::LIFETIME), vec![0x0031]);
    }

    #[test]
    fn attributes_after_integrity_are_ignored() {
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::REFRESH, Class::Request, TID)
            .u32(attr::LIFETIME, 5)
            .integrity(b"key")
            .u32(attr::LIFETIME, 0)
            .fingerprint();
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.get_u32(attr::LIFETIME), Some(5));
        assert_eq!(msg.attributes().count(), 1);
        // The integrity covers only what precedes it.
        assert!(msg.verify_integrity(b"key"));
    }

    #[test]
    fn rejects_malformed_messages() {
        let good = SAMPLE_REQUEST;
        assert_eq!(Message::parse(&good[..19]).unwrap_err(), Error::TooShort);
        let mut bad = good.to_vec();
        bad[0] |= 0x40;
        assert_eq!(Message::parse(&bad).unwrap_err(), Error::NotStun);
        let mut bad = good.to_vec();
        bad[4] ^= 1;
        assert_eq!(Message::parse(&bad).unwrap_err(), Error::BadCookie);
        // Trailing bytes, short bytes, a length that is not a multiple of 4.
        let mut bad = good.to_vec();
        bad.extend_from_slice(&[0; 4]);
        assert_eq!(Message::parse(&bad).unwrap_err(), Error::BadLength);
        assert_eq!(
            Message::parse(&good[..good.len() - 4]).unwrap_err(),
            Error::BadLength
        );
        let mut bad = good.to_vec();
        bad[3] = 0x57;
        assert!(Message::parse(&bad).is_err());
        // A flipped bit anywhere in the body breaks the fingerprint.
        let mut bad = good.to_vec();
        bad[30] ^= 0x20;
        assert_eq!(Message::parse(&bad).unwrap_err(), Error::BadFingerprint);
        // An attribute claiming more bytes than there are.
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::BINDING, Class::Request, TID).attr(attr::USERNAME, b"abcd");
        buf[22..24].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(Message::parse(&buf).unwrap_err(), Error::BadAttribute);
        // MESSAGE-INTEGRITY of the wrong size.
        let mut buf = Vec::new();
        Builder::new(&mut buf, method::BINDING, Class::Request, TID)
            .attr(attr::MESSAGE_INTEGRITY, &[0; 16]);
        assert_eq!(Message::parse(&buf).unwrap_err(), Error::BadAttribute);
    }

    #[test]
    fn parse_never_panics_on_noise() {
        // Every prefix, and every single-byte change of a real message.
        for end in 0..=SAMPLE_REQUEST.len() {
            let _ = Message::parse(&SAMPLE_REQUEST[..end]);
        }
        let mut seed = 0x1234_5678u32;
        for i in 0..SAMPLE_REQUEST.len() {
            for _ in 0..16 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let mut bytes = SAMPLE_REQUEST.to_vec();
                bytes[i] = seed as u8;
                if let Ok(msg) = Message::parse(&bytes) {
                    let _ = msg.attributes().count();
                    let _ = msg.verify_integrity(b"k");
                    let _ = msg.get_xor_address(attr::XOR_PEER_ADDRESS);
                }
            }
        }
        // Random buffers.
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8 & if len % 2 == 0 { 0x3F } else { 0xFF }
                })
                .collect();
            let _ = Message::parse(&bytes);
            let _ = channel_data::parse(&bytes);
        }
    }

    #[test]
    fn channel_data_framing() {
        assert_eq!(
            channel_data::parse(&[0x40, 0x00, 0, 2, 7, 8]),
            Some((0x4000, &[7u8, 8][..]))
        );
        // Padding after the data is allowed.
        assert_eq!(
            channel_data::parse(&[0x40, 0x01, 0, 1, 7, 0, 0, 0]),
            Some((0x4001, &[7u8][..]))
        );
        assert_eq!(channel_data::parse(&[0x40, 0x00, 0, 3, 7, 8]), None);
        assert_eq!(
            channel_data::parse(&[0x4F, 0xFF, 0, 0]),
            Some((0x4FFF, &[][..]))
        );
        // Reserved numbers (RFC 8656): not ChannelData of any channel.
        assert_eq!(channel_data::parse(&[0x50, 0x00, 0, 0]), None);
        assert_eq!(channel_data::parse(&[0x7F, 0xFF, 0, 0]), None);
        assert_eq!(channel_data::parse(&[0x80, 0x00, 0, 0]), None);
        assert_eq!(channel_data::parse(&[0x40, 0x00, 0]), None);
        assert_eq!(channel_data::stream_frame_len(&[0x40, 0, 0, 5]), Some(12));
        assert_eq!(channel_data::stream_frame_len(&[0x40, 0, 0, 4]), Some(8));
        assert_eq!(stun_frame_len(&[0, 1, 0, 8]), Some(28));
    }
}
