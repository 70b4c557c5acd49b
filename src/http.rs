//! The HTTP surface: the room API, the embedded web app, the WebSocket
//! upgrade, health and metrics, and the security headers on every answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::json;

use crate::assets;
use crate::hub::Hub;
use crate::protocol::{ErrorCode, MAX_FRAME_BYTES, Refusal};
use crate::session::{self, Liveness};

/// Socket read chunk of a WebSocket. Small, because it is allocated for
/// every connection, idle or not; larger messages still assemble fine.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Largest request body the API reads.
const MAX_BODY_BYTES: usize = 4 * 1024;

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    liveness: Liveness,
}

pub fn router(hub: Arc<Hub>, liveness: Liveness) -> Router {
    Router::new()
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
        .with_state(AppState { hub, liveness })
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
}

async fn create_room(State(state): State<AppState>, body: Bytes) -> Response {
    let capacity = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<CreateRoom>(&body) {
            Ok(request) => request.capacity,
            Err(_) => {
                let refusal = Refusal::bad_request(
                    "the body must be a JSON object like {\"capacity\": 2}, with a whole number",
                );
                return error_response(StatusCode::BAD_REQUEST, &refusal);
            }
        }
    };
    match state.hub.create_room(capacity) {
        Ok((room, capacity)) => (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/r/{room}"))],
            Json(json!({ "room": room, "capacity": capacity })),
        )
            .into_response(),
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
    match state.hub.room_summary(&room) {
        Some(summary) => Json(json!({
            "room": room,
            "capacity": summary.capacity,
            "members": summary.members,
        }))
        .into_response(),
        None => error_response(
            StatusCode::NOT_FOUND,
            &Refusal::new(ErrorCode::RoomNotFound, "this room does not exist"),
        ),
    }
}

async fn websocket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session::run(socket, state.hub, state.liveness))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.hub.render_metrics(),
    )
        .into_response()
}
