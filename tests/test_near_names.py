"""Near-names: the other words and names an added phrase is taught to leave alone (training.near_names)."""

from __future__ import annotations

from training.near_names import WAKE_WORDS, distance, near_names, phonemes, split, to_ipa, variants


def test_phonemes_keep_diphthongs_and_long_vowels_whole() -> None:
    assert phonemes("hˈaʊs") == ("h", "aʊ", "s")
    assert phonemes("mˈɑːɹvɪn") == ("m", "ɑː", "ɹ", "v", "ɪ", "n")
    assert phonemes("dʒˈɑːɹvɪs")[0] == "dʒ"


def test_distance_counts_edits_and_charges_more_across_vowel_and_consonant() -> None:
    a = phonemes("mˈɑːɹvɪn")
    assert distance(a, a) == 0
    assert distance(a, phonemes("mˈɑːɹtɪn")) == 1  # martin: one consonant for another
    assert distance(a, phonemes("mˈɑːɹvɪ")) == 1  # one phoneme less
    assert distance(("b", "ɜː", "d"), ("b", "ɜː", "ɜː")) == 1.5  # a vowel for a consonant
    assert distance(a, ()) == len(a)


def test_variants_change_one_part_of_the_spelling() -> None:
    v = variants("marvin")
    assert {"barvin", "mervin", "marvan", "marvit", "marv", "marvino"} <= set(v)
    assert "marvin" not in v


def test_near_names_are_close_other_words_and_wake_words() -> None:
    names = near_names("marvin")
    assert "marvin" not in names and "martin" in names
    assert set(WAKE_WORDS) <= set(names)
    target = phonemes(to_ipa(["marvin"])[0])
    close = [n for n in names if n not in WAKE_WORDS]
    assert all(0 < distance(target, phonemes(p)) <= 2 for p in to_ipa(close))


def test_a_phrase_of_several_words_gets_one_word_swapped() -> None:
    names = near_names("kitchen lights")
    swapped = [n for n in names if " " in n]
    assert swapped and all(n != "kitchen lights" for n in swapped)
    assert all(n.split()[0] == "kitchen" or n.split()[1] == "lights" for n in swapped)
    assert "jarvis" not in near_names("jarvis")


def test_the_evaluation_share_is_disjoint_and_stable() -> None:
    names = near_names("sheila")
    train, held = split(names)
    assert train and held and not set(train) & set(held) and sorted(train + held) == sorted(names)
    assert split(names) == (train, held)
    assert 0.2 < len(held) / len(names) < 0.5
