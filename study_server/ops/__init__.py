"""Running the server: gunicorn serving with its request buffer, and the simulated
participants with their HTTP client."""
