"""A real S3 API for the tests: moto's server on 127.0.0.1 at a free port, and helpers to fill a bucket.

Not a mock of boto3: the code under test talks HTTP to a server that implements S3. Import
``moto_server`` in a test module's fixture; ``use_endpoint`` points the standard AWS environment at it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.ports import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextlib.contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """Run moto's S3 server on 127.0.0.1 (a free port unless given) for the ``with`` block; yields its URL.

    A process of its own, not a thread: deltalake's calls hold this process's GIL while they wait
    for the server.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not start on port {port}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def use_endpoint_env(environ: dict | os._Environ, endpoint: str) -> None:
    """Set the standard AWS environment (endpoint, credentials, region) to ``endpoint`` in ``environ``."""
    environ.update({**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})


def use_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point the standard AWS environment (endpoint, credentials, region) at ``endpoint``."""
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)


def client(endpoint: str):
    """A boto3 S3 client of the test server."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys())


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": "testing"}


def new_bucket(endpoint: str, name: str) -> None:
    """Create an empty bucket (emptying it first when it exists)."""
    s3 = client(endpoint)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=name)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])


def upload_tree(endpoint: str, root: Path, bucket: str, prefix: str) -> int:
    """Put each file under failures/ and successes/ of a local tree at its key under ``prefix``; returns how many."""
    s3 = client(endpoint)
    count = 0
    for folder in ("failures", "successes"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                key = f"{prefix}/{path.relative_to(root).as_posix()}" if prefix else path.relative_to(root).as_posix()
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
                count += 1
    return count
