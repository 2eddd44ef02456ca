"""``reelforge serve``: one long-running process with a live review dashboard, the providers'
incoming webhooks, a JSON API and Prometheus metrics, beside the durable engine.

:func:`build_app` makes the Starlette application from a :class:`ServeState`; each part
(``hooks``, ``api``, ``dashboard``, ``metrics``) contributes its routes.
"""

from reelforge.serve.app import build_app
from reelforge.serve.state import ServeState

__all__ = ["ServeState", "build_app"]
