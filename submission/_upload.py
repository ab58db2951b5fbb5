"""`vcc check-upload URL SUBMISSION_DIR`: does the hosted archive serve exactly the local archive.zip?

The official job fetches the PR's archive link with `curl -L` (redirects followed, no cookie jar,
curl's user agent) and unzips what it got. A link to a page about the file (a GitHub blob page, a
Drive preview) serves HTML; a re-hosted attachment can serve other bytes. This fetch behaves as that
curl does, within a size cap and a deadline, hashing the body as it streams: nothing is written to
disk, so a failed download leaves no partial file anywhere.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.client import HTTPException, IncompleteRead
from pathlib import Path
from typing import IO, Any

from vcc.base import EXIT_OK, BadInput, file_sha256

from ._files import ARCHIVE_NAME

__all__ = [
    "CURL_USER_AGENT",
    "UPLOAD_VERDICTS",
    "UploadConfig",
    "UploadCheck",
    "check_upload",
    "validate_url",
]

# ubuntu-latest (24.04) ships curl 8.5.0; hosts that answer by user agent see what the job sees.
CURL_USER_AGENT = "curl/8.5.0"
MAX_REDIRECTS = 50  # curl's default --max-redirs with -L
_CHUNK = 1 << 16

# verdict -> exit code (0 the same bytes; 1 the link would not give the job this archive;
# 4 this machine could not reach the host at all, which says nothing about the link)
UPLOAD_VERDICTS: dict[str, int] = {
    "same_bytes": EXIT_OK,
    "other_bytes": 1,
    "html_page": 1,
    "not_found": 1,
    "http_error": 1,
    "truncated": 1,
    "timeout": 1,
    "over_cap": 1,
    "unreachable": 4,
}


def validate_url(url: str) -> str:
    """An http(s) URL with a host, or BadInput naming it."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadInput(
            f"not an http(s) URL: {url!r}",
            fix="pass the archive's download link as it goes in the PR (https://...), the one `curl -L` fetches",
        )
    return url


@dataclass(frozen=True)
class UploadConfig:
    url: str
    submission_dir: Path
    max_bytes: int = 512 << 20
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        validate_url(self.url)
        if self.max_bytes < 1 or not self.timeout_s > 0:
            raise BadInput("--max-bytes and --timeout must be positive", fix="e.g. --max-bytes 512M --timeout 120")


@dataclass
class UploadCheck:
    url: str
    verdict: str
    message: str
    fix: str | None
    local_bytes: int
    local_sha256: str
    checked_at: str
    remote_bytes: int | None = None
    remote_sha256: str | None = None
    final_url: str | None = None
    status: int | None = None
    content_type: str | None = None
    redirects: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.verdict == "same_bytes"

    @property
    def exit_code(self) -> int:
        return UPLOAD_VERDICTS[self.verdict]

    def as_json(self) -> dict[str, Any]:
        return {
            "vcc_upload_schema": 1,
            "url": self.url,
            "verdict": self.verdict,
            "ok": self.ok,
            "message": self.message,
            "fix": self.fix,
            "checked_at": self.checked_at,
            "local": {"bytes": self.local_bytes, "sha256": self.local_sha256},
            "remote": {"bytes": self.remote_bytes, "sha256": self.remote_sha256},
            "final_url": self.final_url,
            "status": self.status,
            "content_type": self.content_type,
            "redirects": self.redirects,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def summary(self) -> str:
        lines = [f"vcc check-upload: {self.verdict.upper().replace('_', ' ')}: {self.message}"]
        lines.append(f"  local:  {ARCHIVE_NAME} {self.local_bytes:,} bytes sha256 {self.local_sha256}")
        if self.remote_bytes is not None:
            lines.append(f"  remote: {self.remote_bytes:,} bytes sha256 {self.remote_sha256}")
        if self.redirects:
            lines.append(f"  redirects: {' -> '.join(self.redirects)} -> {self.final_url}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class _NoCookies(urllib.request.HTTPRedirectHandler):
    """Redirects as curl -L follows them (up to 50), remembering each hop; no cookie processor is
    installed, so none are stored or sent, as curl without -b/-c."""

    max_redirections = MAX_REDIRECTS

    def __init__(self) -> None:
        self.hops: list[str] = []

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        self.hops.append(req.full_url)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _html_fix(url: str) -> str:
    """Which kind of URL serves the file itself, for the host the link points at."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.lower()
    if host in ("github.com", "www.github.com") and "/blob/" in parts.path:
        raw = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.replace("/blob/", "/raw/", 1), "", ""))
        return f"this is a GitHub blob page (HTML about the file): use the raw link {raw}"
    if "drive.google.com" in host:
        m = re.search(r"/d/([\w-]+)", parts.path)
        file_id = m.group(1) if m else "FILE_ID"
        return (
            "Google Drive serves a preview (or a virus-scan confirmation) page: use "
            f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t, or host it "
            "as a GitHub release asset"
        )
    if "dropbox.com" in host:
        return "Dropbox's share link is a page: use the same link with dl=1 instead of dl=0"
    return (
        "use a direct download link, one whose response is the zip itself: a GitHub release asset "
        "(https://github.com/OWNER/REPO/releases/download/TAG/archive.zip) or a raw file link"
    )


def _looks_html(content_type: str | None, head: bytes) -> bool:
    if content_type and content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return True
    start = head.lstrip()[:15].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<!--"))


def check_upload(cfg: UploadConfig) -> UploadCheck:
    """Fetch cfg.url as the official job's `curl -L` does and compare it with SUBMISSION_DIR/archive.zip."""
    archive = Path(cfg.submission_dir) / ARCHIVE_NAME
    if not archive.is_file():
        raise BadInput(f"{ARCHIVE_NAME} not found", path=archive, fix="pass the submission dir holding archive.zip")
    local_bytes, local_sha = archive.stat().st_size, file_sha256(archive)
    checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = UploadCheck(cfg.url, "unreachable", "", None, local_bytes, local_sha, checked_at)
    t0 = time.monotonic()
    try:
        _fetch(cfg, result, t0)
    finally:
        result.elapsed_s = time.monotonic() - t0
    return result


def _set(result: UploadCheck, verdict: str, message: str, fix: str | None = None) -> None:
    result.verdict, result.message, result.fix = verdict, message, fix


def _fetch(cfg: UploadConfig, result: UploadCheck, t0: float) -> None:
    redirects = _NoCookies()
    opener = urllib.request.build_opener(redirects)  # no HTTPCookieProcessor: no cookies, as curl
    request = urllib.request.Request(cfg.url, headers={"User-Agent": CURL_USER_AGENT, "Accept": "*/*"})
    deadline = t0 + cfg.timeout_s
    timeout_msg = f"no complete answer within {cfg.timeout_s:g} s"
    timeout_fix = "check that the host serves the file promptly (the job's clock is 30 minutes), or raise --timeout"
    try:
        response = opener.open(request, timeout=cfg.timeout_s)
    except urllib.error.HTTPError as e:
        result.redirects, result.final_url, result.status = redirects.hops, e.url, e.code
        if e.code in (404, 410):
            _set(result, "not_found", f"the host answers {e.code} (not found) for {e.url}",
                 "the link is wrong or the file is private or gone: upload it again and use the new public link")
        else:
            _set(result, "http_error", f"the host answers HTTP {e.code} ({e.reason}) for {e.url}",
                 "make the file public and check the link in a private browser window")
        return
    except TimeoutError:
        _set(result, "timeout", timeout_msg, timeout_fix)
        return
    except (urllib.error.URLError, OSError, HTTPException) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
            _set(result, "timeout", timeout_msg, timeout_fix)
        else:
            _set(result, "unreachable", f"could not reach the host: {reason}",
                 "check the URL's host name and this machine's network")
        return
    with response:
        result.redirects, result.final_url, result.status = redirects.hops, response.geturl(), response.status
        result.content_type = response.headers.get("Content-Type")
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > cfg.max_bytes:
            result.remote_bytes = int(declared)
            _set(result, "over_cap", f"the host announces {int(declared):,} bytes, over the {cfg.max_bytes:,}-byte cap "
                 f"(the local archive has {result.local_bytes:,})", "check the link (it serves something else), or "
                 "raise --max-bytes")
            return
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunk = response.read1(_CHUNK)  # what has arrived: a trickling body meets the deadline
                if not chunk:
                    break
                size += len(chunk)
                if size > cfg.max_bytes:
                    _set(result, "over_cap", f"the body passed the {cfg.max_bytes:,}-byte cap (the local archive has "
                         f"{result.local_bytes:,} bytes); stopped reading", "check the link, or raise --max-bytes")
                    return
                if len(head) < 64:
                    head += chunk[:64]
                digest.update(chunk)
        except TimeoutError:
            _set(result, "timeout", f"{timeout_msg} ({size:,} bytes received)", timeout_fix)
            return
        except (IncompleteRead, HTTPException, OSError) as e:
            _set(result, "truncated", f"the connection ended after {size:,} bytes"
                 + (f" of the {int(declared):,} announced" if declared and declared.isdigit() else "")
                 + f" ({type(e).__name__})", "a host that drops the transfer fails the job's curl too: host the "
                 "archive where it downloads whole (a GitHub release asset)")
            return
    result.remote_bytes, result.remote_sha256 = size, digest.hexdigest()
    if declared is not None and declared.isdigit() and size < int(declared):
        _set(result, "truncated", f"the connection ended after {size:,} of the {int(declared):,} bytes announced",
             "host the archive where it downloads whole (a GitHub release asset)")
    elif _looks_html(result.content_type, head):
        _set(result, "html_page", f"the URL serves an HTML page ({size:,} bytes, {result.content_type}), not the zip: "
             "the job's unzip would fail on it", _html_fix(result.final_url or cfg.url))
    elif (size, result.remote_sha256) == (result.local_bytes, result.local_sha256):
        _set(result, "same_bytes", f"the URL serves exactly the local {ARCHIVE_NAME} ({size:,} bytes)")
    else:
        _set(result, "other_bytes", f"the URL serves other bytes: remote {size:,} bytes sha256 {result.remote_sha256}, "
             f"local {result.local_bytes:,} bytes sha256 {result.local_sha256}",
             "upload the archive.zip you measured (a host may re-encode or re-host attachments), or rerun vcc on the "
             "bytes the link serves")
