import numpy as np
import pytest

from core import facts
from core.schema import Description


def levels(values):
    x = np.asarray(values, dtype=float)
    return np.floor((x - x.min()) / (x.max() - x.min()) * 99.9999).astype(int).tolist()


def test_trend_labels():
    t = np.linspace(0, 1, 128)
    assert facts.compute_features(levels(t)).trend == "increasing"
    assert facts.compute_features(levels(-t)).trend == "decreasing"
    assert facts.compute_features(levels(np.cos(2 * np.pi * t))).trend == "flat"


def test_trend_threshold_is_three_levels():
    base = [50] * 128
    up = base[:108] + [54] * 20
    assert facts.trend_label(np.array(up, float))[0] == "increasing"
    assert facts.trend_label(np.array(base[:108] + [53] * 20, float))[0] == "flat"


def test_noise_levels():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 128)
    assert facts.compute_features(levels(t)).noise == "low"
    assert facts.compute_features(levels(t + rng.normal(0, 0.15, 128))).noise == "medium"
    assert facts.compute_features(levels(rng.normal(0, 1, 128))).noise == "high"


def test_positions_scale_with_length():
    assert facts.position_label(31, 128) == "beginning"
    assert facts.position_label(32, 128) == "middle"
    assert facts.position_label(97, 128) == "end"
    assert facts.position_label(62, 256) == "beginning"
    assert facts.position_label(250, 256) == "end"


def test_constant_series_reads_flat_and_low():
    f = facts.compute_features([0] * 128)
    assert (f.trend, f.noise) == ("flat", "low")


def test_near_constant_series_is_flat_low_and_stated_as_constant():
    f = facts.compute_features([100 + 1e-12 * (-1) ** i for i in range(1000)])
    assert (f.trend, f.noise, f.max, f.min, f.constant) == ("flat", "low", "beginning", "beginning", True)
    sentences = facts.fact_sentences(f)
    assert "constant" in sentences["trend"]
    stated = Description(trend=sentences["trend"], noise=sentences["noise"], extrema=sentences["max"])
    assert facts.check(stated, f).score == 1.0


def test_the_max_is_decided_on_the_raw_values_not_the_levels():
    ramp = np.linspace(0, 127, 128)
    ramp[5] = 126.5  # floors to the same level as the true max
    f = facts.compute_features(ramp)
    assert (f.argmax, f.max) == (127, "end")


def test_ties_take_the_first_occurrence():
    values = np.zeros(128)
    values[[10, 120]] = 5.0
    assert facts.compute_features(values).max == "beginning"


def test_features_read_the_whole_series_not_its_first_multiple_of_128():
    t = np.linspace(0, 1, 1000)
    vee = np.abs(t - 0.45) * 4  # 1000 = 7 × 128 + 104: the last 104 points carry the end of the rise
    assert facts.compute_features(vee).trend == "increasing"


@pytest.mark.parametrize(
    ("sentence", "label"),
    [
        ("The time series shows an increasing trend over the observed period.", "increasing"),
        ("The time series exhibits a consistent decreasing trend.", "decreasing"),
        ("The time series shows no clear overall increasing or decreasing trend, with fluctuations.", "flat"),
        ("The time series does not exhibit a clear overall trend; it fluctuates.", "flat"),
        ("The series remains flat.", "flat"),
        ("An upward trend dominates.", "increasing"),
        ("It rises, then falls slightly at the end.", "increasing"),
        ("Nothing about direction.", None),
    ],
)
def test_read_trend(sentence, label):
    assert facts.read_trend(sentence) == label


@pytest.mark.parametrize(
    ("sentence", "label"),
    [
        ("The noise intensity is high, with significant fluctuations.", "high"),
        ("The noise intensity is relatively low, as the data follow a smooth path.", "low"),
        ("The noise intensity is moderate.", "medium"),
        ("The noise intensity in the time series is medium to high.", "medium"),
        ("The data are smooth.", "low"),
        ("Nothing here.", None),
    ],
)
def test_read_noise(sentence, label):
    assert facts.read_noise(sentence) == label


@pytest.mark.parametrize(
    ("sentence", "labels"),
    [
        ("The global maximum is located towards the end, and the global minimum is located towards the middle.",
         ("end", "middle")),
        ("The global minimum is located at the beginning, while the global maximum is at the end.", ("end", "beginning")),
        ("The global maximum and minimum are located at the end and beginning respectively.", ("end", "beginning")),
        ("Both the maximum and the minimum are in the middle.", ("middle", "middle")),
        ("The maximum is reached around the middle of the series and the minimum near the start.", ("middle", "beginning")),
        ("No extremes mentioned.", (None, None)),
    ],
)
def test_read_extrema(sentence, labels):
    assert facts.read_extrema(sentence) == labels


def rising():
    return facts.compute_features(list(range(128)))


def test_check_agrees_field_by_field():
    d = Description(
        trend="The series shows an increasing trend.",
        noise="The noise intensity is high.",
        extrema="The global maximum is at the end and the global minimum is at the beginning.",
    )
    result = facts.check(d, rising())
    assert result.fields["trend"].agrees and result.fields["max"].agrees and result.fields["min"].agrees
    assert not result.fields["noise"].agrees
    assert result.score == 0.75
    assert result.contradicted() == ["noise"]


def test_repair_replaces_only_contradicted_fields():
    d = Description(
        trend="The series shows an increasing trend.",
        noise="The noise intensity is high.",
        extrema="The global maximum is at the beginning and the global minimum is at the end.",
    )
    repaired, fields = facts.repair(d, facts.check(d, rising()))
    assert fields == ("noise", "extrema")
    assert repaired.trend == d.trend
    assert repaired.noise == "The noise intensity is low."
    assert facts.check(repaired, rising()).score == 1.0


def test_fact_sentences_read_back_as_their_labels():
    for trend in ("increasing", "decreasing", "flat"):
        assert facts.read_trend(facts.trend_fact(trend)) == trend
    for noise in ("low", "medium", "high"):
        assert facts.read_noise(facts.noise_fact(noise)) == noise
    for mx in facts.POSITIONS:
        for mn in facts.POSITIONS:
            assert facts.read_extrema(facts.extrema_fact(mx, mn)) == (mx, mn)
