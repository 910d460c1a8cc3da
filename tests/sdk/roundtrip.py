"""Configuration as code against ztd, the way backup/restore tools use Graph (plain HTTP, httpx).

1. Seeds tenant A with groups, a scope tag, an assignment filter, a deployment profile, an ESP, a
   configuration profile and a compliance policy, each assigned (with filters and scope tags).
2. Backs A up: lists every collection, reads every object's assignments through $batch (20 per batch,
   following Retry-After on a 429), writes one JSON file per object with group, filter and tag ids replaced by
   names (what a tool does so that a backup can go to another tenant).
3. Restores the files into tenant B (created with `ztd tenant create`), deletes everything restored, restores
   again from the files, reads B back and finds no difference.
4. Changes one file and pushes only the difference: one PATCH, and a fresh read shows no difference.

Environment (set by tests/sdk/run.sh): ZTD_URL, ZTD_CREDENTIALS, ZTD_BIN, ZTD_DATA_DIR, SSL_CERT_FILE.
Prints "N passed, M failed" last and exits non-zero on a failure.
"""

import copy
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

URL = os.environ["ZTD_URL"]
BIN = os.environ["ZTD_BIN"]
CREDS = json.loads(Path(os.environ["ZTD_CREDENTIALS"]).read_text())
TLS = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
RUN = uuid.uuid4().hex[:6]

# Collections a backup holds, in the order a restore creates them (filters and tags first: others name them).
DM = "/beta/deviceManagement"
KINDS = {
    "roleScopeTags": f"{DM}/roleScopeTags",
    "assignmentFilters": f"{DM}/assignmentFilters",
    "deploymentProfiles": f"{DM}/windowsAutopilotDeploymentProfiles",
    "enrollmentConfigurations": f"{DM}/deviceEnrollmentConfigurations",
    "deviceConfigurations": f"{DM}/deviceConfigurations",
    "compliancePolicies": f"{DM}/deviceCompliancePolicies",
}
ASSIGNED = ["deploymentProfiles", "enrollmentConfigurations", "deviceConfigurations", "compliancePolicies"]
READ_ONLY = {"id", "createdDateTime", "lastModifiedDateTime", "version", "@odata.context", "assignments",
             "isBuiltIn", "supportsScopeTags", "payloads"}

passed = failed = 0


def check(condition, message):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {message}")


class Graph:
    def __init__(self, tenant, client_id, secret):
        self.http = httpx.Client(base_url=URL, verify=TLS, timeout=30)
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default"}
        r = self.http.post(f"/{tenant}/oauth2/v2.0/token", data=form)
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        self.requests = 0
        self.writes = 0

    def call(self, method, path, body=None, expect=(200, 201, 204)):
        for _ in range(10):
            self.requests += 1
            self.writes += method != "GET" and not path.endswith("$batch")
            r = self.http.request(method, path, json=body)
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            if r.status_code not in expect:
                raise AssertionError(f"{method} {path} -> {r.status_code}: {r.text[:400]}")
            return r.json() if r.content else None
        raise AssertionError(f"{method} {path}: still throttled")

    def all(self, path):
        items, page = [], self.call("GET", path)
        while True:
            items.extend(page["value"])
            link = page.get("@odata.nextLink")
            if not link:
                return items
            page = self.call("GET", link.removeprefix(URL))

    def batch(self, urls):
        """GETs relative URLs through $batch, 20 at a time; a throttled request is sent again after its wait."""
        answers, pending = {}, list(enumerate(urls))
        while pending:
            chunk, pending = pending[:20], pending[20:]
            body = {"requests": [{"id": str(i), "method": "GET", "url": u} for i, u in chunk]}
            result = self.call("POST", "/beta/$batch", body)
            wait = 0.0
            for response in result["responses"]:
                i = int(response["id"])
                if response["status"] == 429:
                    wait = max(wait, float(response["headers"].get("Retry-After", "1")))
                    pending.append((i, urls[i]))
                elif response["status"] != 200:
                    raise AssertionError(f"batch GET {urls[i]} -> {response['status']}: {response.get('body')}")
                else:
                    answers[i] = response["body"]
            time.sleep(wait)
        return [answers[i] for i in range(len(urls))]


def ztd(*args):
    out = subprocess.run([BIN, *args, "--json"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"ztd {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout)


def target(group=None, exclude=False, flt=None, mode="none", kind="group"):
    if kind == "all":
        t = {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}
    else:
        t = {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget" if exclude
             else "#microsoft.graph.groupAssignmentTarget", "groupId": group}
    t["deviceAndAppManagementAssignmentFilterId"] = flt
    t["deviceAndAppManagementAssignmentFilterType"] = mode
    return t


def seed(g):
    """What an admin built in tenant A."""
    groups = {name: g.call("POST", "/v1.0/groups", {"displayName": name, "mailEnabled": False,
                                                      "mailNickname": name, "securityEnabled": True})["id"]
              for name in ("Kiosks", "Lab", "Executives")}
    tag = g.call("POST", f"{DM}/roleScopeTags", {"displayName": "Lab admins", "description": "lab"})["id"]
    flt = g.call("POST", f"{DM}/assignmentFilters", {
        "displayName": "Surface only", "description": "", "platform": "windows10AndLater",
        "rule": '(device.manufacturer -eq "Microsoft Corporation")', "roleScopeTags": ["0", tag]})["id"]
    profile = g.call("POST", f"{DM}/windowsAutopilotDeploymentProfiles", {
        "@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
        "displayName": "Kiosk profile", "description": "self-deploying kiosks", "deviceNameTemplate": "KSK-%RAND:5%",
        "roleScopeTagIds": ["0", tag],
        "outOfBoxExperienceSetting": {"hidePrivacySettings": True, "hideEULA": True, "userType": "standard",
                                      "deviceUsageType": "shared", "skipKeyboardSelectionPage": True,
                                      "hideEscapeLink": True}})["id"]
    g.call("POST", f"{KINDS['deploymentProfiles']}/{profile}/assignments", {"target": target(groups["Kiosks"])})
    g.call("POST", f"{KINDS['deploymentProfiles']}/{profile}/assignments",
           {"target": target(groups["Executives"], exclude=True)})
    esp = g.call("POST", KINDS["enrollmentConfigurations"], {
        "@odata.type": "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration",
        "displayName": "Kiosk ESP", "description": "", "showInstallationProgress": True,
        "installProgressTimeoutInMinutes": 90, "customErrorMessage": "Call the lab", "roleScopeTagIds": [tag]})["id"]
    g.call("POST", f"{KINDS['enrollmentConfigurations']}/{esp}/assign", {"enrollmentConfigurationAssignments": [
        {"target": target(groups["Kiosks"], flt=flt, mode="include")}]})
    config = g.call("POST", KINDS["deviceConfigurations"], {
        "@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "Lock screen",
        "description": "", "roleScopeTagIds": ["0", tag],
        "omaSettings": [{"@odata.type": "#microsoft.graph.omaSettingInteger", "displayName": "Inactivity",
                         "omaUri": "./Device/Vendor/MSFT/Policy/Config/DeviceLock/MaxInactivityTimeDeviceLock",
                         "value": 5}]})["id"]
    g.call("POST", f"{KINDS['deviceConfigurations']}/{config}/assign", {"assignments": [
        {"target": target(groups["Lab"], flt=flt, mode="include")},
        {"target": target(kind="all", flt=flt, mode="exclude")}]})
    compliance = g.call("POST", KINDS["compliancePolicies"], {
        "@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "Baseline",
        "description": "", "bitLockerEnabled": True, "osMinimumVersion": "10.0.19045", "roleScopeTagIds": ["0"],
        "scheduledActionsForRule": [{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [
            {"actionType": "block", "gracePeriodHours": 24, "notificationTemplateId": "",
             "notificationMessageCCList": []}]}]})["id"]
    g.call("POST", f"{KINDS['compliancePolicies']}/{compliance}/assign", {"assignments": [
        {"target": target(groups["Lab"], flt=flt, mode="exclude")}]})


class Names:
    """Ids of one tenant's groups, filters and tags, and back: what makes a backup portable."""

    def __init__(self, g):
        self.groups = {x["id"]: x["displayName"] for x in g.all("/v1.0/groups?$select=id,displayName")}
        self.filters = {x["id"]: x["displayName"] for x in g.all(f"{DM}/assignmentFilters")}
        self.tags = {x["id"]: x["displayName"] for x in g.all(f"{DM}/roleScopeTags")}

    @staticmethod
    def swap(table, value, reverse):
        if value is None:
            return None
        lookup = {v: k for k, v in table.items()} if reverse else table
        if value not in lookup:
            raise AssertionError(f"no {'id' if reverse else 'name'} for {value!r}")
        return lookup[value]

    def portable(self, obj, reverse=False):
        """Replaces ids by names (reverse: names by this tenant's ids) in tag lists and assignment targets."""
        obj = copy.deepcopy(obj)
        for key in ("roleScopeTagIds", "roleScopeTags"):
            if key in obj:
                obj[key] = [self.swap(self.tags, t, reverse) for t in obj[key]]
        for a in obj.get("assignments", []):
            t = a.get("target", {})
            if "groupId" in t:
                t["groupId"] = self.swap(self.groups, t["groupId"], reverse)
            if t.get("deviceAndAppManagementAssignmentFilterId"):
                t["deviceAndAppManagementAssignmentFilterId"] = self.swap(
                    self.filters, t["deviceAndAppManagementAssignmentFilterId"], reverse)
        return obj


def is_default(kind, obj):
    return (kind == "enrollmentConfigurations" and obj["id"].endswith("DefaultWindows10EnrollmentCompletionPageConfiguration")) \
        or (kind == "roleScopeTags" and obj.get("isBuiltIn"))


def backup(g, folder):
    """Every object of every kind with its assignments (read through $batch), portable, one file each."""
    names = Names(g)
    files = 0
    for kind, path in KINDS.items():
        objects = [o for o in g.all(path) if not is_default(kind, o)]
        if kind in ASSIGNED:
            answers = g.batch([f"{path.removeprefix('/beta')}/{o['id']}/assignments" for o in objects])
            for o, answer in zip(objects, answers):
                o["assignments"] = [{"target": a["target"]} for a in answer["value"]]
                o["assignments"].sort(key=lambda a: json.dumps(a, sort_keys=True))
            # The collection with $expand=assignments($select=target) tells the same.
            expanded = {o["id"]: sorted(({"target": a["target"]} for a in o["assignments"]),
                                        key=lambda a: json.dumps(a, sort_keys=True))
                        for o in g.all(f"{path}?$expand=assignments($select=target)")}
            check(all(expanded.get(o["id"]) == o["assignments"] for o in objects),
                  f"{kind}: $expand=assignments differs from the assignments read through $batch")
        for o in objects:
            clean = {k: v for k, v in names.portable(o).items() if k not in READ_ONLY or k == "assignments"}
            (folder / kind).mkdir(parents=True, exist_ok=True)
            (folder / kind / f"{o['displayName']}.json").write_text(json.dumps(clean, indent=2, sort_keys=True))
            files += 1
    return files


def load(folder):
    return {kind: {p.stem: json.loads(p.read_text()) for p in sorted((folder / kind).glob("*.json"))}
            for kind in KINDS}


def assign(g, kind, oid, assignments):
    path = KINDS[kind]
    if kind == "deploymentProfiles":
        # Deployment profiles take their assignments one at a time (assign takes device ids).
        for assignment in assignments:
            g.call("POST", f"{path}/{oid}/assignments", assignment)
    elif kind == "enrollmentConfigurations":
        g.call("POST", f"{path}/{oid}/assign", {"enrollmentConfigurationAssignments": assignments})
    else:
        g.call("POST", f"{path}/{oid}/assign", {"assignments": assignments})


def restore(g, folder):
    """Creates every object of the files in this tenant (tags and filters first), then assigns it."""
    wanted = load(folder)
    for kind in KINDS:
        names = Names(g)  # this tenant's ids, with the tags and filters restored so far
        for name, obj in wanted[kind].items():
            local = names.portable(obj, reverse=True)
            assignments = local.pop("assignments", None)
            created = g.call("POST", KINDS[kind], local)
            if assignments:
                assign(g, kind, created["id"], assignments)


def delete_all(g):
    for kind in reversed(list(KINDS)):
        for o in g.all(KINDS[kind]):
            if not is_default(kind, o):
                g.call("DELETE", f"{KINDS[kind]}/{o['id']}")


def differences(folder_a, folder_b):
    a, b = load(folder_a), load(folder_b)
    out = []
    for kind in KINDS:
        for name in sorted(set(a[kind]) | set(b[kind])):
            if a[kind].get(name) != b[kind].get(name):
                out.append((kind, name))
    return out


def main():
    a = Graph(CREDS["tenantId"], CREDS["clientId"], CREDS["clientSecret"])
    tenant = ztd("tenant", "create", "--name", f"Restore {RUN}", "--domain", f"restore-{RUN}.example")
    app = ztd("app", "create", "--tenant", tenant["id"], "--name", "restore")
    b = Graph(tenant["id"], app["clientId"], app["clientSecret"])
    for name in ("Kiosks", "Lab", "Executives"):
        b.call("POST", "/v1.0/groups", {"displayName": name, "mailEnabled": False, "mailNickname": name,
                                        "securityEnabled": True})
    seed(a)
    work = Path(tempfile.mkdtemp(prefix="ztd-roundtrip-"))
    files = backup(a, work / "a")
    check(files == 6, f"backup of tenant A: {files} files, expected 6")

    # Restore into B, delete it all there, restore again from the files, read back.
    restore(b, work / "a")
    delete_all(b)
    check(all(not [o for o in b.all(p) if not is_default(k, o)] for k, p in KINDS.items()),
          "tenant B still holds restored objects after deleting them")
    restore(b, work / "a")
    backup(b, work / "b")
    diff = differences(work / "a", work / "b")
    check(not diff, f"tenant B differs from the backup of A after a restore: {diff}")
    for kind, name in diff:
        print(f"--- {kind}/{name}\nA: {(work / 'a' / kind / (name + '.json')).read_text()}\n"
              f"B: {(work / 'b' / kind / (name + '.json')).read_text()}")

    # Change one file; push only what differs; read back.
    changed = work / "a" / "deploymentProfiles" / "Kiosk profile.json"
    doc = json.loads(changed.read_text())
    doc["description"] = "self-deploying kiosks, second floor"
    changed.write_text(json.dumps(doc, indent=2, sort_keys=True))
    diff = differences(work / "a", work / "b")
    check(diff == [("deploymentProfiles", "Kiosk profile")], f"one change, found {diff}")
    before = b.writes
    profiles = {p["displayName"]: p for p in b.all(KINDS["deploymentProfiles"])}
    for kind, name in diff:
        local = Names(b).portable(load(work / "a")[kind][name], reverse=True)
        local.pop("assignments", None)
        target_id = profiles[name]["id"]
        updated = b.call("PATCH", f"{KINDS[kind]}/{target_id}", local)
        check(updated is not None and updated.get("description") == doc["description"],
              f"PATCH answers the updated profile: {updated}")
    check(b.writes - before == 1, f"pushing one change took {b.writes - before} writes, not one")
    backup(b, work / "c")
    diff = differences(work / "a", work / "c")
    check(not diff, f"after pushing the change, tenant B differs from the files: {diff}")
    print(f"round trip: {files} objects, {a.requests} requests to A, {b.requests} to B")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a failed call is a failed test, reported with what went wrong
        failed += 1
        print(f"FAIL round trip: {error}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
