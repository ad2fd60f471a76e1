"""The people who wear the pump.

:class:`~pumplab.people.person.Person` eats, counts carbs (with error),
checks BG with the meter, boluses with the wizard through the pump's keys,
reads the pump's screen, answers alarms after a delay (longer asleep), cancels
a bolus they did not start when the pump announces it, and treats lows.  Attack
outcomes depend on what the person does, so every behaviour is an explicit,
seeded, documented parameter (docs/people.md).
"""

from pumplab.people.person import Person, PersonEnvironment, PersonProfile

__all__ = ["Person", "PersonEnvironment", "PersonProfile"]
