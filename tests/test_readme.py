"""README.md is checked against the code, at test time, so documentation that names something
that does not exist, or an example that does not run, is a test failure.

What is collected from README.md (the rules the parser follows):

* **Python names.** Every ``bgsub.NAME`` anywhere in the text (prose, inline code, code
  blocks, tables), dotted forms included: ``bgsub.MixtureSubtractor.load`` must resolve as
  ``getattr(getattr(bgsub, "MixtureSubtractor"), "load")`` on the imported package.  Inline
  code whose head is a name bgsub exports (``MixtureSubtractor.fit_frames(frames)``) is
  resolved the same way, and so is every ``from bgsub... import NAME`` in a Python block.
* **Commands.** Every ``bgsub SUBCOMMAND ...`` command line in a shell code block (fenced as
  bash, sh, shell, console or with no language) or in inline code: the subcommand must exist,
  and each ``--option`` / ``-x`` on the line, wherever it stands (before or after positional
  arguments), must appear in ``bgsub SUBCOMMAND --help`` (click's CliRunner on
  ``bgsub.cli.main``).  When the option takes a fixed set of values (a click Choice) and the
  line gives one, it must be one of them.
* **Loose options.** Inline code that starts with an option (``--init-frames N``, ``-o DIR``,
  also in tables) and ``--long-options`` written without backticks are attributed to a
  subcommand by this rule: the subcommands named by inline ``bgsub SUBCOMMAND`` code in the
  same sentence (or table row); failing that, the ones most recently named earlier under the
  same heading, by the heading itself or by an earlier sentence; failing that (a heading that
  names no subcommand), the union of every subcommand's options.  An option attributed to
  several subcommands ("`--init-frames N` on `bgsub run` and `bgsub eval`") must exist in each.
* **The EM section.** In the section whose heading names ``bgsub.GaussianMixture``, inline
  code that is a bare word (``fit``, ``weights_``, ``warm_start``, ``dtype=float32``, ``diag``,
  ``k-means++``) must be a method, fitted attribute or constructor parameter of
  ``bgsub.GaussianMixture``, a value its ``covariance_type`` / ``init_params`` accept, or a
  name bgsub exports.

Python code blocks are executed in-process, one test each, in a scratch directory that mirrors
the repository root through symlinks: relative paths such as ``sample_videos/street.mp4``
resolve as they do from the repository root, and the files an example writes
(``background.png``, ``model.npz``) do not land in the checkout.  Examples cannot reach a
camera or the network here, so a top-level statement that opens a camera (``open_video(0)``,
``cv2.VideoCapture(0)``: an integer index) or a URL (``"scheme://..."``) is detected
explicitly; the block runs up to that statement and the rest is not run (the test says so in
its output; a block that starts with such a statement is skipped).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import bgsub
from bgsub.cli import main

from .conftest import ROOT

README = ROOT / "README.md"

SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
PYTHON_LANGS = {"python", "py", "python3"}
NAME_RE = re.compile(r"(?<![\w/.-])bgsub((?:\.[A-Za-z_]\w*)+)")
SPAN_RE = re.compile(r"`([^`\n]+)`")
BARE_LONG_OPTION_RE = re.compile(r"(?<![\w`-])--[a-z][a-z0-9-]*")
OPTION_RE = re.compile(r"^--?[A-Za-z][\w-]*")
HEAD_CHAIN_RE = re.compile(r"^([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)(?:\(.*\))?$")
CAMERA_RE = re.compile(r"\b(?:open_video|VideoCapture)\(\s*['\"]?\d+['\"]?\s*[,)]")
URL_RE = re.compile(r"['\"][a-z][a-z0-9+.-]*://")


# ---------------------------------------------------------------------------- the parser
@dataclass
class CliUse:
    line: int
    subcommands: tuple | None  # None: the union of every subcommand
    option: str
    value: str | None
    where: str


@dataclass
class Readme:
    names: list = field(default_factory=list)  # (line, dotted chain after "bgsub.")
    heads: list = field(default_factory=list)  # (line, chain starting with an exported name)
    imports: list = field(default_factory=list)  # (line, module, name)
    commands: list = field(default_factory=list)  # (line, subcommand or None, where)
    options: list = field(default_factory=list)  # CliUse
    python_blocks: list = field(default_factory=list)  # (first code line, source)
    em_words: list = field(default_factory=list)  # (line, word)


def _command_tokens(text):
    """Tokens of one shell command line (comments dropped), split at ; && || |."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    lex.commenters = "#"
    try:
        tokens = list(lex)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        tokens = text.split()
    commands, current = [], []
    for tok in tokens:
        if tok and set(tok) <= set(";&|"):
            commands.append(current)
            current = []
        else:
            current.append(tok)
    commands.append(current)
    return [c for c in commands if c]


def _parse_command(tokens, line, where, out):
    """A command line ``bgsub [SUB] args...``: record the subcommand and every option."""
    if Path(tokens[0]).name != "bgsub":
        return
    rest = tokens[1:]
    sub = None
    for i, tok in enumerate(rest):  # the subcommand: the first token that is not an option
        if not tok.startswith("-"):
            sub = tok
            rest = rest[:i] + rest[i + 1:]
            break
    out.commands.append((line, sub, where))
    for i, tok in enumerate(rest):
        m = OPTION_RE.match(tok)
        if m:
            nxt = rest[i + 1] if i + 1 < len(rest) and not rest[i + 1].startswith("-") else None
            value = tok.split("=", 1)[1] if "=" in tok else nxt
            subs = (sub,) if sub is not None else ("",)  # "": the group's own options
            out.options.append(CliUse(line, subs, m.group(0), value, where))


def _option_span(text, line, subs, where, out):
    tokens = text.split()
    for i, tok in enumerate(tokens):
        m = OPTION_RE.match(tok)
        if m:
            value = tok.split("=", 1)[1] if "=" in tok else (
                tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("-")
                else None)
            out.options.append(CliUse(line, subs, m.group(0), value, where))


def _named_subcommands(spans):
    subs = []
    for span in spans:
        toks = span.split()
        if len(toks) >= 2 and toks[0] == "bgsub" and not toks[1].startswith("-"):
            subs.append(toks[1])
    return tuple(dict.fromkeys(subs))


def _segments(lines):
    """Prose as (first line number, text, kind): headings, table rows, and the sentences of
    paragraphs and list items (inline code masked while splitting, so dots in code do not
    end a sentence)."""
    para, start = [], 0

    def flush():
        if not para:
            return []
        text = " ".join(s.strip() for s in para)
        spans = []

        def mask(m):
            spans.append(m.group(0))
            return f"\x00{len(spans) - 1}\x00"

        masked = SPAN_RE.sub(mask, text)
        out = []
        for sentence in re.split(r"(?<=[.!?])\s+", masked):
            out.append((start, re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))],
                                      sentence), "sentence"))
        para.clear()
        return out

    for n, raw in lines:
        s = raw.strip()
        if not s or s.startswith("<!--"):
            yield from flush()
        elif s.startswith("#"):
            yield from flush()
            yield n, s, "heading"
        elif s.startswith("|"):
            yield from flush()
            yield n, s, "row"
        else:
            if re.match(r"^([-*+]|\d+\.)\s", s):
                yield from flush()
            if not para:
                start = n
            para.append(s)
    yield from flush()


def parse(text):
    out = Readme()
    lines = text.splitlines()
    for n, raw in enumerate(lines, 1):
        for m in NAME_RE.finditer(raw):
            out.names.append((n, m.group(1)[1:]))

    prose, i = [], 0
    while i < len(lines):
        fence = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not fence:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        lang, body_start = fence.group(2).lower(), i + 2
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence.group(1)):
            j += 1
        body = lines[i + 1:j]
        if lang in SHELL_LANGS:
            k = 0
            while k < len(body):
                start, cmd = body_start + k, body[k]
                while cmd.rstrip().endswith("\\") and k + 1 < len(body):
                    k += 1
                    cmd = cmd.rstrip()[:-1] + " " + body[k]
                cmd = re.sub(r"^\s*\$\s", "", cmd)
                for tokens in _command_tokens(cmd):
                    _parse_command(tokens, start, "shell block", out)
                k += 1
        elif lang in PYTHON_LANGS:
            source = "\n".join(body)
            out.python_blocks.append((body_start, source))
            try:
                nodes = list(ast.walk(ast.parse(source)))
            except SyntaxError:  # test_readme_python_example_runs reports it
                nodes = []
            for node in nodes:
                line = body_start + getattr(node, "lineno", 1) - 1
                if (isinstance(node, ast.ImportFrom)
                        and (node.module or "").split(".")[0] == "bgsub"):
                    for alias in node.names:
                        out.imports.append((line, node.module, alias.name))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] == "bgsub":
                            out.imports.append((line, alias.name, None))
        i = j + 1

    context, in_em = None, False
    exported = set(bgsub.__all__)
    for n, seg, kind in _segments(prose):
        spans = SPAN_RE.findall(seg)
        named = _named_subcommands(spans)
        if kind == "heading":
            context = named or None
            in_em = "bgsub.GaussianMixture" in seg
        elif named:
            context = named
        subs = named or context
        for span in spans:
            span = span.strip()
            if span.startswith("bgsub ") or span == "bgsub":
                for tokens in _command_tokens(span):
                    _parse_command(tokens, n, "inline code", out)
            elif OPTION_RE.match(span):
                _option_span(span, n, subs, f"inline code ({kind})", out)
            else:
                m = HEAD_CHAIN_RE.match(span)
                if m and m.group(1) in exported:
                    out.heads.append((n, m.group(1) + m.group(2)))
                if in_em and re.fullmatch(r"[A-Za-z_][\w+-]*(=\w+)?", span):
                    out.em_words.append((n, span))
        for m in BARE_LONG_OPTION_RE.finditer(SPAN_RE.sub("", seg)):
            out.options.append(CliUse(n, subs, m.group(0), None, f"prose ({kind})"))
    return out


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


def test_camera_and_url_statements_are_detected():
    assert CAMERA_RE.search("for f in bgsub.open_video(0):")
    assert CAMERA_RE.search("cap = cv2.VideoCapture(1)")
    assert CAMERA_RE.search("bgsub.open_video('0', fps=5)")
    assert not CAMERA_RE.search('bgsub.open_video("sample_videos/street.mp4")')
    assert URL_RE.search('bgsub.open_video("rtsp://camera.local/stream")')
    assert not URL_RE.search('bgsub.detect_motion("sample_videos/street.mp4")')


# ---------------------------------------------------------------------------- the README
@pytest.fixture(scope="module")
def readme():
    return parse(README.read_text(encoding="utf-8"))


def _resolve(chain):
    """``bgsub.A.B...`` as attributes from the package down; a part that is not an attribute
    may be a submodule (``bgsub.em.GaussianMixture``), imported as Python would."""
    obj, path = bgsub, "bgsub"
    for part in chain.split("."):
        path += "." + part
        if not hasattr(obj, part):
            try:
                importlib.import_module(path)
            except ImportError:
                return False
            if not hasattr(obj, part):
                return False
        obj = getattr(obj, part)
    return True


def test_every_bgsub_name_in_the_readme_exists(readme):
    assert readme.names, "no bgsub.NAME found in README.md: the parser is broken"
    missing = [f"README.md:{n}: bgsub.{chain}" for n, chain in readme.names + readme.heads
               if not _resolve(chain)]
    for n, module, name in readme.imports:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            missing.append(f"README.md:{n}: module {module}")
            continue
        if name is not None and name != "*" and not hasattr(mod, name):
            missing.append(f"README.md:{n}: from {module} import {name}")
    assert not missing, "README.md names what bgsub does not have:\n" + "\n".join(missing)


def _help(sub):
    res = CliRunner().invoke(main, ([sub] if sub else []) + ["--help"])
    return res.exit_code, res.output


def _option_in_help(option, text):
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def _click_option(sub, option):
    command = main.commands.get(sub) if sub else main
    for p in getattr(command, "params", []):
        if option in getattr(p, "opts", []) or option in getattr(p, "secondary_opts", []):
            return p, option in getattr(p, "secondary_opts", [])
    return None, False


def test_every_readme_command_and_option_exists(readme):
    assert readme.commands and readme.options, "no bgsub command lines found in README.md"
    helps = {sub: _help(sub) for sub in main.commands}
    helps[""] = _help("")
    problems = []
    for n, sub, where in readme.commands:
        if sub is not None and sub not in main.commands:
            problems.append(f"README.md:{n} ({where}): no subcommand 'bgsub {sub}'")
    for use in readme.options:
        subs = use.subcommands or tuple(helps)
        in_help = [s for s in subs if s in helps and _option_in_help(use.option, helps[s][1])]
        if use.subcommands is None:
            if not in_help:
                problems.append(f"README.md:{use.line} ({use.where}): {use.option} is no "
                                f"option of any bgsub command")
            continue
        for s in subs:
            if s not in helps:
                continue  # reported above as a missing subcommand
            label = f"bgsub {s}".strip()
            if s not in in_help:
                problems.append(f"README.md:{use.line} ({use.where}): {use.option} is not in "
                                f"'{label} --help'")
                continue
            param, secondary = _click_option(s, use.option)
            if (use.value is not None and param is not None and not secondary
                    and isinstance(param.type, click.Choice) and not param.is_flag
                    and use.value not in param.type.choices):
                problems.append(f"README.md:{use.line} ({use.where}): {label} {use.option} "
                                f"{use.value}: not one of {list(param.type.choices)}")
    assert not problems, "README.md shows command-line use that bgsub rejects:\n" + \
        "\n".join(problems)


def test_the_em_section_names_only_what_gaussian_mixture_has(readme):
    from bgsub.em import COVARIANCE_TYPES, INIT_ALIASES, INIT_PARAMS, GaussianMixture

    assert readme.em_words, "no EM section (a heading naming bgsub.GaussianMixture) found"
    X = [[0.0, 0.1], [1.0, 0.9], [5.0, 5.2], [6.0, 5.1], [0.2, 0.0], [5.5, 6.0]]
    fitted = GaussianMixture(2, random_state=0).fit(X)
    params = set(fitted.get_params())
    values = set(COVARIANCE_TYPES) | set(INIT_PARAMS) | set(INIT_ALIASES)
    wrong = []
    for n, word in readme.em_words:
        name = word.split("=")[0]
        if not (hasattr(fitted, name) or name in params or word in values
                or name in bgsub.__all__):
            wrong.append(f"README.md:{n}: `{word}`")
    assert not wrong, ("README.md's EM section names what bgsub.GaussianMixture does not "
                       "have:\n" + "\n".join(wrong))


# ---------------------------------------------------------------------------- the examples
def _python_blocks():
    text = README.read_text(encoding="utf-8")
    return [pytest.param(line, src, id=f"README.md:{line}") for line, src in
            parse(text).python_blocks]


@pytest.mark.parametrize("line, source", _python_blocks())
def test_readme_python_example_runs(line, source, tmp_path, monkeypatch):
    tree = ast.parse(source, filename=f"README.md, the block at line {line}")
    body = []
    for stmt in tree.body:
        code = ast.get_source_segment(source, stmt)
        if CAMERA_RE.search(code) or URL_RE.search(code):
            print(f"README.md:{line + stmt.lineno - 1}: opens a camera or URL; the example "
                  f"is run up to there")
            break
        body.append(stmt)
    if not body:
        pytest.skip(f"README.md:{line}: the example starts by opening a camera or URL")
    tree.body = body
    ast.increment_lineno(tree, line - 1)
    for entry in ROOT.iterdir():  # the repository root, without writing into it
        if not entry.name.startswith("."):
            os.symlink(entry, tmp_path / entry.name)
    monkeypatch.chdir(tmp_path)
    exec(compile(tree, str(README), "exec"), {"__name__": "__readme__"})
