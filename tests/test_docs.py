"""The documentation site (mkdocs.yml, docs/): it builds with ``mkdocs build --strict``, every
local link and image of every built page resolves when the page is opened in a real headless
browser, the generated references cover the command line and the public API, and what the
pages show is true of the code (the checks of tests/mdcheck.py: names, commands, options, and
the Python examples run).

Skipped with the reason when mkdocs (``pip install ".[docs]"``) or Chromium is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import bgsub
from bgsub.cli import main

from . import mdcheck
from .conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _have_mkdocs():
    try:
        import mkdocs  # noqa: F401
        import mkdocs_click  # noqa: F401
        import mkdocstrings  # noqa: F401
        import material  # noqa: F401
    except ImportError:
        return False
    return True


needs_mkdocs = pytest.mark.skipif(not _have_mkdocs(),
                                  reason='mkdocs not installed (pip install ".[docs]")')


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built as CI builds it: ``mkdocs build --strict`` into a scratch folder."""
    if not _have_mkdocs():
        pytest.skip('mkdocs not installed (pip install ".[docs]")')
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                        "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
                       cwd=ROOT, capture_output=True, text=True,
                       env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, "mkdocs build --strict failed:\n" + r.stdout + r.stderr
    return out


# ---------------------------------------------------------------------------- links and images
class _Refs(HTMLParser):
    """Every href and src of a page, and every id it defines."""

    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.refs.append((tag, key, a[key]))


def _refs(html):
    p = _Refs()
    p.feed(html)
    return p


def _dump_dom(page, profile):
    """The page's DOM after its scripts ran, from headless Chromium with no network."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={profile}",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom", page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "</html>" in r.stdout, \
        f"chromium could not open {page}: {r.stderr[-500:]}"
    return r.stdout


def _target(site, page, url):
    """The file a local link points to (a folder means its index.html), or None if external.
    Links are relative, so the site works from file://; only the 404 page, which a web server
    serves for any path, links from the site's root."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "mailto", "javascript", "data", "blob") or \
            parts.netloc:
        return None, None
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif not parts.path:
        path = page  # a fragment of this page
    elif parts.path.startswith("/") and page == site / "404.html":
        path = site / unquote(parts.path).lstrip("/")  # a server's 404 page: from the root
    else:
        path = (page.parent / unquote(parts.path)).resolve()
    if path.is_dir():
        path = path / "index.html"
    return path, parts.fragment


def broken_links(site, tmp_path):
    """Open every page of ``site`` in Chromium; return (links and images checked, the broken
    ones): a local href or src whose file is missing, that leaves the site, or whose #fragment
    is no id of its page."""
    site = site.resolve()
    pages = sorted(site.rglob("*.html"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        doms = list(pool.map(lambda ip: _dump_dom(ip[1], tmp_path / f"profile{ip[0]}"),
                             enumerate(pages)))
    ids = {}
    broken, checked = [], 0
    for page, dom in zip(pages, doms):
        refs = _refs(dom)
        for tag, key, url in refs.refs:
            target, fragment = _target(site, page, url)
            if target is None:
                continue
            checked += 1
            where = f"{page.relative_to(site)}: <{tag} {key}={url!r}>"
            if site not in target.parents:
                broken.append(f"{where} leaves the site")
            elif not target.is_file():
                broken.append(f"{where}: no file {target.relative_to(site)}")
            elif fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = refs.ids if target == page else \
                        _refs(target.read_text(encoding="utf-8")).ids
                if fragment not in ids[target]:
                    broken.append(f"{where}: no id {fragment!r} in {target.name}")
    return checked, broken


needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="chromium not installed (apt-get install chromium)")


@needs_chromium
def test_every_local_link_and_image_resolves_in_a_real_browser(site, tmp_path):
    assert len(list(site.rglob("*.html"))) >= len(PAGES)
    checked, broken = broken_links(site, tmp_path)
    assert checked > 100, f"only {checked} local links and images found: the parser is broken"
    assert not broken, "broken links or images in the built site:\n" + "\n".join(broken)


@needs_chromium
def test_the_link_check_finds_each_kind_of_broken_link(tmp_path):
    """The checker itself, on a hand-made site: a good link, image and anchor pass; a missing
    file, a missing image, a missing anchor and a link out of the site are each reported."""
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "img.png").write_bytes(b"\x89PNG")
    (site / "a" / "index.html").write_text('<html><body><h2 id="here">A</h2></body></html>')
    (site / "index.html").write_text(
        '<html><body><a href="a/">ok</a><a href="a/#here">ok</a><img src="img.png">'
        '<a href="https://example.org/">external</a><a href="#top" id="top">self</a>'
        '<a href="b/">no page</a><img src="gone.png"><a href="a/#nowhere">no anchor</a>'
        '<a href="../outside.html">out</a></body></html>')
    checked, broken = broken_links(site, tmp_path)
    assert checked == 8
    assert [b.split(": <")[1].split(">")[0] for b in broken] == [
        "a href='b/'", "img src='gone.png'", "a href='a/#nowhere'", "a href='../outside.html'"]


def test_the_pictures_are_in_the_pages_that_show_them(site):
    """Each picture under docs/img is shown by a page, and is a PNG of a few hundred KB at most."""
    shown = set()
    for page in site.rglob("*.html"):
        for tag, key, url in _refs(page.read_text(encoding="utf-8")).refs:
            if tag == "img":
                target, _ = _target(site, page, url)
                if target is not None:
                    shown.add(target.name)
    pictures = sorted(p.name for p in (DOCS / "img").glob("*.png"))
    assert pictures, "no pictures in docs/img"
    assert set(pictures) <= shown, f"pictures no page shows: {sorted(set(pictures) - shown)}"
    total = sum(p.stat().st_size for p in (DOCS / "img").glob("*.png"))
    assert total < 600_000, f"docs/img holds {total} bytes of pictures"


# ---------------------------------------------------------------------------- the references
def test_the_cli_reference_lists_every_command_and_option(site):
    html = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", html)
    missing = []
    for name, command in main.commands.items():
        if f"bgsub {name}" not in text:
            missing.append(f"bgsub {name}")
        for param in command.params:
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("-") and not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])",
                                                         text):
                    missing.append(f"bgsub {name} {opt}")
    assert not missing, "the CLI reference lacks:\n" + "\n".join(missing)


def test_the_api_reference_documents_every_public_name(site):
    """reference/api.md names each ``bgsub.__all__`` object by a module path that resolves to
    that very object, and the built page has its heading."""
    source = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    paths = re.findall(r"^::: ([\w.]+)", source, re.M)
    documented = {}
    for path in paths:
        module, _, name = path.rpartition(".")
        documented[name] = getattr(__import__(module, fromlist=[name]), name)
    html = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    problems = []
    for name in bgsub.__all__:
        if name.startswith("__"):
            continue
        if name not in documented:
            problems.append(f"bgsub.{name} is not in docs/reference/api.md")
        elif documented[name] is not getattr(bgsub, name):
            problems.append(f"docs/reference/api.md's {name} is not bgsub.{name}")
    for path in paths:
        if f'id="{path}"' not in html:
            problems.append(f"the built API page has no heading for {path}")
    assert not problems, "\n".join(problems)


def test_the_api_reference_gives_each_parameter_its_own_default(site):
    """Each parameter of bgsub.MixtureSubtractor is listed with the default of the signature
    (griffe gave every name of a grouped docstring entry the first one's: scripts/mkdocs_hooks.py)."""
    import inspect

    html = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="bgsub.model.mixture.MixtureSubtractor"'):]
    wrong = []
    for name, p in inspect.signature(bgsub.MixtureSubtractor).parameters.items():
        m = re.search(rf"<b><code>{name}</code></b>.{{0,600}}?default:\s*<code>([^<]*)</code>",
                      section, re.S)
        if m is None:
            wrong.append(f"{name}: no default shown")
        elif __import__("html").unescape(m.group(1)) != repr(p.default):
            wrong.append(f"{name}: shown {m.group(1)!r}, signature {p.default!r}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------- the text
def _label(page):
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_label)
def test_each_page_names_only_what_bgsub_has(page):
    text = page.read_text(encoding="utf-8")
    doc = mdcheck.parse(text)
    problems = (mdcheck.path_problems(text, _label(page)) + mdcheck.name_problems(doc, _label(page)) + mdcheck.cli_problems(doc, _label(page))
                + mdcheck.em_problems(doc, _label(page)) + mdcheck.script_problems(doc, _label(page)))
    assert not problems, f"{_label(page)} shows what bgsub does not have:\n" + \
        "\n".join(problems)


def _python_blocks():
    return [pytest.param(page, line, src, id=f"{_label(page)}:{line}")
            for page in PAGES
            for line, src in mdcheck.parse(page.read_text(encoding="utf-8")).python_blocks]


@pytest.mark.parametrize("page, line, source", _python_blocks())
def test_docs_python_example_runs(page, line, source, tmp_path, monkeypatch):
    mdcheck.run_python_block(page, line, source, tmp_path, monkeypatch)


def test_the_nav_names_every_page_and_only_pages_that_exist():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, re.M))
    present = {str(p.relative_to(DOCS)) for p in PAGES}
    assert listed == present, (f"in the nav, not in docs/: {sorted(listed - present)}; "
                               f"in docs/, not in the nav: {sorted(present - listed)}")


@needs_mkdocs
def test_the_scripts_write_their_tables_into_marked_blocks():
    """bench.py, bench_e2e.py, bench_em.py and accuracy.py (``--docs``) write into these blocks
    (bench_e2e.py also into the README's speed table): each must be present once, and writing
    one keeps the rest of the page."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import docblock

    for page, names in (("benchmarks.md", ("bench", "e2e", "em")), ("accuracy.md",
                                                                     ("accuracy",)),
                        ("README.md", ("speed",))):
        text = (ROOT / page if page == "README.md" else DOCS / page).read_text(encoding="utf-8")
        for name in names:
            assert text.count(f"<!-- {name}:begin -->") == 1, f"{page}: {name} block"
            assert text.count(f"<!-- {name}:end -->") == 1, f"{page}: {name} block"
    assert re.fullmatch(r"\*Measured \d{4}-\d\d-\d\d on .+, \d+ cores \(Python [\d.]+\), bgsub "
                        r"at commit \S+.*, with `python scripts/bench.py --docs`\.\*",
                        docblock.provenance(["scripts/bench.py", "--docs"]))


def test_the_readme_speed_table_is_written_from_the_runs(tmp_path, monkeypatch):
    """bench_e2e.py --docs writes the README's speed table: each job's fps over DVR-Scan's per
    input (hand-computed here), into the README's block, the rest of the README kept."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_e2e
    import docblock

    rows = [("640x360", "H.264", 917, {"DVR-Scan": 250.0, "gray, no masks": 345.0,
                                        "defaults": 300.0}, {}),
            ("640x360 looped 11x", "MPEG-4 part 2", 10087,
             {"DVR-Scan": 355.0, "gray, no masks": 710.0, "defaults": 390.5,
              "--accurate gray, no masks": 426.0}, {})]
    text = bench_e2e.ratio_table(rows)
    lines = text.splitlines()
    assert lines[0].endswith("| 640x360, 917 frames | 640x360 looped 11x, 10087 frames |")
    assert lines[2].endswith("(the same job) | 1.38x | 2.00x |")
    assert lines[3].endswith("| 1.20x | 1.10x |")
    assert lines[4] == "| `--accurate --gray --mask-format none -q` |  | 1.20x |"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    monkeypatch.setattr(docblock, "ROOT", tmp_path)
    docblock.write_block("README.md", "speed", text)
    new = (tmp_path / "README.md").read_text(encoding="utf-8")
    head, rest = readme.split("<!-- speed:begin -->")
    tail = rest.split("<!-- speed:end -->")[1]
    assert new.startswith(head) and new.endswith(tail)
    block = new[len(head):len(new) - len(tail)]
    assert "*Measured " in block and text in block
