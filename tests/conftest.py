"""Shared fixtures: the toy model registered once, repo/shared paths, quiet threads, a loopback file server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("GENAE_TEST_THREADS", "1")))
# Tests never reach the internet (a developer's online machine would otherwise fetch ~900 MB of weights);
# download tests pass offline=False and point at a FileServer on 127.0.0.1.
os.environ.setdefault("GENAE_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def toy_name() -> str:
    """Name of the toy architecture (``genae.testing.toy``) in the global registry.

    Registered the way ``register_toy`` does it (as a run-time ``user`` model), so tests that call
    ``register_toy`` themselves and tests that use this fixture see one and the same registration.
    """
    from genae.testing.toy_recipe import register_toy

    return register_toy("toy")


class FileServer:
    """Serves a folder over HTTP on 127.0.0.1 and counts the requests it answers."""

    def __init__(self, folder: Path) -> None:
        import functools
        import http.server
        import threading

        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests += 1
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.folder, self.requests = folder, 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server(tmp_path: Path):
    """A :class:`FileServer` for a fresh folder ``tmp_path / "served"``."""
    (tmp_path / "served").mkdir()
    served = FileServer(tmp_path / "served")
    yield served
    served.close()
