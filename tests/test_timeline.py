"""The state model's rules, on records built by hand: each rule a user would otherwise
see wrong on screen."""

from __future__ import annotations

from app.timeline import summary
from app.timeline.model import AppSpan, ConnectionRecord, Outcome, RequestRecord, State

MS = 1_000_000


def record(**facts: object) -> ConnectionRecord:
    rec = ConnectionRecord(id=0, port=40_000, burst=1, index=0, intended_ns=0, connect_start_ns=0)
    for name, value in facts.items():
        setattr(rec, name, value)
    return rec


def names(rec: ConnectionRecord) -> list[str]:
    return [state.value for state, _ in rec.states()]


def test_plain_connection_goes_through_every_state_in_order() -> None:
    rec = record(
        connected_ns=1 * MS,
        accepted_ns=3 * MS,
        client_closed_ns=20 * MS,
        app_spans=[AppSpan(enter_ns=4 * MS, leave_ns=14 * MS)],
    )
    assert rec.states() == [
        (State.CONNECTING, 0),
        (State.QUEUED, 1 * MS),
        (State.ACCEPTED, 3 * MS),
        (State.ACTIVE, 4 * MS),
        (State.ACCEPTED, 14 * MS),
        (State.CLOSED, 20 * MS),
    ]


def test_queued_ends_at_accept_not_at_the_later_connection_made() -> None:
    rec = record(connected_ns=1 * MS, taken_ns=2 * MS, accepted_ns=9 * MS, client_closed_ns=20 * MS)
    assert rec.states()[1:3] == [(State.QUEUED, 1 * MS), (State.ACCEPTED, 2 * MS)]


def test_a_kernel_sighting_before_the_client_noticed_starts_queued_earlier() -> None:
    rec = record(
        connected_ns=5 * MS, accepted_ns=8 * MS, client_closed_ns=20 * MS, kernel_seen=[(2 * MS, State.QUEUED)]
    )
    assert rec.states()[1] == (State.QUEUED, 2 * MS)


def test_limbo_then_queued_from_kernel_sightings() -> None:
    rec = record(
        connected_ns=1 * MS,
        accepted_ns=900 * MS,
        client_closed_ns=950 * MS,
        kernel_seen=[(3 * MS, State.LIMBO), (400 * MS, State.LIMBO), (600 * MS, State.QUEUED)],
    )
    assert names(rec) == ["connecting", "limbo", "queued", "accepted", "closed"]
    assert rec.states()[2] == (State.QUEUED, 600 * MS)


def test_app_still_running_after_the_client_gave_up_does_not_move_closed() -> None:
    rec = record(
        connected_ns=1 * MS,
        accepted_ns=2 * MS,
        client_closed_ns=10_000 * MS,
        app_spans=[AppSpan(enter_ns=3 * MS, leave_ns=20_000 * MS)],
    )
    assert rec.states()[-2:] == [(State.ACTIVE, 3 * MS), (State.CLOSED, 10_000 * MS)]


def test_a_response_proves_the_server_owned_it_when_its_reports_are_missing() -> None:
    request = RequestRecord(0, 0, sent_ns=2 * MS, first_byte_ns=7 * MS, done_ns=8 * MS, status=200, outcome=Outcome.OK)
    rec = record(connected_ns=1 * MS, client_closed_ns=9 * MS, requests=[request])
    assert names(rec) == ["connecting", "queued", "accepted", "closed"]
    assert rec.states()[2] == (State.ACCEPTED, 7 * MS)


def test_accepted_after_the_client_gave_up_never_counts() -> None:
    rec = record(connected_ns=1 * MS, client_closed_ns=5 * MS, accepted_ns=50 * MS)
    assert names(rec) == ["connecting", "queued", "closed"]


def test_zero_length_states_vanish_without_repeating_their_neighbours() -> None:
    rec = record(
        connected_ns=1 * MS,
        accepted_ns=2 * MS,
        client_closed_ns=9 * MS,
        app_spans=[AppSpan(enter_ns=3 * MS, leave_ns=3 * MS)],
    )
    states = names(rec)
    assert all(a != b for a, b in zip(states, states[1:], strict=False)), states


def test_peaks_count_overlap_and_hand_overs_are_not_double_counted() -> None:
    first = record(connected_ns=1 * MS, accepted_ns=5 * MS, client_closed_ns=9 * MS)
    second = record(connected_ns=5 * MS, accepted_ns=8 * MS, client_closed_ns=9 * MS)
    third = record(connected_ns=2 * MS, accepted_ns=6 * MS, client_closed_ns=9 * MS)
    peaks = summary.peaks(r.states() for r in (first, second, third))
    # queued: first 1–5, third 2–6, second 5–8 → at most 2 at once (first leaves as second enters)
    assert peaks["queued"] == 2
    assert peaks["accepted"] == 3


def test_a_late_close_report_finds_the_connection_whose_port_was_reused() -> None:
    """The server closed first, so the client's port was free at once and a later
    connection took it before the server's report of the first close arrived."""
    from app.timeline.timeline import Timeline
    from app.witness_protocol import ServerEvent

    timeline = Timeline()
    first = ConnectionRecord(
        id=timeline.next_id(), port=50_000, burst=1, index=0, intended_ns=100, connect_start_ns=100
    )
    timeline.add(first)
    timeline.server_event(ServerEvent("accepted", 7, 50_000, 110))
    second = ConnectionRecord(
        id=timeline.next_id(), port=50_000, burst=1, index=1, intended_ns=200, connect_start_ns=200
    )
    timeline.add(second)
    timeline.server_event(ServerEvent("closed", 7, 50_000, 150))
    timeline.server_event(ServerEvent("accepted", 7, 50_000, 210))
    assert (first.accepted_ns, first.server_closed_ns) == (110, 150)
    assert (second.accepted_ns, second.server_closed_ns) == (210, None)
    assert timeline.pending_server_close([first]) == 0
