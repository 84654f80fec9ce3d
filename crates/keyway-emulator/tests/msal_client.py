"""Python's `msal` against the emulated Entra, driven by tests/msal.rs.

Usage: python3 msal_client.py AUTHORITY_HOST TENANT CLIENT_ID TOKEN_FILE [CAPABILITY...]

A confidential client with a federated client assertion (the service-account token, re-read
from TOKEN_FILE whenever msal needs one, as a workload does) asks for a Key Vault token with
`acquire_token_for_client`. TLS trust comes from REQUESTS_CA_BUNDLE (the emulator's CA), which
msal's default `requests` session honours.

Instance discovery stays on, as msal's default has it, but msal's default endpoint is fixed
on the public cloud's host; `instance_discovery` names the emulator's
`/common/discovery/instance` instead (msal takes a URL there). Every request msal makes is
checked before it leaves: one addressed anywhere but the emulator raises, so this script
never reaches a public host, whatever msal decides.

Prints one JSON object: {"ok": true, "result": <msal's answer>, "requests": [...]} or
{"ok": false, "error": "<exception>", "cause": "<the exception it arose from>",
"requests": [...]}; exits 0 either way (the Rust test
judges), non-zero only when the script itself is broken.
"""

import json
import sys
import urllib.parse

import msal
import requests.adapters

authority_host, tenant, client_id, token_file = sys.argv[1:5]
capabilities = sys.argv[5:] or None
allowed = urllib.parse.urlsplit(authority_host).netloc
requested = []

original_send = requests.adapters.HTTPAdapter.send


def guarded_send(self, request, *args, **kwargs):
    url = urllib.parse.urlsplit(request.url)
    requested.append({"method": request.method, "url": request.url})
    if url.netloc != allowed:
        raise RuntimeError("refused a request to " + url.netloc + ": not the emulator")
    return original_send(self, request, *args, **kwargs)


requests.adapters.HTTPAdapter.send = guarded_send


def assertion():
    with open(token_file, encoding="utf-8") as f:
        return f.read().strip()


try:
    app = msal.ConfidentialClientApplication(
        client_id,
        authority=authority_host + "/" + tenant,
        client_credential={"client_assertion": assertion},
        instance_discovery=authority_host + "/common/discovery/instance",
        client_capabilities=capabilities,
    )
    result = app.acquire_token_for_client(scopes=["https://vault.azure.net/.default"])
    # A second call is answered from msal's cache, without another token request.
    again = app.acquire_token_for_client(scopes=["https://vault.azure.net/.default"])
    outcome = {
        "ok": True,
        "result": result,
        "second_source": again.get("token_source"),
        "token_endpoint": app.authority.token_endpoint,
        "msal_version": msal.__version__,
    }
except Exception as e:  # noqa: BLE001 - the test wants whatever msal raised
    outcome = {"ok": False, "error": type(e).__name__ + ": " + str(e)}
    # msal re-raises some failures with its own words; what the server said is the context.
    if e.__context__ is not None:
        outcome["cause"] = str(e.__context__)
outcome["requests"] = requested
print(json.dumps(outcome))
