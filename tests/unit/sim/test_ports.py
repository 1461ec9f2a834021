"""The harness's listening ports stay out of the kernel's ephemeral range (see procs.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from hitl_sim.infra import free_port_pair
from hitl_sim.procs import LISTEN_PORTS, free_port


def ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_picked_ports_are_free_and_outside_the_ephemeral_range() -> None:
    picked = {free_port() for _ in range(50)}
    assert picked <= set(LISTEN_PORTS)
    assert not picked & set(ephemeral_range())
    broker = free_port_pair()
    assert {broker, broker + 1} <= set(LISTEN_PORTS)


def test_a_taken_preferred_port_is_replaced_and_a_free_one_kept() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        taken = held.getsockname()[1]
        other = free_port(taken)
        assert other != taken and other in LISTEN_PORTS
    assert free_port(taken) == taken
