"""Configuration: one validated model, fed by YAML files and CLI options alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml
from pydantic import (BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError,
                      model_validator)

from .errors import ConfigError, GraspError
from .presets import METHODS, with_preset

if TYPE_CHECKING:
    from .environment import Environment
    from .agent.selection import Selection

T = TypeVar("T", bound=BaseModel)
HELD_OUT_BASE = 1000  # the sealed world of run seed S is HELD_OUT_BASE + S unless the config names one
# The run config's default last-round notice: the environment's own (Environment.last_round_notice), which names
# its own answer form; a run records the text it resolved to.
ENVIRONMENT_NOTICE = "environment"


class ModelConfig(BaseModel):
    """How to reach a model. ``provider: local`` is the embedded model (no network, no key)."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["local", "openai"] = "local"
    model: str | None = None  # the server's model name (openai)
    base_url: str | None = None  # e.g. http://localhost:8000/v1 (openai)
    api_key_env: str | None = None  # name of the environment variable that holds the key
    gguf: Path | None = None  # a GGUF to load instead of the embedded weights (local)
    gguf_sha256: str | None = None
    n_ctx: int = 8192
    n_threads: int | None = None
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int = 384
    timeout_s: float = 180.0
    retries: int = 4
    supports_schema: bool = True  # false: the same as structured_output: text (kept for older configs)
    # openai: how a JSON schema is sent. auto: json_schema, then json_object with the schema inside it, then the
    # schema in the prompt, each tried when the server refuses the one before, and remembered for the run.
    structured_output: Literal["auto", "json_schema", "json_object", "text"] = "auto"
    # openai: the request field that carries the environment's action grammar (GBNF): "grammar" for llama.cpp's
    # servers, "guided_grammar" for vLLM, null to send none. A refused default is dropped; a set one is kept.
    grammar_field: str | None = "grammar"
    prices: dict[str, float] = Field(default_factory=dict)  # USD per 1M tokens: {"prompt": .., "completion": ..}


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The acceptance rule (grasp/improve/rules.py): grasp (the gate below), accept-all (no gate),
    # strict (held-out accuracy must strictly improve), paired-se (mean paired change > k x SE).
    rule: Literal["grasp", "accept-all", "strict", "paired-se"] = "grasp"
    k: float = 1.0  # paired-se only
    regression_budget: int = 0
    invalid_penalty: float = 2.0  # lambda
    alpha: float | None = None  # paired exact test on discordant items; None: off
    early_reject: bool = True
    # Dev tasks held back from training for the first decisions' probes; 0: probe_size. The main job's 6 is one of
    # each stratum per family, so the first decision's probe holds a failing item of the family it learns.
    probe_pool: int = 6
    sampler: Literal["balanced", "random"] = "balanced"  # half failing / half passing by family, or uniform


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: int = 1  # K: the proposer's drafts per decision (the paper's 4: method grasp-k4)
    proposal_temperature: float = 0.7
    proposal_tokens: int = Field(default=700, ge=64)  # a proposal cut off mid-draft is lost: leave room
    # Where candidates come from (grasp/improve/sources.py): the comparative proposer (K = candidates),
    # grounded induction from a passing trace, and/or reflection notes (a memory baseline).
    sources: list[Literal["proposer", "induction", "reflection"]] = Field(
        default_factory=lambda: ["induction", "proposer"])
    memory_notes: int = Field(default=8, ge=1)  # reflection: notes kept, oldest out
    # The final library: the best on val after any epoch (the no-skill library competes; on a tie the
    # later library wins, since each of its edits passed the gate), or the last one (an ungated baseline).
    checkpoint: Literal["best-val", "last"] = "best-val"
    # The refine loop (grasp/improve/refine.py): each candidate is linted (the environment's check_skill and the
    # core's checks) and, with `trial`, tried on the batch failures it was built for; the first complaint goes
    # back to the writer, at most `refinements` times a candidate. One that still fails is refused with no probe
    # spent.
    trial: bool = True
    refinements: int = Field(default=2, ge=0)
    # Collapse recovery probes removing the newest skill only when a batch falls this far below what no
    # skills score on dev for the same families (a weak executor's no-skill accuracy may itself be ~0).
    collapse_margin: float = Field(default=0.3, gt=0, le=1)


class ExploreConfig(BaseModel):
    """Finding a pass when a family has none: a failing episode's rejected action amended from the environment's
    answer, with no model (grasp/improve/amend.py), then finished by the executor."""

    model_config = ConfigDict(extra="forbid")

    # This many accepted amendments per failing task are finished by the executor, and up to amend_checks
    # variants are tried on the environment to find them; 0 turns it off.
    # Measured on both built-in environments (docs/results.md, 2026-12-03/04): the weather network's value
    # items 0/24 -> 24, 15, 15 of 24; FHIR without its help (grasp-bare) 0 -> 7/14, 6/13, 8/19 where it had
    # learned on one seed of three; FHIR with its help 7/14, 6/13, 8/19 (one item fewer on seed 1).
    amendments: int = Field(default=12, ge=0)
    amend_checks: int = Field(default=1500, ge=1)
    # An amended pass is replayed on up to this many other training tasks of its family, with their own
    # values, before it is learned from (grasp/improve/explore.py): a request right by luck fails a peer.
    peers: int = Field(default=3, ge=0)


class Budget(BaseModel):
    """Where a run pauses, resumable (``grasp improve --resume RUN`` with a larger budget): a number of stored
    episodes, or dollars at the configured prices. None: no limit."""

    model_config = ConfigDict(extra="forbid")

    episodes: PositiveInt | None = None
    usd: PositiveFloat | None = None


class AdvancedConfig(BaseModel):
    """What an ablation or a new environment may touch; a method's preset (grasp/presets.py) sets some of it."""

    model_config = ConfigDict(extra="forbid")

    loop: LoopConfig = Field(default_factory=LoopConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    explore: ExploreConfig = Field(default_factory=ExploreConfig)
    # Added to what the executor reads before its last allowed action, in every episode alike (no skills,
    # every library, probes, val and test): a small model that has its value in front of it otherwise
    # often repeats the request instead of answering. "environment": the environment's own wording (it names its
    # answer form: FINISH for FHIR and weather); None or "" turns it off; any other text is used as written.
    last_round_notice: str | None = ENVIRONMENT_NOTICE
    # The environment's hand-written help to the learner (check_skill, mend_skill, its proposer brief, its
    # placeholder notes); false runs the method on its own (Environment.hints unread; the method grasp-bare).
    environment_help: bool = True
    # What the grader said about a failed training item (its reason and tags) is shown to the skill writer beside
    # the trace; false: only that it failed. A probe's or a sealed item's outcome is read as pass/fail either way.
    grader_feedback: bool = True
    # How an episode's skills are chosen: "family" (a skill tagged with the task's family comes first: the label a
    # benchmark has) or "words" (the task's text against each skill's description and name only: what a deployed
    # agent, or an exported library read by another agent, has). The same in learning, the sealed test and eval.
    routing: Literal["family", "words"] = "family"
    budget: Budget = Field(default_factory=Budget)
    cache: bool = True  # reuse temperature-0 model replies across runs in the same database
    # Also run the environment's reference library (if it ships one) on the sealed test, as a ceiling.
    reference: bool = True
    # The seed of the held-out world the sealed test is drawn from (Environment.held_out); None: HELD_OUT_BASE +
    # seed, so every run seed is measured on a world of its own that nobody developed on.
    sealed_world: NonNegativeInt | None = None


DEFAULT_LIMITS: dict[str, int | None] = {"dev": 18, "val": 0, "test": 24}


class RunConfig(BaseModel):
    """Everything ``grasp improve`` needs; configs/*.yaml are this, as YAML.

    The keys a person sets are at the top, at the main job's scale for the embedded model by default (the
    README lists them); ``advanced`` holds the rest, and ``method`` names a preset of it."""

    model_config = ConfigDict(extra="forbid")

    method: str = "grasp"  # grasp, grasp-bare, grasp-k4, ungated-k1, ungated-k4, memory, awm, strict, paired-se
    environment: str = "fhir"
    # Options for the environment's constructor, e.g. {task_file: tasks.json, base_url: http://host/fhir/}
    environment_options: dict[str, str | int | float] = Field(default_factory=dict)
    seed: int = 0
    library: str | None = None  # name of the library to learn into; default: run id
    executor: ModelConfig = Field(default_factory=ModelConfig)
    proposer: ModelConfig | None = None  # default: the executor's model
    families: list[str] | None = None  # restrict to these task families
    # Tasks per split, laid over the defaults; null: the split whole. {"val": 0} runs no validation: the final
    # library is the gated head, with no best-val checkpoint choice.
    limits: dict[str, NonNegativeInt | None] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    max_rounds: int | None = None  # actions per episode; None: the environment's own limit
    epochs: int = 1
    batch_size: int = 3  # B: training tasks per decision
    probe_size: int = 6  # N: items a decision's probe holds, half failing and half passing now
    capacity: int = 4  # skills the library may hold
    skills_per_episode: int = 2
    concurrency: int = 1  # episodes at once (an endpoint that serves several)
    advanced: AdvancedConfig = Field(default_factory=AdvancedConfig)

    @model_validator(mode="before")
    @classmethod
    def _preset_and_limits(cls, data: Any) -> Any:
        """The method's preset laid over ``advanced``, and the limits given laid over the defaults."""
        if not isinstance(data, dict):
            return data
        method = data.get("method", "grasp")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r} (have: {', '.join(METHODS)})")
        advanced = data.get("advanced") or {}
        advanced = advanced.model_dump() if isinstance(advanced, BaseModel) else advanced
        data = {**data, "advanced": with_preset(advanced, method)}
        if isinstance(data.get("limits"), dict):
            data["limits"] = {**DEFAULT_LIMITS, **data["limits"]}
        return data

    # Read-only shortcuts into the advanced section.
    @property
    def loop(self) -> LoopConfig:
        return self.advanced.loop

    @property
    def gate(self) -> GateConfig:
        return self.advanced.gate

    @property
    def explore(self) -> ExploreConfig:
        return self.advanced.explore

    def with_advanced(self, **changes: Any) -> RunConfig:
        """This config with ``changes`` to its advanced section (``loop={...}`` merges into the loop's)."""
        data = self.model_dump(mode="json")
        for key, value in changes.items():
            value = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
            data["advanced"][key] = {**data["advanced"][key], **value} if isinstance(value, dict) else value
        return RunConfig.model_validate(data)

    def with_notice_of(self, environment: Environment) -> RunConfig:
        """This config with the last-round notice resolved to the text the executor reads in ``environment``."""
        if self.advanced.last_round_notice != ENVIRONMENT_NOTICE:
            return self
        return self.with_advanced(last_round_notice=environment.last_round_notice())

    @property
    def selection(self) -> Selection:
        """How each episode of this run chooses its skills."""
        from .agent.selection import Selection  # the agent package reads this module's model config

        return Selection(k=self.skills_per_episode, routing=self.advanced.routing)

    @property
    def sealed_world_seed(self) -> int:
        sealed = self.advanced.sealed_world
        return sealed if sealed is not None else HELD_OUT_BASE + self.seed


def stored_config(data: dict, *, run_id: str) -> RunConfig:
    """A run's recorded config; one made by a grasp whose settings differ is refused in one line."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as problem:
        first = problem.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"run {run_id} was recorded with a config this grasp cannot read (field '{where}': "
                          f"{first['msg']}); finish it with the grasp that started it") from None


def load_yaml(path: Path, model: type[T], *, what: str = "config file",
              error: type[GraspError] = ConfigError) -> T:
    """Read a YAML (or JSON, a subset of YAML) file into ``model``; errors name the file and the field."""
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML or JSON ({problem})") from None
    try:
        return model.model_validate(data)
    except ValidationError as problem:
        first = problem.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise error(f"{path}: field '{where}': {first['msg']}") from None


def model_config_from(spec: str, *, api_key_env: str | None = None) -> ModelConfig:
    """``--model``: a YAML file, ``local``, or ``openai:MODEL@BASE_URL``.

    A key is sent only when its variable is named (``--api-key-env`` or ``api_key_env`` in YAML):
    a key in the shell's environment never travels to a host the user did not mean it for."""
    if spec == "local":
        return ModelConfig()
    if spec.startswith("openai:"):
        name, _, url = spec[len("openai:"):].partition("@")
        if not name or not url:
            raise ConfigError(f"--model {spec!r}: expected openai:MODEL@BASE_URL")
        return ModelConfig(provider="openai", model=name, base_url=url, api_key_env=api_key_env)
    return load_yaml(Path(spec), ModelConfig)
