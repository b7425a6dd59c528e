"""The question types the project asks, one record each (data.types), in name order.

    python -c "from data.catalog import TYPE_NAMES; print(len(TYPE_NAMES))"

The options of each type come from the real annotations (question_types.json of the public
benchmark) plus documented extras where the real data shows only one class (see EXTRA_SOURCES).
Phrasing 0 of every type is the benchmark's own wording; the others are ours, so a model can be
tested on a phrasing it never heard in training (data.plan keeps phrasing 3 for the test video).
Every type has the same number of phrasings: varied sentence forms over the words a clinician
uses (dye, scope, lens, quadrant, millimeters...), so a listener learns the words, not one form.

A new type is one record in a family module of data/types (and its Cue, where it reads
something the renderer does not draw yet), listed in FAMILIES' modules: the plan, the
renderer, the facts, the grammar and the scoring all read it from here. `register` adds one
for a while (a test's toy type); the names below are views, so every module sees it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from data.types import CHOICE, YES_NO, Cue, QuestionType, equipment, lesion, light, motion, view

__all__ = ["CATALOG", "CHOICE", "CHOICE_TYPES", "TYPES", "TYPE_NAMES", "YES_NO", "YES_NO_TYPES"]
__all__ += ["Cue", "PHRASINGS", "QuestionType", "cues", "get", "register"]

FAMILIES = (equipment, lesion, light, motion, view)
PHRASINGS = 12  # per type, the same for every type
CATALOG: dict[str, QuestionType] = {}  # name -> type, in name order (the plan's slot order)


def _check(t: QuestionType) -> None:
    if len(t.phrasings) != PHRASINGS:
        raise ValueError(f"{t.name}: every type needs {PHRASINGS} phrasings")
    if t.kind not in (YES_NO, CHOICE) or (t.is_yes_no and t.options != ("no", "yes")):
        raise ValueError(f"{t.name}: kind {t.kind!r} with options {t.options}")


def _set(types: dict[str, QuestionType]) -> None:
    """Replace the registry in place: modules hold CATALOG itself."""
    CATALOG.clear()
    CATALOG.update(sorted(types.items()))


_set({t.name: t for family in FAMILIES for t in family.TYPES})
for _t in CATALOG.values():
    _check(_t)


class _Names(Sequence[str]):
    """The registered types' names (of one kind), in catalog order: a view of CATALOG, so a
    type registered later is seen by every module that imported the name."""

    def __init__(self, kind: str | None = None) -> None:
        self._kind = kind

    def _now(self) -> tuple[str, ...]:
        return tuple(n for n, t in CATALOG.items() if self._kind in (None, t.kind))

    def __getitem__(self, i):  # type: ignore[override]
        return self._now()[i]

    def __len__(self) -> int:
        return len(self._now())

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __contains__(self, name: object) -> bool:
        return name in self._now()

    def index(self, name: str, *bounds: int) -> int:  # type: ignore[override]
        return self._now().index(name, *bounds)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._now() == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._now())


class _Types(_Names):
    """The registered records, in catalog order."""

    def _now(self) -> tuple[QuestionType, ...]:  # type: ignore[override]
        return tuple(CATALOG.values())


TYPES = _Types()
TYPE_NAMES = _Names()
YES_NO_TYPES = _Names(YES_NO)
CHOICE_TYPES = _Names(CHOICE)


def cues() -> tuple[Cue, ...]:
    """The scene cues the registered types bring, in catalog order."""
    return tuple(t.cue for t in CATALOG.values() if t.cue is not None)


@contextmanager
def register(t: QuestionType) -> Iterator[QuestionType]:
    """Ask `t` too while inside: the plan, the renderer, the facts, the grammar and the
    scoring see it; the catalog is as before afterwards."""
    if t.name in CATALOG:
        raise ValueError(f"question type {t.name!r} is already registered")
    _check(t)
    if t.cue is not None and t.cue.key in {c.key for c in cues()}:
        raise ValueError(f"{t.name}: scene cue {t.cue.key!r} is already brought by another type")
    before = dict(CATALOG)
    _set({**before, t.name: t})
    try:
        yield t
    finally:
        _set(before)


# Options the real annotations never use as labels, and where they come from.
EXTRA_SOURCES: dict[str, str] = {
    "blue_dye_presence/yes": "yes/no question; only 'no' appears as a label in the real splits",
    "lesion_size_range/5-9": "the real question text lists '(<5 mm, 5-9 mm, >9 mm)'",
    "lesion_size_range/>9": "the real question text lists '(<5 mm, 5-9 mm, >9 mm)'",
    "lighting_mode/WL": "white light is the alternative: nbi_status answers 'No, WL light is on'",
}


def get(name: str) -> QuestionType:
    """The question type called `name`, or a KeyError naming the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown question type {name!r}; known: {', '.join(TYPE_NAMES)}") from None
