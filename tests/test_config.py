import pytest
from click.testing import CliRunner

from lipreader.cli import cli
from lipreader.config import Config, load_config, parse
from lipreader.errors import ConfigError


def test_repo_options_file_matches_defaults():
    # options.toml documents every key with its default.
    assert load_config("options.toml").as_dict() == Config().as_dict()


def test_repo_options_file_lists_every_key():
    text = open("options.toml").read()
    for section, values in Config().as_dict().items():
        assert f"[{section}]" in text
        for key in values:
            assert f"\n{key} = " in text, key


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError) as e:
        parse({"training": {"printfrequncy": 5}}, "my.toml")
    assert str(e.value) == "my.toml: unknown key 'printfrequncy' in [training] (did you mean 'printfrequency'?)"


def test_unknown_section_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown section \[trainig\] \(did you mean 'training'\?\)"):
        parse({"trainig": {}})


def test_wrong_type_names_expected_type():
    with pytest.raises(ConfigError, match=r"\[training\] epochs must be an integer, got '3'"):
        parse({"training": {"epochs": "3"}})
    with pytest.raises(ConfigError, match=r"\[build\] splits must be a list of 3 numbers"):
        parse({"build": {"splits": [0.5, 0.5]}})


def test_original_keys_keep_their_meaning():
    cfg = parse({"general": {"pretrainedmodelpath": "m.pt"},
                 "training": {"folder": "d", "printfrequency": 7},
                 "validation": {"folder": "train", "accuracyfilelocation": "acc.txt"},
                 "prediction": {"folder": "predict"}, "build": {"padding": 2}})
    assert cfg.general.pretrainedmodelpath == "m.pt"
    assert (cfg.training.folder, cfg.training.printfrequency) == ("d", 7)
    assert (cfg.validation.folder, cfg.validation.accuracyfilelocation) == ("train", "acc.txt")
    assert cfg.build.padding == 2


def test_cli_flags_override_file_values():
    cfg = parse({"training": {"epochs": 3, "lr": 0.1}})
    cfg2 = cfg.override("training", epochs=5, lr=None)
    assert (cfg2.training.epochs, cfg2.training.lr) == (5, 0.1)
    assert cfg.training.epochs == 3  # frozen: the original is unchanged
    assert cfg.override("build", splits="0.7,0.2,0.1").build.splits == (0.7, 0.2, 0.1)


def test_config_command_prints_effective_config(in_tmp):
    (in_tmp / "o.toml").write_text("[training]\nepochs = 4\n")
    res = CliRunner().invoke(cli, ["--config", "o.toml", "config"])
    assert res.exit_code == 0
    assert "[training]" in res.output and "epochs = 4" in res.output
    assert 'pretrainedmodelpath = "data/models/lipreader.pt"' in res.output


def test_bad_config_is_one_line_error(in_tmp):
    (in_tmp / "options.toml").write_text("[general]\nseeed = 1\n")
    res = CliRunner().invoke(cli, ["config"])
    assert res.exit_code == 1
    assert res.output.strip() == ("Error: options.toml: unknown key 'seeed' in [general] "
                                  "(did you mean 'seed'?)")
    (in_tmp / "options.toml").write_text("[general\n")
    res = CliRunner().invoke(cli, ["config"])
    assert res.exit_code == 1 and res.output.startswith("Error: options.toml: not valid TOML")
    res = CliRunner().invoke(cli, ["--config", "missing.toml", "config"])
    assert res.exit_code == 1 and "missing.toml does not exist" in res.output
    res = CliRunner().invoke(cli, ["train", "--help"])  # help still works with a broken file
    assert res.exit_code == 0 and "--epochs" in res.output
