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


@pytest.mark.parametrize("section,key,value,message", [
    ("build", "mesh_every", 0, "[build] mesh_every must be at least 1, got 0"),
    ("build", "splits", [0.5, -0.5, 1.0],
     "[build] splits must be three fractions (train, val, test), none negative and not all 0, "
     "got [0.5, -0.5, 1.0]"),
    ("build", "min_face_fraction", 1.5, "[build] min_face_fraction must be between 0 and 1, got 1.5"),
    ("training", "batch_size", 0, "[training] batch_size must be at least 1, got 0"),
    ("training", "lr", 0.0, "[training] lr must be more than 0, got 0.0"),
    ("training", "optimizer", "adam", "[training] optimizer must be one of adamw, sgd, got 'adam'"),
    ("training", "arch", "resnet50", "[training] arch must be one of resnet34, resnet18, small, got 'resnet50'"),
    ("general", "device", "gpu", "[general] device must be one of auto, cuda, cpu, got 'gpu'"),
    ("prediction", "format", "xml", "[prediction] format must be one of table, json, srt, vtt, csv, got 'xml'"),
    ("prediction", "stride", 0, "[prediction] stride must be at least 1, got 0"),
    ("fetch", "socket_timeout", 0.0, "[fetch] socket_timeout must be more than 0, got 0.0"),
    ("fetch", "rate_limit", "2 MB", "[fetch] rate_limit must look like 500K or 2M (bytes per second), got '2 MB'"),
    ("fetch", "rate_limit", "0.1", "[fetch] rate_limit must look like 500K or 2M (bytes per second), got '0.1'"),
])
def test_ranges_and_choices_are_checked_when_the_file_loads(section, key, value, message):
    with pytest.raises(ConfigError) as e:
        parse({section: {key: value}}, "my.toml")
    assert str(e.value) == f"my.toml: {message}"


def test_flags_are_checked_against_the_same_ranges():
    with pytest.raises(ConfigError) as e:
        Config().override("prediction", top_k=0)
    assert str(e.value) == "--top-k: [prediction] top_k must be at least 1, got 0"


LANG_RULE = ("must be a language code (en, de, pt-BR) of a language written with spaces between "
             "words: labels are the words between spaces, so Chinese, Japanese, Thai, Lao, Khmer, "
             "Burmese and Tibetan captions cannot be used")


def test_lang_is_a_language_written_with_spaces():
    for lang in ("de", "fr", "pt-BR", "es-419", "ru", "ar", "hi"):
        assert Config().override("fetch", lang=lang).fetch.lang == lang
    for lang in ("ja", "zh-Hans", "th", "en us"):
        with pytest.raises(ConfigError) as e:
            Config().override("fetch", lang=lang)
        assert str(e.value) == f"--lang: [fetch] lang {LANG_RULE}, got {lang!r}"


def test_an_unspaced_language_is_one_line_before_fetching(in_tmp):
    res = CliRunner().invoke(cli, ["fetch", "--lang", "ja", "https://example.invalid/v"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [f"Error: --lang: [fetch] lang {LANG_RULE}, got 'ja'"]


def test_a_bad_mesh_every_is_one_line_before_anything_runs(in_tmp):
    (in_tmp / "options.toml").write_text("[build]\nmesh_every = 0\n")
    res = CliRunner().invoke(cli, ["build-dataset"])
    assert res.exit_code == 1
    assert res.output.splitlines() == ["Error: options.toml: [build] mesh_every must be at least 1, got 0"]


def test_input_size_112_is_refused_with_the_reason():
    with pytest.raises(ConfigError) as e:
        parse({"training": {"input_size": 112}})
    assert str(e.value) == ("options.toml: [training] input_size must be between 16 and 96 (the mouth "
                            "clips are 96x96; the paper's 112 was cut from larger mouth regions), got 112")
    assert "112 as in the paper" not in open("options.toml").read()


ORIGINAL = """\
[general]
usecudnn = true
usecudnnbenchmark = true
gpuid = 0
loadpretrainedmodel = true
pretrainedmodelpath = "trainedmodel.pt"

[input]
batchsize = 18
numworkers = 4
shuffle = true

[model]
type = "LSTM"
inputdim = 256
hiddendim = 256
numclasses = 500
numlstms = 2

[training]
train = true
epochs = 15
startepoch = 0
statsfrequency = 1000
folder = "dataset"
learningrate = 0.003
momentum = 0.9
weightdecay = 0.0001

[validation]
validate = true
folder = "val"
saveaccuracy = true
accuracyfilelocation = "accuracy.txt"
"""


def test_the_original_projects_options_file_loads_with_a_notice_per_key(in_tmp):
    (in_tmp / "options.toml").write_text(ORIGINAL)
    res = CliRunner().invoke(cli, ["config"])
    assert res.exit_code == 0, res.output + res.stderr
    assert res.stderr.splitlines() == [
        "options.toml: [general] usecudnn (the original project's key) is read as [general] device = \"auto\"",
        "options.toml: [general] usecudnnbenchmark (the original project's key) is ignored: "
        "cuDNN benchmarking is on whenever training runs on CUDA",
        "options.toml: [general] gpuid (the original project's key) is ignored: "
        "choose the GPU with CUDA_VISIBLE_DEVICES",
        "options.toml: [general] loadpretrainedmodel (the original project's key) is ignored: "
        "`train` continues pretrainedmodelpath unless given --new",
        "options.toml: [input] batchsize (the original project's key) is read as [training] batch_size = 18",
        "options.toml: [input] numworkers (the original project's key) is read as [training] workers = 4",
        "options.toml: [input] shuffle (the original project's key) is ignored: "
        "training clips are always shuffled (seeded by [general] seed)",
        "options.toml: [model] type (the original project's key) is read as [training] backend = \"lstm\"",
        "options.toml: [model] inputdim (the original project's key) is ignored: "
        "the ResNet's output width follows [training] arch",
        "options.toml: [model] hiddendim (the original project's key) is ignored: "
        "the LSTM size follows [training] arch",
        "options.toml: [model] numclasses (the original project's key) is read as [build] words = 500",
        "options.toml: [model] numlstms (the original project's key) is ignored: "
        "the BiLSTM has 2 layers, as in the paper",
        "options.toml: [training] train (the original project's key) is ignored: "
        "`lipreader train` trains, `lipreader read` predicts",
        "options.toml: [training] startepoch (the original project's key) is ignored: "
        "the model file records its epoch and `train` continues from it",
        "options.toml: [training] statsfrequency (the original project's key) is read as "
        "[training] printfrequency = 1000",
        "options.toml: [training] learningrate (the original project's key) is read as [training] lr = 0.003",
        "options.toml: [training] weightdecay (the original project's key) is read as "
        "[training] weight_decay = 0.0001",
        "options.toml: [validation] validate (the original project's key) is ignored: "
        "validate with `lipreader train --validate`",
        "options.toml: [validation] saveaccuracy (the original project's key) is ignored: "
        "each validation appends to [validation] accuracyfilelocation",
    ]
    cfg = load_config()
    assert (cfg.training.batch_size, cfg.training.workers, cfg.training.lr, cfg.training.printfrequency,
            cfg.training.weight_decay, cfg.training.epochs, cfg.build.words) == (18, 4, 0.003, 1000, 0.0001, 15, 500)
    assert (cfg.general.device, cfg.general.pretrainedmodelpath, cfg.training.folder) == \
        ("auto", "trainedmodel.pt", "dataset")
    assert "batch_size = 18" in res.stdout and "usecudnn" not in res.stdout


def test_original_keys_map_their_values_and_yield_to_ours():
    cfg = parse({"general": {"usecudnn": False}, "model": {"type": "temp-conv"},
                 "training": {"learningrate": 0.1, "lr": 0.2}})
    assert (cfg.general.device, cfg.training.backend, cfg.training.lr) == ("cpu", "tc", 0.2)
    assert cfg.notices[-1] == ("options.toml: [training] learningrate (the original project's key) "
                               "is ignored: [training] lr is set")
    with pytest.raises(ConfigError) as e:
        parse({"input": {"batchsize": 0}})
    assert str(e.value) == "options.toml ([input] batchsize): [training] batch_size must be at least 1, got 0"


def test_unknown_keys_are_still_refused_next_to_original_ones():
    with pytest.raises(ConfigError) as e:
        parse({"input": {"batchsize": 8, "batchsise": 8}})
    assert str(e.value) == "options.toml: unknown key 'batchsise' in [input] (did you mean 'batchsize'?)"
    with pytest.raises(ConfigError) as e:
        parse({"training": {"statsfrequency": 5, "epochz": 2}})
    assert str(e.value) == "options.toml: unknown key 'epochz' in [training] (did you mean 'epochs'?)"
