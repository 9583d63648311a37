"""Quarter plots: valid PNGs from hand-made data and from the warehouse; metadata for the UI."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ftm_assets.modeling.types import Theme, TopicRef
from ftm_assets.quality.plots import (
    QuarterPlotData,
    firm_theme_heatmap_png,
    load_plot_data,
    plot_data_from_themes,
    render_quarter_plots,
    theme_overview_png,
    topics_per_firm_png,
    write_quarter_plots,
)
from ftm_assets.quality.stored import stored_firm_quality
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.schema import migrate

PNG = b"\x89PNG\r\n\x1a\n"


def _image(png: bytes) -> Image.Image:
    assert png.startswith(PNG)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _data(n_firms: int = 4, n_themes: int = 3) -> QuarterPlotData:
    themes = [(k, f"Theme {k}: supply chain and pricing", 2 + k, 3 + k) for k in range(n_themes)]
    cells = [
        (f"F{f:03d}", k, 1 + (f + k) % 2) for f in range(n_firms) for k in range(n_themes) if (f + k) % 3
    ]
    firms = [(f"F{f:03d}", 5 + f % 4) for f in range(n_firms)]
    return QuarterPlotData("2024Q1", themes, cells, firms)


def test_each_plot_is_a_valid_png():
    data = _data()
    for render in (theme_overview_png, firm_theme_heatmap_png, topics_per_firm_png):
        image = _image(render(data))
        assert image.width > 200 and image.height > 100
    empty = QuarterPlotData("2024Q1", [], [], [])
    for render in (theme_overview_png, firm_theme_heatmap_png, topics_per_firm_png):
        _image(render(empty))  # a "nothing to show" image, not an error


def test_large_quarters_are_cut_to_what_a_plot_can_show():
    data = _data(n_firms=300, n_themes=80)
    plots = {p.name: p for p in render_quarter_plots(data)}
    assert set(plots) == {"theme_overview", "firm_theme_heatmap", "topics_per_firm"}
    for plot in plots.values():
        image = _image(plot.png)
        assert image.height < 2000 and image.width < 2000
        assert plot.markdown().startswith(f"![{plot.title}](data:image/png;base64,")


def test_plots_from_the_warehouse_match_the_themes_stage_data(database_url, tmp_path):
    migrate(database_url, 4)
    vec = np.array([1, 0, 0, 0], dtype=np.float32)
    with connect(database_url, autocommit=True) as conn:
        for firm in ("AAA", "BBB"):
            conn.execute(
                "INSERT INTO firms (firm_id, quarter, n_sentences, n_topics, outlier_share, topic_outcome,"
                " summary_source, input_fingerprint)"
                " VALUES (%s, '2024Q1', 3, 2, 0.0, 'ok', 'extractive', 'x')",
                (firm,),
            )
        ids = {}
        for firm, local, keywords in (
            ("AAA", 0, ["freight", "costs"]),
            ("AAA", 1, ["pricing", "margins"]),
            ("BBB", 0, ["freight", "rates"]),
            ("BBB", 1, ["cloud", "demand"]),
        ):
            ids[(firm, local)] = conn.execute(
                "INSERT INTO topics (firm_id, quarter, local_topic_id, label, keywords, size,"
                " representative_sentence_indexes, summary, summary_source, embedding)"
                " VALUES (%s, '2024Q1', %s, 'l', %s, 1, '{0}', 's', 'extractive', %s) RETURNING topic_id",
                (firm, local, keywords, vec),
            ).fetchone()[0]
        theme_id = conn.execute(
            "INSERT INTO themes (quarter, theme_local_id, name, description, keywords, n_firms, n_topics,"
            " source, embedding) VALUES ('2024Q1', 0, 'Freight', 'd', '{freight}', 2, 2, 'extractive', %s)"
            " RETURNING theme_id",
            (vec,),
        ).fetchone()[0]
        for rank, key in enumerate((("AAA", 0), ("BBB", 0))):
            conn.execute(
                "INSERT INTO topic_themes (topic_id, quarter, theme_id, rank_in_theme) VALUES (%s, '2024Q1', %s, %s)",
                (ids[key], theme_id, rank),
            )
        for firm, local, text in (
            ("AAA", 0, "Freight costs rose."),
            ("AAA", 1, "Pricing lifted margins."),
            ("AAA", None, "Thank you, operator."),
        ):
            conn.execute(
                "INSERT INTO sentences (firm_id, quarter, sentence_index, text, topic_id, embedding)"
                " VALUES ('AAA', '2024Q1', %s, %s, %s, %s)",
                (len(text) % 97, text, ids.get((firm, local)), vec),
            )
        from_db = load_plot_data(conn, "2024Q1")
        written = write_quarter_plots(conn, "2024Q1", tmp_path / "plots")
        quality = stored_firm_quality(conn, "AAA", "2024Q1")
        assert stored_firm_quality(conn, "ZZZ", "2024Q1") is None

    topics = [TopicRef(ids[(f, k)], f, k, "s", ()) for f, k in sorted(ids)]
    theme = Theme(0, "Freight", "d", ("freight",), (ids[("AAA", 0)], ids[("BBB", 0)]), 2, "extractive")
    assert plot_data_from_themes("2024Q1", topics, [theme]) == from_db
    assert from_db.firm_theme_topics == [("AAA", 0, 1), ("BBB", 0, 1)]
    assert sorted(p.path.name for p in written) == [
        "firm_theme_heatmap.png",
        "theme_overview.png",
        "topics_per_firm.png",
    ]
    for plot in written:
        _image(plot.path.read_bytes())
    assert quality.n_topics == 2 and quality.outlier_share == pytest.approx(1 / 3)


def test_quarter_plot_metadata_for_the_themes_asset(tmp_path):
    import dagster as dg

    from ftm_assets.defs.checks import quarter_plot_metadata

    topics = [TopicRef(i, f"F{i % 3}", i, "s", ()) for i in range(6)]
    themes = [Theme(0, "Freight", "d", ("freight",), (0, 1, 2), 3, "extractive")]
    entries = quarter_plot_metadata("2024Q1", topics, themes, tmp_path)
    assert isinstance(entries["plot_theme_overview"], dg.MarkdownMetadataValue)
    assert (tmp_path / "2024Q1" / "firm_theme_heatmap.png").read_bytes().startswith(PNG)
    assert entries["plot_topics_per_firm_path"].path == str(tmp_path / "2024Q1" / "topics_per_firm.png")
    assert set(quarter_plot_metadata("2024Q1", topics, themes, None)) == {
        "plot_theme_overview",
        "plot_firm_theme_heatmap",
        "plot_topics_per_firm",
    }
