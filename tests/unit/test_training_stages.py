import json
import random
import sys

import numpy as np
import pytest

from core import facts
from core.features import extrema, noise, trend
from core.prompt import series_from_prompt
from core.schema import PAPER_FIELDS
from core.series import encode
from training import dataset, evaluate, generate, teachers
from training.annotate import import_companion
from training.factcheck import FactcheckConfig, agreement_report, check_record


def test_ou_generator_is_seeded_and_follows_the_papers_ranges():
    a = list(generate.generate_ou(20, seed=3))
    b = list(generate.generate_ou(20, seed=3))
    assert a == b
    for r in a:
        assert len(r["values"]) == 128
        assert 0.2 <= r["params"]["theta"] <= 1.2 and 0 <= r["params"]["sigma"] <= 0.4
        assert -2 <= r["params"]["x0"] <= 2 and r["values"][0] == r["params"]["x0"]


def test_ou_generator_is_fast():
    import time

    started = time.perf_counter()
    list(generate.generate_ou(2000, seed=0))
    assert time.perf_counter() - started < 5  # thousands per second, with a wide margin for a loaded CI machine


def test_ood_families_lengths_and_scales():
    records = list(generate.generate_ood(24, seed=0))
    assert {r["family"] for r in records} == set(generate.OOD_FAMILIES)
    assert {len(r["values"]) for r in records} == {64, 200, 500, 1000}
    assert all(np.isfinite(r["values"]).all() for r in records)


def test_world_families_are_seeded_finite_and_of_random_length():
    a = list(generate.generate_world(2 * len(generate.WORLD_FAMILIES), seed=0))
    assert a == list(generate.generate_world(2 * len(generate.WORLD_FAMILIES), seed=0))
    assert {r["family"] for r in a} == set(generate.WORLD_FAMILIES) == set(generate.FAMILIES) - {"quasi_cycle", "quiet_hump"}  # opt-in
    lengths = [len(r["values"]) for r in a]
    assert min(lengths) >= generate.MIN_LENGTH and max(lengths) <= generate.MAX_LENGTH and len(set(lengths)) > 20
    assert all(np.isfinite(r["values"]).all() for r in a)


def test_the_world_has_flat_series_and_middle_extrema_for_every_label():
    labels = [facts.compute_features(r["values"]) for r in generate.generate_world(600, seed=1)]
    for name in facts.CHECKED_FIELDS:
        shares = {label: sum(f.label(name) == label for f in labels) / len(labels) for label in facts.FIELD_LABELS[name]}
        # the OU world alone has almost no flat series; a season, an outlier or a shift is one family's (1/16)
        floor = 0.08 if name in ("trend", "noise", "max", "min") else 0.02
        assert min(shares.values()) > floor, (name, shares)


def test_cell_draw_covers_every_cell_and_balances_each_field():
    records = []
    for r in [*generate.generate_ou(600, seed=2), *generate.generate_world(3000, seed=2)]:
        features = facts.compute_features(r["values"])
        records.append({"levels": [], "features": features.record()})
    drawn = dataset.cell_balanced_subset(records, 600, random.Random(0))
    table = dataset.class_table(drawn)
    assert set(table["cells"]) == {dataset.cell_of(r) for r in records}
    pool = dataset.class_table(records)
    for name, favoured, others in (("trend", "flat", ("increasing", "decreasing")), ("max", "middle", ("beginning", "end")),
                                   ("min", "middle", ("beginning", "end"))):
        # as often as the others, or every one the pool has
        assert table[name][favoured] >= min(table[name][o] for o in others) or table[name][favoured] == pool[name][favoured]
    assert max(table["noise"].values()) - min(table["noise"].values()) <= 0.1 * len(drawn), table["noise"]


def test_the_pairs_draw_keeps_high_noise_from_meaning_flat():
    rng = random.Random(3)
    labels = {"trend": ("increasing", "decreasing", "flat"), "noise": ("low", "medium", "high"),
              "max": ("beginning", "middle", "end"), "min": ("beginning", "middle", "end")}
    records = []
    for _ in range(3000):  # a pool like the world's: 9 flat series in 10 are high-noise; a third of trends are
        cell = {name: rng.choice(options) for name, options in labels.items()}
        if cell["trend"] == "flat" and rng.random() < 0.9:
            cell["noise"] = "high"
        records.append({"levels": [], "features": {**cell, "length": 128}})

    def flat_given_high(drawn):
        pairs = dataset.class_table(drawn)["pairs"]["trend×noise"]
        return pairs["flat/high"] / sum(v for k, v in pairs.items() if k.endswith("/high"))

    cells = dataset.cell_balanced_subset(records, 600, random.Random(0))
    pairs = dataset.cell_balanced_subset(records, 600, random.Random(0), pairs=True)
    assert flat_given_high(cells) > 0.6 and flat_given_high(pairs) < 0.55  # field by field: 0.69; with pairs: 0.49
    noisy_declines = [dataset.class_table(d)["pairs"]["trend×noise"]["decreasing/high"] for d in (cells, pairs)]
    assert noisy_declines[1] >= 1.5 * noisy_declines[0]  # the pool had ~330: field by field took 36, with pairs 57
    assert set(dataset.class_table(pairs)["cells"]) == {dataset.cell_of(r) for r in records}  # still every cell
    assert min(dataset.class_table(pairs)["trend"].values()) >= 150


def drawn_without_and_with(records: list[dict], stratum: str, size: int = 600) -> tuple[list[dict], list[dict]]:
    """The same pairs draw of `records` on the labels alone and on the labels and `stratum`."""
    plain = dataset.drawn_subset(records, size, "pairs", 0.5, random.Random(0))
    strata = dataset.drawn_subset(records, size, "pairs", 0.5, random.Random(0), names=(*dataset.PAPER_NAMES, stratum))
    return plain, strata


def test_the_slope_stratum_draws_steep_noisy_trends_the_labels_alone_leave_rare():
    rng = random.Random(5)
    records = []
    for _ in range(3000):  # like the world's pool: high-noise trends are steep as often as gentle, but the
        noise_label = rng.choice(("low", "medium", "high"))  # gentle ones carry the rarer extrema
        delta = rng.choice((-1, 1)) * rng.choice((rng.uniform(3.5, 15), rng.uniform(16, 80)))
        if rng.random() < 0.3:
            delta = rng.uniform(-3, 3)
        steep = abs(delta) > dataset.STEEP_DELTA
        cell = {"trend": "flat" if abs(delta) <= 3 else "increasing" if delta > 0 else "decreasing",
                "noise": noise_label, "max": "end" if steep and delta > 0 else rng.choice(("beginning", "middle", "end")),
                "min": "beginning" if steep and delta > 0 else rng.choice(("beginning", "middle", "end"))}
        records.append({"levels": [], "features": {**cell, "trend_delta": delta, "length": 128}})

    def high_and_steep(drawn):
        return sum(dataset.slope_of(r) == "steep" and r["features"]["noise"] == "high" for r in drawn)

    plain, strata = drawn_without_and_with(records, "slope")
    assert high_and_steep(strata) >= 1.3 * high_and_steep(plain), (high_and_steep(plain), high_and_steep(strata))
    table = dataset.class_table(strata, (*dataset.PAPER_NAMES, "slope"))
    assert set(table["slope"]) == {"steep", "shallow"} and "noise×slope" in table["pairs"]
    assert dataset.slope_of({"features": {"trend": "flat", "trend_delta": -15.0, "length": 9}}) == "shallow"
    assert dataset.slope_of({"features": {"trend": "decreasing", "trend_delta": -15.1, "length": 9}}) == "steep"



def textured_pool(rng: random.Random, trends_smooth: float, size: int = 3000) -> list[dict]:
    """A pool like the world's: flat series mostly white noise (rough, 8% a smooth sine), trends smooth at the given
    share; labels drawn at random."""
    records = []
    for _ in range(size):
        cell = {"trend": rng.choice(("increasing", "decreasing", "flat")), "noise": rng.choice(("low", "medium", "high")),
                "max": rng.choice(("beginning", "middle", "end")), "min": rng.choice(("beginning", "middle", "end"))}
        smooth = rng.random() < (0.08 if cell["trend"] == "flat" else trends_smooth)
        start = rng.uniform(0, 6.3)
        levels = [round(49.5 + 49.5 * np.sin(start + i / 3)) if smooth else rng.randrange(100) for i in range(128)]
        records.append({"levels": levels, "features": {**cell, "trend_delta": 0.0, "length": 128}})
    return records


def test_the_texture_stratum_draws_smooth_flat_series_the_labels_alone_leave_rare():
    records = textured_pool(random.Random(6), trends_smooth=0.5)  # trends often smooth

    def flat_and_smooth(drawn):
        return sum(dataset.texture_of(r) == "smooth" and r["features"]["trend"] == "flat" for r in drawn)

    plain, strata = drawn_without_and_with(records, "texture")
    assert flat_and_smooth(strata) >= 2 * flat_and_smooth(plain), (flat_and_smooth(plain), flat_and_smooth(strata))
    assert set(dataset.class_table(strata, (*dataset.PAPER_NAMES, "texture"))["texture"]) == {"smooth", "rough"}
    assert dataset.texture_of({"levels": [5] * 20}) == "smooth"  # constant: nothing jumps
    assert dataset.texture_of({"levels": [0, 99] * 10}) == "rough"


def test_the_margin_stratum_draws_noise_near_the_low_cut_the_labels_alone_leave_rare():
    rng = random.Random(7)
    records = []
    for _ in range(3000):  # like the world's pool: medium noise is mostly far above the low cut (RMS 4–12)
        rms = rng.choice((rng.uniform(0.2, 1.5), rng.uniform(1.5, 4.0) if rng.random() < 0.15 else rng.uniform(4, 30)))
        cell = {"trend": rng.choice(("increasing", "decreasing", "flat")),
                "noise": "low" if rms < 2 else "medium" if rms <= 12 else "high",
                "max": rng.choice(("beginning", "middle", "end")), "min": rng.choice(("beginning", "middle", "end"))}
        records.append({"levels": [], "features": {**cell, "trend_delta": 0.0, "noise_rms": rms, "length": 128}})

    def near_medium(drawn):
        return sum(dataset.margin_of(r) == "near" and r["features"]["noise"] == "medium" for r in drawn)

    plain, strata = drawn_without_and_with(records, "margin")
    assert near_medium(strata) >= 2 * near_medium(plain), (near_medium(plain), near_medium(strata))
    assert set(dataset.class_table(strata, (*dataset.PAPER_NAMES, "margin"))["margin"]) == {"near", "far"}
    assert [dataset.margin_of({"features": {"noise": "low", "noise_rms": rms, "length": 9}}) for rms in (1.49, 1.5, 3.99, 4.0)] \
        == ["far", "near", "near", "far"]


def test_the_flat_texture_stratum_draws_smooth_flat_series_and_leaves_the_trends_draw_alone():
    records = textured_pool(random.Random(8), trends_smooth=0.8)  # trends mostly smooth (OU)

    def smooth_share(drawn, flat):
        chosen = [r for r in drawn if (r["features"]["trend"] == "flat") == flat]
        return sum(dataset.texture_of(r) == "smooth" for r in chosen) / len(chosen)

    plain, strata = drawn_without_and_with(records, "flat_texture")
    assert smooth_share(strata, flat=True) >= 2 * smooth_share(plain, flat=True)
    assert abs(smooth_share(strata, flat=False) - smooth_share(plain, flat=False)) < 0.05  # trends as drawn before
    table = dataset.class_table(strata, (*dataset.PAPER_NAMES, "flat_texture"))
    assert set(table["flat_texture"]) == {"smooth", "rough", "sloped"}
    assert table["pairs"]["trend×flat_texture"].keys() == {"flat/smooth", "flat/rough", "increasing/sloped",
                                                          "decreasing/sloped"}


def test_the_quasi_cycle_family_brings_smooth_flat_series_with_big_swings():
    rng = np.random.default_rng(2)
    cycles = [generate.family_series("quasi_cycle", rng, generate.random_length(rng)) for _ in range(60)]
    described = [(facts.compute_features(v), dataset.texture_of({"levels": list(encode(v.tolist(), length=128).levels)}))
                 for v in cycles]
    assert sum(f.trend == "flat" and f.noise == "high" and texture == "smooth" for f, texture in described) >= 10
    assert sum(texture == "smooth" for _, texture in described) >= 40  # more than 25 swings in 128 points are rough


def test_the_quiet_hump_family_brings_flat_series_at_the_low_medium_noise_cut():
    rng = np.random.default_rng(3)
    humps = [facts.compute_features(generate.family_series("quiet_hump", rng, generate.random_length(rng)))
             for _ in range(60)]
    assert sum(f.trend == "flat" for f in humps) >= 57
    low, high = dataset.NEAR_LOW_CUT
    assert sum(low <= f.evidence["noise_rms"] < high for f in humps) >= 40
    assert {f.noise for f in humps} == {"low", "medium"}
    assert all("middle" in (f.label("max"), f.label("min")) for f in humps)


def test_an_ou_share_draws_that_share_from_the_ou_series_and_balances_each_part_alone():
    rng = random.Random(4)
    labels = {"trend": ("increasing", "decreasing", "flat"), "noise": ("low", "medium", "high"),
              "max": ("beginning", "middle", "end"), "min": ("beginning", "middle", "end")}
    records = []
    for i in range(2000):  # OU rarely flat, the other families often
        family = "ou" if i % 4 == 0 else "white_noise"
        cell = {name: rng.choice(options) for name, options in labels.items()}
        if family == "ou" and cell["trend"] == "flat" and rng.random() < 0.9:
            cell["trend"] = "increasing"
        records.append({"id": str(i), "family": family, "levels": [], "features": {**cell, "length": 128}})
    whole = dataset.drawn_subset(records, 400, "pairs", 0.5, random.Random(0))
    assert whole == dataset.cell_balanced_subset(records, 400, random.Random(0), pairs=True)  # no share: as before
    drawn = dataset.drawn_subset(records, 400, "pairs", 0.5, random.Random(0), ou_share=0.5)
    assert len(drawn) == 400 and sum(r["family"] == "ou" for r in drawn) == 200
    assert len({r["id"] for r in drawn}) == 400 and [int(r["id"]) for r in drawn] == sorted(int(r["id"]) for r in drawn)
    ou = [r for r in records if r["family"] == "ou"]
    assert [r for r in drawn if r["family"] == "ou"] == dataset.cell_balanced_subset(ou, 200, random.Random(0), pairs=True)
    assert len(dataset.drawn_subset(records, 1500, "pairs", 0.5, random.Random(0), ou_share=0.9)) == 1500  # OU runs out: 500


def test_rule_teacher_phrasings_read_back_as_the_computed_labels():
    rng = random.Random(0)
    for record in generate.generate_ou(300, seed=1):
        features = facts.compute_features(encode(record["values"], length=128).values)
        description = teachers.rule_description(features, rng)
        assert facts.check(description, features).score == 1.0
    for label, sentences in trend.PHRASINGS.items():
        assert all(facts.read_trend(s) == label for s in sentences)
    for label, sentences in noise.PHRASINGS.items():
        assert all(facts.read_noise(s) == label for s in sentences)
    for template in extrema.PHRASINGS:
        for max_label, max_places in extrema.MAX_PLACE.items():
            for min_label, min_places in extrema.MIN_PLACE.items():
                for max_place, min_place in zip(max_places, min_places):
                    sentence = template.format(max=max_place, min=min_place)
                    assert facts.read_extrema(sentence) == (max_label, min_label), sentence


def first_difference(ids: dict[str, list[int]], key: str) -> int:
    """The first token index at which ids[key] differs from another entry's ids."""
    return next(i for i, token in enumerate(ids[key]) if any(other[i] != token for other in ids.values()))


def test_the_zone_word_is_the_first_token_of_a_place_that_decides_the_zone(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    for places in (extrema.MAX_PLACE, extrema.MIN_PLACE):
        for variant in range(2):
            ids = {zone: tokenizer.encode(" " + options[variant], add_special_tokens=False)
                   for zone, options in places.items()}
            decides = {zone: first_difference(ids, zone) for zone in ids}
            zone_word = {zone: tokenizer.decode(ids[zone][decides[zone]]).strip() for zone in ids}
            assert zone_word == {zone: zone for zone in extrema.POSITIONS}, places


@pytest.mark.parametrize("feature", [f for f in facts.FEATURES if len(f.labels) == 1], ids=lambda f: f.field)
def test_every_label_is_phrased_in_the_same_frames_up_to_the_token_that_decides_it(smollm2_tokenizer, feature):
    (name, labels), = feature.labels.items()
    module = sys.modules[feature.compute.__module__]
    frames = {len(module.PHRASINGS[label]) for label in labels}
    assert len(frames) == 1  # so that pick() draws each frame equally often for every label
    sentences = {(label, frame): smollm2_tokenizer.encode(text.format(period=12, where="at the end"),
                                                          add_special_tokens=False)
                 for label in labels for frame, text in enumerate(module.PHRASINGS[label])}
    for frame in range(frames.pop()):
        ids = {label: sentences[label, frame] for label in labels}
        decides = {first_difference(ids, label) for label in ids}
        assert len(decides) == 1, frame  # the labels part at one token, not earlier for some
        at = decides.pop()
        assert len({ids[label][at] for label in labels}) == len(labels), frame  # and that token names the label
        shared = smollm2_tokenizer.decode(ids[labels[0]][:at])
        assert feature.read(shared)[name] is None, shared  # nothing before it states a label
        assert all(feature.read(smollm2_tokenizer.decode(ids[label]))[name] == label for label in labels)
        for label in labels:  # nor does another frame of another label begin the same way up to that token
            head = ids[label][: at + 1]
            assert not [key for key, other in sentences.items() if key[0] != label and other[: at + 1] == head], head


@pytest.mark.parametrize("feature", [f for f in facts.FEATURES if len(f.labels) == 1], ids=lambda f: f.field)
def test_the_token_that_decides_a_label_is_one_that_label_weight_weighs(smollm2_tokenizer, feature):
    # finetune's label_weight weighs the tokens inside facts.label_word_spans; if the token that parts the labels is
    # outside them for some labels (" a" before "decreasing") and inside for others (" no" of "no clear trend"),
    # weighing favours the latter: train23 (label_weight 3) wrote flat for 37 of 41 decreasing real series.
    (_, labels), = feature.labels.items()
    module = sys.modules[feature.compute.__module__]
    for frame in range(len(module.PHRASINGS[labels[0]])):
        texts = {label: module.PHRASINGS[label][frame].format(period=12, where="at the end") for label in labels}
        encoded = {label: smollm2_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
                   for label, text in texts.items()}
        ids = {label: e["input_ids"] for label, e in encoded.items()}
        at = first_difference(ids, labels[0])
        for label in labels:
            start, end = encoded[label]["offset_mapping"][at]
            spans = facts.label_word_spans(texts[label], (feature.field,))
            assert any(start < span_end and end > span_start for span_start, span_end in spans), (
                texts[label], texts[label][start:end])


def test_rule_teacher_mostly_speaks_in_the_canonical_voice():
    rng = random.Random(0)
    features = facts.compute_features(list(range(100)) + [99] * 28)
    trends = [teachers.rule_description(features, rng).trend for _ in range(400)]
    share = trends.count(trend.PHRASINGS["increasing"][0]) / len(trends)
    assert 0.6 < share < 0.8
    assert len(set(trends)) == len(trend.PHRASINGS["increasing"])
    noises = [teachers.rule_description(features, rng).noise for _ in range(400)]
    assert 0.6 < noises.count(noise.PHRASINGS["low"][0]) / len(noises) < 0.8
    # the real teacher's most frequent noise sentence, word for word: the canonical frame keeps its tail
    assert noise.PHRASINGS["medium"][0] == "The noise intensity is medium, with noticeable fluctuations throughout the series."


def companion_row(levels, output):
    prompt = "\n/think Describe ... Series: [" + ", ".join(f"{v:02d}" for v in levels) + "]"
    return json.dumps({"index": 7, "input": prompt, "output": json.dumps(output)})


def test_import_reads_the_companion_format(tmp_path):
    levels = list(range(128)) [:128]
    levels = [min(99, v) for v in levels]
    path = tmp_path / "teacher.jsonl"
    path.write_text(companion_row(levels, {"trend": "Up.", "noise": "Low.", "extrema": "Max at end."}) + "\n")
    [record] = import_companion(path)
    assert record["id"] == "import-7" and record["levels"] == levels
    assert record["description"]["trend"] == "Up."
    assert series_from_prompt(json.loads(path.read_text())["input"]) == levels


def rising_record(trend_sentence, extrema):
    levels = [min(99, i * 99 // 127) for i in range(128)]
    return {"id": "x", "levels": levels, "description": {
        "trend": trend_sentence, "noise": "The noise intensity is low.", "extrema": extrema}}


def test_factcheck_corrects_extrema_and_drops_or_corrects_trend():
    wrong_extrema = rising_record("The series shows an increasing trend.",
                                  "The global maximum is at the beginning and the global minimum is at the end.")
    checked, finding = check_record(wrong_extrema, FactcheckConfig())
    assert checked["corrected"] == ["extrema"] and finding["action"] == "corrected"
    assert "maximum is at the end" in checked["description"]["extrema"]
    wrong_trend = rising_record("The series shows a decreasing trend.",
                                "The global maximum is at the end and the global minimum is at the beginning.")
    dropped, finding = check_record(wrong_trend, FactcheckConfig(contradicted="drop"))
    assert dropped is None and finding["action"] == "dropped"
    corrected, _ = check_record(wrong_trend, FactcheckConfig(contradicted="correct"))
    assert corrected["description"]["trend"] == "The series shows an increasing trend."
    report = agreement_report([finding, check_record(wrong_extrema, FactcheckConfig())[1]])
    assert report["agreement"]["trend"] == 0.5 and report["extrema_corrected"] == 0.5


def test_dataset_split_is_by_content_and_examples_use_the_service_prompt():
    levels = [i % 100 for i in range(128)]
    assert dataset.split_of(levels, 0.1, 0.2) == dataset.split_of(list(levels), 0.1, 0.2)
    splits = [dataset.split_of([i, *levels[1:]], 0.1, 0.2) for i in range(100)]
    assert 40 < splits.count("train") < 90 and splits.count("test") > 5
    example = dataset.sft_example({"id": "a", "levels": levels, "description": {
        "trend": "Up.", "noise": "Low.", "extrema": "Max at end."}}, "compact")
    sent = encode(levels, length=128).levels  # the service marks one max and one min: the repeats move one level in
    assert example["messages"][0]["content"].endswith(" ".join(f"{v:02d}" for v in sent))
    assert example["target"] == '{"trend":"Up.","noise":"Low.","extrema":"Max at end."}'


def test_a_real_teacher_series_that_repeats_99_and_00_is_shown_as_the_service_shows_it():
    """The paper's encoding floors the max of each rise to 99 (60 of the 87 real-teacher training series repeat 99 or
    00); the service marks only the first true max and min, so training must show the same (was: the raw repeats)."""
    levels = [0, 5, 99, 40, 0, 60, 99, *range(10, 131)][:128]
    levels = [min(v, 99) for v in levels]
    record = {"id": "import-1", "levels": levels, "teacher": "import:pixtral", "description": {
        "trend": "Up.", "noise": "Low.", "extrema": "The maximum is at the beginning."}}
    example = dataset.sft_example(record, "marked")
    shown = example["messages"][0]["content"].split("Series: ")[1].split()
    assert shown.count("<L99>") == 1 and shown.index("<L99>") == 2
    assert shown.count("<L00>") == 1 and shown.index("<L00>") == 0
    assert example["levels"] == list(encode(levels, length=128).levels)  # what evaluate and /describe send


def test_a_shorter_trained_length_shows_the_series_as_the_service_sends_it_and_the_manifest_records_it(tmp_path):
    from core.series import encode
    from training.merge import student_manifest
    from training.rundir import RunDir

    levels = [50 + (40 if i == 70 else -45 if i == 20 else (i * 7) % 9) for i in range(128)]
    description = {"trend": "The series shows no clear trend.", "noise": "The noise intensity is low.",
                   "extrema": "The global maximum is in the middle and the global minimum is at the beginning."}
    record = {"id": "a", "levels": levels, "description": description, "teacher": "rules"}
    example = dataset.sft_example(record, "marked", length=64)
    sent = list(encode(levels, length=64).levels)  # what the service sends a 64-point student
    assert example["levels"] == sent and len(sent) == 64
    assert (sent.index(99), sent.index(0)) == (35, 10)  # the extremes where they lie, scaled (70/127, 20/127 of 63)
    shown = example["messages"][0]["content"].split("Series: ")[1].split()
    assert len(shown) == 64 and (shown.index("<L99>"), shown.index("<L00>"), shown[-1]) == (35, 10, f"{sent[-1]:02d}")
    assert example["target"] == dataset.sft_example(record, "marked")["target"]  # labels from the full resolution
    asked = dataset.one_field_questions([example], {"a": record}, 1.0, "marked", PAPER_FIELDS, seed=0)[0]
    assert asked["asked"] and asked["levels"] == sent
    run = RunDir(tmp_path / "run")
    run.record("dataset", {"length": 64, "fields": list(PAPER_FIELDS)})
    assert student_manifest(run)["trained_length"] == 64
    older = RunDir(tmp_path / "older")
    older.record("dataset", {"fields": list(PAPER_FIELDS)})
    assert student_manifest(older)["trained_length"] == 128


def test_one_field_questions_ask_a_share_of_the_rule_teachers_examples_about_one_field_in_turn():
    levels = [i % 100 for i in range(128)]
    description = {"trend": "The series shows an increasing trend.", "noise": "The noise intensity is low.",
                   "extrema": "The global maximum is at the end and the global minimum is at the beginning."}
    records = {f"r{i}": {"id": f"r{i}", "levels": [i % 100, i // 100, *levels[2:]], "description": description,
                         "teacher": "import:pixtral" if i < 20 else "rules"} for i in range(200)}
    examples = [dataset.sft_example(r, "levels") for r in records.values()]
    asked = dataset.one_field_questions(examples, records, 0.4, "levels", PAPER_FIELDS, seed=0)
    assert [e["id"] for e in asked] == [e["id"] for e in examples]  # the same series, as many examples
    single = [e for e in asked if "asked" in e]
    assert 50 < len(single) < 95 and all(e["teacher"] == "rules" for e in single)
    assert [e["asked"] for e in single[:3]] == [["trend"], ["noise"], ["extrema"]]
    extrema_only = next(e for e in single if e["asked"] == ["extrema"])
    assert extrema_only["messages"][0]["content"].startswith("Describe global max/min position as JSON.\n")
    assert json.loads(extrema_only["target"]) == {"extrema": description["extrema"]}
    assert dataset.one_field_questions(examples, records, 0.0, "levels", PAPER_FIELDS, seed=0) == examples
    assert dataset.one_field_questions(examples, records, 0.4, "paper", PAPER_FIELDS, seed=0) == examples


def test_gather_with_progress_keeps_input_order_and_counts_every_finish(capsys):
    import asyncio

    from training.progress import gather_with_progress

    async def value(v, delay):
        await asyncio.sleep(delay)
        return v

    got = asyncio.run(gather_with_progress([value(1, 0.03), value(2, 0.0), value(3, 0.01)], "demo"))
    assert got == [1, 2, 3]
    err = capsys.readouterr().err
    assert "demo" in err and "3/3" in err


def test_finetune_settings_come_from_the_preset_and_the_command_line():
    import pytest

    from training.finetune import adapted_layers, load_config

    config = load_config("training/configs/smollm2-135m.yaml", ["first_layer=12", "lr=1e-4"])
    assert config.first_layer == 12 and config.lr == 1e-4 and config.rank == 16
    assert adapted_layers(12, 30) == list(range(12, 30)) and adapted_layers(0, 30) is None
    with pytest.raises(SystemExit, match="between 0 and 29"):
        adapted_layers(30, 30)
    with pytest.raises(SystemExit, match="unknown setting 'layers'"):
        load_config(None, ["layers=3"])


def test_evaluate_without_the_base_needs_a_student(tmp_path, capsys):
    from training import evaluate

    try:
        evaluate.main(["--run", str(tmp_path), "--no-base"])
    except SystemExit as stop:
        assert stop.code == 2
    else:
        raise AssertionError("--no-base with nothing to evaluate must refuse")
    assert "--no-base leaves nothing to evaluate" in capsys.readouterr().err


def test_rule_annotations_carry_the_full_resolution_labels(tmp_path):
    from training import annotate, factcheck
    from training.rundir import RunDir

    t = np.linspace(0, 1, 1000)
    run = RunDir(tmp_path)
    run.write_jsonl("series.jsonl", [{"id": "ramp", "family": "linear",
                                       "values": (10 * t + np.random.default_rng(0).normal(0, 0.15, t.size)).tolist()}])
    [record] = annotate.annotate_rules(run, seed=0)
    assert record["features"]["noise"] == "low"  # computed on the 1,000 points, not on the 128 levels
    assert facts.read_noise(record["description"]["noise"]) == "low"
    checked, finding = factcheck.check_record(record, factcheck.FactcheckConfig())
    assert finding["agrees"]["noise"] and checked["corrected"] == []


def test_the_evaluation_says_what_a_wrong_real_world_answer_stated_instead():
    def outcome(i, stated, computed):
        return evaluate.Outcome(f"real-{i}", "prices", True, {"trend": stated}, {"trend": computed})

    real = [outcome(0, "flat", "decreasing"), outcome(1, "flat", "decreasing"), outcome(2, "increasing", "decreasing"),
            outcome(3, "increasing", "increasing")]
    summary = evaluate.summarize([], {"real_world": real}, teacher_only=False)
    assert summary["confusion_real_world"]["trend"] == {"decreasing": {"flat": 2, "increasing": 1},
                                                        "increasing": {"increasing": 1}}
    assert summary["real_world_answers"][0] == {"id": "real-0", "kind": "prices", "stated": {"trend": "flat"},
                                                "computed": {"trend": "decreasing"}}
    assert evaluate.misread_lines(summary["confusion_real_world"]) == \
        "- trend: decreasing → flat: 2, decreasing → increasing: 1"


def test_the_probe_feeds_the_answer_up_to_the_place_of_the_extreme_it_asks_about():
    from training.probe import decision_prefix

    target = json.dumps({"trend": "The series shows an increasing trend.", "noise": "The noise intensity is low.",
                         "extrema": "The global minimum is located near the middle, while the global maximum is "
                                    "at the end."}, separators=(",", ":"))
    assert decision_prefix(target, "min").endswith('"extrema":"The global minimum is located')
    assert decision_prefix(target, "max").endswith("near the middle, while the global maximum is")
    no_place = target.replace("near the middle", "somewhere")
    assert decision_prefix(no_place, "min") is None


def test_the_probe_can_ask_each_extreme_first_or_second_after_the_others_true_place():
    from training.probe import ordered_prefix

    target = json.dumps({"trend": "The series shows an increasing trend.",
                         "extrema": "The global maximum is at the end and the global minimum is at the middle."},
                        separators=(",", ":"))
    features = {"max": "end", "min": "middle"}
    head = '{"trend":"The series shows an increasing trend.","extrema":"'
    assert ordered_prefix(target, features, "min", first=True) == head + "The global minimum is located"
    assert ordered_prefix(target, features, "min", first=False) == \
        head + "The global maximum is located at the end, and the global minimum is located"
    assert ordered_prefix(target, features, "max", first=False) == \
        head + "The global minimum is located at the middle, and the global maximum is located"


def test_make_trains_defaults_are_the_shipped_students_recipe():
    """`make train` with no arguments retrains the student `make serve` serves: same prompt, length and finetune config."""
    import re
    from dataclasses import asdict
    from pathlib import Path

    from training.finetune import load_config

    root = Path(__file__).resolve().parents[2]
    defaults = dict(re.findall(r"^([A-Z_]+) \?= ?(.*)$", (root / "Makefile").read_text(), re.M))
    shipped = json.loads((root / "models" / "adapters" / "smollm2-135m" / "tsdescribe.json").read_text())
    assert defaults["PROMPT_STYLE"] == shipped["prompt_style"]
    assert int(defaults["LENGTH"]) == shipped["trained_length"]
    recipe = shipped["recipe"]
    assert (defaults["DRAW"], defaults["STRATA"].split(), int(defaults["TRAIN_SIZE"]), defaults["READING"],
            float(defaults["READING_SHARE"])) == (recipe["draw"], recipe["strata"], recipe["train_size"],
                                                   recipe["reading"], recipe["reading_share"])
    # Manifests from before the draw's seed and OU share were recorded: seed 0, one draw over all families.
    assert (int(defaults["DRAW_SEED"]), float(defaults["OU_SHARE"]) if defaults["OU_SHARE"] else None) == \
        (recipe.get("seed") or 0, recipe.get("ou_share"))
    assert defaults["VIEW_AGREES"].split() == (recipe.get("view_agrees") or [])
    world_families = defaults["WORLD_FAMILIES"].split() or list(generate.WORLD_FAMILIES)
    assert (int(defaults["WORLD_SERIES"]), world_families) == (recipe["world_count"], recipe["world_families"])
    config = asdict(load_config(str(root / defaults["FINETUNE_CONFIG"]), [f"prompt_style={defaults['PROMPT_STYLE']}"]))
    machine = {"dtype", "threads"}  # the trainer's machine, not the recipe: a float32 run on a CPU slow in bf16
    assert {k: v for k, v in config.items() if k not in machine} == \
        {k: shipped["config"][k] for k in config if k not in machine}


def test_the_view_filter_keeps_a_flat_label_only_where_the_prompts_levels_look_flat():
    rng = np.random.default_rng(0)
    noisy = (50 + 30 * rng.standard_normal(64)).clip(0, 99)
    noisy[:10] -= 15  # edges 15+ levels apart on the view, while the full series (not shown) was labelled flat
    clean = np.full(64, 50.0) + rng.standard_normal(64)
    clean[0], clean[1] = 0, 99
    example = {"levels": [round(x) for x in noisy], "features": {"trend": "flat", "noise": "high"}}
    readable = {"levels": [round(x) for x in clean], "features": {"trend": "flat", "noise": "low"}}
    assert dataset.view_labels(example["levels"], ("trend",)) != {"trend": "flat"}
    assert not dataset.view_agrees(example, ("trend",))
    assert dataset.view_agrees(readable, ("trend",))
    assert dataset.view_agrees(example, ())  # no names: every example is kept


def test_the_evaluation_scores_the_rules_on_each_prompts_own_levels_and_how_often_a_model_states_them():
    rising = list(range(0, 64))
    flat_view = [50] * 30 + [0, 99] + [50] * 32
    real = [evaluate.Outcome("real-0", "prices", True, {"trend": "increasing"}, {"trend": "increasing"}, levels=rising),
            evaluate.Outcome("real-1", "climate", True, {"trend": "increasing"}, {"trend": "increasing"}, levels=flat_view),
            evaluate.Outcome("real-2", "climate", False, {}, {"trend": "flat"}, levels=None)]
    summary = evaluate.summarize([], {"real_world": real}, teacher_only=False)
    assert summary["view_rule_per_class_real_world"]["trend"] == {"increasing": "1/2"}  # the second view shows no rise
    assert summary["follows_view_real_world"] == {"trend": 0.5}  # it said "increasing" where its view was flat
    assert "rules on the view: trend increasing 1/2" in evaluate.view_lines({"student": summary})


def test_a_record_with_its_raw_series_is_shown_as_the_service_shows_that_series():
    x = np.random.default_rng(3).normal(size=900)
    record = {"id": "w", "family": "white_noise", "levels": list(encode(x.tolist(), length=128).levels),
              "features": facts.compute_features(x).record(), "teacher": "rules",
              "description": {"trend": "The series shows no clear trend.", "noise": "The noise intensity is high.",
                              "extrema": "The maximum is in the middle and the minimum at the beginning."}}
    shown = dataset.sft_example({**record, "values": x.tolist()}, "marked", length=64)["levels"]
    assert shown == list(encode(x.tolist(), length=64).levels)  # the service's view of the raw series
    assert dataset.sft_example(record, "marked", length=64)["levels"] == list(encode(record["levels"], length=64, min_length=2).levels)
