"""What both services share to run: their connections, their FastStream app, and the process
around it. One concern per module:

- ``broker``: the RabbitMQ broker (confirmed publishing, fast reconnects, graceful stop,
  FastStream's Prometheus middleware on a registry of its own);
- ``service``: connecting (broker and MongoDB, as one ``Connections`` object) and assembling a
  service's FastStream app with its start and stop hooks;
- ``readiness``: whether the service can do its work (broker and database answer);
- ``progress``: whether each consumer settles its messages while its queue has some waiting;
- ``watchdog``: restarts subscribers left without a consumer (FastStream issue #2758);
- ``http``: ``/healthz``, ``/readyz`` and ``/metrics``;
- ``process``: running a service until SIGTERM/SIGINT and stopping it gracefully;
- ``logs``: the log format (JSON lines or text, with the message's fields);
- ``tracing``: OpenTelemetry, when the ``OTEL_*`` variables turn it on.
"""
