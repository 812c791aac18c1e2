"""The platform kernel: what every Clanavi service shares.

Settings, the event envelope and event schemas, the RabbitMQ bus, the transactional outbox and the inbox, the
PostgreSQL pool and migrations, errors as problem JSON, and the HTTP plumbing (health, metrics, correlation ids).
"""
