from pipelines.demo import FULL, QUICK, duration_baseline


def test_duration_baseline_guesses_by_nearest_mean_duration():
    train = [("a", 0.2), ("a", 0.3), ("b", 0.8), ("b", 0.9)]
    assert duration_baseline(train, [("a", 0.25), ("b", 0.85)]) == 1.0
    assert duration_baseline(train, [("a", 0.9), ("b", 0.2)]) == 0.0
    assert duration_baseline(train, [("a", 0.26), ("b", 0.3)]) == 0.5
    assert duration_baseline(train, []) == 0.0


def test_demo_settings_keep_unseen_and_held_out_videos():
    for s in (FULL, QUICK):
        assert s.unseen_per_speaker_set >= 1 and s.holdout_videos >= 1
        assert s.videos > s.unseen_per_speaker_set + s.holdout_videos + 4


def test_demo_server_falls_back_to_a_free_port_when_its_port_is_taken(tmp_path):
    import urllib.request

    from pipelines import demo

    (tmp_path / "x.txt").write_text("hi")
    with demo._serve(tmp_path) as first:
        with demo._serve(tmp_path) as second:
            assert second != first and not second.endswith(f":{demo.DEMO_PORT}")
            for base in (first, second):
                assert urllib.request.urlopen(f"{base}/x.txt", timeout=5).read() == b"hi"
    with demo._serve(tmp_path) as again:  # the same address as before once it is free
        assert again == first or not first.endswith(f":{demo.DEMO_PORT}")
