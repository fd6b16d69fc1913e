"""One place per fact: the protocols are the keys of deploybench.protocols.CLIENTS; the schema's
ProtocolKind (what a study may name) and the engines that speak every protocol name the same ones."""

from typing import get_args

from deploybench.engines.external import PLUGIN as EXTERNAL
from deploybench.protocols import CLIENTS
from deploybench.schemas import ProtocolKind


def test_protocol_kind_is_the_registry():
    assert list(get_args(ProtocolKind)) == list(CLIENTS)


def test_an_external_endpoint_speaks_every_protocol():
    assert EXTERNAL.protocols == tuple(CLIENTS)
