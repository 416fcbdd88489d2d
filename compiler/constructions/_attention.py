"""Attention scores shared by the head constructions (selector head, selector width).

Scores are bilinear in query and key directions: ``beta`` where the predicate holds,
with affine terms through ``one`` for None keys and queries; a selector that is a
conjunction of groups (:mod:`compiler.selectors`) sums its groups' scores.
"""

from __future__ import annotations

import numpy as np

from compiler.basis import ONE, Direction
from compiler.constructions._base import Context, HeadBlock, directions
from compiler.selectors import Group, SelectorPlan

__all__ = ["Scores", "combine", "head", "selection"]

Scores = tuple[tuple[Direction, ...], tuple[Direction, ...], np.ndarray]
"""Dense attention scores: query directions, key directions, ``[nq, nk]`` weights."""
OV = tuple[tuple[Direction, ...], tuple[Direction, ...], np.ndarray]
"""What a head reads and writes: value directions, output directions, ``[nv, no]``."""


def _group_scores(group: Group, ctx: Context) -> Scores:
    """``beta`` where the group's formula holds, as a bilinear form with affine terms
    (through ``one``) that give None keys and queries the scores the formula says."""
    q_dirs, k_dirs = ctx.dirs(group.queries), ctx.dirs(group.keys)
    q_none = None in ctx.values[group.queries.label]
    k_none = None in ctx.values[group.keys.label]
    q_vals = [d.value for d in q_dirs] + [None]
    k_vals = [d.value for d in k_dirs] + [None]
    t = group.table(k_vals, q_vals).astype(np.float64)  # last row/col: None
    e = t[-1, -1] if q_none and k_none else 0.0
    c = t[:-1, -1] - e if k_none else np.zeros(len(q_dirs))  # query q, key None
    d = t[-1, :-1] - e if q_none else np.zeros(len(k_dirs))  # query None, key k
    w = np.zeros((len(q_dirs) + 1, len(k_dirs) + 1))
    w[:-1, :-1] = t[:-1, :-1] - c[:, None] - d[None, :] - e
    w[:-1, -1] = c
    w[-1, :-1] = d
    w[-1, -1] = e
    return (*q_dirs, ONE), (*k_dirs, ONE), ctx.beta * w


def combine(parts: list[Scores]) -> Scores:
    """Sum score blocks over the union of their directions."""
    q_dirs = directions(d for q, _, _ in parts for d in q)
    k_dirs = directions(d for _, k, _ in parts for d in k)
    qi = {d: i for i, d in enumerate(q_dirs)}
    ki = {d: i for i, d in enumerate(k_dirs)}
    w = np.zeros((len(q_dirs), len(k_dirs)))
    for q, k, part in parts:
        np.add.at(w, np.ix_([qi[d] for d in q], [ki[d] for d in k]), part)
    return q_dirs, k_dirs, w


def selection(plan: SelectorPlan, ctx: Context) -> tuple[Scores, int]:
    """Summed group scores and the number of groups (a selected key scores n * beta)."""
    return combine([_group_scores(group, ctx) for group in plan.groups]), len(plan.groups)


def head(node: str, scores: Scores, ctx: Context, bos_score: float, ov: OV) -> HeadBlock:
    """A head from the scores plus the BOS terms: every query scores ``bos_score``
    on BOS, and the BOS query scores ``beta`` on BOS only (so BOS stays clean)."""
    bos = np.array([[bos_score], [ctx.beta]])
    q_dirs, k_dirs, w_qk = combine([scores, ((ONE, ctx.bos), (ctx.bos,), bos)])
    rows, cols = np.any(w_qk != 0, axis=1), np.any(w_qk != 0, axis=0)  # drop unused dirs
    q_dirs = tuple(d for d, keep in zip(q_dirs, rows) if keep)
    k_dirs = tuple(d for d, keep in zip(k_dirs, cols) if keep)
    w_qk = w_qk[np.ix_(rows, cols)]
    v_dirs, o_dirs, w_ov = ov
    return HeadBlock.frozen(node, q_dirs, k_dirs, w_qk, v_dirs, o_dirs, w_ov)
