"""Schemathesis hooks for the API fuzzer (`cargo xtask api-fuzz`).

Signs in as the demo user REDFOLDER_FUZZ_USER on the server at REDFOLDER_FUZZ_URL and
sends its access token with every request that the OpenAPI document secures. The fuzzer
also calls `POST /api/v1/auth/logout`, which ends the token; a 401 then makes schemathesis
ask for a fresh one (`retry_on`), and the sign-in keeps the same device.

The sign-ins come from 127.0.0.2, not the fuzzer's 127.0.0.1: the fuzzer's own failed
sign-ins (random usernames and passwords) lock its address out after 20 within 15
minutes, as they should, and that lock must not stop the fuzzer from signing in.
"""

import http.client
import json
import os
import urllib.parse
import zlib

import schemathesis

URL = urllib.parse.urlsplit(os.environ["REDFOLDER_FUZZ_URL"])
USER = os.environ["REDFOLDER_FUZZ_USER"]
PASSWORD = "demo"
# The sign-in source address; any 127/8 address is this machine.
SOURCE = os.environ.get("REDFOLDER_FUZZ_SIGN_IN_FROM", "127.0.0.2")
# Long-polls of the feed wait up to this many seconds instead of the 60 the API allows:
# the long-poll's waiting is tested in tests/it/feed.rs, and here it would only spend the
# run's time budget asleep.
MAX_WAIT_SECONDS = 1

_device_id = None


def _sign_in():
    global _device_id
    body = {"username": USER, "password": PASSWORD, "device_label": "api fuzzer"}
    if _device_id is not None:
        body["device_id"] = _device_id
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=60, source_address=(SOURCE, 0))
    try:
        conn.request(
            "POST",
            "/api/v1/auth/login",
            json.dumps(body),
            {"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"the fuzzer could not sign in as {USER}: {response.status} {data!r}")
    answer = json.loads(data)
    _device_id = answer["device_id"]
    return answer["token"]


def _get(path, token):
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=60, source_address=(SOURCE, 0))
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return json.loads(data) if response.status == 200 else None


# Names of things that exist in the demo data, so that half of the generated requests to
# a route with that path parameter reach the route's work instead of its 404. Read once,
# on first use, with the fuzzer's own sign-in.
_known = None


def _known_names():
    global _known
    if _known is None:
        token = _sign_in()
        caseload = _get("/api/v1/patients", token) or []
        feed = _get("/api/v1/emergency/feed?limit=20", token) or {}
        _known = {
            "patient_id": sorted(row["id"] for row in caseload),
            "nhs_number": sorted({item["nhs_number"] for item in feed.get("items", [])}),
            # Not a user any run signs in as: the administrator's run may disable it or
            # reset its password.
            "username": ["mdt.demo"],
        }
    return _known


# (path template prefix, path parameter) -> the kind of name it takes.
_PARAMETERS = {
    ("/api/v1/patients/{id}", "id"): "patient_id",
    ("/api/v1/emergency/summary/", "nhs_number"): "nhs_number",
    ("/api/v1/admin/users/", "username"): "username",
}


def _known_path_parameters(path, path_parameters):
    if not isinstance(path_parameters, dict):
        return
    for (prefix, name), kind in _PARAMETERS.items():
        value = path_parameters.get(name)
        if not path.startswith(prefix) or not isinstance(value, str):
            continue
        names = _known_names()[kind]
        if kind == "username" and value.strip().lower() == USER:
            # The fuzzer learns usernames from the administrator's own answers and would
            # disable the account it signs in with, or change its password, and every
            # request after that would be refused. (An administrator may do that to
            # themselves; the CLI can still manage the account.)
            path_parameters[name] = names[0]
            continue
        # A checksum of the generated value, not random, so the run stays reproducible.
        pick = zlib.crc32(value.encode("utf-8", "surrogatepass"))
        if names and pick % 2 == 0:
            path_parameters[name] = names[(pick // 2) % len(names)]


@schemathesis.auth(refresh_interval=3600, retry_on=[401])
class DemoUser:
    def get(self, case, context):
        return _sign_in()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, **kwargs):
    # Here rather than in `map_path_parameters`, which not every phase calls.
    _known_path_parameters(case.operation.path, case.path_parameters)
    query = case.query
    if isinstance(query, dict) and isinstance(query.get("wait"), int) and not isinstance(query.get("wait"), bool):
        # Only shortened: a negative or otherwise invalid wait still goes as generated.
        query["wait"] = min(query["wait"], MAX_WAIT_SECONDS)
