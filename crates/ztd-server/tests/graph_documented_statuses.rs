//! Every Graph route ztd serves answers the status its Microsoft Graph reference page documents, with a body of
//! the documented shape: an entity (`@odata.context` ending in `$entity`, an `id`), a collection (`value`), a
//! bare count, or nothing (204). One table, walked in order so that each route has the objects it needs.
//! The sources are the Graph reference pages of each resource (update pages answer 200 with the entity;
//! actions as their pages say); docs/graph-api.md lists the statuses.

use reqwest::Method;
use serde_json::{json, Value};
use ztd_testkit::*;

const DM: &str = "/beta/deviceManagement";

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A single entity: `@odata.context` naming `$entity`, and an `id` (or, for singletons, the properties).
    Entity,
    /// A collection: `@odata.context` and a `value` array.
    Collection,
    /// `/$count`: a bare number.
    Count,
    /// No body (204).
    Empty,
    /// An action's own object (`value` or named properties), documented per action.
    Object,
}

struct Walk<'a> {
    s: &'a Server,
    token: String,
    checked: usize,
}

impl Walk<'_> {
    /// Calls one route and asserts its documented status and shape; returns the body.
    async fn expect(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
        shape: Shape,
    ) -> Value {
        let (got, answer) = self
            .s
            .call(method.clone(), path, Some(&self.token), body)
            .await;
        assert_eq!(
            got.as_u16(),
            status,
            "{method} {path}: documented {status}, got {got}: {answer}"
        );
        let route = format!("{method} {path}");
        match shape {
            Shape::Entity => {
                let context = answer["@odata.context"].as_str().unwrap_or_default();
                assert!(
                    context.contains("$metadata#"),
                    "{route}: no @odata.context: {answer}"
                );
                assert!(
                    context.ends_with("$entity"),
                    "{route}: not an entity context: {context}"
                );
            }
            Shape::Collection => {
                assert!(answer["@odata.context"].is_string(), "{route}: {answer}");
                assert!(
                    answer["value"].is_array(),
                    "{route}: no value array: {answer}"
                );
            }
            Shape::Count => assert!(answer.is_u64(), "{route}: not a count: {answer}"),
            Shape::Empty => assert_eq!(answer, Value::Null, "{route}: 204 with a body"),
            Shape::Object => assert!(answer.is_object(), "{route}: {answer}"),
        }
        self.checked += 1;
        answer
    }
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

#[tokio::test]
async fn every_route_answers_its_documented_status_and_shape() {
    on_both_servers(GraphConfig::default(), |s| async move {
        use Method as M;
        use Shape::*;
        let mut w = Walk {
            s: &s,
            token: s.a.token.clone(),
            checked: 0,
        };
        let eventual = "ConsistencyLevel=eventual";

        // Directory: users, groups, devices, organization.
        let user = w
            .expect(M::POST, "/v1.0/users", Some(json!({"accountEnabled": true, "displayName": "Route", "mailNickname": "route",
                "userPrincipalName": format!("route@{}", s.a.domain),
                "passwordProfile": {"password": "Corr3ct-horse!", "forceChangePasswordNextSignIn": false}})), 201, Entity)
            .await;
        let uid = id(&user);
        w.expect(M::GET, "/v1.0/users", None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/users/$count?{eventual}"), None, 200, Count).await;
        w.expect(M::GET, &format!("/v1.0/users/{uid}"), None, 200, Entity).await;
        w.expect(M::PATCH, &format!("/v1.0/users/{uid}"), Some(json!({"displayName": "Route 2"})), 204, Empty).await;
        let group = w
            .expect(M::POST, "/v1.0/groups", Some(json!({"displayName": "Routes", "mailEnabled": false, "mailNickname": "routes", "securityEnabled": true})), 201, Entity)
            .await;
        let gid = id(&group);
        w.expect(M::GET, "/v1.0/groups", None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/groups/$count?{eventual}"), None, 200, Count).await;
        w.expect(M::GET, &format!("/v1.0/groups/{gid}"), None, 200, Entity).await;
        w.expect(M::PATCH, &format!("/v1.0/groups/{gid}"), Some(json!({"description": "routes"})), 204, Empty).await;
        let member = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}")});
        w.expect(M::POST, &format!("/v1.0/groups/{gid}/members/$ref"), Some(member), 204, Empty).await;
        w.expect(M::GET, &format!("/v1.0/groups/{gid}/members"), None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/groups/{gid}/transitiveMembers/microsoft.graph.user"), None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/groups/{gid}/members/$count?{eventual}"), None, 200, Count).await;
        w.expect(M::GET, &format!("/v1.0/users/{uid}/memberOf"), None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/users/{uid}/transitiveMemberOf/microsoft.graph.group"), None, 200, Collection).await;
        w.expect(M::POST, &format!("/v1.0/users/{uid}/checkMemberGroups"), Some(json!({"groupIds": [gid]})), 200, Object).await;
        w.expect(M::POST, &format!("/v1.0/users/{uid}/getMemberObjects"), Some(json!({"securityEnabledOnly": true})), 200, Object).await;
        w.expect(M::GET, "/v1.0/organization", None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/organization/{}", s.a.id), None, 200, Entity).await;
        w.expect(M::GET, "/v1.0/domains", None, 200, Collection).await;

        // Autopilot devices and imports.
        let record = s.import_device(&w.token, "ROUTE-1", "Contoso", "Routes").await;
        let ztdid = record["state"]["deviceRegistrationId"].as_str().unwrap().to_string();
        let devices = format!("{DM}/windowsAutopilotDeviceIdentities");
        w.expect(M::GET, &devices, None, 200, Collection).await;
        w.expect(M::GET, &format!("{devices}/$count"), None, 200, Count).await;
        w.expect(M::GET, &format!("{devices}/{ztdid}"), None, 200, Entity).await;
        w.expect(M::POST, &format!("{devices}/{ztdid}/updateDeviceProperties"), Some(json!({"groupTag": "Routes2", "displayName": "ROUTE"})), 204, Empty).await;
        w.expect(M::POST, &format!("{devices}/{ztdid}/assignUserToDevice"), Some(json!({"userPrincipalName": format!("route@{}", s.a.domain), "addressableUserName": "Route"})), 204, Empty).await;
        w.expect(M::POST, &format!("{devices}/{ztdid}/unassignUserFromDevice"), Some(json!({})), 204, Empty).await;
        w.expect(M::POST, &format!("{devices}/{ztdid}/allowNextEnrollment"), Some(json!({})), 204, Empty).await;
        let imports = format!("{DM}/importedWindowsAutopilotDeviceIdentities");
        w.expect(M::GET, &imports, None, 200, Collection).await;
        w.expect(M::GET, &format!("{imports}/{}", id(&record)), None, 200, Entity).await;
        w.expect(M::POST, &format!("{imports}/import"), Some(json!({"importedWindowsAutopilotDeviceIdentities": [{
            "serialNumber": "ROUTE-2", "hardwareIdentifier": hash("ROUTE-2", "Contoso"), "groupTag": ""}]})), 200, Collection).await;
        w.expect(M::DELETE, &format!("{imports}/{}", id(&record)), None, 204, Empty).await;
        let (_, directory) = s.get("/v1.0/devices?$filter=displayName eq 'ROUTE-1'", &w.token).await;
        let object = id(&directory["value"][0]);
        w.expect(M::GET, "/v1.0/devices", None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/devices/$count?{eventual}"), None, 200, Count).await;
        w.expect(M::GET, &format!("/v1.0/devices/{object}"), None, 200, Entity).await;
        w.expect(M::GET, &format!("/v1.0/devices/{object}/memberOf"), None, 200, Collection).await;
        w.expect(M::GET, &format!("/v1.0/devices/{object}/registeredOwners"), None, 200, Collection).await;
        w.expect(M::POST, &format!("/v1.0/devices/{object}/checkMemberGroups"), Some(json!({"groupIds": [gid]})), 200, Object).await;

        // Deployment profiles.
        let profiles = format!("{DM}/windowsAutopilotDeploymentProfiles");
        let profile = w
            .expect(M::POST, &profiles, Some(json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Routes"})), 201, Entity)
            .await;
        let pid = id(&profile);
        w.expect(M::GET, &profiles, None, 200, Collection).await;
        w.expect(M::GET, &format!("{profiles}/{pid}"), None, 200, Entity).await;
        let patched = w.expect(M::PATCH, &format!("{profiles}/{pid}"), Some(json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "description": "patched"})), 200, Entity).await;
        assert_eq!(patched["description"], "patched");
        let target = json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid});
        let assignment = w.expect(M::POST, &format!("{profiles}/{pid}/assignments"), Some(json!({"target": target})), 201, Entity).await;
        let aid = id(&assignment);
        w.expect(M::GET, &format!("{profiles}/{pid}/assignments"), None, 200, Collection).await;
        w.expect(M::GET, &format!("{profiles}/{pid}/assignments/{aid}"), None, 200, Entity).await;
        w.expect(M::DELETE, &format!("{profiles}/{pid}/assignments/{aid}"), None, 204, Empty).await;
        w.expect(M::POST, &format!("{profiles}/{pid}/assign"), Some(json!({"deviceIds": [ztdid]})), 204, Empty).await;
        w.expect(M::GET, &format!("{profiles}/{pid}/assignedDevices"), None, 200, Collection).await;
        w.expect(M::POST, &format!("{profiles}/hasPayloadLinks"), Some(json!({"payloadIds": [pid]})), 200, Object).await;

        // ESP (enrollment configurations).
        let esps = format!("{DM}/deviceEnrollmentConfigurations");
        let esp = w
            .expect(M::POST, &esps, Some(json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "displayName": "Routes ESP"})), 201, Entity)
            .await;
        let eid = id(&esp);
        w.expect(M::GET, &esps, None, 200, Collection).await;
        w.expect(M::GET, &format!("{esps}/{eid}"), None, 200, Entity).await;
        w.expect(M::PATCH, &format!("{esps}/{eid}"), Some(json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "description": "patched"})), 200, Entity).await;
        w.expect(M::POST, &format!("{esps}/{eid}/assign"), Some(json!({"enrollmentConfigurationAssignments": [{"target": target}]})), 204, Empty).await;
        w.expect(M::POST, &format!("{esps}/{eid}/setPriority"), Some(json!({"priority": 1})), 204, Empty).await;
        let listed = w.expect(M::GET, &format!("{esps}/{eid}/assignments"), None, 200, Collection).await;
        let esp_aid = id(&listed["value"][0]);
        w.expect(M::GET, &format!("{esps}/{eid}/assignments/{esp_aid}"), None, 200, Entity).await;
        w.expect(M::DELETE, &format!("{esps}/{eid}/assignments/{esp_aid}"), None, 204, Empty).await;
        let created = w.expect(M::POST, &format!("{esps}/{eid}/assignments"), Some(json!({"target": target})), 201, Entity).await;
        assert_eq!(created["id"], esp_aid.as_str());
        let (_, after) = s.get(&format!("{esps}/{eid}/assignments"), &w.token).await;
        assert_eq!(after["value"].as_array().map(Vec::len), Some(1), "{after}");
        // Another tenant can neither add to nor remove from this ESP's assignments.
        let b_target = json!({"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"});
        let (status, _) = s.post(&format!("{esps}/{eid}/assignments"), &s.b.token, json!({"target": b_target})).await;
        assert_eq!(status.as_u16(), 404);
        let (status, _) = s.delete(&format!("{esps}/{eid}/assignments/{esp_aid}"), &s.b.token).await;
        assert_eq!(status.as_u16(), 404);
        w.expect(M::DELETE, &format!("{esps}/{eid}/assignments/{esp_aid}"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("{esps}/{eid}/assignments/{esp_aid}"), None, 404, Object).await;

        // Autopilot settings, corporate identifiers, events, audit.
        w.expect(M::GET, &format!("{DM}/windowsAutopilotSettings"), None, 200, Entity).await;
        w.expect(M::POST, &format!("{DM}/windowsAutopilotSettings/sync"), None, 204, Empty).await;
        let corp_base = format!("{DM}/importedDeviceIdentities");
        let corp = w
            .expect(M::POST, &corp_base, Some(json!({"importedDeviceIdentifier": "Contoso,Laptop,ROUTE-9", "importedDeviceIdentityType": "manufacturerModelSerial"})), 201, Entity)
            .await;
        w.expect(M::GET, &corp_base, None, 200, Collection).await;
        w.expect(M::GET, &format!("{corp_base}/{}", id(&corp)), None, 200, Entity).await;
        let identities = json!({"importedDeviceIdentities": [{"importedDeviceIdentifier": "Contoso,Laptop,ROUTE-8", "importedDeviceIdentityType": "manufacturerModelSerial"}]});
        w.expect(M::POST, &format!("{corp_base}/importDeviceIdentityList"), Some(json!({"importedDeviceIdentities": identities["importedDeviceIdentities"], "overwriteImportedDeviceIdentities": false})), 200, Collection).await;
        w.expect(M::POST, &format!("{corp_base}/searchExistingIdentities"), Some(identities), 200, Collection).await;
        w.expect(M::DELETE, &format!("{corp_base}/{}", id(&corp)), None, 204, Empty).await;
        w.expect(M::GET, &format!("{DM}/autopilotEvents"), None, 200, Collection).await;
        w.expect(M::GET, &format!("{DM}/auditEvents"), None, 200, Collection).await;
        w.expect(M::GET, &format!("{DM}/auditEvents/getAuditCategories()"), None, 200, Collection).await;

        // Configuration and compliance, scope tags and filters, the deviceManagement singleton.
        let tags = format!("{DM}/roleScopeTags");
        let tag = w.expect(M::POST, &tags, Some(json!({"displayName": "Routes tag"})), 201, Entity).await;
        let tid = id(&tag);
        w.expect(M::GET, &tags, None, 200, Collection).await;
        w.expect(M::GET, &format!("{tags}/{tid}"), None, 200, Entity).await;
        w.expect(M::PATCH, &format!("{tags}/{tid}"), Some(json!({"description": "d"})), 200, Entity).await;
        let filters = format!("{DM}/assignmentFilters");
        let filter = w
            .expect(M::POST, &filters, Some(json!({"displayName": "Routes filter", "platform": "windows10AndLater", "rule": "(device.model -eq \"X\")"})), 201, Entity)
            .await;
        let fid = id(&filter);
        w.expect(M::GET, &filters, None, 200, Collection).await;
        w.expect(M::GET, &format!("{filters}/{fid}"), None, 200, Entity).await;
        w.expect(M::PATCH, &format!("{filters}/{fid}"), Some(json!({"description": "d"})), 200, Entity).await;
        w.expect(M::POST, &format!("{filters}/validateFilter"), Some(json!({"deviceAndAppManagementAssignmentFilter": {"platform": "windows10AndLater", "rule": "(device.model -eq \"X\")"}})), 200, Object).await;
        for (collection, body) in [
            ("deviceConfigurations", json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "Routes config",
                "omaSettings": [{"@odata.type": "#microsoft.graph.omaSettingString", "displayName": "x", "omaUri": "./Device/Vendor/MSFT/Policy/Config/Start/HideSleep", "value": "1"}]})),
            ("deviceCompliancePolicies", json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "Routes compliance", "bitLockerEnabled": true})),
        ] {
            let base = format!("{DM}/{collection}");
            let policy = w.expect(M::POST, &base, Some(body), 201, Entity).await;
            let pid = id(&policy);
            w.expect(M::GET, &base, None, 200, Collection).await;
            w.expect(M::GET, &format!("{base}/{pid}"), None, 200, Entity).await;
            w.expect(M::PATCH, &format!("{base}/{pid}"), Some(json!({"description": "patched", "roleScopeTagIds": ["0", tid]})), 200, Entity).await;
            let filtered = json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid,
                "deviceAndAppManagementAssignmentFilterId": fid, "deviceAndAppManagementAssignmentFilterType": "include"});
            w.expect(M::POST, &format!("{base}/{pid}/assign"), Some(json!({"assignments": [{"target": filtered}]})), 200, Collection).await;
            let listed = w.expect(M::GET, &format!("{base}/{pid}/assignments"), None, 200, Collection).await;
            let aid = id(&listed["value"][0]);
            assert_eq!(listed["value"][0]["source"], "direct", "{collection}: beta assignment shape");
            w.expect(M::GET, &format!("{base}/{pid}/assignments/{aid}"), None, 200, Entity).await;
            w.expect(M::DELETE, &format!("{base}/{pid}/assignments/{aid}"), None, 204, Empty).await;
            w.expect(M::POST, &format!("{base}/{pid}/assignments"), Some(json!({"target": target})), 201, Entity).await;
            w.expect(M::GET, &format!("{base}/{pid}/deviceStatuses"), None, 200, Collection).await;
            w.expect(M::GET, &format!("{base}/{pid}/deviceStatusOverview"), None, 200, Entity).await;
            // v1.0 assignments carry id and target only.
            let (_, v1) = s.get(&format!("/v1.0/deviceManagement/{collection}/{pid}/assignments"), &w.token).await;
            let keys: Vec<&String> = v1["value"][0].as_object().unwrap().keys().filter(|k| !k.starts_with('@')).collect();
            assert_eq!(keys, vec!["id", "target"], "{collection} v1.0: {v1}");
            w.expect(M::DELETE, &format!("{base}/{pid}"), None, 204, Empty).await;
        }
        w.expect(M::GET, DM, None, 200, Entity).await;
        w.expect(M::PATCH, DM, Some(json!({"settings": {"secureByDefault": false}})), 200, Entity).await;
        w.expect(M::GET, &format!("{DM}/managedDevices"), None, 200, Collection).await;
        w.expect(M::GET, &format!("{DM}/managedDevices/$count"), None, 200, Count).await;
        w.expect(M::DELETE, &format!("{filters}/{fid}"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("{tags}/{tid}"), None, 204, Empty).await;

        // Batch, then the deletions, in the documented order.
        w.expect(M::POST, "/v1.0/$batch", Some(json!({"requests": [{"id": "1", "method": "GET", "url": "/groups"}]})), 200, Object).await;
        w.expect(M::POST, &format!("{devices}/deleteDevices"), Some(json!({"serialNumbers": ["ROUTE-2"]})), 200, Collection).await;
        w.expect(M::DELETE, &format!("{devices}/{ztdid}"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("{esps}/{eid}"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("{profiles}/{pid}"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("/v1.0/groups/{gid}/members/{uid}/$ref"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("/v1.0/groups/{gid}"), None, 204, Empty).await;
        w.expect(M::DELETE, &format!("/v1.0/users/{uid}"), None, 204, Empty).await;
        assert!(w.checked > 100, "{} routes checked", w.checked);
    })
    .await;
}
