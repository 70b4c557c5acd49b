//! The store's Lua scripts, each with the shared helpers of `common.lua`
//! in front. Redis runs each one as a whole, so every rule a script checks
//! and every change and event it makes happen in one step.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(super) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/common.lua"),
                include_str!(concat!("lua/", $file))
            ))
        });
    };
}

script!(CREATE, "create.lua");
script!(SUMMARY, "summary.lua");
script!(JOIN, "join.lua");
script!(LEAVE, "leave.lua");
script!(SIGNAL, "signal.lua");
script!(CHAT, "chat.lua");
script!(AWAY, "away.lua");
script!(RELEASE, "release.lua");
script!(FORGET, "forget.lua");
script!(HEARTBEAT, "heartbeat.lua");
#[cfg(test)]
script!(SNAPSHOT, "snapshot.lua");
