"""Kept so that ``from oracles import ...`` keeps working: the published tables and their
citations live in :mod:`abcparam.published`."""

from abcparam.published import *  # noqa: F403
from abcparam.published import SOURCES, citation, cite, tables  # noqa: F401
