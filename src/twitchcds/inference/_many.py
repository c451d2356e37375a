"""Exact inference for many evidence rows at once: one array pass per number of present findings.

:func:`run_many` answers rows that each have their own priors, present and absent findings
(many cases, or one case under many parameter draws). It needs no per-row structure:

1. **Fold** every row's absent findings and exclusion evidence into its priors, all rows in a
   few array operations (the same identity as :func:`._reduce.fold_absent`).
2. **Group** rows by ``k``, their number of present findings. Present finding ``j`` of a row is
   its *slot* ``j``; ``q[r, c, j]`` is the link probability from condition ``c`` to that finding
   (0 when unlinked), so rows with different present findings share one array shape.
3. **Slot table.** For each group, a table over the ``2**k`` on/off states of the slots starts
   as the leaks' product distribution and takes each linked condition in turn:
   ``T <- (1 - pi_c) T + pi_c A_c T``, where ``A_c`` turns each slot ``j`` that is still off on
   with probability ``q[c, j]`` (a 2 x 2 factor per slot). ``P(all slots on)`` is the evidence;
   a backward pass with the transposed factors gives every ``P(evidence, c present)``. Every
   operator has non-negative entries, so there is no cancellation (unlike Quickscore). A
   condition with no link to a row's present findings is skipped for that row and keeps its
   folded prior exactly (as in the one-row engine, so thresholds at a prior's value agree),
   and a row's result does not depend on which other rows share its group.

The cost is about ``3 * k * 2**k`` per linked condition and row, so rows with more than
``MAX_SLOTS`` present findings are solved one at a time by :func:`._engine.run`, whose
structure (components, private parents, frontier order) pays off there; they also get its
approximate method past the budget. Both paths are exact and agree to rounding (a property
test checks 1e-12).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.errors import InvalidInputError
from twitchcds.inference._engine import run
from twitchcds.inference._network import NoisyOrNetwork, gather_rows

__all__ = ["MAX_SLOTS", "ManyResult", "fold_rows", "fold_shift", "run_many", "slot_table"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MAX_SLOTS = 7
"""Rows with more present findings than this go to the one-row engine (see module notes)."""

_CELLS = 1 << 20
"""Rows are solved in chunks of at most this many table cells (rows x conditions x states)."""


@frozen(eq=False)
class ManyResult:
    """Posteriors of many evidence rows.

    Attributes
    ----------
    probabilities : ndarray, shape (n_rows, n_conditions)
    log_evidence : ndarray, shape (n_rows,)
    exact : ndarray of bool, shape (n_rows,)
        False for a row the one-row engine had to sample (see :func:`twitchcds.inference.infer`).
    """

    probabilities: FloatArray
    log_evidence: FloatArray
    exact: BoolArray


def _flat_links(ptr: npt.NDArray[np.intp], findings: npt.NDArray[np.intp],
                ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """CSR positions of the entries of ``findings``, and which element of ``findings`` owns each."""
    at = gather_rows(ptr, findings)
    owner = np.repeat(np.arange(findings.size), ptr[findings + 1] - ptr[findings])
    return at, owner


def fold_rows(network: NoisyOrNetwork, priors: FloatArray, present: BoolArray,
              absent: BoolArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fold each row's absent findings and exclusion evidence into its priors.

    Row ``r`` of the result is :func:`._reduce.fold_absent` of row ``r``: ``pi``, ``pi_c = 1 -
    pi`` (from log odds, so priors near 1 keep their precision) and the log probability of the
    absent findings and exclusion evidence.

    Examples
    --------
    >>> net = NoisyOrNetwork.from_arrays(["a", "b"], ["x"], [0.0], [(0, 0, 0.5)],
    ...                                  inhibitors=[(1, 0, 0.5)])
    >>> pi, _, log_ev = fold_rows(net, np.full((2, 2), 0.5), np.array([[False], [True]]),
    ...                           np.array([[True], [False]]))
    >>> pi.round(6).tolist(), np.exp(log_ev).round(6).tolist()
    ([[0.333333, 0.5], [0.5, 0.333333]], [0.75, 0.75])
    """
    n_rows, n = priors.shape
    rows, findings = np.nonzero(absent)
    at, owner = _flat_links(network.parent_ptr, findings)
    cells, values = [rows[owner] * n + network.parent_index[at]], [network.parent_log_q[at]]
    if network.n_inhibitors:  # exclusion nodes fold like absent findings of leak 0
        rows, findings = np.nonzero(present)
        at, owner = _flat_links(network.inhibit_ptr, findings)
        cells.append(rows[owner] * n + network.inhibit_index[at])
        values.append(network.inhibit_log_keep[at])
    cell = np.concatenate(cells)
    with np.errstate(invalid="ignore"):  # -inf + -inf stays -inf (a link or strength of 1)
        shift = np.asarray(np.bincount(cell, weights=np.concatenate(values),
                                       minlength=n_rows * n), dtype=np.float64)
    touched = np.bincount(cell, minlength=n_rows * n) > 0
    pi, pi_c, normaliser = fold_shift(priors, shift.reshape(n_rows, n),
                                      touched.reshape(n_rows, n))
    log_leak = np.where(absent, network.log_off_leak[None, :], 0.0)
    return pi, pi_c, log_leak.sum(axis=1) + normaliser


def fold_shift(priors: FloatArray, shift: FloatArray, touched: BoolArray,
               ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Move log prior odds by ``shift`` where ``touched``; return ``pi``, ``pi_c`` and normalisers.

    ``shift[r, c]`` is the summed ``log(1 - p)`` of condition ``c``'s absent children (and
    exclusion evidence) in row ``r``; the last array is each row's ``sum log(pi q + 1 - pi)``.
    Untouched priors are kept exactly.
    """
    log_pi_c = np.log1p(-priors)
    log_odds = np.log(priors) - log_pi_c + shift
    soft = np.logaddexp(0.0, log_odds)  # softplus: 1 - pi' = exp(-soft)
    pi = np.where(touched, np.exp(log_odds - soft), priors)
    pi_c = np.where(touched, np.exp(-soft), 1.0 - priors)
    return pi, pi_c, np.where(touched, log_pi_c + soft, 0.0).sum(axis=1)


def _turn_on(table: FloatArray, q: FloatArray, transpose: bool = False) -> FloatArray:
    """Apply ``A`` (each slot ``j`` still off turns on with probability ``q[:, j]``).

    ``table`` has shape ``(rows, 2**k)``, state ``s`` having slot ``j`` on when bit ``j`` is
    set; ``q`` has shape ``(rows, k)``. With ``transpose`` the transposed operator is applied
    (the backward pass). Returns a new array.
    """
    rows, k = q.shape
    out = table.copy()
    for j in range(k):
        view = out.reshape(rows, -1, 2, 1 << j)
        qj = q[:, j, None, None]
        off, on = view[:, :, 0, :], view[:, :, 1, :]
        if transpose:  # an off state's weight is what follows from turning on or staying off
            off *= 1.0 - qj
            off += qj * on
        else:
            on += qj * off
            off *= 1.0 - qj
    return out


def slot_table(pi: FloatArray, pi_c: FloatArray, q: FloatArray, leak: FloatArray,
               ) -> tuple[FloatArray, FloatArray]:
    """Evidence and posteriors of ``k`` present findings per row, by the slot table.

    Parameters
    ----------
    pi, pi_c : ndarray, shape (rows, n_conditions)
        Folded priors and their complements.
    q : ndarray, shape (rows, n_conditions, k)
        Link probability from each condition to each row's present finding ``j``.
    leak : ndarray, shape (rows, k)
        Leak of each row's present finding ``j``.

    Returns
    -------
    evidence : ndarray, shape (rows,)
        ``P(all k findings present | folded priors)``.
    posterior : ndarray, shape (rows, n_conditions)
        Unclipped; rows of evidence 0 are 0/0 (the caller reports them).

    Notes
    -----
    Step ``l`` takes each row's ``l``-th linked condition (in condition order). Rows are
    visited by decreasing number of linked conditions, so the rows still taking a step are a
    leading slice of the table: the work is the sum over rows of their linked conditions, not
    rows times every condition linked in the group. A condition with no link to a row is never
    applied to it and keeps its folded prior exactly, and a row's arithmetic does not depend on
    which other rows share its group.

    Examples
    --------
    One condition (prior 0.1, link 0.8) and a leak of 0.01: ``P(e) = 0.1 * 0.802 + 0.9 * 0.01``.

    >>> z, post = slot_table(np.array([[0.1]]), np.array([[0.9]]), np.array([[[0.8]]]),
    ...                      np.array([[0.01]]))
    >>> round(float(z[0]), 6), round(float(post[0, 0]), 6)
    (0.0892, 0.899103)
    """
    rows, _, k = q.shape
    uses: BoolArray = np.asarray(q.any(axis=2))
    count = uses.sum(axis=1)
    order = np.argsort(-count, kind="stable")  # most linked conditions first
    count = count[order]
    # cond[i, l]: the l-th linked condition of row order[i] (ascending), -1 past its count
    cond = np.full((rows, int(count.max(initial=0))), -1, dtype=np.intp)
    at, c_at = np.nonzero(uses[order])
    cond[at, np.arange(at.size) - np.repeat(np.cumsum(count) - count, count)] = c_at
    table = np.ones((rows, 1))
    for j in range(k):  # the leaks' product distribution; slot j is bit j
        leak_j = leak[order, j, None]
        table = np.stack((table * (1.0 - leak_j), table * leak_j), axis=1).reshape(rows, -1)
    ends = [int(np.count_nonzero(count > step)) for step in range(cond.shape[1])]
    steps = []  # per step: its rows' conditions, pi, pi_c, q and A_c T (for the backward pass)
    for step, end in enumerate(ends):
        r, c = order[:end], cond[:end, step]
        p, p_c, q_c = pi[r, c, None], pi_c[r, c, None], q[r, c]
        on = _turn_on(table[:end], q_c)
        table[:end] = p_c * table[:end] + p * on
        steps.append((c, p, p_c, q_c, on))
    evidence = table[:, -1].copy()
    back = np.zeros_like(table)
    back[:, -1] = 1.0  # the all-on state
    posterior = pi.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for end, (c, p, p_c, q_c, on) in zip(ends[::-1], steps[::-1], strict=True):
            joint = p[:, 0] * np.einsum("rs,rs->r", back[:end], on)
            posterior[order[:end], c] = joint / evidence[:end]
            back[:end] = p_c * back[:end] + p * _turn_on(back[:end], q_c, True)
    out = np.empty_like(evidence)
    out[order] = evidence
    return out, posterior


def _solve_group(network: NoisyOrNetwork, pi: FloatArray, pi_c: FloatArray,
                 slots: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
    """Log evidence and posteriors of rows whose present findings are ``slots`` (rows, k)."""
    rows, k = slots.shape
    n = network.n_conditions
    at, owner = _flat_links(network.parent_ptr, slots.ravel())
    q = np.zeros((rows, n, k))
    q[owner // k, network.parent_index[at], owner % k] = network.parent_prob[at]
    evidence, posterior = slot_table(pi, pi_c, q, network.leaks[slots])
    with np.errstate(divide="ignore"):
        return np.log(evidence), posterior


def run_many(network: NoisyOrNetwork, priors: FloatArray, present: BoolArray,
             absent: BoolArray, *, method: str = "auto", budget: float) -> ManyResult:
    """Posteriors of every row: ``priors`` (rows, n_conditions), finding masks (rows, n_findings).

    Inputs are trusted (see :func:`twitchcds.inference.infer_many`). Rows with at most
    :data:`MAX_SLOTS` present findings go through the slot table in groups of equal ``k``; the
    others, and every row when ``method`` is not ``"auto"`` or ``"exact"``, through the one-row
    engine.

    Raises
    ------
    InvalidInputError
        If a row's evidence is impossible (a present finding nothing can cause), naming the row.
    """
    n_rows, n = priors.shape
    probs = np.empty((n_rows, n))
    log_ev = np.empty(n_rows)
    exact = np.ones(n_rows, dtype=bool)
    counts = present.sum(axis=1)
    small = (counts <= MAX_SLOTS) if method != "approximate" else np.zeros(n_rows, dtype=bool)
    for r in np.flatnonzero(~small).tolist():
        result = run(network, priors[r], np.flatnonzero(present[r]), np.flatnonzero(absent[r]),
                     method=method, budget=budget)
        probs[r], log_ev[r] = result.probabilities, result.log_evidence
        exact[r] = result.method == "exact"
    if small.any():
        pi, pi_c, folded = fold_rows(network, priors[small], present[small], absent[small])
        at_small = np.flatnonzero(small)
        for k in np.unique(counts[small]).tolist():
            group = np.flatnonzero(counts[small] == k)
            slots = np.nonzero(present[at_small[group]])[1].reshape(group.size, k)
            step = max(1, _CELLS // (n * (1 << k)))
            for lo in range(0, group.size, step):
                part = group[lo:lo + step]
                log_z, post = _solve_group(network, pi[part], pi_c[part], slots[lo:lo + step])
                probs[at_small[part]] = post
                log_ev[at_small[part]] = folded[part] + log_z
    if not np.isfinite(log_ev).all():
        r = int(np.flatnonzero(~np.isfinite(log_ev))[0])
        raise InvalidInputError("a present finding cannot occur (probability zero)",
                                path=f"$.present[{r}]", value=np.flatnonzero(present[r]).tolist())
    np.clip(probs, 0.0, 1.0, out=probs)  # rounding can step just past the bounds
    return ManyResult(probabilities=probs, log_evidence=log_ev, exact=exact)
