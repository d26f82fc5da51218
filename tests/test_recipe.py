"""Training defaults that scale with the dataset (lipreader.recipe)."""

from __future__ import annotations

import pytest

from lipreader import recipe
from lipreader.config import Config, parse
from lipreader.errors import ConfigError


def test_the_file_and_the_command_line_mark_what_was_set():
    cfg = parse({"training": {"lr": 0.001}, "build": {"words": 5}}, "opts.toml")
    assert cfg.explicit == {"training.lr", "build.words"}
    cfg = cfg.override("training", batch_size=8, time_mask=None)
    assert cfg.explicit == {"training.lr", "build.words", "training.batch_size"}
    assert Config().explicit == frozenset()


def test_a_small_dataset_gets_the_small_data_values_for_what_was_left_unset():
    cfg = parse({"training": {"lr": 0.001}}, "opts.toml")
    t, note = recipe.apply(cfg.training, cfg.explicit, 300)
    assert (t.lr, t.batch_size, t.weight_decay, t.label_smoothing, t.time_mask) == (0.001, 16, 0.05, 0.0, 0)
    assert (t.epochs, t.schedule_epochs) == (60, 60)
    assert note == ("recipe: small-data (300 training clips < 5,000): batch_size 16, weight_decay 0.05, "
                    "label_smoothing 0, time_mask 0, epochs 60, schedule_epochs 60; options you set are kept "
                    "([training] recipe)")


def test_a_large_dataset_and_large_data_keep_the_configured_values():
    t0 = Config().training
    assert recipe.apply(t0, frozenset(), 5000) == (t0, "")
    big = Config().override("training", recipe="large-data")
    assert recipe.apply(big.training, big.explicit, 10) == (big.training, "")
    small = Config().override("training", recipe="small-data")
    t, note = recipe.apply(small.training, small.explicit, 100_000)
    assert t.lr == recipe.SMALL_DATA["lr"] and note.startswith("recipe: small-data (100000 training clips): lr 0.003")


def test_an_unknown_recipe_is_one_line():
    with pytest.raises(ConfigError, match="recipe"):
        parse({"training": {"recipe": "tiny"}}, "opts.toml")
