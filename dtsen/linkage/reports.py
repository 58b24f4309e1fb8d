"""Charts for people: Splink's match-weight and m/u charts of the model, and the measured threshold curve (HTML)."""
from __future__ import annotations

import os

import duckdb
from splink.internals.charts import chart_html

from . import model as lm
from .pipeline import load_settings


def write_reports(con: duckdb.DuckDBPyConnection, month: str, evaluation: dict, out_dir: str,
                  model_path: str = str(lm.MODEL_PATH)) -> dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    settings = load_settings(con, model_path, "dtsen.linkage_input")
    linker = lm.linker_over(con, "dtsen.linkage_input", settings)
    paths = {}
    for name, chart in (("match_weights", linker.visualisations.match_weights_chart()),
                        ("m_u_parameters", linker.visualisations.m_u_parameters_chart())):
        p = os.path.join(out_dir, f"{name}.html")
        chart.save(p, inline=True)  # self-contained: opens offline
        paths[name] = p
    curve = evaluation["curve"].melt(id_vars=["threshold"], value_vars=["precision", "recall", "f1"],
                                     var_name="metric", value_name="value")
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": f"DTSEN {month}: pairwise precision / recall / F1 by clustering threshold",
        "width": 600, "height": 300, "data": {"values": curve.to_dict(orient="records")},
        "mark": {"type": "line", "point": True},
        "encoding": {"x": {"field": "threshold", "type": "quantitative", "scale": {"domain": [0.5, 1]}},
                     "y": {"field": "value", "type": "quantitative", "scale": {"zero": False}},
                     "color": {"field": "metric", "type": "nominal"},
                     "tooltip": [{"field": "threshold"}, {"field": "metric"}, {"field": "value"}]},
    }
    p = os.path.join(out_dir, "threshold_selection.html")
    with open(p, "w", encoding="utf-8") as fh:
        fh.write(chart_html(spec, inline=True, fullhtml=True))
    paths["threshold_selection"] = p
    return paths
