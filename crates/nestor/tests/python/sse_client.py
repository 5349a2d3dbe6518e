"""Follows Nestor's change feed with a Python SSE library nobody in this repository wrote.

Usage: python sse_client.py (sseclient|httpx) BASE_URL LAST_REVISION

Opens BASE_URL/api/v1/events?since=0 with the library's documented usage — `sseclient-py` over
`requests` (`requests.get(url, stream=True)` handed to `sseclient.SSEClient`), or `httpx-sse`
(`connect_sse` on an `httpx.Client`) — and prints one JSON line per event as it is received:
{"type", "id", "revision", "at"} (`at`: time.monotonic()), plus {"type": "open"} and
{"type": "error", "error"} lines for connection changes. Neither library reconnects on its own:
on any error or end of stream this script reconnects at once with `Last-Event-ID` (the last id
received), as their documentation suggests, until it has the change with id LAST_REVISION.
A read timeout of 10 s is set, like the clients that never got a late change.
"""

import json
import sys
import time

TIMEOUT = (5, 10)  # connect, read (seconds)


def emit(**line):
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def headers(last_id):
    h = {"Accept": "text/event-stream"}
    if last_id is not None:
        h["Last-Event-ID"] = last_id
    return h


def events_sseclient(url, last_id):
    import requests
    import sseclient

    response = requests.get(url, stream=True, headers=headers(last_id), timeout=TIMEOUT)
    response.raise_for_status()
    emit(type="open")
    for event in sseclient.SSEClient(response).events():
        yield event.event, event.id, event.data


def events_httpx(url, last_id):
    import httpx
    import httpx_sse

    timeout = httpx.Timeout(TIMEOUT[1], connect=TIMEOUT[0])
    with httpx.Client(timeout=timeout) as client:
        with httpx_sse.connect_sse(client, "GET", url, headers=headers(last_id)) as source:
            source.response.raise_for_status()
            emit(type="open")
            for event in source.iter_sse():
                yield event.event, event.id or None, event.data


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("sseclient", "httpx"):
        sys.stderr.write(__doc__)
        return 2
    lib, base, last = sys.argv[1:]
    events = events_sseclient if lib == "sseclient" else events_httpx
    url = f"{base}/api/v1/events?since=0"
    last_id = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            for kind, event_id, data in events(url, last_id):
                if event_id:
                    last_id = event_id
                payload = json.loads(data) if data else {}
                emit(
                    type=kind,
                    id=event_id,
                    revision=payload.get("revision"),
                    at=time.monotonic(),
                )
                if kind.startswith("component.") and event_id == last:
                    return 0
            emit(type="error", error="the stream ended")
        except Exception as e:  # any failure: reconnect, like an EventSource would
            emit(type="error", error=f"{type(e).__name__}: {e}")
        time.sleep(0.1)
    emit(type="error", error="gave up after 120 s")
    return 1


if __name__ == "__main__":
    sys.exit(main())
