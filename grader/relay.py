"""A byte-counting relay between the grader's ZMQ sockets and a sandboxed kernel's sockets.

ZMQ hands a message to its reader only once every frame of it has arrived, and limits the size
of a frame, never the number of frames: a kernel that forges one message of a million frames
would make the grader's ZMQ buffer all of it. So the grader's sockets never connect to a kernel
directly. They connect to this relay's sockets in a folder private to the grader, and the relay
forwards bytes both ways, counting what comes from the kernel. It reads from the kernel only up
to an allowance that the grader raises cell by cell (grader.kernel), so the grader never holds
more than the allowance of anything a kernel sent, whatever its messages look like; past it,
the kernel's writes wait, in the kernel's own memory.

The relay works below ZMQ's protocol (it never parses it) and connects only to a path that is a
socket (never through a link to some other service). When a connection fails, the grader's ZMQ
connects again to the relay, which is private to the grader.
"""

from __future__ import annotations

import os
import selectors
import socket
import stat
import threading
import time
from pathlib import Path

CHUNK = 65536
PENDING = 4 * CHUNK  # bytes waiting to be written, per direction, before reading pauses


class _Pair:
    """One connection: the grader's end and the kernel's end."""

    def __init__(self, grader: socket.socket, kernel: socket.socket):
        self.grader, self.kernel = grader, kernel
        self.to_kernel = bytearray()
        self.to_grader = bytearray()
        self.closed = False


class Relay:
    def __init__(self, routes: list[tuple[Path, Path]]):
        """*routes*: (path the grader connects to, the kernel's socket path) per channel."""
        self.routes = routes
        self.received = 0  # bytes read from the kernel, all channels together
        self.allowance = 0  # the kernel is read from only while received < allowance
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._listeners: dict[socket.socket, Path] = {}
        self._pairs: list[_Pair] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="kernel-relay")
        for listen_path, kernel_path in routes:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(listen_path))
            listener.listen(8)
            listener.setblocking(False)
            self._listeners[listener] = kernel_path
            self._selector.register(listener, selectors.EVENT_READ, ("accept", listener))
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))

    def start(self) -> None:
        self._thread.start()

    @property
    def exhausted(self) -> bool:
        return self.received >= self.allowance

    def allow(self, total: int) -> None:
        """Let the kernel's bytes through until *received* reaches *total*."""
        self.allowance = total
        self._wake()

    def close(self) -> None:
        self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for listener in self._listeners:
            listener.close()
        for pair in self._pairs:
            self._close_pair(pair)
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # ---- the loop ------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _loop(self) -> None:
        while not self._stopping:
            for pair in self._pairs:
                self._update(pair)
            for key, events in self._selector.select(timeout=1.0):
                kind, obj = key.data
                if kind == "wake":
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                elif kind == "accept":
                    self._accept(obj)
                else:
                    self._service(obj, key.fileobj, events)
            self._pairs = [p for p in self._pairs if not p.closed]

    def _accept(self, listener: socket.socket) -> None:
        try:
            grader_end, _ = listener.accept()
        except OSError:
            return
        kernel_path = self._listeners[listener]
        kernel_end = self._connect(kernel_path)
        if kernel_end is None:
            grader_end.close()  # the grader's ZMQ connects again a moment later
            return
        for end in (grader_end, kernel_end):
            end.setblocking(False)
        pair = _Pair(grader_end, kernel_end)
        self._pairs.append(pair)
        self._update(pair)

    def _connect(self, path: Path) -> socket.socket | None:
        """The kernel's end, if *path* is a socket that takes connections (a socket file exists
        a moment before its listener does). Given up when the relay closes: a dead kernel's
        socket refuses every attempt, and close() would wait 2 s for them."""
        for attempt in range(20):
            if self._stopping:
                return None
            end = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    end.close()
                    return None
                end.settimeout(2)
                end.connect(str(path))
                return end
            except OSError:
                end.close()
                time.sleep(0.01 * (attempt + 1))
        return None

    def _watch(self, end: socket.socket, events: int, pair: _Pair) -> None:
        try:
            registered = self._selector.get_key(end)
        except (KeyError, ValueError):
            registered = None
        if not events:
            if registered:
                self._selector.unregister(end)
        elif registered:
            if registered.events != events:
                self._selector.modify(end, events, ("pair", pair))
        else:
            self._selector.register(end, events, ("pair", pair))

    def _update(self, pair: _Pair) -> None:
        """Which ends to watch: read while there is room (and allowance), write while pending."""
        if pair.closed:
            return
        grader = (selectors.EVENT_READ if len(pair.to_kernel) < PENDING else 0) | \
                 (selectors.EVENT_WRITE if pair.to_grader else 0)
        kernel = (selectors.EVENT_READ if len(pair.to_grader) < PENDING and not self.exhausted else 0) | \
                 (selectors.EVENT_WRITE if pair.to_kernel else 0)
        try:
            self._watch(pair.grader, grader, pair)
            self._watch(pair.kernel, kernel, pair)
        except (ValueError, OSError):
            self._close_pair(pair)

    def _service(self, pair: _Pair, end: socket.socket, events: int) -> None:
        try:
            if end is pair.kernel:
                if events & selectors.EVENT_READ:
                    room = min(CHUNK, PENDING - len(pair.to_grader), self.allowance - self.received)
                    if room > 0:
                        data = end.recv(room)
                        if not data:
                            self._flush_and_close(pair)
                            return
                        self.received += len(data)
                        pair.to_grader += data
                if events & selectors.EVENT_WRITE and pair.to_kernel:
                    del pair.to_kernel[:end.send(pair.to_kernel)]
            else:
                if events & selectors.EVENT_READ and len(pair.to_kernel) < PENDING:
                    data = end.recv(min(CHUNK, PENDING - len(pair.to_kernel)))
                    if not data:
                        raise ConnectionError
                    pair.to_kernel += data
                if events & selectors.EVENT_WRITE and pair.to_grader:
                    del pair.to_grader[:end.send(pair.to_grader)]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_pair(pair)
            return
        self._update(pair)

    def _flush_and_close(self, pair: _Pair) -> None:
        """The kernel closed its end: hand the grader what already came, then close."""
        try:
            pair.grader.settimeout(1)
            pair.grader.sendall(pair.to_grader)
        except OSError:
            pass
        self._close_pair(pair)

    def _close_pair(self, pair: _Pair) -> None:
        if pair.closed:
            return
        pair.closed = True
        for end in (pair.grader, pair.kernel):
            try:
                self._selector.unregister(end)
            except (KeyError, ValueError):
                pass
            end.close()
