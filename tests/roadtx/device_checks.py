"""Refusals roadtx's CLI cannot provoke, sent with roadlib (the library roadtx is built on), unmodified:
a forged request_nonce and a replayed device-signed request. Exit 0 when ztd refuses as Entra does
(AADSTS50013), 1 otherwise.

usage: device_checks.py forged|replay PROXY_PORT CA_FILE CERT KEY USER PASSWORD
"""
import sys

from roadtools.roadlib.auth import Authentication, AuthenticationException
from roadtools.roadlib.deviceauth import DeviceAuthentication

mode, proxy, ca, cert, key, user, password = sys.argv[1:8]
auth = Authentication()
auth.proxies = {"https": f"http://127.0.0.1:{proxy}"}
auth.verify = ca
device = DeviceAuthentication(auth)
device.proxies = auth.proxies
device.verify = ca
if not device.loadcert(cert, key):
    sys.exit("cannot load the device certificate")

if mode == "forged":
    # A nonce in the shape of ztd's, which ztd never issued.
    auth.get_srv_challenge_nonce = lambda: "AQEAAAAAZ0hKc2tOYWxzZU5vbmNlWFhYWFhYWFhYWFhYWFhYWA"
    try:
        device.get_prt_with_password(user, password)
    except AuthenticationException as err:
        print(err)
        sys.exit(0 if "AADSTS50013" in str(err) else 1)
    print("a forged nonce was accepted")
    sys.exit(1)

if mode == "replay":
    sent = []
    original = auth.requests_post

    def capture(url, **kwargs):
        sent.append((url, dict(kwargs)))
        return original(url, **kwargs)

    auth.requests_post = capture
    device.get_prt_with_password(user, password)
    url, kwargs = [s for s in sent if "request" in (s[1].get("data") or {})][-1]
    again = original(url, **kwargs)
    print(again.status_code, again.text)
    sys.exit(0 if again.status_code == 400 and "AADSTS50013" in again.text else 1)

sys.exit(f"unknown mode {mode}")
