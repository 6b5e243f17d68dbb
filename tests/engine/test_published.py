"""Published tables live in one place, each with a citation, and the engine never reads them."""

import re
from pathlib import Path

import abcparam
from abcparam import published

ENGINE = Path(abcparam.__file__).parent / "engine"


def test_every_published_table_has_a_citation():
    names = [
        n
        for n, v in vars(published).items()
        if n.isupper()
        and isinstance(v, (dict, tuple))
        and n not in ("PAPERS", "SOURCES", "CONFIDENCE")
    ]
    assert set(names) == set(published.SOURCES), set(names) ^ set(published.SOURCES)
    for name, cit in published.SOURCES.items():
        assert cit.paper in published.PAPERS, name
        assert cit.confidence in published.CONFIDENCE, name
        assert cit.where, name
        assert published.cite(name).startswith(published.PAPERS[cit.paper].short)


def test_citation_rejects_unknown_names():
    try:
        published.citation("NOPE")
    except ValueError as err:
        assert "NOPE" in str(err) and "EVERETT_TABLE1_C" in str(err)
    else:
        raise AssertionError("no error")


def test_engine_never_reads_the_published_tables():
    for path in ENGINE.rglob("*.py"):
        assert not re.search(r"import.*\bpublished\b|\bpublished\.[A-Z]", path.read_text()), path
