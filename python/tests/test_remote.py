"""Checkpoints read from S3 by byte range, against the real moto S3 server on 127.0.0.1
(started here; a server that does not start fails the tests): ``ws.analyze("s3://…")`` and
``weightscope analyze s3://…`` give the local run's numbers, for one file and for a sharded
checkpoint by its index, and fetch only the headers, the index and the analysed tensors'
bytes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer
from safetensors.numpy import save

import weightscope as ws

CLI = os.environ.get("WEIGHTSCOPE_CLI")
BUCKET = "models"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3():
    """The moto server on a free port of 127.0.0.1, with an empty bucket; its endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    try:
        client.create_bucket(Bucket=BUCKET)
    except Exception as e:  # noqa: BLE001 - any failure to reach the server fails the test
        server.stop()
        pytest.fail(f"the moto S3 server at {endpoint} did not answer: {e}")
    yield endpoint, client
    server.stop()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_REGION"],
    }


@pytest.fixture
def s3_env(s3, monkeypatch):
    """The environment weightscope reads the endpoint and credentials from."""
    endpoint, client = s3
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return client, env


def _tensors(seed: int, layer: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = f"layers.{layer}."
    return {
        p + "attn.q.weight": rng.standard_normal((64, 64), dtype=np.float32),
        p + "mlp.up.weight": rng.standard_normal((160, 64), dtype=np.float32),
        p + "mlp.down.weight": rng.standard_normal((64, 160), dtype=np.float32),
        p + "norm.weight": rng.standard_normal(64, dtype=np.float32),
    }


def _header_size(data: bytes) -> int:
    return 8 + int.from_bytes(data[:8], "little")


def _stored(tensors: dict[str, np.ndarray], names) -> int:
    return sum(tensors[n].nbytes for n in names)


def test_a_file_on_s3_equals_the_local_file_and_reads_only_its_layers(s3_env, tmp_path):
    client, _ = s3_env
    tensors = _tensors(1, 0)
    data = save(tensors)
    local = tmp_path / "model.safetensors"
    local.write_bytes(data)
    client.put_object(Bucket=BUCKET, Key="one/model.safetensors", Body=data)
    url = f"s3://{BUCKET}/one/model.safetensors"

    want = ws.analyze(str(local))
    got = ws.analyze(url)
    assert len(got) == 3
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["bytes_read"] == _header_size(data) + _stored(tensors, got["longname"])
    assert "bytes_read" not in want.attrs

    # One layer: its bytes and the header, nothing else.
    got = ws.analyze(url, layers="mlp.down")
    pd.testing.assert_frame_equal(got, ws.analyze(str(local), layers="mlp.down"))
    assert got.attrs["bytes_read"] == _header_size(data) + 64 * 160 * 4


def test_a_sharded_checkpoint_on_s3_by_its_index(s3_env, tmp_path):
    client, _ = s3_env
    shards = [_tensors(2, 0), _tensors(3, 1)]
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {}
    sizes = 0
    for name, tensors in zip(names, shards):
        data = save(tensors)
        sizes += _header_size(data)
        (tmp_path / name).write_bytes(data)
        client.put_object(Bucket=BUCKET, Key=f"sharded/{name}", Body=data)
        weight_map.update({t: name for t in tensors})
    index = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    (tmp_path / "model.safetensors.index.json").write_bytes(index)
    client.put_object(Bucket=BUCKET, Key="sharded/model.safetensors.index.json", Body=index)

    want = ws.analyze(str(tmp_path))
    for url in (
        f"s3://{BUCKET}/sharded/model.safetensors.index.json",
        f"s3://{BUCKET}/sharded/",
    ):
        got = ws.analyze(url)
        assert len(got) == 6
        pd.testing.assert_frame_equal(got, want)
        everything = {**shards[0], **shards[1]}
        assert got.attrs["bytes_read"] == len(index) + sizes + _stored(everything, got["longname"])


def test_a_missing_object_names_its_url(s3_env):
    with pytest.raises(ws.ReadError, match=rf"s3://{BUCKET}/nowhere/model.safetensors"):
        ws.analyze(f"s3://{BUCKET}/nowhere/model.safetensors")


@pytest.mark.skipif(not CLI, reason="WEIGHTSCOPE_CLI (the weightscope binary) not set")
def test_the_cli_reads_s3_as_the_local_file(s3_env, tmp_path):
    client, env = s3_env
    tensors = _tensors(4, 0)
    data = save(tensors)
    local = tmp_path / "model.safetensors"
    local.write_bytes(data)
    client.put_object(Bucket=BUCKET, Key="cli/model.safetensors", Body=data)
    run_env = {**os.environ, **env}

    def analyze(model: str, out: Path) -> str:
        done = subprocess.run(
            [CLI, "analyze", model, "--quiet", "--csv", str(out)],
            capture_output=True,
            text=True,
            env=run_env,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    analyze(str(local), tmp_path / "local.csv")
    err = analyze(f"s3://{BUCKET}/cli/model.safetensors", tmp_path / "remote.csv")
    assert (tmp_path / "remote.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    fetched = re.search(r"fetched (\d+) bytes", err)
    assert fetched, err
    analysed = [n for n, t in tensors.items() if t.ndim == 2]
    assert int(fetched.group(1)) == _header_size(data) + _stored(tensors, analysed)
