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


@schemathesis.auth(refresh_interval=3600, retry_on=[401])
class DemoUser:
    def get(self, case, context):
        return _sign_in()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, **kwargs):
    query = case.query
    if isinstance(query, dict) and isinstance(query.get("wait"), int) and not isinstance(query.get("wait"), bool):
        # Only shortened: a negative or otherwise invalid wait still goes as generated.
        query["wait"] = min(query["wait"], MAX_WAIT_SECONDS)
