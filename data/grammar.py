"""A clinician's question language: hundreds of spoken wordings per question type (no torch).

    python -m data.grammar                      # wordings per type, and a few of each
    python -m data.grammar --type nbi_status    # every wording of one type

Twelve catalog phrasings per type teach a listener twelve sentences, not the words that name a
type. Here each type has sentence forms (templates, kept in its record: data.types) whose
slots take the several words clinicians use for the same thing in colonoscopy reports and
guidelines: the instrument
(scope, endoscope, colonoscope), the finding (lesion, polyp, growth), chromoendoscopy (dye,
indigo carmine, methylene blue), irrigation (flushing, water jet), narrow band imaging (NBI),
the phases of the examination (insertion, withdrawal), colon segments, size brackets in
millimeters, screen quadrants and directions. This module makes the wordings from them; a
type's train phrasings are part of its pool.

Every wording asks only its own type: a type's forms use its own key words and never the words
that define a neighbour (a yes/no NBI question never says "white light" or "which", the
catheter check never names another tool, the yes/no scope-motion questions never name a
direction). Wordings have at most MAX_WORDS words (espeak at 135 wpm says them in under 4.5 s:
the demo encoder hears 5 s), and no wording is the catalog's held-out test phrasing of any type
or a near copy of its own type's (difflib over words, ratio >= NEAR), so the test split stays
unheard. Everything is a pure function of the code: same order, same draws, every run.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import re
import sys
from collections.abc import Iterable
from difflib import SequenceMatcher
from functools import cache

from data.catalog import CATALOG, PHRASINGS, TYPE_NAMES, TYPES, QuestionType
from model.cli import boundary

TEST_PHRASING = 3  # the catalog phrasing held out for the test video, never in a pool
TRAIN_PHRASINGS = tuple(i for i in range(PHRASINGS) if i != TEST_PHRASING)
GRAMMAR_PHRASING = -1  # a record's `phrasing` when its wording is not a catalog phrasing
MAX_WORDS = 10
# Letters, the better predictor of spoken length: measured over all 11,369 wordings made before
# this bound (en-us+m1, 135 wpm), <= 45 letters lasted at most 4.1 s (the slowest train voice
# is up to 9% longer: 4.5 s); 56 letters lasted up to 4.8 s.
MAX_LETTERS = 45
NEAR = 0.7  # word-sequence similarity to the held-out wording at which a wording is dropped


def norm(text: str) -> str:
    """Lowercase, punctuation dropped (hyphens and apostrophes too), spaces collapsed."""
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower().replace("'", "")).split())


def letters(text: str) -> int:
    """Letters and digits of a wording: its spoken length, roughly."""
    return len(re.sub(r"[^a-z0-9]", "", text.lower()))


# A template's {slot} takes every value of its slot; {ctx} one of the type's context phrases.
# The product of the slots gives the wordings. A sentence that gives an order ends with a full
# stop, a question with a question mark.
IMPERATIVE = {"Tell", "Rate", "Grade", "Classify", "Estimate", "Identify", "Size"}


def _expand(template: str, slots: dict[str, tuple[str, ...]]) -> Iterable[str]:
    names = list(dict.fromkeys(re.findall(r"{(\w+)}", template)))
    for values in itertools.product(*(slots[n] for n in names)):
        text = template.format(**dict(zip(names, values, strict=True)))
        text = " ".join(text.split())
        if re.search(r"\b(\w+) \1\b", text.lower()):  # "pushing in in this clip"
            continue
        yield text[0].upper() + text[1:] + ("." if text.split()[0] in IMPERATIVE else "?")


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).split()


def _near(text: str, held: list[str]) -> bool:
    return SequenceMatcher(None, _words(text), held).ratio() >= NEAR


def _pools() -> dict[str, tuple[tuple[str, ...], ...]]:
    """type -> its wordings grouped by sentence form, for the types registered now."""
    return _forms(tuple(TYPES))


@cache
def _forms(types: tuple[QuestionType, ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """type -> its wordings grouped by sentence form: the catalog's train phrasings first, then
    one group per template (wordings kept where first made; empty groups dropped)."""
    held_out = {norm(t.phrasings[TEST_PHRASING]) for t in types}
    out = {}
    for qt in types:
        held = _words(qt.phrasings[TEST_PHRASING])
        templates, slots = qt.forms
        made = [tuple(qt.phrasings[i] for i in TRAIN_PHRASINGS)]
        made += [
            tuple(w for w in _expand(t, slots) if letters(w) <= MAX_LETTERS) for t in templates
        ]
        seen, groups = set(), []
        for group in made:
            keep = []
            for w in group:
                n = norm(w)
                if n in seen or n in held_out or _near(w, held):
                    continue
                if group is not made[0] and len(n.split()) > MAX_WORDS:  # catalog: as written
                    continue
                seen.add(n)
                keep.append(w)
            if keep:
                groups.append(tuple(keep))
        out[qt.name] = tuple(groups)
    return out


def forms(qtype: str) -> tuple[tuple[str, ...], ...]:
    """The wordings of `qtype` grouped by sentence form (the catalog's train phrasings first)."""
    f = _pools()
    if qtype not in f:
        raise KeyError(f"unknown question type {qtype!r}; known: {', '.join(TYPE_NAMES)}")
    return f[qtype]


def wordings(qtype: str) -> tuple[str, ...]:
    """Every wording of `qtype`, in a fixed order: the catalog's train phrasings first."""
    return tuple(w for group in forms(qtype) for w in group)


def draw(qtype: str, key: str, seed: int = 0) -> str:
    """One wording of `qtype` for a record key: a pure function of (qtype, key, seed). The
    sentence form is drawn first, evenly, then a wording of it, so forms with many slot values
    do not crowd out the short ones."""
    groups = forms(qtype)
    h = hashlib.sha256(f"{seed}|{qtype}|{key}".encode()).digest()
    group = groups[int.from_bytes(h[:8], "little") % len(groups)]
    return group[int.from_bytes(h[8:16], "little") % len(group)]


# What people say around a question. Each kind has train phrases and a held-out slice that no
# training question carries (the clinic-conditions test speaks those: data.conditions).
LEAD_INS = ("Right,", "So,", "Alright, next one.", "While we are here,", "Okay,", "Now,", "And")
LEAD_INS_HELD = ("Okay team, quick question before we move on.", "Let me ask you something.")
FILLERS = ("um", "uh", "er")
FILLERS_HELD = ("hmm", "you know")
POLITE = ("Could you tell me", "Please tell me", "Can you tell me")
TWO_PART = ("Look at the frames.", "Have a look at this clip.", "Check the image.")
TAGS = ("right?", "yeah?")
NATURAL_KINDS = ("bare", "lead_in", "filler", "polite", "two_part", "tag", "false_start")
YES_NO_START = ("is", "are", "do", "does", "has", "have", "can", "was", "were", "any")


def _pick(options: tuple[str, ...], h: bytes, at: int) -> str:
    return options[int.from_bytes(h[at : at + 4], "little") % len(options)]


def say(question: str, kind: str, h: bytes = bytes(16), held: bool = False) -> str:
    """`question` as a person says it: with a lead-in, a filler, politeness, a two-part form, a
    tag or a false start (`kind`, one of NATURAL_KINDS; `h` picks the phrase). held: the
    held-out lead-ins and fillers, never used in training."""
    words = question.split()
    first = words[0].lower()
    body = first + (" " + " ".join(words[1:]) if len(words) > 1 else "")
    if kind == "bare":
        return question
    if kind == "lead_in":  # a lead-in that ends a sentence leaves the question capitalised
        lead = _pick(LEAD_INS_HELD if held else LEAD_INS, h, 0)
        return f"{lead} {question if lead.endswith('.') else body}"
    if kind == "filler":  # "Um, is the scope ..." or "Is the, uh, scope ..."
        fill = _pick(FILLERS_HELD if held else FILLERS, h, 0)
        cut = 1 + int.from_bytes(h[4:8], "little") % max(1, min(3, len(words) - 1))
        if h[8] % 2 or len(words) < 2:
            return f"{fill.capitalize()}, {body}"
        return f"{' '.join(words[:cut])}, {fill}, {' '.join(words[cut:])}"
    if kind == "polite" and words[0] in IMPERATIVE:  # "Grade the fluid, please."
        return f"{question.rstrip('?.')}, please."
    if kind == "polite":  # "Could you tell me, is the scope moving?"
        return f"{_pick(POLITE, h, 0)}, {body}"
    if kind == "two_part":
        return f"{_pick(TWO_PART, h, 0)} {question}"
    if kind == "tag" and first in YES_NO_START:  # only a yes/no question takes a tag
        return f"{question.rstrip('?.')}, {_pick(TAGS, h, 0)}"
    if kind == "false_start" and len(words) >= 3:  # "Is the, is the scope moving?"
        return f"{words[0]} {words[1].rstrip(',')}, {body}"
    return question


def natural(question: str, key: str, seed: int = 0) -> str:
    """A training question as people say it: bare half the time, else one natural kind drawn
    for the record key (a pure function of question, key and seed)."""
    h = hashlib.sha256(f"{seed}|natural|{key}".encode()).digest()
    if h[0] % 2 == 0:
        return question
    return say(question, NATURAL_KINDS[1 + h[1] % (len(NATURAL_KINDS) - 1)], h[2:18])


def phrasing_index(qtype: str, text: str) -> int:
    """The catalog phrasing `text` is (case and punctuation ignored), else GRAMMAR_PHRASING."""
    phrasings = [norm(p) for p in CATALOG[qtype].phrasings]
    n = norm(text)
    return phrasings.index(n) if n in phrasings else GRAMMAR_PHRASING


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--type", choices=TYPE_NAMES, help="print every wording of one type")
    p.add_argument("--show", type=int, default=3, help="wordings shown per type (summary)")
    a = p.parse_args(argv)
    if a.type:
        print("\n".join(wordings(a.type)))
        return 0
    for name in TYPE_NAMES:
        pool = wordings(name)
        print(f"{name:27s} {len(pool):5d}  " + " | ".join(pool[len(pool) // 2 :][: a.show]))
    print(f"total {sum(len(wordings(t)) for t in TYPE_NAMES)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
