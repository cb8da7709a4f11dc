"""Several `palabre run` processes sharing one Redis and one MongoDB-wire store."""
