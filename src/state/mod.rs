//! The state directory: what a restart must not forget, so that a server
//! restarted with default flags lets every call go on.
//!
//! - the key that signs resume tokens (`resume.key`), unless `--secret`
//!   gives one: a restarted server must take the tokens of the last one;
//! - the TURN secret (`turn.secret`), unless `--turn-secret` gives one: the
//!   credentials handed out in earlier `welcome`s must stay valid;
//! - the rooms that exist ([`rooms`]), so that an invite link still opens
//!   its room after a restart;
//! - with `--acme-domain`, the ACME account's key (`acme-account.key`) and the
//!   certificate with its key (`acme-certificate.pem`), so that a restart
//!   serves the certificate it has instead of ordering another.
//!
//! The directory is made with mode 0700 and every file in it 0600: the keys
//! let anyone who reads them take any seat back. Nothing here holds a lock
//! or runs at request time but the room list's own appends.

pub(crate) mod rooms;

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The file of the resume-token key.
pub(crate) const RESUME_KEY: &str = "resume.key";
/// The file of the built-in TURN server's secret.
pub(crate) const TURN_SECRET: &str = "turn.secret";
/// The file of the ACME account's private key (PKCS#8, PEM): the key is
/// the account, on whichever CA it is registered with.
pub(crate) const ACME_ACCOUNT_KEY: &str = "acme-account.key";
/// The file of the certificate from the ACME CA: its private key, then its
/// chain, in PEM; one file so that the two are always replaced together.
pub(crate) const ACME_CERTIFICATE: &str = "acme-certificate.pem";

/// An opened state directory.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens `path`, making it (and its parents) if missing, the directory
    /// itself with mode 0700. An existing directory is used as it is, but
    /// one that others can write to is refused: they could swap the keys.
    pub(crate) fn open(path: &Path) -> io::Result<StateDir> {
        DirBuilder::new().recursive(true).mode(0o700).create(path)?;
        let meta = fs::metadata(path)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(io::Error::other(format!(
                "{} can be written by others (mode {:o}); make it 0700",
                path.display(),
                meta.mode() & 0o777
            )));
        }
        Ok(StateDir {
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The key kept in file `name`: read if it is there, else 32 random
    /// bytes (as 43 characters of base64url) written there with mode 0600.
    /// Two processes starting at once agree: the file appears whole or not
    /// at all (written aside, then linked in without replacing), and the
    /// loser reads the winner's.
    pub(crate) fn key(&self, name: &str) -> io::Result<Vec<u8>> {
        let path = self.file(name);
        match read_key(&path) {
            Ok(key) => return Ok(key),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let key = URL_SAFE_NO_PAD
            .encode(crate::random::bytes::<32>())
            .into_bytes();
        let aside = self.file(&format!(
            ".{name}.{}",
            URL_SAFE_NO_PAD.encode(crate::random::bytes::<6>())
        ));
        let written = write_private(&aside, &key).and_then(|()| fs::hard_link(&aside, &path));
        let _ = fs::remove_file(&aside);
        match written {
            Ok(()) => Ok(key),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => read_key(&path),
            Err(err) => Err(err),
        }
    }

    /// What file `name` holds, or `None` when there is no such file.
    pub(crate) fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.file(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Puts `bytes` in file `name` (mode 0600), replacing what it held: a
    /// reader sees the old content or the new, whole, never a mix (written
    /// aside, then renamed over).
    pub(crate) fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let aside = self.file(&format!(
            ".{name}.{}",
            URL_SAFE_NO_PAD.encode(crate::random::bytes::<6>())
        ));
        let written =
            write_private(&aside, bytes).and_then(|()| fs::rename(&aside, self.file(name)));
        if written.is_err() {
            let _ = fs::remove_file(&aside);
        }
        written
    }
}

fn read_key(path: &Path) -> io::Result<Vec<u8>> {
    let text = fs::read(path)?;
    let key = text.trim_ascii().to_vec();
    if key.len() < 16 {
        return Err(io::Error::other(format!(
            "{} holds no key (under 16 bytes); delete it to make a new one",
            path.display()
        )));
    }
    Ok(key)
}

/// Writes `bytes` to a new file at `path` readable by its owner alone.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The mode given at creation is masked by the umask; 0600 is never
    // widened by it, but set it anyway in case the file system ignores it.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Where state is kept when `--state-dir` is not given: `$STATE_DIRECTORY`
/// (set by systemd's `StateDirectory=`), else `$XDG_STATE_HOME/parlor`, else
/// `$HOME/.local/state/parlor`, else (no home, as for some services) a
/// folder of this user's own in the temporary directory, which survives a
/// restart of the server though not of the machine.
pub(crate) fn default_dir() -> PathBuf {
    default_dir_from(|name| std::env::var_os(name))
}

fn default_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if let Some(dir) = var("STATE_DIRECTORY") {
        return dir;
    }
    if let Some(dir) = var("XDG_STATE_HOME") {
        return dir.join("parlor");
    }
    if let Some(home) = var("HOME") {
        return home.join(".local/state/parlor");
    }
    let uid = fs::metadata("/proc/self").map_or(0, |meta| meta.uid());
    std::env::temp_dir().join(format!("parlor-state-{uid}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the temporary one, removed when dropped.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new() -> Scratch {
            let name = URL_SAFE_NO_PAD.encode(crate::random::bytes::<9>());
            Scratch(std::env::temp_dir().join(format!("parlor-test-{name}")))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn keys_are_made_once_private_and_kept() {
        let scratch = Scratch::new();
        let path = scratch.0.join("a/b");
        let state = StateDir::open(&path).unwrap();
        assert_eq!(mode(&path), 0o700);
        let key = state.key(RESUME_KEY).unwrap();
        assert_eq!(key.len(), 43);
        assert_eq!(mode(&state.file(RESUME_KEY)), 0o600);
        // Another start, another process: the same key.
        let again = StateDir::open(&path).unwrap();
        assert_eq!(again.key(RESUME_KEY).unwrap(), key);
        assert_ne!(again.key(TURN_SECRET).unwrap(), key);
        // Nothing left aside.
        let names: Vec<_> = fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn an_operators_key_file_is_read_trimmed_and_a_bad_one_refused() {
        let scratch = Scratch::new();
        let state = StateDir::open(&scratch.0).unwrap();
        fs::write(state.file(RESUME_KEY), "0123456789abcdefXYZ\n").unwrap();
        assert_eq!(state.key(RESUME_KEY).unwrap(), b"0123456789abcdefXYZ");
        fs::write(state.file(TURN_SECRET), "short").unwrap();
        assert!(state.key(TURN_SECRET).is_err());
    }

    #[test]
    fn files_are_replaced_whole_and_private() {
        let scratch = Scratch::new();
        let state = StateDir::open(&scratch.0).unwrap();
        assert_eq!(state.read(ACME_CERTIFICATE).unwrap(), None);
        state.replace(ACME_CERTIFICATE, b"first").unwrap();
        state.replace(ACME_CERTIFICATE, b"second").unwrap();
        assert_eq!(state.read(ACME_CERTIFICATE).unwrap().unwrap(), b"second");
        assert_eq!(mode(&state.file(ACME_CERTIFICATE)), 0o600);
        assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let scratch = Scratch::new();
        fs::create_dir_all(&scratch.0).unwrap();
        fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(StateDir::open(&scratch.0).is_err());
    }

    #[test]
    fn the_default_directory_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).into())
            }
        };
        let dir = |pairs| default_dir_from(env(pairs));
        assert_eq!(
            dir(&[("HOME", "/home/ada")]),
            Path::new("/home/ada/.local/state/parlor")
        );
        assert_eq!(
            dir(&[("HOME", "/home/ada"), ("XDG_STATE_HOME", "/x")]),
            Path::new("/x/parlor")
        );
        assert_eq!(
            dir(&[
                ("XDG_STATE_HOME", "/x"),
                ("STATE_DIRECTORY", "/var/lib/parlor")
            ]),
            Path::new("/var/lib/parlor")
        );
        // Relative values are ignored, as the XDG rules say; no home at all
        // still gives a folder of this user's own.
        let none = dir(&[("HOME", "relative")]);
        assert!(none.starts_with(std::env::temp_dir()), "{none:?}");
        assert!(none.to_string_lossy().contains("parlor-state-"));
    }
}
