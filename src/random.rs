//! The one way Parlor gets random bytes: from the operating system's CSPRNG.
//! Room ids, peer ids, keys, secrets and nonces all come from here, so there
//! is a single place to audit for guessable values.

/// `N` bytes from the operating system's random source.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}
