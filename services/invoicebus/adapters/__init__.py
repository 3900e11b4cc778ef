"""I/O at the edges: MongoDB storage and RabbitMQ messaging."""
