"""Run the service: python -m service (settings from TSD_* environment variables)."""

from __future__ import annotations

import signal
import sys

import uvicorn

from service import logs
from service.app import create_app
from service.settings import Settings

DRAIN_MARGIN_S = 2.0  # running requests end (503 if cut) this long before uvicorn's own graceful timeout


class DrainingServer(uvicorn.Server):
    """SIGTERM: stop admitting, answer the queue 503, let running requests finish, then exit 0 (not re-raise)."""

    def __init__(self, config: uvicorn.Config, on_drain=None):
        super().__init__(config)
        self.on_drain = on_drain

    def handle_exit(self, sig, frame) -> None:
        if sig == signal.SIGTERM and self.on_drain is not None and self.config.loaded:
            loop = getattr(self, "loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(self.on_drain)
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)

    async def serve(self, sockets=None) -> None:
        import asyncio

        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)


def server_config(app, settings: Settings) -> uvicorn.Config:
    """uvicorn's settings: the drain, a cap on open connections, and forwarded headers only from named proxies."""
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                          loop=settings.event_loop, log_config=None, timeout_graceful_shutdown=settings.drain_seconds,
                          limit_concurrency=settings.max_connections,
                          proxy_headers=settings.forwarded_allow_ips is not None,
                          forwarded_allow_ips=settings.forwarded_allow_ips)


def main() -> int:
    settings = Settings()
    logs.configure(settings.log_level)
    server: DrainingServer | None = None

    def stop_server() -> None:
        server.should_exit = True

    app = create_app(settings, on_load_failure=stop_server, on_engine_death=stop_server)
    state = app.state.service
    server = DrainingServer(server_config(app, settings), on_drain=lambda: state.drain(max(0.0, settings.drain_seconds - DRAIN_MARGIN_S)))
    server.run()
    failure = state.load_error or state.engine_death
    if failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
