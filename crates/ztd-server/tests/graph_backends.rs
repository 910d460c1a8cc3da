//! The Graph smoke flow on every backend: SQLite always, PostgreSQL when `ZTD_TEST_POSTGRES_URL` is set
//! (a fresh schema per run). Import through Graph, wait for `complete`, find the device by serial, assign a
//! profile to a dynamic group and see the status, page, delete.

use reqwest::StatusCode;
use serde_json::json;
use ztd_server::GraphConfig;
use ztd_testkit::*;

#[tokio::test]
async fn smoke_flow_on_sqlite_and_postgres() {
    on_both(|store| async move {
        let s = start_on(store, GraphConfig::default()).await;
        let t = &s.a.token;
        let (_, group) = s
            .post("/v1.0/groups", t, json!({"displayName": "Kiosks", "mailEnabled": false, "mailNickname": "k", "securityEnabled": true,
                "groupTypes": ["DynamicMembership"], "membershipRule": "(device.devicePhysicalIds -any (_ -eq \"[OrderID]:Kiosk\"))"}))
            .await;
        let gid = group["id"].as_str().expect("gid").to_string();
        let (_, profile) = s
            .post("/beta/deviceManagement/windowsAutopilotDeploymentProfiles", t, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Kiosk"}))
            .await;
        let pid = profile["id"].as_str().expect("pid").to_string();
        let (status, _) = s
            .post(&format!("/beta/deviceManagement/windowsAutopilotDeploymentProfiles/{pid}/assignments"), t,
                json!({"id": format!("{pid}_{gid}_0"), "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid}}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let record = s.import_device(t, "SMOKE-1", "Contoso", "Kiosk").await;
        assert_eq!(record["state"]["deviceImportStatus"], "complete", "{record}");
        let other = s.import_device(&s.b.token, "SMOKE-1", "Contoso", "").await;
        assert_eq!(other["state"]["deviceErrorCode"], 808);
        let (_, found) = s.get("/beta/deviceManagement/windowsAutopilotDeviceIdentities?$filter=contains(serialNumber,'smoke')", t).await;
        let device = &found["value"][0];
        assert_eq!(device["id"], record["state"]["deviceRegistrationId"]);
        assert_eq!(device["deploymentProfileAssignmentStatus"], "assignedUnkownSyncState");
        let serials: Vec<String> = (0..250).map(|i| format!("BULK{i:04}")).collect();
        s.seed(&s.a.id, &serials, "").await;
        let mut seen = std::collections::HashSet::new();
        let mut next = Some("/beta/deviceManagement/windowsAutopilotDeviceIdentities?$top=100".to_string());
        while let Some(url) = next {
            let (_, page) = s.get(&url, t).await;
            for item in page["value"].as_array().cloned().unwrap_or_default() {
                assert!(seen.insert(item["id"].as_str().unwrap_or_default().to_string()), "duplicate across pages");
            }
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        assert_eq!(seen.len(), 251);
        let id = device["id"].as_str().expect("id");
        assert_eq!(s.delete(&format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{id}"), t).await.0, StatusCode::NO_CONTENT);
    })
    .await;
}
