//! Login throttling, kept in PostgreSQL so every server instance shares the counts.
//!
//! An attempt is counted *before* the password is checked, as a failure, inside a transaction
//! that holds advisory locks on the account and the address: concurrent guesses queue up behind
//! each other and each one sees the ones before it, so a burst cannot slip past the limit.
//! A correct password then turns its attempt into a success.

use crate::config::LoginLimits;
use crate::error::ApiError;
use sqlx::PgPool;

/// One login attempt on the books, until the password check settles it.
pub struct Attempt {
    id: i64,
}

/// Refuses the attempt when the account has too many recent failures or the client address too
/// many recent attempts; otherwise records it (as a failure until [`succeeded`] says otherwise).
pub async fn begin(
    pool: &PgPool,
    limits: &LoginLimits,
    email: &str,
    addr: &str,
) -> Result<Attempt, ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('login:' || $1)), pg_advisory_xact_lock(hashtext('addr:' || $2))")
        .bind(email)
        .bind(addr)
        .execute(&mut *tx)
        .await?;
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
    .fetch_one(&mut *tx)
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO login_attempts (email, client_addr, succeeded) VALUES ($1, $2, false) RETURNING id",
    )
    .bind(email)
    .bind(addr)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt { id })
}

/// The password was right: the attempt no longer counts as a failure.
pub async fn succeeded(pool: &PgPool, attempt: Attempt) -> Result<(), ApiError> {
    sqlx::query("UPDATE login_attempts SET succeeded = true WHERE id = $1")
        .bind(attempt.id)
        .execute(pool)
        .await?;
    Ok(())
}
