from __future__ import annotations

from csms.domain.station import ProtocolVersion
from csms.services.stations import ConnectRequest, Credentials
from tests.conftest import World
from tests.fakes import a_station


def test_connect_known_station_accepts_preferred_protocol(world: World) -> None:
    # GIVEN a registered station
    world.stations_repo.register(a_station())
    # WHEN it connects offering both versions
    decision = world.stations.connect(
        ConnectRequest(
            station_id="CP-1",
            connection_id="c1",
            credentials=Credentials("CP-1", "secret-password"),
            offered_protocols=("ocpp1.6", "ocpp2.0.1"),
        )
    )
    # THEN the server's preference wins and the station is online
    assert decision.protocol is ProtocolVersion.OCPP201
    assert world.stations_repo.stations["CP-1"].online
