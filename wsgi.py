"""Production entry point: `gunicorn wsgi:app` (the scheduler runs in `flask worker`)."""

import gc

from owlmail import create_app

app = create_app()

# What start-up built lives as long as the process. Out of the collector's sight, a full
# collection no longer walks those ~120,000 objects: about 60 ms on a 2-core machine,
# paid by whichever request happened to trigger it (the slowest ones under load).
gc.freeze()
