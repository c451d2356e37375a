"""Lab unit conversion: UCUM spellings in, pint for the arithmetic.

Lab results arrive as value + UCUM unit (``mmol/L``, ``mg/dL``, ``mEq/L``, ``m[IU]/L``, ...) and
the knowledge base states each analyte's threshold in one canonical unit. This module parses the
unit, checks that it is one the library understands, and converts with :mod:`pint`. Mass and
amount-of-substance units are bridged by the analyte's molar mass, amount and equivalents by its
valence; nothing else crosses a dimension.

Examples
--------
>>> round(convert_lab_value(2.43, "mg/dL", "mmol/L", molar_mass=24.305), 3)
1.0
>>> convert_lab_value(4.2, "mEq/L", "mmol/L", valence=1)
4.2
>>> convert_lab_value(1.0, "kg", "mmol/L", path="$.labs[0].unit")
Traceback (most recent call last):
...
twitchcds.errors.UnitConversionError: cannot convert unit 'kg' to mmol/L @ $.labs[0].unit: ...

Notes
-----
The registry is a small pint :class:`~pint.UnitRegistry` holding only the units of lab
medicine listed in ``_DEFINITIONS`` (no default pint definitions, so no surprising aliases such as
``U`` for an atomic mass unit). It is built once, on first use, and never mutated afterwards.
International units (``[IU]``) are a dimension of their own: they are defined per analyte by a
WHO reference preparation, so they never convert to mass, amount or enzyme units (``U``).
Percentages never convert to other dimensionless units: ``%`` and ``mmol/mol`` for HbA1c (NGSP
and IFCC) are related by a master equation, not by a factor.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from typing import Any, Final

from twitchcds.errors import Problem, UnitConversionError

__all__ = ["convert_lab_value", "normalise_unit"]

_DEFINITIONS: Final[tuple[str, ...]] = (
    "gram = [mass] = g",
    "meter = [length] = m",
    "second = [time] = s",
    "mole = [substance] = mol",
    # Equivalents get their own dimension so that mmol <-> meq needs the analyte's valence.
    "equivalent = [equivalent] = eq = Eq",
    "international_unit = [international_unit] = IU",
    "minute = 60 * second = min",
    "liter = decimeter ** 3 = l = L",
    # UCUM: the enzyme unit U is 1 umol/min.
    "enzyme_unit = micromole / minute = U",
    "percent = 0.01 = pct",
    # Vital signs: pressure gets its own dimension (only mm[Hg] is read), temperatures are
    # offset units (UCUM Cel and [degF]; pint converts offsets only between single units).
    "millimeter_of_mercury = [pressure] = mmHg",
    "kelvin = [temperature] = K",
    "degree_Celsius = kelvin; offset: 273.15 = Cel",
    "degree_Fahrenheit = 5 / 9 * kelvin; offset: 233.15 + 200 / 9 = degF",
    "kilo- = 1e3 = k-",
    "deci- = 1e-1 = d-",
    "centi- = 1e-2 = c-",
    "milli- = 1e-3 = m-",
    "micro- = 1e-6 = u- = µ- = μ-",
    "nano- = 1e-9 = n-",
    "pico- = 1e-12 = p-",
    "femto- = 1e-15 = f-",
)

#: One UCUM component: an atom (``mmol``, ``m[IU]``, ``%``) with an optional integer exponent.
_COMPONENT: Final = re.compile(r"([A-Za-zµμ]*\[(?:IU|Hg|degF)\]|[A-Za-zµμ]+|%)(-?[1-9])?")
_UNIT_SYNTAX: Final = re.compile(
    r"/?(?:[A-Za-zµμ]*\[(?:IU|Hg|degF)\]|[A-Za-zµμ]+|%)(?:-?[1-9])?"
    r"(?:[./](?:[A-Za-zµμ]*\[(?:IU|Hg|degF)\]|[A-Za-zµμ]+|%)(?:-?[1-9])?)*",
)
_MAX_UNIT_CHARS: Final = 40
_EXPECTED: Final = "e.g. mmol/L, mg/dL, mEq/L, m[IU]/L, U/L, %"
#: Bracketed UCUM atoms and their names in the pint registry.
_BRACKETED: Final = {"[IU]": "IU", "mm[Hg]": "mmHg", "[degF]": "degF"}
_LITERS: Final = frozenset({"l", "dl", "cl", "ml", "ul", "nl", "pl", "fl"})


_REGISTRY_LOCK: Final = threading.Lock()
_REGISTRY: list[Any] = []  # holds the one registry once built


def _registry() -> Any:
    """Return the unit registry, building it on first use (pint is slow to import).

    A lock makes sure concurrent first calls share one registry: pint refuses to combine units
    of different registries.
    """
    if not _REGISTRY:
        with _REGISTRY_LOCK:
            if not _REGISTRY:
                import pint  # noqa: PLC0415  (deferred: importing pint takes about half a second)

                registry: Any = pint.UnitRegistry(None, on_redefinition="raise",
                                                  cache_folder=None)
                for line in _DEFINITIONS:
                    registry.define(line)
                _REGISTRY.append(registry)
    return _REGISTRY[0]


def _fail(unit: object, to_unit: str, path: str, reason: str) -> UnitConversionError:
    problem = Problem(path, f"cannot convert unit {unit!r} to {to_unit}: {reason}", unit)
    return UnitConversionError(f"cannot convert unit {unit!r} to {to_unit} @ {path}: {reason}",
                               path=path, value=unit, problems=[problem])


def _canonical_atom(atom: str) -> str:
    atom = atom.replace("µ", "u").replace("μ", "u")
    if atom.lower() in _LITERS:
        return atom[:-1] + "L"
    if atom.endswith("Eq"):
        return atom[:-2] + "eq"
    if atom.endswith("IU") and not atom.endswith("[IU]"):
        return atom[:-2] + "[IU]"
    if atom == "mmHg":  # common non-UCUM spelling of mm[Hg]
        return "mm[Hg]"
    return atom


def _parse(unit: object) -> tuple[str, Any]:
    """Return (canonical UCUM spelling, pint unit) or raise ``ValueError`` with the reason."""
    if not isinstance(unit, str):
        msg = "a unit must be a string"
        raise ValueError(msg)  # callers report it as a UnitConversionError
    return _parse_text(unit)


#: A UCUM annotation (``{beats}/min``): a label with no effect on the unit.
_ANNOTATION: Final = re.compile(r"\{[A-Za-z0-9 _'.-]{1,20}\}")


@functools.lru_cache(maxsize=512)
def _parse_text(unit: str) -> tuple[str, Any]:
    unit = _ANNOTATION.sub("", unit)
    if not unit or len(unit) > _MAX_UNIT_CHARS or not _UNIT_SYNTAX.fullmatch(unit):
        msg = f"not UCUM syntax ({_EXPECTED})"
        raise ValueError(msg)
    canonical: list[str] = []
    pint_text: list[str] = ["1"]
    operator = "*"
    for piece in re.split(r"([./])", unit):
        if piece in {".", "/"}:
            operator = "*" if piece == "." else "/"
            canonical.append(piece)
            continue
        if not piece:  # a leading "/" (UCUM "/L")
            continue
        match = _COMPONENT.fullmatch(piece)
        if match is None:  # pragma: no cover - excluded by _UNIT_SYNTAX
            raise ValueError(piece)
        atom, exponent = match.group(1), match.group(2)
        canonical.append(_canonical_atom(atom) + (exponent or ""))
        name = "percent" if atom == "%" else _canonical_atom(atom)
        for bracketed, pint_name in _BRACKETED.items():
            name = name.replace(bracketed, pint_name)
        pint_text.append(f"{operator} {name}" + (f" ** {exponent}" if exponent else ""))
    registry = _registry()
    try:
        parsed = registry.parse_units(" ".join(pint_text))
    except Exception as exc:  # pint raises several unrelated types for unknown names
        msg = f"not a unit the library knows ({_EXPECTED})"
        raise ValueError(msg) from exc
    return "".join(canonical), parsed


def normalise_unit(unit: str, *, path: str = "$") -> str:
    """Return the canonical UCUM spelling of a unit the library understands.

    Parameters
    ----------
    unit : str
        A UCUM unit, case-sensitive; ``mEq`` and a bare ``IU`` are accepted for ``meq`` and
        ``[IU]``, ``µ`` for ``u``, ``l`` for ``L``.
    path : str
        JSON path of the unit, used in error messages.

    Returns
    -------
    str

    Raises
    ------
    UnitConversionError
        If the unit is not UCUM syntax or names a unit the library does not know.

    Examples
    --------
    >>> normalise_unit("mEq/L"), normalise_unit("mIU/L"), normalise_unit("µmol/l")
    ('meq/L', 'm[IU]/L', 'umol/L')
    """
    try:
        return _parse(unit)[0]
    except ValueError as exc:
        problem = Problem(path, str(exc), unit)
        raise UnitConversionError(f"unknown unit {unit!r} @ {path}: {exc}", path=path,
                                  value=unit, problems=[problem]) from None


def _magnitude(value: object, unit: object, to_unit: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(unit, to_unit, path, f"the value {value!r} is not a number")
    try:
        magnitude = float(value)
    except OverflowError:
        magnitude = math.inf
    if not math.isfinite(magnitude):
        raise _fail(unit, to_unit, path, f"the value {value!r} is not finite")
    return magnitude


_AMOUNTS: Final = ("[mass]", "[substance]", "[equivalent]")


def _kind(dims: Any) -> tuple[int, frozenset[tuple[str, int]]]:
    """Return what a unit measures, taking mass, amount and equivalents as one (the analyte)."""
    amount = sum(int(dims.get(d, 0)) for d in _AMOUNTS)
    return amount, frozenset((d, int(e)) for d, e in dims.items() if d not in _AMOUNTS)


def _dimension_exponent(dims: Any, name: str) -> int:
    return int(dims.get(name, 0))


def _check_constants(molar_mass: float | None, valence: int | None) -> None:
    if molar_mass is not None and (isinstance(molar_mass, bool) or not isinstance(
            molar_mass, int | float) or not math.isfinite(molar_mass) or molar_mass <= 0):
        msg = f"molar_mass must be a positive finite number of g/mol, got {molar_mass!r}"
        raise UnitConversionError(msg, path="molar_mass", value=molar_mass)
    if valence is not None and (isinstance(valence, bool) or not isinstance(valence, int)
                                or valence == 0):
        msg = f"valence must be a non-zero integer, got {valence!r}"
        raise UnitConversionError(msg, path="valence", value=valence)


def convert_lab_value(value: float, unit: str, to_unit: str, *, molar_mass: float | None = None,
                      valence: int | None = None, path: str = "$") -> float:
    """Convert a lab value from ``unit`` to ``to_unit``.

    Parameters
    ----------
    value : float
        The measured value, finite.
    unit, to_unit : str
        UCUM units (see :func:`normalise_unit`).
    molar_mass : float, optional
        The analyte's molar mass in g/mol; needed to cross between mass and amount units.
    valence : int, optional
        The analyte's charge (sign ignored); needed to cross between amount and equivalents
        (1 mmol = ``abs(valence)`` meq).
    path : str
        JSON path of the unit being converted, named in error messages.

    Returns
    -------
    float
        The value in ``to_unit``; the input value itself when the units are the same.

    Raises
    ------
    UnitConversionError
        If either unit is unknown, the dimensions do not match, the molar mass or valence needed
        is missing, or the result is not finite. The message names the unit, the target and
        ``path``.

    Examples
    --------
    Magnesium (24.305 g/mol, valence 2) and vitamin B12 (1355.4 g/mol):

    >>> convert_lab_value(1.0, "mmol/L", "meq/L", valence=2)
    2.0
    >>> round(convert_lab_value(1.0, "mmol/L", "mg/dL", molar_mass=24.305), 4)
    2.4305
    >>> round(convert_lab_value(100.0, "pg/mL", "pmol/L", molar_mass=1355.4), 2)
    73.78
    >>> convert_lab_value(2.5, "m[IU]/L", "u[IU]/mL")
    2.5
    """
    _check_constants(molar_mass, valence)
    magnitude = _magnitude(value, unit, to_unit, path)
    try:
        source_text, source = _parse(unit)
    except ValueError as exc:
        raise _fail(unit, to_unit, path, str(exc)) from None
    try:
        target_text, target = _parse(to_unit)
    except ValueError as exc:
        raise _fail(unit, to_unit, path, f"target unit: {exc}") from None
    if source_text == target_text:
        return magnitude
    registry = _registry()
    source_dims, target_dims = source.dimensionality, target.dimensionality
    if (not source_dims or not target_dims) and "%" in source_text + target_text:
        raise _fail(unit, to_unit, path, "a percentage converts only to itself")
    quantity = registry.Quantity(magnitude, source)
    if _kind(source_dims) != _kind(target_dims):
        raise _fail(unit, to_unit, path, f"{_describe(source_dims)} cannot be expressed as "
                                         f"{_describe(target_dims)}")
    if source_dims != target_dims:
        quantity = _bridge(registry, quantity, source_dims, target_dims, molar_mass=molar_mass,
                           valence=valence, where=(unit, to_unit, path))
    try:
        result = float(quantity.to(target).magnitude)
    except Exception:  # pint.DimensionalityError; pint is imported lazily
        raise _fail(unit, to_unit, path, f"{_describe(source_dims)} cannot be expressed as "
                                         f"{_describe(target_dims)}") from None
    if not math.isfinite(result):
        raise _fail(unit, to_unit, path, "the converted value is not finite")
    return result


def _bridge(registry: Any, quantity: Any, source_dims: Any, target_dims: Any, *,
            molar_mass: float | None, valence: int | None, where: tuple[str, str, str]) -> Any:
    """Cross mass -> amount -> equivalents (and back) using the analyte's constants."""
    steps = (("[mass]", molar_mass, "g / mol", "molar mass"),
             ("[equivalent]", None if valence is None else abs(valence), "eq / mol", "valence"))
    for dimension, constant, unit, what in steps:
        source_exp = _dimension_exponent(source_dims, dimension)
        target_exp = _dimension_exponent(target_dims, dimension)
        if source_exp == target_exp:
            continue
        if constant is None:
            raise _fail(where[0], where[1], where[2],
                        f"needs the analyte's {what} to convert {_describe(source_dims)} to "
                        f"{_describe(target_dims)}")
        quantity = quantity * registry.Quantity(constant, unit) ** (target_exp - source_exp)
    return quantity


def _describe(dims: Any) -> str:
    names = {
        "[mass]/[length]^3": "a mass concentration",
        "[substance]/[length]^3": "an amount concentration",
        "[equivalent]/[length]^3": "an equivalent concentration",
        "[international_unit]/[length]^3": "an international-unit concentration",
        "[substance]/[length]^3/[time]": "a catalytic concentration",
        "[mass]": "a mass",
        "[substance]": "an amount of substance",
        "[length]^3": "a volume",
        "": "a dimensionless ratio",
    }
    key = "/".join(
        sorted((f"{d}^{-e}" if e < -1 else d) for d, e in dims.items() if e < 0)
    )
    positive = ".".join(sorted((f"{d}^{e}" if e > 1 else d) for d, e in dims.items() if e > 0))
    text = f"{positive}/{key}" if key else positive
    return names.get(text, f"dimension {text}")
