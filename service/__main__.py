"""Run the service: python -m service (settings from TSD_* environment variables)."""

from __future__ import annotations

import signal
import sys

import uvicorn

from service import logs
from service.app import create_app
from service.settings import Settings


class DrainingServer(uvicorn.Server):
    """SIGTERM drains in-flight requests and then exits 0, instead of re-raising the signal."""

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)


def main() -> int:
    settings = Settings()
    logs.configure(settings.log_level)
    server: DrainingServer | None = None

    def stop_server() -> None:
        server.should_exit = True

    app = create_app(settings, on_load_failure=stop_server, on_engine_death=stop_server)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            loop=settings.event_loop, log_config=None, timeout_graceful_shutdown=settings.drain_seconds)
    server = DrainingServer(config)
    server.run()
    failure = app.state.load_error or app.state.engine_death
    if failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
