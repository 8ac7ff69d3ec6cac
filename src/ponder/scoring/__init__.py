"""Scoring: reading answers out of replies and judging them (``answers``), running code
(``code``, ``sandbox``), and the verifier plug-ins (``scorers``)."""
