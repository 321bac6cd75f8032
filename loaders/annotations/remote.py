"""Annotations of an ``s3://`` tree: one object per event under a prefix of the tree (no lock: each
event has a key of its own), listed and read with the S3 source's guarded client calls."""

from __future__ import annotations

from typing import Any

from loaders.core.files import UnreadableFile
from loaders.ingest.sources.s3 import listing_pages, read_object, s3_client, split_s3_url

MAX_EVENT_OBJECTS = 100_000


def _place(root: str, prefix: str) -> tuple[Any, str, str]:
    bucket, base = split_s3_url(root)
    return s3_client(), bucket, f"{base}/{prefix}" if base else prefix


def read_event_objects(root: str, prefix: str, problems: list[str]) -> list[tuple[str, bytes]]:
    """(key, bytes) of every object under ``prefix`` of the tree, in key order (events whose object
    cannot be read are said in ``problems``)."""
    client, bucket, where = _place(root, prefix)
    found: list[tuple[str, bytes]] = []
    for page in listing_pages(client, {"Bucket": bucket, "Prefix": where}):
        for item in page.get("Contents", []):
            if len(found) >= MAX_EVENT_OBJECTS:
                problems.append(f"triage: only the first {MAX_EVENT_OBJECTS:,} events under {where} were read")
                return found
            try:
                raw = read_object(client, bucket, item["Key"])
            except UnreadableFile as exc:
                problems.append(f"triage event skipped ({item['Key']}): {exc}")
                continue
            if raw is not None:
                found.append((item["Key"], raw))
    return found


def write_event_object(root: str, prefix: str, name: str, payload: bytes) -> None:
    """Put one event as the object ``name`` under ``prefix`` of the tree."""
    client, bucket, where = _place(root, prefix)
    client.put_object(Bucket=bucket, Key=f"{where}{name}", Body=payload, ContentType="application/json")


def prefix_version(root: str, prefix: str) -> str:
    """A text that changes when an object is added under ``prefix`` (the count and the newest key)."""
    client, bucket, where = _place(root, prefix)
    count, newest = 0, ""
    for page in listing_pages(client, {"Bucket": bucket, "Prefix": where}):
        for item in page.get("Contents", []):
            count += 1
            newest = max(newest, item["Key"])
    return f"{count}-{newest}"
