"""Reaching a Ray cluster (or starting a local Ray instance), for the commands that run on Ray:
``hbilstm predict --engine ray`` and the sweeps of ``compare`` and ``benchmark`` with
``--engine ray``. Every failure to connect, and a cluster that cannot hold what a task asks for, is
a one-line ConfigError at once: Ray itself would retry, or wait for resources, for ever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any, Iterator

from .errors import ConfigError


def import_ray(what: str) -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it (``what``: the option asking)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f'{what} needs Ray: pip install "hbilstm[ray]"') from None
    return ray


def check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """ConfigError at once when ``host:port`` (or ``ray://host:port``) does not answer: Ray itself
    would retry for minutes before giving up."""
    if not address or address == "auto" or ":" not in address:
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--address {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise ConfigError(f"cannot start or reach the Ray cluster at {address}: nothing answers there "
                          f"({error.strerror or error})") from None


@contextlib.contextmanager
def connected(ray: Any, address: str | None, num_cpus: int | None = None) -> Iterator[str | None]:
    """Ray connected to ``address`` (None: ``$RAY_ADDRESS``, else a new local instance with
    ``num_cpus`` CPUs, None: all) for the block; yields the address used. A Ray already
    initialised by the caller is used as it is and left running. Without an address Ray itself
    would join the last cluster that ``ray start`` left on this machine; a new instance is asked
    for by name (``"local"``), so that a run without ``--address`` never lands on another's."""
    address = address or os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    if started_here:
        check_reachable(address)
        try:
            ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=False,
                     logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise ConfigError(f"cannot start or reach {where}: {str(error).strip().splitlines()[0]}") from None
    try:
        yield address
    finally:
        if started_here:
            ray.shutdown()


def check_fits(ray: Any, cpus: float, gpus: float, address: str | None) -> None:
    """ConfigError when no live node of the cluster has ``cpus`` CPUs and ``gpus`` GPUs in all
    (a task asking for more would wait for ever)."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return
    where = f"the Ray cluster at {address}" if address else "the local Ray instance"
    largest = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
    raise ConfigError(f"{where} has no node with {cpus:g} CPU(s) and {gpus:g} GPU(s) for a run "
                      f"(its largest: {largest.get('CPU', 0):g} CPU(s), {largest.get('GPU', 0):g} GPU(s)); "
                      "lower --cpus-per-run or --gpus-per-run")
