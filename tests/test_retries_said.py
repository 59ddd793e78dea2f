"""Cloud API retries say what they retry and why: against an endpoint that does not answer, the
backoff lasts close to a minute, and it used to be silent all that time."""

from __future__ import annotations

import socket

import pytest

from bootstrap.bake.waiting import RetriesExhausted, retry
from bootstrap.errors import BackendError


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the with ends: nothing listens there


def test_each_retry_says_what_failed_why_and_when_the_next_try_comes() -> None:
    said: list[str] = []
    failures = iter([ConnectionError("connection refused")] * 2)

    def call() -> str:
        for failure in failures:
            raise failure
        return "done"

    assert retry(call, transient=lambda e: True, sleep=lambda s: None, what="ec2 describe_images", say=said.append) \
        == "done"  # fmt: skip
    assert len(said) == 2
    assert said[0].startswith("ec2 describe_images: connection refused; a transient error, retrying in ")
    assert said[1].endswith("(attempt 2 of 8)")


def test_a_transient_error_that_stays_names_the_call_and_the_attempts() -> None:
    def call() -> None:
        raise ConnectionError("connection refused")

    with pytest.raises(RetriesExhausted, match=r"gce images.get: still failing after 3 attempts: connection refused"):
        retry(call, transient=lambda e: True, attempts=3, sleep=lambda s: None, what="gce images.get")


def test_ec2_against_an_endpoint_that_does_not_answer_says_so_at_each_retry() -> None:
    pytest.importorskip("boto3")
    import boto3

    from bootstrap.clouds.ec2.backend import Ec2Backend

    said: list[str] = []
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1")
    backend = Ec2Backend(region="eu-west-1", source="ami-0123456789abcdef0", session=session, retry_first=0.001,
                         endpoint_url=f"http://127.0.0.1:{closed_port()}", progress=said.append)  # fmt: skip
    with pytest.raises(BackendError, match="ec2 describe_images in eu-west-1: still failing after 8 attempts"):
        backend.resolve_source()
    assert len(said) == 7 and all("ec2 describe_images in eu-west-1: " in line for line in said)
    assert "Could not connect to the endpoint URL" in said[0] and "retrying in" in said[0]


def test_gce_against_an_endpoint_that_does_not_answer_says_so_at_each_retry() -> None:
    pytest.importorskip("google.cloud.compute_v1")
    from google.auth.credentials import AnonymousCredentials

    from bootstrap.clouds.gce.backend import GceBackend

    said: list[str] = []
    backend = GceBackend(project="team", zone="europe-west1-b", source="projects/debian-cloud/global/images/x",
                         endpoint=f"http://127.0.0.1:{closed_port()}", credentials=AnonymousCredentials(),
                         retry_first=0.001, progress=said.append)  # fmt: skip
    with pytest.raises(BackendError, match="still failing after 8 attempts"):
        backend.resolve_source()
    assert len(said) == 7 and all(line.startswith("gce ") and "retrying in" in line for line in said)
