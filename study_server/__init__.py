"""2AFC crowd studies: the Flask app (``stylestudy.study_server.app.create_app``), study design and
allocation, platform adapters (Prolific, link, MTurk), exports and simulated participants.

Submodules are imported on use, so ``stylestudy`` commands start without loading Flask.
"""
