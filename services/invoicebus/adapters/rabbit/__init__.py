"""RabbitMQ: topology declaration and confirmed publishing."""
