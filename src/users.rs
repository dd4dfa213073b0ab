//! `pairlab users add|list|revoke`: the accounts of a shared `pairlab serve`.

use anyhow::Result;
use clap::Subcommand;
use pairlab_core::Library;
use pairlab_core::users::Role;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a user; prints their token once (give it to them; only its hash is kept).
    /// While any user is active, `pairlab serve` requires a user's token on every request.
    Add {
        name: String,
        /// annotator (label, flag), reviewer (also accept/reject), admin (also index,
        /// train, cancel jobs).
        #[arg(long, default_value = "annotator")]
        role: String,
        #[arg(long)]
        json: bool,
    },
    /// The users, with their roles and whether they are revoked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's token (their labels stay theirs).
    Revoke { name: String },
}

pub fn run(lib: &Library, cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::Add { name, role, json } => {
            let role = Role::parse(&role)?;
            let token = lib.add_user(&name, role)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"name": name, "role": role, "token": token})
                );
            } else {
                println!(
                    "added {name} ({}); their token, shown this once:",
                    role.name()
                );
                println!("{token}");
            }
        }
        UsersCommand::List { json } => {
            let users = lib.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else if users.is_empty() {
                println!(
                    "no users: pairlab serve is open to whoever reaches it (loopback by default)"
                );
            }
            for u in users.iter().filter(|_| !json) {
                let state = match &u.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "active".into(),
                };
                println!(
                    "{:<24} {:<10} added {}  {state}",
                    u.name,
                    u.role.name(),
                    u.created_at
                );
            }
        }
        UsersCommand::Revoke { name } => {
            lib.revoke_user(&name)?;
            println!("revoked {name}'s token");
        }
    }
    Ok(())
}
