"""leadscore CRM front: the ``/score-lead`` contract, shared by the kserve transformer and the MLServer predictor.

The modules here are framework-free (pydantic, numpy, prometheus-client, limits, PyJWT): the kserve
transformer (``leadscore_transformer``) and the MLServer predictor's custom handler both build a
:class:`~leadscore_front.front.ScoringFront` and call it. Nothing here imports kserve or mlserver.
"""
