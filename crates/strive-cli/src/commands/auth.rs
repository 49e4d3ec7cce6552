//! signup, login, logout.

use crate::context::Ctx;
use anyhow::Result;
use clap::Args;
use strive_replica::signin::host_name;

#[derive(Args)]
pub struct Login {
    /// The Strive server (https://..., or http:// on this machine).
    #[arg(long, env = "STRIVE_SERVER", default_value = "http://127.0.0.1:8787")]
    server: String,
    #[arg(long)]
    email: String,
    /// How admins see this device in the device list (default: the host name).
    #[arg(long)]
    device_name: Option<String>,
}

#[derive(Args)]
pub struct Signup {
    #[command(flatten)]
    login: Login,
    /// Your name as colleagues see it.
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
pub struct Logout {
    /// Also delete this device's encrypted copies of your organizations.
    #[arg(long)]
    forget_data: bool,
}

pub async fn signup(ctx: &Ctx, a: Signup) -> Result<()> {
    let api = ctx.api(&a.login.server)?;
    let password = ctx.password("Choose a password (at least 12 characters)")?;
    api.signup(&a.login.email, &password, a.name.as_deref())
        .await?;
    if !ctx.json {
        println!("Account created for {}.", a.login.email);
    }
    sign_in(ctx, a.login, password).await
}

pub async fn login(ctx: &Ctx, a: Login) -> Result<()> {
    let password = ctx.password("Password")?;
    sign_in(ctx, a, password).await
}

async fn sign_in(ctx: &Ctx, a: Login, password: String) -> Result<()> {
    let api = ctx.api(&a.server)?;
    let device_name = a.device_name.unwrap_or_else(host_name);
    let account = strive_replica::signin::sign_in(
        &ctx.dir,
        &api,
        &a.email,
        &password,
        &device_name,
        ctx.keychain,
    )
    .await?;
    let current = account.profile.current_org;
    let p = &account.profile;
    if ctx.json {
        return crate::output::json(p);
    }
    println!("Signed in as {} on \"{}\".", p.email, p.device_name);
    match current.and_then(|o| p.membership(o)) {
        Some(m) => println!(
            "Current organization: {} ({}). Run `strive sync` to bring it onto this device.",
            m.name, m.role
        ),
        None => println!("You belong to no organization yet: `strive orgs create NAME` makes one."),
    }
    Ok(())
}

pub async fn logout(ctx: &Ctx, a: Logout) -> Result<()> {
    let account = ctx.account()?;
    let api = ctx.api(&account.profile.server_url)?;
    // Ending the session on the server is best effort: offline, the local sign-out still holds.
    let ended = match account.tokens() {
        Ok(t) => api.logout(&t.refresh_token).await.is_ok(),
        Err(_) => false,
    };
    let account = std::sync::Arc::try_unwrap(account)
        .map_err(|_| anyhow::anyhow!("the account is still in use"))?;
    account.forget(a.forget_data)?;
    if !ctx.json {
        println!(
            "Signed out on this device{}.",
            if ended {
                ""
            } else {
                " (the server was not reachable; the session ends when it expires)"
            }
        );
        if a.forget_data {
            println!("Local copies deleted.");
        }
    }
    Ok(())
}
