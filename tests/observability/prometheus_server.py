"""A real Prometheus (Debian's package) scraping one target on 127.0.0.1, for tests."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.progress import StallWatch, tree_cpu_seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Prometheus:
    port: int
    process: subprocess.Popen

    def query(self, expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, expr: str, until: Callable[[list[dict]], bool] = bool,
                 producer: subprocess.Popen | None = None) -> list[dict]:
        """Poll ``expr`` until ``until(result)``; give up only once the producer of the metrics
        (``producer``'s process tree, else Prometheus itself) has stalled (tests.progress)."""
        watched = producer or self.process
        watcher = StallWatch(lambda: tree_cpu_seconds(watched.pid))
        result: list[dict] = []
        while watcher.moved():
            assert self.process.poll() is None, "prometheus exited early"
            try:
                result = self.query(expr)
            except OSError:
                result = []
            if until(result):
                return result
            time.sleep(0.5)
        pytest.fail(f"{expr} did not reach the expected value before its producer stalled (last: {result})")


@contextlib.contextmanager
def prometheus(target_port: int, folder: Path) -> Iterator[Prometheus]:
    """Prometheus scraping 127.0.0.1:target_port every second; stopped by PID on exit."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: apt-get install -y --no-install-recommends prometheus")
    port = free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "acdc", "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    process = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(folder / "prometheus.log").open("w"),
    )
    try:
        yield Prometheus(port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
