"""A real git server for the tests: ``git http-backend`` (smart HTTP, protocol v2) behind a small
HTTP server of the tests' own, which can delay every response, inject faults (HTTP 429 with
Retry-After, 500, 503, a connection reset in the middle of a pack, a stalled body), refuse
fetches by object id (protocol v0 only), and counts requests, bytes and concurrent requests per
repository and in all.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_REPO = re.compile(r"^/(?P<repo>.+?\.git)/(?P<rest>info/refs|git-upload-pack|HEAD|objects/.*)$")


@dataclass
class Fault:
    """What to do to one response instead of serving it."""

    kind: str  # status | reset | stall
    status: int = 500
    retry_after: str | None = None
    after_bytes: int = 0  # reset and stall: how much of the body goes out first
    stall_seconds: float = 30.0


# A fault policy sees (repository, what was requested: "refs" or "pack", the number of that
# repository's requests so far) and returns a Fault, or None to serve normally.
Policy = Callable[[str, str, int], "Fault | None"]


@dataclass
class Stats:
    requests: Counter = field(default_factory=Counter)  # per repository
    bytes_sent: Counter = field(default_factory=Counter)  # response bodies, per repository
    in_flight: int = 0
    max_in_flight: int = 0
    statuses: Counter = field(default_factory=Counter)
    started_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_sent.values())


class GitHttpServer:
    """Serves every bare repository under ``root`` at ``http://127.0.0.1:<port>/<owner>/<name>.git``."""

    def __init__(self, root: Path, latency: float = 0.0, policy: Policy | None = None, v2: bool = True):
        self.root = Path(root)
        self.latency = latency
        self.policy = policy
        self.v2 = v2
        self.stats = Stats()
        self._lock = threading.Lock()
        self._http_backend = _http_backend()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._serve(self)

            def do_POST(self):
                server._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 256
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{repo}}.git"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = Stats()

    # ------------------------------------------------------------------------- one request

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path, _, query = handler.path.partition("?")
        match = _REPO.match(path)
        if not match:
            handler.send_error(404)
            return
        repo = match.group("repo").removesuffix(".git")
        kind = "pack" if match.group("rest") == "git-upload-pack" else "refs"
        body = _read_body(handler)
        with self._lock:
            number = self.stats.requests[repo]
            self.stats.requests[repo] += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            self.stats.started_at[repo].append(time.monotonic())
        try:
            if self.latency:
                time.sleep(self.latency)
            fault = self.policy(repo, kind, number) if self.policy else None
            if fault is not None and fault.kind == "status":
                self._count(repo, fault.status, 0)
                handler.send_response(fault.status)
                if fault.retry_after is not None:
                    handler.send_header("Retry-After", fault.retry_after)
                handler.send_header("Content-Type", "text/plain")
                handler.end_headers()
                handler.wfile.write(b"injected fault\n")
                return
            status, headers, output = self._backend(handler, path, query, body)
            self._count(repo, status, 0)
            handler.send_response(status)
            for name, value in headers:
                handler.send_header(name, value)
            handler.end_headers()
            sent = 0
            for chunk in output:
                if fault is not None and sent + len(chunk) > fault.after_bytes:
                    cut = max(0, fault.after_bytes - sent)
                    handler.wfile.write(chunk[:cut])
                    handler.wfile.flush()
                    self._count(repo, None, cut)
                    if fault.kind == "reset":
                        _reset(handler.connection)
                    else:
                        time.sleep(fault.stall_seconds)
                    return
                handler.wfile.write(chunk)
                sent += len(chunk)
                self._count(repo, None, len(chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    def _count(self, repo: str, status: int | None, sent: int) -> None:
        with self._lock:
            if status is not None:
                self.stats.statuses[status] += 1
            self.stats.bytes_sent[repo] += sent

    def _backend(self, handler, path: str, query: str, body: bytes):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": handler.command,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
        }
        if handler.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = handler.headers["Content-Encoding"]
        if self.v2 and handler.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
        proc = subprocess.Popen(
            [self._http_backend], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        proc.stdin.write(body)
        proc.stdin.close()
        status, headers = 200, []
        while True:
            line = proc.stdout.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name.strip(), value.strip()))

        def output():
            try:
                while True:
                    chunk = proc.stdout.read1(65536)
                    if not chunk:
                        break
                    yield chunk
            finally:
                proc.stdout.close()
                proc.wait()

        return status, headers, output()


def _read_body(handler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                break
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(parts)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _reset(connection: socket.socket) -> None:
    """Close with a TCP reset, as a dropped connection looks to the client."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _http_backend() -> str:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(exec_path) / "git-http-backend"
    if not path.exists():
        found = shutil.which("git-http-backend")
        if not found:
            raise RuntimeError("git http-backend is not installed")
        return found
    return str(path)


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        select.select([], [], [], 0.05)
