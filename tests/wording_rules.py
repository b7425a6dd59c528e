"""Which question types a wording can be read as, from its words alone (test helper).

Written apart from data/grammar.py: each type names the words that define it and the words
that define its neighbours, so a wording is asked unambiguously when exactly one type reads it.
Checked against all 240 catalog phrasings, then used on the grammar and the stranger wordings.
"""

from __future__ import annotations

import re

from data.grammar import norm


def _rx(*alts: str) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b")


LESION = _rx("lesion", "lesions", "polyp", "polyps", "growth", "growths")
DYE = _rx(
    r"dye\w*", r"stain\w*", r"chromo\w*", "indigo", "carmine", "methylene", "blue", "contrast"
)
FLUSH = _rx(r"flush\w*", r"irrigat\w*", "water", r"rins\w*", r"wash\w*", "jet", "jetted")
FLUID = _rx("fluid", "liquid", "stool", "residue", "debris", r"fluid\w*")
LIGHT = _rx(r"light\w*", r"illuminat\w*", "imaging", "nbi", "narrow band", "narrow")
NBI = _rx("nbi", "narrow band", "narrow")
WHICH = _rx("which", "what", "kind", "type", "tell me the", "name the", "white", "or")
TOOL = _rx("instrument", "tool", "device", "accessory", "snare", "forceps", "catheter")
OTHER_TOOL = _rx("snare", "forceps")
ASKS_WHICH = _rx("which", "what", "identify", "name", "kind", "type", "or")
SHAFT = _rx(
    "shaft", "insertion tube", "itself", "own", "retroflex\\w*",
    r"(?:endo|colono)?scope body", "body of the (?:endo|colono)?scope",
    "part of the (?:endo|colono)?scope",
)  # fmt: skip
OUTSIDE = _rx(
    "outside", "out of the (?:patient|body)", "from the (?:patient|body)",
    "left the (?:patient|body)", "no longer inside", "room", "removed",
)  # fmt: skip
OCCLUDED = _rx(
    "lens", r"obstruct\w*", r"block\w*", r"cover\w*", "close up", "red out", "against the wall",
    "touching the wall", "occluded", "against the (?:camera|scope tip)",
)  # fmt: skip
MUCOSA = _rx("mucosa", "mucosal", "colon wall", "bowel wall", "lining", "wall")
FWD = _rx(
    r"advanc\w*", "forward", r"push\w*", "deeper", r"insert\w*", "ahead", "going in",
    "coming in", "cecum", "in or out", "inward",
)  # fmt: skip
BACK = _rx(
    r"withdr\w*", "backward", r"pull\w*", r"retract\w*", "back", "coming out", "going out",
    "in or out", "drawn back", "backing out", "way out", "outward",
)  # fmt: skip
DIRECTION = _rx(
    "which way", "which direction", "which movement", "in or out", "kind of", "type of", "what is"
)
MOVES = _rx(r"mov\w*", "motion", "movement", "still", "going", "heading", "travelling")
MOTION = _rx(
    r"mov\w*", "motion", r"drift\w*", r"shift\w*", r"travel\w*", r"slid\w*", "direction", "go",
    "going",
    "heading", "stable", "stationary", "way",
)  # fmt: skip
POSITION = _rx(
    "quadrant", "corner", "screen", "image", "picture", "monitor", "frame", "position", "upper",
    "lower", "top", "bottom", "left", "right", "half",
)  # fmt: skip
SITE = _rx(
    "colon", "colonic", "bowel", "segment", r"anatomic\w*", "rectum", "rectal", r"sigm\w*",
    "ascending", "descending",
)  # fmt: skip
SIZE = _rx(
    "size", "big", "bigger", "large", "larger", "small", "millimeters", "millimetres", "mm",
    "measure", "diminutive",
)  # fmt: skip
HISTOLOGY = _rx(
    r"histolog\w*", r"adenom\w*", r"hyperplas\w*", "tissue", "pathology", "diagnosis",
    "neoplastic", "pit pattern",
)  # fmt: skip


def _has(rx: re.Pattern, text: str) -> bool:
    return rx.search(text) is not None


def _scope_motion(t: str) -> str | None:
    """Which of the four scope-motion types a wording without a lesion or a tool asks."""
    if _has(LESION, t) or _has(TOOL, t) or _has(OUTSIDE, t) or _has(SHAFT, t):
        return None
    fwd, back = _has(FWD, t), _has(BACK, t)
    if (fwd and back) or (_has(DIRECTION, t) and (fwd or back or _has(MOVES, t))):
        return "scope_motion_type"
    if fwd:
        return "scope_forward_motion"
    if back:
        return "scope_backward_motion"
    if _has(MOVES, t) and not _has(_rx("which", "what", "where", "how"), t):
        return "scope_motion"
    return None


def reads(text: str) -> set[str]:
    """Every question type whose defining words `text` has and whose neighbours' it lacks."""
    t = norm(text)
    got: set[str] = set()
    lesion = _has(LESION, t)
    if lesion:
        hist, size = _has(HISTOLOGY, t), _has(SIZE, t)
        site, motion, pos = _has(SITE, t), _has(MOTION, t), _has(POSITION, t)
        if hist and not size:
            got.add("lesion_histology_extended")
        if size and not hist and not motion:
            got.add("lesion_size_range")
        if site and not (pos or motion or size or hist):
            got.add("lesion_site")
        if motion and not (site or size or hist):
            got.add("lesion_motion_direction")
        if pos and not (motion or site or size or hist):
            got.add("lesion_screen_position")
        return got
    if _has(DYE, t) and not (_has(FLUSH, t) or _has(LIGHT, t)):
        got.add("blue_dye_presence")
    if _has(FLUSH, t) and not (_has(DYE, t) or _has(FLUID, t)):
        got.add("flush_action")
    if _has(FLUID, t) and not _has(FLUSH, t):
        got.add("fluid_occlusion_level")
    if _has(LIGHT, t) and not _has(DYE, t):
        if _has(WHICH, t) or not _has(NBI, t):
            got.add("lighting_mode")
        else:
            got.add("nbi_status")
    if _has(TOOL, t):
        if "catheter" in t and not (_has(OTHER_TOOL, t) or _has(ASKS_WHICH, t)):
            got.add("tool_catheter_check")
        elif _has(ASKS_WHICH, t):
            got.add("tool_identification")
    if _has(SHAFT, t) and not (_has(OUTSIDE, t) or _has(TOOL, t) or _has(MOVES, t)):
        got.add("endoscope_visibility")
    if _has(OUTSIDE, t) and not (_has(TOOL, t) or _has(FLUSH, t)):
        got.add("scope_outside")
    if _has(OCCLUDED, t) and not any(_has(r, t) for r in (FLUID, TOOL, OUTSIDE, DYE, FLUSH)):
        got.add("occlusion_check")
    if _has(MUCOSA, t) and not (
        _has(DYE, t) or _has(FLUSH, t) or _has(FLUID, t) or _has(OCCLUDED, t)
    ):
        got.add("mucosa_visibility")
    if not (got or _has(LIGHT, t) or _has(FLUSH, t)) and (kind := _scope_motion(t)):
        got.add(kind)
    return got
