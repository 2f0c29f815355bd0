"""The web layer: the participant pages, the JSON API, the admin dashboard, their headers,
rate limits, request log and the request-scoped database session."""
