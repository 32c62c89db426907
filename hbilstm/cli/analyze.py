"""``hbilstm analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import options
from ._app import app, stderr, user_errors


@app.command()
@user_errors
def analyze(
    model: Path = options.model(),
    out: Optional[Path] = options.output(
        "Folder for analysis.md, analysis.json, lesions.csv, tokens.csv and lesions.png.  [default: for a run of a "
        "compare folder OUT, OUT/analysis/<run>, which hbilstm report OUT then links]",
                                         metavar="DIR"),
    data: Optional[str] = options.data("Dataset name or path.  [default: the one the model was trained on]"),
    split: Optional[str] = typer.Option(None, "--split", metavar="NAME", help="train, val or test.  [default: test]"),
    data_dir: Optional[str] = options.data_dir(),
    threshold: float = typer.Option(0.5, "--threshold", metavar="POINTS", min=0.0,
                                    help="Pruning keeps a removal while the score stays within this many points."),
    top: int = typer.Option(
        10, "--top", metavar="N", min=1,
        help="Tokens listed at each end of a layer's gate ranking."),
    min_count: int = typer.Option(
        20, "--min-count", metavar="N", min=1,
        help="Least occurrences of a token type to be ranked."),
    batch_size: int = options.batch_size(256),
    device: str = options.device(),
) -> None:
    """Lesion each layer of a trained stack: what each layer does, and which can go.

    For every layer: the score with that layer lesioned (it passes on only its carry path: T = 0
    for highway, g = 0 for gated-residual, H dropped for residual), its mean gate, the tokens that
    open a highway layer's gate most and least, and the layers that can be removed together
    while the score stays within --threshold points.

    Examples:

    \b
      hbilstm analyze runs/deep -o reports/deep-analysis
      hbilstm analyze runs/deep -o reports/deep-val --split val --threshold 1
      hbilstm analyze reports/depth/runs/highway-L16-s1   # then: hbilstm report reports/depth
    """
    from ..errors import ConfigError
    from ..evaluation.analysis_report import check_output_dir, write_analysis
    from ..evaluation.analyze import analyze as run_analysis
    from ..study.analyses import default_analysis_dir

    out = out or default_analysis_dir(model)
    if out is None:
        raise ConfigError("pass -o DIR for the analysis (only a run of a compare folder has a default)")
    check_output_dir(out)  # before minutes of scoring
    analysis = run_analysis(model, data, split, data_dir, batch_size, device, threshold, top, min_count)
    paths = write_analysis(analysis, out)
    stderr().print(f"{len(analysis.layers)} layers analysed; report: {paths['analysis.md']}")
