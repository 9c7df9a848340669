"""README.md is checked against the code, at test time, so that a README that names something
that does not exist, or an example that does not run, is a test failure.

The parser and the checks are shared with tests/test_docs.py (the documentation site) and live
in tests/mdcheck.py, whose docstring gives the rules: every ``bgsub.NAME`` must resolve, every
``bgsub SUBCOMMAND --option`` shown must exist, every ``python scripts/NAME.py --option`` and
every repository path too, and every Python block runs (up to a statement that opens a camera
or a URL).  Beyond those, the README itself: at most 10,000 bytes; its install and test
commands are the ones CI (.ci/run) runs; its ``bgsub run`` command runs as written and writes
what its comment says; its links and picture resolve; each figure of its headline table names
a commit that exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import unicodedata

import pytest

from . import mdcheck
from .conftest import ROOT, SUBPROCESS_TIMEOUT, bgsub_env
from .mdcheck import CAMERA_RE, URL_RE, parse

README = ROOT / "README.md"


# ---------------------------------------------------------------------------- the parser's rules
def test_parser_finds_options_after_positional_arguments_and_in_continued_lines():
    r = parse("```bash\nbgsub eval a b --method opencv-knn --json   # a comment --not-this\n"
              "bgsub run x.mp4 \\\n  -o out/ --pre 3 && bgsub --version\n```\n")
    got = [(u.subcommands, u.option, u.value) for u in r.options]
    assert got == [(("eval",), "--method", "opencv-knn"), (("eval",), "--json", None),
                   (("run",), "-o", "out/"), (("run",), "--pre", "3"),
                   (("",), "--version", None)]
    assert [(n, s) for n, s, _ in r.commands] == [(2, "eval"), (3, "run"), (3, None)]


def test_parser_attributes_loose_options_by_sentence_then_heading():
    text = """# Title: `bgsub run`

Use `--pre 10` here. Like `bgsub eval`, it takes `--json`.
Then `--threshold` (still eval's). And --max-frames bare.

| a | b |
|---|---|
| `--init-frames 30` | x |

## Other

`--init-frames N` on `bgsub run` and `bgsub eval`. Also `-q`.

## Plain

`--anything`, `bgsub.GaussianMixture.fit`, `MixtureSubtractor.load`, `cv2.ml.EM`.
"""
    r = parse(text)
    got = [(u.option, u.subcommands) for u in r.options]
    assert got == [("--pre", ("run",)), ("--json", ("eval",)), ("--threshold", ("eval",)),
                   ("--max-frames", ("eval",)), ("--init-frames", ("eval",)),
                   ("--init-frames", ("run", "eval")), ("-q", ("run", "eval")),
                   ("--anything", None)]
    assert [s for _, s in r.names] == ["GaussianMixture.fit"]
    assert [s for _, s in r.heads] == ["MixtureSubtractor.load"]


def test_parser_reads_python_blocks_and_their_imports():
    r = parse("```python\nfrom bgsub.em import GaussianMixture, nothing\nimport bgsub\n"
              "bgsub.open_video(0)\n```\n")
    assert r.imports == [(2, "bgsub.em", "GaussianMixture"), (2, "bgsub.em", "nothing"),
                         (3, "bgsub", None)]
    assert r.python_blocks == [(2, "from bgsub.em import GaussianMixture, nothing\n"
                                   "import bgsub\nbgsub.open_video(0)")]
    assert [s for _, s in r.names] == ["em", "open_video"]


def test_parser_attributes_a_scripts_options_to_the_script():
    r = parse("# Speed\n\n`python scripts/bench.py --e2e --docs` times it (`--long` adds "
              "more); `bgsub run --jobs 2` too.\n\n```bash\npython scripts/accuracy.py "
              "--docs --data d\n```\n\nThen `--rss`.\n")
    assert [(s, w) for _, s, w in r.scripts] == [
        (("scripts/accuracy.py", None), "shell block"),
        (("scripts/bench.py", "--e2e"), "inline code")]
    assert [(scripts, o) for _, scripts, o, _ in r.script_options] == [
        ((("scripts/accuracy.py", None),), "--docs"), ((("scripts/accuracy.py", None),), "--data"),
        ((("scripts/bench.py", "--e2e"),), "--docs")]
    # a sentence that also names a bgsub command attributes its loose options to bgsub
    assert [(u.option, u.subcommands) for u in r.options] == [("--long", ("run",)),
                                                               ("--jobs", ("run",)),
                                                               ("--rss", ("run",))]


def test_camera_and_url_statements_are_detected():
    assert CAMERA_RE.search("for f in bgsub.open_video(0):")
    assert CAMERA_RE.search("cap = cv2.VideoCapture(1)")
    assert CAMERA_RE.search("bgsub.open_video('0', fps=5)")
    assert not CAMERA_RE.search('bgsub.open_video("sample_videos/street.mp4")')
    assert URL_RE.search('bgsub.open_video("rtsp://camera.local/stream")')
    assert not URL_RE.search('bgsub.detect_motion("sample_videos/street.mp4")')


@pytest.fixture(scope="module")
def readme():
    return parse(README.read_text(encoding="utf-8"))


def test_every_bgsub_name_in_the_readme_exists(readme):
    assert readme.names, "no bgsub.NAME found in README.md: the parser is broken"
    missing = mdcheck.name_problems(readme, "README.md")
    assert not missing, "README.md names what bgsub does not have:\n" + "\n".join(missing)


def test_every_path_the_readme_names_exists():
    problems = mdcheck.path_problems(README.read_text(encoding="utf-8"), "README.md")
    assert not problems, "\n".join(problems)


def test_every_readme_command_and_option_exists(readme):
    assert readme.commands and readme.options, "no bgsub command lines found in README.md"
    problems = mdcheck.cli_problems(readme, "README.md") + \
        mdcheck.script_problems(readme, "README.md")
    assert not problems, "README.md shows command-line use that bgsub rejects:\n" + \
        "\n".join(problems)


# ---------------------------------------------------------------------------- the examples
def _python_blocks():
    text = README.read_text(encoding="utf-8")
    return [pytest.param(line, src, id=f"README.md:{line}") for line, src in
            parse(text).python_blocks]


@pytest.mark.parametrize("line, source", _python_blocks())
def test_readme_python_example_runs(line, source, tmp_path, monkeypatch):
    mdcheck.run_python_block(README, line, source, tmp_path, monkeypatch)


# ---------------------------------------------------------------------------- the README itself
MAX_BYTES = 10_000
TEXT = README.read_text(encoding="utf-8")
LINK_RE = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _shell_lines(text):
    """The command lines of the README's shell blocks (fenced bash, sh, shell, console or with
    no language), with their comments apart: (line, command, comment)."""
    out, lang = [], None
    for n, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence:
            lang = None if lang is not None else fence.group(1).lower()
        elif lang in mdcheck.SHELL_LANGS:
            code, _, comment = line.partition("#")
            if code.strip():
                out.append((n, code.strip(), comment.strip()))
    return out


def test_the_readme_is_short():
    size = len(TEXT.encode("utf-8"))
    assert size <= MAX_BYTES, f"README.md is {size} bytes; the limit is {MAX_BYTES}: move " \
                              f"detail into docs/"


def test_the_install_and_test_commands_are_what_ci_runs():
    """CI (.ci/run) makes a fresh virtual environment and runs the README's install and test
    commands; the README shows exactly those."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [c for _, c, _ in _shell_lines(TEXT)]
    install = [c for c in commands if c.startswith(("python3 -m venv", ". ", "pip install"))]
    assert install == ['python3 -m venv .venv', '. .venv/bin/activate', 'pip install ".[test]"']
    assert re.search(r"^python3 -m venv \S+$", ci, re.M)
    assert re.search(r"^\. \S+/bin/activate\"?$", ci, re.M)
    assert re.search(r'^pip install "\.\[test\]"$', ci, re.M)
    assert "python -m pytest" in commands
    assert re.search(r"^python -m pytest$", ci, re.M)


def test_the_readme_run_command_runs_verbatim(tmp_path):
    """Each ``bgsub run`` line of the README's shell blocks, run as written (``bgsub`` is this
    checkout's CLI) from a mirror of the repository root: exit 0, and it writes the folder its
    comment names."""
    runs = [(n, c, comment) for n, c, comment in _shell_lines(TEXT) if c.startswith("bgsub run ")]
    assert runs, "no bgsub run command in README.md"
    for entry in ROOT.iterdir():
        # not the package: imported from the mirror's path, its kernels would miss Numba's
        # cache (keyed by the source's path) and compile again on every run of this test
        if not entry.name.startswith(".") and entry.name != "bgsub":
            os.symlink(entry, tmp_path / entry.name)
    for n, command, comment in runs:
        argv = [sys.executable, "-m", "bgsub.cli", *shlex.split(command)[1:]]
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                           env=bgsub_env(), timeout=SUBPROCESS_TIMEOUT)
        assert r.returncode == 0, f"README.md:{n}: {command}\n{r.stdout}{r.stderr}"
        named = re.search(r"writes (\S+?)/", comment)
        assert named, f"README.md:{n}: the comment should name the folder the run writes"
        for name in ("events.json", "report.html") + tuple(
                re.findall(r"[\w.]+\.(?:json|mkv|html)", comment)):
            assert (tmp_path / named.group(1) / name).is_file(), \
                f"README.md:{n}: {command} wrote no {named.group(1)}/{name}"


def _slug(heading):
    """The anchor Python-Markdown's toc gives a heading (as mkdocs builds the site)."""
    text = unicodedata.normalize("NFKD", re.sub(r"`", "", heading)).encode("ascii", "ignore")
    text = re.sub(r"[^\w\s-]", "", text.decode()).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_every_link_and_picture_of_the_readme_resolves():
    """Relative links and pictures point to files of the repository; a #fragment to a heading of
    the Markdown page it points into."""
    links = LINK_RE.findall(TEXT)
    local = [u for u in links if not re.match(r"[a-z][a-z0-9+.-]*:", u)]
    assert any(u.startswith("docs/") and u.endswith(".md") for u in local), \
        "README.md links to no documentation page"
    assert any(u.endswith(".png") for u in local), "README.md shows no picture"
    broken = []
    for url in local:
        path, _, fragment = url.partition("#")
        target = (ROOT / path) if path else README
        if not target.is_file():
            broken.append(f"{url}: no file {path}")
        elif fragment and target.suffix == ".md":
            slugs = {_slug(h) for h in re.findall(r"^#+\s+(.+?)\s*$",
                                                 target.read_text(encoding="utf-8"), re.M)}
            if fragment not in slugs:
                broken.append(f"{url}: no heading #{fragment} in {path}")
    assert not broken, "README.md's broken links:\n" + "\n".join(broken)


def test_the_commits_named_by_the_headline_table_exist():
    """Each figure of the headline table names the commit it was measured at; a table a script
    writes (a ``<!-- NAME:begin -->`` block) names it once, in its first line."""
    blocks = re.findall(r"<!-- (\w+):begin -->\n(.*?)<!-- \1:end -->", TEXT, re.S)
    assert blocks, "no generated speed table"
    rest = re.sub(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", "", TEXT, flags=re.S)
    table = [line for line in rest.splitlines() if line.startswith("| ")][1:]  # no header
    assert table, "no headline table"
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    stamps = [re.search(r"bgsub at commit ([0-9a-f]{7})", body.splitlines()[0]) for _, body
              in blocks]
    assert all(stamps), "a generated table without its commit"
    for row in table + [m.group(0) for m in stamps]:
        shas = re.findall(r"\b[0-9a-f]{7}\b", row)
        assert shas, f"a headline row names no commit: {row[:60]}"
        for sha in shas:
            r = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=ROOT,
                               capture_output=True)
            assert r.returncode == 0, f"no commit {sha} (named in README.md's table)"
