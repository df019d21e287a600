"""The chart's rendered workloads run here against a managed-Kafka stand-in.

A deployment on MSK, Confluent Cloud, Aiven or Strimzi reaches its broker over TLS with
SASL/SCRAM, the password in a mounted Secret and the CA bundle in a mounted volume. This
module starts such a broker here (tansu with SCRAM-SHA-512 on a sqlite store, Debian's
stunnel4 in front for TLS, a self-signed certificate made by openssl) and runs a rendered
container as the kubelet would: its args, its env, and each volume it mounts written to
a local directory, the env's paths moved there. Every part must be present: a missing
tansu, stunnel4 or openssl fails the check, never skips it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

USER = "webhook-gateway"
# Distinctive, so that any output holding it is caught.
PASSWORD = "chart-scram-canary-52be07"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, what: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port} within {within} s")
            time.sleep(0.05)


class ManagedKafka:
    """tansu admitting only USER/PASSWORD over SASL/SCRAM-SHA-512, reached through TLS
    (stunnel4) at `bootstrap`; `ca` is the PEM clients must trust. A context manager."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="webhook-gateway-managed-kafka-"))
        self.broker_port = free_port()
        self.tls_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.tls_port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.broker: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ManagedKafka:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        for proc in self.processes:
            proc.kill()
            proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(proc)
        return proc

    def _tansu(self, authentication: bool) -> None:
        if self.broker is not None:
            self.broker.kill()
            self.broker.wait()
        args = ["tansu", "broker", "--listener-url", f"tcp://127.0.0.1:{self.broker_port}",
                # Clients are told to come back through the TLS terminator.
                "--advertised-listener-url", f"tcp://{self.bootstrap}",
                "--storage-engine", "sqlite://tansu.db"]
        self.broker = self._spawn(args + (["--authentication"] if authentication else []))
        wait_listening(self.broker_port, "tansu")

    def _start(self) -> None:
        # tansu takes users only while it runs without authentication.
        self._tansu(authentication=False)
        subprocess.run(["tansu", "user", "create", USER, PASSWORD, "--broker", f"tcp://127.0.0.1:{self.broker_port}"],
                       cwd=self.dir, check=True, stdout=subprocess.DEVNULL, timeout=60)
        self._tansu(authentication=True)
        cert, key = self.dir / "broker.crt", self.dir / "broker.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        self.ca = cert.read_text()
        conf = self.dir / "stunnel.conf"
        conf.write_text(f"foreground = yes\npid =\n[kafka]\naccept = {self.bootstrap}\n"
                        f"connect = 127.0.0.1:{self.broker_port}\ncert = {cert}\nkey = {key}\n")
        self._spawn(["stunnel4", str(conf)])
        wait_listening(self.tls_port, "stunnel4")


class Workload:
    """A rendered Deployment's or Job's one container, laid out to run here: each volume
    it mounts is a local directory holding the files Kubernetes would project into it,
    `files[(volume, path)]` giving those a Secret would (Secrets are not rendered), and
    ConfigMaps coming from the rendered objects. `env` is the container's effective
    plain environment (check_chart.workload_env)."""

    def __init__(self, workload: dict[str, Any], env: dict[str, str], objs: list[dict[str, Any]],
                 files: dict[tuple[str, str], str], root: Path) -> None:
        pod = workload["spec"]["template"]["spec"]
        (self.container,) = pod["containers"]
        self.plain = env
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        self.moved: dict[str, str] = {}
        for mount in self.container.get("volumeMounts", []):
            name = mount["name"]
            local = root / workload["kind"].lower() / name
            local.mkdir(parents=True)
            for path, content in self._contents(volumes[name], name, objs, files).items():
                (local / path).parent.mkdir(parents=True, exist_ok=True)
                (local / path).write_text(content)
            self.moved[mount["mountPath"].rstrip("/")] = str(local)

    @staticmethod
    def _contents(volume: dict[str, Any], name: str, objs: list[dict[str, Any]],
                  files: dict[tuple[str, str], str]) -> dict[str, str]:
        if "configMap" in volume:
            cm_name = volume["configMap"]["name"]
            cms = [o for o in objs if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == cm_name]
            if cms:
                data = cms[0]["data"]
                items = volume["configMap"].get("items")
                return {i["path"]: data[i["key"]] for i in items} if items else dict(data)
        return {path: content for (vol, path), content in files.items() if vol == name}

    def env(self) -> dict[str, str]:
        """The container's env (a ConfigMap's envFrom, then env), paths under a mount moved to its local directory."""
        out = {}
        for name, value in self.plain.items():
            value = value or ""  # an env entry from valueFrom has no plain value
            for mounted, local in self.moved.items():
                if value == mounted or value.startswith(mounted + "/"):
                    value = local + value[len(mounted):]
            out[name] = value
        return out

    def run(self, binary: Path, extra: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", ""), **self.env(), **extra}
        return subprocess.run([str(binary), *self.container.get("args", [])], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, binary: Path, extra: dict[str, str]) -> subprocess.Popen[str]:
        env = {"PATH": os.environ.get("PATH", ""), **self.env(), **extra}
        return subprocess.Popen([str(binary), *self.container.get("args", [])], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
