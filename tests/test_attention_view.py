"""``models.attention_view``: circuitsvis pictures of compiled heads that work offline
(the JavaScript bundle inlined, no script fetched), titled with the node each head
computes, holding the model's own pattern values, and the same file every time.
circuitsvis is in the ``test`` extra (through ``views``), so nothing here is skipped."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from models.attention_view import attention_html, head_title, save_attention_html
from rasp.errors import RaspcValueError

TOKENS = ["compiler_bos", "a", "b", "c"]


def _props(page: str) -> dict:
    """The props object circuitsvis renders (the JSON after the element id)."""
    match = re.search(r"CircuitsVis\.AttentionHeads,\s*(\{.*?\})\s*\)", page, re.S)
    assert match, "no AttentionHeads render call in the page"
    return json.loads(match.group(1))


def test_page_is_offline_titled_and_holds_the_pattern(reverse, tmp_path):
    page = save_attention_html(reverse, TOKENS, tmp_path / "reverse.html", ["reverse"])
    text = page.read_text(encoding="utf-8")
    assert "<title>L2H0: reverse (Aggregate)</title>" in text
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"""(import|from)\s*\(?\s*["']https?://""", text)
    assert "unpkg.com" not in text and "sourceMappingURL" not in text
    assert "CircuitsVis.render(" in text and len(text) > 100_000  # the bundle is inline
    props = _props(text)
    assert props["attentionHeadNames"] == ["L2H0: reverse (Aggregate)"]
    assert props["tokens"] == TOKENS
    pattern = np.asarray(props["attention"])
    expected = np.asarray(reverse.apply(TOKENS).attn_patterns[2])[0, 0]
    assert pattern.shape == (1, 4, 4)
    assert np.allclose(pattern[0], expected, atol=1e-4)
    # reverse: position i attends to position n - i + 1 (BOS at 0)
    assert [int(np.argmax(row)) for row in pattern[0, 1:]] == [3, 2, 1]


def test_every_head_by_default_and_deterministic(reverse):
    page = attention_html(reverse, TOKENS)
    names = _props(page)["attentionHeadNames"]
    assert names == [head_title(reverse, 0, 0), "L2H0: reverse (Aggregate)"]
    assert names[0] == "L0H0: length (SelectorWidth)"
    assert page == attention_html(reverse, TOKENS)
    assert "circuits-vis-" not in page  # the random id is replaced by a content hash


def test_errors_name_the_fix(reverse):
    with pytest.raises(RaspcValueError, match="prepend"):
        attention_html(reverse, ["a", "b"])
    with pytest.raises(RaspcValueError, match="no head L1H0"):
        head_title(reverse, 1, 0)
    with pytest.raises(RaspcValueError, match="not by an attention"):
        attention_html(reverse, TOKENS, ["tokens"])
