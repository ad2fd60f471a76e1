"""The pump's display and keys: a small model of the x23's screens.

Five keys (:class:`Key`): ACT (select/confirm), ESC (back), UP, DOWN and B
(easy bolus from the home screen).  What the display shows is a
:class:`Screen` value: its kind, a title, text lines, menu items with a
cursor, and for number entry the value being edited.  Operator code
(:mod:`pumplab.devices.pump.ui`, the person model, tests) reads only this
and presses only keys.

The generic screens live here — menus, number entry, choices, text entry
(device ids and addresses, character by character), confirmations, messages
— as small node objects on a :class:`ScreenStack`.  Which menus exist and
what ACT does in them is the pump's business (:mod:`pumplab.devices.pump.menus`).
Confirmations are key presses on the pump and nothing else: no message field
can press ACT (only a legacy ``ButtonPressCommand`` can, which is the
x23's real flaw).

Alarm screens are not nodes: the pump shows its oldest active alarm on top
of whatever is on the stack until it is cleared with ESC then ACT.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "ADDRESS_ALPHABET",
    "END_MARK",
    "ChoiceNode",
    "ConfirmNode",
    "Key",
    "MenuNode",
    "MessageNode",
    "Node",
    "NumberNode",
    "Screen",
    "ScreenKind",
    "ScreenStack",
    "TextNode",
]


class Key(enum.Enum):
    """The x23's keys."""

    ACT = "ACT"
    ESC = "ESC"
    UP = "UP"
    DOWN = "DOWN"
    B = "B"


class ScreenKind(enum.Enum):
    HOME = "home"
    MENU = "menu"
    NUMBER = "number"
    CHOICE = "choice"
    TEXT = "text"
    CONFIRM = "confirm"
    MESSAGE = "message"
    ALARM = "alarm"
    PAIRING_CODE = "pairing_code"
    EASY_BOLUS = "easy_bolus"


@dataclass(frozen=True, slots=True)
class Screen:
    """What the display shows.

    ``items``/``cursor``: the entries of a menu or choice and the highlighted
    one.  ``value``: the number or text being edited, as displayed;
    ``number``: the same number parsed (NUMBER screens).  ``lines``: any
    other text (home status, estimate details, alarm text, pairing code).
    """

    kind: ScreenKind
    title: str
    lines: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    cursor: int = 0
    value: str = ""
    number: float | None = None
    unit: str = ""

    @property
    def selected(self) -> str | None:
        """The highlighted menu item or choice."""
        return self.items[self.cursor] if self.items else None


class Node(ABC):
    """A screen on the stack: renders itself and reacts to keys."""

    @abstractmethod
    def render(self) -> Screen:
        """What the display shows for this screen now."""

    @abstractmethod
    def key(self, key: Key, stack: ScreenStack) -> None:
        """React to one key press (may push or pop screens on ``stack``)."""


class ScreenStack:
    """The navigation stack; empty means the home screen."""

    def __init__(self, home: Callable[[], Screen]) -> None:
        self._home = home
        self._nodes: list[Node] = []

    @property
    def top(self) -> Node | None:
        return self._nodes[-1] if self._nodes else None

    def push(self, node: Node) -> None:
        self._nodes.append(node)

    def pop(self) -> None:
        if self._nodes:
            self._nodes.pop()

    def replace(self, node: Node) -> None:
        self.pop()
        self.push(node)

    def home(self) -> None:
        self._nodes.clear()

    def render(self) -> Screen:
        top = self.top
        return self._home() if top is None else top.render()


Action = Callable[[ScreenStack], None]


class MenuNode(Node):
    """A list of entries, computed when shown (they depend on the pump's state)."""

    def __init__(self, title: str, entries: Callable[[], Sequence[tuple[str, Action]]]) -> None:
        self.title = title
        self._entries = entries
        self.cursor = 0

    def _current(self) -> Sequence[tuple[str, Action]]:
        entries = self._entries()
        if entries and self.cursor >= len(entries):
            self.cursor = len(entries) - 1
        return entries

    def render(self) -> Screen:
        entries = self._current()
        return Screen(ScreenKind.MENU, self.title, items=tuple(e[0] for e in entries),
                      cursor=self.cursor)

    def key(self, key: Key, stack: ScreenStack) -> None:
        entries = self._current()
        if key is Key.ESC:
            stack.pop()
        elif not entries:
            return
        elif key is Key.UP:
            self.cursor = (self.cursor - 1) % len(entries)
        elif key is Key.DOWN:
            self.cursor = (self.cursor + 1) % len(entries)
        elif key is Key.ACT:
            entries[self.cursor][1](stack)


class NumberNode(Node):
    """Enter a number with UP/DOWN, confirm with ACT.

    Values are integers in ``scale`` ths of the unit (mU for insulin, minutes
    for durations); ``step(v, up)`` gives the next value, so tiered grids (the
    x23's basal rates) are possible.  The value never leaves ``low``–``high``:
    like the x23, the entry stops at the limit (max bolus, max basal).
    """

    def __init__(self, title: str, *, unit: str, low: int, high: int, value: int,
                 on_done: Callable[[int, ScreenStack], None], scale: int = 1000,
                 decimals: int = 3, step: int | Callable[[int, bool], int] = 25,
                 lines: tuple[str, ...] = (), zero_text: str | None = None) -> None:
        self.title = title
        self.unit = unit
        self.low = low
        self.high = high
        self.value = min(max(value, low), high)
        self._on_done = on_done
        self.scale = scale
        self.decimals = decimals
        self._step = step
        self.lines = lines
        self.zero_text = zero_text

    def _next(self, up: bool) -> int:
        if callable(self._step):
            v = self._step(self.value, up)
        else:
            v = self.value + (self._step if up else -self._step)
        return min(max(v, self.low), self.high)

    def render(self) -> Screen:
        shown = self.value / self.scale
        text = f"{shown:.{self.decimals}f}"
        if self.zero_text is not None and self.value == 0:
            text = self.zero_text
        return Screen(ScreenKind.NUMBER, self.title, lines=self.lines, value=text, number=shown,
                      unit=self.unit)

    def key(self, key: Key, stack: ScreenStack) -> None:
        if key is Key.ESC:
            stack.pop()
        elif key is Key.UP:
            self.value = self._next(True)
        elif key is Key.DOWN:
            self.value = self._next(False)
        elif key is Key.ACT:
            self._on_done(self.value, stack)


class ChoiceNode(Node):
    """Pick one of a few options (On/Off, a pattern, a role...)."""

    def __init__(self, title: str, options: Sequence[str],
                 on_done: Callable[[int, ScreenStack], None], *, current: int = 0,
                 lines: tuple[str, ...] = ()) -> None:
        self.title = title
        self.options = tuple(options)
        self.cursor = current
        self._on_done = on_done
        self.lines = lines

    def render(self) -> Screen:
        return Screen(ScreenKind.CHOICE, self.title, lines=self.lines, items=self.options,
                      cursor=self.cursor, value=self.options[self.cursor] if self.options else "")

    def key(self, key: Key, stack: ScreenStack) -> None:
        if key is Key.ESC:
            stack.pop()
        elif not self.options:
            return
        elif key is Key.UP:
            self.cursor = (self.cursor - 1) % len(self.options)
        elif key is Key.DOWN:
            self.cursor = (self.cursor + 1) % len(self.options)
        elif key is Key.ACT:
            self._on_done(self.cursor, stack)


#: Characters a device id or an address can be entered with, in scroll order.
ADDRESS_ALPHABET = (
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:_.-"
)
#: Shown as the last "character": ACT on it finishes the entry.
END_MARK = "#"


class TextNode(Node):
    """Enter text one character at a time: UP/DOWN scroll, ACT takes the character.

    ACT on :data:`END_MARK` finishes; ESC deletes the last character (or
    leaves when there is none).  ``value`` shows the text so far followed by
    the character under the cursor.
    """

    def __init__(self, title: str, on_done: Callable[[str, ScreenStack], None], *,
                 max_len: int = 40, alphabet: str = ADDRESS_ALPHABET,
                 lines: tuple[str, ...] = ()) -> None:
        self.title = title
        self._on_done = on_done
        self.max_len = max_len
        self.symbols = alphabet + END_MARK
        self.text = ""
        self.index = 0
        self.lines = lines

    @property
    def current(self) -> str:
        return self.symbols[self.index]

    def render(self) -> Screen:
        return Screen(ScreenKind.TEXT, self.title, lines=self.lines,
                      value=self.text + self.current)

    def key(self, key: Key, stack: ScreenStack) -> None:
        if key is Key.ESC:
            if self.text:
                self.text = self.text[:-1]
            else:
                stack.pop()
        elif key is Key.UP:
            self.index = (self.index + 1) % len(self.symbols)
        elif key is Key.DOWN:
            self.index = (self.index - 1) % len(self.symbols)
        elif key is Key.ACT:
            if self.current == END_MARK:
                self._on_done(self.text, stack)
            elif len(self.text) < self.max_len:
                self.text += self.current
                self.index = 0


class ConfirmNode(Node):
    """A question: ACT confirms, ESC goes back."""

    def __init__(self, title: str, lines: tuple[str, ...],
                 on_confirm: Callable[[ScreenStack], None],
                 kind: ScreenKind = ScreenKind.CONFIRM) -> None:
        self.title = title
        self.lines = lines
        self._on_confirm = on_confirm
        self.kind = kind

    def render(self) -> Screen:
        return Screen(self.kind, self.title, lines=self.lines)

    def key(self, key: Key, stack: ScreenStack) -> None:
        if key is Key.ESC:
            stack.pop()
        elif key is Key.ACT:
            self._on_confirm(stack)


class MessageNode(Node):
    """A message (a refusal, a result): ACT or ESC returns to the home screen."""

    def __init__(self, title: str, lines: tuple[str, ...]) -> None:
        self.title = title
        self.lines = lines

    def render(self) -> Screen:
        return Screen(ScreenKind.MESSAGE, self.title, lines=self.lines)

    def key(self, key: Key, stack: ScreenStack) -> None:
        if key in (Key.ACT, Key.ESC):
            stack.home()
