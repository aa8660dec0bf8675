"""The HTTP server: the Flask application composing every part, and the WSGI server that runs it."""
