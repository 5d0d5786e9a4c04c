"""The sandbox's state file: orders, fills, balances and id counters across restarts.

Written by replacing the file atomically (a temporary file in the same directory,
fsync, ``os.replace``), so a crash leaves the old state or the new one, never half of
one. A writer thread saves shortly after each change and once more on stop. Ids stay
unique even without the file: the engines' counters start at the clock (engine.py).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .world import SandboxWorld

logger = logging.getLogger(__name__)

FORMAT = 1
KEEP_CLOSED_SECONDS = 7 * 86400  # closed orders older than this are dropped on load


class StateError(Exception):
    """The state file cannot be read; the message names it and what to do."""


def load(path: Path) -> dict | None:
    """The saved state, or None when there is no file yet."""
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StateError(f"sandbox state {path} is unreadable ({exc}); move it away "
                         f"or delete it (./run.sh reset) to start afresh") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StateError(f"sandbox state {path} is not a format-{FORMAT} state file; move it "
                         f"away or delete it (./run.sh reset) to start afresh")
    return state


def write_atomically(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself survives a power cut once the directory is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


class StateStore:
    """Saves a world to ``path`` after changes (at most every ``interval`` seconds)."""

    def __init__(self, path: str | Path, world: SandboxWorld, interval: float = 0.2) -> None:
        self.path = Path(path)
        self.world = world
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_version: int | None = None
        self._save_lock = threading.Lock()

    def restore(self) -> bool:
        """Load the file into the world; False when there was none."""
        state = load(self.path)
        if state is None:
            return False
        try:
            self.world.restore(state, keep_closed_seconds=KEEP_CLOSED_SECONDS)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise StateError(f"sandbox state {self.path} does not fit this sandbox ({exc}); "
                             f"move it away or delete it (./run.sh reset)") from exc
        self._saved_version = self.world.version()
        return True

    def save(self) -> None:
        with self._save_lock:
            version = self.world.version()
            state = self.world.to_state()
            state["format"] = FORMAT
            state["saved_at"] = datetime.now(UTC).isoformat()
            write_atomically(self.path, json.dumps(state, separators=(",", ":")))
            self._saved_version = version

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and save what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._save_if_changed()

    def _save_if_changed(self) -> None:
        if self.world.version() != self._saved_version:
            try:
                self.save()
            except OSError:
                logger.exception("sandbox state: could not write %s", self.path)

    def _run(self) -> None:
        # Saving 10,000 orders takes about 0.25 s (0.06 s of it under the engines' locks):
        # wait at least four times the last save, so saving never crowds out serving.
        pause = self.interval
        while not self._stop.wait(pause):
            started = time.monotonic()
            self._save_if_changed()
            took = time.monotonic() - started
            pause = max(self.interval, 4 * took)
            if took > 1:
                logger.warning("sandbox state: saving %s took %.1f s", self.path, took)
