"""A real 3-node OpenSearch cluster on loopback (scripts/opensearch-cluster.sh), for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from opensearchpy import OpenSearch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "opensearch-cluster.sh"
CLUSTER_PORT = int(os.environ.get("HAYSTACK_RERANK_CLUSTER_PORT", "9250"))
CLUSTER_NODES = 3


class Cluster:
    """The nodes of the cluster: started, killed (SIGKILL), paused (SIGSTOP) and started again by index 0, 1, 2."""

    def __init__(self, port: int = CLUSTER_PORT, nodes: int = CLUSTER_NODES) -> None:
        self.port = port
        self.nodes = nodes
        self.urls = [f"http://127.0.0.1:{port + i}" for i in range(nodes)]
        self.hosts = ",".join(self.urls)
        self._paused: set[int] = set()

    def script(self, *args: str, timeout: float = 420) -> str:
        env = {**os.environ, "OPENSEARCH_CLUSTER_PORT": str(self.port), "OPENSEARCH_CLUSTER_NODES": str(self.nodes)}
        done = subprocess.run(
            ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"opensearch-cluster.sh {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout.strip()

    def client(self, timeout: float = 10) -> OpenSearch:
        return OpenSearch(hosts=self.urls, timeout=timeout)

    def start(self) -> None:
        self.script("start")

    def stop(self) -> None:
        for i in list(self._paused):
            self.resume(i)
        self.script("stop")

    def kill(self, i: int) -> None:
        """SIGKILL node i's JVM: a crash, no clean shutdown."""
        self.script("kill-node", str(i))

    def start_node(self, i: int) -> None:
        """Start node i on its data folder; returns when it has rejoined and the cluster is green."""
        self.script("start-node", str(i))

    def pause(self, i: int) -> None:
        """SIGSTOP node i's JVM: its sockets stay open, nothing answers."""
        os.kill(int(self.script("jvm-pid", str(i))), signal.SIGSTOP)
        self._paused.add(i)

    def resume(self, i: int) -> None:
        pid = int(self.script("jvm-pid", str(i)))
        os.kill(pid, signal.SIGCONT)
        # as root the JVM runs under runuser, which stops itself when its child stops: continue it too
        launcher = _parent(pid)
        if launcher and launcher > 1:
            with contextlib.suppress(ProcessLookupError):
                os.kill(launcher, signal.SIGCONT)
        self._paused.discard(i)

    def heal(self) -> None:
        """Continue paused nodes, start stopped ones, and wait until the cluster is green with every node."""
        for i in list(self._paused):
            self.resume(i)
        # `start` leaves running nodes alone and waits once for all of them (`start-node` of a running node would
        # wait for green with every node, which never comes while another one is down)
        self.script("start")
        self.wait_green()

    def wait_green(self, attempts: int = 4) -> None:
        """Until every node is in and every shard copy assigned (each attempt waits up to the server's 30 s)."""
        for _ in range(attempts):
            health = self.client(timeout=60).cluster.health(wait_for_status="green", wait_for_nodes=str(self.nodes))
            if health["status"] == "green" and health["number_of_nodes"] == self.nodes:
                return
        raise RuntimeError(f"cluster not green with {self.nodes} nodes: {health}")

    def shard_copies(self, index: str) -> list[dict[str, str]]:
        return self.client().cat.shards(index=index, format="json", h="shard,prirep,state,node")


def _parent(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None
