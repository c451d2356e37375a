"""The compiled bipartite noisy-OR network: ids, leaks and links as read-only numpy arrays.

A :class:`NoisyOrNetwork` is built once per knowledge base (``kb.network``) and shared by every
inference call. Links are held twice in compressed sparse row form: parents per finding (used by
every call) and children per condition.

Examples
--------
>>> net = NoisyOrNetwork.from_arrays(("flu", "cold"), ("fever", "cough"), [0.01, 0.05],
...                                  [(0, 0, 0.8), (0, 1, 0.5), (1, 1, 0.7)])
>>> net.parents(1)
(array([0, 1]), array([0.5, 0.7]))
>>> net.n_links
3
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import field, frozen

from twitchcds.errors import InvalidInputError, Problem

__all__ = ["NoisyOrNetwork", "compile_network", "gather_rows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _readonly_float(value: Any) -> FloatArray:
    out = np.array(value, dtype=np.float64)
    out.flags.writeable = False
    return out


def _readonly_int(value: Any) -> IntArray:
    out = np.array(value, dtype=np.intp)
    out.flags.writeable = False
    return out


def gather_rows(ptr: IntArray, rows: IntArray) -> IntArray:
    """Positions of every entry of the CSR ``rows`` (in row order), without a Python loop.

    Examples
    --------
    >>> gather_rows(np.array([0, 2, 2, 5]), np.array([2, 0]))
    array([2, 3, 4, 0, 1])
    """
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    ends = lengths.cumsum()
    total = int(ends[-1]) if ends.size else 0
    if total == 0:
        return np.zeros(0, dtype=np.intp)
    return np.repeat(starts - ends + lengths, lengths) + np.arange(total, dtype=np.intp)


@frozen(eq=False)
class NoisyOrNetwork:
    """A compiled, immutable bipartite noisy-OR network, with optional exclusion evidence.

    ``P(finding f absent | conditions) = (1 - leaks[f]) * prod over present parents c of
    (1 - p[c, f])``. Parents of finding ``f`` are ``parent_index[parent_ptr[f]:parent_ptr[f+1]]``
    with link probabilities ``parent_prob`` (and ``parent_log_q = log(1 - p)``); children of a
    condition are stored the same way in ``child_*``. Arrays are read-only.

    Inhibitor links ``(c, f, s)`` are stored the same way per finding in ``inhibit_*``. Each is
    an *exclusion evidence* node ``o_fc`` with parent ``c`` only, ``P(o = 1 | c) = (1 - s)^c``,
    observed (``o = 1``) exactly when ``f`` is observed present; ``f`` itself stays an ordinary
    noisy-OR finding of its causes. Unobserved (``f`` absent or unknown), a barren ``o`` has no
    effect, so a present inhibited finding only multiplies each inhibitor's odds by ``1 - s``.
    """

    condition_ids: tuple[str, ...] = field(converter=_str_tuple)
    finding_ids: tuple[str, ...] = field(converter=_str_tuple)
    leaks: FloatArray = field(converter=_readonly_float)
    parent_ptr: IntArray = field(converter=_readonly_int)
    parent_index: IntArray = field(converter=_readonly_int)
    parent_prob: FloatArray = field(converter=_readonly_float)
    parent_log_q: FloatArray = field(converter=_readonly_float)
    child_ptr: IntArray = field(converter=_readonly_int)
    child_index: IntArray = field(converter=_readonly_int)
    child_prob: FloatArray = field(converter=_readonly_float)
    inhibit_ptr: IntArray = field(converter=_readonly_int, repr=False)
    """Inhibitors of finding ``f`` are ``inhibit_index[inhibit_ptr[f]:inhibit_ptr[f+1]]``."""
    inhibit_index: IntArray = field(factory=lambda: np.zeros(0, dtype=np.intp),
                                    converter=_readonly_int, repr=False)
    inhibit_prob: FloatArray = field(factory=lambda: np.zeros(0), converter=_readonly_float,
                                     repr=False)
    """Inhibitor strengths ``s``."""
    inhibit_log_keep: FloatArray = field(init=False, eq=False, repr=False)
    """``log(1 - s)``: the log factor of an inhibitor's odds per present inhibited finding."""
    inhibited: npt.NDArray[np.bool_] = field(init=False, eq=False, repr=False)
    """Whether each finding has an inhibitor."""
    log_off_leak: FloatArray = field(init=False, eq=False, repr=False)
    """``log(1 - leaks)``."""

    @log_off_leak.default
    def _log_off(self) -> FloatArray:
        return _readonly_float(np.log1p(-self.leaks))

    @inhibit_ptr.default
    def _no_inhibitors(self) -> IntArray:
        return np.zeros(len(self.finding_ids) + 1, dtype=np.intp)

    @inhibit_log_keep.default
    def _log_keep(self) -> FloatArray:
        return _readonly_float(_log1m(self.inhibit_prob))

    @inhibited.default
    def _inhibited(self) -> npt.NDArray[np.bool_]:
        out = np.diff(self.inhibit_ptr) > 0
        out.setflags(write=False)
        return out

    @property
    def n_conditions(self) -> int:
        """Number of conditions."""
        return len(self.condition_ids)

    @property
    def n_findings(self) -> int:
        """Number of findings."""
        return len(self.finding_ids)

    @property
    def n_links(self) -> int:
        """Number of condition -> finding links."""
        return int(self.parent_index.size)

    def parents(self, finding: int) -> tuple[IntArray, FloatArray]:
        """Parent condition indices of ``finding`` and their link probabilities."""
        lo, hi = self.parent_ptr[finding], self.parent_ptr[finding + 1]
        return self.parent_index[lo:hi], self.parent_prob[lo:hi]

    def children(self, condition: int) -> tuple[IntArray, FloatArray]:
        """Child finding indices of ``condition`` and their link probabilities."""
        lo, hi = self.child_ptr[condition], self.child_ptr[condition + 1]
        return self.child_index[lo:hi], self.child_prob[lo:hi]

    @property
    def n_inhibitors(self) -> int:
        """Number of condition -> finding inhibitor links."""
        return int(self.inhibit_index.size)

    def inhibitors(self, finding: int) -> tuple[IntArray, FloatArray]:
        """Inhibitor condition indices of ``finding`` and their strengths (empty when none)."""
        lo, hi = self.inhibit_ptr[finding], self.inhibit_ptr[finding + 1]
        return self.inhibit_index[lo:hi], self.inhibit_prob[lo:hi]

    @classmethod
    def from_arrays(cls, condition_ids: Sequence[str], finding_ids: Sequence[str],
                    leaks: Sequence[float] | FloatArray,
                    links: Iterable[tuple[int, int, float]],
                    inhibitors: Iterable[tuple[int, int, float]] = ()) -> NoisyOrNetwork:
        """Build a network from ids, leak probabilities and ``(condition, finding, p)`` links.

        Parameters
        ----------
        condition_ids, finding_ids : sequence of str
            Identifiers; their order fixes the order of every array.
        leaks : sequence of float
            Leak probability of each finding, in [0, 1).
        links : iterable of (int, int, float)
            ``(condition index, finding index, p)`` with ``p`` in (0, 1]; at most one link per
            pair.
        inhibitors : iterable of (int, int, float), optional
            ``(condition index, finding index, s)`` inhibitor links with strength ``s`` in
            (0, 1]: the finding, when present, is evidence against the condition (its odds are
            multiplied by ``1 - s``; see :class:`NoisyOrNetwork`); at most one per pair.

        Returns
        -------
        NoisyOrNetwork

        Raises
        ------
        InvalidInputError
            If a leak, link or inhibitor probability is out of range, an index is out of range,
            or a pair is linked twice (every problem is listed).

        Examples
        --------
        >>> net = NoisyOrNetwork.from_arrays(["a", "b"], ["x"], [0.1], [(0, 0, 0.9)],
        ...                                  inhibitors=[(1, 0, 0.8)])
        >>> net.children(0), net.inhibitors(0)
        ((array([0]), array([0.9])), (array([1]), array([0.8])))
        """
        n_c, n_f = len(condition_ids), len(finding_ids)
        leak_arr = np.asarray(leaks, dtype=np.float64).reshape(-1)
        problems: list[Problem] = []
        if leak_arr.size != n_f:
            problems.append(Problem("$.leaks", f"expected {n_f} leaks", int(leak_arr.size)))
        else:
            for i in np.flatnonzero(~((leak_arr >= 0.0) & (leak_arr < 1.0))):
                problems.append(Problem(f"$.leaks[{i}]", "leak must be in [0, 1)",
                                        float(leak_arr[i])))
        triples = _triples(links, n_c, n_f, "links", problems)
        blocks = _triples(inhibitors, n_c, n_f, "inhibitors", problems)
        if problems:
            raise InvalidInputError.from_problems(problems)
        cond = np.fromiter((c for c, _ in triples), dtype=np.intp, count=len(triples))
        find = np.fromiter((f for _, f in triples), dtype=np.intp, count=len(triples))
        prob = np.fromiter(triples.values(), dtype=np.float64, count=len(triples))
        by_f = np.lexsort((cond, find))
        by_c = np.lexsort((find, cond))
        return cls(
            condition_ids=tuple(condition_ids), finding_ids=tuple(finding_ids), leaks=leak_arr,
            parent_ptr=np.concatenate(([0], np.cumsum(np.bincount(find, minlength=n_f)))),
            parent_index=cond[by_f], parent_prob=prob[by_f],
            parent_log_q=_log1m(prob[by_f]),
            child_ptr=np.concatenate(([0], np.cumsum(np.bincount(cond, minlength=n_c)))),
            child_index=find[by_c], child_prob=prob[by_c],
            **_inhibitor_arrays(blocks, n_f),
        )


def _triples(links: Iterable[tuple[int, int, float]], n_c: int, n_f: int, name: str,
             problems: list[Problem]) -> dict[tuple[int, int], float]:
    """Check ``(condition, finding, p)`` triples; ``{(c, f): p}`` of the valid ones."""
    triples: dict[tuple[int, int], float] = {}
    for k, (c, f, p) in enumerate(links):
        if not (0 <= c < n_c and 0 <= f < n_f):
            problems.append(Problem(f"$.{name}[{k}]", "index out of range", (c, f)))
        elif not 0.0 < p <= 1.0:
            problems.append(Problem(f"$.{name}[{k}]", "probability must be in (0, 1]", p))
        elif (c, f) in triples:
            problems.append(Problem(f"$.{name}[{k}]", "pair linked twice", (c, f)))
        else:
            triples[int(c), int(f)] = float(p)
    return triples


def _inhibitor_arrays(blocks: dict[tuple[int, int], float], n_f: int) -> dict[str, Any]:
    """CSR arrays (by finding) of checked inhibitor triples ``{(condition, finding): s}``."""
    cond = np.fromiter((c for c, _ in blocks), dtype=np.intp, count=len(blocks))
    find = np.fromiter((f for _, f in blocks), dtype=np.intp, count=len(blocks))
    strength = np.fromiter(blocks.values(), dtype=np.float64, count=len(blocks))
    by_f = np.lexsort((cond, find))
    return {"inhibit_ptr": np.concatenate(([0], np.cumsum(np.bincount(find, minlength=n_f)))),
            "inhibit_index": cond[by_f], "inhibit_prob": strength[by_f]}


def _log1m(p: FloatArray) -> FloatArray:
    """``log(1 - p)``, ``-inf`` where ``p == 1``."""
    with np.errstate(divide="ignore"):
        return np.log1p(-p)


def compile_network(kb: Any) -> NoisyOrNetwork:
    """Compile a knowledge base's conditions, findings and links into a :class:`NoisyOrNetwork`.

    Parameters
    ----------
    kb : KnowledgeBase
        Anything with ``conditions`` (each with ``id``), ``findings`` (``id``, ``leak``) and
        ``links`` (``condition``, ``finding``, ``probability``), in the order arrays will use;
        optional ``inhibitors`` of the same shape as ``links`` (strength in ``probability``).

    Returns
    -------
    NoisyOrNetwork

    Raises
    ------
    InvalidInputError
        If a link or inhibitor names an unknown condition or finding, or a probability is out
        of range.

    Examples
    --------
    >>> from twitchcds import KnowledgeBase
    >>> ref = {"id": "r", "kind": "reference", "title": "Example", "doi": "10.1/x"}
    >>> kb = KnowledgeBase.from_node_link({"nodes": [ref,
    ...     {"id": "flu", "kind": "condition", "prior": {"primary-care": 0.1},
    ...      "references": ["r"]},
    ...     {"id": "cold", "kind": "condition", "prior": {"primary-care": 0.2},
    ...      "references": ["r"]},
    ...     {"id": "fever", "kind": "finding", "leak": 0.01, "references": ["r"]},
    ...     {"id": "cough", "kind": "finding", "leak": 0.05, "references": ["r"]}],
    ...   "links": [
    ...     {"source": "flu", "target": "fever", "kind": "causes", "probability": 0.8,
    ...      "references": ["r"]},
    ...     {"source": "cold", "target": "fever", "kind": "causes", "probability": 0.3,
    ...      "references": ["r"]},
    ...     {"source": "cold", "target": "cough", "kind": "causes", "probability": 0.7,
    ...      "references": ["r"]}]})
    >>> net = compile_network(kb)
    >>> net.parents(net.finding_ids.index("fever"))
    (array([0, 1]), array([0.8, 0.3]))
    >>> net.condition_ids == tuple(c.id for c in kb.conditions)
    True
    """
    cond_pos = {c.id: i for i, c in enumerate(kb.conditions)}
    find_pos = {f.id: i for i, f in enumerate(kb.findings)}
    problems: list[Problem] = []
    arrays = {name: _positions(getattr(kb, name, ()), name, cond_pos, find_pos, problems)
              for name in ("links", "inhibitors")}
    if problems:
        raise InvalidInputError.from_problems(problems)
    return NoisyOrNetwork.from_arrays(tuple(cond_pos), tuple(find_pos),
                                      [float(f.leak) for f in kb.findings], arrays["links"],
                                      inhibitors=arrays["inhibitors"])


def _positions(links: Iterable[Any], name: str, cond_pos: dict[str, int],
               find_pos: dict[str, int], problems: list[Problem],
               ) -> list[tuple[int, int, float]]:
    """``(condition, finding, probability)`` index triples of knowledge-base links."""
    out: list[tuple[int, int, float]] = []
    for k, link in enumerate(links):
        if link.condition not in cond_pos:
            problems.append(Problem(f"$.{name}[{k}].condition", "unknown condition",
                                    link.condition))
        elif link.finding not in find_pos:
            problems.append(Problem(f"$.{name}[{k}].finding", "unknown finding", link.finding))
        else:
            out.append((cond_pos[link.condition], find_pos[link.finding],
                        float(link.probability)))
    return out
