"""Flags are declared once: presets may only name declared options, and what results.json
and checkpoints record follows from each option's role."""
import pytest

from model import MODEL_NAMES
from utility.config import flags as parser


def option_names():
    return {option.name for option in parser.OPTIONS}


def test_every_preset_names_a_declared_option():
    presets = [parser.COMMON] + list(parser.PRESETS.values()) + list(
        parser.MODEL_PRESETS.values())
    for preset in presets:
        assert set(preset) - {"folder"} <= option_names(), preset
    for key in parser.MODEL_PRESETS:
        model = key[0] if isinstance(key, tuple) else key
        assert model in MODEL_NAMES, key


def test_preset_filled_options_have_no_argparse_default():
    """A preset value only applies where the flag's own default is None."""
    defaults = {option.name: option.kwargs.get("default") for option in parser.OPTIONS}
    for name in parser.COMMON:
        assert defaults[name] is None, name


def test_roles_decide_what_is_recorded_and_what_resume_may_change():
    args = parser.parse_args(["--dataset", "taobao", "--model", "lightgcn", "--lr", "0.01"])
    recorded = parser.hyperparameters(args)
    assert recorded["lr"] == 0.01 and recorded["model"] == "lightgcn"
    for runtime in ("threads", "xla", "resume", "tf_log", "eval_users_per_call"):
        assert runtime not in recorded
    assert set(parser.resumable_options()) == {"data_path", "out_dir", "epochs", "patience"}


def test_a_record_without_a_later_flag_counts_as_that_flags_default():
    """feature_decay came after runs were recorded: MCLN's runs (no value) stay comparable,
    VBPR's preset value is a change."""
    current = parser.hyperparameters(parser.parse_args(["--dataset", "taobao"]))
    assert current["feature_decay"] is None
    older = {key: value for key, value in current.items() if key != "feature_decay"}
    assert parser.changed_settings(older, current) == []
    args = parser.parse_args(["--dataset", "taobao", "--lr", "0.01", "--epochs", "3",
                              "--feature_decay", "0.1"])
    assert parser.changed_settings(older, parser.hyperparameters(args)) == [
        "epochs", "feature_decay", "lr"]
    assert parser.changed_settings(older, parser.hyperparameters(args),
                                   free=parser.resumable_options()) == ["feature_decay", "lr"]
    vbpr = parser.hyperparameters(parser.parse_args(["--dataset", "taobao", "--model", "vbpr"]))
    assert vbpr["feature_decay"] == 1e-2
    assert "feature_decay" in parser.changed_settings(
        {key: value for key, value in vbpr.items() if key != "feature_decay"}, vbpr)


def test_two_names_of_one_model_are_not_a_change_of_settings():
    """no_inter is vt on image and text data (model.variants.same_model): a run recorded
    under one name is the other's, for the runner's twins and for --resume; not on other
    data, nor for a variant that builds another model."""
    def recorded(*flags):
        return parser.hyperparameters(parser.parse_args(["--dataset", "ml100k"] + list(flags)))
    vt = recorded("--variant", "vt")
    assert parser.changed_settings(vt, recorded("--variant", "no_inter")) == []
    assert parser.changed_settings(recorded("--variant", "no_inter"), vt) == []
    assert parser.changed_settings(vt, recorded("--variant", "vt_cl")) == ["variant"]
    assert parser.changed_settings(vt, recorded("--variant", "no_inter", "--lr", "0.5")) == [
        "lr"]
    image_only = recorded("--variant", "v", "--modalities", "image")
    assert parser.changed_settings(image_only, recorded("--variant", "no_inter", "--modalities",
                                                        "image")) == []
    assert parser.changed_settings(vt, recorded("--variant", "no_inter", "--modalities",
                                                "image")) == ["modalities", "variant"]


def test_model_presets_apply_between_dataset_presets_and_flags(monkeypatch):
    monkeypatch.setitem(parser.MODEL_PRESETS, "bprmf", dict(decay=0.5, lr=0.2))
    monkeypatch.setitem(parser.MODEL_PRESETS, ("bprmf", "taobao"), dict(lr=0.3))
    args = parser.parse_args(["--dataset", "taobao", "--model", "bprmf", "--decay", "0.7"])
    assert (args.lr, args.decay, args.epochs) == (0.3, 0.7, parser.PRESETS["taobao"]["epochs"])


def test_mclns_ml100k_preset_is_its_own():
    """The lr and L2 chosen for MCLN on ml100k reach every MCLN variant, not the baselines."""
    for argv in (["--dataset", "ml100k"], ["--dataset", "ml100k", "--variant", "base"]):
        args = parser.parse_args(argv)
        assert (args.lr, args.decay, args.batch_size) == (1e-3, 1e-4, 512)
    svdpp = parser.parse_args(["--dataset", "ml100k", "--model", "svdpp"])
    assert (svdpp.lr, svdpp.decay) == (parser.COMMON["lr"],
                                       parser.MODEL_PRESETS["svdpp"]["decay"])


def test_a_baselines_ml100k_preset_wins_over_its_taobao_one():
    lightgcn = parser.parse_args(["--dataset", "ml100k", "--model", "lightgcn"])
    assert (lightgcn.lr, lightgcn.decay, lightgcn.batch_size) == (1e-2, 1e-4, 512)
    taobao = parser.parse_args(["--dataset", "taobao", "--model", "lightgcn"])
    assert (taobao.lr, taobao.decay) == (parser.COMMON["lr"], 1e-2)
    bprmf = parser.parse_args(["--dataset", "ml100k", "--model", "bprmf"])
    assert (bprmf.lr, bprmf.decay) == (parser.COMMON["lr"], 1e-3)
    ngcf = parser.parse_args(["--dataset", "ml100k", "--model", "ngcf"])
    assert (ngcf.lr, ngcf.decay, ngcf.n_layers) == (parser.COMMON["lr"], 1e-3, 1)
    vbpr = parser.parse_args(["--dataset", "ml100k", "--model", "vbpr"])
    assert (vbpr.lr, vbpr.decay, vbpr.feature_decay) == (parser.COMMON["lr"], 1e-2, 1e-2)


@pytest.mark.parametrize("argv,message", [
    (["--model", "bprmf", "--variant", "base"], "--variant and --formulation are MCLN's"),
    (["--dataset", "taobao", "--variant", "vt"], "needs text features"),
    (["--node_dropout", "1.5"], "--node_dropout must be in [0, 1)"),
])
def test_flag_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
