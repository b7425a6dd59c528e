"""Procedural colonoscopy clips: one scene dict in, 8 RGB frames out (numpy + PIL only).

Try it: python -m data.synth --contact-sheet docs/img/contact_sheet.jpg

Every question type reads a cue that is strong on purpose (a tiny model must learn it in
minutes), while the look (palette, texture, folds, lumen, lighting) varies widely per clip.
Cues, by scene key:
  view      normal | outside (room: walls, cabinets, no lumen) | fluid (murky yellow-brown flood)
            | occluded (blurry flesh blob filling the view)
  motion    still | advancing (zoom in: lumen and folds grow) | withdrawing (zoom out)
  site      fold geometry: ascending = triangular folds, descending = round rings,
            sigma = flat elliptical rings, rectum = no folds, wide lumen, vessel network
  lesion    a domed polyp in `quadrant`, drifting `lesion_motion`, radius by `size`;
            histology: adenoma = dark red with a dotted pit pattern, hyperplastic = pale, smooth
  tool      forceps (grey sheath, open V jaws) | snare (thin sheath, wire loop)
            | catheter (thick cream tube, dark bands, round tip), entering from an edge
  nbi       teal-green mucosa with brown vessels; dye: blue mucosa pooling in the folds
  flush     bright water jet with droplets; scope_visible: a dark glossy shaft with white marks
A question type that needs something else drawn brings its own cue (data.types.Cue), painted
last in a clear view.
One renderer of one frame, so one file: each cue is drawn over the layers before it.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from data.catalog import cues

FRAMES = 8
QUADRANT_CENTRE = {  # (x, y) in [-1, 1] screen units, y down
    "upper-left": (-0.45, -0.45),
    "upper-right": (0.45, -0.45),
    "lower-left": (-0.45, 0.45),
    "lower-right": (0.45, 0.45),
}
LESION_STEP = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0), "stable": (0, 0)}
LESION_RADIUS = {"<5": 0.1, "5-9": 0.18, ">9": 0.3}  # screen units; ratios kept well apart
LESION_TRAVEL = 0.5  # total drift over the clip; keeps the centroid inside its quadrant
ZOOM = 2.0  # lumen scale ratio last/first frame when the scope moves


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def _noise(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: a random grid upsampled bicubically."""
    grid = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((size, size), Image.BICUBIC)
    return np.clip(np.asarray(img), 0, 1)


def _sample(field: np.ndarray, u: np.ndarray, v: np.ndarray, span: float) -> np.ndarray:
    """Nearest sample of a square field covering [-span, span]^2 at world coordinates (u, v)."""
    n = field.shape[0]
    i = np.clip(((v + span) / (2 * span) * (n - 1)).round().astype(np.int32), 0, n - 1)
    j = np.clip(((u + span) / (2 * span) * (n - 1)).round().astype(np.int32), 0, n - 1)
    return field[i, j]


def look(rng: np.random.Generator, video_hue: float = 0.0) -> dict:
    """Per-clip appearance, drawn widely; `video_hue` only nudges the palette of a procedure."""
    return {
        "hue": (video_hue + rng.normal(0, 0.035)) % 1.0,
        "sat": rng.uniform(0.35, 0.75),
        "val": rng.uniform(0.65, 0.95),
        "fold_freq": rng.uniform(2.2, 4.5),  # rings per unit of log-distance
        "fold_depth": rng.uniform(0.25, 0.55),
        "fold_sharp": rng.uniform(0.7, 2.0),
        "lumen": rng.uniform(0.1, 0.22),
        "lumen_x": rng.uniform(-0.35, 0.35),
        "lumen_y": rng.uniform(-0.35, 0.35),
        "angle": rng.uniform(0, 2 * math.pi),
        "wobble": rng.uniform(0.0, 0.12),
        "wobble_k": int(rng.integers(2, 6)),
        "tex_cells": int(rng.integers(6, 20)),
        "tex": rng.uniform(0.05, 0.2),
        "vessels": rng.uniform(0.2, 0.6),
        "vignette": rng.uniform(0.25, 0.6),
        "light_x": rng.uniform(-0.4, 0.4),
        "light_y": rng.uniform(-0.4, 0.4),
        "gamma": rng.uniform(0.8, 1.25),
        "speculars": rng.uniform(0.0, 1.0),
        "ellipse": rng.uniform(2.0, 2.8),
    }


def _zooms(motion: str) -> np.ndarray:
    t = np.linspace(0, 1, FRAMES)
    if motion == "advancing":
        return ZOOM**t
    if motion == "withdrawing":
        return ZOOM ** (1 - t)
    return np.ones(FRAMES)


def _shape_distance(site: str, u: np.ndarray, v: np.ndarray, lk: dict) -> np.ndarray:
    """A 'norm' whose isolines give the fold shape of each colon segment."""
    a = lk["angle"]
    if site == "ascending":  # triangular haustral folds
        d = np.max([u * math.cos(a + k * 2.094) + v * math.sin(a + k * 2.094) for k in range(3)], 0)
        d = d * 1.6
    elif site == "sigma":  # flattened, twisted rings
        e1 = u * math.cos(a) + v * math.sin(a)
        e2 = -u * math.sin(a) + v * math.cos(a)
        r = lk["ellipse"]
        d = np.sqrt((e1 / r**0.5) ** 2 + (e2 * r**0.5) ** 2)
    else:  # descending, rectum: round
        d = np.hypot(u, v)
    theta = np.arctan2(v, u)
    return np.maximum(d, 1e-4) * (1 + lk["wobble"] * np.sin(lk["wobble_k"] * theta + a))


def _palette(scene: dict, lk: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mucosa, fold-trough and vessel colours (RGB in [0, 1])."""
    if scene["nbi"]:  # narrow band: teal-green mucosa, brown vessels
        signed = (lk["hue"] + 0.5) % 1.0 - 0.5  # WL hues sit around 0 (red)
        h = 0.47 + 0.6 * signed
        muc = _hsv(h, 0.35 + 0.35 * lk["sat"], 0.45 + 0.4 * lk["val"])
        trough = muc * np.array([0.55, 0.6, 0.55])
        vessel = np.array([0.42, 0.25, 0.12])
    else:  # white light: pink-red-orange mucosa
        muc = _hsv(lk["hue"], lk["sat"], lk["val"])
        trough = muc * np.array([0.6, 0.42, 0.42])
        vessel = np.array([0.55, 0.08, 0.1])
    return muc, trough, vessel


def _mucosa(scene: dict, lk: dict, rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """The lumen scene of every frame, as float RGB arrays (size, size, 3) in [0, 1]."""
    lin = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(lin, lin)
    cx, cy = lk["lumen_x"], lk["lumen_y"]
    site = scene["site"]
    lumen = lk["lumen"] * (1.45 if site == "rectum" else 1.0)
    fold_depth = 0.0 if site == "rectum" else lk["fold_depth"]
    fold_freq = lk["fold_freq"] * (1.5 if site == "sigma" else 1.0)
    vessels = max(lk["vessels"], 0.85) if site == "rectum" else lk["vessels"] * 0.5
    muc, trough, vessel = _palette(scene, lk)
    span = 2.5
    tex = _noise(rng, lk["tex_cells"], 160)
    ves = np.abs(_noise(rng, 9, 200) - 0.5)  # ridged noise: thin lines at the zero crossing
    spec = _noise(rng, 24, 200)
    dye_field = _noise(rng, 5, 64)
    glow = np.exp(-((x - lk["light_x"]) ** 2 + (y - lk["light_y"]) ** 2) * lk["vignette"] * 1.5)
    light = 0.6 + 0.55 * glow
    frames = []
    for z in _zooms(scene["motion"]):
        u, v = (x - cx) / z, (y - cy) / z  # world coordinates around the lumen
        d = _shape_distance(site, u, v, lk)
        wob = 0.25 * _sample(tex, v, u, span)  # uneven fold spacing
        ring = 0.5 + 0.5 * np.cos(2 * math.pi * (fold_freq * np.log(d / lumen) + wob))
        ring = ring ** lk["fold_sharp"]  # 1 on fold ridges, 0 in troughs
        depth = np.clip(d / lumen - 1.0, 0, None)  # 0 at the lumen edge
        bright = 1 - np.exp(-depth * 2.5)  # walls fade into the dark lumen
        wall = muc[None, None] * (1 - fold_depth * (1 - ring))[..., None]
        wall = wall + (trough - muc)[None, None] * (fold_depth * (1 - ring) * 0.5)[..., None]
        t = _sample(tex, u, v, span)
        wall = wall * (1 - lk["tex"] + 2 * lk["tex"] * t)[..., None]
        line = np.clip(1 - _sample(ves, u, v, span) / 0.035, 0, 1) * vessels
        wall = wall * (1 - line[..., None]) + vessel[None, None] * line[..., None]
        if scene["dye"]:  # indigo carmine: blue wash that pools in the troughs
            pool = 0.45 + 0.35 * (1 - ring) + 0.2 * _sample(dye_field, u, v, span)
            blue = np.array([0.18, 0.3, 0.75])
            wall = wall * (1 - pool[..., None] * 0.75) + blue * (pool[..., None] * 0.75)
        img = wall * (bright * light * (0.75 + 0.25 * ring))[..., None]
        s = (_sample(spec, u, v, span) > 0.9 - 0.06 * lk["speculars"]) & (ring > 0.96)
        img[s & (depth > 0.3)] = 0.97
        frames.append(np.clip(img, 0, 1) ** lk["gamma"])
    return frames


def _lesion(scene: dict, rng: np.random.Generator, frames: list, size: int) -> Capsule:
    """Paint the polyp on every frame, in place; returns the area it sweeps (unit square)."""
    lin = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(lin, lin)
    qx, qy = QUADRANT_CENTRE[scene["quadrant"]]
    sx, sy = LESION_STEP[scene["lesion_motion"]]
    jx, jy = rng.uniform(-0.07, 0.07, 2)
    r = LESION_RADIUS[scene["size"]] * rng.uniform(0.92, 1.08)
    lobes, phase = int(rng.integers(3, 7)), rng.uniform(0, 2 * math.pi)
    pits = _noise(rng, 40 if scene["histology"] == "adenoma" else 70, 256)
    if scene["nbi"]:
        body = (
            np.array([0.45, 0.27, 0.15])
            if scene["histology"] == "adenoma"
            else np.array([0.72, 0.8, 0.74])
        )
    elif scene["histology"] == "adenoma":
        body = np.array([0.62, 0.12, 0.12]) * rng.uniform(0.85, 1.1)
    else:
        body = np.array([0.93, 0.8, 0.74]) * rng.uniform(0.92, 1.03)
    for i, f in enumerate(frames):
        t = i / (FRAMES - 1) - 0.5
        px, py = qx + jx + sx * LESION_TRAVEL * t, qy + jy + sy * LESION_TRAVEL * t
        dx, dy = x - px, y - py
        theta = np.arctan2(dy, dx)
        rr = r * (1 + 0.08 * np.sin(lobes * theta + phase))
        q = np.hypot(dx, dy) / rr
        mask = np.clip((1 - q) * size * r * 0.6, 0, 1)  # anti-aliased edge
        dome = np.sqrt(np.clip(1 - q**2, 0, 1))
        shade = 0.55 + 0.45 * dome - 0.25 * (dx + dy) / r * dome  # lit from the upper left
        p = _sample(pits, dx / r, dy / r, 1.2)
        if scene["histology"] == "adenoma":  # dense dark pits (tubular pattern)
            col = body * (1 - 0.55 * (p > 0.6))[..., None]
        else:  # smooth, faint pale dots
            col = body * (1 - 0.1 * (p > 0.7))[..., None]
        col = np.clip(col * shade[..., None], 0, 1)
        col[(dome > 0.75) & (dx < -0.2 * r) & (dy < -0.2 * r) & (p > 0.55)] = 1.0  # glint
        f[:] = f * (1 - mask[..., None]) + col * mask[..., None]
    ends = [
        np.array([qx + jx + sx * LESION_TRAVEL * t, qy + jy + sy * LESION_TRAVEL * t])
        for t in (-0.5, 0.5)
    ]
    return (ends[0] + 1) / 2, (ends[1] + 1) / 2, r * 0.55


def _overlay(frame: np.ndarray, layer: Image.Image) -> np.ndarray:
    rgba = np.asarray(layer, dtype=np.float32) / 255.0
    a = rgba[..., 3:4]
    return frame * (1 - a) + rgba[..., :3] * a


Capsule = tuple[np.ndarray, np.ndarray, float]  # segment ends (unit square), half-width


def _gap(a: Capsule, b: Capsule) -> float:
    """Clearance between two capsules (negative when they overlap), by sampling the segments."""
    t = np.linspace(0, 1, 12)[:, None]
    pa, pb = a[0] + t * (a[1] - a[0]), b[0] + t * (b[1] - b[0])
    d = np.linalg.norm(pa[:, None] - pb[None], axis=-1).min()
    return float(d - a[2] - b[2])


EDGES = ("bottom-right", "right", "bottom", "bottom-left", "top", "left")


def _place(
    rng: np.random.Generator,
    edges: tuple[str, ...],
    length: float,
    half: float,
    avoid: list,
    spread: float = 0.12,
) -> tuple[np.ndarray, np.ndarray]:
    """An entry point and direction whose capsule keeps clear of `avoid` (then appended).

    Preferred `edges` first, then any edge; the clearest try wins if none is clear, so the
    lesion and earlier instruments stay visible."""
    best = None
    for k in range(48):
        start, d = _edge_start(rng, edges if k < 24 else EDGES, spread)
        cap = (start, start + d * length, half)
        clear = min((_gap(cap, c) for c in avoid), default=1.0)
        if best is None or clear > best[0]:
            best = (clear, start, d, cap)
        if clear > 0.02:
            break
    avoid.append(best[3])
    return best[1], best[2]


def _edge_start(
    rng: np.random.Generator, edges: tuple[str, ...], spread: float = 0.12
) -> tuple[np.ndarray, np.ndarray]:
    """A point on a frame edge (unit square) and the inward direction to the centre area."""
    e = edges[int(rng.integers(len(edges)))]
    s = rng.uniform(0.55, 0.9)
    start = {
        "bottom-right": (s + 0.15, 1.05),
        "right": (1.05, s),
        "bottom": (s - 0.1, 1.05),
        "bottom-left": (0.85 - s, 1.05),
        "top": (1 - s, -0.05),
        "left": (-0.05, s - 0.2),
    }[e]
    target = np.array([0.5, 0.5]) + rng.uniform(-spread, spread, 2)
    start = np.array(start)
    d = target - start
    return start, d / np.linalg.norm(d)


def _tool_layers(
    scene: dict, rng: np.random.Generator, size: int, avoid: list
) -> list[Image.Image]:
    """RGBA layers of the instrument on each frame (drawn 2x, then downsampled)."""
    ss = 2 * size
    tool = scene["tool"]
    reach = rng.uniform(0.4, 0.55)
    head, half = {"catheter": (0.06, 0.06), "forceps": (0.2, 0.1), "snare": (0.33, 0.12)}[tool]
    start, d = _place(rng, EDGES[:4], reach + 0.08 + head, half, avoid)
    n = np.array([-d[1], d[0]])
    layers = []
    for i in range(FRAMES):
        im = Image.new("RGBA", (ss, ss), (0, 0, 0, 0))
        g = ImageDraw.Draw(im)
        tip = start + d * (reach + 0.08 * i / (FRAMES - 1))  # slides in a little
        P = lambda p: (float(p[0] * ss), float(p[1] * ss))  # noqa: E731
        if tool == "catheter":  # thick cream tube, dark bands, round tip
            w = 0.11
            g.line([P(start), P(tip)], fill=(238, 228, 190, 255), width=int(w * ss))
            g.ellipse([*P(tip - w / 2), *P(tip + w / 2)], fill=(238, 228, 190, 255))
            for k in range(1, 5):
                c = tip - d * (0.07 * k + 0.03)
                a, b = c + n * w / 2, c - n * w / 2
                g.line([P(a), P(b)], fill=(40, 40, 40, 255), width=max(2, int(0.018 * ss)))
            g.line(
                [P(start + n * w * 0.2), P(tip + n * w * 0.2)],
                fill=(255, 255, 250, 255),
                width=max(1, int(0.015 * ss)),
            )
        elif tool == "forceps":  # grey coiled sheath, open V jaws
            w = 0.075
            g.line([P(start), P(tip)], fill=(95, 98, 105, 255), width=int(w * ss))
            for k in range(0, 14):
                c = tip - d * (0.03 * k)
                g.line([P(c + n * w / 2), P(c - n * w / 2)], fill=(60, 62, 68, 255), width=2)
            for side in (1, -1):
                jaw_d = d * math.cos(0.5) + side * n * math.sin(0.5)
                base = tip + side * n * w * 0.3
                end = base + jaw_d * 0.2
                g.polygon(
                    [P(base + n * 0.025), P(end), P(base - n * 0.025)], fill=(200, 202, 210, 255)
                )
        else:  # snare: thin white sheath, large wire loop
            w = 0.045
            g.line([P(start), P(tip)], fill=(225, 230, 240, 255), width=int(w * ss))
            c = tip + d * 0.16
            ax, bx = 0.17, 0.11
            pts = []
            for k in range(33):
                a = 2 * math.pi * k / 32
                p = c + d * ax * math.cos(a) + n * bx * math.sin(a)
                pts.append(P(p))
            g.line(pts, fill=(245, 245, 250, 255), width=max(2, int(0.02 * ss)))
        layers.append(im.reduce(2))
    return layers


def _scope_layers(rng: np.random.Generator, size: int, avoid: list) -> list[Image.Image]:
    """The endoscope's own shaft (retroflexion): a thick dark glossy tube with white marks."""
    ss = 2 * size
    bend = rng.uniform(-0.25, 0.25)
    w = rng.uniform(0.26, 0.34)
    start, d = _place(rng, ("top", "left", "right", "bottom"), 0.62, w / 2 + 0.4 * abs(bend), avoid)
    n = np.array([-d[1], d[0]])
    layers = []
    for i in range(FRAMES):
        im = Image.new("RGBA", (ss, ss), (0, 0, 0, 0))
        g = ImageDraw.Draw(im)
        shift = n * 0.01 * i
        pts = [start + d * s + n * bend * s * s + shift for s in np.linspace(0, 0.62, 12)]
        P = [(float(p[0] * ss), float(p[1] * ss)) for p in pts]
        g.line(P, fill=(22, 22, 26, 255), width=int(w * ss), joint="curve")
        g.ellipse(
            [
                P[-1][0] - w * ss / 2,
                P[-1][1] - w * ss / 2,
                P[-1][0] + w * ss / 2,
                P[-1][1] + w * ss / 2,
            ],
            fill=(22, 22, 26, 255),
        )
        hl = [(p[0] + n[0] * w * ss * 0.22, p[1] + n[1] * w * ss * 0.22) for p in P]
        g.line(hl, fill=(150, 150, 160, 255), width=max(2, int(0.03 * ss)))
        for k in (3, 6, 9):
            c, m = pts[k], n * w * 0.45
            a, b = (c + m) * ss, (c - m) * ss
            g.line([tuple(a), tuple(b)], fill=(235, 235, 235, 255), width=max(2, int(0.02 * ss)))
        layers.append(im.reduce(2))
    return layers


def _flush_layers(rng: np.random.Generator, size: int, avoid: list) -> list[Image.Image]:
    """A bright water jet from an edge, with droplets that change every frame."""
    ss = 2 * size
    start, d = _place(rng, ("top", "left", "right"), 0.65, 0.13, avoid, spread=0.35)
    n = np.array([-d[1], d[0]])
    layers = []
    for _ in range(FRAMES):
        im = Image.new("RGBA", (ss, ss), (0, 0, 0, 0))
        g = ImageDraw.Draw(im)
        end = start + d * rng.uniform(0.5, 0.65)
        spread = rng.uniform(0.12, 0.18)
        poly = [start + n * 0.04, end + n * spread, end - n * spread, start - n * 0.04]
        g.polygon([tuple(p * ss) for p in poly], fill=(235, 245, 255, 200))
        g.line(
            [tuple(start * ss), tuple(end * ss)], fill=(255, 255, 255, 255), width=int(0.05 * ss)
        )
        for _k in range(25):
            p = start + d * rng.uniform(0.2, 1.1) + n * rng.normal(0, 0.12)
            r = rng.uniform(0.008, 0.025) * ss
            g.ellipse(
                [p[0] * ss - r, p[1] * ss - r, p[0] * ss + r, p[1] * ss + r],
                fill=(250, 252, 255, 230),
            )
        layers.append(im.filter(ImageFilter.GaussianBlur(ss * 0.006)).reduce(2))
    return layers


def _fluid(rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """Complete fluid occlusion: a murky yellow-brown flood with drifting particles."""
    base = _hsv(rng.uniform(0.09, 0.15), rng.uniform(0.55, 0.85), rng.uniform(0.45, 0.75))
    cloud = _noise(rng, int(rng.integers(3, 7)), 2 * size)
    specks = _noise(rng, 30, 2 * size)
    dx, dy = rng.uniform(-1, 1, 2) * size * 0.03
    out = []
    for i in range(FRAMES):
        ox, oy = int(size / 2 + dx * i), int(size / 2 + dy * i)
        c = cloud[oy : oy + size, ox : ox + size]
        s = specks[oy : oy + size, ox : ox + size]
        img = base[None, None] * (0.7 + 0.5 * c)[..., None]
        img = img * (1 - 0.35 * (s > 0.72))[..., None]
        out.append(np.clip(img, 0, 1))
    return out


def _occluded(rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """Close-up occlusion: out-of-focus flesh touching the lens, with a diffuse glare."""
    base = _hsv(rng.uniform(-0.02, 0.04), rng.uniform(0.45, 0.7), rng.uniform(0.7, 0.95))
    blob = _noise(rng, 3, size)
    lin = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(lin, lin)
    gx, gy = rng.uniform(-0.5, 0.5, 2)
    out = []
    for i in range(FRAMES):
        ox, oy = gx + 0.02 * i, gy - 0.015 * i
        glare = np.exp(-((x - ox) ** 2 + (y - oy) ** 2) * 2.5)
        img = base[None, None] * (0.75 + 0.35 * blob)[..., None]
        img = img + glare[..., None] * np.array([0.35, 0.25, 0.22])
        out.append(np.clip(img, 0, 1))
    return out


def _outside(rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """Scope outside the patient: an endoscopy room (walls, floor, cabinets, a monitor)."""
    ss = 2 * size
    wall = tuple(
        int(c)
        for c in _hsv(rng.uniform(0.08, 0.14), rng.uniform(0.03, 0.25), rng.uniform(0.55, 0.9))
        * 255
    )
    floor = tuple(
        int(c)
        for c in _hsv(rng.uniform(0.05, 0.6), rng.uniform(0.0, 0.2), rng.uniform(0.3, 0.6)) * 255
    )
    im = Image.new("RGB", (ss * 2, ss), wall)
    g = ImageDraw.Draw(im)
    horizon = int(rng.uniform(0.55, 0.8) * ss)
    g.rectangle([0, horizon, 2 * ss, ss], fill=floor)
    for _ in range(int(rng.integers(2, 5))):  # cabinets, doors, a dark monitor
        x0 = rng.uniform(0, 1.8) * ss
        w, h = rng.uniform(0.15, 0.5) * ss, rng.uniform(0.2, 0.6) * ss
        y1 = horizon if rng.random() < 0.6 else rng.uniform(0.3, 0.6) * ss
        grey = int(rng.uniform(30, 230))
        g.rectangle(
            [x0, y1 - h, x0 + w, y1],
            fill=(grey, grey, int(grey * 0.95)),
            outline=(60, 60, 60),
            width=2,
        )
    g.rectangle([0, 0, 2 * ss, int(0.06 * ss)], fill=(250, 250, 240))  # ceiling light
    im = im.filter(ImageFilter.GaussianBlur(ss * 0.008))
    pan = rng.uniform(-0.25, 0.25) * ss
    out = []
    for i in range(FRAMES):
        ox = int(ss * 0.5 + pan * i / (FRAMES - 1))
        crop = im.crop((ox, 0, ox + ss, ss)).resize((size, size), Image.BILINEAR)
        out.append(np.asarray(crop, dtype=np.float32) / 255.0)
    return out


def render(scene: dict, seed: int, size: int = 112, video_hue: float = 0.0) -> list[Image.Image]:
    """The 8 frames of one clip. Deterministic in (scene, seed, size, video_hue)."""
    rng = np.random.default_rng(seed)
    lk = look(rng, video_hue)
    view = scene["view"]
    if view == "fluid":
        frames = _fluid(rng, size)
    elif view == "occluded":
        frames = _occluded(rng, size)
    elif view == "outside":
        frames = _outside(rng, size)
    else:
        frames = _mucosa(scene, lk, rng, size)
        avoid = [_lesion(scene, rng, frames, size)] if scene["lesion"] else []
        layers = {}  # placed in this order (the tool gets first pick of the edges) ...
        if scene["scope_visible"]:
            layers["shaft"] = _scope_layers(rng, size, avoid)
        if scene["tool"] != "none":
            layers["tool"] = _tool_layers(scene, rng, size, avoid)
        if scene["flush"]:
            layers["flush"] = _flush_layers(rng, size, avoid)
        for key in ("shaft", "flush", "tool"):  # ... and drawn so the tool stays in front
            if key not in layers:
                continue
            group = layers[key]
            frames = [_overlay(f, layer) for f, layer in zip(frames, group, strict=True)]
        for i, c in enumerate(cues(), 1):  # a new type's cue, on its own draws: the rest as before
            if c.key in scene:
                frames = c.paint(frames, scene[c.key], np.random.default_rng([seed, i]), size)
    noise = rng.normal(0, 0.012, (FRAMES, size, size, 1))  # sensor noise
    return [
        Image.fromarray((np.clip(f + e, 0, 1) * 255).round().astype(np.uint8))
        for f, e in zip(frames, noise, strict=True)
    ]
