"""Enough of Elasticsearch for the shipper: product header, index templates, `_bulk`.

Modes: "ok"; "slow" (answers after `delay`); "hang" (answers after a long wait);
"429" (refuses whole requests with 429); and documents whose message contains
MAPPING_CONFLICT are refused item by item with a 400, as a mapping conflict is.
`stop()`/`start()` take the port down and bring it back (connection refused between).
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

HEADERS = {
    "X-Elastic-Product": "Elasticsearch",
    "Content-Type": "application/vnd.elasticsearch+json; compatible-with=9",
}


class FakeElasticsearch:
    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], dict[str, Any]] = {}
        self.creates: list[str] = []  # every accepted create, to catch duplicates
        self.templates: dict[str, Any] = {}
        self.bulk_requests = 0
        self.mode = "ok"
        self.delay = 0.5
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                for key, value in HEADERS.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                self._reply(
                    200, {"version": {"number": "9.1.5"}, "tagline": "You Know, for Search"}
                )

            def do_HEAD(self) -> None:
                self._reply(200, {})

            def do_PUT(self) -> None:
                if self.path.startswith("/_bulk"):
                    self.do_POST()
                    return
                body = self._body()
                if self.path.startswith("/_index_template/"):
                    fake.templates[self.path.split("/")[2].split("?")[0]] = orjson.loads(body)
                    self._reply(200, {"acknowledged": True})
                else:
                    self._reply(404, {"error": "not here"})

            def do_POST(self) -> None:
                body = self._body()
                if not self.path.startswith("/_bulk"):
                    self._reply(404, {"error": "not here"})
                    return
                with fake._lock:
                    fake.bulk_requests += 1
                if fake.mode == "hang":
                    time.sleep(30)
                if fake.mode == "slow":
                    time.sleep(fake.delay)
                if fake.mode == "429":
                    self._reply(
                        429, {"error": {"type": "es_rejected_execution_exception"}, "status": 429}
                    )
                    return
                self._reply(200, fake.bulk(body))

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the bulk API --------------------------------------------------------------------

    def bulk(self, body: bytes) -> dict[str, Any]:
        lines = [line for line in body.split(b"\n") if line.strip()]
        items = []
        with self._lock:
            for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
                action = orjson.loads(action_line)
                op, meta = next(iter(action.items()))
                source = orjson.loads(source_line)
                key = (meta["_index"], meta["_id"])
                result: dict[str, Any] = {"_index": meta["_index"], "_id": meta["_id"]}
                if "MAPPING_CONFLICT" in str(source.get("message")):
                    result |= {"status": 400, "error": {"type": "mapper_parsing_exception"}}
                elif key in self.documents:
                    result |= {
                        "status": 409,
                        "error": {"type": "version_conflict_engine_exception"},
                    }
                else:
                    self.documents[key] = source
                    self.creates.append(meta["_id"])
                    result |= {"status": 201, "result": "created"}
                items.append({op: result})
        errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
        return {"took": 1, "errors": errors, "items": items}

    def messages(self) -> list[str]:
        with self._lock:
            return [str(d.get("message")) for d in self.documents.values()]
