"""Commands: messages that ask one service to do something, in the events' envelope and on the same exchange.

A command is named in the imperative after the service that carries it out (`provisioner.launch_instance`); its
routing key is `<type>.v<version>` like an event's, so the owner binds `provisioner.#` and the audit, bound to
everything, records every command beside the facts it caused. A sender emits a command from the transaction that
decided it (the outbox publishes it once committed), and the owner handles it in a transaction that records the
envelope's id in its inbox: a redelivered command is dropped, and a command that names the id of what it creates
(`LaunchInstance.instance_id`) creates it once even when sent twice. What came of a command is told by the owner's
events (`instance.requested`, ...); a command it refuses is told by `command.refused`.
"""

from kernel.commands.instances import (
    SCALING_GROUP_TAG,
    CommandPayload,
    LaunchInstance,
    MoveAddress,
    QuarantineInstance,
    RebootInstance,
    ReplaceInstance,
    StopInstance,
    TerminateInstance,
)

__all__ = [
    "SCALING_GROUP_TAG",
    "CommandPayload",
    "LaunchInstance",
    "MoveAddress",
    "QuarantineInstance",
    "RebootInstance",
    "ReplaceInstance",
    "StopInstance",
    "TerminateInstance",
]
