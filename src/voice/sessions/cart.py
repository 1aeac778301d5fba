"""The cart of an order session and the actions that edit it (pure functions, no I/O).

A cart is immutable: `apply_action` returns a new one. Every action names the line
it touched, so a turn's actions are also its audit trail. `touched` orders lines by
how recently they were added or changed: that is what "it" and "that" refer to.
"""

from dataclasses import dataclass, field, replace
from typing import Any

MAX_LINE_QUANTITY = 999
# Turns that can be undone, newest last; older ones drop off.
MAX_UNDO_DEPTH = 20

ADD, REMOVE, SET_QUANTITY, SET_MODIFIERS, REPLACE, UNDO, CLEAR = (
    "add", "remove", "set_quantity", "set_modifiers", "replace", "undo", "clear"
)  # fmt: skip
OPS = (ADD, REMOVE, SET_QUANTITY, SET_MODIFIERS, REPLACE, UNDO, CLEAR)


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line of a cart: an item, how many, with which modifiers."""

    line_id: str
    sku: str
    quantity: int
    modifiers: tuple[str, ...]
    confidence: float = 1.0
    touched: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The lines before a turn that changed them, kept so that "undo" can go back."""

    turn_id: str
    lines: tuple[CartLine, ...]


@dataclass(frozen=True, slots=True)
class Cart:
    """Lines in the order they were first added, plus what undo and "it" need."""

    lines: tuple[CartLine, ...] = ()
    next_line: int = 1
    clock: int = 0  # increases with every change; a line's `touched` is its last change
    undo: tuple[Snapshot, ...] = ()

    def line(self, line_id: str) -> CartLine | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    def last_touched(self) -> CartLine | None:
        """The line most recently added or changed that is still in the cart."""
        return max(self.lines, key=lambda line: line.touched, default=None)

    def same_line(self, sku: str, modifiers: tuple[str, ...]) -> CartLine | None:
        wanted = tuple(sorted(modifiers))
        return next(
            (ln for ln in self.lines if ln.sku == sku and tuple(sorted(ln.modifiers)) == wanted),
            None,
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One edit of a cart, as the API reports it (see `as_dict`)."""

    op: str
    line_id: str | None = None
    sku: str | None = None
    quantity: int | None = None
    modifiers: tuple[str, ...] | None = None
    confidence: float = 1.0
    turn_id: str | None = None  # UNDO: the turn taken back
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The action in the API's shape: only the fields its op uses."""
        out: dict[str, Any] = {"op": self.op}
        for name in ("line_id", "sku", "quantity", "turn_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.modifiers is not None:
            out["modifiers"] = list(self.modifiers)
        out.update(self.extra)
        return out


def _tick(cart: Cart) -> tuple[Cart, int]:
    return replace(cart, clock=cart.clock + 1), cart.clock + 1


def _with_line(cart: Cart, line: CartLine) -> Cart:
    return replace(
        cart, lines=tuple(line if ln.line_id == line.line_id else ln for ln in cart.lines)
    )


def apply_action(cart: Cart, action: Action) -> Cart:
    """The cart after `action` (UNDO is `undo_last`; it needs the turn history)."""
    cart, now = _tick(cart)
    line = cart.line(action.line_id) if action.line_id is not None else None
    if action.op == ADD:
        if line is not None:
            quantity = min(line.quantity + (action.quantity or 1), MAX_LINE_QUANTITY)
            confidence = min(line.confidence, action.confidence)
            return _with_line(
                cart, replace(line, quantity=quantity, confidence=confidence, touched=now)
            )
        assert action.sku is not None and action.line_id is not None
        new = CartLine(
            action.line_id,
            action.sku,
            min(action.quantity or 1, MAX_LINE_QUANTITY),
            tuple(action.modifiers or ()),
            action.confidence,
            now,
        )
        return replace(cart, lines=(*cart.lines, new), next_line=cart.next_line + 1)
    if action.op == CLEAR:
        return replace(cart, lines=())
    if line is None:
        return cart
    if action.op == REMOVE:
        return replace(cart, lines=tuple(ln for ln in cart.lines if ln is not line))
    if action.op == SET_QUANTITY:
        quantity = min(action.quantity or 0, MAX_LINE_QUANTITY)
        if quantity <= 0:
            return replace(cart, lines=tuple(ln for ln in cart.lines if ln is not line))
        return _with_line(cart, replace(line, quantity=quantity, touched=now))
    if action.op == SET_MODIFIERS:
        return _with_line(
            cart,
            replace(
                line,
                modifiers=tuple(action.modifiers or ()),
                confidence=min(line.confidence, action.confidence),
                touched=now,
            ),
        )
    if action.op == REPLACE:
        assert action.sku is not None
        return _with_line(
            cart,
            replace(
                line,
                sku=action.sku,
                quantity=min(action.quantity or line.quantity, MAX_LINE_QUANTITY),
                modifiers=tuple(action.modifiers if action.modifiers is not None else ()),
                confidence=action.confidence,
                touched=now,
            ),
        )
    raise ValueError(f"unknown op {action.op!r}")


def remember(cart: Cart, before: Cart, turn_id: str) -> Cart:
    """`cart` with `before`'s lines kept as the state an "undo" of `turn_id` returns to."""
    undo = (*cart.undo, Snapshot(turn_id, before.lines))[-MAX_UNDO_DEPTH:]
    return replace(cart, undo=undo)


def undo_last(cart: Cart) -> tuple[Cart, Action | None]:
    """The cart as it was before the latest turn that changed it and was not undone."""
    if not cart.undo:
        return cart, None
    snapshot = cart.undo[-1]
    cart, now = _tick(cart)
    # Lines coming back count as just changed: "it" after an undo is what came back.
    lines = tuple(replace(line, touched=now) for line in snapshot.lines)
    restored = replace(cart, lines=lines, undo=cart.undo[:-1])
    return restored, Action(UNDO, turn_id=snapshot.turn_id)


# --- storage --------------------------------------------------------------------------


def _line_to_json(line: CartLine) -> dict[str, Any]:
    return {
        "line_id": line.line_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "modifiers": list(line.modifiers),
        "confidence": line.confidence,
        "touched": line.touched,
    }


def _line_from_json(raw: dict[str, Any]) -> CartLine:
    return CartLine(
        raw["line_id"],
        raw["sku"],
        int(raw["quantity"]),
        tuple(raw["modifiers"]),
        float(raw.get("confidence", 1.0)),
        int(raw.get("touched", 0)),
    )


def cart_to_json(cart: Cart) -> dict[str, Any]:
    """A cart as JSON for the session row."""
    return {
        "lines": [_line_to_json(line) for line in cart.lines],
        "next_line": cart.next_line,
        "clock": cart.clock,
        "undo": [
            {"turn_id": s.turn_id, "lines": [_line_to_json(line) for line in s.lines]}
            for s in cart.undo
        ],
    }


def cart_from_json(raw: dict[str, Any] | None) -> Cart:
    """The cart stored by `cart_to_json` (an empty cart for None)."""
    if not raw:
        return Cart()
    return Cart(
        lines=tuple(_line_from_json(line) for line in raw.get("lines", [])),
        next_line=int(raw.get("next_line", 1)),
        clock=int(raw.get("clock", 0)),
        undo=tuple(
            Snapshot(s["turn_id"], tuple(_line_from_json(line) for line in s["lines"]))
            for s in raw.get("undo", [])
        ),
    )
