"""``hbilstm compare`` and ``hbilstm report``."""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path
from typing import List, Optional

import typer

from . import options
from ._app import app, stderr, user_errors


def parse_extra_options(args: list[str]) -> dict[str, list]:
    """``--gate-bias -1,-2,-3 --hidden 64`` -> ``{"gate_bias": [-1, -2, -3], "hidden": [64]}``."""
    from ..errors import ConfigError
    from ..study.sweep import parse_values

    parsed: dict[str, list] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--"):
            raise ConfigError(f"unexpected argument {token!r}; options look like --name VALUE[,VALUE...]")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(args):
                raise ConfigError(f"--{key} needs a value")
            value = args[i + 1]
            i += 1
        parsed[key.replace("-", "_")] = parse_values(value)
        i += 1
    return parsed


_COMPARE = """Train a depth sweep (carry x depth x seed) and write its report.

    Every (carry, depth, seed) is trained with otherwise equal settings. Any training option can
    be swept or fixed the same way: --gate-bias -1,-2,-3 (or --set gate_bias=-1,-2,-3) sweeps it,
    --hidden 64 fixes it. Each run is an ordinary run directory under OUT/runs/. Rerunning the
    same command skips finished runs and resumes unfinished ones. With --log-to tensorboard each
    run logs to OUT/runs/<run>/tensorboard: tensorboard --logdir OUT/runs shows them side by side.
    With --engine ray each run is a Ray task (--cpus-per-run, --gpus-per-run; on a cluster, OUT
    must be on storage every node sees).

    Examples:

    \b
      hbilstm compare -o reports/depth --config configs/compare.yaml
      hbilstm compare -o reports/small --depths 1,4 --carry plain,highway --seeds 3
      hbilstm compare -o reports/depth --engine ray --address ray://head:10001 --gpus-per-run 0.25
    """


def _compare_help() -> str:
    """compare's --help: the text above, and the training options it takes (all of TrainConfig's,
    read from it, so none is left out)."""
    from ..config import TrainConfig

    flags = ", ".join("--" + name.replace("_", "-") for name in TrainConfig.__dataclass_fields__
                      if name not in ("carry", "layers", "seed", "data", "data_dir"))
    # laid out here, under click's no-rewrap mark, so that no flag is broken at its hyphens
    lines = textwrap.wrap(flags + ".", width=76, break_on_hyphens=False, break_long_words=False)
    return (inspect.cleandoc(_COMPARE) + "\n\nEvery other training option, as --name VALUE (fixed) or --name V1,V2,... "
            "(swept), or --set name=VALUE (what each does: docs/options.md):\n\n\b\n" + "\n".join(lines))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, help=_compare_help())
@user_errors
def compare(
    ctx: typer.Context,
    out: Path = options.output("Folder for the runs and the report, e.g. "
                               "reports/depth.", "--out", required=True, metavar="DIR"),
    depths: str = typer.Option(
        "1,2,4,8,16", "--depths", metavar="N,N,...",
        help="Comma-separated stack depths (--layers values)."),
    carry: str = typer.Option(
        "plain,highway,residual,gated-residual", "--carry", metavar="NAME,NAME,...",
        help="Comma-separated carries."),
    seeds: int = typer.Option(2, "--seeds", min=1, metavar="N", help="Seeds per configuration (1..N)."),
    config: Optional[Path] = options.config(),
    data: Optional[str] = options.data("Dataset name or path."),
    data_dir: Optional[str] = options.data_dir(),
    sets: List[str] = options.sets("hidden=32 (one value fixes it, a comma list sweeps it)"),
    jobs: int = options.jobs(),
    retry_failed: bool = options.retry_failed(),
    engine: str = options.sweep_engine(),
    address: Optional[str] = options.ray_address(),
    cpus_per_run: int = options.cpus_per_run(),
    gpus_per_run: float = options.gpus_per_run(),
) -> None:
    from ..config import load_config
    from ..study.report import build_report
    from ..study.sweep import check_data, check_reusable, locate_base, parse_values, plan, run_sweep, save_sweep
    from ._progress import SweepProgress

    ray = options.ray_engine(engine, address, cpus_per_run, gpus_per_run, jobs)
    extra = parse_extra_options(list(ctx.args))
    for pair in sets:
        key, raw = options.split_set(pair)
        extra[key] = parse_values(raw)
    fixed = {k: v[0] for k, v in extra.items() if len(v) == 1}
    swept = {k: v for k, v in extra.items() if len(v) > 1}
    for key in ("carry", "layers", "seed"):
        if key in extra:
            from ..errors import ConfigError

            raise ConfigError(f"use --{'depths' if key == 'layers' else key + ('s' if key == 'seed' else '')} to set "
                              f"{key}")
    base = locate_base(out, load_config(config, {"data": data, "data_dir": data_dir, **fixed}))
    axes = {"carry": parse_values(carry), "layers": parse_values(depths), "seed": list(range(1, seeds + 1)), **swept}
    runs = plan(base, axes, out)
    check_reusable(runs)  # before sweep.json is rewritten or anything is trained
    if address is None:  # a Ray cluster reads the data from its own storage, which may not be here
        check_data(runs)
    save_sweep(out, base, axes, ["hbilstm", *sys.argv[1:]])
    console = stderr()
    with SweepProgress(console, runs) as progress:
        run_sweep(runs, jobs=jobs, retry_failed=retry_failed, progress=progress,
                  engine=ray)
    paths = build_report(out)
    console.print(f"report: {paths['markdown']} and {paths['html']}")


@app.command()
@user_errors
def report(
    out: Path = typer.Argument(..., metavar="DIR", help="A folder written by hbilstm compare."),
    metric: Optional[str] = typer.Option(
        None, "--metric", metavar="NAME",
        help="accuracy, macro_f1, macro_recall, irony_f1 or stance_f1.  [default: the dataset's official one]"),
) -> None:
    """Rebuild a sweep's report from its finished runs.

    Writes results.csv, summary.json, the plots, report.md and report.html into DIR, with a
    section on the layer analyses (hbilstm analyze DIR/runs/RUN) found in DIR/analysis.

    Examples:

    \b
      hbilstm report reports/depth
      hbilstm report reports/depth --metric accuracy
    """
    from ..data.corpora import METRICS
    from ..errors import ConfigError
    from ..study.collect import collect
    from ..study.report import build_report

    if metric is not None and metric not in METRICS:
        raise ConfigError(f"--metric must be one of {', '.join(METRICS)}, not {metric!r}")
    paths = build_report(out, metric)
    runs = collect(out)
    stderr().print(f"{sum(r.status == 'finished' for r in runs)} of {len(runs)} runs finished; "
                   f"report: {paths['markdown']} and {paths['html']}")
