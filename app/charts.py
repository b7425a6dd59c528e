"""Plotly figures of the Results, Data and Training pages (pure functions of plain rows).

python -c "from app.charts import accuracy_bars; accuracy_bars([]).show()"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import plotly.graph_objects as go

COLORS = {"strict": "#0b6e99", "lenient": "#7fc4de", "prior": "#a3adb8"}
SPLIT_COLORS = {"train": "#0b6e99", "eval": "#e39b2d", "test": "#3c9d5d", "-": "#a3adb8"}
RUN_COLORS = ("#0b6e99", "#e39b2d", "#3c9d5d", "#8d5fb3", "#c8553d", "#4a90a4")
FONT = dict(family="Source Sans Pro, Helvetica, Arial, sans-serif", size=13, color="#1b2733")


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        font=FONT,
        plot_bgcolor="white",
        paper_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
        **kw,
    )
    fig.update_xaxes(gridcolor="#e8eef3", zeroline=False)
    fig.update_yaxes(gridcolor="#e8eef3", zeroline=False)
    return fig


def _bar(rows: Sequence[dict], name: str, color: str, cat: str, horizontal: bool) -> go.Bar:
    acc = [r["accuracy"] for r in rows]
    err = dict(
        type="data",
        symmetric=False,
        array=[r["hi"] - r["accuracy"] for r in rows],
        arrayminus=[r["accuracy"] - r["lo"] for r in rows],
        color="#33414f",
        thickness=1.2,
        width=3,
    )
    hover = [
        f"{r[cat]}<br>{name}: {100 * r['accuracy']:.1f}% "
        f"(95% CI {100 * r['lo']:.0f}–{100 * r['hi']:.0f}%, n={r['n']})"
        for r in rows
    ]
    common = dict(name=name, marker_color=color, hovertext=hover, hoverinfo="text")
    if horizontal:
        return go.Bar(y=[r[cat] for r in rows], x=acc, orientation="h", error_x=err, **common)
    return go.Bar(x=[r[cat] for r in rows], y=acc, error_y=err, **common)


def accuracy_bars(rows: Sequence[dict], by: str = "run", color: str = "metric") -> go.Figure:
    """Grouped vertical bars of accuracy with 95% intervals (rows: run, metric, accuracy...)."""
    fig = go.Figure()
    groups = list(dict.fromkeys(r[color] for r in rows))
    for i, g in enumerate(groups):
        sub = [r for r in rows if r[color] == g]
        fig.add_trace(_bar(sub, g, COLORS.get(g, RUN_COLORS[i % len(RUN_COLORS)]), by, False))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title="accuracy")
    return _layout(fig, 340, barmode="group")


def type_bars(rows: Sequence[dict], color: str = "metric") -> go.Figure:
    """Horizontal grouped bars per question type with 95% intervals (one run, or one metric)."""
    fig = go.Figure()
    types = list(dict.fromkeys(r["type"] for r in rows))
    groups = list(dict.fromkeys(r[color] for r in rows))
    for i, g in enumerate(groups):
        sub = [r for r in rows if r[color] == g]
        fig.add_trace(_bar(sub, g, COLORS.get(g, RUN_COLORS[i % len(RUN_COLORS)]), "type", True))
    fig.update_xaxes(range=[0, 1.05], tickformat=".0%", title="accuracy")
    fig.update_yaxes(categoryorder="array", categoryarray=types[::-1], automargin=True)
    return _layout(fig, 110 + len(types) * (10 + 8 * len(groups)), barmode="group")


def confusion_heatmap(gold: list[str], pred: list[str], counts: list[list[int]]) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=counts,
            x=pred,
            y=gold,
            colorscale=[[0, "#f7f9fb"], [1, "#0b6e99"]],
            text=[[str(c) for c in row] for row in counts],
            texttemplate="%{text}",
            hovertemplate="truth %{y}<br>answered %{x}<br>%{z} questions<extra></extra>",
            showscale=False,
        )
    )
    fig.update_xaxes(title="model answered (strict parse)", side="bottom", type="category")
    fig.update_yaxes(title="ground truth", autorange="reversed", type="category")
    return _layout(fig, 120 + 48 * len(gold))


def count_bars(
    counter_by_split: dict[str, Counter], order: Sequence[str] | None = None, height: int = 0
) -> go.Figure:
    """Horizontal stacked bars of counts per category, one colour per split."""
    cats = list(
        order or sorted(set().union(*counter_by_split.values()) if counter_by_split else [])
    )
    fig = go.Figure()
    for split, c in counter_by_split.items():
        fig.add_trace(
            go.Bar(
                y=cats,
                x=[c.get(k, 0) for k in cats],
                orientation="h",
                name=split,
                marker_color=SPLIT_COLORS.get(split, "#4a90a4"),
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=cats[::-1], automargin=True)
    fig.update_xaxes(title="questions")
    return _layout(fig, height or 110 + 22 * len(cats), barmode="stack")


def loss_curves(
    train: Sequence[tuple[int, float]],
    evals: Sequence[tuple[int, float]],
    best: tuple[int, float] | None,
) -> go.Figure:
    fig = go.Figure()
    if train:
        fig.add_trace(
            go.Scatter(
                x=[s for s, _ in train],
                y=[v for _, v in train],
                mode="lines",
                name="train loss",
                line=dict(color=COLORS["strict"], width=2),
            )
        )
    if evals:
        fig.add_trace(
            go.Scatter(
                x=[s for s, _ in evals],
                y=[v for _, v in evals],
                mode="lines+markers",
                name="eval loss",
                line=dict(color="#e39b2d", width=2),
            )
        )
    if best:
        fig.add_vline(x=best[0], line=dict(color="#3c9d5d", dash="dash", width=1.5))
        fig.add_trace(
            go.Scatter(
                x=[best[0]],
                y=[best[1]],
                mode="markers+text",
                name=f"best step {best[0]}",
                text=[f"best: step {best[0]}"],
                textposition="top left",
                marker=dict(color="#3c9d5d", size=13, symbol="star"),
            )
        )
    fig.update_xaxes(title="step")
    # the first steps dwarf the rest; plotly's default log ticks read "5, 2, 1, 5, 2, 0.1"
    fig.update_yaxes(title="loss (log scale)", type="log", dtick="D1", tickformat=".2~g")
    return _layout(fig, 380)
