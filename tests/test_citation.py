"""CITATION.cff and the BibTeX entries the book shows carry the package version and date."""

import re
from pathlib import Path

import pytest

import abcparam
from abcparam.citation import DATE, bibtex

ROOT = Path(__file__).resolve().parents[1]


def test_citation_cff_matches_the_package():
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(abcparam.__version__)}$", cff, re.M)
    assert f'date-released: "{DATE}"' in cff


def test_bibtex_names_label_and_version():
    entry = bibtex("derivation-adam", "Adam and Adafactor")
    assert entry.startswith("@software{abcparam_derivation_adam,")
    assert f"version = {{{abcparam.__version__}}}" in entry and "derivation-adam" in entry
    with pytest.raises(ValueError, match="Bad Label"):
        bibtex("Bad Label")
