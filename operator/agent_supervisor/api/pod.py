"""Pod-level settings of an agent: the subset of the Pod API an agent's pod takes from its spec."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StrictInt, StrictStr, StringConstraints, model_validator

from agent_supervisor.api.base import (
    DATA_KEY_PATTERN,
    DNS_SUBDOMAIN_MAX,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    SpecError,
    cel_rule,
    validations,
)

# Kubernetes' resource.Quantity syntax (e.g. 500m, 1.5, 256Mi, 1e3) without a minus sign: a container's
# requests and limits are never negative (the Pod API refuses them, but only once the operator makes the pod).
_DECIMAL = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN = rf"^\+?{_DECIMAL}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_DECIMAL}))?$"
Quantity = (
    Annotated[StrictInt, Field(ge=0)]
    | Annotated[str, StringConstraints(strict=True, pattern=QUANTITY_PATTERN, max_length=64)]
)


class ResourceRequirements(ApiModel):
    """CPU, memory and other resources of the agent's container, as in a Pod's container `resources`."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        max_length=16,
        description="Resources reserved for the container, e.g. {cpu: 100m, memory: 128Mi}.",
    )
    limits: dict[str, Quantity] | None = Field(
        default=None,
        max_length=16,
        description=(
            "Most the container may use, e.g. {memory: 512Mi}; exceeding the memory limit is an abnormal "
            "exit."
        ),
    )


class SecretKeySelector(ApiModel):
    """A key of a Secret in the agent's namespace."""

    name: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the Secret."
    )
    key: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX, pattern=DATA_KEY_PATTERN, description="Key in the Secret."
    )


class ConfigMapKeySelector(ApiModel):
    """A key of a ConfigMap in the agent's namespace."""

    name: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the ConfigMap."
    )
    key: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX, pattern=DATA_KEY_PATTERN, description="Key in the ConfigMap."
    )


ENV_SOURCE_EXACTLY_ONE = "set exactly one of secretKeyRef or configMapKeyRef"


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule("has(self.secretKeyRef) != has(self.configMapKeyRef)", ENV_SOURCE_EXACTLY_ONE),
        )
    )

    secret_key_ref: SecretKeySelector | None = Field(
        default=None, description="Take the value from a Secret key."
    )
    config_map_key_ref: ConfigMapKeySelector | None = Field(
        default=None, description="Take the value from a ConfigMap key."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvVarSource:
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise SpecError("secretKeyRef", ENV_SOURCE_EXACTLY_ONE)
        return self


ENV_VALUE_OR_SOURCE = "set value or valueFrom, not both"


class EnvVar(ApiModel):
    """An environment variable of the agent's container."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule("!(has(self.value) && has(self.valueFrom))", ENV_VALUE_OR_SOURCE, ".valueFrom"),
        )
    )

    name: StrictStr = Field(
        max_length=128, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", description="Name of the variable."
    )
    value: StrictStr | None = Field(default=None, max_length=32_768, description="Literal value.")
    value_from: EnvVarSource | None = Field(
        default=None, description="Take the value from a Secret or ConfigMap."
    )

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise SpecError("valueFrom", ENV_VALUE_OR_SOURCE)
        return self


class TolerationOperator(StrEnum):
    """How a toleration matches a taint's value."""

    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    """The taint effect a toleration tolerates."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(ApiModel):
    """Lets the agent's pod run on nodes with a matching taint, as a Pod's `tolerations` entry."""

    key: StrictStr | None = Field(
        default=None, max_length=316, description="Taint key to match; empty with Exists matches every taint."
    )
    operator: TolerationOperator = Field(
        default=TolerationOperator.EQUAL, description="Exists (any value) or Equal (the value must match)."
    )
    value: StrictStr | None = Field(
        default=None, max_length=63, description="Taint value to match, with Equal."
    )
    effect: TaintEffect | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: StrictInt | None = Field(
        default=None, description="With NoExecute: how long the pod stays bound after the taint appears."
    )
