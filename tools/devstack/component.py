"""The interface every stack component (postgres, kafka, kube) implements."""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devstack import log, paths
from devstack.errors import StackError
from devstack.proc import Daemon, load_json


class Component(abc.ABC):
    """A server (or group of servers) the stack starts, health-checks and stops.

    ``external_var`` names the environment variable that, when set, points at an existing
    server: the component is then neither built, started nor stopped by the stack.
    """

    name: str
    external_var: str
    # Components that must be running before this one starts (``up`` starts them first).
    requires: tuple[str, ...] = ()

    def __init__(self, name: str | None = None) -> None:
        """name: a second instance of the same kind gets its own state directory."""
        if name is not None:
            self.name = name

    @property
    def state(self) -> Path:
        """The component's directory under ``.stack/``."""
        return paths.state_dir(self.name)

    def external(self) -> str | None:
        """The externally provided address, when the environment gives one."""
        return os.environ.get(self.external_var) or None

    @abc.abstractmethod
    def build(self) -> None:
        """Download or build what the component needs into the cache (no-op when cached)."""

    @abc.abstractmethod
    def running(self) -> bool:
        """True when a previously started instance is alive and healthy."""

    @abc.abstractmethod
    def _start(self) -> None:
        """Start a fresh instance (after any leftovers were stopped) and wait for health."""

    @abc.abstractmethod
    def _stop(self) -> None:
        """Stop the instance cleanly; harmless when nothing runs."""

    @abc.abstractmethod
    def address(self) -> str:
        """What clients use (URL, bootstrap servers, kubeconfig path) of the running instance."""

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop of this component across processes (two test runs, `make up`)."""
        with (self.state / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self) -> bool:
        """Start the component unless a healthy instance already runs; True when it started one.

        Leftover processes of an unhealthy instance are stopped first; when starting fails, what
        was started is stopped again (the log files stay for inspection).
        """
        with self._locked():
            if self.running():
                log.info("reuse", component=self.name, address=self.address())
                return False
            self._stop()
            self.build()
            try:
                self._start()
            except BaseException:
                self._stop()
                raise
        log.info("ready", component=self.name, address=self.address())
        return True

    def stop(self) -> None:
        """Stop the instance cleanly; harmless when nothing runs."""
        with self._locked():
            self._stop()

    @abc.abstractmethod
    def daemons(self) -> list[Daemon]:
        """The processes this component runs."""

    def exports(self) -> dict[str, str]:
        """Environment variables that point clients at this component."""
        if self.external():
            return {self.external_var: self.external() or ""}
        return {self.external_var: self.address()} if self.running() else {}


class ServerComponent(Component):
    """A component that is one server process recording how to reach it in state.json."""

    process_name: str
    address_key: str

    @property
    def daemon(self) -> Daemon:
        """The server process."""
        return Daemon(self.process_name, self.state)

    def _state(self) -> dict[str, Any] | None:
        return load_json(self.state / "state.json")

    def daemons(self) -> list[Daemon]:
        return [self.daemon]

    def address(self) -> str:
        """What clients use, as recorded when the server started."""
        state = self._state()
        if state is None:
            raise StackError(f"{self.name} is not running (no {self.state / 'state.json'})")
        return str(state[self.address_key])

    @abc.abstractmethod
    def healthy(self, address: str) -> bool:
        """The server at address answers a real request."""

    def running(self) -> bool:
        """The recorded process is alive and the server answers."""
        if not self.daemon.alive() or self._state() is None:
            return False
        try:
            return self.healthy(self.address())
        except Exception:  # a failing probe means not healthy, whatever the client raised
            return False
