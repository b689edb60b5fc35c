"""Production entry point: `gunicorn wsgi:app` (the scheduler runs in `flask worker`)."""

from owlmail import create_app

app = create_app()
