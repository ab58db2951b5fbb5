"""`vcc check-upload`: the hosted archive against the local archive.zip, over a local HTTP server
on 127.0.0.1 (redirects, a 404, an HTML page, a truncated body, a slow body, other bytes, a big one)."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vcc.submission._upload import CURL_USER_AGENT, UploadConfig, check_upload
from vcc.submission.cli import main as sub_main

SEEN: dict[str, object] = {}


class _Handler(BaseHTTPRequestHandler):
    archive: bytes = b""

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/zip", length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        SEEN["ua"], SEEN["cookie"] = self.headers.get("User-Agent"), self.headers.get("Cookie")
        path = self.path
        if path == "/archive.zip":
            self._send(200, self.archive)
        elif path == "/r1":
            self.send_response(302)
            self.send_header("Location", "/r2")
            self.send_header("Set-Cookie", "session=1")  # curl -L without a jar never sends it back
            self.end_headers()
        elif path == "/r2":
            self.send_response(301)
            self.send_header("Location", "/archive.zip")
            self.end_headers()
        elif path == "/owner/repo/blob/main/archive.zip":
            self._send(200, b"<!DOCTYPE html><html><body>archive.zip</body></html>", "text/html; charset=utf-8")
        elif path == "/other.zip":
            self._send(200, self.archive[:-1] + b"X")
        elif path == "/truncated.zip":
            self._send(200, self.archive[: len(self.archive) // 2], length=len(self.archive))
            self.close_connection = True
        elif path == "/slow.zip":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.archive)))
            self.end_headers()
            for b in self.archive[:20]:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.2)
        elif path == "/big.zip":
            self._send(200, self.archive * 8)
        else:
            self._send(404, b"Not Found", "text/plain")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sub(tmp_path) -> Path:
    d = tmp_path / "mysub"
    d.mkdir()
    with zipfile.ZipFile(d / "archive.zip", "w") as zf:
        zf.writestr("0", bytes(range(256)) * 40)
    _Handler.archive = (d / "archive.zip").read_bytes()
    return d


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_same_bytes_through_redirects_without_cookies(server, sub):
    before = _listing(sub)
    r = check_upload(UploadConfig(f"{server}/r1", sub))
    assert r.verdict == "same_bytes" and r.exit_code == 0, r.message
    assert r.redirects == [f"{server}/r1", f"{server}/r2"] and r.final_url == f"{server}/archive.zip"
    assert r.remote_sha256 == r.local_sha256 and r.remote_bytes == r.local_bytes
    assert SEEN["ua"] == CURL_USER_AGENT and SEEN["cookie"] is None
    assert _listing(sub) == before  # nothing written into the submission dir


def test_other_bytes_gives_both_hashes_and_sizes(server, sub):
    r = check_upload(UploadConfig(f"{server}/other.zip", sub))
    assert r.verdict == "other_bytes" and r.exit_code == 1
    assert r.remote_sha256 != r.local_sha256 and r.remote_sha256 in r.message and r.local_sha256 in r.message


def test_github_blob_page_is_html_and_names_the_raw_link(server, sub):
    r = check_upload(UploadConfig(f"{server}/owner/repo/blob/main/archive.zip", sub))
    assert r.verdict == "html_page"
    assert "direct download link" in r.fix
    from vcc.submission._upload import _html_fix

    assert _html_fix("https://github.com/o/r/blob/main/a.zip").endswith("https://github.com/o/r/raw/main/a.zip")


def test_not_found(server, sub):
    r = check_upload(UploadConfig(f"{server}/nope.zip", sub))
    assert r.verdict == "not_found" and r.status == 404


def test_truncated_body(server, sub):
    r = check_upload(UploadConfig(f"{server}/truncated.zip", sub))
    assert r.verdict == "truncated", r.message
    assert f"{len(_Handler.archive):,}" in r.message


def test_slow_body_times_out(server, sub):
    t0 = time.monotonic()
    r = check_upload(UploadConfig(f"{server}/slow.zip", sub, timeout_s=1.0))
    assert r.verdict == "timeout", r.message
    assert time.monotonic() - t0 < 3


def test_over_the_cap(server, sub):
    r = check_upload(UploadConfig(f"{server}/big.zip", sub, max_bytes=len(_Handler.archive) * 2))
    assert r.verdict == "over_cap"


def test_cli_writes_json_and_refuses_a_non_http_url(server, sub, tmp_path, capsys):
    out = tmp_path / "up.json"
    assert sub_main(["check-upload", f"{server}/archive.zip", str(sub), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["verdict"] == "same_bytes"
    assert sub_main(["check-upload", f"{server}/nope.zip", str(sub)]) == 1
    assert sub_main(["check-upload", "file:///etc/passwd", str(sub)]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
