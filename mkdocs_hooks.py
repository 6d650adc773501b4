"""mkdocs hooks for the foldax site.

foldax's docstrings title their runnable examples ``Example:`` (singular). Griffe's Google-style
parser knows ``Examples:`` only, and would render ``Example:`` as an admonition of plain
Markdown, so that a doctest's output such as ``['a'][0]`` reads as a Markdown link. Mapping the
singular title to the examples section renders every example as a Python console block.
"""

from __future__ import annotations

from typing import Any


def on_startup(**kwargs: Any) -> None:
    try:
        from griffe._internal.docstrings import google
    except ImportError:  # a griffe without this layout: examples render as admonitions
        return
    kinds = getattr(google, "_section_kind", None)
    if isinstance(kinds, dict) and "examples" in kinds:
        kinds.setdefault("example", kinds["examples"])
