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


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    import os

    from click.testing import CliRunner

    from lipreader.cli import cli
    from pipelines import demo

    (tmp_path / "data" / "videos" / "talk1").mkdir(parents=True)
    (tmp_path / "data" / "models").mkdir()
    (tmp_path / "data" / "models" / "lipreader.pt").write_bytes(b"a model")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(cli, ["demo", "--quick", "--out", "."])
    finally:
        os.chdir(old)
    assert res.exit_code == 1
    assert res.output == f"Error: --out {tmp_path} is not empty and not a demo folder: give the demo a new or empty folder\n"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "data", "data/models", "data/models/lipreader.pt", "data/videos", "data/videos/talk1"]

    fresh = tmp_path / "fresh"
    demo.claim(fresh)  # a new folder becomes a demo folder, and stays one
    assert sorted(p.name for p in fresh.iterdir()) == [demo.MARK]
    (fresh / "models").mkdir()
    demo.claim(fresh)
    assert sorted(p.name for p in fresh.iterdir()) == [demo.MARK, "models"]
