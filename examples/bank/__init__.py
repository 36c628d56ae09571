"""The demo bank: an HTTP service whose state Amber checkpoints, in three releases.

``common`` holds the business rules and the participants, ``v1``/``v2``/``v3`` the record
types of each release, ``service`` the HTTP server and its manager, ``client`` the load
generator, and ``demo`` the script ``make demo`` runs.
"""
