"""`logsentinel api`: the FastAPI app under uvicorn, settings from the environment."""

from __future__ import annotations

import uvicorn

from logsentinel.api.app import create_app
from logsentinel.api.settings import ApiSettings
from logsentinel.logs import configure


def run(settings: ApiSettings) -> None:
    configure(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,  # the app applies LOGSENTINEL_TRUSTED_PROXIES itself
    )
