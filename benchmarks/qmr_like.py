"""A QMR-DT-like dense noisy-OR network as node-link JSON (DESIGN section 4), and cases for it.

Run:  python benchmarks/qmr_like.py [-o qmr_like.json] [--seed 0]

QMR-DT (Shwe et al. 1991) has about 570 diseases, 4,075 findings and 45,470 links: about 11
parents per finding on average, with a long tail of findings that many diseases cause. The
network itself is not public, so this generator draws one with the same shape: parents per
finding from a geometric distribution with mean 11, capped at ``--max-parents`` (48), diseases
picked with a Zipf-like popularity (some diseases have hundreds of findings), link
probabilities from QMR-DT's five frequency classes, leaks in [1e-4, 1e-2], priors log-uniform
in [1e-4, 1e-2]. Every number cites one expert-estimate reference node.

:func:`cases` draws evidence the way a patient presents: a few conditions switched on, their
findings sampled through the noisy-OR links, ``k`` of the findings that came out present kept as
present (topped up with random findings when too few came out) and ``n_absent`` of those that
came out absent kept as absent. Present findings then share many parents, which is what makes
QMR-DT inference hard.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

FREQUENCY_CLASSES = (0.025, 0.2, 0.5, 0.8, 0.985)
"""QMR-DT's frequency classes 1-5 as link probabilities (Shwe et al. 1991)."""


def qmr_like(n_conditions: int = 570, n_findings: int = 4075, *, max_parents: int = 48,
             mean_parents: float = 11.0, seed: int = 0) -> dict[str, Any]:
    """Node-link data of a random network shaped like QMR-DT (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ref = {"id": "qmr_like", "kind": "reference", "title": "QMR-DT-like random network",
           "year": 2026, "url": "https://example.org/qmr-like", "expert_estimate": True,
           "note": "drawn by benchmarks/qmr_like.py to match QMR-DT's size and density"}
    popularity = 1.0 / np.arange(1, n_conditions + 1) ** 0.7
    popularity /= popularity.sum()
    priors = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), size=n_conditions))
    nodes: list[dict[str, Any]] = [ref]
    nodes += [{"id": f"d{i}", "kind": "condition", "prior": {"primary-care": float(p)},
               "references": ["qmr_like"]} for i, p in enumerate(priors)]
    leaks = rng.uniform(1e-4, 1e-2, size=n_findings)
    nodes += [{"id": f"f{j}", "kind": "finding", "leak": float(q), "references": ["qmr_like"]}
              for j, q in enumerate(leaks)]
    links = []
    counts = np.minimum(rng.geometric(1.0 / mean_parents, size=n_findings), max_parents)
    for j, n_par in enumerate(counts.tolist()):
        parents = rng.choice(n_conditions, size=n_par, replace=False, p=popularity)
        for c in sorted(parents.tolist()):
            links.append({"source": f"d{c}", "target": f"f{j}", "kind": "causes",
                          "probability": float(rng.choice(FREQUENCY_CLASSES)),
                          "references": ["qmr_like"]})
    return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes,
            "links": links}


def cases(net: Any, priors: np.ndarray, k: int, n: int, *, n_absent: int = 20, seed: int = 0,
          ) -> list[tuple[list[int], list[int]]]:
    """``n`` evidence sets ``(present, absent)`` of finding indices for a compiled network."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        on = rng.random(net.n_conditions) < np.maximum(priors, 2.0 / net.n_conditions)
        off = 1.0 - net.leaks
        for c in np.flatnonzero(on).tolist():
            children, probs = net.children(c)
            off[children] *= 1.0 - probs
        came_on = rng.random(net.n_findings) >= off
        pos = rng.permutation(np.flatnonzero(came_on))[:k].tolist()
        others = rng.permutation(np.flatnonzero(~came_on)).tolist()
        top_up = max(0, k - len(pos))  # too few came out present: add random ones
        pos += others[:top_up]
        neg = others[top_up:top_up + n_absent]
        out.append((sorted(pos), sorted(neg)))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("qmr_like.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-parents", type=int, default=48)
    args = parser.parse_args()
    data = qmr_like(max_parents=args.max_parents, seed=args.seed)
    args.output.write_text(json.dumps(data), encoding="utf-8")
    n_links = len(data["links"])
    print(f"wrote {args.output}: {len(data['nodes']) - 1} nodes, {n_links} links")
