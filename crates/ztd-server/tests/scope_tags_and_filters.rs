//! Role scope tags, assignment filters, the tags every object carries and the filters assignments carry:
//! CRUD with Graph's statuses and shapes, the built-in Default tag, refusals, round trips on deployment
//! profiles, ESPs, configuration profiles and compliance policies, a filter deciding which managed device
//! gets a configuration profile (include and exclude), and tenant isolation. Every scenario runs on SQLite
//! and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{json, Value};
use ztd_device::mdm::{CspTree, EnrollCredential, EnrollOptions, Hardware, MdmEnrollment};
use ztd_device::DeviceClient;
use ztd_server::GraphConfig;
use ztd_testkit::{on_both_servers, on_both_tls_servers, Server};

const TAGS: &str = "/beta/deviceManagement/roleScopeTags";
const FILTERS: &str = "/beta/deviceManagement/assignmentFilters";
const PROFILES: &str = "/beta/deviceManagement/windowsAutopilotDeploymentProfiles";
const ESPS: &str = "/beta/deviceManagement/deviceEnrollmentConfigurations";
const CONFIGS: &str = "/beta/deviceManagement/deviceConfigurations";
const COMPLIANCE: &str = "/beta/deviceManagement/deviceCompliancePolicies";
const ALL_DEVICES: &str = "#microsoft.graph.allDevicesAssignmentTarget";

async fn create(s: &Server, token: &str, path: &str, body: Value) -> Value {
    let (status, created) = s.post(path, token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
    created
}

async fn tag(s: &Server, token: &str, name: &str) -> String {
    let t = create(
        s,
        token,
        TAGS,
        json!({"displayName": name, "description": "d"}),
    )
    .await;
    t["id"].as_str().unwrap().to_string()
}

fn filter_body(name: &str, rule: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.deviceAndAppManagementAssignmentFilter",
        "displayName": name,
        "description": "",
        "platform": "windows10AndLater",
        "rule": rule,
    })
}

async fn filter(s: &Server, token: &str, name: &str, rule: &str) -> String {
    let f = create(s, token, FILTERS, filter_body(name, rule)).await;
    f["id"].as_str().unwrap().to_string()
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn scope_tags_have_a_builtin_default_and_numbered_custom_tags() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        // Default is there without being created, under both versions.
        for version in ["beta", "v1.0"] {
            let (status, list) = s
                .get(&format!("/{version}/deviceManagement/roleScopeTags"), t)
                .await;
            assert_eq!(status, StatusCode::OK, "{list}");
            assert_eq!(list["value"].as_array().unwrap().len(), 1);
            assert_eq!(list["value"][0]["id"], "0");
            assert_eq!(list["value"][0]["displayName"], "Default");
            assert_eq!(list["value"][0]["isBuiltIn"], true);
            assert!(
                list["@odata.context"]
                    .as_str()
                    .unwrap()
                    .ends_with("$metadata#deviceManagement/roleScopeTags"),
                "{list}"
            );
        }
        let (status, default) = s.get(&format!("{TAGS}/0"), t).await;
        assert_eq!(
            (status, default["isBuiltIn"].clone()),
            (StatusCode::OK, json!(true))
        );

        // Custom tags are numbered per tenant from 1, never reused.
        let created = create(
            &s,
            t,
            TAGS,
            json!({"displayName": "Paris", "description": "Paris office"}),
        )
        .await;
        assert_eq!(created["id"], "1");
        assert_eq!(created["isBuiltIn"], false);
        assert_eq!(created["@odata.type"], "#microsoft.graph.roleScopeTag");
        assert_eq!(tag(&s, t, "Lyon").await, "2");
        let (status, updated) = s
            .patch(&format!("{TAGS}/2"), t, json!({"displayName": "Lille"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(
            (
                updated["displayName"].clone(),
                updated["description"].clone()
            ),
            (json!("Lille"), json!("d"))
        );
        let (status, _) = s.delete(&format!("{TAGS}/2"), t).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            tag(&s, t, "Nantes").await,
            "3",
            "a deleted tag's id is not reused"
        );
        let (_, list) = s.get(TAGS, t).await;
        let ids: Vec<&str> = list["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["0", "1", "3"]);
        // Each change is an audited event.
        let (_, log) = s.get("/beta/deviceManagement/auditEvents", t).await;
        let activities: Vec<&str> = log["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["activity"].as_str())
            .collect();
        for expected in [
            "Scope tag created",
            "Scope tag updated",
            "Scope tag deleted",
        ] {
            assert!(activities.contains(&expected), "{expected}: {activities:?}");
        }
        // Another tenant numbers its own from 1.
        assert_eq!(tag(&s, &s.b.token, "B").await, "1");

        // The built-in tag cannot change or go; refusals are clear.
        let (status, body) = s
            .patch(&format!("{TAGS}/0"), t, json!({"displayName": "Mine"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            message(&body).contains("built-in scope tag Default"),
            "{body}"
        );
        let (status, body) = s.delete(&format!("{TAGS}/0"), t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) = s.post(TAGS, t, json!({"displayName": ""})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message(&body).contains("displayName"), "{body}");
        let (status, body) = s.post(TAGS, t, json!({"displayName": "default"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = s.get(&format!("{TAGS}/99"), t).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // The collection pages like the others.
        let (status, page) = s.get(&format!("{TAGS}?$top=1"), t).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["value"].as_array().unwrap().len(), 1);
        assert!(page["@odata.nextLink"].is_string(), "{page}");
    })
    .await;
}

#[tokio::test]
async fn assignment_filters_are_validated_and_cannot_go_while_used() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let created = create(&s, t, FILTERS, filter_body("Surface", r#"(device.model -startsWith "Surface") and (device.manufacturer -eq "Microsoft Corporation")"#)).await;
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["@odata.type"], "#microsoft.graph.deviceAndAppManagementAssignmentFilter");
        assert_eq!(created["platform"], "windows10AndLater");
        assert_eq!(created["roleScopeTags"], json!(["0"]));
        assert_eq!(created["assignmentFilterManagementType"], "devices");
        assert!(created["createdDateTime"].is_string() && created["lastModifiedDateTime"].is_string());
        let (status, got) = s.get(&format!("{FILTERS}/{id}"), t).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got["rule"], created["rule"]);
        let (_, list) = s.get(FILTERS, t).await;
        assert_eq!(list["value"].as_array().unwrap().len(), 1);
        let (status, updated) = s.patch(&format!("{FILTERS}/{id}"), t, json!({"rule": r#"device.deviceName -in ["A", "B"]"#, "description": "two"})).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!((updated["rule"].clone(), updated["displayName"].clone()), (json!(r#"device.deviceName -in ["A", "B"]"#), json!("Surface")));

        // Refusals name the problem.
        let cases = [
            (filter_body("x", r#"device.deviceOSType -eq "Windows""#), "deviceName, manufacturer, model, osVersion, deviceOwnership, deviceTrustType"),
            (filter_body("x", r#"device.cpuArchitecture -eq "arm64""#), "Attribute not supported"),
            (filter_body("x", r#"device.model -match "^S""#), "-startsWith"),
            (filter_body("x", r#"(device.model -eq "a""#), "line 1"),
            (filter_body("x", ""), "rule"),
            (json!({"displayName": "x", "platform": "iOS", "rule": r#"device.model -eq "a""#}), "windows10AndLater"),
            (json!({"displayName": "x", "platform": "windows10AndLater", "rule": format!(r#"device.model -eq "{}""#, "a".repeat(3100))}), "3072"),
            (json!({"displayName": "x", "platform": "windows10AndLater", "rule": r#"device.model -eq "a""#, "roleScopeTags": ["42"]}), "\"42\""),
        ];
        for (body, expected) in cases {
            let (status, answer) = s.post(FILTERS, t, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert!(message(&answer).contains(expected), "{expected}: {answer}");
        }
        let (status, answer) = s.patch(&format!("{FILTERS}/{id}"), t, json!({"rule": "device.model -eq"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

        // validateFilter answers without storing.
        let (status, ok) = s.post(&format!("{FILTERS}/validateFilter"), t, json!({"deviceAndAppManagementAssignmentFilter": {"platform": "windows10AndLater", "rule": r#"device.osVersion -startsWith "10.0.22""#}})).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
        assert_eq!(ok["isValidRule"], true);
        let (_, bad) = s.post(&format!("{FILTERS}/validateFilter"), t, json!({"deviceAndAppManagementAssignmentFilter": {"rule": r#"device.isRooted -eq true"#}})).await;
        assert_eq!(bad["isValidRule"], false, "{bad}");
        assert!(bad["ztdError"].as_str().unwrap().contains("isRooted"), "{bad}");

        // A filter in use cannot be deleted; once unused it can.
        let policy = create(&s, t, CONFIGS, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "p", "omaSettings": []})).await;
        let pid = policy["id"].as_str().unwrap();
        let (status, body) = s.post(&format!("{CONFIGS}/{pid}/assign"), t, json!({"assignments": [{"target": {"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": id, "deviceAndAppManagementAssignmentFilterType": "include"}}]})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = s.delete(&format!("{FILTERS}/{id}"), t).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(message(&body).contains(pid), "{body}");
        let (status, _) = s.post(&format!("{CONFIGS}/{pid}/assign"), t, json!({"assignments": []})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = s.delete(&format!("{FILTERS}/{id}"), t).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = s.get(&format!("{FILTERS}/{id}"), t).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Filters are a beta resource.
        let (status, _) = s.get("/v1.0/deviceManagement/assignmentFilters", t).await;
        assert_ne!(status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn tags_and_filters_round_trip_on_profiles_esps_configurations_and_compliance() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let paris = tag(&s, t, "Paris").await;
        let fid = filter(&s, t, "Surface", r#"device.model -startsWith "Surface""#).await;
        let (_, group) = s
            .post("/v1.0/groups", t, json!({"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true}))
            .await;
        let gid = group["id"].as_str().unwrap().to_string();
        let filtered = |mode: &str| json!({"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid, "deviceAndAppManagementAssignmentFilterId": fid, "deviceAndAppManagementAssignmentFilterType": mode});

        // Deployment profile: tags and a filtered assignment read back as written.
        let profile = create(&s, t, PROFILES, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "P", "roleScopeTagIds": ["0", paris]})).await;
        assert_eq!(profile["roleScopeTagIds"], json!(["0", paris]));
        let pid = profile["id"].as_str().unwrap();
        let a = create(&s, t, &format!("{PROFILES}/{pid}/assignments"), json!({"target": filtered("exclude")})).await;
        assert_eq!(a["target"]["deviceAndAppManagementAssignmentFilterId"], fid.as_str());
        assert_eq!(a["target"]["deviceAndAppManagementAssignmentFilterType"], "exclude");
        let (_, listed) = s.get(&format!("{PROFILES}/{pid}/assignments"), t).await;
        assert_eq!(listed["value"][0]["target"], a["target"]);
        // The same target with another filter: the assignment keeps its id and the new filter is kept.
        let changed = create(&s, t, &format!("{PROFILES}/{pid}/assignments"), json!({"target": filtered("include")})).await;
        assert_eq!(changed["id"], a["id"]);
        let (_, listed) = s.get(&format!("{PROFILES}/{pid}/assignments"), t).await;
        assert_eq!(listed["value"].as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!(listed["value"][0]["target"]["deviceAndAppManagementAssignmentFilterType"], "include", "{listed}");
        let (status, body) = s.post(PROFILES, t, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Q", "roleScopeTagIds": ["0", "77"]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message(&body).contains("\"77\""), "{body}");

        // ESP: tags (default ["0"]) and filtered assignments, under beta; v1.0 shows no filter properties.
        let esp = create(&s, t, ESPS, json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "displayName": "E"})).await;
        assert_eq!(esp["roleScopeTagIds"], json!(["0"]));
        let eid = esp["id"].as_str().unwrap();
        let (status, body) = s.patch(&format!("{ESPS}/{eid}"), t, json!({"@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration", "roleScopeTagIds": [paris]})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["roleScopeTagIds"], json!([paris]));
        let (status, body) = s.post(&format!("{ESPS}/{eid}/assign"), t, json!({"enrollmentConfigurationAssignments": [{"target": filtered("include")}, {"target": {"@odata.type": ALL_DEVICES}}]})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (_, got) = s.get(&format!("{ESPS}/{eid}?$expand=assignments"), t).await;
        assert_eq!(got["roleScopeTagIds"], json!([paris]));
        assert_eq!(got["assignments"][0]["target"]["deviceAndAppManagementAssignmentFilterType"], "include");
        assert_eq!(got["assignments"][0]["target"]["deviceAndAppManagementAssignmentFilterId"], fid.as_str());
        assert_eq!(got["assignments"][1]["target"]["deviceAndAppManagementAssignmentFilterType"], "none");
        assert_eq!(got["assignments"][1]["target"]["deviceAndAppManagementAssignmentFilterId"], Value::Null);
        let (_, v1) = s.get(&format!("/v1.0/deviceManagement/deviceEnrollmentConfigurations/{eid}/assignments"), t).await;
        assert!(v1["value"][0]["target"].get("deviceAndAppManagementAssignmentFilterType").is_none(), "{v1}");
        let (_, default) = s.get(&format!("{ESPS}/{}_DefaultWindows10EnrollmentCompletionPageConfiguration", s.a.id), t).await;
        assert_eq!(default["roleScopeTagIds"], json!([]));

        // Configuration profile and compliance policy: tags and filtered assignments.
        for (collection, body) in [
            (CONFIGS, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "C", "omaSettings": []})),
            (COMPLIANCE, json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "K", "passwordRequired": true})),
        ] {
            let plain = create(&s, t, collection, body.clone()).await;
            assert_eq!(plain["roleScopeTagIds"], json!(["0"]), "{collection}");
            let mut tagged = body.clone();
            tagged["roleScopeTagIds"] = json!([paris, "0"]);
            let tagged = create(&s, t, collection, tagged).await;
            assert_eq!(tagged["roleScopeTagIds"], json!([paris, "0"]));
            let id = tagged["id"].as_str().unwrap();
            let (_, got) = s.get(&format!("{collection}/{id}"), t).await;
            assert_eq!(got["roleScopeTagIds"], json!([paris, "0"]));
            let (status, patched) = s.patch(&format!("{collection}/{id}"), t, json!({"roleScopeTagIds": [paris]})).await;
            assert_eq!(status, StatusCode::OK, "{patched}");
            assert_eq!(patched["roleScopeTagIds"], json!([paris]));
            let mut unknown = body.clone();
            unknown["roleScopeTagIds"] = json!(["5"]);
            let (status, answer) = s.post(collection, t, unknown).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert!(message(&answer).contains("\"5\""), "{answer}");

            let (status, assigned) = s.post(&format!("{collection}/{id}/assign"), t, json!({"assignments": [{"target": filtered("include")}]})).await;
            assert_eq!(status, StatusCode::OK, "{assigned}");
            let (_, listed) = s.get(&format!("{collection}/{id}/assignments"), t).await;
            let target = &listed["value"][0]["target"];
            assert_eq!((target["deviceAndAppManagementAssignmentFilterId"].as_str(), target["deviceAndAppManagementAssignmentFilterType"].as_str()), (Some(fid.as_str()), Some("include")), "{listed}");
            let v1 = format!("/v1.0/deviceManagement/{}/{id}/assignments", collection.rsplit('/').next().unwrap());
            let (_, listed) = s.get(&v1, t).await;
            assert!(listed["value"][0]["target"].get("deviceAndAppManagementAssignmentFilterId").is_none(), "{listed}");

            // The pairs Graph refuses, an unknown filter, and a filter on an exclusion.
            for (target, expected) in [
                (json!({"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": fid, "deviceAndAppManagementAssignmentFilterType": "none"}), "include or exclude"),
                (json!({"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterType": "exclude"}), "needs a filter id"),
                (json!({"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": "0b0b0b0b-0000-4000-8000-000000000000", "deviceAndAppManagementAssignmentFilterType": "include"}), "no assignment filter"),
                (json!({"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": gid, "deviceAndAppManagementAssignmentFilterId": fid, "deviceAndAppManagementAssignmentFilterType": "include"}), "exclusion"),
            ] {
                let (status, answer) = s.post(&format!("{collection}/{id}/assign"), t, json!({"assignments": [{"target": target}]})).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
                assert!(message(&answer).contains(expected), "{expected}: {answer}");
            }
        }
        // The same pairs are refused on a profile assignment too.
        let (status, answer) = s.post(&format!("{PROFILES}/{pid}/assignments"), t, json!({"target": {"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": fid}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

        // A tag still carried cannot be deleted; the answer names a carrier.
        let (status, body) = s.delete(&format!("{TAGS}/{paris}"), t).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(message(&body).contains(pid), "{body}");
    })
    .await;
}

#[tokio::test]
async fn tenants_never_see_or_use_each_others_tags_and_filters() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let (ta, tb) = (&s.a.token, &s.b.token);
        let paris = tag(&s, ta, "Paris").await;
        let fid = filter(&s, ta, "A's", r#"device.deviceName -eq "A""#).await;
        // B sees only its Default, and none of A's filters.
        let (_, tags) = s.get(TAGS, tb).await;
        assert_eq!(tags["value"].as_array().unwrap().len(), 1);
        let (status, _) = s.get(&format!("{TAGS}/{paris}"), tb).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.patch(&format!("{TAGS}/{paris}"), tb, json!({"displayName": "x"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.delete(&format!("{TAGS}/{paris}"), tb).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, filters) = s.get(FILTERS, tb).await;
        assert_eq!(filters["value"], json!([]));
        for (status, _) in [
            s.get(&format!("{FILTERS}/{fid}"), tb).await,
            s.patch(&format!("{FILTERS}/{fid}"), tb, json!({"displayName": "x"})).await,
            s.delete(&format!("{FILTERS}/{fid}"), tb).await,
        ] {
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        // B cannot carry A's tag nor assign with A's filter.
        let (status, body) = s.post(FILTERS, tb, json!({"displayName": "x", "platform": "windows10AndLater", "rule": r#"device.model -eq "a""#, "roleScopeTags": [paris]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let policy = create(&s, tb, CONFIGS, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "B", "omaSettings": []})).await;
        let pid = policy["id"].as_str().unwrap();
        let (status, body) = s.post(&format!("{CONFIGS}/{pid}/assign"), tb, json!({"assignments": [{"target": {"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": fid, "deviceAndAppManagementAssignmentFilterType": "include"}}]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message(&body).contains("no assignment filter"), "{body}");
        let profile = create(&s, tb, PROFILES, json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "P"})).await;
        let (status, body) = s.post(&format!("{PROFILES}/{}/assignments", profile["id"].as_str().unwrap()), tb, json!({"target": {"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": fid, "deviceAndAppManagementAssignmentFilterType": "exclude"}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // A's objects are untouched.
        let (status, _) = s.get(&format!("{FILTERS}/{fid}"), ta).await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
}

// ---------------------------------------------------------------- filters in management sessions

const PASSWORD: &str = "Corr3ct-horse!";

/// A user of tenant A with a device enrolled in management ("Full": a personal device) whose hardware is
/// `hardware`.
async fn enrolled(
    s: &Server,
    name: &str,
    hardware: Hardware,
) -> (DeviceClient, MdmEnrollment, CspTree) {
    let upn = format!("{name}@{}", s.a.domain);
    let (status, body) = s
        .post("/v1.0/users", &s.a.token, json!({
            "accountEnabled": true, "displayName": name, "mailNickname": name, "userPrincipalName": upn,
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false}, "ztdRole": "user",
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let c = DeviceClient::new(&s.url, &s.a.domain, s.ca_pem.as_deref().map(str::as_bytes)).unwrap();
    let discovered = c.mdm_discover(&upn).await.expect("discovery");
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let device_id =
        uuid::Uuid::from_u128(0x5c09_e000_0000_4000_8000_0000_0000_0000 | u128::from(n))
            .to_string();
    let e = c
        .mdm_enroll(
            Some(&discovered.policy_service_url),
            &discovered.enrollment_service_url,
            &EnrollOptions {
                credential: EnrollCredential::Password {
                    upn: upn.clone(),
                    password: PASSWORD.into(),
                },
                enrollment_type: "Full".into(),
                device_id: device_id.clone(),
                hw_dev_id: format!("{:0>64}", device_id.replace('-', "")),
                device_name: hardware.device_name.clone(),
                not_in_oobe: true,
                autopilot_correlator: None,
                domain_name: None,
                enrollment_data: None,
            },
        )
        .await
        .expect("enrollment");
    let tree = CspTree::windows(&hardware, &e.device_id, &e.provider_id);
    (c, e, tree)
}

fn hardware(name: &str, model: &str) -> Hardware {
    Hardware {
        model: model.into(),
        ..Hardware::lab(name, &format!("SN-{name}"))
    }
}

#[tokio::test]
async fn a_filter_decides_which_managed_device_gets_a_configuration_profile() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let (c1, mut e1, mut surface) = enrolled(&s, "surface", hardware("PC-SURFACE", "Surface Laptop 5")).await;
        let (c2, mut e2, mut lab) = enrolled(&s, "lab", hardware("PC-LAB", "Lab PC")).await;
        // First sessions: the inventory (model, OS version) is known before filters matter.
        c1.mdm_session(&mut e1, &mut surface, "user").await.unwrap();
        c2.mdm_session(&mut e2, &mut lab, "user").await.unwrap();

        let surfaces = filter(&s, t, "Surfaces", r#"(device.model -startsWith "Surface") and (device.deviceOwnership -eq "Personal")"#).await;
        let setting = |uri: &str, value: i64| json!({"@odata.type": "#microsoft.graph.omaSettingInteger", "displayName": uri, "omaUri": uri, "value": value});
        let only = "./Device/Vendor/MSFT/Policy/Config/Filtered/OnlySurfaces";
        let but = "./Device/Vendor/MSFT/Policy/Config/Filtered/AllButSurfaces";
        let include = create(&s, t, CONFIGS, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "Only Surfaces", "omaSettings": [setting(only, 1)]})).await;
        let exclude = create(&s, t, CONFIGS, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "All but Surfaces", "omaSettings": [setting(but, 1)]})).await;
        for (policy, mode) in [(&include, "include"), (&exclude, "exclude")] {
            let (status, body) = s
                .post(&format!("{CONFIGS}/{}/assign", policy["id"].as_str().unwrap()), t, json!({"assignments": [{"target": {"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": surfaces, "deviceAndAppManagementAssignmentFilterType": mode}}]}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // A compliance policy filtered to the Surface only: the other device has no policy (compliant).
        let compliance = create(&s, t, COMPLIANCE, json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "Surfaces need BitLocker", "osMinimumVersion": "99.0"})).await;
        let (status, body) = s
            .post(&format!("{COMPLIANCE}/{}/assign", compliance["id"].as_str().unwrap()), t, json!({"assignments": [{"target": {"@odata.type": ALL_DEVICES, "deviceAndAppManagementAssignmentFilterId": surfaces, "deviceAndAppManagementAssignmentFilterType": "include"}}]}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        for _ in 0..2 {
            c1.mdm_session(&mut e1, &mut surface, "user").await.unwrap();
            c2.mdm_session(&mut e2, &mut lab, "user").await.unwrap();
        }
        let short = |uri: &str| uri.replacen("./Device/Vendor", "./Vendor", 1);
        assert_eq!(surface.value(&short(only)), Some("1"), "include: the matching device gets it");
        assert_eq!(surface.value(&short(but)), None, "exclude: the matching device does not");
        assert_eq!(lab.value(&short(only)), None);
        assert_eq!(lab.value(&short(but)), Some("1"));
        let state = |e: &MdmEnrollment| {
            let s = &s;
            let id = e.managed_device_id.clone();
            async move {
                let (_, d) = s.get(&format!("/beta/deviceManagement/managedDevices/{id}"), &s.a.token).await;
                d["complianceState"].as_str().unwrap().to_string()
            }
        };
        assert_eq!(state(&e1).await, "noncompliant", "the filtered compliance policy applies to the Surface");
        assert_eq!(state(&e2).await, "compliant", "and not to the other device");

        // Changing the rule changes the targeting at the next session: now the lab PC matches.
        let (status, body) = s.patch(&format!("{FILTERS}/{surfaces}"), t, json!({"rule": r#"device.deviceName -eq "PC-LAB""#})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for _ in 0..2 {
            c1.mdm_session(&mut e1, &mut surface, "user").await.unwrap();
            c2.mdm_session(&mut e2, &mut lab, "user").await.unwrap();
        }
        assert_eq!(surface.value(&short(only)), None, "removed when the filter no longer matches");
        assert_eq!(surface.value(&short(but)), Some("1"));
        assert_eq!(lab.value(&short(only)), Some("1"));
        assert_eq!(lab.value(&short(but)), None);
    })
    .await;
}
