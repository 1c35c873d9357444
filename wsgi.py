"""gunicorn wsgi:app"""

import gc

from inventory import create_app

app = create_app()
# Modules, the app and SQLAlchemy's mappers live as long as the process: freeze them out of the
# garbage collector's sight, so a full collection during a request (tens of milliseconds over the
# whole heap, docs/performance.md) scans only what requests allocated.
gc.freeze()
