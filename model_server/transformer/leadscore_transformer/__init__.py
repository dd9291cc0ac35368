"""leadscore CRM front: the ``/score-lead`` contract, shared by the kserve transformer and the MLServer predictor.

The modules here are framework-free (pydantic, numpy, prometheus-client, limits, PyJWT): the kserve
transformer (:mod:`leadscore_transformer.transformer`) and the MLServer predictor's custom handler both
build a :class:`~leadscore_transformer.front.ScoringFront` and call it. Only ``transformer`` and
``__main__`` import kserve.
"""
