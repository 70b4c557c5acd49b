//! Several instances sharing rooms through Redis: a real `redis-server`,
//! three `parlor --redis` on 127.0.0.2, .3 and .4, and HAProxy on
//! 127.0.0.1 in front of them (round robin, no sticky sessions), as an
//! operator runs them. Clients on different instances call each other; an
//! instance killed outright loses nobody's seat; Redis going away refuses
//! new joins, keeps every connection, and is survived.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Haproxy, Process, RECV_TIMEOUT, RedisServer, Server, Welcome, Ws, eventually, http_request,
};

/// What a killed instance's members get to come back in.
const RESUME_GRACE: &str = "30s";

/// Redis, three instances and a load balancer in front of them.
struct Cluster {
    redis: RedisServer,
    instances: Vec<Server>,
    _balancer: Running,
    /// The load balancer's address: where clients go.
    front: SocketAddr,
}

/// The load balancer in front of the instances.
#[derive(Clone, Copy, PartialEq)]
enum Balancer {
    /// HAProxy, round robin, so that a test knows where each connection lands.
    Haproxy,
    /// nginx with deploy/nginx.conf, the configuration docs/deployment.md shows.
    Nginx,
}

/// A running load balancer, stopped (and its files removed) when dropped.
enum Running {
    Haproxy { _haproxy: Haproxy },
    Nginx { _process: Process, _dir: TempDir },
}

/// A folder removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Cluster {
    /// `None` when Redis tests are skipped (`PARLOR_SKIP_REDIS=1`).
    fn start() -> Option<Cluster> {
        Cluster::start_with(false, Balancer::Haproxy)
    }

    /// With `turn`, each instance runs its STUN/TURN server on its own
    /// address, as on machines of their own.
    fn start_with(turn: bool, balancer: Balancer) -> Option<Cluster> {
        let redis = RedisServer::start()?;
        let url = redis.url();
        let instances: Vec<Server> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .iter()
            .map(|ip| {
                let listen = format!("{ip}:0");
                let mut args = vec!["--listen", &listen, "--redis", &url];
                args.extend(["--secret", "a secret every instance shares"]);
                args.extend(["--resume-grace", RESUME_GRACE]);
                match turn {
                    true => args.extend(["--turn-listen", &listen]),
                    false => args.push("--turn-disable"),
                }
                Server::with_args(&args)
            })
            .collect();
        let addrs: Vec<SocketAddr> = instances.iter().map(|s| s.addr).collect();
        let (balancer, front) = match balancer {
            Balancer::Haproxy => {
                let haproxy = Haproxy::start(|front| haproxy_config(front, &addrs));
                let front = haproxy.front;
                (Running::Haproxy { _haproxy: haproxy }, front)
            }
            Balancer::Nginx => {
                let (process, dir, front) = nginx(&addrs);
                (
                    Running::Nginx {
                        _process: process,
                        _dir: dir,
                    },
                    front,
                )
            }
        };
        Some(Cluster {
            redis,
            instances,
            _balancer: balancer,
            front,
        })
    }

    /// Creates a room through the load balancer.
    async fn create_room(&self, capacity: u64) -> String {
        let body = json!({ "capacity": capacity }).to_string();
        let response = http_request(
            self.front,
            "POST",
            "/api/rooms",
            Some(body.as_bytes()),
            &[("Content-Type", "application/json")],
        )
        .await;
        assert_eq!(response.status, 201, "{}", response.text());
        response.json()["room"].as_str().unwrap().to_owned()
    }

    /// The open WebSocket connections of each instance.
    async fn connections(&self) -> Vec<u64> {
        let mut counts = Vec::new();
        for instance in &self.instances {
            counts.push(instance.metric("parlor_connections").await);
        }
        counts
    }
}

/// HAProxy's configuration: round robin from `front` to `servers`.
fn haproxy_config(front: SocketAddr, servers: &[SocketAddr]) -> String {
    let servers: String = servers
        .iter()
        .enumerate()
        .map(|(n, s)| format!("  server p{n} {s} check inter 200ms fall 1 rise 1\n"))
        .collect();
    // WebSockets stay open for as long as a call: the tunnel timeout,
    // not the HTTP ones, applies to them once upgraded.
    format!(
        "global\n  maxconn 1000\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  \
         timeout server 60s\n  timeout tunnel 1h\n  retries 3\n  option redispatch\n\
         frontend parlor\n  bind {front}\n  default_backend instances\n\
         backend instances\n  balance roundrobin\n{servers}"
    )
}

/// nginx in front of `servers` on a free port of 127.0.0.1, with
/// deploy/nginx.conf (its `listen` and `server` addresses made ours) in a
/// main configuration of a folder of its own; waits until it listens.
fn nginx(servers: &[SocketAddr]) -> (Process, TempDir, SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let front = SocketAddr::from(([127, 0, 0, 1], port));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for nginx");
    let site = include_str!("../deploy/nginx.conf");
    let mut next = servers.iter();
    let site: String = site
        .lines()
        .map(|line| match line.trim_start() {
            "listen 80;" => format!("  listen {front};"),
            l if l.starts_with("server 10.") => {
                let addr = next.next().expect("as many servers as instances");
                let options = l.split_once(' ').unwrap().1.split_once(' ').unwrap().1;
                format!("  server {addr} {options}")
            }
            _ => line.to_owned(),
        })
        .map(|line| line + "\n")
        .collect();
    assert!(
        next.next().is_none(),
        "deploy/nginx.conf names every instance"
    );
    std::fs::write(dir.join("parlor.conf"), site).expect("write the nginx site");
    let d = dir.display();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  proxy_max_temp_file_size 0;\n  \
         client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n  include {d}/parlor.conf;\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, main).expect("write the nginx configuration");
    let process = Process(
        Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .args(["-e", "stderr", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/test installs it)"),
    );
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    while TcpStream::connect(front).is_err() {
        assert!(std::time::Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (process, TempDir(dir), front)
}

async fn joined(addr: SocketAddr, room: &str) -> (Ws, Welcome) {
    let mut ws = Ws::connect(addr).await;
    let welcome = ws.join(room, None).await;
    (ws, welcome)
}

#[tokio::test]
async fn members_on_different_instances_call_each_other() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // A pair, through the load balancer: each lands on another instance.
    let room = cluster.create_room(2).await;
    let (mut a, wa) = joined(cluster.front, &room).await;
    let (mut b, wb) = joined(cluster.front, &room).await;
    let mut counts = cluster.connections().await;
    counts.sort();
    assert_eq!(counts, [0, 1, 1], "round robin spreads the two");
    assert_eq!(wb.peers, vec![json!({ "id": wa.id })]);
    a.expect_peer_joined(&wb.id, None).await;
    a.signal(&wb.id, json!({ "sdp": "offer" })).await;
    b.expect_signal(&wa.id, json!({ "sdp": "offer" })).await;
    b.signal(&wa.id, json!({ "sdp": "answer" })).await;
    a.expect_signal(&wb.id, json!({ "sdp": "answer" })).await;
    // The room is full for everyone, wherever they come in.
    let mut c = Ws::connect(cluster.front).await;
    c.send_json(json!({ "type": "join", "room": room })).await;
    c.expect_error("room-full", Some("join")).await;

    // A group of four over three instances: everyone hears the same
    // events in the same order, and chat reaches everyone.
    let group = cluster.create_room(4).await;
    let mut members: Vec<(Ws, Welcome)> = Vec::new();
    for _ in 0..4 {
        let (ws, welcome) = joined(cluster.front, &group).await;
        let earlier: Vec<Value> = members.iter().map(|(_, w)| json!({ "id": w.id })).collect();
        assert_eq!(welcome.peers, earlier);
        for (other, _) in &mut members {
            other.expect_peer_joined(&welcome.id, None).await;
        }
        members.push((ws, welcome));
    }
    let counts = cluster.connections().await;
    assert!(
        counts.iter().all(|&n| n >= 2),
        "every instance has members: {counts:?}"
    );
    let ids: Vec<String> = members.iter().map(|(_, w)| w.id.clone()).collect();
    for (from, (ws, _)) in members.iter_mut().enumerate() {
        for to in ids.iter().filter(|id| **id != ids[from]) {
            ws.signal(to, json!({ "n": from })).await;
        }
    }
    // Signals from different senders may cross; each arrives once.
    for (n, (ws, _)) in members.iter_mut().enumerate() {
        let mut got = Vec::new();
        for _ in 0..3 {
            let signal = ws.recv_json().await;
            assert_eq!(signal["type"], "signal", "{signal}");
            got.push((
                signal["from"].as_str().unwrap().to_owned(),
                signal["data"]["n"].clone(),
            ));
        }
        got.sort_by(|x, y| x.0.cmp(&y.0));
        let mut expected: Vec<(String, Value)> = (0..4)
            .filter(|from| *from != n)
            .map(|from| (ids[from].clone(), json!(from)))
            .collect();
        expected.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(got, expected);
    }
    members[0]
        .0
        .send_json(json!({ "type": "chat", "text": "hello all" }))
        .await;
    for (ws, _) in &mut members {
        let chat = ws.recv_json().await;
        assert_eq!(
            (chat["type"].as_str(), chat["text"].as_str()),
            (Some("chat"), Some("hello all"))
        );
        assert_eq!(chat["from"], json!(ids[0]));
    }
    members[3].0.leave().await;
    for (ws, _) in &mut members[..3] {
        ws.expect_peer_left(&ids[3]).await;
    }
}

#[tokio::test]
async fn members_of_a_killed_instance_resume_elsewhere_unnoticed() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let room = cluster.create_room(3).await;
    let addrs: Vec<SocketAddr> = cluster.instances.iter().map(|s| s.addr).collect();
    let (mut a, wa) = joined(addrs[0], &room).await;
    let (mut b, wb) = joined(addrs[1], &room).await;
    let (mut c, wc) = joined(addrs[2], &room).await;
    a.expect_peer_joined(&wb.id, None).await;
    a.expect_peer_joined(&wc.id, None).await;
    b.expect_peer_joined(&wc.id, None).await;

    // The instance holding C dies outright.
    drop(cluster.instances.remove(2));
    c.expect_end(RECV_TIMEOUT).await;
    drop(c);
    // C comes back through the load balancer, onto another instance, with
    // the same peer id; nobody heard it leave.
    let mut c = Ws::connect(cluster.front).await;
    c.send_json(json!({ "type": "join", "room": room, "resume": wc.raw["resume"] }))
        .await;
    let welcome = c.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["id"], json!(wc.id));
    assert_eq!(welcome["resumed"], json!(true));
    a.signal(&wc.id, json!({ "after": "resume" })).await;
    c.expect_signal(&wa.id, json!({ "after": "resume" })).await;
    c.signal(&wb.id, json!({ "to": "b" })).await;
    b.expect_signal(&wc.id, json!({ "to": "b" })).await;
    a.expect_nothing_queued().await;
    b.expect_nothing_queued().await;
}

#[tokio::test]
async fn without_redis_joins_are_refused_connections_kept_and_it_recovers() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let room = cluster.create_room(3).await;
    let addrs: Vec<SocketAddr> = cluster.instances.iter().map(|s| s.addr).collect();
    let (mut a, wa) = joined(addrs[0], &room).await;
    let (mut b, wb) = joined(addrs[1], &room).await;
    let (c, wc) = joined(addrs[2], &room).await;
    a.expect_peer_joined(&wb.id, None).await;
    a.expect_peer_joined(&wc.id, None).await;
    b.expect_peer_joined(&wc.id, None).await;

    cluster.redis.stop();
    for instance in &cluster.instances {
        eventually(RECV_TIMEOUT, "/healthz says 503", || async {
            instance.get("/healthz").await.status == 503
        })
        .await;
    }
    let mut late = Ws::connect(cluster.front).await;
    late.send_json(json!({ "type": "join", "room": room }))
        .await;
    let refused = late.expect_error("rate-limited", Some("join")).await;
    assert!(
        refused["message"].as_str().unwrap().contains("room store"),
        "{refused}"
    );
    // Connections stay open: a member still gets answers.
    a.send_json(json!({ "type": "signal", "to": wb.id, "data": {} }))
        .await;
    a.expect_error("rate-limited", Some("signal")).await;
    // One leaves while nobody can be told.
    c.close().await;
    b.expect_nothing_queued().await;

    cluster.redis.restart();
    for instance in &cluster.instances {
        eventually(RECV_TIMEOUT, "/healthz says ok", || async {
            instance.get("/healthz").await.status == 200
        })
        .await;
    }
    // The others are told of the one who left, once Redis can tell them;
    // the call goes on, and the room takes newcomers again.
    a.expect_peer_left(&wc.id).await;
    b.expect_peer_left(&wc.id).await;
    a.signal(&wb.id, json!({ "again": true })).await;
    b.expect_signal(&wa.id, json!({ "again": true })).await;
    late.send_json(json!({ "type": "join", "room": room }))
        .await;
    let welcome = late.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["peers"], json!([{ "id": wa.id }, { "id": wb.id }]));
    a.expect_peer_joined(welcome["id"].as_str().unwrap(), None)
        .await;
}

#[tokio::test]
async fn the_protocol_holds_with_its_ends_on_different_instances() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let addrs: Vec<SocketAddr> = cluster.instances.iter().map(|s| s.addr).collect();
    let room = cluster.create_room(2).await;
    let mut a = Ws::connect(addrs[0]).await;
    let wa = a.join(&room, Some("Ada")).await;
    let (mut b, wb) = joined(addrs[1], &room).await;
    assert_eq!(wb.peers, vec![json!({ "id": wa.id, "name": "Ada" })]);
    a.expect_peer_joined(&wb.id, None).await;

    // Chat reaches everyone, the sender included.
    a.send_json(json!({ "type": "chat", "text": "hi" })).await;
    for ws in [&mut a, &mut b] {
        let chat = ws.recv_json().await;
        assert_eq!(chat["text"], "hi", "{chat}");
        assert_eq!(chat["name"], "Ada", "{chat}");
    }
    // Errors, wherever the others are.
    b.signal("nobody", json!({})).await;
    b.expect_error("peer-not-found", Some("signal")).await;
    b.signal(&wb.id, json!({})).await;
    b.expect_error("peer-not-found", Some("signal")).await;
    b.send_json(json!({ "type": "join", "room": room })).await;
    b.expect_error("already-joined", Some("join")).await;
    let mut c = Ws::connect(addrs[2]).await;
    c.signal(&wa.id, json!({})).await;
    c.expect_error("not-in-room", Some("signal")).await;
    c.send_json(json!({ "type": "chat", "text": "x" })).await;
    c.expect_error("not-in-room", Some("chat")).await;
    c.send_json(json!({ "type": "join", "room": room })).await;
    c.expect_error("room-full", Some("join")).await;
    c.send_json(json!({ "type": "join", "room": "no-such-room" }))
        .await;
    c.expect_error("room-not-found", Some("join")).await;

    // B's connection breaks: what A sends waits for B, who comes back on
    // another instance and gets it, in order, after its welcome.
    drop(b.into_tcp());
    let holder = &cluster.instances[1];
    eventually(RECV_TIMEOUT, "B's instance notices", || async {
        holder.metric("parlor_connections").await == 0
    })
    .await;
    a.signal(&wb.id, json!({ "n": 1 })).await;
    a.signal(&wb.id, json!({ "n": 2 })).await;
    a.expect_nothing_queued().await;
    let mut b = Ws::connect(addrs[2]).await;
    b.send_json(json!({ "type": "join", "room": room, "resume": wb.raw["resume"] }))
        .await;
    let welcome = b.recv_json().await;
    assert_eq!(welcome["resumed"], json!(true), "{welcome}");
    b.expect_signal(&wa.id, json!({ "n": 1 })).await;
    b.expect_signal(&wa.id, json!({ "n": 2 })).await;
    a.signal(&wb.id, json!({ "n": 3 })).await;
    b.expect_signal(&wa.id, json!({ "n": 3 })).await;

    // A leaves; a newcomer elsewhere gets the chat so far.
    a.leave().await;
    b.expect_peer_left(&wa.id).await;
    let (mut d, wd) = joined(addrs[0], &room).await;
    let history = d.recv_json().await;
    assert_eq!(
        (&history["text"], &history["history"]),
        (&json!("hi"), &json!(true)),
        "{history}"
    );
    b.expect_peer_joined(&wd.id, None).await;
}

#[tokio::test]
async fn each_instance_names_its_own_turn_server() {
    let Some(cluster) = Cluster::start_with(true, Balancer::Haproxy) else {
        return;
    };
    let room = cluster.create_room(4).await;
    // Through the load balancer: whichever instance takes the connection
    // names its own STUN/TURN address, never the balancer's.
    let mut named = Vec::new();
    for _ in 0..3 {
        let (ws, welcome) = joined(cluster.front, &room).await;
        let urls = welcome.raw["iceServers"].to_string();
        let own: Vec<SocketAddr> = cluster
            .instances
            .iter()
            .map(|s| s.turn())
            .filter(|turn| urls.contains(&format!("turn:{turn}?")))
            .collect();
        assert_eq!(own.len(), 1, "one instance's TURN server in {urls}");
        assert!(!urls.contains(&cluster.front.ip().to_string()), "{urls}");
        named.push(own[0]);
        drop(ws);
    }
    named.sort();
    named.dedup();
    assert_eq!(named.len(), 3, "each of the three named its own: {named:?}");
}

#[test]
fn an_instance_that_would_name_the_balancers_turn_address_does_not_start() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let shared = [
        "--redis",
        &url,
        "--secret",
        "a secret every instance shares",
    ];
    let err = Server::try_with_args(&[&shared[..], &["--turn-listen", "0.0.0.0:0"]].concat())
        .err()
        .expect("refused");
    assert!(err.contains("--turn-external-ip"), "{err}");
}

#[tokio::test]
async fn behind_nginx_with_the_documented_configuration() {
    let Some(cluster) = Cluster::start_with(false, Balancer::Nginx) else {
        return;
    };
    let room = cluster.create_room(2).await;
    let (mut a, wa) = joined(cluster.front, &room).await;
    let (mut b, wb) = joined(cluster.front, &room).await;
    // least_conn sends the second to an instance without the first.
    let mut counts = cluster.connections().await;
    counts.sort();
    assert_eq!(counts, [0, 1, 1], "the two are on different instances");
    a.expect_peer_joined(&wb.id, None).await;
    a.signal(&wb.id, json!({ "sdp": "offer" })).await;
    b.expect_signal(&wa.id, json!({ "sdp": "offer" })).await;
    b.signal(&wa.id, json!({ "sdp": "answer" })).await;
    a.expect_signal(&wb.id, json!({ "sdp": "answer" })).await;
    // The page and its scripts come through too.
    let page = http_request(cluster.front, "GET", "/", None, &[]).await;
    assert_eq!(page.status, 200);
    b.leave().await;
    a.expect_peer_left(&wb.id).await;
}
