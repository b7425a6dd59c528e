"""The scope's motion: is it moving, advancing, withdrawing, and which of the two.

The three yes/no types and the choice read the one `motion` value (grounding "scope ..."):
the grammar keeps their wordings apart (a yes/no one never names a direction).
"""

from __future__ import annotations

from data.types import CHOICE, CLEAR, QuestionType, each, yes_no
from data.types.words import CTX, CTX_PAST, CTX_SHORT, SCOPE_CAM

TYPES: tuple[QuestionType, ...] = (
    yes_no(
        "scope_backward_motion",
        (
            "When motion occurs, does the scope pull backward?",
            "Is the scope being pulled back?",
            "Is the endoscope withdrawing in this clip?",
            "Does the camera move backward here?",
            "Is the scope pulling back in these frames?",
            "Is the endoscope moving backward?",
            "Tell me if the scope is withdrawing.",
            "Does the scope pull backward in this clip?",
            "Is the camera being withdrawn?",
            "Is the endoscope being pulled out?",
            "Is the scope moving back out of the colon?",
            "Does the endoscope withdraw here?",
        ),
        yes="Yes, the scope is withdrawing.",
        no="No, the scope is advancing.",
        needs={
            "no": {**CLEAR, "motion": {"advancing"}},
            "yes": {**CLEAR, "motion": {"withdrawing"}},
        },
        grounding="scope ",
        forms=(
            (
                "Is the {scope} {withdrawing}{ctx}",
                "Are we {pulling_back}{ctx}",
                "Does the {scope} {pull_back}{ctx}",
                "Is the {scope} being {pulled_back}{ctx}",
                "Is this the withdrawal phase{ctx}",
                "Are we on the way back{ctx}",
                "Is the {scope} on its way out{ctx}",
            ),
            {
                "scope": SCOPE_CAM,
                "withdrawing": (
                    "withdrawing",
                    "pulling back",
                    "retracting",
                    "moving backward",
                    "coming back",
                    "backing out",
                ),
                "pulling_back": ("withdrawing", "pulling back", "backing out", "retracting"),
                "pull_back": ("pull back", "withdraw", "retract", "move backward", "back out"),
                "pulled_back": ("withdrawn", "pulled back", "retracted", "drawn back"),
                "ctx": CTX,
            },
        ),
    ),
    yes_no(
        "scope_forward_motion",
        (
            "When motion occurs, is the scope pushing forward?",
            "Is the scope advancing into the colon?",
            "Does the endoscope move forward in this clip?",
            "Is the camera pushing ahead here?",
            "Is the scope pushing forward in these frames?",
            "Is the endoscope moving forward?",
            "Tell me if the scope is advancing.",
            "Does the scope advance in this clip?",
            "Is the camera being pushed in?",
            "Is the endoscope going deeper into the colon?",
            "Is the scope moving ahead here?",
            "Does the endoscope push forward here?",
        ),
        yes="Yes, the scope is advancing.",
        no="No, the scope is withdrawing.",
        needs={
            "no": {**CLEAR, "motion": {"withdrawing"}},
            "yes": {**CLEAR, "motion": {"advancing"}},
        },
        grounding="scope ",
        forms=(
            (
                "Is the {scope} {advancing}{ctx}",
                "Are we {advancing_we}{ctx}",
                "Does the {scope} {advance}{ctx}",
                "Is the {scope} being {advanced}{ctx}",
                "Is this the insertion phase{ctx}",
                "Is the {scope} going deeper into the colon",
                "Are we heading toward the cecum{ctx}",
            ),
            {
                "scope": SCOPE_CAM,
                "advancing": (
                    "advancing",
                    "pushing forward",
                    "moving forward",
                    "going deeper",
                    "pushing in",
                    "moving ahead",
                ),
                "advancing_we": ("advancing", "pushing in", "going deeper", "moving forward"),
                "advance": ("advance", "push forward", "move forward", "go deeper", "push in"),
                "advanced": ("advanced", "pushed forward", "inserted", "pushed in"),
                "ctx": CTX,
            },
        ),
    ),
    yes_no(
        "scope_motion",
        (
            "Is the scope actively moving throughout this clip?",
            "Is the endoscope moving in these frames?",
            "Does the camera move during this sequence?",
            "Is the scope in motion here?",
            "Is the scope moving in this clip?",
            "Does the endoscope move at all here?",
            "Tell me if the scope is moving.",
            "Is the camera moving across these frames?",
            "Is the scope still or moving?",
            "Is there any scope movement in these frames?",
            "Does the scope move throughout the sequence?",
            "Is the endoscope moving during this clip?",
        ),
        yes="Yes, the scope is moving across the frames.",
        no="No, the scope is not moving in these frames.",
        needs={
            "no": {**CLEAR, "motion": {"still"}},
            "yes": {**CLEAR, "motion": {"advancing", "withdrawing"}},
        },
        grounding="scope ",
        forms=(
            (
                "Is the {scope} {moving}{ctx}",
                "Is there any {scope} {movement}{ctx}",
                "Does the {scope} move at all{ctx}",
                "Does the {scope} move{ctx}",
                "Any {scope} {movement}{ctx}",
                "Has the {scope} moved{pctx}",
                "Is the {scope} being moved{ctx}",
            ),
            {
                "scope": SCOPE_CAM,
                "moving": ("moving", "in motion", "moving at all"),
                "movement": ("movement", "motion"),
                "pctx": CTX_PAST,
                "ctx": CTX,
            },
        ),
    ),
    QuestionType(
        "scope_motion_type",
        CHOICE,
        ("advancing", "withdrawing"),
        (
            "Is the scope primarily advancing or withdrawing in this sequence?",
            "Which way is the scope moving, in or out?",
            "Is the endoscope going forward or pulling back?",
            "What kind of scope movement is this?",
            "Is the scope advancing or withdrawing?",
            "Tell me whether the scope moves in or out.",
            "What is the scope doing, advancing or withdrawing?",
            "Which kind of movement does the endoscope make?",
            "Is the camera going in or coming out?",
            "What type of motion does the scope show?",
            "Is the endoscope advancing or pulling back in this clip?",
            "Which movement best describes the scope here?",
        ),
        answers={
            "advancing": "The scope is primarily advancing.",
            "withdrawing": "The scope is primarily withdrawing.",
        },
        synonyms={
            "advancing": ("advance", "forward", "pushing in"),
            "withdrawing": ("withdraw", "withdrawal", "backward", "pulling back"),
        },
        needs=each("motion", CLEAR),
        grounding="scope ",
        forms=(
            (
                "Is the {scope} {advancing} or {withdrawing}{ctx}",
                "{Advancing} or {withdrawing}{ctx}",
                "Are we going in or coming out{ctx}",
                "Is this insertion or withdrawal{ctx}",
                "Which direction is the {scope} {moving}{ctx}",
                "Which way is the {scope} {moving}{ctx}",
                "In or out, which way is the {scope} going",
                "What kind of {scope} movement is this",
            ),
            {
                "scope": SCOPE_CAM,
                "advancing": ("advancing", "going in", "pushing in", "moving forward"),
                "Advancing": ("Advancing", "Going in", "Pushing in", "Moving forward", "Inserting"),
                "withdrawing": ("withdrawing", "pulling back", "coming out", "moving backward"),
                "moving": ("moving", "going", "heading", "travelling"),
                "ctx": CTX_SHORT,
            },
        ),
    ),
)
