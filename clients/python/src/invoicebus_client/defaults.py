"""The client's defaults, in one place (and importable without aio-pika, so a CLI can show
them in its help without loading the broker library)."""

#: Seconds a request waits for its reply.
DEFAULT_TIMEOUT = 30.0
#: Seconds replaying one page of events may take: the service confirms every event first.
REPLAY_TIMEOUT = 120.0
#: Seconds to open a connection.
CONNECT_TIMEOUT = 10.0
#: Tries of a publish the broker did not confirm, and the first backoff between them (doubling).
PUBLISH_ATTEMPTS = 4
BACKOFF_START = 0.5
