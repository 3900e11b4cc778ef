"""The HTTP gateway: the API reference's REST API (``POST``/``GET`` on ``/entities``,
``/customers``, ``/taxes``, ``/items``) served over the bus.

Stateless: each HTTP request becomes one command or list request on the wire contract, sent on
one shared SDK connection (``InvoicebusClient``; any number in flight), and the reply goes back
unchanged: its ``x-status`` is the HTTP status, its body the response body. The gateway never
opens MongoDB; the services check the caller, who is the holder of the Bearer key whose SHA-256
the gateway forwards (``access.py``).

One concern per module: ``requests`` (what an HTTP request may carry: body size, JSON, headers),
``bus`` (sending it and mapping a missing reply or broker to 504/503), ``errors`` (the contract's
error body for every refusal made here), ``routes`` (the operations, derived from the contract's
tables), ``openapi`` (the document), ``docs`` (Swagger UI from local files), ``observe``
(metrics and traces), ``app`` (the FastAPI app with /healthz, /readyz, /metrics) and ``serve``
(the process).
"""
