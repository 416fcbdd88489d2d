"""Attention pictures in circuitsvis, titled with the RASP node each head computes.

circuitsvis (``attention_heads``) is the attention viewer most interpretability work
uses.  By default its HTML imports the viewer's JavaScript from a CDN, so a saved file
is blank without internet; :func:`attention_html` inlines the bundle that the
circuitsvis wheel ships (``circuitsvis/dist/cdn/iife.js``, through its own local
renderer), so the file works offline, and makes the element id a hash of the content,
so the same model and input always give the same file.  Each head is named by the
circuit map (:func:`compiler.circuit.circuit_map`): ``L2H0: reverse (Aggregate)``.

Needs the ``views`` extra (``pip install 'raspc[views]'``: circuitsvis, which brings
torch); imported on first use.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.circuit import circuit_map
from rasp.errors import RaspcValueError

__all__ = ["attention_html", "head_title", "heads_of", "save_attention_html"]

DECIMALS = 4
"""Pattern values are rounded to this many decimals in the HTML (compact, deterministic)."""

_ID = re.compile(r"circuits-vis-[0-9a-f-]{13}")
_SOURCE_MAP = re.compile(r"//# sourceMappingURL=\S+")


def _circuitsvis() -> Any:
    try:
        from circuitsvis.attention import attention_heads
    except ImportError as err:
        raise RaspcValueError(
            f"attention pictures need circuitsvis ({err}); install it with: "
            "pip install 'raspc[views]'"
        ) from err
    return attention_heads


def head_title(model: Any, layer: int, head: int) -> str:
    """``L{layer}H{head}: node (Kind)`` for the node(s) that head computes."""
    circuit = circuit_map(getattr(model, "base", model))
    name = f"L{layer}H{head}"
    if name not in circuit.components:
        heads = [c for c, comp in circuit.components.items() if comp.kind == "attn"]
        raise RaspcValueError(
            f"this model has no head {name} (layer {layer}, head {head}); its heads that "
            f"compute something are {heads}"
        )
    nodes = circuit.components[name].nodes
    return f"{name}: " + ", ".join(f"{n} ({circuit.nodes[n].kind})" for n in nodes)


def heads_of(model: Any, heads: Sequence[str | tuple[int, int]] | None = None):
    """``[(layer, head)]`` for ``heads`` given as node labels or ``(layer, head)``
    pairs; None: every head that computes a node, in the order they run."""
    circuit = circuit_map(getattr(model, "base", model))
    if heads is None:
        return [(c.layer, c.head) for c in circuit.components.values() if c.kind == "attn"]
    return [circuit.head(h) if isinstance(h, str) else (int(h[0]), int(h[1])) for h in heads]


def _patterns(model: Any, tokens: Sequence[Any], heads: list[tuple[int, int]]) -> np.ndarray:
    """``[heads, T, T]`` attention patterns for one input that starts with BOS."""
    tokens = list(tokens)
    bos = model.input_encoder.bos_token
    if not tokens or tokens[0] != bos:
        raise RaspcValueError(
            f"expected one input starting with the BOS token {bos!r}, found {tokens[:3]!r}; "
            f"prepend it: [{bos!r}, *tokens]"
        )
    out = model.apply(tokens)
    cfg = model.model_config
    for layer, head in heads:
        if not (0 <= layer < cfg.num_layers and 0 <= head < cfg.num_heads):
            raise RaspcValueError(
                f"no head ({layer}, {head}): the model has {cfg.num_layers} layers of "
                f"{cfg.num_heads} heads"
            )
    return np.stack([np.asarray(out.attn_patterns[layer])[0, head] for layer, head in heads])


def attention_html(
    model: Any,
    tokens: Sequence[Any],
    heads: Sequence[str | tuple[int, int]] | None = None,
    *,
    title: str | None = None,
) -> str:
    """A self-contained HTML page with circuitsvis's ``attention_heads`` view of
    ``heads`` (node labels or ``(layer, head)``; default every head) on one input that
    starts with BOS, each head named by the node it computes.  No script is loaded
    from the network."""
    attention_heads = _circuitsvis()
    chosen = heads_of(model, heads)
    if not chosen:
        raise RaspcValueError("this model has no attention heads to show")
    names = [head_title(model, layer, head) for layer, head in chosen]
    pattern = np.round(_patterns(model, tokens, chosen).astype(np.float64), DECIMALS) + 0.0
    shown = [str(t) for t in tokens]
    view = attention_heads(
        attention=pattern,
        tokens=shown,
        attention_head_names=names,
        mask_upper_tri=bool(model.model_config.causal),
    )
    body = _SOURCE_MAP.sub("", view.local_src)  # the map is not shipped inline: no fetch
    digest = hashlib.sha256(repr((names, shown, pattern.tolist())).encode()).hexdigest()[:12]
    body = _ID.sub(f"raspc-attention-{digest}", body)
    heading = title or (names[0] if len(names) == 1 else f"attention of {model.layout.output}")
    captions = "".join(f"<li>{html.escape(n)}</li>" for n in names)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(heading)}</title>\n</head>\n<body>\n"
        f"<h2>{html.escape(heading)}</h2>\n<p>input: {html.escape(' '.join(shown))}</p>\n"
        f"<ul>{captions}</ul>\n{body}\n</body>\n</html>\n"
    )


def save_attention_html(
    model: Any,
    tokens: Sequence[Any],
    path: str | Path,
    heads: Sequence[str | tuple[int, int]] | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write :func:`attention_html` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(attention_html(model, tokens, heads, title=title), encoding="utf-8")
    return path
