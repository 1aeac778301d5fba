"""The words of the turn language: what finishes, undoes, clears, removes, changes,
adds to and refers to a cart, as folded words with apostrophes dropped ("thats").

Data for the turn engine (`turns.py`); a new phrasing of an operation is a word here.
"""

Phrase = tuple[str, ...]

# Ways to say the order is complete. Matched on folded words with apostrophes dropped.
DONE_PHRASES: tuple[Phrase, ...] = tuple(
    tuple(p.split())
    for p in (
        "thats all", "thats it", "that is all", "that is it", "thats everything",
        "that is everything", "thatll be all", "that will be all", "thatll be it",
        "that will be it", "thatll be everything", "that will be everything",
        "thatll do", "that will do", "that would be all", "thatd be all", "thatd be it",
        "that should be all", "that should be it", "that should do it", "that does it",
        "that covers it", "thatll cover it", "thats enough", "thats the lot",
        "thats about it", "thats about all", "nothing else", "nothing more",
        "nothing further", "im done", "i am done", "were done", "we are done",
        "im finished", "i am finished", "im good", "i am good", "were good",
        "we are good", "im all set", "were all set", "all set", "all good",
        "ready to pay", "ring me up", "ring it up", "ring that up", "thats my order",
        "that is my order", "complete my order", "finish my order", "done ordering",
        "finished ordering", "no thanks", "no thank you", "thats it for me",
        "thats all for me", "thats all for now", "thats it for now", "all done",
        "im all done", "were all done", "good to go", "that completes my order",
        "that completes the order", "im set", "were set", "wrap it up", "thats it for today",
        "thats all for today",
    )
)  # fmt: skip
DONE_ALONE = frozenset({"done", "finished", "complete", "checkout"})
UNDO_PHRASES: tuple[Phrase, ...] = tuple(
    tuple(p.split())
    for p in (
        "undo", "never mind", "nevermind", "take that back", "take it back",
        "scratch that", "forget that", "forget it", "forget about it", "cancel that",
        "go back", "revert", "revert that", "ignore that", "disregard that",
        "reverse that", "my mistake", "my bad", "strike that", "delete that",
        "forget what i said", "forget i said that", "back up", "oops",
        # What recognisers write for "undo that".
        "and do that", "on do that", "dont do that", "scrap that",
    )
)  # fmt: skip
CLEAR_PHRASES: tuple[Phrase, ...] = tuple(
    tuple(p.split())
    for p in (
        "start over", "start again", "start fresh", "start from scratch", "from scratch",
        "start it over", "start all over", "start this over", "start the order over",
        "begin again", "reset", "restart", "clean slate", "do it over",
    )
)  # fmt: skip
# A removal verb with one of these and no item clears the cart ("cancel everything").
WHOLE = frozenset({"everything", "all", "order", "cart", "whole", "entire", "lot", "basket"})
REMOVE_WORDS = frozenset(
    """remove delete drop scratch cancel forget lose ditch skip nix omit exclude
    eliminate erase strike axe kill minus cut clear scrap empty wipe undo""".split()  # noqa: SIM905 (a word list reads better as text)
)
REMOVE_PHRASES: tuple[Phrase, ...] = tuple(
    tuple(p.split())
    for p in (
        "get rid of", "dont want", "do not want", "dont need", "do not need",
        "no longer want", "dont wanna", "leave out", "leave off", "not want",
        "changed my mind about", "change my mind about",
    )
)  # fmt: skip
# "take the cookies off", "take out the muffin": take with one of these later on.
TAKE_AWAY = frozenset({"off", "out", "away"})
CHANGE_WORDS = frozenset(
    """change switch swap replace substitute sub exchange trade turn make convert
    update modify upgrade downgrade bump increase raise reduce lower decrease set
    adjust do up bring""".split()  # noqa: SIM905 (a word list reads better as text)
)
MORE = frozenset({"more", "additional", "extra"})
LESS = frozenset({"less", "fewer"})
NEGATIONS = frozenset({"no", "not", "without", "minus", "hold", "skip", "nix"})
PREPOSITIONS = frozenset({"to", "on", "in", "from", "off", "onto", "into", "for", "of"})
PRONOUNS = frozenset({"it", "that", "this", "them", "those", "these", "they", "one"})
DETERMINERS = frozenset({"the", "my", "those", "these", "this", "that", "your", "our"})
CONJUNCTIONS = frozenset({"and", "then", "also", "plus", "but"})
ONLY = frozenset({"only", "just"})
MULTIPLIERS = {"double": 2, "triple": 3}
# A clause opening with one of these corrects what is in the cart...
CORRECTION_OPENERS = frozenset({"actually", "sorry", "wait", "correction", "mean"})
# ...unless it says it adds.
ADDING_WORDS = frozenset({"add", "also", "another", "more", "plus", "too", "extra", "get"})
CORRECTIONS = frozenset({"actually", "sorry", "wait", "mean", "no", "rather", "make"})
# Words before a name of a cart line that is not quite a catalog name ("no baguettes").
REFERRING = DETERMINERS | {"no", "any", "not", "without"}
# Words the lexer must never read as a misspelt catalog name.
RESERVED_WORDS = frozenset(
    {w for p in (*DONE_PHRASES, *UNDO_PHRASES, *CLEAR_PHRASES, *REMOVE_PHRASES) for w in p}
    | DONE_ALONE | WHOLE | REMOVE_WORDS | TAKE_AWAY | CHANGE_WORDS | MORE | LESS
    | NEGATIONS | PREPOSITIONS | PRONOUNS | DETERMINERS | CONJUNCTIONS | ONLY
    | CORRECTIONS | REFERRING
    | {"instead", "than", "want", "add", "put", "remove", "with", "another"}
)  # fmt: skip


# What recognisers write for a number said where only a number fits.
HEARD_NUMBERS = {
    "free": 3, "tree": 3, "to": 2, "too": 2, "do": 2, "for": 4, "fore": 4, "won": 1,
}  # fmt: skip
