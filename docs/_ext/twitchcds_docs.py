"""Sphinx extension: pages generated from the installed twitchcds at every build.

Nothing here is written by hand about the knowledge base: every number, code and citation on
the generated pages is read from ``twitchcds.load_knowledge_base()`` when the docs are built, so
the pages cannot drift from the data files. Outputs go to ``docs/_generated/`` (git-ignored):

- ``kb/*.md``            the knowledge-base reference (conditions, findings, links, risk factors,
                         tests, red flags, derivation rules, medication classes, references);
- ``citations.md``       the share of numbers backed by a published source vs expert estimates
                         (``twitchcds.knowledge.validation.citation_summary``);
- ``status.md``          which optional features exist in this version;
- ``schemas.md``         the JSON Schemas shipped in ``twitchcds/schemas/`` (if any);
- ``evaluation.md``      the evaluation report from ``evaluation/`` at the repository root (if any);
- ``labs.md``            the analytes, LOINC codes, units and thresholds the labs rules use;
- ``notebooks/*.ipynb``  copies of ``examples/notebooks/`` for myst-nb to execute.

Files are rewritten only when their content changes, so incremental builds stay incremental.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.resources
import io
import json
import os
import re
import shutil
import sys
import tempfile
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import twitchcds
from twitchcds import cli
from twitchcds.evaluation import evaluate, load_vignettes
from twitchcds.knowledge.loader import read_sources
from twitchcds.knowledge.validation import citation_summary

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
OUT = DOCS / "_generated"
NOTEBOOKS = ROOT / "examples" / "notebooks"
EVALUATION = ROOT / "evaluation"

_PUNCT = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&:])")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def esc(text: object) -> str:
    """Escape text for MyST (CommonMark lets any ASCII punctuation be backslash-escaped)."""
    return _PUNCT.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))


def code(text: object) -> str:
    """Inline code span that survives backticks in the text."""
    s = str(text)
    fence = "``" if "`" in s else "`"
    return f"{fence}{s}{fence}"


def num(x: float) -> str:
    """A number as the data file gives it (no rounding beyond 6 significant digits)."""
    return f"{x:.6g}"


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def refs(ids: Iterable[str]) -> str:
    """Citation links to the reference list (every id is checked by Sphinx with -n)."""
    return ", ".join(f"{{ref}}`{r} <kbref-{r}>`" for r in ids)


def cond_link(cid: str) -> str:
    return f"{{ref}}`{cid} <kb-condition-{cid}>`"


def finding_link(fid: str) -> str:
    return f"{{ref}}`{fid} <kb-finding-{fid}>`"


# ---------------------------------------------------------------------------------------------
# feature status (also used by conf.py to set tags for ``{only}`` blocks)
# ---------------------------------------------------------------------------------------------
def _cli_parser() -> argparse.ArgumentParser:
    return cli._parser()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def _has_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _assess_formats() -> tuple[str, ...]:
    sub = _subcommands(_cli_parser()).get("assess")
    if sub is None:
        return ()
    for action in sub._actions:
        if "--format" in action.option_strings:
            return tuple(action.choices or ())
    return ()


def _schema_files() -> list[Path]:
    try:
        root = importlib.resources.files("twitchcds").joinpath("schemas")
    except ModuleNotFoundError:  # pragma: no cover
        return []
    path = Path(str(root))
    return sorted(path.glob("*.json")) if path.is_dir() else []


def features() -> list[tuple[str, str, bool, str]]:
    """(tag, feature, available, where) for every optional feature of DESIGN sections 4 and 9."""
    commands = _subcommands(_cli_parser())
    batch = _options(commands["batch"]) if "batch" in commands else set()
    formats = _assess_formats()
    return [
        ("fhir_in", "FHIR R4 bundle in (`Case.from_fhir`)",
         hasattr(twitchcds.Case, "from_fhir"), "`twitchcds.Case.from_fhir`"),
        ("fhir_out", "FHIR R4 out (`assess --format fhir`)", "fhir" in formats,
         "`twitchcds assess --format fhir`"),
        ("phenopackets", "Phenopackets v2 in (`Case.from_phenopacket`)",
         hasattr(twitchcds.Case, "from_phenopacket"), "`twitchcds.Case.from_phenopacket`"),
        ("cds_hooks", "CDS Hooks service (`twitchcds serve`)", "serve" in commands,
         "`twitchcds serve`"),
        ("cds_hooks_format", "CDS Hooks cards out (`assess --format cds-hooks`)",
         "cds-hooks" in formats, "`twitchcds assess --format cds-hooks`"),
        ("batch_workers", "Parallel batch on one machine (`batch --workers N`)",
         "--workers" in batch, "`twitchcds batch --workers`"),
        ("dask", "Batch on a Dask cluster (`batch --dask ADDRESS`)", "--dask" in batch,
         "`twitchcds batch --dask`"),
        ("schemas", "JSON Schemas for Case v1 and Assessment v1", bool(_schema_files()),
         "`twitchcds/schemas/`"),
        ("interop", "`twitchcds.interop` package", _has_module("twitchcds.interop.fhir"),
         "`twitchcds.interop`"),
        ("evaluation_data", "Evaluation on cited vignettes (`evaluation/`)",
         EVALUATION.is_dir(), "`evaluation/`"),
    ]


def available_feature_tags() -> list[str]:
    return [tag for tag, _, ok, _ in features() if ok]


def status_page() -> str:
    rows = [[esc_md(feature), "yes" if ok else "planned (not in this version)", where]
            for _, feature, ok, where in features()]
    return (
        "Generated at build time from the installed package.\n\n"
        + table(["Feature", "Available", "Where"], rows)
    )


def esc_md(text: str) -> str:
    """Keep inline code spans, escape the rest."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else esc(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# citation share (safety page)
# ---------------------------------------------------------------------------------------------
def _number_groups(kb: Any) -> dict[str, list[tuple[str, ...]]]:
    """The knowledge base's numbers by kind, with the references of each (same rule as
    ``citation_summary``; the totals are checked against it)."""
    return {
        "Condition priors (one per setting)":
            [c.prior_references for c in kb.conditions for _ in c.prior],
        "Finding leaks": [f.leak_references for f in kb.findings],
        "Condition-finding link probabilities": [lk.references for lk in kb.links],
        "Inhibitor strengths (evidence against a condition)":
            [i.references for i in kb.inhibitors],
        "Risk-factor odds ratios": [e.references for r in kb.risk_factors for e in r.effects],
        "Test costs": [t.cost_references for t in kb.tests],
        "Lab thresholds": [b.references for lab in kb.lab_rules for b in lab.bands],
        "History thresholds": [rule.references for rule in kb.history_rules],
        "Triage escalation thresholds": [e.references for c in kb.conditions
                                         for e in c.escalations],
    }


def citations_page(kb: Any) -> str:
    summary = citation_summary(kb)
    index = kb.reference_index

    def published(ids: tuple[str, ...]) -> bool:
        return any(r in index and not index[r].expert_estimate for r in ids)

    rows = []
    total = pub = 0
    for kind, groups in _number_groups(kb).items():
        n, p = len(groups), sum(published(g) for g in groups)
        total, pub = total + n, pub + p
        rows.append([esc(kind), str(n), str(p), str(n - p), f"{p / n:.0%}" if n else "-"])
    if (total, pub) != (summary["numbers"], summary["published"]):
        msg = f"citation breakdown {total}/{pub} disagrees with citation_summary {summary}"
        raise RuntimeError(msg)
    share = summary["published"] / summary["numbers"] if summary["numbers"] else 0.0
    rows.append(["**All numbers**", f"**{summary['numbers']}**", f"**{summary['published']}**",
                 f"**{summary['expert_estimate']}**", f"**{share:.0%}**"])
    n_expert = sum(r.expert_estimate for r in kb.references)
    return (
        f"Knowledge base {code(kb.version)} (sha256 {code(kb.sha256[:16])}...), computed at build "
        f"time with {code('twitchcds.knowledge.validation.citation_summary')}: of its "
        f"**{summary['numbers']}** numbers, **{summary['published']} ({share:.0%})** cite at "
        f"least one published source and **{summary['expert_estimate']}** rest on expert "
        f"estimates only. The knowledge base lists {len(kb.references)} references, "
        f"{n_expert} of which are expert estimates, each with a note giving its reasoning "
        f"(see {{doc}}`/_generated/kb/references`).\n\n"
        + table(["Numbers", "Count", "Published source", "Expert estimate only",
                 "Published share"], rows)
    )


# ---------------------------------------------------------------------------------------------
# knowledge-base reference
# ---------------------------------------------------------------------------------------------
def _header(title: str, kb: Any, intro: str) -> str:
    return (f"# {title}\n\n{intro}\n\n"
            f"Generated at build time from knowledge base {code(kb.version)} "
            f"(sha256 {code(kb.sha256)}).\n\n")


def kb_index(kb: Any) -> str:
    return (
        _header("Knowledge base", kb, esc(kb_description(kb)))
        + table(["Part", "Count"], [
            ["{doc}`Conditions <conditions>`", str(len(kb.conditions))],
            ["{doc}`Findings <findings>`", str(len(kb.findings))],
            ["Condition-finding links (on {doc}`conditions`)", str(len(kb.links))],
            ["{doc}`Risk factors <risk-factors>`", str(len(kb.risk_factors))],
            ["{doc}`Tests <tests>`", str(len(kb.tests))],
            ["{doc}`Red flags <red-flags>`", str(len(kb.red_flags))],
            ["{doc}`Lab and history rules <derivations>`",
             str(len(kb.lab_rules) + len(kb.history_rules))],
            ["Medication classes (on {doc}`risk-factors`)", str(len(kb.medication_classes))],
            ["{doc}`References <references>`", str(len(kb.references))],
        ])
        + "\n" + _decision(kb)
        + "\n```{toctree}\n:maxdepth: 1\n\nconditions\nfindings\nrisk-factors\ntests\n"
          "red-flags\nderivations\nreferences\n```\n"
    )


def kb_description(kb: Any) -> str:
    try:
        meta = tomllib.loads(read_sources(None)["meta.toml"].decode())
        return str(meta.get("description", ""))
    except (KeyError, tomllib.TOMLDecodeError):  # the description is decoration only
        return ""


def _decision(kb: Any) -> str:
    d = kb.decision
    rows = [[esc(sev), num(loss), f"{d.false_alarm_loss / (d.false_alarm_loss + loss):.3g}"]
            for sev, loss in d.miss_loss.items()]
    return (
        "## Decision policy\n\n"
        "Losses behind test and question values (see {doc}`/explanation/decisions`): missing a "
        "present condition costs `miss_loss[severity]`, acting on an absent one costs "
        f"`false_alarm_loss` = {num(d.false_alarm_loss)}. Action threshold = "
        "false_alarm_loss / (false_alarm_loss + miss_loss).\n\n"
        + table(["Severity", "miss_loss", "Action threshold"], rows)
        + f"\nA test is recommended when value / cost >= {num(d.min_value_per_cost)}"
        + (f", or when it confirms a condition whose posterior is at least "
           f"{num(d.confirm_min_probability)}" if hasattr(d, "confirm_min_probability") else "")
        + "; advice "
          f"is shown for conditions at or above {num(d.advice_min_probability)} (and always for "
          f"the most probable). Sources: {refs(d.references)}.\n"
    )


def kb_conditions(kb: Any) -> str:
    by_condition: dict[str, list[Any]] = defaultdict(list)
    for lk in kb.links:
        by_condition[lk.condition].append(lk)
    effects: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for rf in kb.risk_factors:
        for e in rf.effects:
            effects[e.condition].append((rf, e))
    out = [_header("Conditions", kb, "Candidate causes of twitching, in knowledge-base order. "
                   "*Prior* is the probability that the condition is present in a person "
                   "presenting with twitching in that care setting (causes can coexist, so "
                   "priors need not sum to 1). *Links* give P(finding | only this condition), the "
                   "noisy-OR link strength. *Likelihood ratio* columns are computed here from "
                   "the link and the finding's leak, as (p + leak - p*leak) / leak for a present "
                   "finding and (1 - p) for an absent one: how much the finding alone changes "
                   "this condition's odds when it is the only candidate cause.")]
    leaks = {f.id: f.leak for f in kb.findings}
    names = {f.id: f.name for f in kb.findings}
    for c in kb.conditions:
        out.append(f"({f'kb-condition-{c.id}'})=\n## {esc(c.name)}\n")
        codes = ", ".join(f"{esc(k)} {code(v)}" for k, v in c.codes.items()) or "none"
        priors = ", ".join(f"{esc(s)} {num(p)}" for s, p in c.prior.items())
        out.append(
            f"- **id**: {code(c.id)}; **category**: {esc(c.category)}; **severity**: "
            f"{esc(c.severity)}\n- **prior**: {priors} ({refs(c.prior_references)})\n"
            f"- **codes**: {codes}\n")
        confirmed_by = getattr(c, "confirmed_by", ())
        if confirmed_by:
            out.append("- **confirmed by**: " + ", ".join(
                f"{{ref}}`{t} <kb-test-{t}>`" for t in confirmed_by) + "\n")
        if c.description:
            out.append(f"\n{esc(c.description)}\n")
        links = by_condition.get(c.id, [])
        if links:
            rows = []
            for lk in sorted(links, key=lambda x: -x.probability):
                leak = leaks[lk.finding]
                lr_pos = (lk.probability + leak - lk.probability * leak) / leak
                rows.append([finding_link(lk.finding), esc(names[lk.finding]),
                             num(lk.probability), f"{lr_pos:.3g}",
                             f"{1 - lk.probability:.3g}", refs(lk.references)])
            out.append("\n**Links**\n\n" + table(
                ["Finding", "Name", "P(finding | condition)", "LR if present", "LR if absent",
                 "References"], rows))
        if effects.get(c.id):
            rows = [[f"{{ref}}`{rf.id} <kb-risk-{rf.id}>`", num(e.odds_ratio),
                     refs(e.references)] for rf, e in effects[c.id]]
            out.append("\n**Risk factors**\n\n" + table(["Risk factor", "Odds ratio",
                                                         "References"], rows))
        if c.escalations:
            rows = [[num(e.min_probability), esc(e.level), refs(e.references)]
                    for e in c.escalations]
            out.append("\n**Triage escalation** (posterior at least ... raises triage to ...)\n\n"
                       + table(["Posterior at least", "Level", "References"], rows))
        if c.advice:
            rows = [[esc(a.kind), esc(a.text), refs(a.references)] for a in c.advice]
            out.append("\n**Advice**\n\n" + table(["Kind", "Text", "References"], rows))
        out.append("\n")
    return "\n".join(out)


def kb_findings(kb: Any) -> str:
    parents: dict[str, list[str]] = defaultdict(list)
    for lk in kb.links:
        parents[lk.finding].append(lk.condition)
    out = [_header("Findings", kb, "Symptoms, signs, history items, derived lab results and test "
                   "results. *Leak* is the probability that the finding is present when none of "
                   "the modelled causes is (for test results: the false-positive rate in people "
                   "presenting with twitching). *Question* is how twitchcds asks about it "
                   "(findings without one are revealed only by labs or tests).")]
    kinds = {"symptom": "Symptoms", "sign": "Signs", "history": "History items",
             "lab": "Lab results", "test": "Test results"}
    for kind, title in kinds.items():
        members = [f for f in kb.findings if f.kind == kind]
        if members:
            out.append(f"## {title}\n")
        for f in members:
            out.append(_finding_entry(kb, f, parents))
    return "\n".join(out) + "\n"


def _finding_entry(kb: Any, f: Any, parents: dict[str, list[str]]) -> str:
    codes = ", ".join(code(x) for x in f.codes) or "none"
    tests = ", ".join(f"{{ref}}`{t} <kb-test-{t}>`" for t in kb.revealed_by.get(f.id, ()))
    return (
        f"(kb-finding-{f.id})=\n### {esc(f.name)}\n\n"
        f"- **id**: {code(f.id)}; **kind**: {esc(f.kind)}; **leak**: {num(f.leak)} "
        f"({refs(f.leak_references)})\n- **codes**: {codes}\n"
        f"- **caused by**: {', '.join(cond_link(c) for c in parents.get(f.id, ()))}\n"
        + (f"- **revealed by**: {tests}\n" if tests else "")
        + (f"- **question**: {esc(f.question)}\n" if f.question else "")
        + (f"\n{esc(f.description)}\n" if f.description else ""))


def kb_risk_factors(kb: Any) -> str:
    out = [_header("Risk factors", kb, "Things about the person that multiply the prior odds of "
                   "conditions (see {doc}`/explanation/model`). How each is recognised in a case "
                   "depends on its kind: age band, sex, a medication class, a history field that "
                   "is true, or (comorbidity, exposure) its id or code listed as a present "
                   "finding.")]
    for rf in kb.risk_factors:
        match = {
            "age": f"age in [{num(rf.age_min) if rf.age_min is not None else '-inf'}, "
                   f"{num(rf.age_max) if rf.age_max is not None else 'inf'})",
            "sex": f"sex = {rf.sex}",
            "medication": f"medication class {rf.medication_class}",
            "history": f"history.{rf.history_field} is true",
            "family-history": f"history.{rf.history_field} is true",
        }.get(rf.kind, "listed as a present finding by id or code")
        out.append(f"({f'kb-risk-{rf.id}'})=\n## {esc(rf.name)}\n")
        codes = ", ".join(code(x) for x in rf.codes)
        out.append(f"- **id**: {code(rf.id)}; **kind**: {esc(rf.kind)}; **recognised when**: "
                   f"{esc(match)}" + (f"; **codes**: {codes}" if codes else "") + "\n")
        rows = [[cond_link(e.condition), num(e.odds_ratio), refs(e.references)]
                for e in rf.effects]
        out.append("\n" + table(["Condition", "Odds ratio", "References"], rows))
    out.append("(kb-medication-classes)=\n## Medication classes\n\nA medication in a case "
               "belongs to a class when its name (case-insensitive), an ATC code starting with "
               "one of the prefixes, or its RxNorm code matches.\n")
    rows = [[code(m.id), esc(m.name), esc(", ".join(m.names)),
             ", ".join(code(a) for a in m.atc_prefixes), ", ".join(code(r) for r in m.rxnorm),
             refs(m.references)] for m in kb.medication_classes]
    out.append(table(["Id", "Name", "Names", "ATC prefixes", "RxNorm", "References"], rows))
    return "\n".join(out)


def kb_tests(kb: Any) -> str:
    out = [_header("Tests", kb, "Diagnostic tests, what they reveal, and their relative cost "
                   "(basic blood panel = 1). A test's sensitivity lives on the links from "
                   "conditions to the findings it reveals; its false-positive rate on those "
                   "findings' leaks.")]
    for t in kb.tests:
        out.append(f"({f'kb-test-{t.id}'})=\n## {esc(t.name)}\n")
        codes = ", ".join(f"{esc(k)} {code(v)}" for k, v in t.codes.items()) or "none"
        out.append(
            f"- **id**: {code(t.id)}; **relative cost**: {num(t.cost)} "
            f"({refs(t.cost_references)}); **invasiveness**: {esc(t.invasiveness)}; "
            f"**turnaround**: {num(t.turnaround_days)} days\n- **codes**: {codes}\n"
            f"- **reveals**: {', '.join(finding_link(f) for f in t.reveals)}\n"
            + (f"\n{esc(t.description)}\n" if t.description else ""))
    return "\n".join(out) + "\n"


def kb_red_flags(kb: Any) -> str:
    out = [_header("Red flags", kb, "A red flag fires when every item in *all of* is present "
                   "and at least one in *any of* is (an empty *any of* is satisfied); it then "
                   "forces at least its triage level, whatever the probabilities. Items are "
                   "findings or active risk factors (a medicine the patient takes).")]
    risk = {rf.id for rf in kb.risk_factors}

    def link(ident: str) -> str:
        return f"{{ref}}`{ident} <kb-risk-{ident}>`" if ident in risk else finding_link(ident)

    rows = [[code(flag.id), esc(flag.text),
             esc(flag.level), ", ".join(link(f) for f in flag.all_of),
             ", ".join(link(f) for f in flag.any_of),
             ", ".join(f"{{ref}}`{t} <kb-test-{t}>`" for t in getattr(flag, "tests", ())),
             esc(flag.advice), refs(flag.references)] for flag in kb.red_flags]
    out.append(table(["Id", "Text", "Level", "All of", "Any of", "Indicated tests", "Advice",
                      "References"], rows))
    return "\n".join(out)


def kb_derivations(kb: Any) -> str:
    out = [_header("Lab and history rules", kb, "How raw inputs become findings. A lab value is "
                   "converted to the analyte's unit first (see {doc}`/howto/labs`); a value "
                   "outside the plausible range is an input error, not a finding.")]
    out.append("## Labs\n")
    out.append(labs_table(kb))
    out.append("\n## History\n\nNumeric fields: present when value >= *at least* (or < "
               "*below*), else absent. Boolean fields: present when the value equals *equals*. "
               "Text fields: present when the value is one of *one of*. A rule with *absent "
               "when* derives its finding absent whenever that finding is reported absent "
               "(history about twitching when there is no twitching).\n")
    rows = []
    for rule in kb.history_rules:
        cond = (f">= {num(rule.at_least)}" if rule.at_least is not None else
                f"< {num(rule.below)}" if rule.below is not None else
                f"= {str(rule.equals).lower()}" if rule.equals is not None else
                "one of " + ", ".join(rule.one_of))
        unless = getattr(rule, "unless_absent", None)
        rows.append([code(f"history.{rule.field}"), esc(cond), finding_link(rule.finding),
                     f"{finding_link(unless)} absent" if unless else "",
                     refs(rule.references)])
    out.append(table(["Field", "Present when", "Finding", "Absent when", "References"], rows))
    return "\n".join(out)


def labs_table(kb: Any, *, with_refs: bool = True) -> str:
    rows = []
    for lab in kb.lab_rules:
        bands = "; ".join(
            (f"< {num(b.below)}" if b.below is not None else f"> {num(b.above)}")
            + f" -> {finding_link(b.finding)}" for b in lab.bands)
        row = [esc(lab.name), ", ".join(code(x) for x in lab.loinc), code(lab.unit),
               esc(f"{num(lab.plausible_min)}-{num(lab.plausible_max)}"), bands]
        if with_refs:
            row.append(refs(sorted({r for b in lab.bands for r in b.references})))
        rows.append(row)
    header = ["Analyte", "LOINC", "Unit", "Plausible range", "Bands (in that unit)"]
    return table(header + (["References"] if with_refs else []), rows)


def kb_references(kb: Any) -> str:
    out = [_header("References", kb, "Every source the knowledge base cites. An *expert estimate* "
                   "is not a published figure: its note gives the reasoning behind the numbers "
                   "that cite it.")]
    published = [r for r in kb.references if not r.expert_estimate]
    expert = [r for r in kb.references if r.expert_estimate]
    out.append("## Published sources\n")
    for r in published:
        link = (f"doi:[{esc(r.doi)}](<https://doi.org/{r.doi}>)" if r.doi else
                f"[{esc(r.url)}](<{r.url}>)" if r.url else "")
        who = f"{esc(r.authors)}. " if r.authors else ""
        year = f" ({r.year})" if r.year else ""
        out.append(f"(kbref-{r.id})=\n{code(r.id)}\n: {who}*{esc(r.title)}*{year}. {link}\n")
    out.append("## Expert estimates\n")
    for r in expert:
        out.append(f"(kbref-{r.id})=\n{code(r.id)}\n: *{esc(r.title)}*. {esc(r.note)}\n")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# schemas, evaluation, notebooks
# ---------------------------------------------------------------------------------------------
def schemas_page(kind: str) -> str:
    files = [p for p in _schema_files() if kind in p.name.lower()]
    if not files:
        return (f"```{{note}}\nNo JSON Schema for this format is shipped in this version "
                f"(none matching `twitchcds/schemas/*{kind}*.json`); the tables on this page are "
                "the contract.\n```\n")
    out = []
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        title = data.get("title", path.stem)
        out.append(f"### {esc(title)} ({code('twitchcds/schemas/' + path.name)})\n")
        if data.get("description"):
            out.append(esc(data["description"]) + "\n")
        copy = OUT / "schemas" / path.name
        write_if_changed(copy, path.read_text(encoding="utf-8"))
        out.append(f"```{{literalinclude}} /_generated/schemas/{path.name}\n:language: json\n```\n")
    return "\n".join(out)


def evaluation_page(kb: Any) -> str:
    """The evaluation section of the safety page; no figure on it is typed in by hand.

    ``evaluation/REPORT.md`` (written by ``evaluation/run_evaluation.py``) is included when it
    was produced with the knowledge base being documented (same sha256 prefix in its first
    lines). Otherwise, if vignettes exist, the evaluation is run here, at build time (without
    the work-up, to keep the build fast), and its metrics are rendered.
    """
    if not EVALUATION.is_dir():
        return ("```{note}\nNo evaluation is included in this version: there is no "
                "`evaluation/` directory in the repository yet. No accuracy figures are "
                "claimed until one exists.\n```\n")
    report_md = EVALUATION / "REPORT.md"
    note = ""
    if report_md.is_file():
        text = report_md.read_text(encoding="utf-8")
        head = "\n".join(text.splitlines()[:5])
        if kb.sha256[:12] in head:
            write_if_changed(OUT / "evaluation-report.md", text)
            return ("The report below is `evaluation/REPORT.md`, written by "
                    "`python evaluation/run_evaluation.py` (work-up included, so key-test hits "
                    "are measured); it was produced with the knowledge base documented here "
                    f"(sha256 {code(kb.sha256[:12])}...).\n\n"
                    "```{include} /_generated/evaluation-report.md\n:heading-offset: 2\n```\n")
        note = ("\n```{warning}\n`evaluation/REPORT.md` in the repository was produced with "
                "another version of the knowledge base and is not shown; rerun "
                "`python evaluation/run_evaluation.py` to refresh it.\n```\n")
    vignettes = EVALUATION / "vignettes"
    if not vignettes.is_dir():
        return "The repository's `evaluation/` directory holds no report yet.\n" + note
    report = evaluate(load_vignettes(vignettes), kb, workup=False)
    return note + render_evaluation(report)


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.0%}"  # noqa: PLR0124  (nan check)


def render_evaluation(report: Any) -> str:
    o = report.overall
    out = [
        f"Computed at build time by {code('twitchcds.evaluation.evaluate')} on the "
        f"**{o.n} vignettes** in `evaluation/vignettes/` (paraphrased published cases, each "
        f"citing its source), with knowledge base {code(report.kb_version)}. The work-up is not "
        "run here, so key-test hits are not measured on this page; run "
        "`evaluate(load_vignettes('evaluation/vignettes'), workup=True)` for them. "
        f"{o.crashes} vignettes raised an error.\n",
        "*Top-1*: the first condition is the vignette's diagnosis; *lenient*: or one a clinician "
        "would also accept; *top-3*: the diagnosis is among the first three. *Triage ok*: the "
        "level is one a clinician would accept; *under*/*over*: below/above every acceptable "
        "level. *Brier*: of the top probability against top-1 correctness (lower is better).\n",
    ]
    rows = []
    for g in (*report.groups, o):
        name = "**overall**" if g is o else esc(g.group)
        rows.append([name, str(g.n), _pct(g.top1), _pct(g.top1_lenient), _pct(g.top3),
                     _pct(g.triage_exact), _pct(g.triage_acceptable), _pct(g.under_triage),
                     _pct(g.over_triage), "-" if g.brier != g.brier else f"{g.brier:.3f}"])
    out.append(table(["Group", "n", "Top-1", "Top-1 lenient", "Top-3", "Triage exact",
                      "Triage ok", "Under-triage", "Over-triage", "Brier"], rows))
    out.append("\n**Calibration of the top probability** (all vignettes)\n")
    out.append(table(["Top probability", "Vignettes", "Mean predicted", "Observed top-1"], [
        [f"{b.low:.1f}-{b.high:.1f}", str(b.count), _pct(b.mean_predicted), _pct(b.observed)]
        for b in o.reliability]))
    under = [r for r in report.results if r.under_triage]
    if under:
        out.append("\n**Under-triaged vignettes** (the assigned level was below every level a "
                   "clinician would accept; these matter most for safety)\n")
        out.append(table(["Vignette", "Expected", "Top 3", "Triage got", "Acceptable"], [
            [code(r.id), esc(", ".join(r.expected)), esc(", ".join(r.top3)), esc(r.triage_got),
             esc(", ".join(r.triage_acceptable))] for r in under]))
    return "\n".join(out)


def copy_notebooks() -> None:
    target = OUT / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for src in sorted(NOTEBOOKS.glob("*.ipynb")):
        dst = target / src.name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)


def run_cli(argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``twitchcds`` in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin, old_cwd = sys.stdin, Path.cwd()
    try:
        os.chdir(ROOT)  # paths in the pages are relative to the repository root
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv)
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)
    return status, out.getvalue(), err.getvalue()


def cli_transcript(argv: list[str], stdin: str | None = None, *, shown: str = "") -> str:
    """A shell transcript of one command: the command, its stdout, stderr and exit code."""
    status, out, err = run_cli(argv, stdin)
    lines = [f"$ {shown or 'twitchcds ' + ' '.join(argv)}", out.rstrip("\n")]
    if err:
        lines.append(err.rstrip("\n"))
    lines.append(f"$ echo $?\n{status}")
    return "\n".join(line for line in lines if line) + "\n"


BATCH_EXAMPLE = "\n".join([
    '{"id": "a", "age": 27, "findings": [{"id": "fasciculations", "status": "present"}]}',
    '{"id": "b", "age": "sixty", "findings": [{"id": "fasciculations", "status": "present"}]}',
    '{"id": "c", "labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}]}',
]) + "\n"


def batch_transcript() -> str:
    """Run the batch example through files, as a user would, and show what they would see."""
    with tempfile.TemporaryDirectory() as tmp:
        cases, out = Path(tmp) / "cases.jsonl", Path(tmp) / "out.jsonl"
        cases.write_text(BATCH_EXAMPLE, encoding="utf-8")
        status, stdout, stderr = run_cli(["batch", str(cases), "-o", str(out)])
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    lines = ["$ twitchcds batch cases.jsonl -o out.jsonl", stdout.rstrip(), stderr.rstrip(),
             f"$ echo $?\n{status}", "$ wc -l < out.jsonl", str(len(rows))]
    lines += ["$ jq -c '[.case_id, .triage.level, .differential[0].id]' out.jsonl"]
    lines += [json.dumps([r["case_id"], r["triage"]["level"], r["differential"][0]["id"]])
              for r in rows]
    return "\n".join(line for line in lines if line) + "\n"


def generate(_app: Any = None) -> None:
    kb = twitchcds.load_knowledge_base()
    pages = {
        "kb/index.md": kb_index(kb),
        "kb/conditions.md": kb_conditions(kb),
        "kb/findings.md": kb_findings(kb),
        "kb/risk-factors.md": kb_risk_factors(kb),
        "kb/tests.md": kb_tests(kb),
        "kb/red-flags.md": kb_red_flags(kb),
        "kb/derivations.md": kb_derivations(kb),
        "kb/references.md": kb_references(kb),
        "citations.md": citations_page(kb),
        "status.md": status_page(),
        "schema-case.md": schemas_page("case"),
        "schema-assessment.md": schemas_page("assessment"),
        "schema-scores.md": schemas_page("scores"),
        "evaluation.md": evaluation_page(kb),
        "labs.md": labs_table(kb, with_refs=False),
        "cli-assess.txt": run_cli(["assess", "examples/cases/benign_caffeine.json"])[1],
        "kb-validate.txt": cli_transcript(["kb", "validate"]),
        "batch-example.jsonl": BATCH_EXAMPLE,
        "batch-run.txt": batch_transcript(),
    }
    for name, text in pages.items():
        write_if_changed(OUT / name, text)
    keep = {OUT / name for name in pages} | {OUT / "evaluation-report.md"}
    keep |= {OUT / "schemas" / p.name for p in _schema_files()}
    for stale in [*OUT.glob("*.*"), *OUT.glob("kb/*.*"), *OUT.glob("schemas/*.*")]:
        if stale not in keep:
            stale.unlink()
    copy_notebooks()


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
