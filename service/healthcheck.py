"""The container's HEALTHCHECK: GET /health on the port the service was started on (TSD_PORT), exit 0 if healthy."""

from __future__ import annotations

import os
import sys
import urllib.request


def health_url(environ: dict[str, str]) -> str:
    """/health on this container's own address: TSD_HOST, but loopback when it listens on every address."""
    host = environ.get("TSD_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{environ.get('TSD_PORT', '8000')}/health"


def main() -> int:
    try:
        with urllib.request.urlopen(health_url(dict(os.environ)), timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
