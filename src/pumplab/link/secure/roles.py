"""The roles a paired device can hold, and the association model each one pairs with.

The user chooses the role on the pump's screen when opening the pairing window;
the pump's pairing record binds it to the device's identity, and the role of
every later frame comes from the key that authenticated it (issue 15's role
table).  The association model is fixed per role, never negotiated, against
method confusion (von Tschirschnitz et al., IEEE S&P 2021):

- numeric comparison for the controller app and a clinician's app;
- passkey entry, the pump showing a fresh passkey, for the remote and the meter;
- out-of-band data for the CGM transmitter (its r and C printed as a QR code).

This module holds names only; what a role may *do* is the pump's business.
"""

from __future__ import annotations

import enum

__all__ = ["ASSOCIATION_MODEL", "AssociationModel", "Role"]


class Role(enum.Enum):
    """What a paired peer may do, chosen on the pump's screen (issue 15's role table)."""

    CGM = "cgm"
    METER = "meter"
    REMOTE = "remote"
    CONTROLLER_APP = "controller_app"
    CLINICIAN = "clinician"


class AssociationModel(enum.Enum):
    NUMERIC_COMPARISON = "numeric_comparison"
    PASSKEY_ENTRY = "passkey_entry"
    OUT_OF_BAND = "out_of_band"
    JUST_WORKS = "just_works"  # only ever computed, to be refused


#: The association model of each role: fixed, never negotiated.
ASSOCIATION_MODEL: dict[Role, AssociationModel] = {
    Role.CONTROLLER_APP: AssociationModel.NUMERIC_COMPARISON,
    Role.CLINICIAN: AssociationModel.NUMERIC_COMPARISON,
    Role.REMOTE: AssociationModel.PASSKEY_ENTRY,
    Role.METER: AssociationModel.PASSKEY_ENTRY,
    Role.CGM: AssociationModel.OUT_OF_BAND,
}
