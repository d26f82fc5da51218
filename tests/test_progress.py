import io

from lipreader.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_the_final_line_once():
    out = io.StringIO()
    with Progress(3, "tracking", unit="frames", stream=out, min_interval=0.0) as bar:
        for _ in range(3):
            bar.update()
    lines = out.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == [
        "tracking:  33% 1/3 frames", "tracking:  67% 2/3 frames", "tracking: 100% 3/3 frames"]


def test_a_log_gets_the_final_line_when_the_last_update_was_not_printed():
    out = io.StringIO()
    with Progress(2, "clips", stream=out, min_interval=3600.0) as bar:
        bar.update()
        bar.update()
    lines = out.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == ["clips:  50% 1/2 it", "clips: 100% 2/2 it"]


def test_a_new_postfix_is_printed_at_the_end():
    out = io.StringIO()
    with Progress(1, "read", stream=out, min_interval=0.0) as bar:
        bar.update()
        bar.postfix = "3 skipped"
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].endswith("] 3 skipped")


def test_a_terminal_redraws_in_place_and_ends_the_line():
    out = Tty()
    with Progress(2, "tracking", stream=out, min_interval=0.0) as bar:
        bar.update()
        bar.update()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r\033[K") == 3

