"""A sweep's plots as files: a PNG (matplotlib, imported only here, never on the live
page's path) and an HTML page that opens offline (uPlot's local copy inlined)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from app.assets import ASSETS
from app.sweep import NOISE_NOTE, describe, plot_data, table

ROOT = Path(__file__).resolve().parents[2]
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#7f7f7f")


def write_png(record: Mapping[str, Any], path: Path) -> Path:
    """503 rate, p99 and ok throughput against the first swept setting, a line per value
    of the others; bars span min–max when the cells were repeated."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    data = plot_data(record)
    figure, axes = pyplot.subplots(1, len(data["figures"]), figsize=(5 * len(data["figures"]), 4), squeeze=False)
    for ax, plotted in zip(axes[0], data["figures"], strict=True):
        for i, line in enumerate(plotted["lines"]):
            points = [
                (x, m, lo, hi)
                for x, m, lo, hi in zip(data["x"], line["median"], line["min"], line["max"], strict=True)
                if m is not None
            ]
            if not points:
                continue
            xs, medians, lows, highs = (list(column) for column in zip(*points, strict=True))
            errors = [
                [m - lo for m, lo in zip(medians, lows, strict=True)],
                [h - m for m, h in zip(medians, highs, strict=True)],
            ]
            ax.errorbar(
                xs,
                medians,
                yerr=errors if data["repeat"] > 1 else None,
                marker="o",
                capsize=4,
                color=COLOURS[i % len(COLOURS)],
                label=line["name"],
            )
        ax.set_title(plotted["label"])
        ax.set_xlabel(data["x_name"])
        ax.set_ylabel(plotted["unit"])
        ax.set_ylim(bottom=0)
        if not data["x_numeric"]:
            ax.set_xticks(data["x"], data["x_labels"])
        ax.grid(alpha=0.3)
        if len(plotted["lines"]) > 1:
            ax.legend(fontsize="small")
    figure.suptitle(describe(record))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def html(record: Mapping[str, Any]) -> str:
    """The interactive plots with the table, uPlot and our script inlined: opens from
    file:// with no server and no network."""
    uplot = {a.kind: a.file for a in ASSETS if a.package == "uplot"}
    missing = [str(f) for f in uplot.values() if not f.is_file()]
    if missing:
        raise RuntimeError(f"connscope: uPlot is missing from vendor/ ({', '.join(missing)}): run ./setup.sh")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "templates"), autoescape=True)
    header, rows = table(record)
    sweep = record["sweep"]
    return env.get_template("sweep_plot.html").render(
        title=f"sweep {sweep['id']}" if sweep.get("id") else "sweep",
        subtitle=describe(record),
        header=header,
        rows=rows,
        note=NOISE_NOTE if sweep["repeat"] > 1 else None,
        plot=plot_data(record),
        uplot_js=uplot["js"].read_text().replace("</script", "<\\/script"),
        uplot_css=uplot["css"].read_text(),
        plot_js=(ROOT / "static" / "js" / "sweep-plot.js").read_text().replace("</script", "<\\/script"),
    )


def write_plots(record: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """sweep.png, sweep.html and sweep.json (the record they are drawn from) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [write_png(record, out_dir / "sweep.png")]
    (out_dir / "sweep.html").write_text(html(record))
    (out_dir / "sweep.json").write_text(json.dumps(record, indent=1))
    return [*written, out_dir / "sweep.html", out_dir / "sweep.json"]
