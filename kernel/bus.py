"""The RabbitMQ bus (aio-pika).

Topology, all durable, names starting with the configured prefix:
- `<prefix>.events`: the topic exchange every event is published to, routing key `<type>.v<version>`;
- `<prefix>.<service>`: one quorum queue per subscribing service, bound to the keys it wants; after
  `max_deliveries` failed deliveries the broker dead-letters a message to
- `<prefix>.dead` (direct exchange) -> `<prefix>.<service>.dead`, where an operator can inspect and replay it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from tenacity import stop_after_delay, wait_fixed

from kernel.outbox import OutgoingMessage
from kernel.retry import retrying

log = logging.getLogger(__name__)

MessageCallback = Callable[[AbstractIncomingMessage], Awaitable[None]]


class Bus:
    def __init__(self, url: str, *, prefix: str, service: str) -> None:
        self._url = url
        self.prefix = prefix
        self.service = service
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None

    @property
    def exchange_name(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letter_exchange_name(self) -> str:
        return f"{self.prefix}.dead"

    async def connect(self, patience: float = 30.0) -> None:
        """Connect (retrying for `patience` seconds: the broker may still be starting) and declare the exchanges."""
        async for attempt in retrying(
            (OSError, aio_pika.exceptions.AMQPConnectionError),
            wait=wait_fixed(0.5),
            stop=stop_after_delay(patience),
            log=log,
            level=logging.INFO,
            what="connecting to RabbitMQ",
        ):
            with attempt:
                self._connection = await aio_pika.connect_robust(
                    self._url, client_properties={"connection_name": f"clanavi-{self.service}"}, timeout=5
                )
        assert self._connection is not None
        # A message no queue takes comes back as an error instead of vanishing: the outbox keeps it and retries until
        # a subscriber's queue is bound (on a first deploy the publisher may start before any subscriber).
        self._publish_channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        assert self._publish_channel is not None
        self._exchange = await self._publish_channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await self._publish_channel.declare_exchange(
            self.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed and self._connection.connected.is_set()

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish persistent messages and return once the broker confirmed every one of them."""
        if self._exchange is None:
            raise RuntimeError("bus is not connected")
        exchange = self._exchange
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        body,
                        message_id=message_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=routing_key,
                    mandatory=True,
                    timeout=10,
                )
                for routing_key, message_id, body in messages
            )
        )

    async def subscribe(
        self, *, bindings: Sequence[str], callback: MessageCallback, max_deliveries: int, prefetch: int
    ) -> AbstractQueue:
        """Declare this service's queue and its dead-letter queue, bind them, and start consuming."""
        if self._connection is None:
            raise RuntimeError("bus is not connected")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue_name = f"{self.prefix}.{self.service}"
        dead_exchange = await channel.declare_exchange(
            self.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dead_queue = await channel.declare_queue(
            f"{queue_name}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_queue.bind(dead_exchange, routing_key=self.service)
        queue = await channel.declare_queue(
            queue_name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                # The broker dead-letters once the count of *re*deliveries exceeds the limit.
                "x-delivery-limit": max_deliveries - 1,
                "x-dead-letter-exchange": self.dead_letter_exchange_name,
                "x-dead-letter-routing-key": self.service,
            },
        )
        exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        for key in bindings:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(callback)
        return queue

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
