"""Sphinx configuration for the twitchcds documentation.

Build (from the repository root, offline; warnings are errors)::

    pip install -e ".[docs]"
    sphinx-build -n -W --keep-going -b html    docs docs/_build/html
    sphinx-build -n -W --keep-going -b doctest docs docs/_build/doctest

The notebooks in ``examples/notebooks/`` are copied into ``docs/_generated/notebooks/`` and
executed by myst-nb during the build (``nb_execution_mode = "cache"``; the cache lives in
``docs/_build/.jupyter_cache``, shared by both builders, so the second build does not run them
again). A failing notebook cell fails the build. The knowledge-base reference, the citation share,
the CLI help, the feature status and the format schemas are generated from the installed package
by ``docs/_ext/twitchcds_docs.py`` at every build. No network is used: intersphinx is not
enabled and nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docutils.nodes import Element, Node
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import twitchcds_docs  # noqa: E402

import twitchcds  # noqa: E402  (after the path set-up)

project = "twitchcds"
author = "twitchcds developers"
copyright = "twitchcds developers"
release = twitchcds.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "myst_nb",  # includes myst_parser
    "sphinxarg.ext",
    "twitchcds_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
# ``_generated/*.md`` are fragments pulled into pages with ``{include}``, not pages of their own.
exclude_patterns = ["_build", "README.md", "**/.ipynb_checkpoints", "_generated/*.md"]
nitpicky = True

# Features that exist in this version switch pages between "how to" and "planned" text
# (``{only}`` blocks); the same checks feed the generated feature-status table.
for _tag in twitchcds_docs.available_feature_tags():
    tags.add(_tag)  # type: ignore[name-defined]  # noqa: F821  (Sphinx injects ``tags``)

# -- MyST ----------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "fieldlist"]
myst_heading_anchors = 3

# -- myst-nb: notebooks run at build time, outputs never stored in the repository ------------------
nb_execution_mode = "cache"
nb_execution_timeout = 60
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# -- autodoc / napoleon (numpydoc-style docstrings) ---------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True
napoleon_preprocess_types = False

# Names from other projects cannot be resolved without intersphinx (disabled: no network).
# Only *external* targets are ignored; a broken reference to twitchcds itself is still an error.
nitpick_ignore_regex = [
    (r"py:.*", r"(typing|typing_extensions|collections\.abc|types|os|pathlib|io|json)\..*"),
    (r"py:.*", r"(concurrent|datetime|pickle|distributed|dask|pd|pandas)(\..*)?"),
    (r"py:.*", r"(Client|DataFrame|ErrorMode)"),
    (r"py:.*", r"(numpy|npt|np|networkx|nx|attrs|attr|cattrs|pint)(\..*)?"),
    (r"py:.*", r"(Any|Self|Literal|TypeAlias|Final|Iterable|Iterator|Mapping|Sequence|Callable)"),
    (r"py:.*", r"(NDArray|ArrayLike|DiGraph|Path|PathLike|Traversable|MappingProxyType)"),
    (r"py:.*", r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|None)"),
    (r"py:.*", r"(Exception|ValueError|TypeError|BaseException)"),
    # numpydoc type phrases ("str, optional", "iterable of str", "{'exact', 'approximate'}",
    # "default True", "array_like, shape (n,)") are prose, not class names.
    (r"py:class", r"(optional|iterable|mapping|sequence|array_like|path-like|ndarray|float64)"),
    (r"py:class", r"(default .*|shape|finding id|status|.*['\"{}].*)"),
    # the batch layer's bounded memo handed to pipeline.run_many (private; users pass None)
    (r"py:class", r"twitchcds\._lru\.Lru"),
    (r"py:class", r"n_[a-z_]+"),  # array dimensions in "shape (n_rows, n_conditions)"
]

# -- doctest --------------------------------------------------------------------------------------
# Docstring examples are run by pytest (--doctest-modules); here only the pages' own
# ``{doctest}`` blocks run, so that each page's examples are checked where readers see them.
doctest_test_doctest_blocks = ""
doctest_global_setup = "import twitchcds"

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"twitchcds {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


def _escape_bars(app: Sphinx, what: str, name: str, obj: object,  # noqa: PLR0917
                 options: object, lines: list[str]) -> None:
    """TODO(lead): src/twitchcds/explanation.py, ``explain`` docstring: "by decreasing |weight|"
    is a reST substitution reference; write ````|weight|```` or "absolute weight" and drop this.
    """
    if name == "twitchcds.explanation.explain":
        lines[:] = [line.replace("|weight|", "``|weight|``") for line in lines]


def _public_name(app: Sphinx, env: BuildEnvironment, node: Element,
                 contnode: Node) -> Node | None:
    """Resolve a bare public name (``:class:`Assessment``` written inside another module) to
    ``twitchcds.<name>``; only names in ``twitchcds.__all__`` qualify, anything else stays an
    error under ``-n``."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or "." in target or target not in twitchcds.__all__:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                             f"twitchcds.{target}", node, contnode)


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _escape_bars)
    app.connect("missing-reference", _public_name)
