"""Write a measured table into a marked block of a documentation page.

The benchmark and accuracy scripts (``--docs``) replace the text between
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in ``docs/PAGE`` (or the README) with a line
naming the machine, the commit and the command, then their table, so that a page's figures
always come with where and how they were measured.  The page is written atomically (a
temporary name, then a rename).
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def machine() -> str:
    """The CPU's model name and core count, e.g. ``AMD EPYC 7B13, 2 cores``."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def commit() -> str:
    """The checkout's short commit, marked when bgsub/ or scripts/ has uncommitted changes."""
    def git(*args):
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "bgsub", "scripts")
    return sha + (" with uncommitted changes" if dirty else "")


def provenance(argv=None) -> str:
    argv = sys.argv if argv is None else argv
    command = shlex.join(["python", f"scripts/{Path(argv[0]).name}", *argv[1:]])
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return (f"*Measured {day} on {machine()} (Python {platform.python_version()}), bgsub at "
            f"commit {commit()}, with `{command}`.*")


def write_block(page: str, name: str, text: str) -> Path:
    """Replace block ``name`` of ``docs/page`` (``README.md``: the project's README) with the
    provenance line and ``text``."""
    path = ROOT / page if page == "README.md" else DOCS / page
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = path.read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{path}: no {begin} ... {end} block")
    a = content.index(begin) + len(begin)
    b = content.index(end)
    new = content[:a] + "\n" + provenance() + "\n\n" + text.strip() + "\n" + content[b:]
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote the {name} table into {path.relative_to(ROOT)}", file=sys.stderr)
    return path
