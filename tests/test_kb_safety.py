"""Knowledge-base safety: a knowledge base that could silently mislead is refused at load time.

Each row edits one thing in a copy of ``tests/data/mini_kb`` and expects ``load_knowledge_base``
(and ``twitchcds kb validate``) to refuse it, naming ``file:key`` and the problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MINI_KB_DIR, copy_mini_kb, edit_text
from twitchcds import KnowledgeBase, KnowledgeBaseError, assess, load_knowledge_base
from twitchcds.cli import main
from twitchcds.compiled import compile_model
from twitchcds.priors import adjust_odds, case_priors

_LINK = 'probability = 0.9, references = ["test_expert"]'
_EMG = "emg_denervation = {"
_HISTORY_EXTRA = '''
[[history]]
field = "{field}"
finding = "cramps"
{criterion}
references = ["test_source"]
'''

UNSAFE = [
    # columns: id, file, old, new, path prefix, words in the message
    # -- broken references -------------------------------------------------------------------
    ("unknown-reference", "links.toml", _LINK, 'probability = 0.9, references = ["nope"]',
     "links.toml:links.benign_twitch.twitching", "unknown reference 'nope'"),
    ("unknown-prior-reference", "conditions.toml", 'prior_references = ["test_expert"]',
     'prior_references = ["gone"]', "conditions.toml:conditions.benign_twitch.prior_references",
     "'gone'"),
    ("expert-estimate-without-note", "references.toml",
     'note = "Round numbers chosen to make test expectations easy to reason about."', "",
     "references.toml:references.test_expert.note", "reasoning"),
    ("published-without-doi", "references.toml", 'doi = "10.0000/example"', "",
     "references.toml:references.test_source", "doi or url"),
    # -- probabilities that make evidence impossible or certain ------------------------------
    ("link-probability-one", "links.toml", _LINK, 'probability = 1, references = ["test_expert"]',
     "links.toml:links.benign_twitch.twitching", "(0, 1)"),
    ("link-probability-zero", "links.toml", _LINK,
     'probability = 0.0, references = ["test_expert"]',
     "links.toml:links.benign_twitch.twitching", "(0, 1)"),
    ("leak-zero", "findings.toml", "leak = 0.05", "leak = 0",
     "findings.toml:findings.twitching", "leak must be in (0, 1)"),
    ("leak-one", "findings.toml", "leak = 0.05", "leak = 1.0",
     "findings.toml:findings.twitching", "leak must be in (0, 1)"),
    ("prior-zero", "conditions.toml", "primary-care = 0.05", "primary-care = 0.0",
     "conditions.toml:conditions.low_k", "(0, 1)"),
    ("prior-one", "conditions.toml", "primary-care = 0.01", "primary-care = 1",
     "conditions.toml:conditions.motor_neuron", "(0, 1)"),
    ("prior-nan", "conditions.toml", "primary-care = 0.01", "primary-care = nan",
     "conditions.toml:conditions.motor_neuron", "nan"),
    ("odds-ratio-zero", "risk_factors.toml", "odds_ratio = 4.0", "odds_ratio = 0.0",
     "risk_factors.toml:risk_factors.diuretic_use", "positive"),
    ("odds-ratio-infinite", "risk_factors.toml", "odds_ratio = 4.0", "odds_ratio = inf",
     "risk_factors.toml:risk_factors.diuretic_use", "finite"),
    # -- red flags and triage levels ---------------------------------------------------------
    ("red-flag-without-level", "red_flags.toml", 'level = "soon"\n', "",
     "red_flags.toml:red_flags.weakness_with_twitching.level", "required"),
    ("red-flag-unknown-level", "red_flags.toml", 'level = "soon"', 'level = "asap"',
     "red_flags.toml:red_flags.weakness_with_twitching", "asap"),
    ("red-flag-level-number", "red_flags.toml", 'level = "soon"', "level = 3",
     "red_flags.toml:red_flags.weakness_with_twitching", "3"),
    ("red-flag-no-findings", "red_flags.toml", 'all_of = ["twitching", "weakness"]', "",
     "red_flags.toml:red_flags.weakness_with_twitching", "all_of or any_of"),
    ("red-flag-unknown-finding", "red_flags.toml", 'all_of = ["twitching", "weakness"]',
     'all_of = ["twitching", "paralysis"]', "red_flags.toml:red_flags.weakness_with_twitching",
     "'paralysis'"),
    ("red-flag-names-a-condition", "red_flags.toml", 'all_of = ["twitching", "weakness"]',
     'all_of = ["motor_neuron"]', "red_flags.toml:red_flags.weakness_with_twitching",
     "'motor_neuron'"),
    ("red-flag-unknown-test", "red_flags.toml", 'tests = ["emg"]', 'tests = ["pet_scan"]',
     "red_flags.toml:red_flags.weakness_with_twitching.tests", "unknown test 'pet_scan'"),
    ("escalation-unknown-level", "conditions.toml", 'level = "urgent"', 'level = "now"',
     "conditions.toml:conditions.motor_neuron.escalations[0].level", "now"),
    # -- cycles and kind confusions the layered model forbids --------------------------------
    ("condition-id-reused-as-finding", "findings.toml", "[findings.emg_denervation]",
     "[findings.low_k]\nname = \"x\"\nkind = \"sign\"\nleak = 0.1\n"
     "leak_references = [\"test_expert\"]\n\n[findings.emg_denervation]",
     "findings.toml:low_k", "unique"),
    ("test-id-reused-as-condition", "tests.toml", "[tests.electrolyte_panel]",
     "[tests.low_k]\nname = \"x\"\nreveals = [\"low_potassium\"]\ncost = 1\n"
     "cost_references = [\"test_expert\"]\n\n[tests.electrolyte_panel]",
     "tests.toml:low_k", "unique"),
    ("link-from-finding-to-finding", "links.toml", "[links.motor_neuron]",
     "[links.twitching]\nweakness = { probability = 0.5, references = [\"test_source\"] }\n\n"
     "[links.motor_neuron]", "links.toml:links.twitching.weakness", "unknown condition"),
    ("link-from-condition-to-condition", "links.toml", _EMG,
     'low_k = { probability = 0.5, references = ["test_source"] }\n' + _EMG,
     "links.toml:links.motor_neuron.low_k", "unknown finding 'low_k'"),
    ("link-to-itself", "links.toml", _EMG,
     'motor_neuron = { probability = 0.5, references = ["test_source"] }\n' + _EMG,
     "links.toml:links.motor_neuron.motor_neuron", "unknown finding"),
    ("test-reveals-a-condition", "tests.toml", 'reveals = ["emg_denervation"]',
     'reveals = ["motor_neuron"]', "tests.toml:tests.emg.reveals", "'motor_neuron'"),
    ("risk-factor-modifies-a-finding", "risk_factors.toml",
     'condition = "low_k", odds_ratio = 4.0', 'condition = "cramps", odds_ratio = 4.0',
     "risk_factors.toml:risk_factors.diuretic_use.effects", "'cramps'"),
    ("hpo-map-to-a-condition", "hpo_map.tsv", "HP:0003484\tpresent\tweakness",
     "HP:0003484\tpresent\tmotor_neuron", "hpo_map.tsv:HP:0003484", "'motor_neuron'"),
    ("lab-band-to-unknown-finding", "derivations.toml", 'finding = "low_potassium"',
     'finding = "low_k"', "derivations.toml:labs.potassium.bands[0]", "'low_k'"),
    # -- derivations that would silently never (or always) fire --------------------------------
    ("band-threshold-nan", "derivations.toml", "below = 3.5", "below = nan",
     "derivations.toml:labs.potassium.bands[0].below", "finite"),
    ("band-threshold-outside-plausible-range", "derivations.toml", "below = 3.5",
     "below = -3.5", "derivations.toml:labs.potassium.bands[0]", "plausible range"),
    ("plausible-range-inverted", "derivations.toml", "plausible_min = 0.5",
     "plausible_min = 20.0", "derivations.toml:labs.potassium", "plausible_min"),
    ("lab-unit-unknown", "derivations.toml", 'unit = "mmol/L"', 'unit = "furlong"',
     "derivations.toml:labs.potassium.unit", "'furlong'"),
    ("lab-molar-mass-zero", "derivations.toml", "molar_mass = 39.098", "molar_mass = 0",
     "derivations.toml:labs.potassium.molar_mass", "positive"),
    ("lab-valence-zero", "derivations.toml", "valence = 1", "valence = 0",
     "derivations.toml:labs.potassium.valence", "zero"),
    ("loinc-claimed-twice", "derivations.toml", "[[history]]",
     '[labs.potassium_again]\nname = "K"\nloinc = ["2823-3"]\nunit = "mmol/L"\nbands = [{ '
     'finding = "low_potassium", below = 3.0, references = ["test_source"] }]\n\n[[history]]',
     "derivations.toml:labs.potassium_again.loinc", "already used"),
    ("finding-code-claimed-twice", "findings.toml", 'codes = ["HP:0001324"]',
     'codes = ["HP:0002380"]', "findings.toml:findings.weakness.codes", "already"),
    ("history-rule-without-criterion", "derivations.toml", "at_least = 400\n", "",
     "derivations.toml:history[0]", "exactly one"),
    ("history-rule-two-criteria", "derivations.toml", "at_least = 400", "at_least = 400\n"
     "below = 100", "derivations.toml:history[0]", "exactly one"),
    ("history-flag-rule-on-a-number", "derivations.toml", "at_least = 400", "equals = true",
     "derivations.toml:history[0]", "'at_least' or 'below'"),
    ("history-number-rule-on-a-flag", "derivations.toml", "[[history]]",
     _HISTORY_EXTRA.format(field="painful", criterion="at_least = 1") + "\n[[history]]",
     "derivations.toml:history[0]", "'equals'"),
    ("history-rule-unknown-field", "derivations.toml", 'field = "caffeine_mg_per_day"',
     'field = "coffee_cups"', "derivations.toml:history[0]", "'coffee_cups'"),
    ("age-band-inverted", "risk_factors.toml", "age_min = 60", "age_min = 60\nage_max = 40",
     "risk_factors.toml:risk_factors.age_over_60", "age_min must be below age_max"),
    ("risk-factor-unknown-medication-class", "risk_factors.toml",
     'medication_class = "diuretics"', 'medication_class = "diuretix"',
     "risk_factors.toml:risk_factors.diuretic_use.medication_class", "'diuretix'"),
    # -- malformed files: the file, the key and the problem --------------------------------------
    ("toml-syntax-error", "links.toml", "[links.low_k]", "[links.low_k",
     "links.toml", "TOML syntax error"),
    ("history-as-table", "derivations.toml", "[[history]]", "[history]",
     "derivations.toml:history", "array of tables"),
    ("malformed-finding-code", "findings.toml", 'codes = ["HP:0002380"]', 'codes = ["HP:12"]',
     "findings.toml:findings.twitching.codes", "malformed code 'HP:12'"),
    ("malformed-hpo-term", "hpo_map.tsv", "HP:0003690", "HP:36",
     "hpo_map.tsv:HP:36", "malformed HPO term"),
    ("hpo-map-short-row", "hpo_map.tsv", "HP:0003690\tabsent\tweakness", "HP:0003690\tabsent",
     "hpo_map.tsv:row 2", "expected"),
    ("decision-table-missing", "meta.toml", "[decision]", "[decisions]",
     "meta.toml:decision", "required"),
    ("references-as-bare-string", "links.toml", _LINK,
     'probability = 0.9, references = "test_expert"',
     "links.toml:links.benign_twitch.twitching.references", "list of strings"),
]


@pytest.mark.parametrize(("file", "old", "new", "path", "words"),
                         [row[1:] for row in UNSAFE], ids=[row[0] for row in UNSAFE])
def test_unsafe_knowledge_base_is_refused(tmp_path: Path, file: str, old: str, new: str,
                                          path: str, words: str) -> None:
    """An unsafe edit makes load_knowledge_base raise an error naming file, key and problem."""
    directory = copy_mini_kb(tmp_path)
    edit_text(directory / file, old, new)
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(directory)
    hits = [p for p in info.value.problems if p.path.startswith(path)]
    assert hits, [str(p) for p in info.value.problems]
    assert any(words in str(p) for p in hits), [str(p) for p in hits]


@pytest.mark.parametrize("row", UNSAFE[::6], ids=[row[0] for row in UNSAFE[::6]])
def test_kb_validate_cli_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 row: tuple[str, ...]) -> None:
    """``twitchcds kb validate DIR`` exits 2 and names the problem for an unsafe knowledge base."""
    _, file, old, new, path, _words = row
    directory = copy_mini_kb(tmp_path)
    edit_text(directory / file, old, new)
    assert main(["kb", "validate", str(directory)]) == 2
    out = capsys.readouterr().out
    assert path.split(":")[0] in out


def test_mini_and_builtin_knowledge_bases_pass_the_new_checks() -> None:
    """The fixture and built-in knowledge bases pass every safety check."""
    assert load_knowledge_base(MINI_KB_DIR).version == "test-1"
    assert load_knowledge_base().conditions


def test_node_link_reader_applies_the_same_checks(mini_kb: KnowledgeBase) -> None:
    """from_node_link refuses a network whose red flag names an unknown test."""
    data = mini_kb.to_node_link()
    for node in data["nodes"]:
        if node.get("kind") == "red_flag":
            node["tests"] = ["pet_scan"]
    with pytest.raises(KnowledgeBaseError, match="unknown test 'pet_scan'"):
        KnowledgeBase.from_node_link(data)


@pytest.mark.parametrize("odds_ratio", [1e-300, 1e-200, 1e200, 1e300])
def test_extreme_odds_ratios_keep_priors_in_range(tmp_path: Path, odds_ratio: float) -> None:
    """Extreme finite positive odds ratios give priors strictly inside (0, 1), no overflow."""
    directory = copy_mini_kb(tmp_path)
    edit_text(directory / "risk_factors.toml", "odds_ratio = 3.0", f"odds_ratio = {odds_ratio!r}")
    edit_text(directory / "risk_factors.toml", "odds_ratio = 5.0", f"odds_ratio = {odds_ratio!r}")
    kb = load_knowledge_base(directory)
    priors = case_priors(compile_model(kb), None, ["age_over_60", "family_history_mnd"])
    assert all(0.0 < p < 1.0 for p in priors.adjusted)
    result = assess({"age": 70, "history": {"family_history_motor_neuron_disease": True},
                     "findings": [{"id": "twitching", "status": "present"}]}, kb)
    assert all(0.0 <= row.probability <= 1.0 for row in result.differential)


def test_adjust_odds_survives_extremes() -> None:
    """adjust_odds never overflows and stays strictly inside (0, 1)."""
    for p in (1e-300, 1e-12, 0.5, 1 - 1e-12):
        for ratio in (1e-308, 1e-100, 0.5, 2.0, 1e100, 1e308):
            assert 0.0 < adjust_odds(p, ratio) < 1.0
