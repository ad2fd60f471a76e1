"""Closed-loop control: the controller interface, the safety supervisor, oref0."""
