"""leadscore MLServer predictor: a custom MLServer runtime for the leadscore model artifact.

``runtime.LeadScoringRuntime`` answers Open Inference Protocol v2 ``infer`` (probability, margin, tier,
reason-code contributions) and, as MLServer custom handlers on the same port, the CRM ``POST /score-lead``,
its OpenAPI document and ``GET /metrics``.
"""
