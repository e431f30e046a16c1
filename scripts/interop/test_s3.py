"""Datasets on S3: xcomply against a real S3 HTTP API on loopback (moto in server mode).

The same seeded dataset, local and uploaded to a bucket, gives the same shards for `xcomply
shard` and the same manifest rows (file names aside) for `xcomply join` and for
`xcomply run --emulator`; `xcomply apply` reads from S3 and
writes its compliant copy to S3, checked row for row against pyarrow reading the copy back and
against the local apply; an object rewritten after the join is refused; a wrong credential exits
5 naming the bucket, a missing bucket 4. moto answers on 127.0.0.1 only.
"""

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from gendata import GEO_COLUMNS, make_dataset, write_results

ROOT = Path(__file__).resolve().parents[2]
XCOMPLY = os.environ.get("XCOMPLY_BIN", str(ROOT / "target" / "release" / "xcomply"))
MOTO = Path(sys.executable).parent / "moto_server"
KEY, SECRET = "xcomply-test-key", "xcomply-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """`moto_server` on a free loopback port; with `auth`, IAM authentication is enforced after
    the first `auth` actions (used to create the one user whose keys are then valid)."""

    def __init__(self, auth: int | None = None):
        self.port = free_port()
        env = dict(os.environ)
        if auth is not None:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(auth)
        self.proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        else:
            raise RuntimeError("moto_server did not start")

    def client(self, service: str = "s3", key: str = KEY, secret: str = SECRET):
        return boto3.client(service, endpoint_url=self.url, aws_access_key_id=key,
                            aws_secret_access_key=secret, region_name="us-east-1")

    def env(self, key: str = KEY, secret: str = SECRET) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=self.url, HOME=str(Path(os.environ.get("TMPDIR", "/tmp"))))
        return env

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def xcomply(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([XCOMPLY, "-q", *args], check=check, capture_output=True, text=True, env=env)


def upload_tree(s3, bucket: str, local: Path, prefix: str):
    for f in sorted(local.rglob("*")):
        if f.is_file():
            s3.upload_file(str(f), bucket, f"{prefix}/{f.relative_to(local).as_posix()}")


def rows(manifest: Path):
    """Manifest rows without file names: the same rows, whatever the dataset's location."""
    t = pq.read_table(manifest).to_pylist()
    return [(Path(r["file_path"]).name, r["pos"], r["id"], r["author_id"], r["action"]) for r in t]


@pytest.fixture(scope="module")
def s3_dataset(tmp_path_factory):
    moto = Moto()
    tmp = tmp_path_factory.mktemp("s3")
    data, results = tmp / "data", tmp / "results"
    ids = make_dataset(data)
    write_results(results, ids)
    s3 = moto.client()
    s3.create_bucket(Bucket="posts")
    upload_tree(s3, "posts", data, "data")
    yield moto, s3, tmp, data, results
    moto.stop()


def test_join_on_s3_equals_the_local_join(s3_dataset):
    moto, _, tmp, data, results = s3_dataset
    env = moto.env()
    local, remote = tmp / "m-local", tmp / "m-s3"
    xcomply(env, "join", "--dataset", str(data), "--results", str(results), "--out", str(local))
    xcomply(env, "join", "--dataset", "s3://posts/data/", "--results", str(results), "--out", str(remote))
    ours = rows(remote / "manifest.parquet")
    assert len(ours) > 500
    assert ours == rows(local / "manifest.parquet")
    paths = {r["file_path"] for r in pq.read_table(remote / "manifest.parquet").to_pylist()}
    assert all(p.startswith("s3://posts/data/date=") for p in paths), paths
    # A glob over the objects is the same dataset.
    globbed = tmp / "m-glob"
    xcomply(env, "join", "--dataset", "s3://posts/data/date=*/*.parquet", "--results", str(results),
            "--out", str(globbed))
    assert rows(globbed / "manifest.parquet") == ours


def test_shard_on_s3_equals_the_local_shard(s3_dataset):
    moto, _, tmp, data, _ = s3_dataset
    env = moto.env()
    for name, dataset in (("shards-local", str(data)), ("shards-s3", "s3://posts/data/")):
        xcomply(env, "shard", "--type", "users", "--column", "author_id", "--out", str(tmp / name), dataset)
    local = sorted(p.name for p in (tmp / "shards-local").glob("users-*.txt"))
    assert local
    for name in local:
        assert (tmp / "shards-s3" / name).read_bytes() == (tmp / "shards-local" / name).read_bytes()


def test_run_on_s3_equals_the_local_run(s3_dataset):
    moto, _, tmp, data, _ = s3_dataset
    env = moto.env()
    for name, dataset in (("run-local", str(data)), ("run-s3", "s3://posts/data/")):
        xcomply(env, "run", "--emulator", "--dataset", dataset, "--out", str(tmp / name))
    ours = rows(tmp / "run-s3" / "manifests" / "manifest.parquet")
    assert ours and ours == rows(tmp / "run-local" / "manifests" / "manifest.parquet")


def test_apply_to_s3_and_back(s3_dataset):
    moto, s3, tmp, data, results = s3_dataset
    env = moto.env()
    manifest = tmp / "m-apply"
    xcomply(env, "join", "--dataset", "s3://posts/data/", "--results", str(results), "--out", str(manifest))
    geo = ",".join(GEO_COLUMNS)
    xcomply(env, "apply", "--manifest", str(manifest), "--dataset", "s3://posts/data/",
            "--out", "s3://posts/compliant/", "--geo-columns", geo)
    local_manifest = tmp / "m-apply-local"
    xcomply(env, "join", "--dataset", str(data), "--results", str(results), "--out", str(local_manifest))
    xcomply(env, "apply", "--manifest", str(local_manifest), "--dataset", str(data), "--out",
            str(tmp / "compliant-local"), "--geo-columns", geo)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="posts", Prefix="compliant/")["Contents"])
    assert keys[-1] == "compliant/_xcomply_apply.json" or "compliant/_xcomply_apply.json" in keys
    for key in keys:
        if not key.endswith(".parquet"):
            continue
        body = s3.get_object(Bucket="posts", Key=key)["Body"].read()
        remote = pq.read_table(io.BytesIO(body))
        local = pq.read_table(tmp / "compliant-local" / key.removeprefix("compliant/"))
        assert remote.to_pylist() == local.to_pylist(), key
    # A non-empty prefix is refused.
    again = xcomply(env, "apply", "--manifest", str(manifest), "--dataset", "s3://posts/data/",
                    "--out", "s3://posts/compliant/", "--geo-columns", geo, check=False)
    assert again.returncode == 4 and "already holds objects" in again.stderr, again.stderr


def test_an_object_rewritten_after_the_join_is_refused(tmp_path):
    moto = Moto()
    try:
        env = moto.env()
        data, results = tmp_path / "data", tmp_path / "results"
        ids = make_dataset(data, files=2, rows=1000)
        write_results(results, ids)
        s3 = moto.client()
        s3.create_bucket(Bucket="bkt")
        upload_tree(s3, "bkt", data, "d")
        manifest = tmp_path / "m"
        xcomply(env, "join", "--dataset", "s3://bkt/d/", "--results", str(results), "--out", str(manifest))
        # The first object rewritten with other rows (the second file's), as a writer would.
        first, second = sorted(f for f in data.rglob("*.parquet"))[:2]
        s3.upload_file(str(second), "bkt", f"d/{first.relative_to(data).as_posix()}")
        out = xcomply(env, "apply", "--manifest", str(manifest), "--dataset", "s3://bkt/d/", "--out",
                      str(tmp_path / "copy"), "--geo-columns", ",".join(GEO_COLUMNS), check=False)
        assert out.returncode == 4, out.stderr
        assert "changed since the join" in out.stderr, out.stderr
    finally:
        moto.stop()


def test_wrong_credentials_exit_5_and_a_missing_bucket_4(tmp_path):
    # IAM authentication on after the first three actions, which create the one valid user.
    moto = Moto(auth=3)
    try:
        iam = moto.client("iam")
        iam.create_user(UserName="xcomply")
        key = iam.create_access_key(UserName="xcomply")["AccessKey"]
        iam.put_user_policy(UserName="xcomply", PolicyName="s3", PolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'))
        good = moto.env(key["AccessKeyId"], key["SecretAccessKey"])
        s3 = moto.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        s3.create_bucket(Bucket="private")
        data = tmp_path / "data"
        ids = make_dataset(data, files=1, rows=500)
        write_results(tmp_path / "results", ids)
        upload_tree(s3, "private", data, "d")
        args = ["join", "--dataset", "s3://private/d/", "--results", str(tmp_path / "results")]
        ok = xcomply(good, *args, "--out", str(tmp_path / "m1"), check=False)
        assert ok.returncode == 0, ok.stderr
        bad = xcomply(moto.env("AKIAWRONGWRONGWRONG", "not-the-secret"), *args, "--out", str(tmp_path / "m2"),
                      check=False)
        assert bad.returncode == 5, bad.stderr
        assert "s3://private/" in bad.stderr, bad.stderr
        assert "not-the-secret" not in bad.stderr
        missing = xcomply(good, "join", "--dataset", "s3://no-such-bucket/d/", "--results",
                          str(tmp_path / "results"), "--out", str(tmp_path / "m3"), check=False)
        assert missing.returncode == 4, missing.stderr
        assert "no-such-bucket" in missing.stderr, missing.stderr
    finally:
        moto.stop()
