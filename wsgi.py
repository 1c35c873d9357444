"""gunicorn wsgi:app"""

from inventory import create_app

app = create_app()
