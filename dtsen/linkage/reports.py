"""Charts for people: the model's match weights and the measured threshold curve as PNG (shown inside the Dagster
UI), and Splink's own interactive charts as self-contained HTML files beside them."""

from __future__ import annotations

import math
import os

import duckdb
import pandas as pd

from dtsen.charts import match_weights_chart, threshold_chart

from . import model as lm
from .pipeline import ensure_input, load_settings


def match_weights_table(settings: dict) -> pd.DataFrame:
    """Every non-null comparison level of the model with its m, u and match weight log2(m/u)."""
    rows = []
    for comp in settings["comparisons"]:
        for lv in comp["comparison_levels"]:
            if lv.get("is_null_level"):
                continue
            m, u = lv.get("m_probability"), lv.get("u_probability")
            if not m or not u:
                continue
            rows.append(
                {
                    "comparison": comp["output_column_name"],
                    "level": lv.get("label_for_charts", ""),
                    "m": m,
                    "u": u,
                    "match_weight": math.log2(m / u),
                }
            )
    return pd.DataFrame(rows)


def model_chart(settings: dict, month: str, out_dir: str) -> str:
    """PNG of the match weights of the model as used for this snapshot (u from the snapshot's data)."""
    return match_weights_chart(
        match_weights_table(settings),
        f"DTSEN linkage model, snapshot {month}",
        os.path.join(out_dir, "match_weights.png"),
    )


def write_reports(
    con: duckdb.DuckDBPyConnection,
    month: str,
    evaluation: dict,
    out_dir: str,
    model_path: str = str(lm.MODEL_PATH),
    threshold: float = lm.DEFAULT_THRESHOLD,
) -> dict[str, str]:
    """The threshold curve as PNG (the chosen threshold marked) and Splink's charts as HTML."""
    from splink.internals.charts import chart_html

    os.makedirs(out_dir, exist_ok=True)
    records = ensure_input(con, month)
    settings = load_settings(con, model_path, records)
    linker = lm.linker_over(con, records, settings)
    paths = {}
    for name, chart in (
        ("match_weights", linker.visualisations.match_weights_chart()),
        ("m_u_parameters", linker.visualisations.m_u_parameters_chart()),
    ):
        p = os.path.join(out_dir, f"{name}.html")
        chart.save(p, inline=True)  # self-contained: opens offline
        paths[name] = p
    curve = evaluation["curve"].melt(
        id_vars=["threshold"], value_vars=["precision", "recall", "f1"], var_name="metric", value_name="value"
    )
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": f"DTSEN {month}: pairwise precision / recall / F1 by clustering threshold",
        "width": 600,
        "height": 300,
        "data": {"values": curve.to_dict(orient="records")},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "threshold", "type": "quantitative", "scale": {"domain": [0.5, 1]}},
            "y": {"field": "value", "type": "quantitative", "scale": {"zero": False}},
            "color": {"field": "metric", "type": "nominal"},
            "tooltip": [{"field": "threshold"}, {"field": "metric"}, {"field": "value"}],
        },
    }
    p = os.path.join(out_dir, "threshold_selection.html")
    with open(p, "w", encoding="utf-8") as fh:
        fh.write(chart_html(spec, inline=True, fullhtml=True))
    paths["threshold_selection"] = p
    paths["threshold_png"] = threshold_chart(
        evaluation["curve"],
        threshold,
        f"DTSEN {month}: pairwise scores by clustering threshold",
        os.path.join(out_dir, "threshold_selection.png"),
    )
    lm.drop_work_tables(con)
    return paths
