//! Limits that keep one client, or one address, from taking the server for
//! itself: the token bucket every rate limit uses, and per-address counts.

mod addresses;
mod bucket;

pub(crate) use addresses::{AddressGate, AddressLimits, Admission, ConnectionRefused, client_key};
pub(crate) use bucket::{Rate, TokenBucket};
