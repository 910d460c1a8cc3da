//! The operator's `ztd tenant` and `ztd app` (on the database) and `ztd user` (through the Graph API) against
//! a real server: a second tenant with its own app and users, a CSV import with a refused row, and the first
//! tenant seeing none of it.

use std::process::{Command, Output};

use serde_json::Value;

fn ztd(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ztd"));
    command.args(args);
    for var in [
        "ZTD_SERVER",
        "ZTD_TENANT_ID",
        "ZTD_CLIENT_ID",
        "ZTD_CLIENT_SECRET",
        "ZTD_DATA_DIR",
        "ZTD_DATABASE_URL",
    ] {
        command.env_remove(var);
    }
    command.env("ZTD_CREDENTIALS", "/nonexistent/credentials.json");
    command
}

async fn run(command: Command) -> Output {
    let mut command = tokio::process::Command::from(command);
    command.output().await.expect("ztd runs")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn as_app(mut command: Command, base: &str, tenant: &str, client: &str, secret: &str) -> Command {
    command
        .env("ZTD_SERVER", base)
        .env("ZTD_TENANT_ID", tenant)
        .env("ZTD_CLIENT_ID", client)
        .env("ZTD_CLIENT_SECRET", secret);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_a_tenant_and_an_app_and_its_administrator_adds_users() {
    let (store, dir) = ztd_testkit::sqlite_store().await;
    let served = ztd_testkit::serve(store, "Contoso", "contoso.example", None).await;
    let data = dir.path().to_str().unwrap().to_string();

    let out = run(ztd(&[
        "tenant",
        "create",
        "--name",
        "Fabrikam",
        "--domain",
        "fabrikam.example",
        "--data-dir",
        &data,
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tenant_id = text(&out.stdout).trim().to_string();
    let out = run(ztd(&["tenant", "list", "--json", "--data-dir", &data])).await;
    let tenants: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tenants.as_array().unwrap().len(), 2, "{tenants}");

    let out = run(ztd(&[
        "app",
        "create",
        "--tenant",
        "fabrikam.example",
        "--name",
        "x",
        "--role",
        "Everything.All",
        "--data-dir",
        &data,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a permission ztd knows"),
        "{}",
        text(&out.stderr)
    );
    let out = run(ztd(&[
        "app",
        "create",
        "--tenant",
        "fabrikam.example",
        "--name",
        "admin",
        "--json",
        "--data-dir",
        &data,
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["tenantId"], tenant_id.as_str());
    let (client, secret) = (
        created["clientId"].as_str().unwrap(),
        created["clientSecret"].as_str().unwrap(),
    );

    let fabrikam = |args: &[&str]| as_app(ztd(args), &served.base, &tenant_id, client, secret);
    let out = run(fabrikam(&[
        "user",
        "create",
        "--upn",
        "ada@fabrikam.example",
        "--password",
        "Corr3ct-horse!",
        "--role",
        "administrator",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let csv = dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "userPrincipalName,displayName,password,role\n\
         bob@fabrikam.example,Bob,B0b-password!,user\n\
         eve@elsewhere.example,Eve,Ev3-password!,user\n\
         carol@fabrikam.example,Carol,C4rol-password!,readOnly\n",
    )
    .unwrap();
    let out = run(fabrikam(&[
        "user",
        "import",
        csv.to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "a refused row makes the exit code 4"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused: Vec<&Value> = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(refused.len(), 1, "{report}");
    assert_eq!(refused[0]["row"], 3);
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains("verified domain"),
        "{report}"
    );

    let out = run(fabrikam(&["user", "list", "--json"])).await;
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ada@fabrikam.example",
            "bob@fabrikam.example",
            "carol@fabrikam.example"
        ]
    );

    // The first tenant's administrator sees none of them.
    let contoso = as_app(
        ztd(&["user", "list", "--json"]),
        &served.base,
        &served.first.tenant.id.to_string(),
        &served.first.client_id,
        &served.first.client_secret,
    );
    let users: Value = serde_json::from_slice(&run(contoso).await.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 0);
    let out = run(fabrikam(&["user", "delete", "bob@fabrikam.example"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The operator lists and deletes the app: its secret no longer signs in.
    let out = run(ztd(&[
        "app",
        "list",
        "--tenant",
        &tenant_id,
        "--json",
        "--data-dir",
        &data,
    ]))
    .await;
    let apps: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(apps[0]["clientId"], client, "{apps}");
    let out = run(ztd(&[
        "app",
        "delete",
        "--tenant",
        "fabrikam.example",
        client,
        "--data-dir",
        &data,
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(fabrikam(&["user", "list"])).await;
    assert!(!out.status.success(), "a deleted app's secret still works");

    // The audit log names the operator for their commands and the app for its Graph calls, newest first.
    let mut audit = ztd(&[
        "audit",
        "--tenant",
        "fabrikam.example",
        "--json",
        "--limit",
        "100",
        "--data-dir",
        &data,
    ]);
    audit.env("USER", "ops-alice");
    let out = run(audit).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries[0]["kind"], "client.deleted", "{entries:#?}");
    assert_eq!(entries[0]["actor"]["kind"], "operator");
    let deleted_user = entries
        .iter()
        .find(|e| e["kind"] == "user.deleted")
        .expect("the user deletion is in the log");
    assert_eq!(deleted_user["actor"]["kind"], "application");
    assert_eq!(deleted_user["actor"]["applicationId"], client);
    assert!(entries.iter().any(|e| e["kind"] == "client.created"));
    // The refused `--role Everything.All` changed nothing and came from no request: it is not an entry.
    let out = run(ztd(&[
        "audit",
        "--tenant",
        "fabrikam.example",
        "--actor",
        client,
        "--data-dir",
        &data,
    ]))
    .await;
    let table = text(&out.stdout);
    assert!(
        table.contains("user.created") && !table.contains("client.deleted"),
        "{table}"
    );
    // The first tenant's log has none of it.
    let out = run(ztd(&[
        "audit",
        "--tenant",
        "contoso.example",
        "--json",
        "--data-dir",
        &data,
    ]))
    .await;
    assert!(!text(&out.stdout).contains(client));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_rotates_an_apps_secret_and_registers_a_certificate() {
    let (store, dir) = ztd_testkit::sqlite_store().await;
    let served = ztd_testkit::serve(store, "Contoso", "contoso.example", None).await;
    let data = dir.path().to_str().unwrap().to_string();
    let cert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ztd-oauth/tests/fixtures/app-cert.pem"
    );
    let db = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", &data]);
        ztd(&all)
    };

    let out = run(db(&[
        "app",
        "create",
        "--tenant",
        "contoso.example",
        "--name",
        "ci",
        "--certificate",
        cert,
        "--redirect-uri",
        "http://localhost",
        "--secret-days",
        "30",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let client = created["clientId"].as_str().unwrap().to_string();
    let first_secret = created["clientSecret"].as_str().unwrap().to_string();
    let first_key = created["secretKeyId"].as_str().unwrap().to_string();
    assert_eq!(
        created["certificate"]["type"], "AsymmetricX509Cert",
        "{created}"
    );
    assert!(created["secretEndDateTime"].is_string(), "{created}");

    let out = run(db(&[
        "app",
        "secret",
        "add",
        "--tenant",
        "contoso.example",
        &client,
        "--days",
        "60",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second_secret = added["secretText"].as_str().unwrap().to_string();

    let out = run(db(&[
        "app",
        "show",
        "--tenant",
        "contoso.example",
        &client,
        "--json",
    ]))
    .await;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["passwordCredentials"].as_array().unwrap().len(),
        2,
        "{shown}"
    );
    assert_eq!(
        shown["keyCredentials"].as_array().unwrap().len(),
        1,
        "{shown}"
    );
    assert_eq!(shown["redirectUris"][0], "http://localhost");
    assert!(
        !shown.to_string().contains(&second_secret),
        "a secret is shown once"
    );
    let tenant = served.first.tenant.id.to_string();

    // Rotation: the new secret works, the old one is removed and stops.
    let with = |secret: &str| {
        as_app(
            ztd(&["user", "list", "--json"]),
            &served.base,
            &tenant,
            &client,
            secret,
        )
    };
    assert!(run(with(&second_secret)).await.status.success());
    let out = run(db(&[
        "app",
        "secret",
        "delete",
        "--tenant",
        "contoso.example",
        &client,
        &first_key,
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!run(with(&first_secret)).await.status.success());
    assert!(run(with(&second_secret)).await.status.success());

    // The operator verifies another domain; the tenant is then found by it too.
    let out = run(db(&[
        "tenant",
        "domain",
        "add",
        "--tenant",
        "contoso.example",
        "Lab.Contoso.example",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(db(&[
        "tenant",
        "domain",
        "list",
        "--tenant",
        "lab.contoso.example",
        "--json",
    ]))
    .await;
    let domains: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(domains[1]["name"], "lab.contoso.example", "{domains}");
    let out = run(db(&[
        "tenant",
        "domain",
        "remove",
        "--tenant",
        "contoso.example",
        "contoso.example",
    ]))
    .await;
    assert!(!out.status.success(), "the default domain stays");

    // A certificate that is not one is refused, and nothing is registered.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let out = run(db(&[
        "app",
        "cert",
        "add",
        "--tenant",
        "contoso.example",
        &client,
        bad.to_str().unwrap(),
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );
}
