//! Sign up, sign in, refresh, sign out.

use crate::auth::{password, ratelimit, tokens};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use strive_domain::values::{Email, Text};
use strive_domain::{DeviceId, UserId, ValidationError};
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: UserId,
    pub email: String,
}

/// The device a session belongs to; shown to admins in the sync status list.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    pub id: DeviceId,
    pub name: String,
    pub platform: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub device: Option<DeviceInfo>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub user_id: UserId,
}

#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignUp,
    responses((status = 201, body = Account), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignUp>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    let mut errors = ValidationError::default();
    let email = Email::parse(&body.email);
    if let Err(e) = &email {
        errors.fields.push(field("email", &e.0));
    }
    if let Err(e) = password::check_strength(&body.password) {
        errors.fields.push(field("password", &e));
    }
    let name = match body.name.as_deref().map(Text::<1, 100>::parse) {
        Some(Err(e)) => {
            errors.fields.push(field("name", &e.0));
            None
        }
        Some(Ok(n)) => Some(n.into_string()),
        None => None,
    };
    let email = match email {
        Ok(e) if errors.fields.is_empty() => e,
        _ => return Err(ApiError::Invalid(errors)),
    };
    let hash = password::hash(body.password)
        .await
        .map_err(ApiError::Internal)?;
    let id = UserId::new();
    sqlx::query(
        "INSERT INTO identities (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(email.as_str())
    .bind(hash)
    .bind(name)
    .execute(state.pool())
    .await?;
    tracing::info!(user = %id, "account created");
    Ok((
        StatusCode::CREATED,
        Json(Account {
            id,
            email: email.as_str().to_string(),
        }),
    ))
}

fn field(name: &str, message: &str) -> strive_domain::FieldError {
    strive_domain::FieldError {
        field: name.into(),
        message: message.into(),
    }
}

#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Session), (status = 401, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Json<Session>> {
    let email = body.email.trim().to_lowercase();
    let addr = peer.ip().to_string();
    let limits = &state.config().limits;
    let attempt = ratelimit::begin(state.pool(), limits, &email, &addr).await?;

    let found: Option<(UserId, String)> =
        sqlx::query_as("SELECT id, password_hash FROM identities WHERE email = $1")
            .bind(&email)
            .fetch_optional(state.pool())
            .await?;
    let (id, stored) = match found {
        Some((id, h)) => (Some(id), Some(h)),
        None => (None, None),
    };
    let ok = password::verify(body.password, stored)
        .await
        .map_err(ApiError::Internal)?;
    let id = match (ok, id) {
        (true, Some(id)) => id,
        _ => return Err(ApiError::Unauthorized("Wrong email or password".into())),
    };
    ratelimit::succeeded(state.pool(), attempt).await?;

    let device = match body.device {
        Some(d) => Some(register_device(&state, id, d).await?),
        None => None,
    };
    let session = start_session(&state, id, device, Uuid::now_v7()).await?;
    tracing::info!(user = %id, device = ?device, "signed in");
    Ok(Json(session))
}

/// Registers the device on its first login and refreshes its name, platform and last-seen time
/// on the next ones. A device id already bound to another account is refused.
async fn register_device(state: &AppState, user: UserId, d: DeviceInfo) -> ApiResult<DeviceId> {
    let name = Text::<1, 100>::parse(&d.name)
        .map_err(|e| ApiError::Invalid(ValidationError::single("device.name", e.0)))?;
    let platform = Text::<1, 50>::parse(&d.platform)
        .map_err(|e| ApiError::Invalid(ValidationError::single("device.platform", e.0)))?;
    let bound: Option<UserId> = sqlx::query_scalar(
        "INSERT INTO devices (id, identity_id, name, platform) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, platform = excluded.platform,
                                        last_seen_at = now()
           WHERE devices.identity_id = excluded.identity_id
         RETURNING identity_id",
    )
    .bind(d.id)
    .bind(user)
    .bind(name.as_str())
    .bind(platform.as_str())
    .fetch_optional(state.pool())
    .await?;
    match bound {
        Some(_) => Ok(d.id),
        None => Err(ApiError::Conflict(
            "This device is registered to another account; sign that account out first".into(),
        )),
    }
}

async fn start_session(
    state: &AppState,
    user: UserId,
    device: Option<DeviceId>,
    family: Uuid,
) -> ApiResult<Session> {
    let (refresh, hash) = tokens::new_refresh_token();
    let ttl = state.config().refresh_ttl;
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, identity_id, device_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
    )
    .bind(Uuid::now_v7())
    .bind(family)
    .bind(user)
    .bind(device)
    .bind(hash)
    .bind(ttl.as_secs_f64())
    .execute(state.pool())
    .await?;
    let access = state
        .keys()
        .issue(user, device)
        .map_err(ApiError::Internal)?;
    Ok(Session {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.keys().ttl().as_secs(),
        refresh_token: refresh,
        user_id: user,
    })
}

#[derive(sqlx::FromRow)]
struct StoredRefresh {
    id: Uuid,
    family_id: Uuid,
    identity_id: UserId,
    device_id: Option<DeviceId>,
    used: bool,
    /// Used within the retry window (see [`RETRY_WINDOW_SECS`]).
    recently_used: bool,
    revoked: bool,
    expired: bool,
}

/// How long after a refresh its token may be presented again as a retry: the answer to the
/// first attempt can be lost on the way (a dropped connection), and the client then has nothing
/// but the old token.
const RETRY_WINDOW_SECS: i32 = 120;

/// Trades a refresh token for a new pair. Each refresh token works once. Presenting a used one
/// again is a retry only while it was used moments ago and nobody has used what it was traded
/// for: the untouched successor is then replaced. Otherwise the token was stolen or replayed,
/// and its whole family is revoked — as it is when a successor replaced by such a retry turns
/// up later (the retry came from someone else).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Session), (status = 401, body = crate::error::ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<Json<Session>> {
    let hash = tokens::hash_refresh_token(body.refresh_token.trim());
    let mut tx = state.pool().begin().await?;
    let stored: Option<StoredRefresh> = sqlx::query_as(
        "SELECT id, family_id, identity_id, device_id, used_at IS NOT NULL AS used,
                coalesce(used_at > now() - make_interval(secs => $2), false) AS recently_used,
                revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(&hash)
    .bind(f64::from(RETRY_WINDOW_SECS))
    .fetch_optional(&mut *tx)
    .await?;
    let invalid =
        || ApiError::Unauthorized("This session is no longer valid; sign in again".into());
    let stored = stored.ok_or_else(invalid)?;
    // The family's live tokens, locked: what this token was traded for, if anything.
    let live: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, used_at IS NOT NULL FROM refresh_tokens
          WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > now() AND id <> $2
          FOR UPDATE",
    )
    .bind(stored.family_id)
    .bind(stored.id)
    .fetch_all(&mut *tx)
    .await?;
    let retry = stored.used
        && !stored.revoked
        && !stored.expired
        && stored.recently_used
        && live.iter().all(|(_, used)| !used);
    let stolen = (stored.used && !stored.revoked && !retry)
        || (stored.revoked && !stored.expired && !live.is_empty());
    if stolen {
        revoke_family(&mut tx, stored.family_id).await?;
        tx.commit().await?;
        tracing::warn!(user = %stored.identity_id, "refresh token reuse detected; session family revoked");
        return Err(ApiError::Unauthorized(
            "This session was used from somewhere else and has been signed out for safety; sign in again".into(),
        ));
    }
    if (stored.revoked || stored.expired) && !retry {
        return Err(invalid());
    }
    if retry {
        for (id, _) in &live {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = coalesce(used_at, now()) WHERE id = $1")
        .bind(stored.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let session = start_session(
        &state,
        stored.identity_id,
        stored.device_id,
        stored.family_id,
    )
    .await?;
    Ok(Json(session))
}

async fn revoke_family(conn: &mut sqlx::PgConnection, family: Uuid) -> ApiResult<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the session the refresh token belongs to (its whole family). Always answers 204, so the
/// endpoint says nothing about which tokens exist.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let hash = tokens::hash_refresh_token(body.refresh_token.trim());
    let mut tx = state.pool().begin().await?;
    let family: Option<Uuid> =
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(f) = family {
        revoke_family(&mut tx, f).await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
