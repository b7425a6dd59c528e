"""Pixel heuristics that guard the clip renderer: each labelled cue must show in the frames.

Scenes are rendered in memory (no files); each check runs over several seeds, so the cue has to
survive the wide per-clip appearance variation, not just one lucky look.
"""

from __future__ import annotations

import numpy as np
import pytest

from data.scene import FRAMES, QUADRANT_CENTRE, render

SEEDS = range(8)
PLAIN = dict(
    view="normal",
    motion="still",
    site="descending",
    lesion=False,
    quadrant=None,
    lesion_motion=None,
    size=None,
    histology=None,
    tool="none",
    nbi=False,
    dye=False,
    flush=False,
    scope_visible=False,
)


def frames(seed: int, px: int = 96, **changes) -> np.ndarray:
    """(8, H, W, 3) float frames in [0, 1] of PLAIN updated with `changes`."""
    scene = {**PLAIN, **changes}
    return np.stack([np.asarray(f, dtype=np.float32) / 255 for f in render(scene, seed, px)])


def lesion(**kw) -> dict:
    base = dict(lesion=True, quadrant="upper-left", lesion_motion="stable", size="5-9")
    return {**base, "histology": "adenoma", **kw}


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel mask where two renders differ clearly (above the sensor noise)."""
    return np.abs(a - b).max(-1) > 0.15


def test_frames_shape_and_determinism():
    a = frames(0, px=64)
    assert a.shape == (FRAMES, 64, 64, 3)
    assert np.array_equal(a, frames(0, px=64))
    assert not np.array_equal(a, frames(1, px=64))


@pytest.mark.parametrize("seed", SEEDS)
def test_mean_colour_separates_white_light_nbi_and_dye(seed):
    r, g, b = frames(seed).mean((0, 1, 2))
    assert r > g + 0.05 and r > b + 0.05  # white light: red-pink mucosa
    r, g, b = frames(seed, nbi=True).mean((0, 1, 2))
    assert g > r + 0.05  # NBI: teal-green
    r, g, b = frames(seed, dye=True).mean((0, 1, 2))
    assert b > r and b > g + 0.05  # dye: blue wash


@pytest.mark.parametrize("seed", SEEDS)
def test_lumen_grows_when_advancing_and_shrinks_when_withdrawing(seed):
    def dark(motion: str) -> np.ndarray:
        return (frames(seed, motion=motion).mean(-1) < 0.08).mean((1, 2))

    adv, wd, still = dark("advancing"), dark("withdrawing"), dark("still")
    assert adv[-1] > 1.4 * adv[0] and np.all(np.diff(adv) > -0.01)
    assert wd[-1] < 0.7 * wd[0] and np.all(np.diff(wd) < 0.01)
    assert abs(still[-1] - still[0]) < 0.1 * still[0] + 0.002


@pytest.mark.parametrize("direction", ["up", "down", "left", "right", "stable"])
@pytest.mark.parametrize("quadrant", list(QUADRANT_CENTRE))
def test_lesion_sits_in_its_quadrant_and_moves_as_labelled(direction, quadrant):
    seed = 10 * list(QUADRANT_CENTRE).index(quadrant) + len(direction)
    with_lesion = frames(seed, **lesion(quadrant=quadrant, lesion_motion=direction))
    mask = changed(with_lesion, frames(seed))
    h = mask.shape[1]
    ys, xs = np.mgrid[0:h, 0:h] / (h - 1) * 2 - 1
    cx = np.array([xs[m].mean() for m in mask])
    cy = np.array([ys[m].mean() for m in mask])
    qx, qy = QUADRANT_CENTRE[quadrant]
    assert np.all(np.sign(cx) == np.sign(qx)) and np.all(np.sign(cy) == np.sign(qy))
    dx, dy = cx[-1] - cx[0], cy[-1] - cy[0]
    expect = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0), "stable": (0, 0)}
    ex, ey = expect[direction]
    if direction == "stable":
        assert abs(dx) < 0.05 and abs(dy) < 0.05
    else:  # moves at least 0.3 (of the [-1, 1] frame) the right way, little the other way
        along, across = (dx * ex + dy * ey), abs(dx * ey) + abs(dy * ex)
        assert along > 0.3 and across < 0.1, (dx, dy)


@pytest.mark.parametrize("seed", SEEDS)
def test_lesion_sizes_are_clearly_apart(seed):
    areas = [
        changed(frames(seed, **lesion(size=s)), frames(seed)).mean() for s in ("<5", "5-9", ">9")
    ]
    assert areas[1] > 2 * areas[0] and areas[2] > 2 * areas[1], areas


@pytest.mark.parametrize("seed", SEEDS)
def test_histology_adenoma_darker_than_hyperplastic(seed):
    def lesion_mean(histology: str, nbi: bool) -> float:
        a = frames(seed, nbi=nbi, **lesion(histology=histology, size=">9"))
        return float(a[changed(a, frames(seed, nbi=nbi))].mean())

    for nbi in (False, True):
        assert lesion_mean("adenoma", nbi) + 0.15 < lesion_mean("hyperplastic", nbi)


@pytest.mark.parametrize("seed", SEEDS)
def test_tools_show_and_differ(seed):
    plain = frames(seed)
    masks = {t: changed(frames(seed, tool=t), plain) for t in ("forceps", "snare", "catheter")}
    for t, m in masks.items():
        assert m.mean() > 0.01, t  # the tool's region differs from the toolless clip
    assert changed(frames(seed, tool="forceps"), frames(seed, tool="catheter")).mean() > 0.01


@pytest.mark.parametrize("seed", SEEDS)
def test_tools_keep_clear_of_the_lesion(seed):
    base = frames(seed, **lesion(size=">9"))
    lesion_px = changed(base, frames(seed))
    for tool in ("forceps", "snare", "catheter"):
        over = changed(frames(seed, tool=tool, **lesion(size=">9")), base) & lesion_px
        assert over.sum() < 0.15 * lesion_px.sum(), tool


@pytest.mark.parametrize("seed", SEEDS)
def test_scope_shaft_is_dark_and_flush_is_bright(seed):
    plain = frames(seed)
    shaft = frames(seed, scope_visible=True)
    assert (shaft.mean(-1) < 0.15).mean() > (plain.mean(-1) < 0.15).mean() + 0.03
    flush = frames(seed, flush=True)
    assert (flush.min(-1) > 0.8).mean() > (plain.min(-1) > 0.8).mean() + 0.03


@pytest.mark.parametrize("seed", SEEDS)
def test_obstructed_views(seed):
    fluid = frames(seed, view="fluid")
    r, g, b = fluid.mean((0, 1, 2))
    assert r > g > b + 0.1  # murky yellow-brown
    occluded = frames(seed, view="occluded")
    plain = frames(seed)
    detail = lambda a: np.abs(np.diff(a.mean(-1), axis=2)).mean()  # noqa: E731
    assert detail(occluded) < 0.5 * detail(plain)  # a blurry blob, no folds
    assert (occluded.mean(-1) < 0.08).mean() < 0.01  # and no dark lumen
    room = frames(seed, view="outside")
    sat = room.max(-1) - room.min(-1)
    assert sat.mean() < 0.15 and (room.mean(-1) < 0.08).mean() < 0.02  # grey-beige, no lumen


@pytest.mark.parametrize("seed", SEEDS)
def test_site_fold_geometry(seed):
    def lumen_elongation(site: str) -> float:
        dark = frames(seed, site=site)[0].mean(-1) < 0.05
        ys, xs = np.nonzero(dark)
        ev = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(float)))
        return float(np.sqrt(ev[-1] / max(ev[0], 1e-6)))

    assert lumen_elongation("sigma") > 1.5 * lumen_elongation("descending")
    detail = lambda a: np.abs(np.diff(a.mean(-1), axis=1)).mean()  # noqa: E731
    assert detail(frames(seed, site="rectum")) < detail(frames(seed, site="descending"))
