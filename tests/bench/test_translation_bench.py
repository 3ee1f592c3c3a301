import pytest

from bench import translation as translation_bench


def test_tiny_run_compares_speeds_with_the_peer_in_the_same_run(
    tmp_path, capsys
):
    rows = translation_bench.main(
        [
            "--data",
            "dates",
            "--source-column",
            "0",
            "--target-column",
            "1",
            "--archs",
            "luong",
            "--minutes",
            "0.05",
            "--max-examples",
            "300",
            "--max-eval-pairs",
            "48",
            "--batch-size",
            "16",
            "--model-args",
            '{"luong": {"embedding_dim": 8, "units": 8}}',
            "--speed-steps",
            "3",
            "--speed-rounds",
            "2",
            "--peer-minutes",
            "0.01",
            "--decode-rounds",
            "1",
            "--logdir",
            str(tmp_path),
            "--verbose",
            "0",
        ]
    )
    printed = capsys.readouterr().out

    (row,) = rows
    assert row["arch"] == "luong"
    assert row["model_arguments"]["units"] == 8
    assert row["same_run_pairs_per_second"] > 0
    peer_line = next(
        line for line in printed.splitlines() if line.startswith("| peer")
    )
    peer_speed = float(peer_line.split("|")[4])
    # The table's peer line and ratio are the peer measured in this run,
    # not the constant.
    measured_peer_speed = (
        row["same_run_pairs_per_second"] / row["same_run_peer_ratio"]
    )
    assert abs(peer_speed - measured_peer_speed) <= 0.5
    assert peer_speed != translation_bench.PEER["train_pairs_per_second"]
    assert f"| {row['same_run_peer_ratio']:.2f} |" in printed
    assert "default model (luong) training speed" in printed

    # Greedy decoding: the peer translated the same test split in the same
    # run, and the table's peer line and ratio are that measurement.
    assert row["same_run_greedy_sentences_per_second"] > 0
    assert 1 <= row["greedy_loop_steps"] <= row["max_decode_length"]
    measured_peer_greedy = (
        row["same_run_greedy_sentences_per_second"]
        / row["same_run_greedy_peer_ratio"]
    )
    assert abs(float(peer_line.split("|")[8]) - measured_peer_greedy) <= 0.5
    luong_line = next(
        line for line in printed.splitlines() if line.startswith("| luong")
    )
    assert float(luong_line.split("|")[9]) == pytest.approx(
        row["same_run_greedy_peer_ratio"], abs=0.005
    )
    assert "luong greedy decoding" in printed
    assert "(same run)" in printed
