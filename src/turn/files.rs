//! The file limit at start: every TURN TCP connection, relay socket and
//! reserved port is a file descriptor, and at the usual soft limit of 1,024
//! a few hundred clients would stop the whole process (the web server
//! included) from accepting anything. So the soft limit is raised to the
//! hard one, and a warning says when the configured caps cannot fit even
//! in that.

use super::Settings;
use super::server::tcp_connections;

/// Descriptors kept for everything but TURN: listeners, the web server's
/// connections, logs.
const SPARE: u64 = 1024;

/// Descriptors the TURN caps may take: a TCP connection each, and per
/// allocation a relay socket and perhaps a reserved port.
fn needed(settings: &Settings) -> u64 {
    (tcp_connections(settings) + 2 * settings.max_allocations) as u64 + SPARE
}

/// What to do with limits `soft` and `hard` when `needed` descriptors may
/// be taken: the soft limit to set (None to leave it), and whether the
/// caps do not fit.
fn plan(soft: u64, hard: u64, needed: u64) -> (Option<u64>, bool) {
    ((soft < hard).then_some(hard), hard < needed)
}

/// Raises the soft file limit to the hard one, and warns if the TURN caps
/// of `settings` may need more descriptors than that. Called once at start,
/// before the TURN server binds.
pub(crate) fn raise_file_limit(settings: &Settings) {
    let Some((soft, hard)) = sys::file_limit() else {
        return;
    };
    let needed = needed(settings);
    let (raise, short) = plan(soft, hard, needed);
    let mut limit = soft;
    if let Some(to) = raise {
        if sys::set_soft_file_limit(to, hard) {
            limit = to;
            tracing::debug!(from = soft, to, "raised the soft limit on open files");
        } else {
            tracing::warn!(soft, hard, "cannot raise the soft limit on open files");
        }
    }
    if short || limit < needed {
        tracing::warn!(
            limit,
            needed,
            "the open file limit ({limit}) is below what the TURN caps may take ({needed}: \
             --turn-max-allocations and TCP connections); raise it (ulimit -n, LimitNOFILE=) \
             or lower the caps, or the server may stop accepting connections"
        );
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    use std::ffi::c_int;

    /// struct rlimit: two rlim_t, 64 bits on 64-bit Linux.
    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }

    const RLIMIT_NOFILE: c_int = 7;

    unsafe extern "C" {
        fn getrlimit(resource: c_int, rlim: *mut Rlimit) -> c_int;
        fn setrlimit(resource: c_int, rlim: *const Rlimit) -> c_int;
    }

    /// The soft and hard limits on open files.
    pub(super) fn file_limit() -> Option<(u64, u64)> {
        let mut limit = Rlimit { cur: 0, max: 0 };
        // SAFETY: getrlimit writes one struct rlimit, which `limit` is.
        let result = unsafe { getrlimit(RLIMIT_NOFILE, &mut limit) };
        (result == 0).then_some((limit.cur, limit.max))
    }

    pub(super) fn set_soft_file_limit(soft: u64, hard: u64) -> bool {
        let limit = Rlimit {
            cur: soft,
            max: hard,
        };
        // SAFETY: setrlimit reads one struct rlimit, which `limit` is.
        unsafe { setrlimit(RLIMIT_NOFILE, &limit) == 0 }
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod sys {
    pub(super) fn file_limit() -> Option<(u64, u64)> {
        None
    }

    pub(super) fn set_soft_file_limit(_soft: u64, _hard: u64) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_up_to_the_hard_one() {
        assert_eq!(plan(1024, 524_288, 31_024), (Some(524_288), false));
        assert_eq!(plan(524_288, 524_288, 31_024), (None, false));
        assert_eq!(plan(1024, 4096, 31_024), (Some(4096), true));
        assert_eq!(plan(1024, 1024, 31_024), (None, true));
    }

    #[test]
    fn needs_follow_the_caps() {
        let mut settings = crate::turn::core::test_settings();
        settings.max_allocations = 10_000;
        assert_eq!(needed(&settings), 10_000 + 20_000 + SPARE);
        settings.max_allocations = 10;
        assert_eq!(needed(&settings), 64 + 20 + SPARE);
    }

    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    #[test]
    fn raises_the_soft_limit_of_this_process() {
        let (soft, hard) = sys::file_limit().unwrap();
        if soft == hard && soft > 16 {
            // Lower it a little first, to see it go back up.
            assert!(sys::set_soft_file_limit(soft - 1, hard));
        }
        raise_file_limit(&crate::turn::core::test_settings());
        assert_eq!(sys::file_limit().unwrap(), (hard, hard));
    }
}
