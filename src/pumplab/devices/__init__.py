"""Device models: the pump, its durable history, and its companions (CGM
transmitter, meter, remote, controller app), plus export of a pump history to
Nightscout and Tidepool shapes.

Importing this package imports no submodule, so each user pays only for the
devices it uses.
"""
