//! Directory resources, authentication and authorisation errors, and tenant isolation across every route.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use ztd_testkit::*;

const DEVICES: &str = "/beta/deviceManagement/windowsAutopilotDeviceIdentities";

#[tokio::test]
async fn directory_devices_groups_members_and_organization() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let record = s.import_device(t, "DIR-1", "Contoso", "Kiosk").await;
        let ztdid = record["state"]["deviceRegistrationId"]
            .as_str()
            .expect("ztdid")
            .to_string();
        let (_, device) = s.get(&format!("{DEVICES}/{ztdid}"), t).await;
        let aad = device["azureActiveDirectoryDeviceId"]
            .as_str()
            .expect("aad")
            .to_string();

        // Entra lookup by deviceId, as the Community script does.
        let (status, found) = s
            .get(&format!("/beta/devices?$filter=deviceId eq '{aad}'"), t)
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        let object = found["value"][0].clone();
        assert_eq!(object["deviceId"], aad.as_str());
        assert_eq!(object["displayName"], "DIR-1");
        assert_eq!(object["accountEnabled"], false);
        let physical: Vec<&str> = object["physicalIds"]
            .as_array()
            .expect("physicalIds")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            physical.contains(&format!("[ZTDID]:{ztdid}").as_str()),
            "{physical:?}"
        );
        assert!(physical.contains(&"[OrderId]:Kiosk"));
        let object_id = object["id"].as_str().expect("object id").to_string();
        for query in [
            format!("$filter=physicalIds/any(p:p eq '[ZTDID]:{ztdid}')"),
            "$filter=physicalIds/any(p:startswith(p,'[ZTDID]'))&$select=id,deviceId,displayName,physicalIds".to_string(),
            "$filter=displayName eq 'dir-1'".to_string(),
        ] {
            let (status, list) = s.get(&format!("/v1.0/devices?{query}"), t).await;
            assert_eq!(status, StatusCode::OK, "{query}: {list}");
            assert_eq!(list["value"].as_array().map(Vec::len), Some(1), "{query}");
        }
        let (status, by_alt) = s.get(&format!("/v1.0/devices(deviceId='{aad}')"), t).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(by_alt["id"], object_id.as_str());
        assert_eq!(
            s.get(&format!("/v1.0/devices/{object_id}"), t).await.1["deviceId"],
            aad.as_str()
        );
        let response = s
            .http
            .get(format!("{}/v1.0/devices/$count", s.url))
            .bearer_auth(t)
            .header("ConsistencyLevel", "eventual")
            .send()
            .await
            .expect("count");
        assert_eq!(response.text().await.unwrap_or_default(), "1");
        // The object of a registered device goes with the registration, not on its own.
        let (status, body) = s.delete(&format!("/v1.0/devices/{object_id}"), t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_graph_error(&body);

        // Dynamic group: members chosen by the rule; $ref refused.
        let (status, dynamic) = s
            .post("/v1.0/groups", t, json!({"displayName": "Autopilot – Kiosk", "mailEnabled": false, "mailNickname": "ap-kiosk", "securityEnabled": true,
                "groupTypes": ["DynamicMembership"], "membershipRule": "(device.devicePhysicalIds -any (_ -eq \"[OrderID]:Kiosk\"))", "membershipRuleProcessingState": "On"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{dynamic}");
        assert_eq!(dynamic["groupTypes"], json!(["DynamicMembership"]));
        assert_eq!(dynamic["membershipRuleProcessingState"], "On");
        let dynamic_id = dynamic["id"].as_str().expect("id").to_string();
        let (_, members) = s
            .get(&format!("/v1.0/groups/{dynamic_id}/members"), t)
            .await;
        assert_eq!(
            members["value"][0]["@odata.type"],
            "#microsoft.graph.device"
        );
        assert_eq!(members["value"][0]["id"], object_id.as_str());
        let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{object_id}")});
        assert_eq!(
            s.post(
                &format!("/v1.0/groups/{dynamic_id}/members/$ref"),
                t,
                reference.clone()
            )
            .await
            .0,
            StatusCode::BAD_REQUEST
        );
        let (status, _) = s
            .patch(
                &format!("/v1.0/groups/{dynamic_id}"),
                t,
                json!({"membershipRuleProcessingState": "Paused"}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            s.get(&format!("/v1.0/groups/{dynamic_id}"), t).await.1["membershipRuleProcessingState"],
            "Paused"
        );
        // A rule that does not parse: 400.
        let (status, body) = s
            .post("/v1.0/groups", t, json!({"displayName": "Bad", "mailEnabled": false, "mailNickname": "bad", "securityEnabled": true,
                "groupTypes": ["DynamicMembership"], "membershipRule": "(device.devicePhysicalIds -any"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_graph_error(&body);

        // Static group: Get-MgGroup -Filter, then New-MgGroupMember ($ref), then remove.
        let (_, group) = s.post("/v1.0/groups", t, json!({"displayName": "Autopilot Devices", "mailEnabled": false, "mailNickname": "apd", "securityEnabled": true})).await;
        let gid = group["id"].as_str().expect("gid").to_string();
        assert_eq!(group["groupTypes"], json!([]));
        let (_, by_name) = s
            .get("/v1.0/groups?$filter=displayName eq 'Autopilot Devices'", t)
            .await;
        assert_eq!(by_name["value"][0]["id"], gid.as_str());
        assert_eq!(
            s.post(
                &format!("/v1.0/groups/{gid}/members/$ref"),
                t,
                reference.clone()
            )
            .await
            .0,
            StatusCode::NO_CONTENT
        );
        let (status, body) = s
            .post(
                &format!("/v1.0/groups/{gid}/members/%24ref"),
                t,
                reference.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "adding twice: {body}");
        let (_, members) = s
            .get(
                &format!("/beta/groups/{gid}/members/microsoft.graph.device"),
                t,
            )
            .await;
        assert_eq!(members["value"].as_array().map(Vec::len), Some(1));
        let (_, expanded) = s
            .get(&format!("/v1.0/groups/{gid}?$expand=members"), t)
            .await;
        assert_eq!(expanded["members"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            s.delete(&format!("/v1.0/groups/{gid}/members/{object_id}/$ref"), t)
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.delete(&format!("/v1.0/groups/{gid}/members/{object_id}/$ref"), t)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.delete(&format!("/v1.0/groups/{gid}"), t).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.get(&format!("/v1.0/groups/{gid}"), t).await.0,
            StatusCode::NOT_FOUND
        );

        // Organization: tenant id and verified domain.
        let (status, org) = s.get("/v1.0/organization", t).await;
        assert_eq!(status, StatusCode::OK);
        let org = &org["value"][0];
        assert_eq!(org["id"], s.a.id.as_str());
        assert_eq!(org["verifiedDomains"][0]["name"], "contoso.example");
        assert_eq!(org["verifiedDomains"][0]["isDefault"], true);
        assert_eq!(org["verifiedDomains"][0]["type"], "Managed");
        assert_eq!(
            s.get(&format!("/v1.0/organization/{}", s.a.id), t).await.0,
            StatusCode::OK
        );
    })
    .await;
}

/// A token with its `tid` replaced, header and signature kept.
fn retarget(token: &str, tenant: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&engine.decode(parts[1]).expect("payload")).expect("claims");
    claims["tid"] = tenant.into();
    claims["iss"] = format!("https://sts.windows.net/{tenant}/").into();
    format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(claims.to_string()),
        parts[2]
    )
}

#[tokio::test]
async fn authentication_and_permission_errors_are_graph_shaped() {
    on_both_servers(GraphConfig::default(), |s| async move {
        // No token, bad token, token signed by someone else.
        let (status, body) = s.call(Method::GET, DEVICES, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(assert_graph_error(&body), "InvalidAuthenticationToken");
        let (status, body) = s.get(DEVICES, "not.a.jwt").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_graph_error(&body);
        // Tenant B's valid token with its tenant changed to A: B's signature does not cover it.
        let forged = retarget(&s.b.token, &s.a.id);
        assert_eq!(s.get(DEVICES, &forged).await.0, StatusCode::UNAUTHORIZED);

        // Read-only Intune permission: reads work, writes are 403; directory needs its own permissions.
        let read_only = s
            .token_with(&["DeviceManagementServiceConfig.Read.All"])
            .await;
        assert_eq!(s.get(DEVICES, &read_only).await.0, StatusCode::OK);
        let (status, body) = s
            .call(
                Method::POST,
                "/beta/deviceManagement/windowsAutopilotSettings/sync",
                Some(&read_only),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(assert_graph_error(&body), "Authorization_RequestDenied");
        assert_eq!(
            s.post(
                "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities",
                &read_only,
                json!({})
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.get("/v1.0/devices", &read_only).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.get("/v1.0/groups", &read_only).await.0,
            StatusCode::FORBIDDEN
        );
        let directory_only = s.token_with(&["Device.Read.All", "Group.Read.All"]).await;
        assert_eq!(
            s.get("/v1.0/devices", &directory_only).await.0,
            StatusCode::OK
        );
        assert_eq!(
            s.get("/v1.0/groups", &directory_only).await.0,
            StatusCode::OK
        );
        assert_eq!(
            s.get(DEVICES, &directory_only).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s.post("/v1.0/groups", &directory_only, json!({"displayName": "x"}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );

        // Token endpoint: wrong tenant, wrong secret, tenant by domain name.
        let (status, body) = s.token_request(&s.b.id, &s.a.client_id, &s.a.secret).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = s.token_request(&s.a.id, &s.a.client_id, "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_client");
        let (status, _) = s
            .token_request(&s.a.domain, &s.a.client_id, &s.a.secret)
            .await;
        assert_eq!(status, StatusCode::OK);
        // Discovery for MSAL-based libraries.
        let (status, oidc) = s
            .call(
                Method::GET,
                &format!("/{}/v2.0/.well-known/openid-configuration", s.a.id),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(oidc["token_endpoint"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/{}/oauth2/v2.0/token", s.a.id)));

        // Unknown paths and methods.
        let (status, body) = s
            .get("/beta/deviceManagement/nothingHere", &s.a.token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_graph_error(&body);
        let (status, body) = s
            .call(Method::PUT, DEVICES, Some(&s.a.token), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_graph_error(&body);
        // Responses echo client-request-id and carry request-id.
        let response = s
            .http
            .get(format!("{}{DEVICES}", s.url))
            .bearer_auth(&s.a.token)
            .header("client-request-id", "abc-123")
            .send()
            .await
            .expect("get");
        assert_eq!(
            response
                .headers()
                .get("client-request-id")
                .and_then(|v| v.to_str().ok()),
            Some("abc-123")
        );
        assert!(response.headers().get("request-id").is_some());
        assert!(response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .starts_with("application/json"));
    })
    .await;
}

/// Tenant A creates one of everything; tenant B's admin tries every route against A's ids and sees 404s and
/// empty lists, never A's data; afterwards A's objects are unchanged.
#[tokio::test]
async fn tenant_b_never_sees_or_changes_tenant_a() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let a = &s.a.token;
        let b = &s.b.token;
        let record = s.import_device(a, "ISO-1", "Contoso", "Kiosk").await;
        let import_id = record["id"].as_str().expect("import").to_string();
        let ztdid = record["state"]["deviceRegistrationId"]
            .as_str()
            .expect("ztdid")
            .to_string();
        let (_, device) = s.get(&format!("{DEVICES}/{ztdid}"), a).await;
        let aad = device["azureActiveDirectoryDeviceId"]
            .as_str()
            .expect("aad")
            .to_string();
        let (_, objects) = s
            .get(&format!("/v1.0/devices?$filter=deviceId eq '{aad}'"), a)
            .await;
        let object_id = objects["value"][0]["id"]
            .as_str()
            .expect("object")
            .to_string();
        let (_, profile) = s.post("/beta/deviceManagement/windowsAutopilotDeploymentProfiles", a, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "A profile"})).await;
        let pid = profile["id"].as_str().expect("pid").to_string();
        let (_, group) = s.post("/v1.0/groups", a, json!({"displayName": "A group", "mailEnabled": false, "mailNickname": "a", "securityEnabled": true})).await;
        let gid = group["id"].as_str().expect("gid").to_string();
        let (_, assignment) = s.post(&format!("/beta/deviceManagement/windowsAutopilotDeploymentProfiles/{pid}/assignments"), a, json!({"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid}})).await;
        let aid = assignment["id"].as_str().expect("aid").to_string();
        let (_, esp) = s.post("/beta/deviceManagement/deviceEnrollmentConfigurations", a, json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "displayName": "A ESP"})).await;
        let esp_id = esp["id"].as_str().expect("esp").to_string();
        let a_default_esp = format!(
            "{}_DefaultWindows10EnrollmentCompletionPageConfiguration",
            s.a.id
        );
        let (_, corp) = s
            .post(
                "/beta/deviceManagement/importedDeviceIdentities",
                a,
                json!({"importedDeviceIdentifier": "IMEI-A", "importedDeviceIdentityType": "imei"}),
            )
            .await;
        let corp_id = corp["id"].as_str().expect("corp").to_string();
        s.post(
            "/device/v1/boot",
            a,
            json!({"hardwareHash": hash("ISO-1", "Contoso")}),
        )
        .await;
        let events = s.wait_for_autopilot_events(a).await;
        let event_id = events["value"][0]["id"]
            .as_str()
            .expect("event")
            .to_string();

        let a_ids = [
            &ztdid, &import_id, &aad, &object_id, &pid, &gid, &aid, &esp_id, &corp_id, &event_id,
            &s.a.id,
        ];
        let leaks = |body: &Value| {
            let text = body.to_string();
            a_ids.iter().any(|id| {
                text.contains(id.as_str())
                    && !text.contains("was not found")
                    && !text.contains("does not exist")
            })
        };

        let dm = "/beta/deviceManagement";
        // Every route with an A id, as B: 404 (or 400 where the id is only a reference in the body).
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}"),
                None,
            ),
            (
                Method::GET,
                format!("/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}"),
                None,
            ),
            (
                Method::POST,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}/updateDeviceProperties"),
                Some(json!({"groupTag": "B"})),
            ),
            (
                Method::POST,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}/assignUserToDevice"),
                Some(json!({"userPrincipalName": "b@fabrikam.example"})),
            ),
            (
                Method::POST,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}/unassignUserFromDevice"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}/allowNextEnrollment"),
                Some(json!({})),
            ),
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}/intendedDeploymentProfile"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeviceIdentities/{ztdid}/deploymentProfile"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/importedWindowsAutopilotDeviceIdentities/{import_id}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{dm}/importedWindowsAutopilotDeviceIdentities/{import_id}"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}"),
                None,
            ),
            (
                Method::PATCH,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}"),
                Some(json!({"displayName": "B"})),
            ),
            (
                Method::DELETE,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assignedDevices"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assignments"),
                None,
            ),
            (
                Method::POST,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assignments"),
                Some(json!({"target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}})),
            ),
            (
                Method::GET,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assignments/{aid}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assignments/{aid}"),
                None,
            ),
            (
                Method::POST,
                format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assign"),
                Some(json!({"deviceIds": [ztdid]})),
            ),
            (
                Method::GET,
                format!("{dm}/deviceEnrollmentConfigurations/{esp_id}"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/deviceEnrollmentConfigurations/{a_default_esp}"),
                None,
            ),
            (
                Method::PATCH,
                format!("{dm}/deviceEnrollmentConfigurations/{esp_id}"),
                Some(json!({"displayName": "B"})),
            ),
            (
                Method::DELETE,
                format!("{dm}/deviceEnrollmentConfigurations/{esp_id}"),
                None,
            ),
            (
                Method::POST,
                format!("{dm}/deviceEnrollmentConfigurations/{esp_id}/assign"),
                Some(json!({"enrollmentConfigurationAssignments": []})),
            ),
            (
                Method::POST,
                format!("{dm}/deviceEnrollmentConfigurations/{esp_id}/setPriority"),
                Some(json!({"priority": 1})),
            ),
            (
                Method::GET,
                format!("{dm}/deviceEnrollmentConfigurations/{esp_id}/assignments"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/importedDeviceIdentities/{corp_id}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{dm}/importedDeviceIdentities/{corp_id}"),
                None,
            ),
            (
                Method::GET,
                format!("{dm}/autopilotEvents/{event_id}"),
                None,
            ),
            (Method::GET, format!("/v1.0/devices/{object_id}"), None),
            (
                Method::GET,
                format!("/v1.0/devices(deviceId='{aad}')"),
                None,
            ),
            (Method::DELETE, format!("/v1.0/devices/{object_id}"), None),
            (Method::GET, format!("/v1.0/groups/{gid}"), None),
            (
                Method::PATCH,
                format!("/v1.0/groups/{gid}"),
                Some(json!({"displayName": "B"})),
            ),
            (Method::DELETE, format!("/v1.0/groups/{gid}"), None),
            (Method::GET, format!("/v1.0/groups/{gid}/members"), None),
            (
                Method::POST,
                format!("/v1.0/groups/{gid}/members/$ref"),
                Some(
                    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{object_id}")}),
                ),
            ),
            (
                Method::DELETE,
                format!("/v1.0/groups/{gid}/members/{object_id}/$ref"),
                None,
            ),
            (Method::GET, format!("/v1.0/organization/{}", s.a.id), None),
        ];
        for (method, path, body) in attempts {
            let (status, response) = s.call(method.clone(), &path, Some(b), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {response}");
            assert_graph_error(&response);
            assert!(!leaks(&response), "{method} {path} leaked: {response}");
        }
        // References to A's objects inside B's own requests.
        let (_, b_group) = s.post("/v1.0/groups", b, json!({"displayName": "B group", "mailEnabled": false, "mailNickname": "b", "securityEnabled": true})).await;
        let b_gid = b_group["id"].as_str().expect("b gid").to_string();
        let (status, _) = s.post(&format!("/v1.0/groups/{b_gid}/members/$ref"), b, json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{object_id}")})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, b_profile) = s.post("/beta/deviceManagement/windowsAutopilotDeploymentProfiles", b, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "B profile"})).await;
        let b_pid = b_profile["id"].as_str().expect("b pid").to_string();
        let (status, _) = s.post(&format!("{dm}/windowsAutopilotDeploymentProfiles/{b_pid}/assignments"), b, json!({"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = s
            .post(
                &format!("{dm}/windowsAutopilotDeploymentProfiles/{b_pid}/assign"),
                b,
                json!({"deviceIds": [ztdid]}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, deleted) = s
            .post(
                &format!("{dm}/windowsAutopilotDeviceIdentities/deleteDevices"),
                b,
                json!({"serialNumbers": ["ISO-1"]}),
            )
            .await;
        assert_eq!(deleted["value"][0]["deletionState"], "failed");

        // Every list, as B: none of A's data.
        for path in [
            format!("{dm}/windowsAutopilotDeviceIdentities"),
            format!("{dm}/windowsAutopilotDeviceIdentities?$filter=contains(serialNumber,'ISO')"),
            format!(
                "{dm}/windowsAutopilotDeviceIdentities?$filter=azureActiveDirectoryDeviceId eq '{aad}'"
            ),
            format!("{dm}/importedWindowsAutopilotDeviceIdentities"),
            format!("{dm}/windowsAutopilotDeploymentProfiles"),
            format!("{dm}/deviceEnrollmentConfigurations"),
            format!("{dm}/importedDeviceIdentities"),
            format!("{dm}/autopilotEvents"),
            format!("{dm}/windowsAutopilotSettings"),
            "/v1.0/devices".to_string(),
            format!("/v1.0/devices?$filter=deviceId eq '{aad}'"),
            "/v1.0/groups".to_string(),
            "/v1.0/organization".to_string(),
        ] {
            let (status, body) = s.get(&path, b).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert!(!leaks(&body), "{path} leaked A's data: {body}");
        }

        // A's objects are untouched.
        let (_, after) = s.get(&format!("{DEVICES}/{ztdid}"), a).await;
        assert_eq!(after["groupTag"], "Kiosk");
        assert_eq!(after["userPrincipalName"], "");
        assert_eq!(
            s.get(
                &format!("{dm}/importedWindowsAutopilotDeviceIdentities/{import_id}"),
                a
            )
            .await
            .0,
            StatusCode::OK
        );
        assert_eq!(
            s.get(&format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}"), a)
                .await
                .1["displayName"],
            "A profile"
        );
        assert_eq!(
            s.get(
                &format!("{dm}/windowsAutopilotDeploymentProfiles/{pid}/assignments/{aid}"),
                a
            )
            .await
            .0,
            StatusCode::OK
        );
        assert_eq!(
            s.get(&format!("{dm}/deviceEnrollmentConfigurations/{esp_id}"), a)
                .await
                .1["displayName"],
            "A ESP"
        );
        assert_eq!(
            s.get(&format!("{dm}/importedDeviceIdentities/{corp_id}"), a)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            s.get(&format!("/v1.0/groups/{gid}"), a).await.1["displayName"],
            "A group"
        );
        assert_eq!(
            s.get(&format!("/v1.0/devices/{object_id}"), a).await.0,
            StatusCode::OK
        );
    })
    .await;
}
