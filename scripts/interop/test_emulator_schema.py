"""Every JSON body `xcomply emulator` returns validates against X's official OpenAPI.

The emulator is driven over HTTP with urllib (no xcomply code on the client side), through every
path that produces JSON, in both of its flows:

- `--flow gcs` (the API before September 2026) against v2.166
  (fixtures/spec/x-api-v2-compliance.openapi.json): create (plain, named, resumable, both
  types), get, list (with and without jobs, with status filters, with an expired job), cancel,
  and the errors 400, 401, 404, 409, 429, 500 and 503;
- `--flow byte-path` (the live API, the default) against v2.168
  (fixtures/spec/x-api-v2-compliance.v2.168.openapi.json): the same, plus the upload byte path
  (its 200 answers the job), the download byte path, and the errors 401 and 403 of a refused
  Bearer or URL token, 405 with `Allow`, 413 above the upload cap, 415, and 400 for request bodies
  and `compliance_job.fields` values the spec refuses on every route that takes them.

Success bodies are checked against the operation's 200 schema; errors against `Problem` and the
sub-schema its discriminator maps the `type` to, under the media types the spec declares. The one
body outside v2.168 is the usage-cap problem (`…/problems/usage-capped`), which X documents for
every v2 endpoint and which a client must tell from a rate limit; it is checked by its type.
"""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
XCOMPLY = os.environ.get("XCOMPLY_BIN", str(ROOT / "target" / "release" / "xcomply"))
SPEC = json.loads((ROOT / "fixtures" / "spec" / "x-api-v2-compliance.openapi.json").read_text())
SPEC168 = json.loads(
    (ROOT / "fixtures" / "spec" / "x-api-v2-compliance.v2.168.openapi.json").read_text())
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
JOB_TIMESTAMPS = ["created_at", "upload_expires_at", "download_expires_at"]


def validator(schema_name: str, spec=SPEC) -> jsonschema.protocols.Validator:
    # The whole components section rides along so that `#/components/schemas/...` refs resolve.
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


def response_schema(path: str, method: str, spec=SPEC) -> str:
    ref = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


class Emulator:
    """`xcomply emulator` on a free port; the GCS flow unless `flow` says otherwise."""

    def __init__(self, *args: str, flow: str = "gcs"):
        self.proc = subprocess.Popen(
            [XCOMPLY, "emulator", "--addr", "127.0.0.1:0", "--flow", flow, *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        fields = {}
        while len(fields) < 3:
            line = self.proc.stdout.readline()
            assert line, "the emulator exited before printing its address"
            key, _, value = line.strip().partition(": ")
            fields[key] = value
        self.base = fields["base_url"]
        self.token = fields["token"]
        self.data_dir = Path(fields["data_dir"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def call(self, method: str, path: str, body=None, token: str | None = "default",
             raw: bytes | None = None, content_type: str = "application/octet-stream",
             headers_out: dict | None = None):
        """One request; `path` may be a whole URL. JSON `body`, or `raw` bytes (an upload)."""
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            headers["Content-Type"] = content_type
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                if headers_out is not None:
                    headers_out.update(r.headers)
                return r.status, r.headers.get("content-type"), json.loads(r.read())
        except urllib.error.HTTPError as e:
            if headers_out is not None:
                headers_out.update(e.headers)
            return e.code, e.headers.get("content-type"), json.loads(e.read())


@pytest.fixture
def emu():
    e = Emulator()
    yield e
    e.stop()
    assert not e.data_dir.exists(), "the data directory must be removed on exit"


def check_ok(result, path: str, method: str):
    status, content_type, body = result
    assert status == 200, body
    assert content_type == "application/json; charset=utf-8"
    validator(response_schema(path, method)).validate(body)
    jobs = body.get("data", [])
    for job in jobs if isinstance(jobs, list) else [jobs]:
        for field in JOB_TIMESTAMPS:
            assert TIMESTAMP.match(job[field]), job[field]
    return body


def check_problem(result, status: int, kind: str):
    got_status, content_type, body = result
    assert got_status == status, body
    # The spec's error media types are application/json (Error) and application/problem+json.
    assert content_type == "application/problem+json"
    validator("Problem").validate(body)
    mapping = SPEC["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    assert body["type"] in mapping, body
    validator(mapping[body["type"]].rsplit("/", 1)[1]).validate(body)
    assert body["type"].endswith(kind), body
    return body


def upload(url: str, data: bytes) -> int:
    req = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req) as r:
        return r.status


def test_success_bodies_match_the_schemas(emu):
    check_ok(emu.call("GET", "/2/compliance/jobs?type=tweets"), "/2/compliance/jobs", "get")
    created = check_ok(emu.call("POST", "/2/compliance/jobs", {"type": "tweets", "name": "schema"}),
                       "/2/compliance/jobs", "post")
    job = created["data"]
    assert job["name"] == "schema" and job["status"] == "created"
    users = check_ok(emu.call("POST", "/2/compliance/jobs", {"type": "users", "resumable": True}),
                     "/2/compliance/jobs", "post")
    assert users["data"]["resumable"] is True
    check_ok(emu.call("GET", f"/2/compliance/jobs/{job['id']}"), "/2/compliance/jobs/{id}", "get")

    assert upload(job["upload_url"], b"".join(b"%d\n" % (1446017776678801409 + i * 4194304) for i in range(5000))) == 200
    for _ in range(200):
        done = check_ok(emu.call("GET", f"/2/compliance/jobs/{job['id']}"), "/2/compliance/jobs/{id}", "get")
        if done["data"]["status"] == "complete":
            break
        time.sleep(0.02)
    assert done["data"]["status"] == "complete"
    with urllib.request.urlopen(job["download_url"]) as r:
        lines = r.read().decode().splitlines()
    assert lines and all(json.loads(line)["action"] == "delete" for line in lines)

    for query in ["type=tweets", "type=tweets&status=complete", "type=users&status=created",
                  "type=users&status=failed", "type=tweets&compliance_job.fields=id,status"]:
        check_ok(emu.call("GET", f"/2/compliance/jobs?{query}"), "/2/compliance/jobs", "get")

    # DELETE is documented (2026) but absent from every published spec: its body has the shape of
    # a get.
    cancelled = check_ok(emu.call("DELETE", f"/2/compliance/jobs/{users['data']['id']}"),
                         "/2/compliance/jobs/{id}", "get")
    assert cancelled["data"]["status"] == "failed" and cancelled["data"]["error"]
    failed = check_ok(emu.call("GET", "/2/compliance/jobs?type=users&status=failed"),
                      "/2/compliance/jobs", "get")
    assert failed["meta"]["result_count"] == 1


def test_error_bodies_match_the_problem_schemas(emu):
    check_problem(emu.call("GET", "/2/compliance/jobs?type=tweets", token=None), 401, "about:blank")
    check_problem(emu.call("GET", "/2/compliance/jobs?type=tweets", token="wrong"), 401, "about:blank")
    for body in [{"type": "foo"}, {}, {"type": "tweets", "name": "x" * 65}, {"type": "tweets", "resumable": 1}]:
        check_problem(emu.call("POST", "/2/compliance/jobs", body), 400, "invalid-request")
    for query in ["", "type=foo", "type=tweets&status=expired", "type=tweets&bogus=1",
                  "type=tweets&compliance_job.fields=nope"]:
        check_problem(emu.call("GET", f"/2/compliance/jobs?{query}"), 400, "invalid-request")
    check_problem(emu.call("GET", "/2/compliance/jobs/abc"), 400, "invalid-request")
    check_problem(emu.call("GET", "/2/compliance/jobs/12345678901234567890"), 400, "invalid-request")
    check_problem(emu.call("GET", "/2/compliance/jobs/1446017776678801409"), 404, "about:blank")
    check_problem(emu.call("DELETE", "/2/compliance/jobs/1446017776678801409"), 404, "about:blank")
    check_ok(emu.call("POST", "/2/compliance/jobs", {"type": "tweets"}), "/2/compliance/jobs", "post")
    check_problem(emu.call("POST", "/2/compliance/jobs", {"type": "tweets"}), 409, "conflict")
    check_problem(emu.call("PUT", "/2/compliance/jobs"), 405, "about:blank")
    check_problem(emu.call("GET", "/2/compliance/nothing"), 404, "about:blank")


def test_rate_limit_and_injected_errors_match_the_problem_schemas():
    limited = Emulator("--rate-limit", "1")
    try:
        check_ok(limited.call("GET", "/2/compliance/jobs?type=tweets"), "/2/compliance/jobs", "get")
        check_problem(limited.call("GET", "/2/compliance/jobs?type=tweets"), 429, "about:blank")
    finally:
        limited.stop()
    for flag, status, kind in [("--fault-500", 500, "about:blank"), ("--fault-503", 503, "about:blank"),
                               ("--fault-429-burst", 429, "about:blank"),
                               ("--fault-usage-capped", 429, "usage-capped")]:
        faulty = Emulator(flag, "1", "--fault-on", "api")
        try:
            check_problem(faulty.call("GET", "/2/compliance/jobs?type=tweets"), status, kind)
        finally:
            faulty.stop()


def test_expired_jobs_are_listed_and_valid():
    # An emulated hour per real second: the 15-minute upload window closes in a quarter second.
    fast = Emulator("--time-scale", "3600")
    try:
        job = check_ok(fast.call("POST", "/2/compliance/jobs", {"type": "tweets"}), "/2/compliance/jobs", "post")
        time.sleep(0.5)
        listed = check_ok(fast.call("GET", "/2/compliance/jobs?type=tweets"), "/2/compliance/jobs", "get")
        assert [j["status"] for j in listed["data"]] == ["expired"]
        assert listed["data"][0]["id"] == job["data"]["id"]
    finally:
        fast.stop()


def test_public_url_is_written_into_signed_urls():
    proxied = Emulator("--public-url", "http://localhost:9")
    try:
        job = check_ok(proxied.call("POST", "/2/compliance/jobs", {"type": "users"}), "/2/compliance/jobs", "post")
        assert job["data"]["upload_url"].startswith("http://localhost:9/twttr-user-compliance/")
        assert job["data"]["download_url"].startswith("http://localhost:9/twttr-user-compliance/")
    finally:
        proxied.stop()


# The byte-path (live) flow, against v2.168.

LIVE = "https://api.x.com/2/problems/"


def check_ok168(result, path: str, method: str):
    status, content_type, body = result
    assert status == 200, body
    assert content_type == "application/json; charset=utf-8"
    validator(response_schema(path, method, SPEC168), SPEC168).validate(body)
    return body


def check_problem168(result, status: int, slug: str):
    got_status, content_type, body = result
    assert got_status == status, body
    assert content_type == "application/problem+json"
    assert body["type"] == LIVE + slug, body
    validator("Problem", SPEC168).validate(body)
    mapping = SPEC168["components"]["schemas"]["Problem"]["discriminator"]["mapping"]
    validator(mapping[body["type"]].rsplit("/", 1)[1], SPEC168).validate(body)
    return body


@pytest.fixture
def live():
    e = Emulator(flow="byte-path")
    yield e
    e.stop()
    assert not e.data_dir.exists(), "the data directory must be removed on exit"


def ids_text(n: int) -> bytes:
    return b"".join(b"%d\n" % (1446017776678801409 + i * 4194304) for i in range(n))


def test_live_success_bodies_match_v2_168(live):
    jobs = "/2/compliance/jobs"
    check_ok168(live.call("GET", jobs + "?type=tweets"), jobs, "get")
    job = check_ok168(live.call("POST", jobs, {"type": "tweets", "name": "schema"}), jobs, "post")["data"]
    assert job["upload_url"].startswith(f"{live.base}/2/compliance/jobs/{job['id']}/upload?token=")
    assert job["download_url"].startswith(f"{live.base}/2/compliance/jobs/{job['id']}/download?token=")
    users = check_ok168(live.call("POST", jobs, {"type": "users", "resumable": False}), jobs, "post")["data"]
    check_ok168(live.call("GET", f"{jobs}/{job['id']}"), jobs + "/{id}", "get")
    check_ok168(live.call("GET", f"{jobs}/{job['id']}?compliance_job.fields=id,status"), jobs + "/{id}", "get")

    # The upload's 200 answers the job; an invalid line comes back as an error record.
    uploaded = check_ok168(live.call("PUT", job["upload_url"], raw=ids_text(5000) + b"not_a_valid_id\n"),
                           jobs + "/{id}/upload", "put")
    assert uploaded["data"]["id"] == job["id"]
    for _ in range(200):
        done = check_ok168(live.call("GET", f"{jobs}/{job['id']}"), jobs + "/{id}", "get")
        if done["data"]["status"] == "complete":
            break
        time.sleep(0.02)
    assert done["data"]["status"] == "complete"
    req = urllib.request.Request(job["download_url"], headers={"Authorization": f"Bearer {live.token}"})
    with urllib.request.urlopen(req) as r:
        assert r.headers.get("content-type") == "application/octet-stream"
        records = [json.loads(line) for line in r.read().decode().splitlines()]
    assert {"id": "not_a_valid_id", "error": "invalid_id"} in records
    assert {r["action"] for r in records if "action" in r} <= {"delete", "rehydrate", "scrub_geo"}

    for query in ["type=tweets", "type=tweets&status=complete", "type=users&status=created",
                  "type=tweets&compliance_job.fields=id,status"]:
        check_ok168(live.call("GET", f"{jobs}?{query}"), jobs, "get")
    cancelled = check_ok168(live.call("DELETE", f"{jobs}/{users['id']}"), jobs + "/{id}", "delete")
    assert cancelled["data"]["status"] == "failed"


def test_live_error_bodies_match_v2_168(live):
    jobs = "/2/compliance/jobs"
    check_problem168(live.call("GET", jobs + "?type=tweets", token=None), 401, "not-authorized-for-resource")
    check_problem168(live.call("GET", jobs + "?type=tweets", token="wrong"), 401, "not-authorized-for-resource")
    for body in [{"type": "foo"}, {}, {"type": "tweets", "name": "x" * 65}, {"type": "tweets", "resumable": 1},
                 {"type": "tweets", "resumable": True}, {"type": "tweets", "resumable": None},
                 {"type": "tweets", "extra": 1}]:
        check_problem168(live.call("POST", jobs, body), 400, "invalid-request")
    for query in ["", "type=foo", "type=tweets&status=expired", "type=tweets&bogus=1",
                  "type=tweets&compliance_job.fields=nope"]:
        check_problem168(live.call("GET", f"{jobs}?{query}"), 400, "invalid-request")
    check_problem168(live.call("POST", jobs + "?compliance_job.fields=nope", {"type": "users"}), 400,
                     "invalid-request")
    check_problem168(live.call("GET", jobs + "/abc"), 400, "invalid-request")
    check_problem168(live.call("GET", jobs + "/1446017776678801409"), 404, "resource-not-found")
    check_problem168(live.call("DELETE", jobs + "/1446017776678801409"), 404, "resource-not-found")
    job = check_ok168(live.call("POST", jobs, {"type": "tweets"}), jobs, "post")["data"]
    check_problem168(live.call("GET", f"{jobs}/{job['id']}?compliance_job.fields=nope"), 400, "invalid-request")
    check_problem168(live.call("DELETE", f"{jobs}/{job['id']}?compliance_job.fields=nope"), 400,
                     "invalid-request")
    check_problem168(live.call("POST", jobs, {"type": "tweets"}), 409, "resource-unavailable")
    allow = {}
    check_problem168(live.call("PUT", jobs, headers_out=allow), 405, "invalid-request")
    assert allow["allow"] == "GET,HEAD,POST"
    check_problem168(live.call("GET", "/2/compliance/nothing"), 404, "resource-not-found")

    up, down = job["upload_url"], job["download_url"]
    # Byte paths: the Bearer token, then the URL's token (named in `parameter`).
    check_problem168(live.call("PUT", up, raw=b"1\n", token=None), 401, "not-authorized-for-resource")
    forged = check_problem168(live.call("PUT", up + "0", raw=b"1\n"), 401, "not-authorized-for-resource")
    assert forged["parameter"] == "token"
    swapped = up.split("?")[0] + "?" + down.split("?")[1]
    wrong_op = check_problem168(live.call("PUT", swapped, raw=b"1\n"), 403, "not-authorized-for-resource")
    assert wrong_op["parameter"] == "token"
    check_problem168(live.call("PUT", up + "&compliance_job.fields=nope", raw=b"1\n"), 400, "invalid-request")
    check_problem168(live.call("PUT", up, raw=b"1\n", content_type="application/json"), 415, "invalid-request")
    check_problem168(live.call("GET", down), 404, "resource-not-found")
    check_problem168(live.call("GET", down + "&compliance_job.fields=nope"), 400, "invalid-request")
    allow = {}
    check_problem168(live.call("POST", up, raw=b"1\n", headers_out=allow), 405, "invalid-request")
    assert allow["allow"] == "PUT"


def test_live_limits_faults_and_expiry_match_v2_168():
    capped = Emulator("--max-upload-bytes", "100", "--time-scale", "3600", flow="byte-path")
    try:
        job = check_ok168(capped.call("POST", "/2/compliance/jobs", {"type": "tweets"}), "/2/compliance/jobs",
                          "post")["data"]
        check_problem168(capped.call("PUT", job["upload_url"], raw=ids_text(10)), 413, "invalid-request")
        # An emulated hour per real second: the 15-minute upload token expires in a quarter second.
        time.sleep(0.5)
        expired = check_problem168(capped.call("PUT", job["upload_url"], raw=b"1\n"), 403,
                                   "not-authorized-for-resource")
        assert expired["parameter"] == "token"
    finally:
        capped.stop()
    limited = Emulator("--rate-limit", "1", flow="byte-path")
    try:
        check_ok168(limited.call("GET", "/2/compliance/jobs?type=tweets"), "/2/compliance/jobs", "get")
        check_problem168(limited.call("GET", "/2/compliance/jobs?type=tweets"), 429, "resource-unavailable")
    finally:
        limited.stop()
    for flag, status, slug in [("--fault-500", 500, "internal-error"), ("--fault-503", 503, "internal-error"),
                               ("--fault-429-burst", 429, "resource-unavailable")]:
        faulty = Emulator(flag, "1", "--fault-on", "api,upload", flow="byte-path")
        try:
            check_problem168(faulty.call("GET", "/2/compliance/jobs?type=tweets"), status, slug)
            check_problem168(faulty.call("PUT", "/2/compliance/jobs/1/upload?token=x", raw=b"1\n"), status, slug)
        finally:
            faulty.stop()
    capped = Emulator("--fault-usage-capped", "1", "--fault-on", "api", flow="byte-path")
    try:
        status, content_type, body = capped.call("GET", "/2/compliance/jobs?type=tweets")
        assert (status, content_type, body["type"]) == (429, "application/problem+json", LIVE + "usage-capped")
    finally:
        capped.stop()
