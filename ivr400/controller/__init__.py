"""The FastAGI controller: decides each call from a cached routing configuration (docs/architecture.md).

* ``loader``: database → ``{400 number: HotlineEntry}`` + calendars, in one pass;
* ``cache``: holds it, polls ``config_generation`` every 200 ms and reloads in a worker thread;
* ``app``: :class:`Controller` (clock, cache, round-robin counter) and :func:`run_controller`.

The routes themselves live in ``ivr400.controller.routes``.
"""
from __future__ import annotations

from ivr400.controller.app import Controller, run_controller
from ivr400.controller.cache import ConfigCache
from ivr400.controller.loader import HotlineEntry, LoadedConfig, load_config

__all__ = ["ConfigCache", "Controller", "HotlineEntry", "LoadedConfig", "load_config", "run_controller"]
