#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 reverse proxy for S3 integration tests (stdlib only).

Usage:
    s3proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--log FILE]
               [--rule KIND:MATCH:COUNT[:ARG]]... [--max-seconds 600]

Listens on 127.0.0.1 only. Once listening it prints ``PORT <n>`` on one line to
stdout (flushed), then serves until killed, until --max-seconds have passed, or
until its parent process goes away (so an aborted test never leaves it behind).

Every request is forwarded to the upstream unchanged (method, path+query, the
client's headers including Host, body); the response is streamed back. Client
connections are keep-alive; each one gets its own persistent upstream
connection.

--log FILE gets one JSON line per request, written before the response body is
sent to the client (so once a client has a complete response, its line is in
the file):
    {"method": "GET", "path": "/bucket/key", "query": {"list-type": "2"},
     "status": 200, "fault": null, "akid": "AKIA..."}
``path`` is percent-decoded and has no query; ``query`` maps each decoded
parameter to its value (a list if the parameter is repeated; "" if it has no
value); ``akid`` is the access key id the request was signed with (null if unsigned).
``op`` is the X-Amz-Target header (JSON-protocol operations, e.g.
"AWSCognitoIdentityProviderService.ListUsers"), or null.
``status`` is the status sent to the client (0 if nothing was sent,
502 if the upstream failed); ``fault`` is the KIND of the rule applied, or null.

Rules (--rule, repeatable), KIND:MATCH:COUNT[:ARG]:
    503    answer 503 SlowDown (S3 XML error body) instead of forwarding
    500    answer 500 InternalError instead of forwarding
    403    answer 403 AccessDenied instead of forwarding
    deny   answer 400 AccessDeniedException with a JSON body (the JSON protocol of
           services such as Cognito) instead of forwarding
    reset  forward, send status line, headers and about half the body, then
           wait ARG seconds (default 0.2, so the client has read what was sent:
           Linux drops unread data when a RST arrives) and reset the
           connection (SO_LINGER 0). If the response has no body (HEAD, empty
           object) the connection is reset before anything is sent.
    stall  forward, send status line, headers and about half the body, then
           sleep ARG seconds (default 30) and close the connection.
    delay  wait ARG seconds (default 1), then forward as usual (a slow link).
    down   the first COUNT matching requests pass untouched; the next one starts an
           outage of ARG seconds (default 5): until it ends, every request, whatever
           its path, has its connection reset with nothing sent. Then all is normal.
    gone   the first COUNT matching requests pass untouched; the next one makes
           the whole proxy exit at once (the server disappears mid-run: every
           later connection is refused).
MATCH is a substring of the request's percent-decoded path+query, followed by
" " and the X-Amz-Target header when there is one (so "ListUsers" matches
Cognito's ListUsers calls); "" matches everything; it may itself contain ':'. COUNT is how many matching requests get
the fault, or '*' for all of them forever. Rules are checked in order; the
first matching rule with a count left applies.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}

ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
    403: ("AccessDenied", "Access Denied"),
}

COPY_CHUNK = 64 * 1024
UPSTREAM_TIMEOUT = 120


class Rule:
    def __init__(self, spec: str):
        parts = spec.split(":")
        if len(parts) < 3:
            raise ValueError(f"bad rule {spec!r}: want KIND:MATCH:COUNT[:ARG]")
        self.spec = spec
        self.kind = parts[0].lower()
        if self.kind not in ("500", "503", "403", "deny", "reset", "stall", "gone", "delay", "down"):
            raise ValueError(f"bad rule {spec!r}: unknown kind {parts[0]!r}")
        arg = None
        # An ARG is present if the last field is a number and the one before it
        # is a valid COUNT; otherwise the last field is the COUNT. MATCH is
        # everything in between (so it may contain ':').
        if len(parts) >= 4 and _is_number(parts[-1]) and _is_count(parts[-2]):
            arg = float(parts[-1])
            count = parts[-2]
            match = ":".join(parts[1:-2])
        else:
            count = parts[-1]
            match = ":".join(parts[1:-1])
        if not _is_count(count):
            raise ValueError(f"bad rule {spec!r}: COUNT must be an integer or '*'")
        self.match = match
        self.remaining = None if count == "*" else int(count)
        self.arg = arg

    def take(self, target: str) -> bool:
        """Whether this rule applies to `target`; consumes one use. Caller holds the lock."""
        if self.match not in target:
            return False
        if self.kind in ("gone", "down"):
            # COUNT matching requests pass; the next one takes the whole server down.
            if self.remaining is not None and self.remaining > 0:
                self.remaining -= 1
                return False
            return True
        if self.remaining is None:
            return True
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return False


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _is_count(s: str) -> bool:
    return s == "*" or (s.isdigit())


class Proxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, upstream: str, rules: list[Rule], log_path: str | None, verbose: bool):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"--upstream must be http://HOST:PORT, got {upstream!r}")
        self.up_host = u.hostname
        self.up_port = u.port or 80
        self.rules = rules
        self.rules_lock = threading.Lock()
        self.down_until = 0.0
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.verbose = verbose
        super().__init__(addr, Handler)

    def pick_fault(self, target: str) -> Rule | None:
        with self.rules_lock:
            for rule in self.rules:
                if rule.take(target):
                    return rule
        return None

    def log_request_line(self, record: dict) -> None:
        if self.log_file is None:
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self.log_lock:
            self.log_file.write(line)
            self.log_file.flush()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            if self.verbose:
                print(f"s3proxy: client {client_address}: {exc!r}", file=sys.stderr, flush=True)
            return
        print(f"s3proxy: error handling request from {client_address}:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()


class ClientGone(Exception):
    """The client connection is unusable; stop handling it quietly."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"
    server: Proxy

    # One persistent upstream connection per client connection (handler instance).
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if self.server.verbose:
            sys.stderr.write("s3proxy: %s - %s\n" % (self.address_string(), format % args))

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()
                self.upstream = None

    def __getattr__(self, name):
        # Route every do_<METHOD> to the proxy.
        if name.startswith("do_"):
            return self.proxy
        raise AttributeError(name)

    # ---------------------------------------------------------------- request

    def read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone("EOF in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers until an empty line.
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    return bytes(out)
                out += self._read_exact(size)
                self.rfile.readline(65537)  # CRLF after the chunk
        length = self.headers.get("Content-Length")
        if length:
            return self._read_exact(int(length))
        return b""

    def _read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise ClientGone("EOF in request body")
        return data

    def proxy(self):
        record = {"method": self.command, "path": None, "query": {}, "status": 0, "fault": None}
        # The access key id of a signed request, so that tests can tell whose credentials went out.
        auth = self.headers.get("Authorization", "")
        record["akid"] = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None
        try:
            raw_path, _, raw_query = self.path.partition("?")
            record["path"] = urllib.parse.unquote(raw_path)
            record["query"] = _decode_query(raw_query)
            target = urllib.parse.unquote(self.path)
            op = self.headers.get("X-Amz-Target")
            record["op"] = op
            if op:
                target = f"{target} {op}"
            body = self.read_body()
            if time.monotonic() < self.server.down_until:
                record["fault"] = "down"
                self.server.log_request_line(record)
                self.hard_reset()
                return
            rule = self.server.pick_fault(target)
            if rule is not None and rule.kind == "down":
                with self.server.rules_lock:
                    rule.kind = "spent"
                    self.server.down_until = time.monotonic() + (rule.arg or 5.0)
                record["fault"] = "down"
                self.server.log_request_line(record)
                self.hard_reset()
                return
            if rule is not None:
                record["fault"] = rule.kind
            if rule is not None and rule.kind == "gone":
                self.server.log_request_line(record)
                os._exit(0)
            if rule is not None and rule.kind in ("500", "503", "403"):
                self.send_error_xml(int(rule.kind), record)
                return
            if rule is not None and rule.kind == "deny":
                self.send_denied_json(op or "", record)
                return
            if rule is not None and rule.kind == "delay":
                time.sleep(rule.arg if rule.arg is not None else 1.0)
                rule = None
            self.forward(body, rule, record)
        except ClientGone:
            self.close_connection = True
            if record["status"] == 0 and record["path"] is not None:
                self.server.log_request_line(record)
        except (ConnectionError, TimeoutError, socket.timeout) as exc:
            # The client went away mid-response; nothing more to do on this connection.
            self.close_connection = True
            if self.server.verbose:
                print(f"s3proxy: {self.command} {self.path}: client: {exc!r}", file=sys.stderr)

    def send_denied_json(self, op: str, record: dict) -> None:
        action = op.rsplit(".", 1)[-1]
        payload = json.dumps(
            {
                "__type": "AccessDeniedException",
                "message": f"User: arn:aws:iam::123456789012:user/test is not authorized to perform: cognito-idp:{action}",
            }
        ).encode()
        record["status"] = 400
        self.server.log_request_line(record)
        self.send_response_only(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("x-amzn-RequestId", f"S3PROXY{int(time.time() * 1e6):X}")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        self.wfile.write(payload)

    def send_error_xml(self, status: int, record: dict) -> None:
        code, message = ERRORS[status]
        request_id = f"S3PROXY{int(time.time() * 1e6):X}"
        payload = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        record["status"] = status
        self.server.log_request_line(record)
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amz-request-id", request_id)
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    # --------------------------------------------------------------- upstream

    def upstream_request(self, body: bytes) -> http.client.HTTPResponse:
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        for attempt in (0, 1):
            reused = self.upstream is not None
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(
                    self.server.up_host, self.server.up_port, timeout=UPSTREAM_TIMEOUT
                )
            conn = self.upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(body if body else None)
                return conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                conn.close()
                self.upstream = None
                # A pooled connection may have been closed by the upstream; retry once fresh.
                if not reused or attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def forward(self, body: bytes, rule: Rule | None, record: dict) -> None:
        try:
            resp = self.upstream_request(body)
        except Exception as exc:  # upstream down / broken: answer 502
            print(f"s3proxy: upstream error for {self.command} {self.path}: {exc!r}", file=sys.stderr, flush=True)
            if self.upstream is not None:
                self.upstream.close()
                self.upstream = None
            payload = f"upstream error: {exc!r}\n".encode()
            record["status"] = 502
            self.server.log_request_line(record)
            self.send_response_only(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return

        try:
            self.relay(resp, rule, record)
        finally:
            # Keep the upstream connection only if the response was fully consumed.
            if resp.will_close or not resp.isclosed():
                resp.close()
                if self.upstream is not None:
                    self.upstream.close()
                    self.upstream = None

    def relay(self, resp: http.client.HTTPResponse, rule: Rule | None, record: dict) -> None:
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200

        if rule is not None:  # reset / stall: buffer the whole body, send half of it
            data = resp.read()
            if no_body:
                data = b""
            if rule.kind == "reset" and not data:
                record["status"] = 0
                self.server.log_request_line(record)
                self.hard_reset()
                return
            record["status"] = resp.status
            self.server.log_request_line(record)
            self.send_response_only(resp.status, resp.reason)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if rule.kind == "reset":
                # Give the client time to read what was sent: on Linux a received
                # RST discards unread data, so an eager reset could hide the headers.
                time.sleep(0.2 if rule.arg is None else rule.arg)
                self.hard_reset()
            else:
                time.sleep(30.0 if rule.arg is None else rule.arg)
                self.close_connection = True
            return

        record["status"] = resp.status
        self.server.log_request_line(record)
        length = resp.getheader("Content-Length")
        chunked = not no_body and length is None
        self.send_response_only(resp.status, resp.reason)
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            resp.read()
            return
        while True:
            block = resp.read1(COPY_CHUNK) if chunked else resp.read(COPY_CHUNK)
            if not block:
                break
            if chunked:
                self.wfile.write(b"%X\r\n%s\r\n" % (len(block), block))
            else:
                self.wfile.write(block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def hard_reset(self) -> None:
        """Close the client socket with SO_LINGER 0, so the peer sees a TCP RST."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            # detach() so the fd really closes now even though rfile/wfile still
            # reference the socket object.
            os.close(sock.detach())
        except OSError:
            pass


def _decode_query(raw_query: str) -> dict:
    out: dict = {}
    for k, v in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        if k in out:
            if not isinstance(out[k], list):
                out[k] = [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


def _watch_lifetime(max_seconds: float, parent: int) -> None:
    deadline = time.monotonic() + max_seconds if max_seconds > 0 else None
    while True:
        time.sleep(0.5)
        if deadline is not None and time.monotonic() >= deadline:
            print("s3proxy: --max-seconds reached, exiting", file=sys.stderr, flush=True)
            os._exit(0)
        if parent > 1 and os.getppid() != parent:
            os._exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Fault-injecting HTTP/1.1 reverse proxy for S3 tests.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Rules (--rule" + __doc__.split("Rules (--rule", 1)[1],
    )
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT of the real S3 server")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0 = any free port)")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--rule", action="append", default=[], metavar="KIND:MATCH:COUNT[:ARG]")
    ap.add_argument("--max-seconds", type=float, default=600, help="exit after this long (0 = never)")
    ap.add_argument(
        "--no-parent-watch", action="store_true", help="keep running if the parent process exits"
    )
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)

    try:
        rules = [Rule(r) for r in args.rule]
    except ValueError as exc:
        ap.error(str(exc))
    server = Proxy(("127.0.0.1", args.port), args.upstream, rules, args.log, args.verbose)
    parent = 0 if args.no_parent_watch else os.getppid()
    threading.Thread(target=_watch_lifetime, args=(args.max_seconds, parent), daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
