//! orgs, orgs create, use.

use crate::context::Ctx;
use crate::output;
use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use strive_replica::account::Account;
use strive_replica::api::{Auth, Me};

#[derive(Args)]
pub struct Orgs {
    #[command(subcommand)]
    action: Option<OrgAction>,
}

#[derive(Subcommand)]
enum OrgAction {
    /// Create an organization (you become its owner) and switch to it.
    Create { name: String },
}

#[derive(Args)]
pub struct Use {
    /// The organization's name, slug or id.
    org: String,
}

/// Who the server says the user is now; `None` when it cannot be reached.
async fn whoami(auth: &Auth) -> Result<Option<Me>> {
    let me = match auth.token().await {
        Ok(t) => auth.api().me(&t).await,
        Err(e) => Err(e),
    };
    match me {
        Ok(me) => Ok(Some(me)),
        Err(e) if e.is_transient() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn orgs(ctx: &Ctx, a: Orgs) -> Result<()> {
    let account = ctx.account()?;
    let auth = ctx.auth(account.clone())?;
    let mut profile = account.profile.clone();
    let mut created = None;
    if let Some(OrgAction::Create { name }) = a.action {
        let token = auth.token().await?;
        let org = auth.api().create_org(&token, &name).await?;
        profile.current_org = Some(org.id);
        created = Some(org);
    }
    let me = whoami(&auth).await?;
    let online = me.is_some();
    if let Some(me) = me {
        profile.organizations = me.organizations;
        profile.global_role = me.user.role;
    }
    Account::write_profile(&ctx.dir, &profile)?;
    if let Some(org) = created {
        ctx.open_replica(org.id, Some(&account))?;
        if !ctx.json {
            println!("Created {} and switched to it.", org.name);
        }
    }
    if ctx.json {
        return output::json(&profile.organizations);
    }
    if profile.organizations.is_empty() {
        println!("You belong to no organization yet: `strive orgs create NAME` makes one.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = profile
        .organizations
        .iter()
        .map(|m| {
            let current = Some(m.organization_id) == profile.current_org;
            vec![
                if current { "*" } else { "" }.into(),
                m.name.clone(),
                m.slug.clone(),
                m.role.to_string(),
                m.tier.to_string(),
                m.organization_id.to_string(),
            ]
        })
        .collect();
    output::table(&["", "NAME", "SLUG", "ROLE", "TIER", "ID"], &rows);
    if !online {
        println!("(offline: the list as of the last refresh)");
    }
    Ok(())
}

pub fn use_org(ctx: &Ctx, a: Use) -> Result<()> {
    let mut profile = ctx.profile()?;
    let m = profile
        .find_org(&a.org)
        .ok_or_else(|| {
            anyhow!(
                "you are not a member of \"{}\"; `strive orgs` lists yours",
                a.org
            )
        })?
        .clone();
    let account = ctx.account()?;
    ctx.open_replica(m.organization_id, Some(&account))?;
    profile.current_org = Some(m.organization_id);
    Account::write_profile(&ctx.dir, &profile)?;
    if ctx.json {
        return output::json(&m);
    }
    println!("Now working in {} ({}).", m.name, m.role);
    Ok(())
}
