"""Test helpers of stockfish-nats: a real ``nats-server -js`` (single or clustered, with
users and permissions) started by pid, and process runners for gateways and strategies."""

from stockfish_nats.testing.server import NatsCluster, NatsServer, free_port, server_binary

__all__ = ["NatsCluster", "NatsServer", "free_port", "server_binary"]
