"""RabbitMQ: subscribing to the contract's queues and confirmed publishing (the topology is
declared by ``invoicebus_client.topology``)."""
