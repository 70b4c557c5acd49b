//! The rooms that exist, kept in the state directory (file `rooms`), so
//! that an invite link still opens its room after a restart.
//!
//! A room id is the secret of a call and carries no state, so a restarted
//! server cannot tell a real room from a made-up id unless it kept the
//! list. (A signed room id would need no list, but could never be
//! forgotten when idle, and room ids are the rooms' business.) The list is
//! one line per room, `<id> <capacity> <unix seconds last used>`, appended
//! to when a room is made (before its creator hears of it, so that a crash
//! right after loses nothing) and rewritten whole, aside and renamed in,
//! when a sweep finds rooms forgotten or used. A line read later wins.
//!
//! One server at a time keeps the list of a state directory: it holds a
//! lock on `rooms.lock` while it runs (released by the system when the
//! process ends, however it ends). Another server started on the same
//! directory shares the keys but keeps no list.
//!
//! At start the rooms not idle past `--room-idle-timeout` are made again,
//! empty, with their ids and capacities; one idle then counts its idle time
//! from the restart, at most a sweep period (a minute) later than the old
//! server would have forgotten it.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{StateDir, write_private};
use crate::rooms::{RoomKind, RoomStore};

/// The list's file in the state directory.
pub(crate) const ROOMS: &str = "rooms";
/// The file whose lock says which server keeps the list.
const LOCK: &str = "rooms.lock";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept {
    capacity: usize,
    /// Last known to have someone in it, or made.
    used: u64,
}

/// The list of rooms, in memory and on disk.
#[derive(Debug)]
pub(crate) struct KeptRooms {
    path: PathBuf,
    rooms: Mutex<HashMap<String, Kept>>,
    /// Locked for as long as this lives.
    _lock: File,
}

fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn valid_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl KeptRooms {
    /// Reads the list in `state`, drops the rooms idle past `idle` and
    /// writes back what is left.
    pub(crate) fn load(state: &StateDir, now: SystemTime, idle: Duration) -> io::Result<KeptRooms> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(state.file(LOCK))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "another server keeps this state directory's room list",
                ));
            }
            Err(TryLockError::Error(err)) => return Err(err),
        }
        let path = state.file(ROOMS);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(err),
        };
        let mut rooms = HashMap::new();
        for line in text.lines() {
            let mut fields = line.split(' ');
            let (Some(id), Some(capacity), Some(used), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue; // a line cut short by a crash
            };
            let (Ok(capacity), Ok(used)) = (capacity.parse::<usize>(), used.parse::<u64>()) else {
                continue;
            };
            if valid_id(id) && (2..=255).contains(&capacity) {
                rooms.insert(id.to_owned(), Kept { capacity, used });
            }
        }
        let now = secs(now);
        rooms.retain(|_, kept| kept.used.saturating_add(idle.as_secs()) >= now);
        let kept = KeptRooms {
            path,
            rooms: Mutex::new(rooms),
            _lock: lock,
        };
        kept.rewrite()?;
        Ok(kept)
    }

    /// The rooms on the list, with their capacities.
    pub(crate) fn list(&self) -> Vec<(String, usize)> {
        let rooms = self.rooms.lock().expect("not poisoned");
        rooms
            .iter()
            .map(|(id, kept)| (id.clone(), kept.capacity))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.rooms.lock().expect("not poisoned").len()
    }

    /// Puts a room just made on the list, on disk first.
    pub(crate) fn created(&self, id: &str, capacity: usize, now: SystemTime) -> io::Result<()> {
        if !valid_id(id) {
            return Err(io::Error::other("not a room id"));
        }
        let kept = Kept {
            capacity,
            used: secs(now),
        };
        let mut rooms = self.rooms.lock().expect("not poisoned");
        let mut file = OpenOptions::new().append(true).open(&self.path)?;
        file.write_all(format!("{id} {} {}\n", kept.capacity, kept.used).as_bytes())?;
        rooms.insert(id.to_owned(), kept);
        Ok(())
    }

    /// Makes every room on the list again in `store`, empty; rooms it knows
    /// already are left alone. Returns how many were made.
    pub(crate) async fn restore(&self, store: &dyn RoomStore, now: SystemTime) -> usize {
        let mut made = 0;
        for (room, capacity) in self.list() {
            match store
                .restore_room(&room, RoomKind::Mesh, capacity, now)
                .await
            {
                Ok(true) => made += 1,
                Ok(false) => {}
                Err(refusal) => {
                    tracing::warn!(room = %room, %refusal.message, "cannot make a kept room again");
                }
            }
        }
        made
    }

    /// After the store forgot its idle rooms: takes the rooms it forgot off
    /// the list, and notes the ones someone is in as used now. Rewrites the
    /// file if anything changed.
    pub(crate) async fn sweep(&self, store: &dyn RoomStore, now: SystemTime) -> io::Result<()> {
        let now = secs(now);
        let mut forgotten = Vec::new();
        let mut used = Vec::new();
        for (room, _) in self.list() {
            match store.room_summary(&room).await {
                None => forgotten.push(room),
                Some(summary) if summary.members > 0 => used.push(room),
                Some(_) => {}
            }
        }
        let changed = {
            let mut rooms = self.rooms.lock().expect("not poisoned");
            let mut changed = false;
            for room in forgotten {
                changed |= rooms.remove(&room).is_some();
            }
            for room in used {
                if let Some(kept) = rooms.get_mut(&room) {
                    changed |= kept.used != now;
                    kept.used = now;
                }
            }
            changed
        };
        if changed { self.rewrite() } else { Ok(()) }
    }

    /// Writes the whole list aside and renames it over the file.
    fn rewrite(&self) -> io::Result<()> {
        let rooms = self.rooms.lock().expect("not poisoned");
        let mut text = String::with_capacity(rooms.len() * 40);
        for (id, kept) in rooms.iter() {
            text.push_str(&format!("{id} {} {}\n", kept.capacity, kept.used));
        }
        let aside = self.path.with_file_name(format!(
            ".{ROOMS}.{}",
            URL_SAFE_NO_PAD.encode(crate::random::bytes::<6>())
        ));
        let written =
            write_private(&aside, text.as_bytes()).and_then(|()| fs::rename(&aside, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&aside);
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::rooms::JoinRequest;
    use crate::rooms::{MemoryStore, RoomKind, StoreLimits};
    use crate::state::tests::Scratch;

    const DAY: Duration = Duration::from_secs(86_400);

    fn store() -> MemoryStore {
        MemoryStore::new(StoreLimits { max_rooms: 100 })
    }

    #[tokio::test]
    async fn a_room_made_before_a_restart_exists_after_it() {
        let scratch = Scratch::new();
        let state = StateDir::open(&scratch.0).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let before = store();
        let kept = KeptRooms::load(&state, t0, DAY).unwrap();
        let room = before.create_room(RoomKind::Mesh, 3, t0).await.unwrap();
        kept.created(&room, 3, t0).unwrap();
        assert_eq!(
            fs::metadata(state.file(ROOMS)).unwrap().mode() & 0o777,
            0o600
        );

        // Nobody else keeps the list while this server runs.
        assert!(KeptRooms::load(&state, t0, DAY).is_err());
        drop(kept);

        // The restart: a new store, the list read again.
        let after = store();
        assert!(after.room_summary(&room).await.is_none());
        let t1 = t0 + Duration::from_secs(60);
        let kept = KeptRooms::load(&state, t1, DAY).unwrap();
        assert_eq!(kept.restore(&after, t1).await, 1);
        let summary = after.room_summary(&room).await.unwrap();
        assert_eq!((summary.capacity, summary.members), (3, 0));
        assert_eq!(after.occupancy().members, 0);
        // A fresh join works as it did before the restart.
        let joined = after
            .join(
                JoinRequest {
                    room: room.clone(),
                    name: None,
                    resume: None,
                },
                t1,
            )
            .await
            .unwrap();
        assert!(joined.peers.is_empty());
        // Restoring again changes nothing.
        assert_eq!(kept.restore(&after, t1).await, 0);
    }

    #[tokio::test]
    async fn rooms_idle_too_long_or_forgotten_leave_the_list() {
        let scratch = Scratch::new();
        let state = StateDir::open(&scratch.0).unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let live = store();
        let kept = KeptRooms::load(&state, t0, DAY).unwrap();
        let busy = live.create_room(RoomKind::Mesh, 2, t0).await.unwrap();
        let quiet = live.create_room(RoomKind::Mesh, 2, t0).await.unwrap();
        kept.created(&busy, 2, t0).unwrap();
        kept.created(&quiet, 2, t0).unwrap();
        let request = JoinRequest {
            room: busy.clone(),
            name: None,
            resume: None,
        };
        live.join(request, t0).await.unwrap();

        // Half a day later the store forgets the quiet room (as its sweep
        // would); the busy one is noted as used.
        let t1 = t0 + DAY / 2;
        live.forget_idle_rooms(t1, Duration::ZERO).await;
        let seat_room = live.room_summary(&busy).await.unwrap();
        assert_eq!(seat_room.members, 1);
        kept.sweep(&live, t1).await.unwrap();
        assert_eq!(kept.list(), vec![(busy.clone(), 2)]);

        // A restart within a day of its last use keeps it; later, not.
        drop(kept);
        let reread = KeptRooms::load(&state, t1 + DAY, DAY).unwrap();
        assert_eq!(reread.len(), 1);
        drop(reread);
        let reread = KeptRooms::load(&state, t1 + DAY + Duration::from_secs(1), DAY).unwrap();
        assert_eq!(reread.len(), 0);
    }

    #[test]
    fn a_torn_or_strange_line_is_skipped() {
        let scratch = Scratch::new();
        let state = StateDir::open(&scratch.0).unwrap();
        let good = "A".repeat(22);
        fs::write(
            state.file(ROOMS),
            format!("{good} 2 1800000000\n../../etc 2 1800000000\n{} 300 1800000000\nBBBBBBBBBBBBBBBBBBBBBB 2 18", "C".repeat(22)),
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let kept = KeptRooms::load(&state, now, DAY).unwrap();
        assert_eq!(kept.list(), vec![(good, 2)]);
    }
}
