"""Markdown that documents bgsub, checked against the code: the parser and the checks that
tests/test_readme.py (README.md) and tests/test_docs.py (the pages in docs/) share, so that
documentation that names something that does not exist, or an example that does not run, is a
test failure.

What is collected from a Markdown file (the rules the parser follows):

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
* **Paths.** Every repository path in inline code (``bgsub/model/_kernels.py``, ``scripts/``) must
  exist (:func:`path_problems`, which reads the text itself).
* **The EM section.** In a section whose heading names ``bgsub.GaussianMixture``, inline
  code that is a bare word (``fit``, ``weights_``, ``warm_start``, ``dtype=float32``, ``diag``,
  ``k-means++``) must be a method, fitted attribute or constructor parameter of
  ``bgsub.GaussianMixture``, a value its ``covariance_type`` / ``init_params`` accept, or a
  name bgsub exports.

Python code blocks are executed in-process (:func:`run_python_block`), in a scratch directory
that mirrors the repository root through symlinks: relative paths such as
``sample_videos/street.mp4`` resolve as they do from the repository root, and the files an
example writes (``background.png``, ``model.npz``) do not land in the checkout.  Examples cannot
reach a camera or the network here, so a top-level statement that opens a camera
(``open_video(0)``, ``cv2.VideoCapture(0)``: an integer index) or a URL (``"scheme://..."``) is
detected explicitly; the block runs up to that statement and the rest is not run (the test says
so in its output; a block that starts with such a statement is skipped).
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

# scripts whose first option hands the rest to another script: its --help is that script's
DISPATCH = {"scripts/bench.py": ("--e2e", "--scale")}
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
class Doc:
    names: list = field(default_factory=list)  # (line, dotted chain after "bgsub.")
    heads: list = field(default_factory=list)  # (line, chain starting with an exported name)
    imports: list = field(default_factory=list)  # (line, module, name)
    commands: list = field(default_factory=list)  # (line, subcommand or None, where)
    options: list = field(default_factory=list)  # CliUse
    python_blocks: list = field(default_factory=list)  # (first code line, source)
    em_words: list = field(default_factory=list)  # (line, word)
    scripts: list = field(default_factory=list)  # (line, (script, dispatch), where)
    script_options: list = field(default_factory=list)  # (line, scripts, option, where)


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


def _script(tokens):
    """(script, dispatch flag) of a ``python scripts/NAME.py [--e2e|--scale] ...`` line."""
    if (len(tokens) >= 2 and tokens[0] in ("python", "python3")
            and tokens[1].startswith("scripts/") and tokens[1].endswith(".py")):
        dispatch = next((t for t in tokens[2:] if t in DISPATCH.get(tokens[1], ())), None)
        return tokens[1], dispatch
    return None


def _parse_command(tokens, line, where, out):
    """A command line ``bgsub [SUB] args...``: record the subcommand and every option; a
    ``python scripts/NAME.py args...`` line: record the script and its options."""
    script = _script(tokens)
    if script is not None:
        out.scripts.append((line, script, where))
        for tok in tokens[2:]:
            m = OPTION_RE.match(tok)
            if m and tok != script[1]:
                out.script_options.append((line, (script,), m.group(0), where))
        return
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


def _named_scripts(spans):
    found = []
    for span in spans:
        for tokens in _command_tokens(span):
            script = _script(tokens)
            if script is not None:
                found.append(script)
    return tuple(dict.fromkeys(found))


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
    out = Doc()
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
        scripts = None if named else _named_scripts(spans) or None
        for span in spans:
            span = span.strip()
            if span.startswith(("bgsub ", "python scripts/", "python3 scripts/")) or \
                    span == "bgsub":
                for tokens in _command_tokens(span):
                    _parse_command(tokens, n, "inline code", out)
            elif OPTION_RE.match(span) and scripts:  # a script's option, in its sentence
                out.script_options.extend((n, scripts, m.group(0), f"inline code ({kind})")
                                          for m in map(OPTION_RE.match, span.split()) if m)
            elif OPTION_RE.match(span):
                _option_span(span, n, subs, f"inline code ({kind})", out)
            else:
                m = HEAD_CHAIN_RE.match(span)
                if m and m.group(1) in exported:
                    out.heads.append((n, m.group(1) + m.group(2)))
                if in_em and re.fullmatch(r"[A-Za-z_][\w+-]*(=\w+)?", span):
                    out.em_words.append((n, span))
        for m in BARE_LONG_OPTION_RE.finditer(SPAN_RE.sub("", seg)):
            if scripts:
                out.script_options.append((n, scripts, m.group(0), f"prose ({kind})"))
            else:
                out.options.append(CliUse(n, subs, m.group(0), None, f"prose ({kind})"))
    return out




# ---------------------------------------------------------------------------- the checks
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



def name_problems(doc, label):
    """Each ``bgsub.NAME``, exported head and ``from bgsub... import`` that does not exist."""
    missing = [f"{label}:{n}: bgsub.{chain}" for n, chain in doc.names + doc.heads
               if not _resolve(chain)]
    for n, module, name in doc.imports:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            missing.append(f"{label}:{n}: module {module}")
            continue
        if name is not None and name != "*" and not hasattr(mod, name):
            missing.append(f"{label}:{n}: from {module} import {name}")
    return missing


_HELPS = {}


def _all_helps():
    if not _HELPS:
        _HELPS.update({sub: _help(sub) for sub in main.commands})
        _HELPS[""] = _help("")
    return _HELPS


def cli_problems(doc, label):
    """Each subcommand, option and Choice value shown that ``bgsub`` does not have."""
    helps = _all_helps()
    problems = []
    for n, sub, where in doc.commands:
        if sub is not None and sub not in main.commands:
            problems.append(f"{label}:{n} ({where}): no subcommand 'bgsub {sub}'")
    for use in doc.options:
        subs = use.subcommands or tuple(helps)
        in_help = [s for s in subs if s in helps and _option_in_help(use.option, helps[s][1])]
        if use.subcommands is None:
            if not in_help:
                problems.append(f"{label}:{use.line} ({use.where}): {use.option} is no "
                                f"option of any bgsub command")
            continue
        for s in subs:
            if s not in helps:
                continue  # reported above as a missing subcommand
            cmd = f"bgsub {s}".strip()
            if s not in in_help:
                problems.append(f"{label}:{use.line} ({use.where}): {use.option} is not in "
                                f"'{cmd} --help'")
                continue
            param, secondary = _click_option(s, use.option)
            if (use.value is not None and param is not None and not secondary
                    and isinstance(param.type, click.Choice) and not param.is_flag
                    and use.value not in param.type.choices):
                problems.append(f"{label}:{use.line} ({use.where}): {cmd} {use.option} "
                                f"{use.value}: not one of {list(param.type.choices)}")
    return problems


_SCRIPT_HELPS = {}


def _script_help(script, dispatch):
    key = (script, dispatch)
    if key not in _SCRIPT_HELPS:
        import subprocess
        import sys

        r = subprocess.run([sys.executable, script, *([dispatch] if dispatch else []), "--help"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        _SCRIPT_HELPS[key] = r.stdout if r.returncode == 0 else None
    return _SCRIPT_HELPS[key]


def script_problems(doc, label):
    """Each ``python scripts/NAME.py`` shown that does not exist, and each option shown with it
    (on its line, or loose in the same sentence) that is not in its ``--help``."""
    problems = []
    for n, (script, dispatch), where in doc.scripts:
        if not (ROOT / script).is_file():
            problems.append(f"{label}:{n} ({where}): no {script}")
    for n, scripts, option, where in doc.script_options:
        helps = [_script_help(s, d) for s, d in scripts if (ROOT / s).is_file()]
        if not any(h and _option_in_help(option, h) for h in helps):
            names = " or ".join(" ".join(filter(None, sd)) for sd in scripts)
            problems.append(f"{label}:{n} ({where}): {option} is not in '{names} --help'")
    return problems


PATH_RE = re.compile(r"`((?:bgsub|scripts|tests|sample_videos|docs)/[^`\s]*)`")


def path_problems(text, label):
    """Each repository path shown in inline code (``bgsub/model/_kernels.py``, ``scripts/``,
    ``sample_videos/street``) that does not exist, so that moving a file shows which pages
    still name its old place."""
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        for path in PATH_RE.findall(line):
            if not (ROOT / path).exists():
                problems.append(f"{label}:{n}: no {path} in the repository")
    return problems


def em_problems(doc, label):
    """Bare words of an EM section that bgsub.GaussianMixture does not have."""
    from bgsub.em.mixture import COVARIANCE_TYPES, INIT_ALIASES, INIT_PARAMS, GaussianMixture

    X = [[0.0, 0.1], [1.0, 0.9], [5.0, 5.2], [6.0, 5.1], [0.2, 0.0], [5.5, 6.0]]
    fitted = GaussianMixture(2, random_state=0).fit(X)
    params = set(fitted.get_params())
    values = set(COVARIANCE_TYPES) | set(INIT_PARAMS) | set(INIT_ALIASES)
    wrong = []
    for n, word in doc.em_words:
        name = word.split("=")[0]
        if not (hasattr(fitted, name) or name in params or word in values
                or name in bgsub.__all__):
            wrong.append(f"{label}:{n}: `{word}`")
    return wrong


def run_python_block(path, line, source, tmp_path, monkeypatch):
    """Execute one Python block of ``path`` (its first code line is ``line``) in ``tmp_path``,
    a mirror of the repository root, up to a statement that opens a camera or a URL."""
    tree = ast.parse(source, filename=f"{path.name}, the block at line {line}")
    body = []
    for stmt in tree.body:
        code = ast.get_source_segment(source, stmt)
        if CAMERA_RE.search(code) or URL_RE.search(code):
            print(f"{path.name}:{line + stmt.lineno - 1}: opens a camera or URL; the example "
                  f"is run up to there")
            break
        body.append(stmt)
    if not body:
        pytest.skip(f"{path.name}:{line}: the example starts by opening a camera or URL")
    tree.body = body
    ast.increment_lineno(tree, line - 1)
    for entry in ROOT.iterdir():  # the repository root, without writing into it
        if not entry.name.startswith("."):
            os.symlink(entry, tmp_path / entry.name)
    monkeypatch.chdir(tmp_path)
    exec(compile(tree, str(path), "exec"), {"__name__": "__doc_example__"})
