//! `ztd audit`: the audit log of a tenant, newest first: every administrative change (through Graph, the
//! native API or an operator command) and every refused attempt, with who made it. An operator command: it
//! opens the database directly, as `ztd tenant` does.

use std::process::ExitCode;

use serde_json::{json, Value};
use ztd_core::event::{ActorKind, AuditCategory, Event, EventKind};

use super::ca::DatabaseArgs;

/// The audit log.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tenant id or domain.
    #[arg(long)]
    tenant: String,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    /// Only refused attempts.
    #[arg(long)]
    failures: bool,
    /// Only entries of this actor (a user principal name, an application id or an operator account).
    #[arg(long)]
    actor: Option<String>,
    /// Print as JSON lines (for scripts).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// How many entries one read takes while filtering.
const PAGE: u32 = 500;

fn actor_name(event: &Event) -> String {
    let Some(actor) = &event.actor else {
        return String::new();
    };
    match actor.kind {
        ActorKind::User => format!(
            "{} (via {})",
            actor.user_principal_name, actor.application_id
        ),
        ActorKind::Application => format!("app {}", actor.application_id),
        ActorKind::Operator => format!("operator {}", actor.id),
    }
}

fn matches_actor(event: &Event, wanted: &str) -> bool {
    event.actor.as_ref().is_some_and(|actor| {
        [&actor.id, &actor.user_principal_name, &actor.application_id]
            .iter()
            .any(|name| name.eq_ignore_ascii_case(wanted))
    })
}

fn is_failure(event: &Event) -> bool {
    event.kind == EventKind::RequestRefused.as_str()
}

/// What a refused entry says, or the change's subject.
fn what(event: &Event) -> String {
    if is_failure(event) {
        let text = |key: &str| {
            event
                .data
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        format!(
            "{} {} → {} {}",
            text("method"),
            event.subject,
            event
                .data
                .get("status")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            text("code")
        )
    } else {
        event.subject.clone()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        let app = args.database.open().await?;
        let tenant = super::tenant::find_tenant(&app, &args.tenant).await?;
        let mut shown: Vec<Event> = Vec::new();
        let mut before = None;
        // Filters are applied while reading on, page by page, until enough entries or the log's start.
        'read: loop {
            let page = app
                .audit_events(tenant, before, PAGE, &AuditCategory::ALL)
                .await?;
            let Some((last, _)) = page.last() else { break };
            before = Some(*last);
            for (_, event) in page {
                let wanted = (!args.failures || is_failure(&event))
                    && args
                        .actor
                        .as_deref()
                        .is_none_or(|a| matches_actor(&event, a));
                if wanted {
                    shown.push(event);
                    if shown.len() >= args.limit as usize {
                        break 'read;
                    }
                }
            }
        }
        if args.json {
            for event in &shown {
                let line = json!({
                    "id": event.id,
                    "at": event.at.to_rfc3339(),
                    "kind": event.kind,
                    "result": if is_failure(event) { "failure" } else { "success" },
                    "subject": event.subject,
                    "actor": event.actor,
                    "data": event.data,
                });
                println!("{line}");
            }
        } else if shown.is_empty() {
            eprintln!("no audit entries match");
        } else {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
            table.set_header(["TIME", "RESULT", "ACTOR", "ACTIVITY", "OBJECT"]);
            for event in &shown {
                table.add_row([
                    event.at.to_rfc3339_seconds(),
                    if is_failure(event) {
                        "failure"
                    } else {
                        "success"
                    }
                    .to_string(),
                    actor_name(event),
                    event.kind.clone(),
                    what(event),
                ]);
            }
            println!("{table}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
