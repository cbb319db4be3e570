"""Parses HTTP/1.1 responses with h11, a strict third-party implementation.

Usage: h11_check.py METHOD... < bytes

stdin holds the bytes a server sent in answer to requests with the given
methods, in order (a HEAD response has no body); the server is taken to have
closed the connection after them. Prints the responses as JSON. Exits 1, with
the reason on stderr, on anything h11 rejects: a malformed status line or
header, bad framing (Content-Length, chunking), a truncated response, more
responses than requests, or bytes after the last response.
"""
import json
import sys

import h11


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def main():
    methods = sys.argv[1:]
    data = sys.stdin.buffer.read()
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.receive_data(data)
    conn.receive_data(b"")  # the end of the stream
    responses = []
    try:
        for i, method in enumerate(methods):
            if conn.our_state is not h11.IDLE:
                fail(f"request {i + 1} ({method}): the server closed the connection after response {i}")
            conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
            conn.send(h11.EndOfMessage())
            response, body = None, b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    fail(f"response {i + 1}: truncated")
                if isinstance(event, h11.ConnectionClosed):
                    fail(f"response {i + 1}: connection closed before it")
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            responses.append({
                "status": response.status_code,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in response.headers],
                "body": list(body),
            })
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
        event = conn.next_event()
        if not isinstance(event, h11.ConnectionClosed):
            fail(f"after the last response: {event!r} instead of the end of the stream")
    except h11.RemoteProtocolError as e:
        fail(f"h11: {e}")
    print(json.dumps(responses))


main()
