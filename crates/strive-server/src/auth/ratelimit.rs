//! Login throttling, kept in PostgreSQL so every server instance shares the counts.

use crate::config::LoginLimits;
use crate::error::ApiError;
use sqlx::PgPool;

/// Refuses a login attempt when the account has too many recent failures or the client address
/// too many recent attempts. Checked before the password, so a throttled guess learns nothing.
pub async fn check(
    pool: &PgPool,
    limits: &LoginLimits,
    email: &str,
    addr: &str,
) -> Result<(), ApiError> {
    let (account_failures, addr_attempts): (i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM login_attempts
             WHERE email = $1 AND NOT succeeded AND at > now() - make_interval(secs => $2)),
           (SELECT count(*) FROM login_attempts
             WHERE client_addr = $3 AND at > now() - make_interval(secs => $4))",
    )
    .bind(email)
    .bind(limits.account_window.as_secs_f64())
    .bind(addr)
    .bind(limits.addr_window.as_secs_f64())
    .fetch_one(pool)
    .await?;
    if account_failures >= limits.account_failures {
        return Err(ApiError::TooManyRequests {
            message: "Too many failed sign-in attempts for this account; try again later".into(),
            retry_after: limits.account_window.as_secs(),
        });
    }
    if addr_attempts >= limits.addr_attempts {
        return Err(ApiError::TooManyRequests {
            message: "Too many sign-in attempts from this address; try again later".into(),
            retry_after: limits.addr_window.as_secs(),
        });
    }
    Ok(())
}

pub async fn record(
    pool: &PgPool,
    email: &str,
    addr: &str,
    succeeded: bool,
) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO login_attempts (email, client_addr, succeeded) VALUES ($1, $2, $3)")
        .bind(email)
        .bind(addr)
        .bind(succeeded)
        .execute(pool)
        .await?;
    Ok(())
}
