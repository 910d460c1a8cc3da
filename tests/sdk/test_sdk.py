"""Drives ztd with the unmodified Microsoft Graph Python SDKs (msgraph-beta-sdk, msgraph-sdk) and azure-identity:
the call sequences of Get-WindowsAutopilotInfo -Online and of the WindowsAutopilotIntune module
(/work/shared/reference/clients-and-formats.md §1.4, §2.2), then the v1.0 SDK for what v1.0 has.

Run by run.sh, which provides (environment):
  ZTD_URL            https://127.0.0.1:PORT (TLS trusted through SSL_CERT_FILE)
  ZTD_CREDENTIALS    the server's credentials.json (tenantId, clientId, clientSecret)
  ZTD_BIN            the ztd binary (`ztd hash generate` makes the hardware hashes)
  ZTD_SDK_SUMMARY    file to write the "N passed, M failed" line to
  ZTD_SDK_PREFLIGHT  file with failures found before the tests ran (one per line; each counts as failed)

Only configuration is touched: the credential's authority, the request adapter's base URL and an httpx event
hook that records the exchanges so that a failure shows what the SDK sent and what came back.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import subprocess
import sys
import time
import traceback
import uuid
from typing import Any, Awaitable, Callable

import httpx
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration

import msgraph
import msgraph_beta
from msgraph_beta.generated.device_management.device_enrollment_configurations.item.assign.assign_post_request_body import (
    AssignPostRequestBody as EspAssignBody,
)
from msgraph_beta.generated.device_management.device_enrollment_configurations.item.set_priority.set_priority_post_request_body import (
    SetPriorityPostRequestBody,
)
from msgraph_beta.generated.device_management.imported_windows_autopilot_device_identities.import_.import_post_request_body import (
    ImportPostRequestBody,
)
from msgraph_beta.generated.device_management.windows_autopilot_device_identities.item.assign_user_to_device.assign_user_to_device_post_request_body import (
    AssignUserToDevicePostRequestBody,
)
from msgraph_beta.generated.device_management.windows_autopilot_device_identities.item.update_device_properties.update_device_properties_post_request_body import (
    UpdateDevicePropertiesPostRequestBody,
)
from msgraph_beta.generated.device_management.windows_autopilot_device_identities.windows_autopilot_device_identities_request_builder import (
    WindowsAutopilotDeviceIdentitiesRequestBuilder,
)
from msgraph_beta.generated.device_management.windows_autopilot_device_identities.item.windows_autopilot_device_identity_item_request_builder import (
    WindowsAutopilotDeviceIdentityItemRequestBuilder,
)
from msgraph_beta.generated.models.azure_a_d_windows_autopilot_deployment_profile import (
    AzureADWindowsAutopilotDeploymentProfile,
)
from msgraph_beta.generated.models.enrollment_configuration_assignment import EnrollmentConfigurationAssignment
from msgraph_beta.generated.models.group_assignment_target import GroupAssignmentTarget
from msgraph_beta.generated.models.imported_windows_autopilot_device_identity import (
    ImportedWindowsAutopilotDeviceIdentity,
)
from msgraph_beta.generated.models.imported_windows_autopilot_device_identity_import_status import (
    ImportedWindowsAutopilotDeviceIdentityImportStatus as ImportStatus,
)
from msgraph_beta.generated.models.imported_windows_autopilot_device_identity_state import (
    ImportedWindowsAutopilotDeviceIdentityState,
)
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError as BetaODataError
from msgraph_beta.generated.models.out_of_box_experience_settings import OutOfBoxExperienceSettings
from msgraph_beta.generated.models.windows10_enrollment_completion_page_configuration import (
    Windows10EnrollmentCompletionPageConfiguration,
)
from msgraph_beta.generated.models.windows_autopilot_deployment_profile_assignment import (
    WindowsAutopilotDeploymentProfileAssignment,
)
from msgraph_beta.generated.models.windows_autopilot_device_type import WindowsAutopilotDeviceType
from msgraph_beta.generated.models.windows_device_usage_type import WindowsDeviceUsageType
from msgraph_beta.generated.models.windows_user_type import WindowsUserType
from msgraph.generated.devices.devices_request_builder import DevicesRequestBuilder
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.models.group import Group as V1Group
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User as V1User
from msgraph_beta.generated.models.password_profile import PasswordProfile as BetaPasswordProfile
from msgraph_beta.generated.models.user import User as BetaUser
from msgraph.generated.models.o_data_errors.o_data_error import ODataError as V1ODataError
from msgraph.generated.device_management.windows_autopilot_device_identities.windows_autopilot_device_identities_request_builder import (
    WindowsAutopilotDeviceIdentitiesRequestBuilder as V1DevicesRequestBuilder,
)

URL = os.environ["ZTD_URL"].rstrip("/")
CREDS = json.load(open(os.environ["ZTD_CREDENTIALS"]))
ZTD_BIN = os.environ["ZTD_BIN"]
SCOPES = ["https://graph.microsoft.com/.default"]
RUN = uuid.uuid4().hex[:6].upper()
POLL_TIMEOUT = float(os.environ.get("ZTD_SDK_POLL_TIMEOUT", "30"))

# --- recording of HTTP exchanges (observation only) ---------------------------------------------------------

exchanges: collections.deque[str] = collections.deque(maxlen=6)


def _clip(b: bytes | str, n: int = 1500) -> str:
    s = b.decode("utf-8", "replace") if isinstance(b, bytes) else b
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


async def _on_response(response: httpx.Response) -> None:
    await response.aread()
    req = response.request
    body = req.content if hasattr(req, "_content") else b"<stream>"
    exchanges.append(
        f"  > {req.method} {req.url}\n"
        + (f"  > {_clip(body)}\n" if body else "")
        + f"  < {response.status_code} {_clip(response.content)}"
    )


def graph_client(module: Any, version: str, credential: ClientSecretCredential) -> Any:
    client = module.GraphServiceClient(credential, scopes=SCOPES)
    client.request_adapter.base_url = f"{URL}/{version}"
    client.request_adapter._http_client.event_hooks["response"].append(_on_response)
    return client


# --- test runner --------------------------------------------------------------------------------------------

results: list[tuple[str, bool, str]] = []
ctx: dict[str, Any] = {}


class Blocked(Exception):
    pass


def need(*keys: str) -> list[Any]:
    missing = [k for k in keys if k not in ctx]
    if missing:
        raise Blocked(f"blocked: an earlier step did not produce {', '.join(missing)}")
    return [ctx[k] for k in keys]


async def test(name: str, fn: Callable[[], Awaitable[None]]) -> None:
    exchanges.clear()
    started = time.monotonic()
    try:
        await fn()
    except Blocked as e:
        results.append((name, False, str(e)))
        print(f"FAIL {name}: {e}", flush=True)
        return
    except Exception as e:  # noqa: BLE001 - every failure is a finding
        detail = describe(e)
        results.append((name, False, detail))
        print(f"FAIL {name}: {detail}", flush=True)
        tb = traceback.extract_tb(e.__traceback__)
        here = [f for f in tb if f.filename == __file__]
        if here:
            print(f"  at line {here[-1].lineno}: {here[-1].line}", flush=True)
        if exchanges:
            print("  last HTTP exchanges:\n" + "\n".join(exchanges), flush=True)
        return
    results.append((name, True, ""))
    print(f"ok   {name} ({time.monotonic() - started:.1f}s)", flush=True)


def describe(e: BaseException) -> str:
    if isinstance(e, (BetaODataError, V1ODataError)):
        err = e.error
        return (f"ODataError {e.response_status_code} code={getattr(err, 'code', None)!r} "
                f"message={getattr(err, 'message', None)!r}")
    return f"{type(e).__name__}: {e}"


def check(cond: Any, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


async def poll(what: str, fn: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + POLL_TIMEOUT
    while True:
        value = await fn()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {POLL_TIMEOUT:.0f}s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.2)


async def expect_odata_error(coro: Awaitable[Any], status: int) -> Any:
    try:
        await coro
    except (BetaODataError, V1ODataError) as e:
        check(e.response_status_code == status, f"expected HTTP {status}, got {describe(e)}")
        return e
    raise AssertionError(f"expected an ODataError with HTTP {status}, the call succeeded")


def hardware_hash(serial: str, model: str = "SDK Test 14") -> bytes:
    out = subprocess.run([ZTD_BIN, "hash", "generate", "--serial", serial, "--manufacturer", "ZTD SDK",
                          "--model", model], check=True, capture_output=True, text=True).stdout.strip()
    return base64.b64decode(out, validate=True)


def enum_value(v: Any) -> Any:
    return getattr(v, "value", v)


# --- beta: the Get-WindowsAutopilotInfo -Online / WindowsAutopilotIntune flows -------------------------------

TAG_A = f"SDK-A-{RUN}"
TAG_B = f"SDK-B-{RUN}"
SERIALS = [f"SDK{RUN}-{i}" for i in range(4)]  # 0: single POST; 1..3: the import action


def import_body(serial: str, tag: str) -> ImportedWindowsAutopilotDeviceIdentity:
    # The body of Add-AutopilotImportedDevice (§1.4 step 2), built with the SDK's model.
    return ImportedWindowsAutopilotDeviceIdentity(
        odata_type="#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
        group_tag=tag,
        serial_number=serial,
        product_key="",
        hardware_identifier=hardware_hash(serial),
        assigned_user_principal_name="",
        state=ImportedWindowsAutopilotDeviceIdentityState(
            odata_type="microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
            device_import_status=ImportStatus.Pending,
            device_registration_id="",
            device_error_code=0,
            device_error_name="",
        ),
    )


async def wait_import(beta: Any, import_id: str) -> Any:
    # Get-WindowsAutopilotInfo waits only while the status reads "unknown".
    imports = beta.device_management.imported_windows_autopilot_device_identities
    return await poll(f"import {import_id} to leave 'unknown'",
                      lambda: imports.by_imported_windows_autopilot_device_identity_id(import_id).get(),
                      lambda r: r.state is None or r.state.device_import_status != ImportStatus.Unknown)


def device(beta: Any, device_id: str) -> Any:
    return beta.device_management.windows_autopilot_device_identities.by_windows_autopilot_device_identity_id(device_id)


async def get_expanded(beta: Any, device_id: str) -> Any:
    q = WindowsAutopilotDeviceIdentityItemRequestBuilder.WindowsAutopilotDeviceIdentityItemRequestBuilderGetQueryParameters(
        expand=["deploymentProfile", "intendedDeploymentProfile"])
    return await device(beta, device_id).get(RequestConfiguration(query_parameters=q))


async def list_all_devices(beta: Any, filter_: str | None, top: int | None) -> list[Any]:
    q = WindowsAutopilotDeviceIdentitiesRequestBuilder.WindowsAutopilotDeviceIdentitiesRequestBuilderGetQueryParameters(
        filter=filter_, top=top)
    builder = beta.device_management.windows_autopilot_device_identities
    page = await builder.get(RequestConfiguration(query_parameters=q))
    items = list(page.value or [])
    pages = 1
    while page.odata_next_link:
        check(page.odata_next_link.startswith(URL + "/beta/"),
              f"@odata.nextLink {page.odata_next_link!r} does not point at {URL}/beta/")
        page = await builder.with_url(page.odata_next_link).get()
        items += page.value or []
        pages += 1
        check(pages < 100, "more than 100 pages: the nextLink does not advance")
    ctx["pages"] = pages
    return items


def dynamic_rule(tag: str) -> str:
    return f'(device.devicePhysicalIds -any (_ -eq "[OrderId]:{tag}"))'


async def run_beta(beta: Any, v1: Any) -> None:
    imports = beta.device_management.imported_windows_autopilot_device_identities
    devices = beta.device_management.windows_autopilot_device_identities
    profiles = beta.device_management.windows_autopilot_deployment_profiles

    async def t_organization() -> None:
        page = await beta.organization.get()
        orgs = page.value or []
        check(len(orgs) == 1, f"expected one organization, got {len(orgs)}")
        org = orgs[0]
        check(org.id == CREDS["tenantId"], f"organization id {org.id!r} != tenant id {CREDS['tenantId']!r}")
        domains = [d.name for d in (org.verified_domains or []) if d.is_default]
        check(domains, f"no default verified domain in {org.verified_domains!r}")
        ctx["domain"] = domains[0]
        one = await beta.organization.by_organization_id(org.id).get()
        check(one.id == org.id, "GET organization/{id} returned another id")

    async def t_import_single() -> None:
        created = await imports.post(import_body(SERIALS[0], TAG_A))
        check(created and created.id, f"POST returned no id: {created!r}")
        check(created.serial_number == SERIALS[0], f"serialNumber {created.serial_number!r}")
        check(created.hardware_identifier, "hardwareIdentifier not echoed")
        done = await wait_import(beta, created.id)
        st = done.state
        check(st.device_import_status == ImportStatus.Complete,
              f"import ended {enum_value(st.device_import_status)!r} "
              f"({st.device_error_code} {st.device_error_name!r})")
        check(st.device_registration_id, "complete import without deviceRegistrationId")
        ctx["import_ids"] = [created.id]
        ctx["dev0"] = st.device_registration_id

    async def t_import_action() -> None:
        body = ImportPostRequestBody(imported_windows_autopilot_device_identities=[
            import_body(SERIALS[1], TAG_B), import_body(SERIALS[2], TAG_B), import_body(SERIALS[3], TAG_B)])
        resp = await imports.import_.post(body)
        got = resp.value or []
        check(len(got) == 3, f"import action returned {len(got)} records, expected 3")
        check(all(r.id for r in got), "import action records without id")
        check([r.serial_number for r in got] == SERIALS[1:], f"serials {[r.serial_number for r in got]}")
        ids = []
        for r in got:
            done = await wait_import(beta, r.id)
            check(done.state.device_import_status == ImportStatus.Complete,
                  f"{r.serial_number}: {enum_value(done.state.device_import_status)!r} "
                  f"{done.state.device_error_code} {done.state.device_error_name!r}")
            ids.append(done.state.device_registration_id)
        ctx.setdefault("import_ids", []).extend(r.id for r in got)
        ctx["dev1"], ctx["dev2"], ctx["dev3"] = ids

    async def t_list_imports() -> None:
        page = await imports.get()
        serials = {r.serial_number for r in page.value or []}
        check(set(SERIALS) <= serials, f"imported list lacks {set(SERIALS) - serials}")

    async def t_device_by_registration_id() -> None:
        (dev0,) = need("dev0")
        d = await poll("the device to be served", lambda: device(beta, dev0).get(), lambda d: d is not None)
        check(d.id == dev0, f"id {d.id!r}")
        check(d.serial_number == SERIALS[0], f"serialNumber {d.serial_number!r}")
        check(d.group_tag == TAG_A, f"groupTag {d.group_tag!r}")
        check(d.manufacturer == "ZTD SDK" and d.model == "SDK Test 14", f"manufacturer/model {d.manufacturer!r}/{d.model!r}")
        check(d.azure_active_directory_device_id, "no azureActiveDirectoryDeviceId")
        check(d.enrollment_state is not None, "enrollmentState not deserialised")
        check(d.deployment_profile_assignment_status is not None, "deploymentProfileAssignmentStatus not deserialised")
        ctx["aad0"] = d.azure_active_directory_device_id

    async def t_find_by_serial() -> None:
        need("dev3")
        # Get-AutopilotDevice -serial: contains(serialNumber,'…') and follow @odata.nextLink (small pages force it).
        found = await list_all_devices(beta, f"contains(serialNumber,'{RUN}')", top=2)
        check(sorted(d.serial_number for d in found) == sorted(SERIALS),
              f"found {[d.serial_number for d in found]}")
        check(ctx["pages"] == 2, f"expected 2 pages of 2, got {ctx['pages']}")
        one = await list_all_devices(beta, f"contains(serialNumber,'{SERIALS[2]}')", top=None)
        check([d.serial_number for d in one] == [SERIALS[2]], f"found {[d.serial_number for d in one]}")
        everything = await list_all_devices(beta, None, top=1)
        check(len({d.id for d in everything}) == len(everything) >= 4, "paging without filter repeats or loses items")

    async def t_profile_create() -> None:
        body = AzureADWindowsAutopilotDeploymentProfile(
            display_name=f"SDK profile {RUN}",
            description="created by tests/sdk",
            language="os-default",
            extract_hardware_hash=False,
            device_name_template="SDK-%SERIAL%",
            device_type=WindowsAutopilotDeviceType.WindowsPc,
            enable_white_glove=False,
            out_of_box_experience_settings=OutOfBoxExperienceSettings(
                hide_privacy_settings=True, hide_e_u_l_a=True, user_type=WindowsUserType.Standard,
                device_usage_type=WindowsDeviceUsageType.SingleUser, skip_keyboard_selection_page=True,
                hide_escape_link=True),
        )
        p = await profiles.post(body)
        check(isinstance(p, AzureADWindowsAutopilotDeploymentProfile), f"created profile is {type(p).__name__}")
        check(p.id and p.display_name == body.display_name, f"profile {p.id!r} {p.display_name!r}")
        oobe = p.out_of_box_experience_settings
        check(oobe and oobe.hide_e_u_l_a is True and oobe.user_type == WindowsUserType.Standard,
              f"outOfBoxExperienceSettings read back as {oobe!r}")
        ctx["profile"] = p.id
        got = await profiles.by_windows_autopilot_deployment_profile_id(p.id).get()
        check(isinstance(got, AzureADWindowsAutopilotDeploymentProfile) and got.device_name_template == "SDK-%SERIAL%",
              f"GET profile: {type(got).__name__} {got.device_name_template!r}")
        listed = await profiles.get()
        check(p.id in {x.id for x in listed.value or []}, "profile not listed")

    async def t_profile_patch() -> None:
        (pid,) = need("profile")
        item = profiles.by_windows_autopilot_deployment_profile_id(pid)
        await item.patch(AzureADWindowsAutopilotDeploymentProfile(description="patched by tests/sdk"))
        got = await item.get()
        check(got.description == "patched by tests/sdk", f"description {got.description!r}")
        check(got.device_name_template == "SDK-%SERIAL%", "PATCH lost deviceNameTemplate")

    async def t_group_create() -> None:
        g = await v1.groups.post(V1Group(
            display_name=f"SDK devices {RUN}", description="tests/sdk dynamic group", security_enabled=True,
            mail_enabled=False, mail_nickname=f"sdk{RUN.lower()}", group_types=["DynamicMembership"],
            membership_rule=dynamic_rule(TAG_A), membership_rule_processing_state="On"))
        check(g.id, "no group id")
        check(g.group_types == ["DynamicMembership"] and g.membership_rule == dynamic_rule(TAG_A),
              f"group read back {g.group_types!r} {g.membership_rule!r}")
        ctx["group"] = g.id

    async def t_assign_profile() -> None:
        pid, gid = need("profile", "group")
        aid = f"{pid}_{gid}_0"
        assignments = profiles.by_windows_autopilot_deployment_profile_id(pid).assignments
        a = await assignments.post(WindowsAutopilotDeploymentProfileAssignment(
            id=aid, target=GroupAssignmentTarget(group_id=gid)))
        check(a.id == aid, f"assignment id {a.id!r}, expected the client-chosen {aid!r}")
        check(isinstance(a.target, GroupAssignmentTarget) and a.target.group_id == gid, f"target {a.target!r}")
        listed = await assignments.get()
        check([x.id for x in listed.value or []] == [aid], f"assignments {[x.id for x in listed.value or []]}")
        one = await assignments.by_windows_autopilot_deployment_profile_assignment_id(aid).get()
        check(one.id == aid, "GET assignment by id")
        ctx["assignment"] = aid

    async def t_device_assigned() -> None:
        dev0, pid, _ = need("dev0", "profile", "assignment")
        d = await poll("deploymentProfileAssignmentStatus to start with 'assigned'",
                       lambda: get_expanded(beta, dev0),
                       lambda d: str(enum_value(d.deployment_profile_assignment_status) or "").startswith("assigned"))
        check(d.intended_deployment_profile is not None and d.intended_deployment_profile.id == pid,
              f"$expand intendedDeploymentProfile: {d.intended_deployment_profile!r}")
        check(isinstance(d.intended_deployment_profile, AzureADWindowsAutopilotDeploymentProfile),
              f"expanded profile type {type(d.intended_deployment_profile).__name__}")
        nav = await device(beta, dev0).intended_deployment_profile.get()
        check(nav.id == pid, f"GET …/intendedDeploymentProfile id {nav.id!r}")
        assigned = await profiles.by_windows_autopilot_deployment_profile_id(pid).assigned_devices.get()
        check([x.id for x in assigned.value or []] == [dev0], f"assignedDevices {[x.id for x in assigned.value or []]}")

    async def members(gid: str) -> set[str]:
        page = await v1.groups.by_group_id(gid).members.get()
        out = set()
        for m in page.value or []:
            out.add(getattr(m, "display_name", None) or m.id)
        return out

    async def t_group_members() -> None:
        gid, _ = need("group", "dev0")
        m = await poll("the dynamic group to contain the device", lambda: members(gid), lambda m: SERIALS[0] in m)
        check(m == {SERIALS[0]}, f"members {m}")

    async def t_update_device_properties() -> None:
        dev0, dev1, gid, pid = need("dev0", "dev1", "group", "profile")
        await device(beta, dev1).update_device_properties.post(
            UpdateDevicePropertiesPostRequestBody(group_tag=TAG_A, display_name=f"PC-{RUN}-1"))
        d = await device(beta, dev1).get()
        check(d.group_tag == TAG_A and d.display_name == f"PC-{RUN}-1", f"groupTag/displayName {d.group_tag!r}/{d.display_name!r}")
        await poll("the group to gain the re-tagged device", lambda: members(gid), lambda m: SERIALS[1] in m)
        d = await poll("device 1's intended profile", lambda: get_expanded(beta, dev1),
                       lambda d: d.intended_deployment_profile is not None)
        check(d.intended_deployment_profile.id == pid, f"intended profile {d.intended_deployment_profile.id!r}")
        check(str(enum_value(d.deployment_profile_assignment_status)).startswith("assigned"),
              f"status {enum_value(d.deployment_profile_assignment_status)!r}")
        # Move device 0 out of the group: membership and the intended profile follow.
        await device(beta, dev0).update_device_properties.post(UpdateDevicePropertiesPostRequestBody(group_tag=TAG_B))
        await poll("the group to lose device 0", lambda: members(gid), lambda m: SERIALS[0] not in m)
        d = await poll("device 0 to be unassigned", lambda: get_expanded(beta, dev0),
                       lambda d: d.intended_deployment_profile is None)
        check(enum_value(d.deployment_profile_assignment_status) == "notAssigned",
              f"status {enum_value(d.deployment_profile_assignment_status)!r}")

    async def t_assign_user() -> None:
        dev2, domain = need("dev2", "domain")
        upn = f"user.{RUN.lower()}@{domain}"
        # The assigned user must be a user of the tenant, as Intune requires.
        err = await expect_odata_error(device(beta, dev2).assign_user_to_device.post(
            AssignUserToDevicePostRequestBody(user_principal_name=upn, addressable_user_name="SDK User")), 400)
        check("no user" in (err.error.message or ""), f"unknown user: {err.error.message!r}")
        await beta.users.post(BetaUser(
            account_enabled=True, display_name=f"SDK user {RUN}", mail_nickname=f"sdkuser{RUN.lower()}",
            user_principal_name=upn,
            password_profile=BetaPasswordProfile(password=USER_PASSWORD, force_change_password_next_sign_in=False)))
        await device(beta, dev2).assign_user_to_device.post(
            AssignUserToDevicePostRequestBody(user_principal_name=upn, addressable_user_name="SDK User"))
        d = await device(beta, dev2).get()
        check(d.user_principal_name == upn and d.addressable_user_name == "SDK User",
              f"after assignUserToDevice: {d.user_principal_name!r} {d.addressable_user_name!r}")
        await device(beta, dev2).unassign_user_from_device.post()
        d = await device(beta, dev2).get()
        check(not d.user_principal_name, f"after unassignUserFromDevice: {d.user_principal_name!r}")

    async def t_esp() -> None:
        (gid,) = need("group")
        confs = beta.device_management.device_enrollment_configurations
        esp = await confs.post(Windows10EnrollmentCompletionPageConfiguration(
            display_name=f"SDK ESP {RUN}", description="tests/sdk", show_installation_progress=True,
            block_device_setup_retry_by_user=False, allow_device_reset_on_install_failure=True,
            allow_log_collection_on_install_failure=True, custom_error_message="Ask IT",
            install_progress_timeout_in_minutes=60, allow_device_use_on_install_failure=False))
        check(isinstance(esp, Windows10EnrollmentCompletionPageConfiguration) and esp.id,
              f"created {type(esp).__name__} {getattr(esp, 'id', None)!r}")
        check(esp.install_progress_timeout_in_minutes == 60 and esp.custom_error_message == "Ask IT",
              "ESP settings not read back")
        ctx["esp"] = esp.id
        item = confs.by_device_enrollment_configuration_id(esp.id)
        await item.assign.post(EspAssignBody(enrollment_configuration_assignments=[
            EnrollmentConfigurationAssignment(target=GroupAssignmentTarget(group_id=gid))]))
        a = await item.assignments.get()
        targets = [x.target.group_id for x in a.value or [] if isinstance(x.target, GroupAssignmentTarget)]
        check(targets == [gid], f"ESP assignment targets {targets}")
        await item.set_priority.post(SetPriorityPostRequestBody(priority=1))
        got = await item.get()
        check(got.priority == 1, f"priority {got.priority!r} after setPriority(1)")
        listed = await confs.get()
        ids = [c.id for c in listed.value or []]
        check(esp.id in ids, "ESP not listed")
        default = f"{CREDS['tenantId']}_DefaultWindows10EnrollmentCompletionPageConfiguration"
        check(default in ids, f"default ESP {default} not listed: {ids}")

    async def t_sync() -> None:
        # Graph documents 409 while a sync runs and 429 within 10 minutes of the previous one. ztd reports a
        # sync as running for 5 s, so an immediate second call is 409 and a call after that is 429.
        settings = beta.device_management.windows_autopilot_settings
        await settings.sync.post()
        s = await settings.get()
        check(enum_value(s.sync_status) == "inProgress", f"syncStatus right after a sync {enum_value(s.sync_status)!r}")
        check(s.last_manual_sync_trigger_date_time is not None, "no lastManualSyncTriggerDateTime")
        await expect_odata_error(settings.sync.post(), 409)
        await poll("syncStatus to read 'completed'", settings.get,
                   lambda s: enum_value(s.sync_status) == "completed")
        e = await expect_odata_error(settings.sync.post(), 429)
        headers = {k.lower(): v for k, v in (e.response_headers or {}).items()}
        retry_after = headers.get("retry-after")
        check(retry_after and 0 < int(retry_after) <= 600, f"429 Retry-After {retry_after!r}")

    async def t_duplicate_import() -> None:
        need("dev0")
        created = await imports.post(import_body(SERIALS[0], TAG_A))
        done = await wait_import(beta, created.id)
        ctx.setdefault("import_ids", []).append(created.id)
        st = done.state
        check(st.device_import_status == ImportStatus.Error and st.device_error_code == 806,
              f"duplicate import: {enum_value(st.device_import_status)!r} {st.device_error_code!r} {st.device_error_name!r}")
        check(st.device_error_name == "ZtdDeviceAlreadyAssigned", f"deviceErrorName {st.device_error_name!r}")

    async def t_not_found() -> None:
        e = await expect_odata_error(device(beta, str(uuid.uuid4())).get(), 404)
        check(e.error is not None and e.error.code, f"404 without an error code: {e.error!r}")
        check(e.error.message, "404 without an error message")
        ctx["code404"] = e.error.code
        check(e.error.code == "ResourceNotFound", f"Intune 404 code {e.error.code!r}, expected 'ResourceNotFound'")
        await expect_odata_error(profiles.by_windows_autopilot_deployment_profile_id(str(uuid.uuid4())).get(), 404)

    async def t_unassign_profile() -> None:
        pid, aid, dev1 = need("profile", "assignment", "dev1")
        assignments = profiles.by_windows_autopilot_deployment_profile_id(pid).assignments
        await assignments.by_windows_autopilot_deployment_profile_assignment_id(aid).delete()
        listed = await assignments.get()
        check(not listed.value, f"assignments left: {[x.id for x in listed.value or []]}")
        d = await poll("device 1 to be unassigned", lambda: get_expanded(beta, dev1),
                       lambda d: d.intended_deployment_profile is None)
        check(enum_value(d.deployment_profile_assignment_status) == "notAssigned",
              f"status {enum_value(d.deployment_profile_assignment_status)!r}")

    async def t_delete_imports() -> None:
        (ids,) = need("import_ids")
        for i in ids:
            await imports.by_imported_windows_autopilot_device_identity_id(i).delete()
        for i in ids:
            await expect_odata_error(imports.by_imported_windows_autopilot_device_identity_id(i).get(), 404)

    async def t_delete_device() -> None:
        dev3, aad0 = need("dev3", "aad0")
        await device(beta, dev3).delete()
        await poll("the deleted device to be 404", lambda: _status(device(beta, dev3).get()), lambda s: s == 404)
        left = await list_all_devices(beta, f"contains(serialNumber,'{RUN}')", top=None)
        check(SERIALS[3] not in {d.serial_number for d in left}, "deleted device still listed")

    async def t_cleanup() -> None:
        pid, gid, esp = need("profile", "group", "esp")
        await beta.device_management.device_enrollment_configurations.by_device_enrollment_configuration_id(esp).delete()
        await profiles.by_windows_autopilot_deployment_profile_id(pid).delete()
        await expect_odata_error(profiles.by_windows_autopilot_deployment_profile_id(pid).get(), 404)
        await v1.groups.by_group_id(gid).delete()
        e = await expect_odata_error(v1.groups.by_group_id(gid).get(), 404)
        check(e.error.code == "Request_ResourceNotFound", f"directory 404 code {e.error.code!r}")

    for name, fn in [
        ("beta organization (tenant id, default verified domain)", t_organization),
        ("beta import one device (Get-WindowsAutopilotInfo body), poll while unknown", t_import_single),
        ("beta importedWindowsAutopilotDeviceIdentities/import of 3, poll each", t_import_action),
        ("beta list importedWindowsAutopilotDeviceIdentities", t_list_imports),
        ("beta windowsAutopilotDeviceIdentities/{deviceRegistrationId}", t_device_by_registration_id),
        ("beta find by serial: contains(serialNumber) + @odata.nextLink", t_find_by_serial),
        ("beta create azureAD deployment profile", t_profile_create),
        ("beta PATCH deployment profile", t_profile_patch),
        ("v1.0 create dynamic group on [OrderId]", t_group_create),
        ("beta assign profile with id {profileId}_{groupId}_0", t_assign_profile),
        ("beta device assigned, $expand=deploymentProfile,intendedDeploymentProfile", t_device_assigned),
        ("v1.0 groups/{id}/members follows the group tag", t_group_members),
        ("beta updateDeviceProperties: group tag moves membership and profile", t_update_device_properties),
        ("beta assignUserToDevice / unassignUserFromDevice", t_assign_user),
        ("beta ESP create + assign + setPriority", t_esp),
        ("beta windowsAutopilotSettings/sync: 204, 409 while running, then 429", t_sync),
        ("beta duplicate import -> error 806", t_duplicate_import),
        ("beta 404 raises ODataError with Graph's code", t_not_found),
        ("beta unassign profile", t_unassign_profile),
        ("beta delete import records", t_delete_imports),
        ("beta delete device", t_delete_device),
    ]:
        await test(name, fn)
    ctx["cleanup"] = t_cleanup


async def _status(coro: Awaitable[Any]) -> int:
    try:
        await coro
        return 200
    except (BetaODataError, V1ODataError) as e:
        return e.response_status_code or 0


# --- v1.0 SDK ------------------------------------------------------------------------------------------------

async def run_v1(v1: Any) -> None:
    dm = v1.device_management

    async def t_v1_devices() -> None:
        dev0, dev1 = need("dev0", "dev1")
        q = V1DevicesRequestBuilder.WindowsAutopilotDeviceIdentitiesRequestBuilderGetQueryParameters(
            filter=f"contains(serialNumber,'{RUN}')", top=1)
        page = await dm.windows_autopilot_device_identities.get(RequestConfiguration(query_parameters=q))
        items = list(page.value or [])
        while page.odata_next_link:
            check(page.odata_next_link.startswith(URL + "/v1.0/"), f"nextLink {page.odata_next_link!r}")
            page = await dm.windows_autopilot_device_identities.with_url(page.odata_next_link).get()
            items += page.value or []
        check(sorted(d.serial_number for d in items) == sorted(SERIALS[:3]), f"v1.0 list {[d.serial_number for d in items]}")
        d = await dm.windows_autopilot_device_identities.by_windows_autopilot_device_identity_id(dev1).get()
        check(d.serial_number == SERIALS[1] and d.group_tag == TAG_A, f"v1.0 device {d.serial_number!r} {d.group_tag!r}")
        check(d.enrollment_state is not None, "v1.0 enrollmentState not deserialised")
        check(d.display_name == f"PC-{RUN}-1", f"v1.0 displayName {d.display_name!r}")

    async def t_v1_imports() -> None:
        (dev0,) = need("dev0")
        created = await dm.imported_windows_autopilot_device_identities.post(
            __import__("msgraph.generated.models.imported_windows_autopilot_device_identity",
                       fromlist=["x"]).ImportedWindowsAutopilotDeviceIdentity(
                group_tag=TAG_B, serial_number=f"SDK{RUN}-V1", hardware_identifier=hardware_hash(f"SDK{RUN}-V1")))
        check(created.id, "v1.0 POST import returned no id")
        item = dm.imported_windows_autopilot_device_identities.by_imported_windows_autopilot_device_identity_id(created.id)
        done = await poll("v1.0 import to leave unknown", item.get,
                          lambda r: enum_value(r.state.device_import_status) != "unknown")
        check(enum_value(done.state.device_import_status) == "complete", f"v1.0 import {done.state!r}")
        page = await dm.imported_windows_autopilot_device_identities.get()
        check(created.id in {r.id for r in page.value or []}, "v1.0 import not listed")
        await item.delete()
        await dm.windows_autopilot_device_identities.by_windows_autopilot_device_identity_id(
            done.state.device_registration_id).delete()

    async def find_directory_device(aad: str, search: bool) -> Any:
        if search:
            # Get-WindowsAutopilotInfo 3.9: Get-MgDevice -Search "deviceId:<id>" -ConsistencyLevel eventual
            q = DevicesRequestBuilder.DevicesRequestBuilderGetQueryParameters(search=f'"deviceId:{aad}"')
            conf = RequestConfiguration(query_parameters=q)
            conf.headers.add("ConsistencyLevel", "eventual")
        else:
            # the community script: GET devices?$filter=deviceId eq '<id>'
            q = DevicesRequestBuilder.DevicesRequestBuilderGetQueryParameters(filter=f"deviceId eq '{aad}'")
            conf = RequestConfiguration(query_parameters=q)
        page = await v1.devices.get(conf)
        found = page.value or []
        check(len(found) == 1 and found[0].device_id == aad, f"devices for deviceId {aad}: {[d.device_id for d in found]}")
        return found[0]

    async def t_v1_add_to_group() -> None:
        # Get-WindowsAutopilotInfo -Online -AddToGroup (§1.4 step 5) with the v1.0 SDK: find the group by name,
        # the device's Entra object by deviceId, then POST groups/{id}/members/$ref.
        dev2, = need("dev2")
        name = f"SDK static {RUN}"
        g = await v1.groups.post(V1Group(display_name=name, security_enabled=True, mail_enabled=False,
                                         mail_nickname=f"sdkstatic{RUN.lower()}", group_types=[]))
        ctx["static_group"] = g.id
        q = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(filter=f"displayName eq '{name}'")
        page = await v1.groups.get(RequestConfiguration(query_parameters=q))
        check([x.id for x in page.value or []] == [g.id], f"groups named {name!r}: {[x.id for x in page.value or []]}")
        d = await dm.windows_autopilot_device_identities.by_windows_autopilot_device_identity_id(dev2).get()
        entra = await find_directory_device(d.azure_active_directory_device_id, search=False)
        await v1.groups.by_group_id(g.id).members.ref.post(
            ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{entra.id}"))
        members = await v1.groups.by_group_id(g.id).members.get()
        check([m.id for m in members.value or []] == [entra.id], f"static group members {[m.id for m in members.value or []]}")
        await v1.groups.by_group_id(g.id).members.by_directory_object_id(entra.id).ref.delete()
        members = await v1.groups.by_group_id(g.id).members.get()
        check(not members.value, "member not removed by DELETE members/{id}/$ref")
        await v1.groups.by_group_id(g.id).delete()

    async def t_v1_device_search() -> None:
        dev2, = need("dev2")
        d = await dm.windows_autopilot_device_identities.by_windows_autopilot_device_identity_id(dev2).get()
        await find_directory_device(d.azure_active_directory_device_id, search=True)

    async def t_v1_groups() -> None:
        (gid,) = need("group")
        g = await v1.groups.by_group_id(gid).get()
        check(g.id == gid and g.membership_rule == dynamic_rule(TAG_A), f"v1.0 group {g.id!r} {g.membership_rule!r}")
        page = await v1.groups.get()
        check(gid in {x.id for x in page.value or []}, "group not listed")

    async def t_v1_organization() -> None:
        page = await v1.organization.get()
        org = (page.value or [None])[0]
        check(org is not None and org.id == CREDS["tenantId"], f"v1.0 organization {org!r}")
        check(any(d.is_default for d in org.verified_domains or []), "v1.0 organization without a default domain")

    async def t_v1_not_found() -> None:
        e = await expect_odata_error(
            dm.windows_autopilot_device_identities.by_windows_autopilot_device_identity_id(str(uuid.uuid4())).get(), 404)
        check(e.error and e.error.code, "v1.0 404 without an error code")

    for name, fn in [
        ("v1.0 windowsAutopilotDeviceIdentities list (nextLink) and get", t_v1_devices),
        ("v1.0 importedWindowsAutopilotDeviceIdentities post/get/list/delete", t_v1_imports),
        ("v1.0 groups get and list", t_v1_groups),
        ("v1.0 -AddToGroup: group by name, devices?$filter=deviceId eq, members/$ref add/remove", t_v1_add_to_group),
        ("v1.0 Get-MgDevice -Search \"deviceId:…\" -ConsistencyLevel eventual", t_v1_device_search),
        ("v1.0 organization", t_v1_organization),
        ("v1.0 404 raises ODataError", t_v1_not_found),
    ]:
        await test(name, fn)


# --- sign-in as a user: Graph /users, then azure-identity and MSAL with the password grant ---------------------

AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
USER_PASSWORD = "Sdk-" + uuid.uuid4().hex[:10] + "!A1"


def jwt_claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def run_sign_in(v1: Any) -> None:
    async def t_create_user() -> None:
        page = await v1.organization.get()
        domain = next(d.name for d in page.value[0].verified_domains if d.is_default)
        upn = f"sdk.admin.{RUN.lower()}@{domain}"
        u = await v1.users.post(V1User(
            account_enabled=True, display_name=f"SDK admin {RUN}", mail_nickname=f"sdkadmin{RUN.lower()}",
            user_principal_name=upn,
            password_profile=PasswordProfile(password=USER_PASSWORD, force_change_password_next_sign_in=False),
            additional_data={"ztdRole": "administrator"}))
        check(u.id and u.user_principal_name == upn, f"created user {u!r}")
        got = await v1.users.by_user_id(upn).get()
        check(got.id == u.id, f"user by UPN {got.id!r} != {u.id!r}")
        ctx["user"] = upn
        ctx["user_id"] = u.id

    # MSAL reaches the sign-in endpoints under Microsoft's own host name, through ztd's lab proxy (it drops the
    # port of a custom authority, so a lab always looks like login.microsoftonline.com to it).
    proxy = os.environ.get("ZTD_PROXY")
    proxies = {"https": proxy} if proxy else None

    def password_credential(upn: str) -> Any:
        from azure.identity import UsernamePasswordCredential

        return UsernamePasswordCredential(AZURE_CLI, upn, USER_PASSWORD, tenant_id=CREDS["tenantId"],
                                          proxies=proxies)

    async def t_username_password_credential() -> None:
        (upn,) = need("user")
        tok = await asyncio.to_thread(lambda: password_credential(upn).get_token(*SCOPES))
        claims = jwt_claims(tok.token)
        check(claims.get("upn") == upn and claims.get("tid") == CREDS["tenantId"], f"claims {claims!r}")
        check(claims.get("aud") == "https://graph.microsoft.com", f"aud {claims.get('aud')!r}")

    async def t_graph_as_user() -> None:
        (upn,) = need("user")
        sync = password_credential(upn)

        class AsAsync:
            """The synchronous credential behind the async interface the Graph SDK takes (azure-identity has
            no async UsernamePasswordCredential)."""

            async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
                return await asyncio.to_thread(lambda: sync.get_token(*scopes, **kwargs))

            async def close(self) -> None:
                pass

        as_user = graph_client(msgraph, "v1.0", AsAsync())
        me = await as_user.users.by_user_id(upn).get()
        check(me.user_principal_name == upn, f"the administrator reads themselves: {me!r}")
        page = await as_user.device_management.windows_autopilot_device_identities.get()
        check(page is not None, "the administrator lists Autopilot devices as themselves")

    async def t_msal_ropc() -> None:
        (upn,) = need("user")
        import msal

        def run() -> tuple[dict[str, Any], dict[str, Any]]:
            app = msal.PublicClientApplication(AZURE_CLI, authority="https://login.microsoftonline.com/organizations",
                                               proxies=proxies)
            ok = app.acquire_token_by_username_password(upn, USER_PASSWORD, scopes=SCOPES)
            # Silent renewal with the cached refresh token (MSAL asks for offline_access by itself).
            accounts = app.get_accounts(username=upn)
            renewed = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True) if accounts else None
            ctx["msal_renewed"] = renewed
            bad = app.acquire_token_by_username_password(upn, "Wrong-" + USER_PASSWORD, scopes=SCOPES)
            return ok, bad

        ok, bad = await asyncio.to_thread(run)
        renewed = ctx.get("msal_renewed") or {}
        check("access_token" in renewed and renewed.get("token_source") == "identity_provider",
              f"MSAL silent renewal through the refresh token: {renewed!r}")
        check("access_token" in ok, f"MSAL ROPC: {ok!r}")
        check(ok.get("id_token_claims", {}).get("preferred_username") == upn, f"id token {ok.get('id_token_claims')!r}")
        check(bad.get("error") == "invalid_grant" and 50126 in bad.get("error_codes", []), f"wrong password: {bad!r}")

    def make_certificate() -> tuple[str, str]:
        """An RSA key and a self-signed certificate, as an operator makes one for an app: the PEM file with
        both (what azure-identity reads) and the certificate alone (what ztd registers)."""
        import datetime
        import tempfile

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sdk-cert-{RUN}")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        d = tempfile.mkdtemp(prefix="ztd-sdk-cert-")
        both, alone = os.path.join(d, "app.pem"), os.path.join(d, "app-cert.pem")
        with open(both, "wb") as f:
            f.write(key_pem + cert_pem)
        with open(alone, "wb") as f:
            f.write(cert_pem)
        return both, alone

    async def t_certificate_credential() -> None:
        both, alone = make_certificate()
        # The operator registers the app with its certificate (on the database, as `ztd app create` does).
        out = subprocess.run([os.environ["ZTD_BIN"], "app", "create", "--tenant", CREDS["tenantId"], "--name",
                              f"sdk-cert-{RUN}", "--role", "DeviceManagementServiceConfig.Read.All",
                              "--certificate", alone, "--json"], capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, f"ztd app create --certificate: {out.stderr}")
        client_id = json.loads(out.stdout)["clientId"]
        from azure.identity import CertificateCredential as SyncCertificateCredential
        from azure.identity.aio import CertificateCredential

        # Synchronous: MSAL signs RS256 with a padded SHA-1 x5t, audience from the OIDC document.
        def sync_token() -> Any:
            c = SyncCertificateCredential(CREDS["tenantId"], client_id, certificate_path=both, authority=URL,
                                          disable_instance_discovery=True)
            try:
                return c.get_token(*SCOPES)
            finally:
                c.close()

        tok = await asyncio.to_thread(sync_token)
        claims = jwt_claims(tok.token)
        check(claims.get("appid") == client_id and claims.get("appidacr") == "2", f"certificate token {claims!r}")
        # Asynchronous: PS256, x5t#S256, every segment padded; then Graph with it.
        cred = CertificateCredential(CREDS["tenantId"], client_id, certificate_path=both, authority=URL,
                                     disable_instance_discovery=True)
        async with cred:
            tok = await cred.get_token(*SCOPES)
            check(jwt_claims(tok.token).get("roles") == ["DeviceManagementServiceConfig.Read.All"],
                  f"roles {jwt_claims(tok.token)!r}")
            beta_as_app = graph_client(msgraph_beta, "beta", cred)
            page = await beta_as_app.device_management.windows_autopilot_device_identities.get()
            check(page is not None, "the certificate app lists Autopilot devices")

    def enter_code_on_page(user_code: str, upn: str) -> str:
        """A person types the code on ztd's /devicelogin page: a plain HTTP form post."""
        import ssl
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode({"otc": user_code, "login": upn, "passwd": USER_PASSWORD,
                                       "action": "approve"}).encode()
        ctx = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
        with urllib.request.urlopen(urllib.request.Request(f"{URL}/devicelogin", data=body), context=ctx,
                                    timeout=30) as r:
            return r.read().decode()

    async def t_device_code_credential() -> None:
        (upn,) = need("user")
        from azure.identity import DeviceCodeCredential

        pages: list[str] = []

        def prompt(verification_uri: str, user_code: str, expires_on: Any) -> None:
            check(verification_uri.endswith("/devicelogin"), f"verification uri {verification_uri!r}")
            pages.append(enter_code_on_page(user_code, upn))

        def run() -> Any:
            cred = DeviceCodeCredential(AZURE_CLI, tenant_id=CREDS["tenantId"], prompt_callback=prompt,
                                        proxies=proxies, timeout=60)
            return cred.get_token(*SCOPES)

        tok = await asyncio.to_thread(run)
        check(pages and "signed in" in pages[0], f"the device login page answered {pages!r}")
        claims = jwt_claims(tok.token)
        check(claims.get("upn") == upn and claims.get("aud") == "https://graph.microsoft.com", f"claims {claims!r}")

    async def t_msal_auth_code_pkce() -> None:
        (upn,) = need("user")
        import html.parser
        import urllib.parse

        import msal
        import requests

        class Form(html.parser.HTMLParser):
            def __init__(self) -> None:
                super().__init__()
                self.action = ""
                self.fields: dict[str, str] = {}

            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                a = dict(attrs)
                if tag == "form":
                    self.action = a.get("action") or ""
                if tag == "input" and a.get("type") == "hidden" and a.get("name"):
                    self.fields[a["name"]] = a.get("value") or ""

        def run() -> dict[str, Any]:
            app = msal.PublicClientApplication(AZURE_CLI, authority="https://login.microsoftonline.com/organizations",
                                               proxies=proxies)
            flow = app.initiate_auth_code_flow(SCOPES, redirect_uri="http://localhost:8400")
            check("code_challenge=" in flow["auth_uri"], f"MSAL sends PKCE: {flow['auth_uri']}")
            # The browser: fetch the page, fill the form, and stop at the redirect back to the app.
            browser = requests.Session()
            browser.proxies = proxies or {}
            page = browser.get(flow["auth_uri"], timeout=30)
            check(page.status_code == 200, f"authorize page {page.status_code}: {page.text[:300]}")
            form = Form()
            form.feed(page.text)
            fields = dict(form.fields, login=upn, passwd=USER_PASSWORD)
            action = urllib.parse.urljoin(flow["auth_uri"], form.action)
            back = browser.post(action, data=fields, allow_redirects=False, timeout=30)
            check(back.status_code == 302, f"sign-in answered {back.status_code}: {back.text[:300]}")
            query = urllib.parse.urlparse(back.headers["Location"]).query
            auth_response = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
            return app.acquire_token_by_auth_code_flow(flow, auth_response)

        result = await asyncio.to_thread(run)
        check("access_token" in result, f"MSAL auth code flow: {result!r}")
        check(result.get("id_token_claims", {}).get("preferred_username") == upn,
              f"id token {result.get('id_token_claims')!r}")

    async def t_delete_user() -> None:
        (uid,) = need("user_id")
        await v1.users.by_user_id(uid).delete()
        await expect_odata_error(v1.users.by_user_id(uid).get(), 404)

    for name, fn in [
        ("v1.0 users post and get by UPN (passwordProfile, ztdRole)", t_create_user),
        ("azure-identity UsernamePasswordCredential (MSAL, ROPC) through the lab proxy: a user token", t_username_password_credential),
        ("Graph SDK as the signed-in administrator (delegated)", t_graph_as_user),
        ("MSAL acquire_token_by_username_password at login.microsoftonline.com via the lab proxy, silent renewal by refresh token; AADSTS50126", t_msal_ropc),
        ("azure-identity CertificateCredential (sync via MSAL: RS256 x5t; async: PS256 x5t#S256, padded) for an app registered with ztd app create --certificate, then Graph", t_certificate_credential),
        ("azure-identity DeviceCodeCredential through the lab proxy, the code entered on /devicelogin by a plain HTTP client", t_device_code_credential),
        ("MSAL auth code flow with PKCE (initiate_auth_code_flow, the /authorize page driven over HTTP, acquire_token_by_auth_code_flow)", t_msal_auth_code_pkce),
        ("v1.0 users delete", t_delete_user),
    ]:
        await test(name, fn)


async def main() -> int:
    preflight = []
    path = os.environ.get("ZTD_SDK_PREFLIGHT")
    if path and os.path.exists(path):
        preflight = [line.strip() for line in open(path) if line.strip()]
    for line in preflight:
        results.append((line, False, "before the tests"))

    credential = ClientSecretCredential(CREDS["tenantId"], CREDS["clientId"], CREDS["clientSecret"],
                                        authority=URL, disable_instance_discovery=True)
    async with credential:
        async def t_token() -> None:
            tok = await credential.get_token(*SCOPES)
            check(tok.token and tok.expires_on > time.time(), f"token {tok!r}")
            check(tok.token.count(".") == 2, "access token is not a JWT")

        await test("azure-identity ClientSecretCredential token from /{tenant}/oauth2/v2.0/token", t_token)

        async def t_msal_token() -> None:
            # The synchronous credential goes through MSAL, which reads the OIDC discovery document first.
            from azure.identity import ClientSecretCredential as SyncClientSecretCredential

            def get() -> Any:
                c = SyncClientSecretCredential(CREDS["tenantId"], CREDS["clientId"], CREDS["clientSecret"],
                                               authority=URL, disable_instance_discovery=True)
                try:
                    return c.get_token(*SCOPES)
                finally:
                    c.close()

            tok = await asyncio.to_thread(get)
            check(tok.token and tok.token.count(".") == 2, f"MSAL token {tok!r}")

        await test("azure-identity (sync, MSAL) token via OIDC discovery", t_msal_token)
        beta = graph_client(msgraph_beta, "beta", credential)
        v1 = graph_client(msgraph, "v1.0", credential)
        await run_beta(beta, v1)
        await run_v1(v1)
        await run_sign_in(v1)
        if "cleanup" in ctx:
            await test("cleanup: delete ESP, profile, group", ctx["cleanup"])

    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    if failed:
        print("\nfailures:")
        for name, ok, detail in results:
            if not ok:
                print(f"  - {name}: {detail}")
    if "code404" in ctx:
        print(f"(404 error code served: {ctx['code404']!r})")
    summary = f"{passed} passed, {failed} failed"
    print(summary)
    if os.environ.get("ZTD_SDK_SUMMARY"):
        with open(os.environ["ZTD_SDK_SUMMARY"], "w") as f:
            f.write(summary + "\n")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
