"""Hand-written servers the services are measured against, each run as its own process.

- ``per_message``: baseline (a), one command at a time (insert_one, confirmed event, ack);
- ``batched``: baseline (b), micro-batched (insert_many, events confirmed together, acks);
- ``rpc``: baseline (c), a list-request server running the query service's find and count.

They are written as a careful engineer would write them with raw aio-pika and PyMongo, and do
less than the services on purpose (see each module): they are the bar, not a reimplementation.
"""
