"""MkDocs hook: render the docstrings' Sphinx cross-reference roles as plain code.

The docstrings say ``:func:`spikeforge.materialize``` (read by humans in the source and by
``help()``); mkdocstrings renders the role name literally, ``:func:<code>...</code>``. This
hook drops the role name so the reference reads ``spikeforge.materialize`` in code font.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc):(<code>)")
_TILDE = re.compile(r"<code>~(?:[\w.]*\.)?(\w+)</code>")  # Sphinx's ~a.b.C shows C


def on_page_content(html: str, **kwargs) -> str:
    return _TILDE.sub(r"<code>\1</code>", _ROLE.sub(r"\1", html))
