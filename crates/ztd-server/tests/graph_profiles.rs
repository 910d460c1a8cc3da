//! Deployment profiles and assignments, ESP configurations, Autopilot settings sync, corporate identifiers and
//! autopilot events.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use ztd_server::GraphConfig;
use ztd_testkit::*;

const PROFILES: &str = "/beta/deviceManagement/windowsAutopilotDeploymentProfiles";
const DEVICES: &str = "/beta/deviceManagement/windowsAutopilotDeviceIdentities";
const ESPS: &str = "/beta/deviceManagement/deviceEnrollmentConfigurations";

fn old_style_profile() -> Value {
    // New-AutopilotProfile (WindowsAutopilotIntune): the deprecated names only.
    json!({
        "@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
        "displayName": "Old names", "description": "", "language": "os-default", "extractHardwareHash": false,
        "deviceNameTemplate": "", "deviceType": "windowsPc", "enableWhiteGlove": true,
        "outOfBoxExperienceSettings": {"hidePrivacySettings": true, "hideEULA": true, "userType": "administrator",
            "deviceUsageType": "singleUser", "skipKeyboardSelectionPage": true, "hideEscapeLink": true}
    })
}

#[tokio::test]
async fn profiles_accept_old_and_new_names_and_emit_both() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let (status, old) = s.post(PROFILES, t, old_style_profile()).await;
        assert_eq!(status, StatusCode::CREATED, "{old}");
        assert_eq!(
            old["@odata.type"],
            "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile"
        );
        assert_eq!(old["locale"], "os-default");
        assert_eq!(old["language"], "os-default");
        assert_eq!(old["preprovisioningAllowed"], true);
        assert_eq!(old["enableWhiteGlove"], true);
        assert_eq!(
            old["outOfBoxExperienceSetting"]["keyboardSelectionPageSkipped"],
            true
        );
        assert_eq!(
            old["outOfBoxExperienceSetting"]["userType"],
            "administrator"
        );
        assert_eq!(
            old["outOfBoxExperienceSettings"]["skipKeyboardSelectionPage"],
            true
        );
        let id = old["id"].as_str().expect("id").to_string();

        // Set-AutopilotProfile: GET, edit the old names, strip read-only fields, PATCH the whole object back.
        let (_, mut current) = s.get(&format!("{PROFILES}/{id}"), t).await;
        for key in [
            "id",
            "createdDateTime",
            "lastModifiedDateTime",
            "@odata.context",
            "roleScopeTagIds",
        ] {
            current.as_object_mut().map(|m| m.remove(key));
        }
        current["outOfBoxExperienceSettings"]["hideEscapeLink"] = json!(false);
        current["enableWhiteGlove"] = json!(false);
        current["displayName"] = json!("Renamed");
        let (status, body) = s.patch(&format!("{PROFILES}/{id}"), t, current).await;
        // 200 with the updated profile, as the update page documents.
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["displayName"], "Renamed");
        assert_eq!(body["id"], id.as_str());
        let (_, after) = s.get(&format!("{PROFILES}/{id}"), t).await;
        assert_eq!(after["displayName"], "Renamed");
        let mut fresh = after.clone();
        fresh.as_object_mut().unwrap().remove("@odata.context");
        let mut answered = body.clone();
        answered.as_object_mut().unwrap().remove("@odata.context");
        assert_eq!(fresh, answered, "the answer is the entity a read returns");
        assert_eq!(
            after["outOfBoxExperienceSetting"]["escapeLinkHidden"], false,
            "the old-name edit wins"
        );
        assert_eq!(after["preprovisioningAllowed"], false);

        // New names, hybrid subtype, booleans as strings.
        let (status, hybrid) = s
            .post(
                PROFILES,
                t,
                json!({"@odata.type": "microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile",
                       "displayName": "Hybrid", "locale": "en-US", "preprovisioningAllowed": "false",
                       "hardwareHashExtractionEnabled": "True", "hybridAzureADJoinSkipConnectivityCheck": true,
                       "outOfBoxExperienceSetting": {"deviceUsageType": "singleUser", "userType": "standard",
                           "privacySettingsHidden": true, "eulaHidden": true, "keyboardSelectionPageSkipped": false, "escapeLinkHidden": true}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hybrid}");
        assert_eq!(
            hybrid["@odata.type"],
            "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile"
        );
        assert_eq!(hybrid["extractHardwareHash"], true);
        assert_eq!(hybrid["hybridAzureADJoinSkipConnectivityCheck"], true);
        assert_eq!(hybrid["language"], "en-US");

        // The list carries @odata.type on every item.
        let (_, list) = s.get(PROFILES, t).await;
        assert_eq!(list["value"].as_array().map(Vec::len), Some(2));
        assert!(list["value"]
            .as_array()
            .expect("value")
            .iter()
            .all(|p| p["@odata.type"].is_string()));
        let (_, filtered) = s
            .get(&format!("{PROFILES}?$filter=displayName eq 'hybrid'"), t)
            .await;
        assert_eq!(filtered["value"].as_array().map(Vec::len), Some(1));

        // Abstract type without @odata.type: 400; changing the subtype: 400; v1.0 has no such path: 404.
        let (status, body) = s.post(PROFILES, t, json!({"displayName": "x"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_graph_error(&body);
        let (status, _) = s
            .patch(&format!("{PROFILES}/{id}"), t, json!({"@odata.type": "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = s
            .get(
                "/v1.0/deviceManagement/windowsAutopilotDeploymentProfiles",
                t,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_graph_error(&body);
        // Invalid enum value: 400.
        let mut bad = old_style_profile();
        bad["deviceType"] = json!("toaster");
        assert_eq!(s.post(PROFILES, t, bad).await.0, StatusCode::BAD_REQUEST);

        assert_eq!(
            s.delete(&format!("{PROFILES}/{id}"), t).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.get(&format!("{PROFILES}/{id}"), t).await.0,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn assignments_use_client_ids_and_drive_device_status() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let (_, profile) = s.post(PROFILES, t, old_style_profile()).await;
        let pid = profile["id"].as_str().expect("id").to_string();
        let (status, group) = s
            .post(
                "/v1.0/groups",
                t,
                json!({"displayName": "Autopilot Kiosk", "mailEnabled": false, "mailNickname": "ap-kiosk", "securityEnabled": true,
                       "groupTypes": ["DynamicMembership"], "membershipRule": "(device.devicePhysicalIds -any (_ -eq \"[OrderID]:Kiosk\"))",
                       "membershipRuleProcessingState": "On"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{group}");
        let gid = group["id"].as_str().expect("gid").to_string();
        let aid = format!("{pid}_{gid}_0");
        let (status, assignment) = s
            .post(
                &format!("{PROFILES}/{pid}/assignments"),
                t,
                json!({"id": aid, "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{assignment}");
        assert_eq!(assignment["id"], aid);
        assert_eq!(assignment["source"], "direct");
        assert_eq!(assignment["sourceId"], pid);
        assert_eq!(
            assignment["target"]["deviceAndAppManagementAssignmentFilterType"],
            "none"
        );
        let (_, list) = s.get(&format!("{PROFILES}/{pid}/assignments"), t).await;
        assert_eq!(list["value"][0]["id"], aid);
        assert!(list["@odata.context"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!(
                "windowsAutopilotDeploymentProfiles('{pid}')/assignments"
            )));
        assert_eq!(
            s.get(&format!("{PROFILES}/{pid}/assignments/{aid}"), t)
                .await
                .0,
            StatusCode::OK
        );

        // A device tagged Kiosk joins the group and gets the profile.
        let record = s.import_device(t, "KIOSK-1", "Contoso", "Kiosk").await;
        let ztdid = record["state"]["deviceRegistrationId"]
            .as_str()
            .expect("ztdid")
            .to_string();
        let (_, device) = s
            .get(
                &format!("{DEVICES}/{ztdid}?$expand=deploymentProfile,intendedDeploymentProfile"),
                t,
            )
            .await;
        assert!(device["deploymentProfileAssignmentStatus"]
            .as_str()
            .unwrap_or_default()
            .starts_with("assigned"));
        assert_eq!(
            device["deploymentProfileAssignmentStatus"],
            "assignedUnkownSyncState"
        );
        assert_eq!(device["intendedDeploymentProfile"]["id"], pid);
        assert!(device["deploymentProfile"].is_null());
        let (status, intended) = s
            .get(&format!("{DEVICES}/{ztdid}/intendedDeploymentProfile"), t)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(intended["id"], pid);
        let (_, assigned) = s.get(&format!("{PROFILES}/{pid}/assignedDevices"), t).await;
        assert_eq!(assigned["value"][0]["id"], ztdid);

        // Remove-AutopilotProfileAssignments: DELETE by the conventional id.
        assert_eq!(
            s.delete(&format!("{PROFILES}/{pid}/assignments/{aid}"), t)
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        let (_, device) = s.get(&format!("{DEVICES}/{ztdid}"), t).await;
        assert_eq!(device["deploymentProfileAssignmentStatus"], "notAssigned");
        assert_eq!(
            s.delete(&format!("{PROFILES}/{pid}/assignments/{aid}"), t)
                .await
                .0,
            StatusCode::NOT_FOUND
        );

        // All devices, with the virtual group id in the conventional id.
        let (status, all) = s
            .post(
                &format!("{PROFILES}/{pid}/assignments"),
                t,
                json!({"target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            all["id"],
            format!("{pid}_adadadad-808e-44e2-905a-0b7873a8a531_0")
        );
        // Unsupported targets: 400.
        let (status, _) = s
            .post(
                &format!("{PROFILES}/{pid}/assignments"),
                t,
                json!({"target": {"@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget"}}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // assign with deviceIds (per-device assignment through a static group).
        let (_, second) = s.post(PROFILES, t, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Direct"})).await;
        let second_id = second["id"].as_str().expect("id").to_string();
        let (status, body) = s
            .post(
                &format!("{PROFILES}/{second_id}/assign"),
                t,
                json!({"deviceIds": [ztdid]}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, device) = s.get(&format!("{DEVICES}/{ztdid}"), t).await;
        assert!(device["deploymentProfileAssignmentStatus"]
            .as_str()
            .unwrap_or_default()
            .starts_with("assigned"));
        let (_, payload) = s
            .post(
                &format!("{PROFILES}/hasPayloadLinks"),
                t,
                json!({"payloadIds": [pid]}),
            )
            .await;
        assert_eq!(payload["value"][0]["hasLink"], false);
    })
    .await;
}

#[tokio::test]
async fn esp_default_id_create_priority_assign() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let (_, list) = s.get(ESPS, t).await;
        let default_id = format!(
            "{}_DefaultWindows10EnrollmentCompletionPageConfiguration",
            s.a.id
        );
        let default = list["value"]
            .as_array()
            .expect("value")
            .iter()
            .find(|e| e["id"] == default_id.as_str())
            .cloned()
            .expect("default ESP");
        assert_eq!(default["displayName"], "All users and all devices");
        assert_eq!(default["priority"], 0);
        assert_eq!(
            default["@odata.type"],
            "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration"
        );
        assert_eq!(default["createdDateTime"], "0001-01-01T00:00:00Z");

        // Add-EnrollmentStatusPage: strings for booleans and numbers, trailing comma.
        let raw = r##"{
            "@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration",
            "displayName": "Kiosk ESP", "description": "",
            "showInstallationProgress": "True", "blockDeviceSetupRetryByUser": "False",
            "allowDeviceResetOnInstallFailure": "True", "allowLogCollectionOnInstallFailure": "True",
            "customErrorMessage": "Contact IT", "installProgressTimeoutInMinutes": "90",
            "allowDeviceUseOnInstallFailure": "False",
        }"##;
        let (status, first) = s.post(ESPS, t, Value::String(raw.into())).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["installProgressTimeoutInMinutes"], 90);
        assert_eq!(first["showInstallationProgress"], true);
        assert_eq!(first["priority"], 1);
        let first_id = first["id"].as_str().expect("id").to_string();
        let (_, second) = s.post(ESPS, t, json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "displayName": "Second"})).await;
        let second_id = second["id"].as_str().expect("id").to_string();
        assert_eq!(second["priority"], 2);
        let (status, _) = s
            .post(
                &format!("{ESPS}/{second_id}/setPriority"),
                t,
                json!({"priority": "1"}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            s.get(&format!("{ESPS}/{first_id}"), t).await.1["priority"],
            2
        );
        assert_eq!(
            s.get(&format!("{ESPS}/{second_id}"), t).await.1["priority"],
            1
        );

        let (_, group) = s.post("/v1.0/groups", t, json!({"displayName": "ESP group", "mailEnabled": false, "mailNickname": "esp", "securityEnabled": true})).await;
        let gid = group["id"].as_str().expect("gid").to_string();
        let (status, body) = s
            .post(
                &format!("{ESPS}/{first_id}/microsoft.graph.assign"),
                t,
                json!({"enrollmentConfigurationAssignments": [{"@odata.type": "#microsoft.graph.enrollmentConfigurationAssignment",
                       "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, assignments) = s.get(&format!("{ESPS}/{first_id}/assignments"), t).await;
        assert_eq!(assignments["value"][0]["target"]["groupId"], gid);
        // The default ESP cannot be assigned, re-prioritised or deleted.
        let (status, body) = s
            .post(
                &format!("{ESPS}/{default_id}/assign"),
                t,
                json!({"enrollmentConfigurationAssignments": []}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_graph_error(&body);
        assert_eq!(
            s.delete(&format!("{ESPS}/{default_id}"), t).await.0,
            StatusCode::BAD_REQUEST
        );
        // PATCH with strings and read-only fields.
        let (status, body) = s
            .patch(&format!("{ESPS}/{first_id}"), t, json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration",
                "id": "ignored", "createdDateTime": "2020-01-01T00:00:00Z", "displayName": "Kiosk ESP 2", "installProgressTimeoutInMinutes": "120"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["displayName"], "Kiosk ESP 2");
        assert_eq!(body["installProgressTimeoutInMinutes"], 120);
        let (_, updated) = s.get(&format!("{ESPS}/{first_id}"), t).await;
        assert_eq!(updated["installProgressTimeoutInMinutes"], 120);
        assert_eq!(updated["id"], first_id);
        // Other enrollment configuration types are refused; v1.0 serves the ESP with its v1.0 properties.
        let (status, _) = s.post(ESPS, t, json!({"@odata.type": "#microsoft.graph.deviceEnrollmentLimitConfiguration", "displayName": "x"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, v1) = s
            .get(
                &format!("/v1.0/deviceManagement/deviceEnrollmentConfigurations/{first_id}"),
                t,
            )
            .await;
        assert!(v1.get("showInstallationProgress").is_none());
        assert!(v1.get("allowNonBlockingAppInstallation").is_some());
        assert_eq!(
            s.delete(&format!("{ESPS}/{second_id}"), t).await.0,
            StatusCode::NO_CONTENT
        );
    })
    .await;
}

#[tokio::test]
async fn sync_204_then_409_while_running_then_429_within_window() {
    on_both_servers(
        GraphConfig {
            sync_throttle: Duration::from_millis(1500),
            sync_duration: Duration::from_millis(300),
            ..Default::default()
        },
        |s| async move {
            let t = &s.a.token;
            let sync = "/beta/deviceManagement/windowsAutopilotSettings/sync";
            let (_, settings) = s
                .get("/beta/deviceManagement/windowsAutopilotSettings", t)
                .await;
            assert_eq!(settings["syncStatus"], "unknown");
            assert!(settings["@odata.context"]
                .as_str()
                .unwrap_or_default()
                .ends_with("#deviceManagement/windowsAutopilotSettings/$entity"));
            assert_eq!(
                s.call(Method::POST, sync, Some(t), None).await.0,
                StatusCode::NO_CONTENT
            );
            let (status, body) = s.call(Method::POST, sync, Some(t), None).await;
            assert_eq!(status, StatusCode::CONFLICT);
            assert_eq!(assert_graph_error(&body), "Conflict");
            assert_eq!(
                s.get("/beta/deviceManagement/windowsAutopilotSettings", t)
                    .await
                    .1["syncStatus"],
                "inProgress"
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
            let response = s
                .http
                .post(format!("{}{sync}", s.url))
                .bearer_auth(t)
                .send()
                .await
                .expect("sync");
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(response.headers().get("retry-after").is_some());
            let (_, settings) = s
                .get("/beta/deviceManagement/windowsAutopilotSettings", t)
                .await;
            assert_eq!(settings["syncStatus"], "completed");
            assert_ne!(settings["lastSyncDateTime"], "0001-01-01T00:00:00Z");
            // Tenant B's window is its own.
            assert_eq!(
                s.call(Method::POST, sync, Some(&s.b.token), None).await.0,
                StatusCode::NO_CONTENT
            );
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert_eq!(
                s.call(Method::POST, sync, Some(t), None).await.0,
                StatusCode::NO_CONTENT
            );
        },
    )
    .await;
}

#[tokio::test]
async fn corporate_identifiers_and_autopilot_events() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let base = "/beta/deviceManagement/importedDeviceIdentities";
        let (status, result) = s
            .post(
                &format!("{base}/importDeviceIdentityList"),
                t,
                json!({"importedDeviceIdentities": [{"importedDeviceIdentifier": "Contoso,Laptop 7,PF1", "importedDeviceIdentityType": "manufacturerModelSerial"}],
                       "overwriteImportedDeviceIdentities": false}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert_eq!(result["value"][0]["status"], true);
        let id = result["value"][0]["id"].as_str().expect("id").to_string();
        let (_, again) = s
            .post(&format!("{base}/importDeviceIdentityList"), t, json!({"importedDeviceIdentities": [{"importedDeviceIdentifier": "contoso,laptop 7,pf1", "importedDeviceIdentityType": "manufacturerModelSerial"}]}))
            .await;
        assert_eq!(
            again["value"][0]["status"], false,
            "already declared, not overwritten"
        );
        let (_, found) = s
            .post(&format!("{base}/searchExistingIdentities"), t, json!({"importedDeviceIdentities": [{"importedDeviceIdentifier": "Contoso,Laptop 7,PF1", "importedDeviceIdentityType": "manufacturerModelSerial"}]}))
            .await;
        assert_eq!(found["value"][0]["id"], id);
        let (status, single) = s
            .post(
                base,
                t,
                json!({"importedDeviceIdentifier": "IMEI-1", "importedDeviceIdentityType": "imei"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, list) = s.get(base, t).await;
        assert_eq!(list["value"].as_array().map(Vec::len), Some(2));
        let (status, _) = s
            .post(
                base,
                t,
                json!({"importedDeviceIdentifier": "x", "importedDeviceIdentityType": "nonsense"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let single_id = single["id"].as_str().expect("id");
        assert_eq!(
            s.delete(&format!("{base}/{single_id}"), t).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.get(&format!("{base}/{single_id}"), t).await.0,
            StatusCode::NOT_FOUND
        );

        // A device boots (device API), which shows up in autopilotEvents.
        let serial = "EVT-1";
        s.import_device(t, serial, "Contoso", "").await;
        let (status, _) = s
            .post(
                "/device/v1/boot",
                t,
                json!({"hardwareHash": hash(serial, "Contoso")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let events = s.wait_for_autopilot_events(t).await;
        let event = &events["value"][0];
        assert_eq!(event["deviceSerialNumber"], serial);
        let event_id = event["id"].as_str().expect("event id");
        assert_eq!(
            s.get(
                &format!("/beta/deviceManagement/autopilotEvents/{event_id}"),
                t
            )
            .await
            .0,
            StatusCode::OK
        );
        let (_, other) = s
            .get("/beta/deviceManagement/autopilotEvents", &s.b.token)
            .await;
        assert_eq!(other["value"].as_array().map(Vec::len), Some(0));
    })
    .await;
}

/// `$expand=assignments` on every collection a backup reads, with `$select` on the expanded navigation, and
/// each tenant seeing only its own.
#[tokio::test]
async fn collections_expand_their_assignments() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let (_, group) = s
            .post("/v1.0/groups", t, json!({"displayName": "Expand", "mailEnabled": false, "mailNickname": "expand", "securityEnabled": true}))
            .await;
        let gid = group["id"].as_str().unwrap().to_string();
        let target = json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid});
        let (_, profile) = s
            .post(PROFILES, t, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Expanded"}))
            .await;
        let pid = profile["id"].as_str().unwrap().to_string();
        let (status, _) = s
            .post(&format!("{PROFILES}/{pid}/assignments"), t, json!({"target": target}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, unassigned) = s
            .post(PROFILES, t, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Bare"}))
            .await;
        let (_, esp) = s
            .post(ESPS, t, json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "displayName": "Expanded ESP"}))
            .await;
        let eid = esp["id"].as_str().unwrap().to_string();
        s.post(&format!("{ESPS}/{eid}/assign"), t, json!({"enrollmentConfigurationAssignments": [{"target": target}]}))
            .await;
        let configs = "/beta/deviceManagement/deviceConfigurations";
        let (_, config) = s
            .post(configs, t, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "Expanded config",
                "omaSettings": [{"@odata.type": "#microsoft.graph.omaSettingString", "displayName": "x", "omaUri": "./Device/Vendor/MSFT/Policy/Config/Start/HideSleep", "value": "1"}]}))
            .await;
        let cid = config["id"].as_str().unwrap().to_string();
        let (status, _) = s
            .post(&format!("{configs}/{cid}/assign"), t, json!({"assignments": [{"target": target}]}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let compliance = "/beta/deviceManagement/deviceCompliancePolicies";
        let (_, policy) = s
            .post(compliance, t, json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "Expanded compliance", "bitLockerEnabled": true}))
            .await;
        let cpid = policy["id"].as_str().unwrap().to_string();
        s.post(&format!("{compliance}/{cpid}/assign"), t, json!({"assignments": [{"target": target}]}))
            .await;

        let find = |list: &Value, id: &str| -> Value {
            list["value"]
                .as_array()
                .unwrap()
                .iter()
                .find(|item| item["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("{id} not in {list}"))
        };
        for (collection, id) in [
            (PROFILES.to_string(), pid.as_str()),
            (ESPS.to_string(), eid.as_str()),
            (configs.to_string(), cid.as_str()),
            (compliance.to_string(), cpid.as_str()),
        ] {
            let (status, list) = s
                .get(&format!("{collection}?$expand=assignments"), t)
                .await;
            assert_eq!(status, StatusCode::OK, "{collection}: {list}");
            let item = find(&list, id);
            let assignments = item["assignments"].as_array().expect("assignments expanded");
            assert_eq!(assignments.len(), 1, "{collection}: {item}");
            assert_eq!(assignments[0]["target"]["groupId"], gid.as_str(), "{collection}");
            // $select on the navigation keeps only what it names (and the id).
            let (_, narrow) = s
                .get(&format!("{collection}?$select=id,displayName&$expand=assignments($select=target)"), t)
                .await;
            let item = find(&narrow, id);
            assert!(item.get("createdDateTime").is_none(), "{collection}: {item}");
            let first = item["assignments"][0].as_object().unwrap();
            let mut keys: Vec<&str> = first
                .keys()
                .map(String::as_str)
                .filter(|k| !k.starts_with("@odata."))
                .collect();
            keys.sort();
            assert_eq!(keys, vec!["id", "target"], "{collection}: {item}");
            // The single entity too.
            let (_, one) = s
                .get(&format!("{collection}/{id}?$expand=assignments"), t)
                .await;
            assert_eq!(one["assignments"].as_array().map(Vec::len), Some(1), "{collection}: {one}");
            // Tenant B sees none of A's objects nor their assignments.
            let (status, theirs) = s
                .get(&format!("{collection}?$expand=assignments"), &s.b.token)
                .await;
            assert_eq!(status, StatusCode::OK);
            assert!(!theirs["value"].as_array().unwrap().iter().any(|i| i["id"] == id));
            assert!(!theirs.to_string().contains(&gid), "{collection}: {theirs}");
        }
        let (_, list) = s.get(&format!("{PROFILES}?$expand=assignments"), t).await;
        assert_eq!(find(&list, unassigned["id"].as_str().unwrap())["assignments"], json!([]));
        let (status, _) = s
            .get(&format!("{PROFILES}?$expand=assignments($filter=id eq 'x')"), t)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
}
