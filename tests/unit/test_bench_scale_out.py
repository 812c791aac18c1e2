"""The scale-out benchmark's own arithmetic: the one sample it pushes calls for the whole group under the scaler's
rule, each step is timed from the push, and the summary takes medians over rounds."""

from __future__ import annotations

import pytest

from bench.scale_out import SERVERS, TARGET, VALUE, ScaleOut, desired_for, scale_out_figures, summary


def test_the_pushed_value_calls_for_the_whole_group_from_one_member() -> None:
    assert desired_for(VALUE, TARGET, 1) == SERVERS
    assert desired_for(TARGET, TARGET, 1) == 1
    assert desired_for(TARGET * 1.01, TARGET, 1) == 2


def test_each_step_is_timed_from_the_push_whatever_the_order_rows_came_in() -> None:
    run = ScaleOut(
        pushed=100.0, decided=100.04, launches=[100.06, 100.05, 100.07], requested=[100.9, 100.2, 100.5],
        all_running=104.25,
    )  # fmt: skip
    assert scale_out_figures(run) == {
        "push_to_decision_s": 0.04,
        "push_to_first_launch_s": 0.05,
        "push_to_last_launch_s": 0.07,
        "push_to_first_requested_s": 0.2,
        "push_to_last_requested_s": 0.9,
        "push_to_all_running_s": 4.25,
    }


def test_a_scale_out_that_launched_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="without launches"):
        scale_out_figures(ScaleOut(1.0, 2.0, [], [3.0], 4.0))


def test_the_summary_takes_medians_and_the_ratio_to_plain_launches() -> None:
    first = {"push_to_decision_s": 0.1, "push_to_all_running_s": 6.0}
    second = {"push_to_decision_s": 0.3, "push_to_all_running_s": 8.0}
    found = summary([first, second], [(4.0, 1.5), (3.0, 2.5)])
    assert found["scale_out"]["push_to_decision_s"] == {"rounds": [0.1, 0.3], "median": 0.2}
    assert found["plain"]["first_post_to_all_running_s"] == {"rounds": [4.0, 3.0], "median": 3.5}
    assert found["plain"]["first_post_to_last_requested_s"] == {"rounds": [1.5, 2.5], "median": 2.0}
    assert found["scale_out_over_plain"] == 2.0
