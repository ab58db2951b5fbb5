"""The custody block: in `vcc pr-body` (with --archive-url checked against a local server on
127.0.0.1) and `vcc manifest --custody`; `vcc manifest --check` against either fails on any change."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_pr_body import make_submission, run_report, write

from vcc.submission._custody import code_tree, custody_from_text
from vcc.submission.cli import main

SERVED: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = SERVED.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_code_tree_hash_is_sha256sum_lines_in_the_stated_order(tmp_path):
    sub = make_submission(tmp_path / "entry")
    (sub / "src").mkdir()
    (sub / "src" / "Zed.py").write_text("z = 1\n")
    (sub / "report.txt").write_text("a local run's output: not code\n")
    files = sorted(["compress.sh", "inflate.py", "inflate.sh", "src/Zed.py"], key=str.encode)
    listing = subprocess.run(["sha256sum", *files], cwd=sub, check=True, capture_output=True).stdout
    tree = code_tree(sub)
    assert tree == {"sha256": hashlib.sha256(listing).hexdigest(), "files": 4, "order": tree["order"]}


def test_pr_body_carries_custody_and_manifest_check_fails_after_a_change(tmp_path, server, capsys):
    sub = make_submission(tmp_path / "my_entry")
    SERVED["/a.zip"] = (sub / "archive.zip").read_bytes()
    run = write(tmp_path / "run.json", run_report(sub))
    out = tmp_path / "pr.md"
    assert main(["pr-body", str(sub), "--run", str(run), "-o", str(out), "--archive-url", f"{server}/a.zip"]) == 0
    body = out.read_text()
    assert f"{server}/a.zip\n" in body and "same bytes at" in body
    custody = custody_from_text(body)
    assert custody["archive"]["sha256"] == hashlib.sha256(SERVED["/a.zip"]).hexdigest()
    assert custody["upload"]["url"] == f"{server}/a.zip" and custody["upload"]["verified_at"]
    assert custody["code_tree"] == code_tree(sub)
    r = custody["runs"][0]
    assert (r["score"], r["axis"], r["numerics_class"]) == (1.2345678901234567, {"device": "cpu", "decode": "pyav"},
                                                            "AVX2-AuthenticAMD")
    assert r["headroom_s"] == 1234.5 and r["shape"]["kind"] == "cpu" and custody["vcc_version"]
    capsys.readouterr()

    assert main(["manifest", str(sub), "--check", str(out)]) == 0
    (sub / "inflate.py").write_text("import sys\nprint(sys.argv, 1)\n")
    assert main(["manifest", str(sub), "--check", str(out)]) == 1
    assert "code tree sha256" in capsys.readouterr().err


def test_pr_body_with_a_url_serving_other_bytes_says_so_and_exits_1(tmp_path, server, capsys):
    sub = make_submission(tmp_path / "my_entry")
    SERVED["/old.zip"] = b"PK\x03\x04 an older upload"
    run = write(tmp_path / "run.json", run_report(sub))
    assert main(["pr-body", str(sub), "--run", str(run), "--archive-url", f"{server}/old.zip"]) == 1
    captured = capsys.readouterr()
    assert "NOT these bytes" in captured.out and "other bytes" in captured.err


def test_manifest_custody_and_check(tmp_path, server, capsys):
    sub = make_submission(tmp_path / "my_entry")
    SERVED["/m.zip"] = (sub / "archive.zip").read_bytes()
    run = write(tmp_path / "run.json", run_report(sub))
    manifest = sub / "manifest.json"  # inside the submission: the manifest leaves itself out
    assert main(["manifest", str(sub), "--custody", str(run), "--archive-url", f"{server}/m.zip",
                 "--json", str(manifest)]) == 0
    saved = json.loads(manifest.read_text())
    assert saved["custody"]["upload"]["verdict"] == "same_bytes"
    assert saved["custody"]["code_tree"]["sha256"] == code_tree(sub, (manifest,))["sha256"]
    assert main(["manifest", str(sub), "--check", str(manifest)]) == 0
    with open(sub / "archive.zip", "ab") as f:
        f.write(b"\0")
    capsys.readouterr()
    assert main(["manifest", str(sub), "--check", str(manifest)]) == 1
    assert "custody: archive.zip" in capsys.readouterr().err
    assert main(["manifest", str(sub), "--archive-url", f"{server}/m.zip"]) == 2  # needs --custody
    assert main(["manifest", str(sub), "--custody", str(run), "--archive-url", "ftp://x/a.zip"]) == 2
