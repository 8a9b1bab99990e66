"""Structural-schema handling of custom resources: defaulting, pruning, validation (incl. CEL) and the
structural check of CRD schemas, with kube-apiserver's error texts.

    v = CustomResourceValidator(openapi_v3_schema)
    obj = v.apply_defaults(v.prune(obj))
    causes = v.validate(obj, old=stored_or_None)
"""

from localcluster.schema.causes import Cause, aggregate_message, invalid_status_message
from localcluster.schema.structural import structural_errors
from localcluster.schema.validator import CustomResourceValidator, SchemaError

__all__ = [
    "Cause",
    "CustomResourceValidator",
    "SchemaError",
    "aggregate_message",
    "invalid_status_message",
    "structural_errors",
]
