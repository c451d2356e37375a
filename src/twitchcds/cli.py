"""Command-line interface: ``twitchcds assess | batch | kb validate | kb export``.

Exit codes: 0 success, 1 some batch lines failed, 2 bad input (one line on stderr, no traceback).

Examples
--------
>>> main(["kb", "validate"])  # doctest: +ELLIPSIS
knowledge base ... is valid: ...
0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from twitchcds.case import Case
from twitchcds.errors import InvalidInputError, KnowledgeBaseError, TwitchCDSError
from twitchcds.knowledge.graph import to_graphml
from twitchcds.knowledge.loader import build_knowledge_base, load_knowledge_base, read_sources
from twitchcds.knowledge.validation import citation_summary, hpo_coverage, validate
from twitchcds.pipeline import assess
from twitchcds.report import render_text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from twitchcds.batch import CaseFailure

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twitchcds", description="Clinical decision support for muscle twitching. "
        "Supports clinicians; does not diagnose.")
    parser.add_argument("--kb", metavar="DIR", help="knowledge-base directory (default: built-in)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_assess = sub.add_parser("assess", help="assess one case (Case v1 JSON file, or - for stdin)")
    p_assess.add_argument("case", help="path to a Case v1 JSON file, or - for stdin")
    p_assess.add_argument("--format", choices=("text", "json", "cds-hooks", "fhir", "html"),
                          default="text",
                          help="html: one self-contained report page (no network assets; "
                               "prints on A4)")
    p_assess.add_argument("--subject", metavar="REFERENCE",
                          help="with --format fhir: the patient the RiskAssessment and "
                               "ServiceRequests are about, Patient/<id> (default: a display-only "
                               "subject naming the case id)")
    p_batch = sub.add_parser(
        "batch", help="assess a JSON-lines file of cases",
        description="Assess a JSON-lines file: one Assessment v1 JSON object per good line, in "
        "input order; each bad line is reported on stderr with its line number and the others "
        "go on (exit 1 if any failed). Work-up (tests, questions) and per-finding explanations "
        "are off by default: they cost most of the time per case. With --scores each line is "
        "a Scores v1 row (differential, scope and triage only), several times faster.")
    p_batch.add_argument("cases", help="JSONL file, one Case v1 object per line (- for stdin)")
    p_batch.add_argument("-o", "--output", help="output JSONL (default stdout)")
    p_batch.add_argument("--workers", type=int, default=1, metavar="N",
                         help="worker processes (default 1: this process)")
    p_batch.add_argument("--dask", metavar="ADDRESS",
                         help="run on the Dask scheduler at ADDRESS (needs twitchcds[dask])")
    p_batch.add_argument("--workup", action=argparse.BooleanOptionalAction, default=False,
                         help="rank tests and next questions (default: no, for speed)")
    p_batch.add_argument("--explain", action=argparse.BooleanOptionalAction, default=False,
                         help="per-finding evidence weights (default: no, for speed)")
    p_batch.add_argument("--scores", action="store_true",
                         help="write Scores v1 rows: differential, scope and triage only")
    p_batch.add_argument("--chunksize", type=int, default=None, metavar="N",
                         help="cases assessed together (default 64, with --scores 1024; "
                              "larger is faster per case, each chunk's differentials being "
                              "one inference)")
    p_batch.add_argument("--no-progress", dest="progress", action="store_false",
                         help="no progress bar (it shows only when stderr is a terminal)")
    p_eval = sub.add_parser("evaluate", help="measure the knowledge base on cited vignettes")
    p_eval.add_argument("directory", help="folder of vignette JSON files (evaluation/vignettes)")
    p_eval.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p_eval.add_argument("--sensitivity-runs", type=int, default=0, metavar="N",
                        help="also perturb link probabilities by +-50%% N times")
    p_serve = sub.add_parser("serve", help="run the CDS Hooks service (loopback by default)")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--cors-origin", action="append", default=[],
                         help="allow this browser origin (repeatable)")
    p_serve.add_argument("--report-pages", type=int, default=0, metavar="N",
                         help="keep the report pages of the last N cards in memory and link "
                              "each card to its page (default 0: off)")
    p_serve.add_argument("--report-ttl", type=float, default=600.0, metavar="SECONDS",
                         help="how long a report page is kept (default 600)")
    auth = p_serve.add_argument_group(
        "authentication", "CDS Hooks JWT checks (required beyond loopback; see the deployment "
        "guide). Options override the file's settings.")
    auth.add_argument("--auth-config", metavar="FILE",
                      help="TOML file: public_url, trusted issuers and their JWK Sets, rules")
    auth.add_argument("--public-url", metavar="URL",
                      help="the URL the EHR calls (token aud = URL + route)")
    auth.add_argument("--trust", nargs=2, action="append", default=[], metavar=("ISS", "JWKS"),
                      help="trust issuer ISS with keys from JWKS, an https:// JWK Set URL or a "
                           "file (repeatable)")
    auth.add_argument("--algorithm", action="append", default=[], metavar="ALG",
                      help="accept this alg (repeatable; default ES384 and RS384)")
    auth.add_argument("--clock-skew", type=float, metavar="SECONDS",
                      help="tolerance for exp/iat/nbf (default 60)")
    auth.add_argument("--audit-log", metavar="FILE",
                      help="append one line per call (who, what, when, outcome; no patient data)")
    auth.add_argument("--insecure-no-auth", action="store_true",
                      help="serve beyond loopback WITHOUT authentication (development only)")
    p_kb = sub.add_parser("kb", help="knowledge-base tools")
    kb_sub = p_kb.add_subparsers(dest="kb_command", required=True)
    p_validate = kb_sub.add_parser("validate", help="validate a knowledge-base directory")
    p_validate.add_argument("dir", nargs="?", help="directory (default: built-in)")
    p_export = kb_sub.add_parser("export", help="export the knowledge graph")
    p_export.add_argument("--format", choices=("json", "graphml"), default="json")
    return parser


def _read_case(source: str) -> Case:
    if source == "-":
        return Case.from_json(sys.stdin.read())
    return Case.from_json(Path(source))


def _assess(args: argparse.Namespace, out: TextIO) -> int:
    if args.subject is not None and args.format != "fhir":
        raise InvalidInputError("invalid input: --subject needs --format fhir",
                                path="--subject", value=args.subject)
    if args.subject is not None:
        from twitchcds.interop.fhir import subject_reference  # noqa: PLC0415

        subject_reference(args.subject)  # bad values exit 2 before any work
    kb = load_knowledge_base(args.kb)
    result = assess(_read_case(args.case), kb)
    if args.format == "text":
        out.write(render_text(result))
    elif args.format == "json":
        out.write(result.to_json() + "\n")
    elif args.format == "html":
        out.write(result.to_html())
    elif args.format == "fhir":
        from twitchcds.interop.fhir import assessment_to_fhir  # noqa: PLC0415  (optional extra)

        bundle = assessment_to_fhir(result, subject=args.subject)
        out.write(json.dumps(bundle, indent=2) + "\n")
    else:
        from twitchcds.interop.cds_hooks import cards  # noqa: PLC0415  (optional extra)

        hook = result.case_id or "twitchcds-cli"
        out.write(json.dumps({"cards": cards(result, hook_instance=hook)}, indent=2) + "\n")
    return 0


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from twitchcds.interop._auth_config import build_auth_config  # noqa: PLC0415
    from twitchcds.interop.cds_hooks import serve  # noqa: PLC0415  (optional extra)

    del out
    auth = build_auth_config(args.auth_config, public_url=args.public_url, trust=args.trust,
                             algorithms=args.algorithm, clock_skew_seconds=args.clock_skew)
    if args.insecure_no_auth and auth is None:
        sys.stderr.write("twitchcds: warning: authentication is OFF (--insecure-no-auth): "
                         "any caller that reaches this port is served\n")
    serve(args.host, args.port, kb=load_knowledge_base(args.kb), cors_origins=args.cors_origin,
          auth=auth, insecure_no_auth=args.insecure_no_auth, audit_log=args.audit_log,
          report_pages=args.report_pages, report_ttl_seconds=args.report_ttl)
    return 0


def _progress(args: argparse.Namespace) -> Any:
    """Return a tqdm bar on stderr, or None when off, not a terminal, or tqdm is missing."""
    if not (args.progress and sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm  # noqa: PLC0415
    except ImportError:
        sys.stderr.write("twitchcds: no progress bar without tqdm "
                         "(pip install 'twitchcds[batch]')\n")
        return None
    total = None
    if args.cases != "-":
        with Path(args.cases).open(encoding="utf-8") as lines:
            total = sum(1 for line in lines if line.strip())
    return tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)


def _write_results(results: Iterable[tuple[int, str | CaseFailure]], target: TextIO,
                   bar: Any) -> int:
    """Write assessments to ``target`` and failures to stderr; return the number failed."""
    from twitchcds.batch import CaseFailure  # noqa: PLC0415

    failed = 0
    for number, result in results:
        if isinstance(result, CaseFailure):
            failed += 1
            message = f"line {number}: {result.error}"
            if bar is not None:  # keeps the bar intact below the message
                bar.write(message, file=sys.stderr)
            else:
                sys.stderr.write(message + "\n")
        else:
            target.write(result + "\n")
        if bar is not None:
            bar.update()
    return failed


def _batch(args: argparse.Namespace, out: TextIO) -> int:
    from twitchcds.batch import assess_jsonl  # noqa: PLC0415

    if args.workers < 1:
        raise InvalidInputError("invalid input: --workers must be at least 1",
                                path="--workers", value=args.workers)
    if args.dask and args.workers > 1:
        raise InvalidInputError("invalid input: give --workers or --dask, not both",
                                path="--dask", value=args.dask)
    kb = load_knowledge_base(args.kb)
    failed = 0
    source = sys.stdin if args.cases == "-" else Path(args.cases).open(encoding="utf-8")  # noqa: SIM115
    bar = None
    try:
        target = Path(args.output).open("w", encoding="utf-8") if args.output else out  # noqa: SIM115
        try:
            bar = _progress(args)
            chunksize = (args.chunksize if args.chunksize is not None
                         else 1024 if args.scores else 64)
            results = assess_jsonl(source, kb, workers=args.workers, dask=args.dask,
                                   chunksize=chunksize, scores=args.scores,
                                   workup=args.workup, explain=args.explain)
            failed = _write_results(results, target, bar)
        finally:
            if target is not out:
                target.close()
    finally:
        if bar is not None:
            bar.close()
        if source is not sys.stdin:
            source.close()
    return 1 if failed else 0


def _hpo_line(cov: dict[str, int]) -> str:
    raw = cov["coded"] / cov["findings"] if cov["findings"] else 0.0
    pheno = cov["phenotype_coded"] / cov["phenotype"] if cov["phenotype"] else 0.0
    return (f"HPO codes on {cov['coded']}/{cov['findings']} findings ({raw:.0%}), "
            f"{cov['phenotype_coded']}/{cov['phenotype']} ({pheno:.0%}) of phenotype findings "
            "(not computed from a lab value, history field or genotype)")


def _kb_validate(args: argparse.Namespace, out: TextIO) -> int:
    directory = args.dir or args.kb
    try:
        kb = build_knowledge_base(read_sources(directory))
    except KnowledgeBaseError as exc:
        for problem in exc.problems:
            out.write(f"error {problem}\n")
        out.write(f"knowledge base has {len(exc.problems)} errors\n")
        return 2
    issues = validate(kb)
    for issue in issues:
        out.write(f"{issue}\n")
    errors = sum(i.severity == "error" for i in issues)
    summary = citation_summary(kb)
    share = summary["published"] / summary["numbers"] if summary["numbers"] else 0.0
    status = "is valid" if not errors else f"has {errors} errors"
    out.write(f"knowledge base {kb.version} {status}: {len(kb.conditions)} conditions, "
              f"{len(kb.findings)} findings, {len(kb.links)} links, {len(kb.tests)} tests, "
              f"{len(kb.red_flags)} red flags, {len(kb.references)} references; "
              f"{summary['published']}/{summary['numbers']} numbers ({share:.1%}) cite a "
              f"published source, {summary['expert_estimate']} are expert estimates; "
              f"{_hpo_line(hpo_coverage(kb))}\n")
    return 2 if errors else 0


def _evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from twitchcds.evaluation import evaluate, load_vignettes, sensitivity  # noqa: PLC0415

    kb = load_knowledge_base(args.kb)
    vignettes = load_vignettes(args.directory)
    report = evaluate(vignettes, kb, workup=True, explain=False)
    runs = args.sensitivity_runs
    extra = sensitivity(vignettes, kb, runs=runs) if runs else None
    if args.format == "markdown":
        out.write(report.to_markdown() + (extra.to_markdown() if extra else "") + "\n")
    else:
        data = report.to_dict()
        if extra:
            data["sensitivity"] = extra.to_dict()
        out.write(json.dumps(data, indent=2) + "\n")
    return 1 if report.crashes else 0


def _kb_export(args: argparse.Namespace, out: TextIO) -> int:
    kb = load_knowledge_base(args.kb)
    if args.format == "json":
        out.write(json.dumps(kb.to_node_link(), indent=1, sort_keys=True) + "\n")
    else:
        out.write(to_graphml(kb))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "assess": _assess, "batch": _batch, "evaluate": _evaluate, "serve": _serve,
    "kb validate": _kb_validate, "kb export": _kb_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    name = f"kb {args.kb_command}" if args.command == "kb" else args.command
    try:
        return _COMMANDS[name](args, sys.stdout)
    except TwitchCDSError as exc:
        sys.stderr.write(f"twitchcds: {str(exc).splitlines()[0]}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"twitchcds: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 2
