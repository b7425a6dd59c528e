"""Light and dye: narrow band imaging (yes/no and which light) and chromoendoscopy dye.

Dye is shown under white light only, so a clip with dye needs NBI off and an NBI clip no dye.
"""

from __future__ import annotations

from data.types import CHOICE, CLEAR, QuestionType, yes_no
from data.types.words import CTX, CTX_PAST, CTX_SHORT, SCOPE

TYPES: tuple[QuestionType, ...] = (
    yes_no(
        "blue_dye_presence",
        (
            "Is contrast dye visible on the mucosal surface?",
            "Has blue dye been applied to the mucosa?",
            "Do you see any blue staining on the colon wall?",
            "Is there chromoendoscopy dye in view?",
            "Has the mucosa been stained with dye?",
            "Can you see dye on the colon wall?",
            "Is any blue contrast staining present?",
            "Was chromoendoscopy used on this surface?",
            "Does the mucosa look blue from dye spraying?",
            "Tell me if there is dye on the tissue.",
            "Is the surface stained blue?",
            "Any dye visible in these frames?",
        ),
        yes="Yes, blue dye is visible on the mucosa.",
        no="No, no dye is visible on the mucosa.",
        needs={
            "no": {**CLEAR, "dye": {False}},
            "yes": {**CLEAR, "dye": {True}, "nbi": {False}},  # dye is shown under white light only
        },
        grounding="dye ",
        forms=(
            (
                "Is there {dye} on {surface}{ctx}",
                "Has {dye} been {applied} {surface}",
                "Do you see {dye}{ctx}",
                "Can you see any {dye}{ctx}",
                "Is {dye} visible{ctx}",
                "Any {dye} on {surface}{ctx}",
                "Was {chromo} done{pctx}",
                "Has {surface} been stained with {dye}",
                "Does {surface} look {stained}{ctx}",
                "Are we doing {chromo}{ctx}",
                "Is {surface} {stained}{ctx}",
            ),
            {
                "dye": (
                    "dye",
                    "blue dye",
                    "indigo carmine",
                    "methylene blue",
                    "contrast dye",
                    "chromoendoscopy dye",
                    "blue stain",
                ),
                "surface": ("the mucosa", "the colon wall", "the surface", "the lining"),
                "applied": ("applied to", "sprayed on"),
                "chromo": ("chromoendoscopy", "dye spraying", "dye staining"),
                "pctx": CTX_PAST,
                "stained": ("blue", "stained", "dyed", "stained blue", "stained with dye"),
                "ctx": CTX,
            },
        ),
    ),
    QuestionType(
        "lighting_mode",
        CHOICE,
        ("NBI", "WL"),
        (
            "What lighting modality illuminates this sequence?",
            "Which light mode is the scope using?",
            "Is this white light or narrow band imaging?",
            "What kind of illumination is on in these frames?",
            "What kind of light is the scope using?",
            "Which illumination mode is active in this clip?",
            "Is the lighting white light or NBI?",
            "Tell me the lighting mode of these frames.",
            "What illumination does this sequence use?",
            "Which light source is active?",
            "What type of lighting is used here?",
            "Which lighting modality is on in this clip?",
        ),
        answers={
            "NBI": "NBI light is on in this sequence.",
            "WL": "WL light is on in this sequence.",
        },
        synonyms={"NBI": ("narrow band", "narrow-band"), "WL": ("white light", "white-light")},
        needs={"NBI": {**CLEAR, "nbi": {True}, "dye": {False}}, "WL": {**CLEAR, "nbi": {False}}},
        grounding="nbi ",
        forms=(
            (
                "Which {light} {mode} is {on}{ctx}",
                "What {light} {mode} is the {scope} using",
                "Is this white light or {nbi}{ctx}",
                "White light or {nbi}{ctx}",
                "Are we in white light or {nbi}{ctx}",
                "Tell me the {light} {mode}{ctx}",
                "Which {light} is the {scope} using{ctx}",
                "What {light} {mode} are we using{ctx}",
            ),
            {
                "light": ("light", "lighting", "illumination", "imaging"),
                "mode": ("mode", "modality", "setting"),
                "on": ("on", "active", "in use", "selected"),
                "nbi": ("NBI", "narrow band imaging", "narrow band"),
                "scope": SCOPE,
                "ctx": CTX_SHORT,
            },
        ),
    ),
    yes_no(
        "nbi_status",
        (
            "Are these frames captured using NBI mode?",
            "Is narrow band imaging switched on?",
            "Is the scope in NBI mode here?",
            "Was this clip recorded with narrow band light?",
            "Is NBI on in these frames?",
            "Was narrow band imaging used in this clip?",
            "Is the scope using narrow band light?",
            "Tell me if NBI mode is active.",
            "Is this sequence in NBI?",
            "Has narrow band imaging been switched on here?",
            "Are the frames taken with NBI light?",
            "Is NBI mode on right now?",
        ),
        yes="Yes, NBI light is on in these frames.",
        no="No, WL light is on instead.",
        needs={"no": {**CLEAR, "nbi": {False}}, "yes": {**CLEAR, "nbi": {True}, "dye": {False}}},
        grounding="nbi ",
        forms=(
            (
                "Is {nbi} {on}{ctx}",
                "Are we using {nbi}{ctx}",
                "Was {nbi} used{pctx}",
                "Has the {scope} been switched to {nbi}",
                "Is the {scope} using {nbi}{ctx}",
                "Are these frames {taken} in {nbi}",
                "Is this view in {nbi}",
                "Do these frames look like {nbi}",
                "Are we in {nbi}{ctx}",
            ),
            {
                "nbi": (
                    "NBI",
                    "narrow band imaging",
                    "narrow band light",
                    "NBI mode",
                    "narrow band mode",
                ),
                "on": ("on", "active", "switched on", "turned on", "engaged", "in use", "enabled"),
                "scope": SCOPE,
                "taken": ("taken", "captured", "recorded", "shot"),
                "pctx": CTX_PAST,
                "ctx": CTX,
            },
        ),
    ),
)
