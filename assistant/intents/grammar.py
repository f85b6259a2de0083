"""Sentence templates -> an automaton over Whisper tokens, so the teacher can only say what the intents parse.

Two stages, both pure logic:

1. :class:`WordGraph`: hassil's parsed templates (sequences, alternatives, optional parts, permutations,
   expansion rules, slot lists, number ranges) become a graph whose arcs carry word fragments, a word break
   or nothing. Fragments exist because templates break words (``minute[s]``); :meth:`WordGraph.words_from`
   joins them into whole words between breaks.
2. :class:`TokenAutomaton`: the words out of a set of graph states, each as the token sequence Whisper
   writes for it (``" large"``; the first word also capitalised), merged into a prefix trie; tries are
   built lazily per set of states (a subset construction), so a grammar of millions of sentences costs only
   the states a decode visits. Punctuation may follow any word, once.

Wildcard slots (free text) cannot be constrained: templates that use them are left out here and stay with
free transcription + hassil matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import permutations
from typing import Callable, Iterable, Sequence

BREAK = " "
"""Arc label of a word break; ``""`` is an empty arc; anything else is a word fragment."""
_DROP = re.compile(r"[.,?!;:¿¡\"]")
PUNCTUATION = (",", ".", "?", "!")
"""What Whisper writes between and after words; the automaton lets one follow any word."""


class Unsupported(ValueError):
    """A template the automaton cannot express (a wildcard slot, a missing list or rule)."""


@dataclass
class WordGraph:
    """Graph over word fragments: ``arcs[state] = [(label, next_state)]``; state 0 starts, ``final`` ends."""

    arcs: list[list[tuple[str, int]]] = field(default_factory=lambda: [[], []])
    start: int = 0
    final: int = 1
    skipped: list[str] = field(default_factory=list)
    """Templates left out, with the reason (``intent: template (why)``)."""
    _words: dict[int, tuple[tuple[tuple[str, int], ...], bool]] = field(default_factory=dict, repr=False)

    def new(self) -> int:
        """A fresh state."""
        self.arcs.append([])
        return len(self.arcs) - 1

    def arc(self, src: int, label: str, dst: int) -> None:
        self.arcs[src].append((label, dst))

    def text(self, src: int, text: str) -> int:
        """Arcs spelling ``text`` from ``src`` (spaces become breaks); returns the end state."""
        text = _DROP.sub("", text)
        for piece in re.split(r"(\s+)", text):
            if not piece:
                continue
            dst = self.new()
            self.arc(src, BREAK if piece.isspace() else piece, dst)
            src = dst
        return src

    def words_from(self, state: int) -> tuple[tuple[tuple[str, int], ...], bool]:
        """The whole words that can start at ``state`` (a word boundary), each with the boundary after it,
        and whether the sentence may end here. Memoised: boundaries are revisited by every hypothesis."""
        if state in self._words:
            return self._words[state]
        out: dict[tuple[str, int], None] = {}
        can_end = False
        stack, seen = [(state, "")], set()
        while stack:
            s, word = stack.pop()
            if (s, word) in seen:
                continue
            seen.add((s, word))
            if s == self.final:
                if word:
                    out[(word, self.final)] = None
                else:
                    can_end = True
            for label, dst in self.arcs[s]:
                if label == BREAK:
                    if word:
                        out[(word, dst)] = None
                    else:  # a break after an empty optional part: not a word
                        stack.append((dst, ""))
                else:
                    stack.append((dst, word + label))
        self._words[state] = result = (tuple(out), can_end)
        return result


class _Compiler:
    """hassil expressions -> :class:`WordGraph` arcs."""

    def __init__(self, graph: WordGraph, lists: dict, rules: dict, language: str) -> None:
        self.g, self.lists, self.rules, self.language = graph, lists, rules, language
        self.used: set[str] = set()
        """Names of the lists the sentence being compiled refers to."""

    def add(self, expr, src: int, depth: int = 0) -> int:
        from hassil.expression import (Alternative, ListReference, Permutation, RuleReference, Sequence as Seq,
                                       TextChunk)

        if depth > 50:
            raise Unsupported("expansion rules nest too deep (a cycle?)")
        if isinstance(expr, TextChunk):
            return self.g.text(src, expr.original_text or "")
        if isinstance(expr, Permutation):
            end = self.g.new()
            for order in permutations(expr.items):
                s = src
                for item in order:  # hassil puts a space between permuted items
                    s = self.g.text(self.add(item, s, depth + 1), " ")
                self.g.arc(s, "", end)
            return end
        if isinstance(expr, Alternative):
            end = self.g.new()
            for item in expr.items:
                self.g.arc(self.add(item, src, depth + 1), "", end)
            return end
        if isinstance(expr, Seq):
            for item in expr.items:
                src = self.add(item, src, depth + 1)
            return src
        if isinstance(expr, RuleReference):
            if expr.rule_name not in self.rules:
                raise Unsupported(f"no expansion rule <{expr.rule_name}>")
            return self.add(self.rules[expr.rule_name].expression, src, depth + 1)
        if isinstance(expr, ListReference):
            return self.slot(expr, src, depth)
        raise Unsupported(f"unknown template part {type(expr).__name__}")

    def slot(self, ref, src: int, depth: int) -> int:
        from hassil.intents import RangeSlotList, TextSlotList

        if ref.is_inline_range:
            start, stop, step = ref.get_inline_range()
            return self.numbers(range(start, stop + 1, step), src)
        slot_list = self.lists.get(ref.list_name)
        self.used.add(ref.list_name)
        if slot_list is None:
            raise Unsupported(f"no list {{{ref.list_name}}}")
        end = self.g.new()
        if isinstance(slot_list, TextSlotList):
            if not slot_list.values:
                raise Unsupported(f"list {{{ref.list_name}}} is empty")
            for value in slot_list.values:
                self.g.arc(self.add(value.text_in, src, depth + 1), "", end)
        elif isinstance(slot_list, RangeSlotList):
            nums = slot_list.get_numbers() if hasattr(slot_list, "get_numbers") else \
                range(slot_list.start, slot_list.stop + 1, slot_list.step)
            self.g.arc(self.numbers(nums, src, digits=slot_list.digits, words=slot_list.words), "", end)
        else:
            raise Unsupported(f"{{{ref.list_name}}} is a wildcard (free text)")
        return end

    def numbers(self, nums: Iterable[int], src: int, digits: bool = True, words: bool = True) -> int:
        """Each number as digits and as words ("25", "twenty five"), as hassil accepts both."""
        end = self.g.new()
        for n in nums:
            forms = {str(n)} if digits else set()
            if words:
                forms |= number_words(int(n), self.language)
            for form in forms:
                self.g.arc(self.g.text(src, form), "", end)
        return end


_RBNF: dict[str, object] = {}


@lru_cache(maxsize=None)
def number_words(n: int, language: str) -> frozenset[str]:
    """Spoken forms of ``n`` ("twenty-five" and "twenty five"), by hassil's number engine (memoised:
    Home Assistant's library refers to 0-100 in hundreds of templates)."""
    from hassil.numbers import get_rbnf_engine

    if language not in _RBNF:
        _RBNF[language] = get_rbnf_engine(language)
    try:
        texts = set(_RBNF[language].format_number(n).text_by_ruleset.values())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an engine without this number: digits only
        return frozenset()
    return frozenset(t for text in texts for t in (text, text.replace("-", " ")))


def compile_intents(intents_list: Sequence, extra_lists: dict | None = None,
                    contexts: Sequence[dict] | None = None) -> WordGraph:
    """One :class:`WordGraph` for several hassil ``Intents`` (any sentence of any of them, each optionally
    led or followed by one of its skip words: "could you ... please").

    ``contexts[i]`` is the intent context of ``intents_list[i]`` (where the assistant stands). A template that
    requires context is kept where that context, or the slot values it can match, supply it, as hassil's
    matcher decides: list values are narrowed to those whose context fits, and a template whose needed key
    no slot of it can supply is left out. Templates it cannot express are listed in ``skipped``."""
    g = WordGraph()
    for i, intents in enumerate(intents_list):
        context = dict(contexts[i]) if contexts else {}
        skip = [w for w in getattr(intents, "skip_words", None) or [] if w.strip()]
        for name, intent in intents.intents.items():
            for data in intent.data:
                need, unfit = _context_gap(data, context)
                if unfit:
                    g.skipped.extend(f"{name}: {t} ({unfit})" for t in data.sentence_texts)
                    continue
                lists = {**intents.slot_lists, **(extra_lists or {}), **data.slot_lists}
                lists, provides = _narrowed(lists, data.requires_context, data.excludes_context, need)
                rules = {**intents.expansion_rules, **data.expansion_rules}
                comp = _Compiler(g, lists, rules, intents.language)
                for text, sentence in zip(data.sentence_texts, data.sentences):
                    mark = len(g.arcs)
                    entry = g.new()
                    comp.used = set()
                    try:
                        end = comp.add(sentence.expression, entry)
                        if need - set().union(*(provides.get(n, set()) for n in comp.used)):
                            raise Unsupported(f"needs a context: {', '.join(sorted(need))}")
                    except Unsupported as e:
                        del g.arcs[mark:]  # drop the half-built path
                        g.skipped.append(f"{name}: {text} ({e})")
                        continue
                    begin, finish = g.new(), g.new()
                    g.arc(g.start, "", begin)
                    for w in skip:  # "could you" before, "please" after
                        g.arc(g.text(begin, w + " "), "", entry)
                        g.arc(g.text(g.text(end, " "), w), "", finish)
                    g.arc(begin, "", entry)
                    g.arc(end, "", finish)
                    g.arc(finish, "", g.final)
    return g


def _context_gap(data, context: dict) -> tuple[set[str], str]:
    """(keys the template needs that ``context`` lacks, why it can never match here or "")."""
    from hassil.util import check_excluded_context, check_required_context

    if data.excludes_context and not check_excluded_context(data.excludes_context, context):
        return set(), "excluded in this context"
    if data.requires_context and not check_required_context(data.requires_context, context,
                                                            allow_missing_keys=True):
        return set(), "needs another context"
    return {k for k in (data.requires_context or {}) if k not in context}, ""


def _narrowed(lists: dict, requires: dict, excludes: dict, need: set[str]) -> tuple[dict, dict[str, set[str]]]:
    """Text lists cut to the values a template's context allows, as hassil's matcher filters them; and
    which needed keys each list can supply (those lists keep only values that carry them)."""
    from dataclasses import replace

    from hassil.intents import TextSlotList
    from hassil.util import check_excluded_context, check_required_context

    if not (requires or excludes):
        return lists, {}
    out, provides = {}, {}
    for list_name, sl in lists.items():
        if not isinstance(sl, TextSlotList):
            out[list_name] = sl
            continue
        values = [v for v in sl.values
                  if (not requires or check_required_context(requires, v.context, allow_missing_keys=True))
                  and (not excludes or check_excluded_context(excludes, v.context))]
        keys = {k for k in need if any(v.context and k in v.context for v in values)}
        if keys:
            values = [v for v in values if v.context and keys <= set(v.context)]
            provides[list_name] = keys
        out[list_name] = replace(sl, values=values)
    return out, provides


def capitalised(word: str) -> str:
    return word[:1].upper() + word[1:]


@dataclass
class _Node:
    children: dict[int, int] = field(default_factory=dict)
    ends: set[int] = field(default_factory=set)
    """Boundaries reached when the word spelled so far ends here."""


class TokenAutomaton:
    """Which Whisper tokens may come next, over a :class:`WordGraph`; states are small frozensets of
    trie nodes, so it works as a DFA without ever building one whole."""

    def __init__(self, graph: WordGraph, encode: Callable[[str], list[int]], punctuation: dict[int, str]) -> None:
        """``encode`` turns text into token ids (no special tokens); ``punctuation`` maps the ids of
        :data:`PUNCTUATION` to their text."""
        self.graph, self.encode, self.punct = graph, encode, punctuation
        self.nodes: list[_Node] = []
        self._roots: dict[tuple[frozenset[int], bool], int] = {}
        self._can_end: dict[int, bool] = {}
        self._tokens: dict[str, tuple[int, ...]] = {}
        self._next: dict[frozenset[int], dict[int, frozenset[int]]] = {}
        self.start = frozenset({self._root(frozenset({graph.start}), first=True)})

    def _spell(self, word: str) -> tuple[int, ...]:
        if word not in self._tokens:
            self._tokens[word] = tuple(self.encode(" " + word))
        return self._tokens[word]

    def _root(self, boundaries: frozenset[int], first: bool = False) -> int:
        """The trie of every word that can follow ``boundaries`` (made once per set)."""
        key = (boundaries, first)
        if key in self._roots:
            return self._roots[key]
        root = len(self.nodes)
        self.nodes.append(_Node())
        can_end = False
        for b in boundaries:
            words, end = self.graph.words_from(b)
            can_end |= end
            for word, dst in words:
                for form in {word, capitalised(word)} if first else {word}:
                    n = root
                    for tok in self._spell(form):
                        node = self.nodes[n]
                        if tok not in node.children:
                            node.children[tok] = len(self.nodes)
                            self.nodes.append(_Node())
                        n = node.children[tok]
                    self.nodes[n].ends.add(dst)
        self._can_end[root] = can_end
        self._roots[key] = root
        return root

    def _after_word(self, state: frozenset[int]) -> frozenset[int]:
        """Roots reachable by ending the current word now (or already at a boundary)."""
        out = {n for n in state if n in self._can_end}
        for n in state:
            if self.nodes[n].ends:
                out.add(self._root(frozenset(self.nodes[n].ends)))
        return frozenset(out)

    def next_states(self, state: frozenset[int], after_punct: bool = False) -> dict[int, frozenset[int]]:
        """Allowed next tokens -> the state each leads to (punctuation included unless just written)."""
        key = state if not after_punct else state | {-1}
        if key in self._next:
            return self._next[key]
        out: dict[int, set[int]] = {}
        bounds = self._after_word(state)
        for n in set(state) | set(bounds):
            for tok, child in self.nodes[n].children.items():
                out.setdefault(tok, set()).add(child)
        result = {t: frozenset(s) for t, s in out.items()}
        if not after_punct and bounds and state != self.start:
            for tok in self.punct:
                result.setdefault(tok, bounds)
        self._next[key] = result
        return result

    def can_end(self, state: frozenset[int]) -> bool:
        """Whether the sentence may end after ``state`` (end of text allowed)."""
        return any(self._can_end.get(n, False) for n in self._after_word(state))


class Grammar:
    """The active intent sets as one grammar: sentences any of them can parse, and parsing back."""

    def __init__(self, intent_sets: Sequence) -> None:
        """``intent_sets``: :class:`assistant.intents.IntentSet` objects (their hassil templates)."""
        self.sets = list(intent_sets)
        self.graph = compile_intents([s.hassil for s in self.sets],
                                     contexts=[getattr(s, "context", None) or {} for s in self.sets])
        self._automata: dict[int, TokenAutomaton] = {}

    @property
    def empty(self) -> bool:
        """True when no template could be compiled (every one uses wildcards or needs a context)."""
        return not self.graph.arcs[self.graph.start]

    def automaton(self, encode: Callable[[str], list[int]], punctuation: dict[int, str]) -> TokenAutomaton:
        """The token automaton for one tokenizer (built once; its tries grow as decodes visit them)."""
        key = id(getattr(encode, "__self__", encode))
        if key not in self._automata:
            self._automata[key] = TokenAutomaton(self.graph, encode, punctuation)
        return self._automata[key]

    def parse(self, sentence: str):
        """The :class:`~assistant.intents.IntentMatch` of a decoded sentence (first set that parses it)."""
        for s in self.sets:
            if (m := s.parse(sentence)) is not None:
                return m
        return None
