#!/usr/bin/env python3
"""An RPC client written from docs/PROTOCOL.md alone, and the cases it drives.

Standard library only (socket + struct). Run by tests/rpc_python.rs, which
starts a corio server with these routes and passes its port:

  echo      answers with its payload
  hold      payload: a key; waits until `release` with that key, then
            answers with the key
  release   payload: a key; lets the `hold` with that key answer
  status    payload: a key; answers `unknown`, `running`, `finished` or
            `dropped` (stopped before it finished) for that key's `hold`
  sleep     payload: milliseconds in decimal; answers after that long
  shutdown  starts the server's graceful shutdown

and a frame size limit of 65536. It starts two such servers: the first with
a long shutdown grace period (every case but the last runs on it, and its
shutdown ends before the grace period would), the second with a grace
period of one second, for the case where it runs out.

Nothing here waits on the clock to synchronise: a `hold` answers only when
released, and socket timeouts only catch a server that went silent.

Usage: rpc_client.py PORT GRACE_PORT
"""

import socket
import struct
import sys

# Kinds (PROTOCOL.md, "Kinds").
REQUEST, RESPONSE, ERROR, CANCEL, PING, PONG = range(6)
# Error codes (PROTOCOL.md, "Error codes").
UNKNOWN_METHOD, DEADLINE_EXCEEDED, CANCELLED, INTERNAL = 1, 2, 3, 4
FRAME_TOO_LARGE, PROTOCOL, SHUTTING_DOWN, BAD_PAYLOAD = 5, 6, 7, 8

LIMIT = 65536
WATCHDOG_SECONDS = 20


def encode(kind, id, method=b"", deadline_us=None, payload=b""):
    """One frame (PROTOCOL.md, "Frame layout")."""
    body = struct.pack(">BBQH", 1, kind, id, len(method)) + method
    if deadline_us is None:
        body += b"\x00"
    else:
        body += b"\x01" + struct.pack(">Q", deadline_us)
    body += payload
    return struct.pack(">I", len(body)) + body


class Frame:
    def __init__(self, kind, id, payload, code=None, message=None):
        self.kind, self.id, self.payload = kind, id, payload
        self.code, self.message = code, message

    def __repr__(self):
        if self.kind == ERROR:
            return f"error(id={self.id}, code={self.code}, {self.message!r})"
        name = {RESPONSE: "response", PONG: "pong", REQUEST: "request", CANCEL: "cancel", PING: "ping"}
        return f"{name.get(self.kind, self.kind)}(id={self.id}, {self.payload!r})"


class Violation(Exception):
    """The server broke a rule of PROTOCOL.md."""


def decode(body):
    """The bytes after the length prefix; raises Violation if malformed."""
    if len(body) < 13:
        raise Violation(f"frame of {len(body)} bytes is shorter than the 13-byte header")
    version, kind, id, method_len = struct.unpack(">BBQH", body[:12])
    if version != 1:
        raise Violation(f"version {version}")
    if kind > 5:
        raise Violation(f"unknown kind {kind}")
    rest = body[12:]
    method, rest = rest[:method_len], rest[method_len:]
    if len(method) != method_len or not rest:
        raise Violation("truncated header")
    flag, rest = rest[0], rest[1:]
    if flag not in (0, 1):
        raise Violation(f"deadline flag {flag}")
    if flag == 1:
        if len(rest) < 8:
            raise Violation("truncated deadline")
        rest = rest[8:]
    if kind != REQUEST and (method_len or flag):
        raise Violation("a method or deadline on a frame other than a request")
    if kind == ERROR:
        if len(rest) < 2:
            raise Violation("error frame without a code")
        (code,) = struct.unpack(">H", rest[:2])
        return Frame(kind, id, rest, code, rest[2:].decode("utf-8"))
    return Frame(kind, id, rest)


class Connection:
    def __init__(self, port, nodelay=True):
        self.sock = socket.create_connection(("127.0.0.1", port))
        # PROTOCOL.md, "Transport": both ends MUST disable Nagle's algorithm.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if nodelay else 0)
        self.sock.settimeout(WATCHDOG_SECONDS)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, id, method, payload=b"", deadline_us=None):
        self.send(encode(REQUEST, id, method.encode(), deadline_us, payload))

    def cancel(self, id):
        self.send(encode(CANCEL, id))

    def ping(self, id, payload=b""):
        self.send(encode(PING, id, payload=payload))

    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        self.sock.close()

    def _fill(self, n):
        while len(self.buffer) < n:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Violation("the server went silent")
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def read(self):
        """The next frame, or None at an orderly end of stream."""
        if not self._fill(4):
            if self.buffer:
                raise Violation("stream ended inside a length prefix")
            return None
        (length,) = struct.unpack(">I", self.buffer[:4])
        if length > LIMIT:
            raise Violation(f"frame of {length} bytes from the server")
        if not self._fill(4 + length):
            raise Violation("stream ended inside a frame")
        body, self.buffer = self.buffer[4:4 + length], self.buffer[4 + length:]
        return decode(body)

    def read_until(self, predicate, what):
        """Frames up to and including the first one `predicate` accepts."""
        seen = []
        while True:
            frame = self.read()
            if frame is None:
                raise Violation(f"connection ended waiting for {what}; got {seen}")
            seen.append(frame)
            if predicate(frame):
                return seen

    def call(self, id, method, payload=b"", deadline_us=None):
        """Sends a request and returns its answer (nothing else may come)."""
        self.request(id, method, payload, deadline_us)
        frame = self.read()
        if frame is None or frame.id != id or frame.kind not in (RESPONSE, ERROR):
            raise Violation(f"expected the answer to {id}, got {frame}")
        return frame

    def sync(self, id):
        """Pings and returns what arrived before the pong: by then the server
        has handled every frame sent before the ping ("What a server does")."""
        self.ping(id, b"sync")
        seen = self.read_until(lambda f: f.kind == PONG and f.id == id, f"pong {id}")
        return seen[:-1]

    def expect_end(self):
        frame = self.read()
        if frame is not None:
            raise Violation(f"expected the end of stream, got {frame}")


def expect(condition, message):
    if not condition:
        raise Violation(message)


def is_response(frame, id, payload=None):
    return frame.kind == RESPONSE and frame.id == id and (payload is None or frame.payload == payload)


def is_error(frame, id, code):
    return frame.kind == ERROR and frame.id == id and frame.code == code


def status(port, key):
    c = Connection(port)
    answer = c.call(1, "status", key)
    c.close()
    expect(answer.kind == RESPONSE, f"status: {answer}")
    return answer.payload.decode()


# ---- The cases ----

def case_calls(port):
    c = Connection(port)
    expect(is_response(c.call(1, "echo", b"hello"), 1, b"hello"), "echo")
    expect(is_response(c.call(2, "echo", b""), 2, b""), "empty payload")
    big = bytes(range(256)) * 200
    expect(is_response(c.call(3, "echo", big), 3, big), "a 51,200-byte payload")
    expect(is_error(c.call(4, "no_such_route"), 4, UNKNOWN_METHOD), "unknown method: code 1")
    expect(is_response(c.call(5, "echo", b"still open"), 5), "the connection stays open after code 1")
    c.ping(0, b"id 0 is fine for pings")
    frame = c.read()
    expect(frame.kind == PONG and frame.id == 0 and frame.payload == b"id 0 is fine for pings", f"pong: {frame}")
    c.half_close()
    c.expect_end()


def case_out_of_order_answers(port):
    c = Connection(port)
    c.request(1, "hold", b"ooo-a")
    c.request(2, "hold", b"ooo-b")
    c.request(3, "echo", b"fast")
    expect(is_response(c.read(), 3, b"fast"), "the fast call overtakes the held ones")
    c.request(4, "release", b"ooo-b")
    got = {f.id: f for f in [c.read(), c.read()]}
    expect(set(got) == {2, 4}, f"release b answers 2 and 4 (any order): {got}")
    expect(is_response(got[2], 2, b"ooo-b"), f"{got[2]}")
    c.request(5, "release", b"ooo-a")
    got = {f.id: f for f in [c.read(), c.read()]}
    expect(set(got) == {1, 5}, f"release a answers 1 and 5: {got}")
    c.half_close()
    c.expect_end()


def case_cancel_after_a_previous_answer(port):
    c = Connection(port)
    # The defect 1: after an answer, a cancel sent while a handler
    # runs must still stop it.
    expect(is_response(c.call(1, "echo", b"first"), 1), "echo")
    expect(c.sync(100) == [], "nothing else")
    c.request(2, "hold", b"cancel-me")
    c.cancel(2)
    expect(c.sync(101) == [], "nothing for the cancelled request")
    expect(status(port, b"cancel-me") == "dropped", "the cancel stopped the handler")
    # Cancelling an answered request, or one never sent, changes nothing.
    c.cancel(1)
    c.cancel(999)
    expect(is_response(c.call(3, "release", b"cancel-me"), 3), "release")
    expect(is_response(c.call(4, "echo", b"after"), 4), "no answer for 2 came before this")
    c.half_close()
    c.expect_end()


def case_deadlines(port):
    c = Connection(port)
    # A spent deadline: code 2 at once, and the handler never runs.
    expect(is_error(c.call(1, "hold", b"spent", deadline_us=0), 1, DEADLINE_EXCEEDED), "deadline 0")
    expect(status(port, b"spent") == "unknown", "a spent deadline must not start the handler")
    # Unknown method wins over a spent deadline (step 4 before step 5).
    expect(is_error(c.call(2, "no_such_route", deadline_us=0), 2, UNKNOWN_METHOD), "code 1 first")
    # A deadline that passes while the handler waits: code 2, handler stopped.
    expect(is_error(c.call(3, "hold", b"slow", deadline_us=50_000), 3, DEADLINE_EXCEEDED), "50 ms")
    expect(status(port, b"slow") == "dropped", "the deadline stopped the handler")
    # A handler that answers in time is answered.
    expect(is_response(c.call(4, "echo", b"quick", deadline_us=10_000_000), 4, b"quick"), "in time")
    c.half_close()
    c.expect_end()


def case_request_id_zero(port):
    c = Connection(port)
    c.request(1, "hold", b"zero-victim")
    expect(c.sync(1) == [], "held")
    c.request(0, "echo", b"zero")
    frame = c.read()
    expect(is_error(frame, 0, PROTOCOL), f"id 0 is a connection error addressed to id 0: {frame}")
    c.expect_end()
    c.close()
    expect(status(port, b"zero-victim") == "dropped", "what ran on the connection was stopped")


def case_duplicate_id(port):
    c = Connection(port)
    c.request(7, "hold", b"dup-first")
    expect(c.sync(1) == [], "held")
    c.request(7, "echo", b"second")
    frame = c.read()
    expect(is_error(frame, 0, PROTOCOL), f"a running id reused: connection error to id 0: {frame}")
    c.expect_end()  # and never an answer for the first request 7
    c.close()
    expect(status(port, b"dup-first") == "dropped", "the first request 7 was stopped")
    # An id whose answer arrived may be used again.
    c = Connection(port)
    expect(is_response(c.call(7, "echo", b"a"), 7, b"a"), "first")
    expect(is_response(c.call(7, "echo", b"b"), 7, b"b"), "again")
    c.half_close()
    c.expect_end()


def case_wrong_way_frames(port):
    for kind, extra in ((RESPONSE, b""), (ERROR, struct.pack(">H", 1000) + b"x")):
        c = Connection(port)
        c.send(encode(kind, 1, payload=extra))
        frame = c.read()
        expect(is_error(frame, 0, PROTOCOL), f"a client sending kind {kind}: {frame}")
        c.expect_end()
        c.close()
    c = Connection(port)
    c.send(encode(PONG, 3, payload=b"unasked"))  # ignored
    expect(is_response(c.call(1, "echo", b"ok"), 1), "a stray pong is ignored")
    c.close()


def case_oversized_frame(port):
    c = Connection(port)
    payload = b"x" * 70_000
    wire = encode(REQUEST, 9, b"echo", None, payload)
    length = len(wire) - 4  # PROTOCOL.md: <size> is the length field
    expect(length == 13 + 4 + 70_000, "length field")
    try:
        c.send(wire)
    except OSError:
        pass  # the server may close before it has read it all
    frame = c.read()
    expect(is_error(frame, 9, FRAME_TOO_LARGE), f"code 5 to the frame's id: {frame}")
    expected = f"frame of {length} bytes exceeds the limit of {LIMIT} bytes"
    expect(frame.message == expected, f"message {frame.message!r}, expected {expected!r}")
    c.expect_end()
    c.close()
    # A malformed frame: version 2.
    c = Connection(port)
    wire = bytearray(encode(REQUEST, 4, b"echo"))
    wire[4] = 2
    c.send(bytes(wire))
    frame = c.read()
    expect(frame.kind == ERROR and frame.code == PROTOCOL, f"version 2: {frame}")
    c.expect_end()
    c.close()


def case_shutdown(port, grace_port):
    idle = Connection(port)
    expect(is_response(idle.call(1, "echo", b"before"), 1), "before shutdown")
    c = Connection(port)
    c.request(1, "sleep", b"200")
    c.request(2, "shutdown")
    frames = c.read_until(lambda f: is_error(f, 0, SHUTTING_DOWN), "the shutdown notice")
    # A request sent after the notice: refused with code 7, not processed.
    c.request(3, "echo", b"too late")
    frames += c.read_until(lambda f: f.id == 3, "the answer to 3")
    expect(any(is_response(f, 2) for f in frames), f"the shutdown call is answered: {frames}")
    expect(any(is_error(f, 3, SHUTTING_DOWN) for f in frames), f"3 gets code 7: {frames}")
    # The sleep accepted before shutdown is still answered.
    if not any(f.id == 1 for f in frames):
        frames += c.read_until(lambda f: f.id == 1, "the sleep's answer")
    expect(any(is_response(f, 1, b"200") for f in frames), f"accepted, so answered: {frames}")
    c.half_close()
    c.expect_end()

    # The idle connection was notified, not closed: a request it sends now
    # is refused with code 7, then it closes its side and the server closes.
    expect(is_error(idle.read(), 0, SHUTTING_DOWN), "the idle connection gets the notice")
    expect(is_error(idle.call(2, "echo", b"late"), 2, SHUTTING_DOWN), "code 7 on the idle connection")
    idle.half_close()
    idle.expect_end()

    # The server no longer accepts connections.
    try:
        Connection(port).call(1, "echo")
        raise Violation("a connection after shutdown was served")
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
        pass

    # The grace period runs out (the second server: 1 s) with a call still
    # running: code 3 (it may have run partly), then an orderly end.
    held = Connection(grace_port)
    held.request(1, "hold", b"never-released")
    expect(held.sync(50) == [], "held")
    trigger = Connection(grace_port)
    expect(is_response(trigger.call(1, "shutdown"), 1), "shutdown")
    expect(is_error(held.read(), 0, SHUTTING_DOWN), "the notice")
    expect(is_error(held.read(), 1, CANCELLED), "code 3 when the grace period ends")
    held.expect_end()


CASES = [
    case_calls,
    case_out_of_order_answers,
    case_cancel_after_a_previous_answer,
    case_deadlines,
    case_request_id_zero,
    case_duplicate_id,
    case_wrong_way_frames,
    case_oversized_frame,
    case_shutdown,  # last: the server stops
]


def main():
    port, grace_port = int(sys.argv[1]), int(sys.argv[2])
    failed = 0
    for case in CASES:
        try:
            if case is case_shutdown:
                case(port, grace_port)
            else:
                case(port)
            print(f"ok   {case.__name__}", flush=True)
        except Exception as error:  # report every case, then fail
            failed += 1
            print(f"FAIL {case.__name__}: {type(error).__name__}: {error}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
