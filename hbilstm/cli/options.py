"""Options shared by several commands, defined once so that each is spelt and explained alike.

Every command names its output ``--output`` / ``-o`` (``train`` and ``compare`` also take the
older ``--out``; ``evaluate`` the older ``--json``), its dataset ``--data`` and ``--data-dir``,
its device ``--device`` and its batch size ``--batch-size``.
"""

from __future__ import annotations

from typing import Optional

import typer


def device(default: Optional[str] = "auto") -> typer.models.OptionInfo:
    shown = "" if default is not None else "  [default: auto]"
    return typer.Option(
        default, "--device", metavar="NAME", help=f"auto (CUDA when present), cpu, cuda, cuda:N or mps.{shown}"
    )


def data(help_text: str) -> typer.models.OptionInfo:
    return typer.Option(None, "--data", metavar="NAME|PATH", help=help_text)


def data_dir() -> typer.models.OptionInfo:
    return typer.Option(None, "--data-dir", metavar="DIR", help="Where named datasets live.  [default: "
                                                                "$HBILSTM_DATA_DIR or ./data]")


def batch_size(default: Optional[int], shown: str = "64") -> typer.models.OptionInfo:
    """``shown``: the default to name in --help when ``default`` is None (decided later)."""
    return typer.Option(default, "--batch-size", min=1, metavar="N",
                        help="Tweets per batch." + (f"  [default: {shown}]" if default is None else ""))


def output(help_text: str, *aliases: str, required: bool = False, metavar: str = "PATH") -> typer.models.OptionInfo:
    return typer.Option(... if required else None, "--output", *aliases, "-o", metavar=metavar, help=help_text)


def threads() -> typer.models.OptionInfo:
    return typer.Option(0, "--threads", min=0, metavar="N",
                        help="CPU threads for the model (0: torch's default, one per core). On a busy machine "
                             "fewer can be many times faster.")


def sets(example: str) -> typer.models.OptionInfo:
    return typer.Option([], "--set", metavar="KEY=VALUE", help=f"Any other config option, e.g. --set {example} "
                                                               "(repeatable).")


def split_set(pair: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> ``("key", "VALUE")`` (dashes in the key read as underscores)."""
    from ..errors import ConfigError

    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set takes KEY=VALUE, not {pair!r}")
    return key.strip().replace("-", "_"), raw


MODEL_HELP = "A run directory, a model.pt checkpoint or an exported model folder"


def model(hub: bool = False) -> typer.models.ArgumentInfo:
    """The MODEL argument that every command scoring a model takes, said one way (``hub``: a
    Hugging Face Hub repo id too, for the commands that load through hbilstm.loading.load)."""
    return typer.Argument(..., metavar="MODEL", help=MODEL_HELP + (", or a Hub repo id." if hub else "."))


def service_option(name: str, metavar: str, text: str, flag: str | None = None, **bounds) -> typer.models.OptionInfo:
    """A flag of ``hbilstm serve`` whose default is :class:`~hbilstm.serving.settings.ServeSettings`'s
    field ``name`` (``bounds``: typer's min and max)."""
    from ..serving.settings import ServeSettings

    default = ServeSettings.__dataclass_fields__[name].default
    return typer.Option(default, flag or "--" + name.replace("_", "-"), metavar=metavar, help=text, **bounds)


def shown(value) -> str:
    """A default as ``--help`` shows it: ``none`` for None, ``true``/``false``, numbers as Python writes them."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def train_option(name: str, metavar: str, text: str, flag: str | None = None) -> typer.models.OptionInfo:
    """The flag of the training option ``name`` (``--name``), its ``--help`` default read from
    :class:`~hbilstm.config.TrainConfig` itself, so the two cannot drift apart (a test checks
    every such default). The value stays None when the flag is not given, so that the config file
    and ``--set`` decide."""
    from ..config import TrainConfig

    default = TrainConfig.__dataclass_fields__[name].default
    return typer.Option(None, flag or "--" + name.replace("_", "-"), metavar=metavar,
                        help=f"{text}  [default: {shown(default)}]")


def config() -> typer.models.OptionInfo:
    return typer.Option(
        None,
        "--config",
        "-c",
        metavar="FILE",
        help="YAML config (see configs/default.yaml); options given here override it.",
    )


def jobs() -> typer.models.OptionInfo:
    return typer.Option(1, "--jobs", "-j", min=1, metavar="N",
                        help="Trainings run at once (processes sharing the CPUs or the GPU); with --engine ray, "
                             "at most N at once when N > 1.")


def sweep_engine() -> typer.models.OptionInfo:
    return typer.Option("local", "--engine", metavar="NAME",
                        help="local (processes on this machine) or ray: each training a Ray task, on the cluster "
                             "at --address or in a local Ray instance (needs the ray extra).")


def ray_address() -> typer.models.OptionInfo:
    return typer.Option(None, "--address", metavar="ADDR",
                        help="With --engine ray: the Ray cluster, e.g. ray://head:10001 or auto.  "
                             "[default: $RAY_ADDRESS, else a local Ray instance]")


def cpus_per_run() -> typer.models.OptionInfo:
    return typer.Option(1, "--cpus-per-run", min=1, metavar="N",
                        help="With --engine ray: CPUs each training asks for (and its torch threads).")


def gpus_per_run() -> typer.models.OptionInfo:
    return typer.Option(0.0, "--gpus-per-run", min=0.0, metavar="G",
                        help="With --engine ray: GPUs each training asks for; a fraction (0.25) packs runs on "
                             "one GPU.")


def ray_engine(engine: str, address: str | None, cpus: int, gpus: float, jobs: int):
    """The sweep's :class:`~hbilstm.study.ray_sweep.RayEngine`, or None for the local engine;
    ConfigError for a Ray option without ``--engine ray``."""
    from ..errors import ConfigError

    if engine == "ray":
        from ..study.ray_sweep import RayEngine

        return RayEngine(address, cpus, gpus, jobs if jobs > 1 else None)
    if engine != "local":
        raise ConfigError(f"--engine must be local or ray, not {engine!r}")
    if address is not None or cpus != 1 or gpus:
        raise ConfigError("--address, --cpus-per-run and --gpus-per-run are for --engine ray")
    return None


def retry_failed() -> typer.models.OptionInfo:
    return typer.Option(False, "--retry-failed", help="Run again the runs that diverged or failed.")
