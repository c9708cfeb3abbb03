"""The engine's residency rules as tables, without actors: who is asked to passivate, who is admitted."""

from __future__ import annotations

import pytest

from aion_actors.runtime.residency import ResidencyBook

NOW = 1_000.0
IDLE = 60.0


def book_of(runs, max_resident=10, queued=0):
    """A book with `runs` resident, LRU first: (id, seconds since touched, recorder up?)."""
    book = ResidencyBook(max_resident, IDLE)
    for workflow_id, ago, up in runs:
        book.add(workflow_id, "t", [], NOW - ago)
        if up:
            book.recorder_up(workflow_id, f"rec-{workflow_id}")
    for i in range(queued):
        book.queue(f"q{i}", lambda: None)
    return book


@pytest.mark.parametrize("runs, max_resident, queued, expected", [
    # nothing idle, room to spare: nobody
    ([("a", 1, True), ("b", 2, True)], 10, 0, []),
    # idle past the timeout: asked, however much room there is
    ([("a", 61, True), ("b", 2, True)], 10, 0, ["a"]),
    # the walk is in LRU order and stops at the first run neither idle nor needed for room
    ([("a", 1, True), ("b", 61, True)], 10, 0, []),
    # at the cap with admissions queued: as many LRU runs as the queue needs
    ([("a", 1, True), ("b", 2, True), ("c", 3, True)], 3, 2, ["a", "b"]),
    # a run whose Recorder is still starting cannot be asked: the next one is
    ([("a", 1, False), ("b", 2, True), ("c", 3, True)], 3, 1, ["b"]),
    # over the cap with no queue (the cap was lowered): the excess
    ([("a", 1, True), ("b", 2, True), ("c", 3, True)], 2, 0, ["a"]),
])
def test_who_is_asked_to_passivate(runs, max_resident, queued, expected):
    book = book_of(runs, max_resident, queued)
    assert [w for w, _ in book.to_passivate(NOW)] == expected


def test_runs_asked_are_not_asked_again_until_housekeeping_or_traffic():
    book = book_of([("a", 61, True), ("b", 61, True)])
    assert [w for w, _ in book.to_passivate(NOW)] == ["a", "b"]
    assert book.to_passivate(NOW) == []
    book.touch("a", NOW - 61)  # traffic: it may be asked again
    assert [w for w, _ in book.to_passivate(NOW)] == ["a"]
    book.forget_asked()
    assert [w for w, _ in book.to_passivate(NOW)] == ["b", "a"]


def test_asked_runs_count_towards_the_room_being_made():
    book = book_of([("a", 1, True), ("b", 2, True)], max_resident=2, queued=1)
    assert [w for w, _ in book.to_passivate(NOW)] == ["a"]
    book.queue("q-late", lambda: None)
    assert [w for w, _ in book.to_passivate(NOW)] == ["b"]  # one more queued: one more asked, not "a" twice


def test_touch_moves_a_run_to_most_recently_used():
    book = book_of([("a", 5, True), ("b", 4, True), ("c", 3, True)], max_resident=3, queued=1)
    book.touch("a", NOW)
    assert [w for w, _ in book.to_passivate(NOW)] == ["b"]


@pytest.mark.parametrize("resident, max_resident, queued, admitted", [
    (0, 2, 3, 2),
    (1, 2, 3, 1),
    (2, 2, 3, 0),
    (0, 5, 2, 2),
])
def test_admissions_fill_the_room_oldest_first(resident, max_resident, queued, admitted):
    book = book_of([(f"r{i}", 0, True) for i in range(resident)], max_resident)
    order = []
    for i in range(queued):
        book.queue(f"q{i}", lambda i=i: (order.append(i), book.add(f"q{i}", "t", [], NOW)))
    while (make := book.admit_next()) is not None:
        make()
    assert order == list(range(admitted))


def test_leaving_residency_is_one_operation():
    book = book_of([("a", 61, True)])
    assert [w for w, _ in book.to_passivate(NOW)] == ["a"]
    run = book.remove("a")
    assert run.recorder == "rec-a" and not book.is_resident("a")
    assert book.remove("a") is None
    book.add("a", "t", [], NOW - 61)  # back again: a fresh run, not still "asked"
    book.recorder_up("a", "rec-a2")
    assert [w for w, _ in book.to_passivate(NOW)] == ["a"]


def test_a_recorder_up_for_a_run_no_longer_wanted_is_refused():
    book = book_of([])
    assert book.recorder_up("gone", "rec") is None
    book.add("a", "t", ["then-1"], NOW)
    assert book.recorder_up("a", "rec-a") == ["then-1"]
    assert book.recorder_up("a", "rec-a") == []  # a restart: what waited ran already


def test_a_dead_type_supervisor_takes_its_runs_and_hands_back_what_waited_for_them():
    book = ResidencyBook(10, IDLE)
    book.add("a", "order", ["then-a"], NOW)
    book.add("b", "ship", [], NOW)
    book.add("c", "order", [], NOW)
    book.recorder_up("c", "rec-c")
    assert book.remove_type("order") == [("a", ["then-a"]), ("c", [])]
    assert [book.is_resident(w) for w in "abc"] == [False, True, False]


def test_waiting_for_room_and_result_waiters_are_kept_apart_from_residency():
    book = book_of([])
    book.wait_for_room("a", "then-1")
    book.wait_for_room("a")
    assert book.is_waiting("a") and not book.is_resident("a")
    assert book.take_waiting("a") == ["then-1"] and not book.is_waiting("a")
    book.add_result_waiter("a", 7)
    book.add_result_waiter("a", 8)
    assert book.take_result_waiters("a") == [7, 8] and book.take_result_waiters("a") == []
