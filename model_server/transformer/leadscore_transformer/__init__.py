"""leadscore kserve transformer: the CRM front (:mod:`leadscore_front`) in front of the MLServer predictor.

Only ``transformer``, ``app`` and ``__main__`` are here; the ``/score-lead`` contract, validation, auth,
rate limit and metrics live in the shared ``leadscore_front`` package that the predictor installs too.
"""
