"""The console: server-rendered pages (Jinja templates, small JS, SSE) over the parts' APIs."""
