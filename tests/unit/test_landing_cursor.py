"""The landing sensor's cursor: new files by name and time, with a look-back window."""

from osvi_pipeline.lib.landing_cursor import LOOKBACK_NS, LandingCursor

SECOND = 10**9


def test_new_files_are_reported_once() -> None:
    new, cursor = LandingCursor().advance([("a", 10 * SECOND), ("b", 11 * SECOND)])
    assert new == ["a", "b"] and cursor.watermark_ns == 11 * SECOND
    again, cursor = cursor.advance([("a", 10 * SECOND), ("b", 11 * SECOND)])
    assert again == []
    assert LandingCursor.parse(cursor.dumps()) == cursor


def test_a_file_listed_late_with_an_older_time_is_not_missed() -> None:
    """S3: an upload begun before another but finished after it shows an older LastModified."""
    _, cursor = LandingCursor().advance([("fast", 100 * SECOND)])
    new, cursor = cursor.advance([("fast", 100 * SECOND), ("slow", 99 * SECOND)])
    assert new == ["slow"] and cursor.watermark_ns == 100 * SECOND


def test_files_older_than_the_look_back_window_are_history() -> None:
    _, cursor = LandingCursor().advance([("now", 1000 * SECOND)])
    new, _ = cursor.advance([("now", 1000 * SECOND), ("ancient", 1000 * SECOND - LOOKBACK_NS)])
    assert new == []


def test_cursor_of_earlier_versions_still_parses() -> None:
    cursor = LandingCursor.parse(str(500 * SECOND))
    new, _ = cursor.advance([("old", 500 * SECOND - LOOKBACK_NS - 1), ("x", 501 * SECOND)])
    assert new == ["x"]
