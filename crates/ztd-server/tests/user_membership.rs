//! Users in static groups (`members/$ref`, member listings with type casts, `$count`, `memberOf` of users
//! and devices), and the Autopilot assigned user as the service enforces it (a real user of the tenant when
//! assigned through Graph; a verified domain on import). Every scenario runs on SQLite and PostgreSQL.

use axum::http::StatusCode;
use serde_json::{json, Value};
use ztd_server::GraphConfig;
use ztd_testkit::{assert_graph_error, on_both_servers, Server};

const DM: &str = "/beta/deviceManagement";

async fn create_user(s: &Server, token: &str, upn: &str) -> Value {
    let (status, body) = s
        .post(
            "/v1.0/users",
            token,
            json!({
                "accountEnabled": true,
                "displayName": upn.split('@').next().unwrap(),
                "mailNickname": "x",
                "userPrincipalName": upn,
                "passwordProfile": { "password": "Corr3ct-horse!", "forceChangePasswordNextSignIn": false },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn create_group(s: &Server, token: &str, name: &str, rule: Option<&str>) -> String {
    let mut body = json!({
        "displayName": name,
        "mailEnabled": false,
        "mailNickname": name,
        "securityEnabled": true,
    });
    if let Some(rule) = rule {
        body["groupTypes"] = json!(["DynamicMembership"]);
        body["membershipRule"] = json!(rule);
        body["membershipRuleProcessingState"] = json!("On");
    }
    let (status, created) = s.post("/v1.0/groups", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn add(s: &Server, token: &str, group: &str, member: &str) -> (StatusCode, Value) {
    s.post(
        &format!("/v1.0/groups/{group}/members/$ref"),
        token,
        json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}") }),
    )
    .await
}

fn ids(list: &Value) -> Vec<String> {
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn users_are_members_of_static_groups_and_list_their_groups() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = s.a.token.clone();
        let ada = create_user(&s, &t, &format!("ada@{}", s.a.domain)).await;
        let bob = create_user(&s, &t, &format!("bob@{}", s.a.domain)).await;
        let (ada_id, bob_id) = (ada["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
        s.import_device(&t, "MEM-1", "Contoso", "tag").await;
        let (_, devices) = s.get("/v1.0/devices", &t).await;
        let device_id = ids(&devices)[0].clone();

        let staff = create_group(&s, &t, "staff", None).await;
        let lab = create_group(&s, &t, "lab", None).await;
        let dynamic = create_group(
            &s,
            &t,
            "dyn",
            Some("(device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\"))"),
        )
        .await;
        for member in [ada_id, bob_id, device_id.as_str()] {
            let (status, body) = add(&s, &t, &staff, member).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        }
        let (status, _) = add(&s, &t, &lab, ada_id).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // Twice is refused, as Graph does; a dynamic group takes no hand-added member.
        let (status, body) = add(&s, &t, &staff, ada_id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = add(&s, &t, &dynamic, ada_id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Members of both kinds, in object-id order, each with its type; the casts pick one kind.
        let (status, members) = s.get(&format!("/v1.0/groups/{staff}/members"), &t).await;
        assert_eq!(status, StatusCode::OK, "{members}");
        let mut expected = vec![ada_id.to_string(), bob_id.to_string(), device_id.clone()];
        expected.sort();
        assert_eq!(ids(&members), expected);
        let types: Vec<&str> = members["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["@odata.type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types
                .iter()
                .filter(|t| **t == "#microsoft.graph.user")
                .count(),
            2
        );
        assert_eq!(
            types
                .iter()
                .filter(|t| **t == "#microsoft.graph.device")
                .count(),
            1
        );
        let (_, users) = s
            .get(
                &format!("/v1.0/groups/{staff}/members/microsoft.graph.user"),
                &t,
            )
            .await;
        let mut user_ids = vec![ada_id.to_string(), bob_id.to_string()];
        user_ids.sort();
        assert_eq!(ids(&users), user_ids);
        assert!(users["value"][0]["userPrincipalName"]
            .as_str()
            .unwrap()
            .contains('@'));
        let (_, only_devices) = s
            .get(
                &format!("/v1.0/groups/{staff}/members/microsoft.graph.device"),
                &t,
            )
            .await;
        assert_eq!(ids(&only_devices), vec![device_id.clone()]);
        let (_, count) = s
            .get(
                &format!("/v1.0/groups/{staff}/members/$count?ConsistencyLevel=eventual"),
                &t,
            )
            .await;
        assert_eq!(count, json!(3));
        // Paging across both kinds returns each member once.
        let (_, first) = s
            .get(&format!("/v1.0/groups/{staff}/members?$top=2"), &t)
            .await;
        let next = first["@odata.nextLink"]
            .as_str()
            .expect("a next page")
            .to_string();
        let (_, second) = s.get(&next, &t).await;
        let mut paged = ids(&first);
        paged.extend(ids(&second));
        assert_eq!(paged, expected);
        // $filter reads user properties too.
        let (status, filtered) = s
            .get(
                &format!(
                    "/v1.0/groups/{staff}/members?$filter=startswith(userPrincipalName,'ada')"
                ),
                &t,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{filtered}");
        assert_eq!(ids(&filtered), vec![ada_id.to_string()]);
        // $expand=members shows users too.
        let (_, expanded) = s
            .get(&format!("/v1.0/groups/{staff}?$expand=members"), &t)
            .await;
        assert_eq!(
            expanded["members"].as_array().unwrap().len(),
            3,
            "{expanded}"
        );

        // memberOf, by id or by user principal name, and for the device.
        let (status, ada_groups) = s
            .get(
                &format!(
                    "/v1.0/users/{}/memberOf",
                    ada["userPrincipalName"].as_str().unwrap()
                ),
                &t,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ada_groups}");
        let mut both = vec![staff.clone(), lab.clone()];
        both.sort();
        assert_eq!(ids(&ada_groups), both);
        assert_eq!(
            ada_groups["value"][0]["@odata.type"],
            "#microsoft.graph.group"
        );
        let (_, bob_groups) = s.get(&format!("/v1.0/users/{bob_id}/memberOf"), &t).await;
        assert_eq!(ids(&bob_groups), vec![staff.clone()]);
        let (status, device_groups) = s
            .get(&format!("/v1.0/devices/{device_id}/memberOf"), &t)
            .await;
        assert_eq!(status, StatusCode::OK, "{device_groups}");
        let device_group_ids = ids(&device_groups);
        assert!(
            device_group_ids.contains(&staff) && device_group_ids.contains(&dynamic),
            "{device_groups}"
        );

        // Groups hold no groups, so the transitive views (as directory tools ask) equal the direct ones.
        let (status, transitive) = s
            .get(
                &format!("/v1.0/groups/{staff}/transitiveMembers/microsoft.graph.user"),
                &t,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{transitive}");
        assert_eq!(ids(&transitive), user_ids);
        let (_, count) = s
            .get(
                &format!("/v1.0/groups/{staff}/transitiveMembers/$count?ConsistencyLevel=eventual"),
                &t,
            )
            .await;
        assert_eq!(count, json!(3));
        let (status, groups) = s
            .get(
                &format!("/v1.0/users/{ada_id}/transitiveMemberOf/microsoft.graph.group"),
                &t,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{groups}");
        assert_eq!(ids(&groups), both);
        let (status, groups) = s
            .get(&format!("/v1.0/devices/{device_id}/transitiveMemberOf"), &t)
            .await;
        assert_eq!(status, StatusCode::OK, "{groups}");
        assert_eq!(ids(&groups), ids(&device_groups));

        // Removing a member, and deleting a user, take them out of their groups.
        let (status, _) = s
            .delete(&format!("/v1.0/groups/{lab}/members/{ada_id}/$ref"), &t)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, ada_groups) = s.get(&format!("/v1.0/users/{ada_id}/memberOf"), &t).await;
        assert_eq!(ids(&ada_groups), vec![staff.clone()]);
        let (status, _) = s.delete(&format!("/v1.0/users/{bob_id}"), &t).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, count) = s
            .get(
                &format!("/v1.0/groups/{staff}/members/$count?ConsistencyLevel=eventual"),
                &t,
            )
            .await;
        assert_eq!(count, json!(2));

        // Another tenant can neither add A's user to its group nor read A's user's groups.
        let theirs = create_group(&s, &s.b.token, "theirs", None).await;
        let (status, body) = add(&s, &s.b.token, &theirs, ada_id).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = add(&s, &s.b.token, &staff, ada_id).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = s
            .get(&format!("/v1.0/users/{ada_id}/memberOf"), &s.b.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = s
            .get(&format!("/v1.0/devices/{device_id}/memberOf"), &s.b.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s
            .get(
                &format!("/v1.0/users/{ada_id}/transitiveMemberOf"),
                &s.b.token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s
            .get(
                &format!("/v1.0/groups/{staff}/transitiveMembers/$count?ConsistencyLevel=eventual"),
                &s.b.token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s
            .get(
                &format!("/v1.0/groups/{staff}/members/microsoft.graph.user"),
                &s.b.token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn the_assigned_user_is_a_user_of_the_tenant() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = s.a.token.clone();
        let record = s.import_device(&t, "ASSIGN-1", "Contoso", "").await;
        let ztdid = record["state"]["deviceRegistrationId"]
            .as_str()
            .unwrap()
            .to_string();
        let assign = |upn: String| {
            let s = &s;
            let t = t.clone();
            let ztdid = ztdid.clone();
            async move {
                s.post(
                    &format!("{DM}/windowsAutopilotDeviceIdentities/{ztdid}/assignUserToDevice"),
                    &t,
                    json!({ "userPrincipalName": upn, "addressableUserName": "Ada" }),
                )
                .await
            }
        };
        // Unknown in this tenant (or a user of another tenant): refused, saying what to do.
        let (status, body) = assign(format!("ada@{}", s.a.domain)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_graph_error(&body);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("create the user first"),
            "{body}"
        );
        create_user(&s, &s.b.token, &format!("eve@{}", s.b.domain)).await;
        let (status, _) = assign(format!("eve@{}", s.b.domain)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // A user of the tenant is assigned, spelled as the directory spells it.
        create_user(&s, &t, &format!("Ada@{}", s.a.domain)).await;
        let (status, body) = assign(format!("ADA@{}", s.a.domain.to_uppercase())).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, device) = s
            .get(
                &format!("{DM}/windowsAutopilotDeviceIdentities/{ztdid}"),
                &t,
            )
            .await;
        assert_eq!(device["userPrincipalName"], format!("Ada@{}", s.a.domain));
        let (status, _) = s
            .post(
                &format!("{DM}/windowsAutopilotDeviceIdentities/{ztdid}/unassignUserFromDevice"),
                &t,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        // On import only the domain is checked, as the service does: a verified domain passes even
        // for a user who does not exist yet; another domain is the row's error.
        let import = |serial: &str, upn: &str| {
            json!({
                "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
                "groupTag": "", "serialNumber": serial, "productKey": "",
                "hardwareIdentifier": ztd_testkit::hash(serial, "Contoso"),
                "assignedUserPrincipalName": upn,
            })
        };
        let (status, ok) = s
            .post(
                &format!("{DM}/importedWindowsAutopilotDeviceIdentities"),
                &t,
                import("ASSIGN-2", &format!("later@{}", s.a.domain)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ok}");
        let ok = s.wait_import(&t, ok["id"].as_str().unwrap()).await;
        assert_eq!(ok["state"]["deviceImportStatus"], "complete", "{ok}");
        let (status, bad) = s
            .post(
                &format!("{DM}/importedWindowsAutopilotDeviceIdentities"),
                &t,
                import("ASSIGN-3", "someone@elsewhere.example"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{bad}");
        let bad = s.wait_import(&t, bad["id"].as_str().unwrap()).await;
        assert_eq!(bad["state"]["deviceImportStatus"], "error", "{bad}");
        assert_eq!(
            bad["state"]["deviceErrorName"], "InvalidZtdRequestBody",
            "{bad}"
        );
    })
    .await;
}

#[tokio::test]
async fn membership_questions_about_one_object_and_advanced_query_rules() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = s.a.token.clone();
        let ada = create_user(&s, &t, &format!("ada@{}", s.a.domain)).await;
        let ada_id = ada["id"].as_str().unwrap().to_string();
        s.import_device(&t, "ASK-1", "Contoso", "tag").await;
        let (_, devices) = s.get("/v1.0/devices", &t).await;
        let device_id = ids(&devices)[0].clone();
        let staff = create_group(&s, &t, "staff", None).await;
        let lab = create_group(&s, &t, "lab", None).await;
        for member in [ada_id.as_str(), device_id.as_str()] {
            assert_eq!(add(&s, &t, &staff, member).await.0, StatusCode::NO_CONTENT);
        }
        let stranger = "5f2a0c1e-0000-4000-8000-000000000001";

        // checkMemberGroups / checkMemberObjects: which of the ids the object is in.
        for (collection, id) in [
            ("devices", device_id.as_str()),
            ("users", ada_id.as_str()),
            ("directoryObjects", device_id.as_str()),
            ("directoryObjects", ada_id.as_str()),
        ] {
            for (action, field) in [("checkMemberGroups", "groupIds"), ("checkMemberObjects", "ids")] {
                let (status, body) = s
                    .post(
                        &format!("/v1.0/{collection}/{id}/{action}"),
                        &t,
                        json!({ field: [staff, lab, stranger, staff] }),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{collection} {action}: {body}");
                assert_eq!(body["value"], json!([staff]), "{collection} {action}");
            }
            for action in ["getMemberGroups", "getMemberObjects"] {
                let (status, body) = s
                    .post(
                        &format!("/v1.0/{collection}/{id}/microsoft.graph.{action}"),
                        &t,
                        json!({"securityEnabledOnly": true}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body["value"], json!([staff]), "{collection} {action}");
            }
        }
        // Through /directoryObjects the object's own kind decides the permission: a device reader learns
        // nothing of a user's groups.
        let device_reader = s.token_with(&["Device.Read.All"]).await;
        let (status, _) = s
            .post(&format!("/v1.0/directoryObjects/{ada_id}/getMemberGroups"), &device_reader, json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s
            .post(&format!("/v1.0/directoryObjects/{device_id}/getMemberGroups"), &device_reader, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        // A group is a member of nothing in ztd.
        let (status, body) = s
            .post(&format!("/beta/groups/{lab}/getMemberObjects"), &t, json!({"securityEnabledOnly": false}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["value"], json!([]));
        // Limits and bad input.
        let many: Vec<String> = (0..21).map(|_| staff.clone()).collect();
        let refused = [
            json!({ "groupIds": many }),
            json!({ "groupIds": ["not-a-guid"] }),
            json!({}),
        ];
        for body in refused {
            let (status, answer) = s
                .post(&format!("/v1.0/devices/{device_id}/checkMemberGroups"), &t, body.clone())
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_graph_error(&answer);
        }
        let (status, _) = s
            .post(&format!("/v1.0/devices/{stranger}/checkMemberGroups"), &t, json!({"groupIds": [staff]}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Tenant B: A's objects are not found, and A's groups are never in B's answers.
        let b = s.b.token.clone();
        for collection in ["devices", "directoryObjects"] {
            let (status, _) = s
                .post(&format!("/v1.0/{collection}/{device_id}/checkMemberGroups"), &b, json!({"groupIds": [staff]}))
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{collection}");
        }
        let (status, _) = s
            .post(&format!("/v1.0/users/{ada_id}/getMemberObjects"), &b, json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let bea = create_user(&s, &b, &format!("bea@{}", s.b.domain)).await;
        let bea_id = bea["id"].as_str().unwrap();
        let (status, body) = s
            .post(&format!("/v1.0/users/{bea_id}/checkMemberGroups"), &b, json!({"groupIds": [staff]}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["value"], json!([]));

        // Advanced queries on directory objects need ConsistencyLevel: eventual.
        for path in ["/v1.0/groups/$count", "/v1.0/devices/$count", "/v1.0/users/$count"] {
            let (status, body) = s.get(path, &t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_eq!(body["error"]["code"], "Request_UnsupportedQuery", "{path}");
            let response = s
                .http
                .get(format!("{}{path}", s.url))
                .bearer_auth(&t)
                .header("ConsistencyLevel", "eventual")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let (status, _) = s.get(&format!("{path}?ConsistencyLevel=eventual"), &t).await;
            assert_eq!(status, StatusCode::OK, "{path} with the option in the query");
        }
        let (status, body) = s.get("/v1.0/devices?$search=\"displayName:ASK\"", &t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
        let (status, body) = s
            .get("/v1.0/devices?$search=\"displayName:ASK\"&ConsistencyLevel=eventual", &t)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // $count=true without it is ignored, as Entra ignores it; with it the count is there.
        let (_, plain) = s.get("/v1.0/groups?$count=true", &t).await;
        assert!(plain.get("@odata.count").is_none(), "{plain}");
        let (_, counted) = s.get("/v1.0/groups?$count=true&ConsistencyLevel=eventual", &t).await;
        assert_eq!(counted["@odata.count"], 2, "{counted}");
        // Intune collections take $count without it.
        let (_, intune) = s
            .get("/beta/deviceManagement/windowsAutopilotDeviceIdentities?$count=true", &t)
            .await;
        assert_eq!(intune["@odata.count"], 1, "{intune}");

        // Transitive members with a type cast, $select and $top.
        let (status, cast) = s
            .get(
                &format!("/v1.0/groups/{staff}/transitiveMembers/microsoft.graph.device?$select=id,deviceId&$top=1"),
                &t,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cast}");
        assert_eq!(ids(&cast), vec![device_id.clone()]);
        assert!(cast["value"][0].get("displayName").is_none());
        for (path, n) in [
            (format!("/v1.0/groups/{staff}/transitiveMembers/microsoft.graph.device/$count"), 1),
            (format!("/v1.0/groups/{staff}/members/microsoft.graph.user/$count"), 1),
            (format!("/v1.0/groups/{staff}/members/$count"), 2),
            (format!("/v1.0/groups/{lab}/transitiveMembers/microsoft.graph.user/$count"), 0),
        ] {
            let (status, count) = s.get(&format!("{path}?ConsistencyLevel=eventual"), &t).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(count, json!(n), "{path}");
            let (status, _) = s.get(&path, &t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} without eventual consistency");
            let (status, _) = s.get(&format!("{path}?ConsistencyLevel=eventual"), &b).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path} from another tenant");
        }

        // members@odata.bind is refused, never silently ignored.
        let bind = json!({ "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{device_id}")] });
        let (status, body) = s.patch(&format!("/v1.0/groups/{lab}"), &t, bind.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let mut create = json!({"displayName": "bound", "mailEnabled": false, "mailNickname": "bound", "securityEnabled": true});
        create["members@odata.bind"] = bind["members@odata.bind"].clone();
        let (status, _) = s.post("/v1.0/groups", &t, create).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
}
