"""The back office (自助管理后台): server-rendered pages for enterprise operators and the platform admin.

FastAPI + Jinja2 + htmx (vendored in ``static/``), on the same provisioning services the command line
uses. One module per area: ``auth`` (login, sessions, own password), ``overview``, ``hotlines``, ``seats``,
``rules`` (menu tree, time and region rules, call blocking), ``destinations`` (evidence, R1–R7 checklist,
letter), ``review`` (admin queue), ``simulator`` (模拟来电, the controller's own decision code), ``records``
(call records, CSV), ``voicemail`` (voicemail and recordings, range requests), ``audit``, ``accounts`` (admin).
What every page shares: ``context`` (configuration, database session, the signed-in principal), ``scope``
(the one tenant-scoped repository), ``security`` (CSRF, throttling, upload limits), ``pages`` (templates,
form errors), ``changes`` (the audit entry of a change).

Build the application with :func:`ivr400.web.app.create_app`; ``ivr400 web`` serves it.
"""
