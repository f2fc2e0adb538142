"""A local HTTP receiver for Apprise's json:// targets (the `inbox` fixture, tests/e2e)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Inbox:
    """What the local HTTP receiver got, per path; paths in `refusing` answer 500."""

    def __init__(self) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.refused: dict[str, int] = defaultdict(int)
        self.refusing: set[str] = set()


def serve_inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path in box.refusing:
                box.refused[self.path] += 1
                self.send_response(500)
            else:
                box.posts[self.path].append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box, server.server_address[1]
    server.shutdown()
