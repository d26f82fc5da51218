from lipreader.say import note, quiet, say


def test_say_is_stdout_note_is_stderr_and_quiet_silences_both(capsys):
    say("fetched a")
    note("note: b")
    say("no newline", end="")
    with quiet():
        say("hidden")
        note("hidden")
        with quiet(False):
            say("still hidden")
    with quiet(False):
        say("shown")
    out, err = capsys.readouterr()
    assert (out, err) == ("fetched a\nno newlineshown\n", "note: b\n")


def test_yt_dlp_warnings_are_notes_without_the_noise(capsys):
    from builder.download import _Logger

    log = _Logger()
    log.debug("[generic] page: Downloading webpage")
    log.warning("[generic] Falling back on generic information extractor")
    log.warning("[youtube] abc: Some formats may be missing")
    log.error("ERROR: raised right after")
    assert capsys.readouterr() == ("", "[youtube] abc: Some formats may be missing\n")
