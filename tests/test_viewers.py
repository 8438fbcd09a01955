"""Live views are capped: each is sent every frame from the loop the bursts run on, and an
audience view needs no token, so past the cap a viewer is told to come back (1013)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.limits import Limits
from app.web.app import create_app

ORIGIN = "http://127.0.0.1:8000"
WS = "ws://127.0.0.1:8000/ws"


def test_past_the_cap_a_live_view_is_told_to_come_back() -> None:
    app = create_app(limits=Limits(viewers=2))
    with TestClient(app, base_url=ORIGIN) as client:
        first = client.websocket_connect(WS, headers={"origin": ORIGIN})
        second = client.websocket_connect(WS, headers={"origin": ORIGIN})
        with first as one, second as two:
            assert one.receive_json()["type"] == "snapshot" and two.receive_json()["type"] == "snapshot"
            with client.websocket_connect(WS, headers={"origin": ORIGIN}) as third:
                with pytest.raises(WebSocketDisconnect) as refused:
                    third.receive_json()
            assert refused.value.code == 1013
            assert "3 live views open at once is over the cap of 2; --max-viewers raises it." in refused.value.reason
        # Those two gone, a new viewer is served.
        with client.websocket_connect(WS, headers={"origin": ORIGIN}) as again:
            assert again.receive_json()["type"] == "snapshot"
