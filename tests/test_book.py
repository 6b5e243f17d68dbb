"""The book builds offline, executes every notebook and shows what a reader needs: every
derivation's constraint system and solution, full explanations, no tracebacks, no files outside
the book, no scripts or math from the network."""

import re
from pathlib import Path

import pytest

from experiments.lab.book import build, repo_root

pytestmark = pytest.mark.book

DERIVATIONS = (
    "01_abc_and_symmetry",
    "02_sgd",
    "03_adam_adafactor",
    "04_symbolic_alignment",
    "05_epsilon_atan2",
    "06_umup",
    "07_transformer",
)
#: Derivation pages that render the engine's constraint system (abcparam.engine.constraints).
WITH_SYSTEM = DERIVATIONS


@pytest.fixture(scope="module")
def html():
    root = repo_root()
    assert build(root) == 0, "the book build failed (a failing cell fails it)"
    return root / "book" / "_build" / "html"


def read(html: Path, page: str) -> str:
    return (html / page).read_text()


def pages(html: Path) -> list[Path]:
    return [p for p in html.rglob("*.html") if "_static" not in p.parts and p.name != "search.html"]


def plain(page: str) -> str:
    """The page with its tags removed (highlighted code becomes its text again)."""
    return re.sub(r"<[^>]+>", "", page)


def visible_text(page: str) -> str:
    """The page without its <script>/<style> blocks and tags."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_every_derivation_page_is_built_with_executed_outputs(html):
    for name in DERIVATIONS:
        page = read(html, f"derivations/{name}.html")
        assert "cell_output" in page, name


@pytest.mark.parametrize("name", WITH_SYSTEM)
def test_derivation_pages_show_constraint_system_and_solution(html, name):
    page = read(html, f"derivations/{name}.html")
    systems = page.count("Constraint system — ")
    assert systems >= 1, name
    for part in (
        "1. Update exponents.",
        "2. Recursion of the feature change",
        "3. Constraints.",
        "4. Solution.",
        "Why, for each exponent",
    ):
        assert page.count(part) == systems, (name, part)
    # the recursion's terms, each with its alignment exponent, rendered as math
    for term in (
        r"\Delta W_l\, z^0_{l-1}",
        r"W^0_l\, \Delta z_{l-1}",
        r"\Delta W_l\, \Delta z_{l-1}",
    ):
        assert term in page, (name, term)
    assert r"\ge" in page and "tight" in page
    assert "@software{abcparam_derivation_" in plain(page) and "version = {" in plain(page)


def test_sgd_page_shows_the_front(html):
    page = read(html, "derivations/02_sgd.html")
    assert "Pareto front" in page
    assert re.search(r"\(\\frac\{1\}\{2\},\\ 0,\\ - \\frac\{1\}\{2\}\)", page)


def test_published_tables_are_compared_cell_by_cell(html):
    sgd = read(html, "derivations/02_sgd.html")
    assert sgd.count("| yes |") == 0  # rendered as HTML tables, not raw markdown
    assert re.search(r"<td[^>]*>(<p>)?mup / full(</p>)?</td>", sgd)
    assert ">NO<" not in sgd and sgd.count(">yes<") == 6 + 4  # Table 1 SGD cells + TP-IV rows
    adam = read(html, "derivations/03_adam_adafactor.html")
    assert adam.count(">yes<") == 16
    for page in (sgd, adam):
        assert "Everett et al. 2024" in page and "published-tables" in page


def test_foundation_pages_render_from_data(html):
    conv = read(html, "conventions.html")
    for word in ("abc-symmetry", "Alignment", "constraint system", "epsilon"):
        assert word in conv
    pub = read(html, "published.html")
    from abcparam import published

    for name in published.SOURCES:
        assert name in pub, name
    assert "Table 1" in pub and "copy" in pub


def test_no_page_is_cut_broken_or_points_outside_the_book(html):
    for path in pages(html):
        page = path.read_text()
        text = visible_text(page)
        rel = path.relative_to(html)
        assert not re.search(r"\w\s?\.\.\.[\s\"')]", text), (rel, "a '...'-cut text")
        assert "Traceback (most recent call last)" not in text, rel
        assert not re.search(r"\w+Error: ", text) or "ValueError: " in text, rel
        # notes files that are not in the repository (upper-case *.md) and absolute paths
        assert not re.search(r"\b[A-Z]{4,}\.md\b", text), (rel, "a notes file outside the book")
        assert not re.search(r"(?<![\w.])/(work|home|tmp|root|Users)/", text), (
            rel,
            "absolute path",
        )
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
        links = re.findall(r'<link[^>]+href="([^"]+)"', page)
        assert not [s for s in scripts + links if s.startswith(("http:", "https:", "//"))], rel


def test_math_is_served_locally(html):
    page = read(html, "derivations/01_abc_and_symmetry.html")
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert any("_static/mathjax/tex-chtml.js" in s for s in scripts)
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_citations_resolve(html):
    refs = read(html, "references.html")
    assert "Scaling exponents across parameterizations and optimizers" in refs
    assert "derivation-sgd" in read(html, "derivations/02_sgd.html")
    intro = read(html, "intro.html")
    assert "@software{abcparam," in plain(intro) and "@software{abcparam_derivation_sgd," in plain(
        intro
    )


def test_precision_page_shows_predictions_and_training_gap(html):
    page = read(html, "precision.html")
    assert page.count("<img") >= 3  # predicted-vs-measured, fraction vs width, training gap
    assert "munit" in page and "gap &#64; 256" in page
