"""README.md is checked against the code, at test time, so that a README that names something
that does not exist, or an example that does not run, is a test failure.

The parser and the checks are shared with tests/test_docs.py (the documentation site) and live
in tests/mdcheck.py, whose docstring gives the rules: every ``bgsub.NAME`` must resolve, every
``bgsub SUBCOMMAND --option`` shown must exist, every ``python scripts/NAME.py --option`` too,
the words of an EM section must be what ``bgsub.GaussianMixture`` has, and every Python block
runs (up to a statement that opens a camera or a URL).
"""

from __future__ import annotations

import pytest

from . import mdcheck
from .conftest import ROOT
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


def test_the_em_section_names_only_what_gaussian_mixture_has(readme):
    wrong = mdcheck.em_problems(readme, "README.md")
    assert not wrong, ("README.md's EM section names what bgsub.GaussianMixture does not "
                       "have:\n" + "\n".join(wrong))


# ---------------------------------------------------------------------------- the examples
def _python_blocks():
    text = README.read_text(encoding="utf-8")
    return [pytest.param(line, src, id=f"README.md:{line}") for line, src in
            parse(text).python_blocks]


@pytest.mark.parametrize("line, source", _python_blocks())
def test_readme_python_example_runs(line, source, tmp_path, monkeypatch):
    mdcheck.run_python_block(README, line, source, tmp_path, monkeypatch)
