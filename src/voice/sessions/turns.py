"""`read_turn`: one utterance of a session, read against its cart, to actions (pure).

The utterance is lexed like an order (catalog phrases, numbers, punctuation) but with
every other word kept, then cut into clauses at punctuation and conjunctions. Each
clause is read by what it does, not by a template: undo and clear phrases; "instead";
a change verb with the line it names and what it becomes; modifiers aimed at a line
by a preposition ("oat milk in the latte"); removal verbs and negations; "more" and
"less"; and otherwise an addition, which the order parser reads (consecutive adding
clauses together, so that "a latte, and two scones" is one order). Lines a clause
refers to are resolved against the cart: by item, else by the words of the name
("the muffin" for a blueberry muffin), the most recently touched first; "it" and
"that" are the line most recently added or changed.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import Indel

from src.voice.catalog.index import ITEM, MODIFIER, CatalogIndex, Entry
from src.voice.catalog.text import canon as _key
from src.voice.orders.parser import (
    FILLERS,
    NUM,
    PHRASE,
    SEP,
    WORD,
    Atom,
    lex_words,
    parse_order,
)
from src.voice.orders.recount import recount_challenge
from src.voice.sessions.cart import (
    ADD,
    CLEAR,
    REMOVE,
    REPLACE,
    SET_MODIFIERS,
    SET_QUANTITY,
    Action,
    Cart,
    CartLine,
    apply_action,
    remember,
    undo_last,
)
from src.voice.sessions.vocabulary import (
    ADDING_WORDS,
    CHANGE_WORDS,
    CLEAR_PHRASES,
    CONJUNCTIONS,
    CORRECTION_OPENERS,
    CORRECTIONS,
    DETERMINERS,
    DONE_ALONE,
    DONE_PHRASES,
    HEARD_NUMBERS,
    LESS,
    MORE,
    MULTIPLIERS,
    NEGATIONS,
    ONLY,
    PREPOSITIONS,
    PRONOUNS,
    REMOVE_PHRASES,
    REMOVE_WORDS,
    RESERVED_WORDS,
    TAKE_AWAY,
    UNDO_PHRASES,
    WHOLE,
    Phrase,
)
from src.voice.speech.engine import Challenge

_NEUTRAL = "neutral"  # a clause without a command word: part of an order or an edit
# Below this, a line or a turn asks for a person to look (see docs/SESSIONS.md).
REVIEW_CONFIDENCE = 0.85
# How alike a word must be to a word of a cart line's name to refer to it ("skones").
_REFERENCE_SIMILARITY = 0.75


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """What one turn did: the new cart, its actions, and what was not understood."""

    cart: Cart
    actions: tuple[Action, ...]
    unmatched: tuple[str, ...]
    unavailable: tuple[str, ...]  # names of sold-out items the turn asked for
    done: bool
    needs_review: bool


@dataclass(slots=True)
class _Mention:
    """A reference to an item in a clause: a catalog item or words naming a cart line."""

    entry: Entry | None
    keys: tuple[str, ...]
    start: int  # atom positions within the clause
    end: int
    quantity: Atom | None = None
    modifiers: list[Atom] = field(default_factory=list)
    score: float = 1.0


@dataclass(slots=True)
class _Clause:
    atoms: list[Atom]
    text_start: int
    text_end: int

    def words(self) -> list[str]:
        return [a.word for a in self.atoms if a.kind == WORD]

    def position(self, atom: Atom) -> int:
        """Where `atom` (or the word it was made from) stands in the clause."""
        return next((k for k, a in enumerate(self.atoms) if a.start == atom.start), 0)

    def has(self, phrases: Iterable[Phrase]) -> bool:
        return any(_find(self.words(), p) >= 0 for p in phrases)


def _find(words: Sequence[str], phrase: Phrase) -> int:
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) == phrase:
            return i
    return -1


def _strip_phrases(atoms: list[Atom], phrases: Sequence[Phrase]) -> tuple[list[Atom], bool]:
    """Atoms with every run of WORD atoms spelling one of `phrases` replaced by a
    separator; and whether any was found."""
    found = False
    out: list[Atom] = []
    i = 0
    while i < len(atoms):
        hit = None
        for phrase in phrases:
            n = len(phrase)
            window = atoms[i : i + n]
            if len(window) == n and all(
                a.kind == WORD and a.word == w for a, w in zip(window, phrase, strict=True)
            ):
                hit = n
                break
        if hit is None:
            out.append(atoms[i])
            i += 1
            continue
        found = True
        out.append(Atom(SEP, atoms[i].start, atoms[i + hit - 1].end))
        i += hit
    return out, found


def _join_phrases(atoms: list[Atom], phrases: Sequence[Phrase], word: str) -> list[Atom]:
    """Every run of WORD atoms spelling one of `phrases` as one WORD atom `word`, so
    that a phrase holding a conjunction ("and do that") survives the cut into clauses."""
    out: list[Atom] = []
    i = 0
    while i < len(atoms):
        hit = next(
            (
                len(p)
                for p in phrases
                if len(p) > 1
                and len(atoms[i : i + len(p)]) == len(p)
                and all(
                    a.kind == WORD and a.word == w
                    for a, w in zip(atoms[i : i + len(p)], p, strict=True)
                )
            ),
            None,
        )
        if hit is None:
            out.append(atoms[i])
            i += 1
            continue
        out.append(Atom(WORD, atoms[i].start, atoms[i + hit - 1].end, word=word))
        i += hit
    return out


def _split_clauses(atoms: list[Atom]) -> list[_Clause]:
    """Clauses at punctuation and conjunctions; a comma before a preposition is a
    pause, not a new clause ("no ice, in the iced americano")."""
    clauses: list[_Clause] = []
    current: list[Atom] = []
    for k, atom in enumerate(atoms):
        following = atoms[k + 1] if k + 1 < len(atoms) else None
        pause = (
            atom.kind == SEP
            and following is not None
            and following.kind == WORD
            and following.word in PREPOSITIONS - {"for", "of"}
        )
        if pause:
            continue
        if atom.kind == SEP or (atom.kind == WORD and atom.word in CONJUNCTIONS):
            if current:
                clauses.append(_Clause(current, current[0].start, current[-1].end))
            current = []
            continue
        current.append(atom)
    if current:
        clauses.append(_Clause(current, current[0].start, current[-1].end))
    return clauses


class _TurnReader:
    def __init__(
        self,
        text: str,
        cart: Cart,
        index: CatalogIndex,
        *,
        turn_id: str,
        unavailable: frozenset[str],
        spoken: bool,
    ) -> None:
        self.text = text
        self.cart = cart
        self.index = index
        self.turn_id = turn_id
        self.unavailable_skus = unavailable
        self.spoken = spoken
        self.actions: list[Action] = []
        self.unmatched: list[str] = []
        self.unavailable: list[str] = []
        self.before = cart
        self.guessed = False

    # --- applying ------------------------------------------------------------------

    def _do(self, action: Action) -> None:
        if action.sku in self.unavailable_skus and self._adds_to(action):
            # Sold out: asked for, never added (whatever way the turn put it).
            name = self.index.items[action.sku].name if action.sku in self.index.items else ""
            self.unavailable.append(name)
            self.unmatched.append(name.lower())
            return
        self.cart = apply_action(self.cart, action)
        self.actions.append(action)

    def _adds_to(self, action: Action) -> bool:
        """Whether `action` puts more of its item in the cart."""
        if action.op in (ADD, REPLACE):
            return True
        line = self.cart.line(action.line_id) if action.line_id is not None else None
        return (
            action.op == SET_QUANTITY
            and line is not None
            and (action.quantity or 0) > line.quantity
        )

    def _new_line_id(self) -> str:
        return f"l{self.cart.next_line}"

    def _add(self, sku: str, quantity: int, modifiers: Sequence[str], confidence: float) -> None:
        mods = tuple(sorted(set(modifiers)))
        same = self.cart.same_line(sku, mods)
        line_id = same.line_id if same is not None else self._new_line_id()
        self._do(Action(ADD, line_id, sku, quantity, mods, confidence))

    def _set_quantity(self, line: CartLine, quantity: int) -> None:
        if quantity <= 0:
            self._do(Action(REMOVE, line.line_id, line.sku))
        else:
            self._do(Action(SET_QUANTITY, line.line_id, line.sku, quantity))

    def _with_modifier(self, modifiers: Sequence[str], entry: Entry) -> list[str]:
        """`modifiers` plus `entry`, replacing one of the same exclusive group."""
        out = [m for m in modifiers if m != entry.code]
        if entry.group is not None:
            out = [m for m in out if self._group(m) != entry.group]
        out.append(entry.code)
        return out

    def _group(self, code: str) -> str | None:
        entry = self.index.modifiers.get(code)
        return entry.group if entry is not None else None

    def _set_modifiers(self, line: CartLine, modifiers: Sequence[str], score: float) -> None:
        mods = tuple(sorted(set(modifiers)))
        if mods != tuple(sorted(line.modifiers)):
            self._do(
                Action(SET_MODIFIERS, line.line_id, line.sku, modifiers=mods, confidence=score)
            )

    # --- references ------------------------------------------------------------------

    def _line_words(self, sku: str) -> frozenset[str]:
        return self.index.item_words.get(sku, frozenset())

    def _resolve(self, mention: _Mention) -> CartLine | None:
        """The cart line a mention refers to, or None."""
        lines = self.cart.lines
        if mention.entry is not None and mention.entry.kind == ITEM:
            same = [ln for ln in lines if ln.sku == mention.entry.code]
            if same:
                return max(same, key=lambda ln: ln.touched)
        keys = [k for k in mention.keys if k not in FILLERS and k not in DETERMINERS]
        if not keys:
            return None
        best: tuple[float, int, CartLine] | None = None
        for line in lines:
            words = self._line_words(line.sku)
            matched = 0.0
            for key in keys:
                if key in words:
                    matched += 1
                elif any(
                    Indel.normalized_similarity(key, w) >= _REFERENCE_SIMILARITY for w in words
                ):
                    matched += 0.8
            if matched < len(keys) * 0.8:
                continue
            rank = (matched, line.touched, line)
            if best is None or rank[:2] > best[:2]:
                best = rank
        return best[2] if best is not None else None

    def _pronoun_line(self) -> CartLine | None:
        return self.cart.last_touched()

    def _mentions(self, clause: _Clause) -> list[_Mention]:
        """Items named in a clause, with their quantities and the modifiers around them;
        and words after a determiner that name a line of the cart ("the muffin")."""
        atoms = clause.atoms
        mentions: list[_Mention] = []
        pending_qty: Atom | None = None
        pending_mods: list[Atom] = []
        k = 0
        while k < len(atoms):
            atom = atoms[k]
            if atom.kind == NUM:
                pending_qty, pending_mods = atom, []
            elif atom.kind == PHRASE and atom.entry is not None and atom.entry.kind == MODIFIER:
                pending_mods.append(atom)
            elif atom.kind == PHRASE and atom.entry is not None and atom.entry.kind == ITEM:
                key = tuple(_key(w) for w in self.text[atom.start : atom.end].lower().split())
                mentions.append(
                    _Mention(atom.entry, key, k, k + 1, pending_qty, list(pending_mods), atom.score)
                )
                pending_qty, pending_mods = None, []
                k += 1
                continue
            elif _is_content(atom):
                partial = self._partial_mention(atoms, k, pending_qty)
                if partial is not None:
                    mentions.append(partial)
                    pending_qty, pending_mods = None, []
                    k = partial.end
                    continue
                pending_mods = []
            elif atom.kind == WORD and atom.word in PREPOSITIONS:
                pending_mods = []
            k += 1
        # Modifiers after an item belong to it ("the latte with oat milk").
        for n, mention in enumerate(mentions):
            stop = mentions[n + 1].start if n + 1 < len(mentions) else len(atoms)
            for atom in atoms[mention.end : stop]:
                if atom.kind == PHRASE and atom.entry is not None and atom.entry.kind == MODIFIER:
                    mention.modifiers.append(atom)
                elif atom.kind == NUM:
                    break
        return mentions

    def _partial_mention(self, atoms: list[Atom], k: int, quantity: Atom | None) -> _Mention | None:
        """Plain words from atom `k` on that name a line of the cart ("the muffin")."""
        j = k
        words: list[str] = []
        while j < len(atoms) and _is_content(atoms[j]):
            words.append(_key(atoms[j].word))
            j += 1
        # The longest run of them that does ("the muffin after all": "muffin").
        for length in range(len(words), 0, -1):
            mention = _Mention(None, tuple(words[:length]), k, k + length, quantity, [], 0.9)
            if self._resolve(mention) is not None:
                return mention
        return None

    # --- clauses ---------------------------------------------------------------------

    def _negated(self, clause: _Clause, position: int) -> bool:
        """Whether the modifier at `position` is negated by the words just before it."""
        for atom in reversed(clause.atoms[:position]):
            if atom.kind != WORD:
                return False
            if atom.word in NEGATIONS or atom.word in REMOVE_WORDS or atom.word == "take":
                return True
            if atom.word not in ("the", "any", "your", "a", "an", "some"):
                return False
        return False

    def _modifier_edits(
        self, clause: _Clause, line: CartLine, modifiers: Sequence[Atom], *, negate_all: bool
    ) -> None:
        """Add or take away `modifiers` on `line`: a negated modifier the line has is
        taken off; a negated one it lacks becomes its catalog "no ..." modifier if
        there is one; any other is added (replacing one of the same group)."""
        mods = list(line.modifiers)
        score = 1.0
        for atom in modifiers:
            assert atom.entry is not None
            # Atoms made from negated words ("no onions") are already the negation.
            made = atom not in clause.atoms
            negated = not made and (negate_all or self._negated(clause, clause.position(atom)))
            if negated and atom.entry.code in mods:
                mods.remove(atom.entry.code)
                continue
            if negated:
                opposite = self._negative_of(atom)
                if opposite is None:
                    continue
                mods = self._with_modifier(mods, opposite)
            else:
                mods = self._with_modifier(mods, atom.entry)
            score = min(score, atom.score)
        self._set_modifiers(line, mods, score)

    def _negative_of(self, atom: Atom) -> Entry | None:
        """The catalog modifier "no <words>" for a negated modifier or word, if any."""
        keys = ["no", *(_key(w) for w in self.text[atom.start : atom.end].lower().split())]
        match = self.index.exact(keys, 0)
        if match is not None and match.length == len(keys) and match.entry.kind == MODIFIER:
            return match.entry
        return None

    def _negated_words(self, clause: _Clause) -> list[Atom]:
        """Unknown words after a negation that spell a catalog "no ..." modifier
        ("take the onions off": "onions" -> no onions)."""
        found: list[Atom] = []
        atoms = clause.atoms
        for k, atom in enumerate(atoms):
            if _is_content(atom) and self._negated(clause, k):
                opposite = self._negative_of(atom)
                if opposite is not None:
                    found.append(Atom(PHRASE, atom.start, atom.end, entry=opposite))
        return found

    def read(self) -> TurnOutcome:
        atoms = lex_words(self.text, self.index, spoken=self.spoken, reserved=RESERVED_WORDS)
        atoms, done = _strip_phrases(atoms, DONE_PHRASES)
        atoms = _join_phrases(atoms, UNDO_PHRASES, "undo")
        atoms = _prepositions_back(atoms)
        if self.spoken:
            atoms = _numbers_heard(atoms)
        clauses = _split_clauses(atoms)
        # Clauses that add (or only describe) run together into one order, read by the
        # order parser as a whole: "two ham and cheese croisants warmed up, a latte".
        run: list[tuple[str, _Clause]] = []
        previous_op: str | None = None
        for n, clause in enumerate(clauses):
            following = clauses[n + 1] if n + 1 < len(clauses) else None
            words = clause.words()
            if not any(a.kind in (PHRASE, NUM) for a in clause.atoms) and (
                (len(words) == 1 and words[0] in DONE_ALONE)
                or (words[-2:] == ["no", "more"] and len(words) <= 3)
            ):
                done = True
                continue
            op = self._classify(clause, previous_op, following)
            if op in (ADD, _NEUTRAL):
                run.append((op, clause))
            else:
                self._flush_run(run)
                run = []
                self._read_clause(op, clause)
            previous_op = op
        self._flush_run(run)
        changed = _lines_key(self.cart.lines) != _lines_key(self.before.lines)
        if changed:
            self.cart = remember(self.cart, self.before, self.turn_id)
        confident = all(a.confidence >= REVIEW_CONFIDENCE for a in self.actions)
        understood = bool(self.actions) or done
        return TurnOutcome(
            cart=self.cart,
            actions=tuple(self.actions),
            unmatched=tuple(self.unmatched),
            unavailable=tuple(self.unavailable),
            done=done,
            needs_review=not confident or not understood or bool(self.unmatched),
        )

    def _flush_run(self, run: list[tuple[str, _Clause]]) -> None:
        """Clauses without a command: an order if any names an item; else each one
        edits the line last touched (modifiers, or a corrected number)."""
        if not run:
            return
        if any(op == ADD for op, _clause in run):
            self._flush_adds([clause for _op, clause in run])
            return
        for _op, clause in run:
            mods = self._modifier_atoms(clause)
            words = set(clause.words())
            numbers = [a for a in clause.atoms if a.kind == NUM and not a.article]
            line = self._pronoun_line()
            if mods and line is not None:
                self._modifier_edits(clause, line, mods, negate_all=False)
            elif numbers and line is not None and words & CORRECTIONS:
                self._set_quantity(line, numbers[0].value)
            else:
                self._note_unmatched(clause)

    def _classify(self, clause: _Clause, previous_op: str | None, following: _Clause | None) -> str:
        words = clause.words()
        atoms = clause.atoms
        has_item = any(a.kind == PHRASE and a.entry and a.entry.kind == ITEM for a in atoms)
        has_mod = any(a.kind == PHRASE and a.entry and a.entry.kind == MODIFIER for a in atoms)
        has_num = any(a.kind == NUM and not a.article for a in atoms)
        if not has_item and not has_mod and clause.has(UNDO_PHRASES):
            # "never mind the muffin" names a line: that is a removal.
            return REMOVE if self._mentions(clause) else "undo"
        if not has_item and not has_mod:
            if clause.has(CLEAR_PHRASES):
                return CLEAR
            removing = set(words) & REMOVE_WORDS or clause.has(REMOVE_PHRASES)
            if removing and set(words) & WHOLE and not self._mentions(clause):
                return CLEAR
        if "instead" in words or ("rather" in words and "than" in words):
            return "instead"
        another = any(a.kind == NUM and a.word == "another" for a in atoms)
        if set(words) & CHANGE_WORDS:
            # "bring me another latte", "make it two more": a change verb that adds.
            return "more" if another or set(words) & {"more", "less", "fewer"} else "change"
        if self._is_removal(clause):
            return REMOVE
        if set(words) & set(MULTIPLIERS) and self._mentions(clause):
            return "multiply"
        if set(words) & (MORE | LESS) or any(a.kind == NUM and a.word == "another" for a in atoms):
            return "more"
        if self._aimed_modifiers(clause) is not None:
            return "aimed"
        mentions = self._mentions(clause)
        if set(words) & ONLY and has_num and any(self._resolve(m) for m in mentions):
            return "only"
        if self._corrects_quantity(clause, mentions):
            return "only"
        if mentions and following is not None and _is_not_number(following):
            return "not"
        if (
            previous_op == REMOVE
            and mentions
            and atoms[0].kind == WORD
            and atoms[0].word in DETERMINERS | {"no"}
            and all(self._resolve(m) is not None for m in mentions)
        ):
            return REMOVE
        if has_mod and self._definite_edit(clause) is not None:
            return "definite"
        if has_item:
            return ADD
        if any(a.kind == WORD and a.word in PRONOUNS for a in atoms) and (has_mod or has_num):
            return "pronoun"
        return _NEUTRAL

    def _definite_edit(self, clause: _Clause) -> _Mention | None:
        """ "could the lattes be large": modifiers said of a line named with "the"."""
        mentions = self._mentions(clause)
        if len(mentions) != 1:
            return None
        mention = mentions[0]
        before = clause.atoms[mention.start - 1] if mention.start > 0 else None
        definite = before is not None and before.kind == WORD and before.word in DETERMINERS
        if not definite or mention.quantity is not None or not mention.modifiers:
            return None
        return mention if self._resolve(mention) is not None else None

    def _corrects_quantity(self, clause: _Clause, mentions: list[_Mention]) -> bool:
        """ "actually, three fries" with fries in the cart: a correction of its number,
        not a second order of them (nothing here says "more" or "also")."""
        first = next((a for a in clause.atoms if a.kind == WORD), None)
        if first is None or first.word not in CORRECTION_OPENERS:
            return False
        if set(clause.words()) & ADDING_WORDS or not mentions:
            return False
        for mention in mentions:
            line = self._resolve(mention)
            if (
                mention.entry is None
                or line is None
                or line.sku != mention.entry.code
                or mention.quantity is None
                or mention.quantity.article
                or mention.modifiers
            ):
                return False
        return True

    def _aimed_modifiers(self, clause: _Clause) -> tuple[list[Atom], _Mention] | None:
        """Modifiers aimed at a cart line by a preposition: "extra chili on the noodles",
        "no soy milk in the cappuccino"."""
        atoms = clause.atoms
        mods = self._modifier_atoms(clause)
        if not mods:
            return None
        first_mod = min(clause.position(m) for m in mods)
        for mention in self._mentions(clause):
            if mention.start <= first_mod:
                continue
            between = [a.word for a in atoms[first_mod : mention.start] if a.kind == WORD]
            if set(between) & PREPOSITIONS and self._resolve(mention) is not None:
                return [m for m in mods if m not in mention.modifiers], mention
        return None

    def _is_removal(self, clause: _Clause) -> bool:
        words = clause.words()
        if set(words) & REMOVE_WORDS or clause.has(REMOVE_PHRASES):
            return True
        if "take" in words and set(words[words.index("take") + 1 :]) & (TAKE_AWAY | {"back"}):
            return True
        # "knock off one latte", "cross the muffin off", "leave the fries out".
        if set(words) & TAKE_AWAY and (self._mentions(clause) or set(words) & PRONOUNS):
            return True
        # "no banana bread", "not the latte", "without the fries": a negation before an item.
        for k, atom in enumerate(clause.atoms):
            if atom.kind == WORD and atom.word in ("no", "not", "without", "hold"):
                nxt = next((a for a in clause.atoms[k + 1 :] if not _is_article(a)), None)
                if nxt is not None and nxt.kind == PHRASE and nxt.entry and nxt.entry.kind == ITEM:
                    return True
                if nxt is not None and nxt.kind == WORD and self._mentions(clause):
                    return True
        return False

    def _read_clause(self, op: str, clause: _Clause) -> None:
        if op == "undo":
            self.cart, action = undo_last(self.cart)
            if action is not None:
                self.actions.append(action)
                self.before = self.cart
            return
        if op == CLEAR:
            if self.cart.lines:
                self._do(Action(CLEAR))
            return
        if op == "instead":
            self._instead(clause)
        elif op == "change":
            self._change(clause)
        elif op == REMOVE:
            self._remove(clause)
        elif op == "more":
            self._more(clause)
        elif op == "only" or op == "not":
            self._requantify_named(clause)
        elif op == "aimed":
            aimed = self._aimed_modifiers(clause)
            assert aimed is not None
            mods, mention = aimed
            line = self._resolve(mention)
            if line is not None and mods:
                self._modifier_edits(clause, line, mods, negate_all=False)
        elif op == "multiply":
            factor = next(MULTIPLIERS[w] for w in clause.words() if w in MULTIPLIERS)
            for mention in self._mentions(clause):
                line = self._resolve(mention)
                if line is not None:
                    self._set_quantity(line, line.quantity * factor)
        elif op == "definite":
            named = self._definite_edit(clause)
            line = self._resolve(named) if named is not None else None
            if named is not None and line is not None:
                self._modifier_edits(clause, line, named.modifiers, negate_all=False)
        elif op == "pronoun":
            self._flush_run([(_NEUTRAL, clause)])
        else:
            self._note_unmatched(clause)

    def _modifier_atoms(self, clause: _Clause) -> list[Atom]:
        mods = [
            a for a in clause.atoms if a.kind == PHRASE and a.entry and a.entry.kind == MODIFIER
        ]
        return [*mods, *self._negated_words(clause)]

    def _note_unmatched(self, clause: _Clause) -> None:
        content = [
            a.word
            for a in clause.atoms
            if a.kind == WORD and a.word not in FILLERS and a.word not in RESERVED_WORDS
        ]
        if content:
            self.unmatched.append(self.text[clause.text_start : clause.text_end])

    def _flush_adds(self, clauses: list[_Clause]) -> None:
        if not clauses:
            return
        span = self.text[clauses[0].text_start : clauses[-1].text_end]
        result = parse_order(span, self.index, spoken=self.spoken)
        for line in result.lines:
            if line.sku in self.unavailable_skus:
                self.unavailable.append(self.index.items[line.sku].name)
                self.unmatched.append(line.matched_text)
                continue
            self._add(line.sku, line.quantity, line.modifiers, line.confidence)
        self.unmatched.extend(result.unmatched)

    def _new_from_mention(self, mention: _Mention) -> tuple[str, int | None, list[Atom]] | None:
        if mention.entry is None:
            return None
        sku = mention.entry.code
        if sku in self.unavailable_skus:
            self.unavailable.append(mention.entry.name)
            self.unmatched.append(mention.entry.name.lower())
            return None
        qty = mention.quantity
        quantity = qty.value if qty is not None and not qty.article else None
        return sku, quantity, [*mention.modifiers]

    def _replace(self, line: CartLine, mention: _Mention, clause: _Clause) -> None:
        if mention.entry is None:  # words naming a cart line are no new item
            return
        new = self._new_from_mention(mention)
        if new is None:
            return
        sku, quantity, mod_atoms = new
        if sku == line.sku:
            if quantity is not None:
                self._set_quantity(line, quantity)
            if mod_atoms:
                self._modifier_edits(
                    clause, self.cart.line(line.line_id) or line, mod_atoms, negate_all=False
                )
            return
        mods = list(line.modifiers)
        for atom in mod_atoms:
            assert atom.entry is not None
            mods = self._with_modifier(mods, atom.entry)
        self._do(
            Action(
                REPLACE,
                line.line_id,
                sku,
                quantity if quantity is not None else line.quantity,
                tuple(sorted(set(mods))),
                confidence=mention.score,
                extra={"replaced_sku": line.sku},
            )
        )

    def _instead(self, clause: _Clause) -> None:
        words_atoms = clause.atoms
        mentions = self._mentions(clause)
        # "X instead of Y", "rather X than Y": the old line is named after the word.
        position = next(
            k for k, a in enumerate(words_atoms) if a.kind == WORD and a.word in ("instead", "than")
        )
        old_line: CartLine | None = None
        new: list[_Mention] = []
        after = [m for m in mentions if m.start > position]
        before = [m for m in mentions if m.start < position]
        if after:
            old_line = self._resolve(after[0])
            new = before + after[1:]
        if old_line is None:
            same = [(m, self._resolve(m)) for m in mentions if m.entry is not None]
            named = [(m, line) for m, line in same if line is not None and line.sku == m.entry.code]  # type: ignore[union-attr]
            if named:
                # "three lattes instead" with lattes in the cart: that line changes.
                mention, line = named[0]
                self._replace(line, mention, clause)
                return
            old_line = self._pronoun_line()
            new = mentions
        # Only catalog items can replace a line (not words naming one of the cart).
        new = [m for m in new if m.entry is not None]
        if old_line is None or not new:
            for mention in new:
                self._add_mention(mention)
            return
        self._replace(old_line, new[0], clause)
        for mention in new[1:]:
            self._add_mention(mention)

    def _add_mention(self, mention: _Mention) -> None:
        if mention.entry is None:
            return
        new = self._new_from_mention(mention)
        if new is None:
            return
        sku, quantity, mod_atoms = new
        mods: list[str] = []
        for atom in mod_atoms:
            assert atom.entry is not None
            mods = self._with_modifier(mods, atom.entry)
        self._add(sku, quantity or 1, mods, mention.score)

    def _change(self, clause: _Clause) -> None:
        atoms = clause.atoms
        verb = next(k for k, a in enumerate(atoms) if a.kind == WORD and a.word in CHANGE_WORDS)
        mentions = [m for m in self._mentions(clause) if m.start > verb]
        pronoun = next(
            (
                k
                for k, a in enumerate(atoms[verb + 1 :], verb + 1)
                if a.kind == WORD and a.word in PRONOUNS - {"one"}
            ),
            None,
        )
        first_ref = mentions[0] if mentions else None
        if atoms[verb].word in ("substitute", "sub") and len(mentions) >= 2:
            # "substitute a scone for the muffin": the new item comes first.
            old = self._resolve(mentions[1])
            if old is not None and mentions[0].entry is not None:
                self._replace(old, mentions[0], clause)
                return
        if first_ref is not None and (pronoun is None or first_ref.start < pronoun):
            old = self._resolve(first_ref)
            if old is not None:
                self._change_line(
                    clause, old, first_ref.end, mentions[1:], named=first_ref.quantity
                )
                return
        if pronoun is not None:
            old = self._pronoun_line()
            if old is not None:
                rest = [m for m in mentions if m.start > pronoun]
                self._change_line(clause, old, pronoun + 1, rest)
                return
        # Nothing in the cart to change: whatever it names is an addition.
        if mentions:
            self._flush_adds([clause])
        else:
            self._note_unmatched(clause)

    def _change_line(
        self,
        clause: _Clause,
        line: CartLine,
        after: int,
        rest: list[_Mention],
        named: Atom | None = None,
    ) -> None:
        """ "change <line> to ...": another item replaces it, a number sets its
        quantity, modifiers edit it."""
        atoms = clause.atoms
        if rest and rest[0].entry is not None:
            # Another item replaces the line; the same item ("make it three bottled
            # waters") sets its quantity or modifiers (see _replace).
            self._replace(line, rest[0], clause)
            for mention in rest[1:]:
                self._add_mention(mention)
            return
        numbers = [a for a in atoms[after:] if a.kind == NUM and not a.article]
        if not numbers and named is not None and not named.article:
            numbers = [named]  # "let's do four lattes", "bump up two teas"
        if numbers:
            self._set_quantity(line, numbers[0].value)
            line = self.cart.line(line.line_id) or line
        mods = [a for a in self._modifier_atoms(clause) if clause.position(a) >= after]
        if mods and self.cart.line(line.line_id) is not None:
            self._modifier_edits(clause, line, mods, negate_all=False)
        if not numbers and not mods:
            self._note_unmatched(clause)

    def _remove(self, clause: _Clause) -> None:
        mentions = self._mentions(clause)
        mods = self._modifier_atoms(clause)
        # Modifiers taken off a named line ("the oat milk out of the latte").
        if mods and mentions:
            first_mod = min(clause.position(m) for m in mods)
            target = mentions[-1]
            if target.start > first_mod:
                line = self._resolve(target)
                if line is not None:
                    self._modifier_edits(clause, line, mods, negate_all=True)
                    return
        if mods and not mentions:
            line = self._line_with(mods) or self._pronoun_line()
            if line is not None:
                self._modifier_edits(clause, line, mods, negate_all=True)
            return
        if not mentions:
            words = clause.words()
            if set(words) & PRONOUNS:
                line = self._pronoun_line()
                if line is not None:
                    self._do(Action(REMOVE, line.line_id, line.sku))
                    return
            self._note_unmatched(clause)
            return
        for mention in mentions:
            line = self._resolve(mention)
            if line is None:
                self.unmatched.append(" ".join(mention.keys))
                continue
            qty = mention.quantity
            counted = (
                qty is not None
                and not qty.article
                and not _after_determiner(clause, qty)
                and qty.value < line.quantity
            )
            if counted:
                assert qty is not None
                self._set_quantity(line, line.quantity - qty.value)
            else:
                self._do(Action(REMOVE, line.line_id, line.sku))

    def _line_with(self, mods: Sequence[Atom]) -> CartLine | None:
        codes = {a.entry.code for a in mods if a.entry is not None}
        having = [ln for ln in self.cart.lines if codes & set(ln.modifiers)]
        return max(having, key=lambda ln: ln.touched) if having else None

    def _more(self, clause: _Clause) -> None:
        words = clause.words()
        less = bool(set(words) & LESS)
        mentions = self._mentions(clause)
        number = next((a for a in clause.atoms if a.kind == NUM), None)
        amount = number.value if number is not None else 1
        if not mentions and any(_is_content(a) for a in clause.atoms):
            # "another skone" naming nothing in the cart: maybe an order, never "it".
            self._flush_adds([clause])
            return
        if not mentions:
            line = self._pronoun_line()
            if line is not None:
                self._set_quantity(line, line.quantity + (-amount if less else amount))
            return
        for mention in mentions:
            line = self._resolve(mention)
            if line is None:
                if not less:
                    self._add_mention(mention)
                continue
            step = mention.quantity.value if mention.quantity is not None else amount
            if less:
                self._set_quantity(line, line.quantity - step)
            elif mention.modifiers:
                # "another latte with oat milk" when the latte has none: a line of its own.
                self._add_mention(mention)
            else:
                self._do(Action(ADD, line.line_id, line.sku, step, line.modifiers, mention.score))

    def _requantify_named(self, clause: _Clause) -> None:
        for mention in self._mentions(clause):
            line = self._resolve(mention)
            qty = mention.quantity
            if line is None or qty is None:
                self._add_mention(mention)
                continue
            self._set_quantity(line, qty.value)


def _numbers_heard(atoms: list[Atom]) -> list[Atom]:
    """ "make that free", "make it too", "not too": after a change verb and "it"/"that",
    or after "not", a number homophone that ends the clause is the number."""
    out: list[Atom] = []
    for k, atom in enumerate(atoms):
        following = atoms[k + 1] if k + 1 < len(atoms) else None
        ends = (
            following is None
            or following.kind == SEP
            or (following.kind == WORD and following.word in CONJUNCTIONS | MORE | LESS)
            or (following.kind == WORD and following.word in ("please", "thanks"))
        )
        if atom.kind == WORD and atom.word in HEARD_NUMBERS and ends:
            previous = out[-1] if out else Atom(SEP, 0, 0)
            before = out[-2] if len(out) > 1 else None
            after_pronoun = (
                previous.kind == WORD
                and previous.word in ("it", "that", "them")
                and before is not None
                and before.kind == WORD
                and before.word in CHANGE_WORDS
            )
            after_not = previous.kind == WORD and previous.word == "not"
            before_more = following is not None and following.word in MORE | LESS
            if after_pronoun or after_not or before_more:
                atom = Atom(
                    NUM, atom.start, atom.end, value=HEARD_NUMBERS[atom.word], word=atom.word
                )
        out.append(atom)
    return out


def _prepositions_back(atoms: list[Atom]) -> list[Atom]:
    """ "change the noodles to beef noodle soups": after a name, "to" and "for" are
    prepositions, not the numbers the order lexer hears in them."""
    out: list[Atom] = []
    for atom in atoms:
        if (
            atom.kind == NUM
            and atom.word in ("to", "too", "for")
            and out
            and (out[-1].kind == PHRASE or _is_content(out[-1]))
        ):
            atom = Atom(WORD, atom.start, atom.end, word=atom.word)
        out.append(atom)
    return out


def _is_content(atom: Atom) -> bool:
    """A word that is no command, filler or function word: part of a name, maybe."""
    return atom.kind == WORD and atom.word not in RESERVED_WORDS and atom.word not in FILLERS


def _is_article(atom: Atom) -> bool:
    return (atom.kind == WORD and atom.word in ("the", "any", "a", "an", "my", "your")) or (
        atom.kind == NUM and atom.article
    )


def _after_determiner(clause: _Clause, atom: Atom) -> bool:
    k = clause.position(atom)
    return k > 0 and clause.atoms[k - 1].kind == WORD and clause.atoms[k - 1].word in DETERMINERS


def _is_not_number(clause: _Clause) -> bool:
    """ "..., not one": the correction half of "two teas, not one"."""
    atoms = clause.atoms
    return (
        len(atoms) >= 2
        and atoms[0].kind == WORD
        and atoms[0].word == "not"
        and atoms[1].kind == NUM
        and not any(a.kind == PHRASE for a in atoms)
    )


def _lines_key(lines: Sequence[CartLine]) -> list[tuple[str, str, int, tuple[str, ...]]]:
    return [(ln.line_id, ln.sku, ln.quantity, tuple(sorted(ln.modifiers))) for ln in lines]


def read_turn(
    text: str,
    cart: Cart,
    index: CatalogIndex,
    *,
    turn_id: str,
    unavailable: frozenset[str] = frozenset(),
    spoken: bool = False,
) -> TurnOutcome:
    """Read one utterance against the cart: the actions it takes, applied in the order
    spoken, and the cart after them.

    `unavailable` SKUs are never added (their names go to `unmatched` and
    `unavailable`). `turn_id` names the turn for a later "undo". Never raises on any
    text; never puts a SKU or modifier outside `index` in the cart.
    """
    return _TurnReader(
        text, cart, index, turn_id=turn_id, unavailable=unavailable, spoken=spoken
    ).read()


def _quality(outcome: TurnOutcome) -> tuple[int, bool, bool]:
    unmatched_words = sum(len(span.split()) for span in outcome.unmatched)
    understood = bool(outcome.actions) or outcome.done
    return -unmatched_words, understood, not outcome.needs_review


def choose_turn_reading(
    readings: Sequence[str],
    cart: Cart,
    index: CatalogIndex,
    *,
    turn_id: str,
    unavailable: frozenset[str] = frozenset(),
) -> tuple[str, TurnOutcome]:
    """Of a recogniser's readings of one turn (best first), the one that reads best
    against the cart: fewest words left unmatched, then one that does something,
    then one that needs no review, then the recogniser's rank."""
    best: tuple[tuple[int, bool, bool, int], str, TurnOutcome] | None = None
    for rank, text in enumerate(readings):
        outcome = read_turn(
            text, cart, index, turn_id=turn_id, unavailable=unavailable, spoken=True
        )
        quality = (*_quality(outcome), -rank)
        if best is None or quality > best[0]:
            best = (quality, text, outcome)
    if best is None:
        return "", read_turn("", cart, index, turn_id=turn_id, spoken=True)
    return best[1], best[2]


class HeardTurn:
    """The speech engine's questions about a spoken turn's readings against the cart,
    from one reading of each set of readings (`choose_turn_reading`): whether the best
    does something and leaves no word unread (`accepts`), and counts for its
    uncounted items (`recounts`). After the last listen both ask about the same
    readings; one clip, one decode thread.
    """

    def __init__(self, cart: Cart, index: CatalogIndex, unavailable: frozenset[str]) -> None:
        self.cart = cart
        self.index = index
        self.unavailable = unavailable
        self._read: tuple[tuple[str, ...], str, TurnOutcome] | None = None

    def accepts(self, readings: Sequence[str]) -> bool:
        """Whether the best of `readings` does something and leaves no word unmatched:
        else the audio is worth hearing again, slowed (up to twice)."""
        unmatched, understood, _sure = _quality(self._best(readings)[1])
        return understood and unmatched == 0

    def recounts(self, readings: Sequence[str]) -> Challenge:
        """The best of `readings`, and that reading with a count said for one of its
        uncounted items (`orders.recount`): "add well lattes" may be "add twelve
        lattes", "add lattes" "add three lattes"; the recogniser weighs them against
        the audio."""
        text, _outcome = self._best(readings)
        return recount_challenge(text, self.index)

    def _best(self, readings: Sequence[str]) -> tuple[str, TurnOutcome]:
        key = tuple(readings)
        if self._read is None or self._read[0] != key:
            text, outcome = choose_turn_reading(
                key, self.cart, self.index, turn_id="probe", unavailable=self.unavailable
            )
            self._read = (key, text, outcome)
        return self._read[1], self._read[2]
