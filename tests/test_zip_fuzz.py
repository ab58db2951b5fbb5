"""vcc's archive vetting and extraction against Info-ZIP unzip 6.0, by differential fuzzing (tests/zipfuzz.py).

Every suite run draws a new seed and prints it (in pytest's summary, and with the report of a
failure); FUZZ_SEED=N repeats one. FUZZ_CASES archives (default 10,000; `make fuzz` runs 200,000)
on FUZZ_WORKERS processes (default: up to 2). Each archive must be refused by vcc (BadInput naming
archive.zip) or extracted by vcc to exactly unzip's tree with unzip exiting 0. A failure prints the
seed, the case, how it was made and what differed, and keeps the archive (under $FUZZ_KEEP, default
the system temp dir's vcc-zipfuzz-failures/): add it to tests/data/zipfuzz/, the regression corpus
every run replays.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import zipfuzz

CORPUS = Path(__file__).parent / "data" / "zipfuzz"
HAVE_UNZIP = Path(zipfuzz.UNZIP).is_file()
needs_unzip = pytest.mark.skipif(not HAVE_UNZIP, reason=f"{zipfuzz.UNZIP} (Info-ZIP unzip 6.0) is not installed")


def _keep_dir() -> Path:
    return Path(os.environ.get("FUZZ_KEEP") or Path(tempfile.gettempdir()) / "vcc-zipfuzz-failures")


def _chunk(args: tuple[int, int, int, str]) -> zipfuzz.Tally:
    seed, start, stop, keep = args
    return zipfuzz.run_cases(seed, range(start, stop), Path(keep))


def _report(seed: int, tally: zipfuzz.Tally, seconds: float) -> str:
    lines = [
        f"zip fuzz: seed {seed} (FUZZ_SEED={seed} repeats it), {tally.cases:,} cases in {seconds:.1f} s: "
        f"{tally.equal:,} extracted equal to unzip, {tally.refused:,} refused, of which {tally.over_refused:,} "
        f"over-refused (unzip exited 0), {len(tally.failures)} failure(s)",
    ]
    for reason, n in sorted(tally.over_refusal_reasons.items(), key=lambda kv: -kv[1])[:8]:
        lines.append(f"  over-refused {n:>5}: {reason}")
    for index, how, detail, kept in tally.failures[:20]:
        lines.append(f"  FAIL seed {seed} case {index} ({how}): {detail}\n       archive kept: {kept}")
    return "\n".join(lines)


@needs_unzip
def test_fuzz_against_unzip() -> None:
    asked = os.environ.get("FUZZ_SEED") or "new"
    seed = secrets.randbelow(2**32) if asked == "new" else int(asked)
    cases = int(os.environ.get("FUZZ_CASES") or 10_000)
    workers = int(os.environ.get("FUZZ_WORKERS") or min(2, len(os.sched_getaffinity(0))))
    keep = str(_keep_dir())
    step = max(50, cases // (workers * 8))
    chunks = [(seed, a, min(a + step, cases), keep) for a in range(0, cases, step)]
    print(f"\nzip fuzz: seed {seed}, {cases:,} cases on {workers} process(es)", flush=True)
    t0 = time.monotonic()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        tally = zipfuzz.merge(pool.map(_chunk, chunks))
    report = _report(seed, tally, time.monotonic() - t0)
    print(report)
    zipfuzz.REPORTS.append(report)  # conftest prints it in the summary: the seed of every run is in CI's log
    assert tally.cases == cases
    assert not tally.failures, report


@needs_unzip
@pytest.mark.parametrize("archive", sorted(CORPUS.glob("*.zip")), ids=lambda p: p.stem)
def test_regression_corpus(archive: Path, tmp_path: Path) -> None:
    """Every archive that ever failed the fuzzing: refused, or extracted as unzip does."""
    out = zipfuzz.run_case(archive.read_bytes(), tmp_path / "case")
    assert out.kind != "FAIL", f"{archive.name}: {out.detail}"
    shutil.rmtree(tmp_path / "case", ignore_errors=True)


@needs_unzip
def test_fuzz_catches_a_divergence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle itself: an extractor that writes other bytes than unzip is a failure, with the archive kept."""
    import zipfile

    real = zipfuzz.extract_archive

    def lying(archive: Path, dest: Path):  # type: ignore[no-untyped-def]
        result = real(archive, dest)
        for p in dest.rglob("*"):
            if p.is_file():
                p.chmod(0o644)
                p.write_bytes(p.read_bytes() + b"!")
        return result

    monkeypatch.setattr(zipfuzz, "extract_archive", lying)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a", b"payload")
    out = zipfuzz.run_case(good.read_bytes(), tmp_path / "case")
    assert out.kind == "FAIL" and "trees differ" in out.detail
