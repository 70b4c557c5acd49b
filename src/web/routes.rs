//! The HTTP routes: the room API, the embedded web app, the WebSocket
//! upgrade, health and metrics, and the security headers on every answer.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::json;

use super::assets;
use super::forwarded::client_ip;
use super::listener::ClientAddr;
use crate::limits::{AddressGate, ConnectionRefused};
use crate::metrics;
use crate::rooms::{ErrorCode, Refusal, RoomKind};
use crate::shutdown::Shutdown;
use crate::signaling::{self, Hub, SessionSettings};
use crate::state::rooms::KeptRooms;
use crate::turn::Cidr;

/// Socket read chunk of a WebSocket. Small, because it is allocated for
/// every connection, idle or not; it grows to fit each larger frame.
const READ_BUFFER_BYTES: usize = 256;

/// Largest request body the API reads.
const MAX_BODY_BYTES: usize = 4 * 1024;

/// What the routes need.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) hub: Arc<Hub>,
    pub(crate) sessions: SessionSettings,
    pub(crate) addresses: Arc<AddressGate>,
    pub(crate) shutdown: Shutdown,
    pub(crate) metrics: Arc<metrics::Registry>,
    /// Web origins allowed to open the WebSocket besides the server's own,
    /// lower case, without a trailing slash.
    pub(crate) allowed_origins: Arc<[String]>,
    /// Proxies whose `X-Forwarded-For` names the client (see `forwarded`).
    pub(crate) trusted_proxies: Arc<[Cidr]>,
    /// Whether the server speaks HTTPS: its own origin is then `https:`,
    /// and answers carry `Strict-Transport-Security`.
    pub(crate) tls: bool,
    /// The room list of the state directory, if kept: every room made is
    /// put on it before its creator hears of it.
    pub(crate) kept_rooms: Option<Arc<KeptRooms>>,
}

/// Normalizes `--allowed-origin` values for [`AppState::allowed_origins`].
pub(crate) fn allowed_origins(origins: &[String]) -> Arc<[String]> {
    origins
        .iter()
        .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
        .collect()
}

pub(crate) fn router(state: AppState) -> Router {
    let tls = state.tls;
    let router = Router::new()
        .route("/", get(app_page))
        .route("/r/{room}", get(app_page))
        .route("/static/{*path}", get(static_file))
        .route("/api/rooms", post(create_room))
        .route("/api/rooms/{room}", get(room_status))
        .route("/ws", get(websocket))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(security_headers))
        .with_state(state);
    if tls {
        router.layer(middleware::map_response(strict_transport_security))
    } else {
        router
    }
}

/// Under TLS, tells browsers to come back only over HTTPS for a year, so
/// that nobody on the path can serve them a plain-HTTP imitation (with a
/// room link in its address). Not sent over plain HTTP, where it means
/// nothing.
async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// Headers every answer carries. The room id is the secret of a call, so no
/// page may send it to another site as a referrer; the app runs no inline
/// script, so the policy forbids it.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let mut set = |name, value| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self' blob: mediastream:; connect-src 'self'; manifest-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::HeaderName::from_static("permissions-policy"),
        "camera=(self), microphone=(self), display-capture=(self), speaker-selection=(self)",
    );
    response
}

fn error_response(status: StatusCode, refusal: &Refusal) -> Response {
    let body = json!({ "error": { "code": refusal.code, "message": refusal.message } });
    (status, Json(body)).into_response()
}

fn embedded(path: &str) -> Response {
    match assets::get(path) {
        Some((body, media_type)) => (
            [
                (header::CONTENT_TYPE, media_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

async fn app_page() -> Response {
    embedded("index.html")
}

async fn static_file(Path(path): Path<String>) -> Response {
    embedded(&path)
}

#[derive(Deserialize)]
struct CreateRoom {
    #[serde(default)]
    capacity: Option<u64>,
    /// Extension: how the room carries media; `mesh` when not given.
    #[serde(default)]
    kind: Option<String>,
}

async fn create_room(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client_ip(&addr, &headers, &state.trusted_proxies);
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        CreateRoom {
            capacity: None,
            kind: None,
        }
    } else {
        // serde would also take a struct from an array (`[3]`): only an
        // object is a valid body.
        let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        match serde_json::from_slice::<CreateRoom>(&body) {
            Ok(request) if is_object => request,
            _ => {
                let refusal = Refusal::bad_request(
                    "the body must be a JSON object like {\"capacity\": 2}, with a whole number",
                );
                return error_response(StatusCode::BAD_REQUEST, &refusal);
            }
        }
    };
    let kind = match request.kind.as_deref().map(str::parse::<RoomKind>) {
        None => None,
        Some(Ok(kind)) => Some(kind),
        Some(Err(refusal)) => return error_response(StatusCode::BAD_REQUEST, &refusal),
    };
    if !state.addresses.may_create_room(client) {
        state.hub.metrics().error(ErrorCode::RateLimited);
        let refusal = Refusal::new(
            ErrorCode::RateLimited,
            "too many rooms created from your address; try again in a minute",
        );
        return error_response(StatusCode::TOO_MANY_REQUESTS, &refusal);
    }
    match state
        .hub
        .create_room(kind.unwrap_or_default(), request.capacity)
        .await
    {
        Ok((room, capacity)) => {
            if let Some(kept) = &state.kept_rooms
                && let Err(err) = kept.created(&room, capacity as usize, SystemTime::now())
            {
                tracing::warn!(%err, "cannot put a new room on the room list; \
                    its invite link will not survive a restart");
            }
            // PROTOCOL.md gives the body exactly; `kind` is added only for a
            // client that asked for one, and so knows the field.
            let mut body = json!({ "room": room, "capacity": capacity });
            if let Some(kind) = kind {
                body["kind"] = json!(kind);
            }
            (
                StatusCode::CREATED,
                [(header::LOCATION, format!("/r/{room}"))],
                Json(body),
            )
                .into_response()
        }
        Err(refusal) => {
            let status = match refusal.code {
                ErrorCode::RateLimited => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            error_response(status, &refusal)
        }
    }
}

/// An extension to PROTOCOL.md: lets the pre-join screen say "this room does
/// not exist" or "this room is full" before asking for the camera.
async fn room_status(State(state): State<AppState>, Path(room): Path<String>) -> Response {
    match state.hub.room_summary(&room).await {
        Some(summary) => {
            let mut body = json!({
                "room": room,
                "capacity": summary.capacity,
                "members": summary.members,
            });
            // Absent means a mesh, as it meant before rooms had kinds.
            if summary.kind != RoomKind::Mesh {
                body["kind"] = json!(summary.kind);
            }
            Json(body).into_response()
        }
        None => error_response(
            StatusCode::NOT_FOUND,
            &Refusal::new(ErrorCode::RoomNotFound, "this room does not exist"),
        ),
    }
}

async fn websocket(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client_ip(&addr, &headers, &state.trusted_proxies);
    if !origin_allowed(&headers, &state.allowed_origins, state.tls) {
        let refusal = Refusal::bad_request("this page's origin may not use this server");
        return error_response(StatusCode::FORBIDDEN, &refusal);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let admission = match state.addresses.admit(client) {
        Ok(admission) => admission,
        Err(refused) => {
            state.hub.metrics().error(ErrorCode::RateLimited);
            let refusal = Refusal::new(
                ErrorCode::RateLimited,
                match refused {
                    ConnectionRefused::ServerFull => "the server has too many connections",
                    ConnectionRefused::AddressFull => "too many connections from your address",
                },
            );
            return error_response(StatusCode::SERVICE_UNAVAILABLE, &refusal);
        }
    };
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(signaling::MAX_FRAME_BYTES)
        .max_frame_size(signaling::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            signaling::run_session(
                socket,
                state.hub,
                state.sessions,
                state.shutdown,
                admission,
                host,
            )
        })
}

/// Guards against cross-site WebSocket hijacking: a browser always sends
/// `Origin`, and only the server's own origin (or an allowed one) may open a
/// session. Clients that are not browsers send no `Origin` and are let in.
///
/// The server's own origin is the scheme it speaks with the `Host` the
/// browser used. Over HTTPS that name is one the certificate vouches for.
/// Over plain HTTP it proves nothing: a site whose name an attacker points
/// at this server (DNS rebinding) sends a matching `Host`. So plain HTTP
/// trusts `Host` only when no DNS answer is involved: `localhost` or an IP
/// address; any other name must be listed with `--allowed-origin`.
fn origin_allowed(headers: &HeaderMap, allowed: &[String], tls: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    if allowed.contains(&origin) {
        return true;
    }
    let scheme = if tls { "https" } else { "http" };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    match origin.split_once("://") {
        Some((origin_scheme, origin_host)) => {
            origin_scheme == scheme
                && origin_host.eq_ignore_ascii_case(host)
                && (tls || needs_no_dns(host))
        }
        None => false,
    }
}

/// True when `host` (a `Host` header: name or address, maybe a port) is
/// `localhost` or an IP address.
fn needs_no_dns(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_started() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if !state.hub.store_reachable() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the room store (Redis) cannot be reached\n",
        )
            .into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn same_origin_and_listed_origins_are_allowed() {
        let allowed = ["https://app.example.org".to_owned()];
        assert!(origin_allowed(
            &headers(Some("http://localhost:8080"), "localhost:8080"),
            &[],
            false
        ));
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &[],
            false
        ));
        assert!(origin_allowed(
            &headers(Some("http://[::1]:8080"), "[::1]:8080"),
            &[],
            false
        ));
        assert!(origin_allowed(
            &headers(Some("https://App.Example.org"), "parlor:8080"),
            &allowed,
            false
        ));
        assert!(origin_allowed(
            &headers(Some("https://meet.example.org"), "meet.example.org"),
            &[],
            true
        ));
        assert!(origin_allowed(&headers(None, "localhost:8080"), &[], false));
    }

    #[test]
    fn a_name_over_plain_http_or_another_scheme_is_refused() {
        // DNS rebinding: the attacker's name, resolved to this server.
        assert!(!origin_allowed(
            &headers(Some("http://evil.example:8080"), "evil.example:8080"),
            &[],
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("https://localhost:8080"), "localhost:8080"),
            &[],
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("http://meet.example.org"), "meet.example.org"),
            &[],
            true
        ));
    }

    #[test]
    fn other_origins_are_refused() {
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "localhost:8080"),
            &[],
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("http://localhost:8081"), "localhost:8080"),
            &[],
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "localhost:8080"),
            &[],
            false
        ));
    }
}
