//! Removing a verified domain while users are being given names in it, on two nodes of one database: the
//! domain is removed only if no user ended up with a name in it.

use std::sync::Arc;

use ztd_app::users::NewUser;
use ztd_app::{App, SystemClock, TimeOrderedIds};
use ztd_store::Store;

const ROUNDS: usize = 12;

fn node(store: Store) -> App {
    App::new(store, Arc::new(SystemClock), Box::new(TimeOrderedIds))
}

async fn race(one: App, two: App) {
    let tenant = one.create_tenant("Race", "race.example").await.unwrap().id;
    for round in 0..ROUNDS {
        let domain = format!("r{round}.race.example");
        one.add_domain(tenant, &domain).await.unwrap();
        let upn = format!("u{round}@{domain}");
        let create = {
            let two = two.clone();
            let upn = upn.clone();
            tokio::spawn(async move {
                two.create_user(
                    tenant,
                    NewUser {
                        user_principal_name: upn,
                        display_name: "racer".into(),
                        account_enabled: true,
                        ..Default::default()
                    },
                )
                .await
                .is_ok()
            })
        };
        let removed = one.remove_domain(tenant, &domain).await.is_ok();
        let created = create.await.unwrap();
        let domain_left = one
            .domains(tenant)
            .await
            .unwrap()
            .iter()
            .any(|d| d.name == domain);
        // Exactly one wins: the user exists in a domain that is still verified, or the domain is gone and
        // the user was refused.
        assert!(
            (created && domain_left && !removed) || (removed && !created && !domain_left),
            "round {round}: created {created}, removed {removed}, domain left {domain_left}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_and_a_user_in_it_race_on_postgresql() {
    let Some(url) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
        .await
        .unwrap();
    let second = scratch.another_node().await.unwrap();
    race(node(scratch.store.clone()), node(second.clone())).await;
    second.close().await;
    scratch.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_and_a_user_in_it_race_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let one = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    let two = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    race(node(one), node(two)).await;
}
