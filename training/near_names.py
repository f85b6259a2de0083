"""Other names that sound like a new phrase: the negatives add-intent learns from and its bench measures.

A word learnt from a few dozen clips of itself fires on whatever sounds like it ("martin", "marvel" for
"marvin"). Near-names are found from phonemes (espeak-ng, the synthesiser's own phonemiser, American
English): every word of the teacher's tokenizer vocabulary and spelling variants of the phrase, at a
phoneme edit distance of 1-2 from it (0 would be a homophone, not another name), the closest and most
common first; and other assistants' wake words. A hash of its spelling puts each near-name in a training
or an evaluation share, so the bench measures names add-intent never trained on.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from functools import lru_cache
from pathlib import Path

WAKE_WORDS = ("alexa", "siri", "jarvis", "computer", "cortana", "bixby", "google", "mycroft", "nabu", "jasper",
              "friday", "echo", "ziggy", "rhasspy", "porcupine", "picovoice", "terminator", "bumblebee")
"""Names people give other assistants: always among the negatives, whatever the phrase sounds like."""
INVENTED = 0.5
"""Ranking penalty of an invented spelling against a real word at the same phoneme distance."""
EVAL_SHARE = 3
"""One near-name in this many (by hash of its spelling) is kept for evaluation and never trained on."""
_MERGE = ("aɪ", "aʊ", "eɪ", "oʊ", "ɔɪ", "əʊ", "eə", "ɪə", "ʊə", "tʃ", "dʒ", "ɜː", "ɑː", "iː", "uː", "ɔː")
_VOWELS = set("aeiouæɐɑɒɔəɛɜɪʊʌɚɝy")
_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "sh", "ch",
           "th", "br", "cr", "dr", "gr", "pr", "tr", "bl", "cl", "fl", "gl", "sl", "st", "sp", "sn")
_VOWEL_SPELLINGS = ("a", "e", "i", "o", "u", "ee", "oo", "ay", "ou", "oi", "ie", "ea")


def phonemes(ipa: str) -> tuple[str, ...]:
    """IPA text as phoneme symbols, stress dropped and diphthongs/affricates/long vowels kept whole."""
    s = re.sub(r"[ˈˌ\s\-_.,]", "", ipa)
    out: list[str] = []
    i = 0
    while i < len(s):
        two = s[i:i + 2]
        if two in _MERGE:
            out.append(two)
            i += 2
        elif s[i] == "ː" and out:
            out[-1] += "ː"
            i += 1
        else:
            out.append(s[i])
            i += 1
    return tuple(out)


def distance(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Phoneme edit distance; a vowel for a vowel or a consonant for a consonant costs 1, across 1.5."""
    prev = [float(j) for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        cur = [float(i)] + [0.0] * len(b)
        for j, y in enumerate(b, 1):
            sub = 0.0 if x == y else (1.0 if (x[0] in _VOWELS) == (y[0] in _VOWELS) else 1.5)
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub)
        prev = cur
    return prev[-1]


def to_ipa(texts: list[str]) -> list[str]:
    """espeak-ng's American-English IPA for each text (one process for all of them)."""
    from assistant.errors import AssistantError

    lines = [re.sub(r"[^a-z' ]", " ", t.lower()).strip() or "a" for t in texts]
    try:
        res = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-us"], input=".\n".join(lines) + ".\n",
                             capture_output=True, text=True, timeout=600, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise AssistantError(f"espeak-ng cannot phonemise the near-names ({e}); ./setup.sh installs it, "
                             "or pass --near-names 0") from None
    out = res.stdout.splitlines()
    if len(out) != len(lines):  # espeak-ng joined or split a line: fall back to one call each
        out = [subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-us", t], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip() for t in lines]
    return [o.strip() for o in out]


@lru_cache(maxsize=1)
def vocabulary() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Words of the teacher's tokenizer (3-12 letters, most common first) with their phonemes; phonemised
    once and kept in the cache folder (about 10 s for ~24 k words)."""
    from assistant.teacher.weights import cache_root, resolve, tokenizer_path

    vocab = json.loads(tokenizer_path(resolve("tiny.en")).read_text())["model"]["vocab"]
    ranked = sorted(((i, t[1:].lower()) for t, i in vocab.items()
                     if t.startswith("Ġ") and re.fullmatch(r"[A-Za-z]{3,12}", t[1:])))
    words = list(dict.fromkeys(w for _, w in ranked))
    key = hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]
    path = Path(cache_root()) / "near-names" / f"vocab-{key}.json"
    if path.is_file():
        ipa = json.loads(path.read_text())
    else:
        ipa = to_ipa(words)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ipa))
    return tuple((w, phonemes(p)) for w, p in zip(words, ipa))


def variants(word: str) -> list[str]:
    """Spelling variants of one word: another onset, another first or last vowel, another ending, one
    syllable less or more (marvin: barvin, mervin, marvan, marvit, marv, marvino, …)."""
    parts = re.findall(r"[aeiouy]+|[^aeiouy]+", word)
    vowel_at = [i for i, p in enumerate(parts) if p[0] in "aeiouy"]
    out: set[str] = set()
    start = 1 if parts and parts[0][0] not in "aeiouy" else 0
    for o in _ONSETS:
        out.add(o + "".join(parts[start:]))
    for i in vowel_at[:1] + vowel_at[-1:]:
        for v in _VOWEL_SPELLINGS:
            out.add("".join(parts[:i] + [v] + parts[i + 1:]))
    if parts and parts[-1][0] not in "aeiouy":
        for c in ("n", "l", "t", "s", "d", "k", "m", "ck", "rd"):
            out.add("".join(parts[:-1]) + c)
    if len(vowel_at) > 1:
        out.add("".join(parts[:vowel_at[-1]]))
    out.update(word + e for e in ("o", "a", "y", "er"))
    out.discard(word)
    return sorted(w for w in out if len(w) >= 2)


def near_words(word: str, most: int) -> list[str]:
    """Up to ``most`` words and spelling variants 1-2 phonemes from ``word``, closest (real words
    ahead of invented spellings by :data:`INVENTED`, then commonest) first."""
    target = phonemes(to_ipa([word])[0])
    limit = 1.0 if len(target) <= 3 else 2.0
    seen = {word}
    scored: list[tuple[float, int, str]] = []
    vocab = vocabulary()
    pool = list(vocab) + list(zip(vs := variants(word), map(phonemes, to_ipa(vs))))
    for rank, (w, ph) in enumerate(pool):
        if w in seen or abs(len(ph) - len(target)) > limit:
            continue
        d = distance(target, ph)
        if 0 < d <= limit:
            seen.add(w)  # a real word before an invented spelling half a phoneme closer
            scored.append((d + (INVENTED if rank >= len(vocab) else 0.0), rank, w))
    return [w for _, _, w in sorted(scored)[:most]]


def near_names(phrase: str, most: int = 36) -> list[str]:
    """Other names for ``phrase``: near words of it (for a phrase of several words, the phrase with one
    word swapped for a near word of it) and the wake words, the phrase's own words left out."""
    words = re.sub(r"[^a-z' ]", " ", phrase.lower()).split()
    if not words:
        return list(WAKE_WORDS)
    if len(words) == 1:
        near = near_words(words[0], most)
    else:
        per = max(2, most // len(words))
        near = [" ".join(words[:i] + [n] + words[i + 1:]) for i, w in enumerate(words) if len(w) > 2
                for n in near_words(w, per)][:most]
    return list(dict.fromkeys(near + [w for w in WAKE_WORDS if w not in words and w != " ".join(words)]))


def for_evaluation(name: str) -> bool:
    """Whether a near-name belongs to the evaluation share (never trained on)."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:6], 16) % EVAL_SHARE == 0


def split(names: list[str]) -> tuple[list[str], list[str]]:
    """(training, evaluation) shares of ``names``."""
    return [n for n in names if not for_evaluation(n)], [n for n in names if for_evaluation(n)]
