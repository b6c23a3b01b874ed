"""Verified, resumable model downloads against a real HTTP server on 127.0.0.1 serving a real model file.

The handler implements Range requests itself and can misbehave on purpose: close the connection
half-way, serve other bytes, refuse with 404.
"""
from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import threading
from pathlib import Path

import pytest

from conftest import need_shared
from obsmatte.installer.download import Expected, download_verified, part_path
from obsmatte.installer.failures import ChecksumError, NetworkError, PermissionDeniedError

MODEL = "mp_selfie_segmentation_general_256.onnx"


class ModelServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, payload: bytes):
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.payload = payload
        self.truncate_next = 0  # how many of the next responses stop half-way
        self.status_override: int | None = None
        self.requests: list[str | None] = []  # the Range header of each GET (None: whole file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{MODEL}"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append(rng)
        if srv.status_override:
            self.send_error(srv.status_override)
            return
        data, start = srv.payload, 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if srv.truncate_next:
            srv.truncate_next -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True  # the client sees fewer bytes than Content-Length
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return need_shared("models", MODEL).read_bytes()


@pytest.fixture
def server(model_bytes):
    srv = ModelServer(model_bytes)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(timeout=5)


def expected_for(srv: ModelServer, payload: bytes) -> Expected:
    return Expected(srv.url, len(payload), hashlib.sha256(payload).hexdigest())


def quiet(_msg: str) -> None:
    pass


def test_good_download_is_verified_and_placed(server, model_bytes, tmp_path):
    final = tmp_path / "models" / MODEL
    got = download_verified(expected_for(server, model_bytes), final, backoff=0, log=quiet)
    assert got == final and final.read_bytes() == model_bytes
    assert not part_path(final).exists()
    assert server.requests == [None]
    # the result runs as a model, so the bytes really are the ONNX file
    import onnxruntime as ort
    assert ort.InferenceSession(str(final), providers=["CPUExecutionProvider"]).get_inputs()[0].name == "input_1"


def test_truncated_response_is_resumed_with_a_range_request(server, model_bytes, tmp_path):
    server.truncate_next = 1
    final = tmp_path / MODEL
    download_verified(expected_for(server, model_bytes), final, backoff=0, log=quiet)
    assert final.read_bytes() == model_bytes
    half = len(model_bytes) // 2
    assert server.requests == [None, f"bytes={half}-"]


def test_interrupted_then_resumed_in_a_later_run(server, model_bytes, tmp_path):
    server.truncate_next = 1
    final = tmp_path / MODEL
    exp = expected_for(server, model_bytes)
    with pytest.raises(NetworkError, match="download failed after 1 attempts.*resumes"):
        download_verified(exp, final, retries=0, log=quiet)
    part = part_path(final)
    assert not final.exists() and part.stat().st_size == len(model_bytes) // 2
    download_verified(exp, final, log=quiet)  # the next run of the installer
    assert final.read_bytes() == model_bytes and not part.exists()
    assert server.requests[-1] == f"bytes={len(model_bytes) // 2}-"


def test_wrong_checksum_fails_clearly_and_leaves_nothing(server, model_bytes, tmp_path):
    final = tmp_path / MODEL
    exp = Expected(server.url, len(model_bytes), hashlib.sha256(b"another file").hexdigest())
    with pytest.raises(ChecksumError, match="corrupt or not the expected one .*sha256.*deleted it") as e:
        download_verified(exp, final, backoff=0, log=quiet)
    assert e.value.exit_code == 14
    assert not final.exists() and not part_path(final).exists()


def test_wrong_size_fails_clearly(server, model_bytes, tmp_path):
    final = tmp_path / MODEL
    exp = Expected(server.url, len(model_bytes) - 10, hashlib.sha256(model_bytes).hexdigest())
    with pytest.raises(ChecksumError, match="size"):
        download_verified(exp, final, backoff=0, log=quiet)
    assert not final.exists() and not part_path(final).exists()


def test_existing_wrong_final_file_is_replaced_only_when_verified(server, model_bytes, tmp_path):
    final = tmp_path / MODEL
    final.write_bytes(b"old junk")
    exp = Expected(server.url, len(model_bytes), "0" * 64)
    with pytest.raises(ChecksumError):
        download_verified(exp, final, backoff=0, log=quiet)
    assert final.read_bytes() == b"old junk"  # never replaced by an unverified file


def test_404_is_refused_without_retrying(server, model_bytes, tmp_path):
    server.status_override = 404
    final = tmp_path / MODEL
    with pytest.raises(NetworkError, match="download refused: HTTP 404") as e:
        download_verified(expected_for(server, model_bytes), final, backoff=0, log=quiet)
    assert e.value.exit_code == 13
    assert len(server.requests) == 1 and not final.exists()


def test_no_server_is_a_network_error_after_retries(model_bytes, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    exp = Expected(f"http://127.0.0.1:{port}/{MODEL}", len(model_bytes), "0" * 64)
    with pytest.raises(NetworkError, match="download failed after 3 attempts"):
        download_verified(exp, tmp_path / MODEL, retries=2, backoff=0.01, log=quiet)


def test_part_longer_than_the_file_starts_over(server, model_bytes, tmp_path):
    final = tmp_path / MODEL
    part_path(final).write_bytes(b"x" * (len(model_bytes) + 5))
    download_verified(expected_for(server, model_bytes), final, backoff=0, log=quiet)
    assert final.read_bytes() == model_bytes and server.requests == [None]


def test_unwritable_models_folder_is_a_permission_error(server, model_bytes, tmp_path, monkeypatch):
    import builtins
    real_open = builtins.open

    def refusing_open(file, mode="r", *a, **kw):  # root ignores modes here: simulate the OS refusal
        if str(file).endswith(".part") and "b" in mode and ("w" in mode or "a" in mode):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *a, **kw)
    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(PermissionDeniedError, match="no write permission") as e:
        download_verified(expected_for(server, model_bytes), tmp_path / MODEL, backoff=0, log=quiet)
    assert e.value.exit_code == 15
