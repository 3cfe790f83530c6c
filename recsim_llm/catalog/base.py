"""The item catalog: ids, texts and the labels every metric needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Catalog:
    """Items as parallel arrays, index ``i`` in ``[0, n_items)`` being the simulator's item id.

    The policy may see ``item_ids``, ``titles``, ``texts``, ``topics`` and ``provider``;
    ``appeal`` and ``value`` are hidden (only the simulator and the privileged oracles read them).
    Appeal is what gets an item clicked (the hook of its title; popularity on real data), value
    what consuming it gives (the rating on real data): ``docs/user_model.md``.
    """

    item_ids: npt.NDArray[np.str_]
    """[n] external ids (as strings), e.g. MovieLens movieId"""
    titles: list[str]
    """[n] short titles"""
    texts: list[str]
    """[n] the full text fed to the encoder (title, description, genres, tags)"""
    topics: npt.NDArray[np.int64]
    """[n] primary topic index into ``topic_names``"""
    topic_names: tuple[str, ...]
    """names of the topics (synthetic topics or genres)"""
    provider: npt.NDArray[np.int64]
    """[n] provider index (synthetic provider; on MovieLens a proxy, documented by the loader)"""
    provider_group: npt.NDArray[np.int64]
    """[n] provider group index into ``provider_group_names``"""
    provider_group_names: tuple[str, ...]
    """names of the provider groups, e.g. ('major', 'independent')"""
    appeal: npt.NDArray[np.float64]
    """[n] hidden appeal in [0, 1]: enters the click utility as ``h_u * appeal_i``"""
    value: npt.NDArray[np.float64]
    """[n] hidden value in [-1, 1] (0 neutral): enters realised satisfaction as
    ``w_value * value_i``"""
    arrival_day: npt.NDArray[np.int64]
    """[n] day the item enters the catalog (0 = present from the start)"""
    topic_matrix: npt.NDArray[np.bool_] | None = None
    """[n, n_topics] multi-label topics (e.g. all genres of a film); None = one-hot of topics"""
    source: str = "synthetic"
    """where the catalog came from (scenario name or file path)"""
    history_clicks: npt.NDArray[np.int64] | None = None
    """[n] clicks the platform logged before the simulation starts (public: its own history;
    on MovieLens the training period's ratings of each film); None = a new platform, no clicks.
    The platform's per-item click counts start from it
    (:class:`~recsim_llm.platform.PlatformLog`)."""
    extra: dict = field(default_factory=dict)
    """loader-specific columns (e.g. year, popularity counts), each an array of length n"""

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if n == 0:
            raise ValueError("a catalog needs at least one item")
        for name in ("titles", "texts", "topics", "provider", "provider_group", "appeal",
                     "value", "arrival_day"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Catalog.{name} has length {len(getattr(self, name))}, "
                                 f"expected {n} (one per item)")
        if self.topics.min() < 0 or self.topics.max() >= len(self.topic_names):
            raise ValueError("Catalog.topics holds an index outside topic_names")
        if self.provider_group.min() < 0 or self.provider_group.max() >= len(
                self.provider_group_names):
            raise ValueError("Catalog.provider_group holds an index outside provider_group_names")
        for name, lo in (("appeal", 0.0), ("value", -1.0)):
            arr = np.asarray(getattr(self, name), np.float64)
            bad = ~np.isfinite(arr) | (arr < lo) | (arr > 1.0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"Catalog.{name} must be finite and in [{lo:g}, 1]: item "
                                 f"{self.item_ids[i]!r} (row {i}) has {arr[i]!r}")
        if self.history_clicks is not None:
            h = np.asarray(self.history_clicks)
            if h.shape != (n,) or not np.issubdtype(h.dtype, np.integer) or (h < 0).any():
                raise ValueError("Catalog.history_clicks must be [n_items] non-negative integer "
                                 "counts")
        if self.topic_matrix is not None and self.topic_matrix.shape != (n, len(self.topic_names)):
            raise ValueError("Catalog.topic_matrix must have shape [n_items, n_topics]")

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_topics(self) -> int:
        return len(self.topic_names)

    def trap_thresholds(self) -> tuple[float, float]:
        """The trap's bounds: the top third of appeal and the bottom third of value of this
        catalog, ``(appeal >= hi, value <= lo)``."""
        return float(np.quantile(self.appeal, 2.0 / 3.0)), float(np.quantile(self.value, 1.0 / 3.0))

    def trap_items(self) -> npt.NDArray[np.bool_]:
        """[n] the engagement trap: items in the top third of appeal *and* the bottom third of
        value of this catalog (what gets clicked but does not satisfy; ``docs/metrics.md``)."""
        hi, lo = self.trap_thresholds()
        return (self.appeal >= hi) & (self.value <= lo)

    def topic_onehot(self) -> npt.NDArray[np.float32]:
        """[n, n_topics] topic weights summing to 1 per item (multi-label spread evenly)."""
        if self.topic_matrix is not None:
            m = self.topic_matrix.astype(np.float32)
            s = m.sum(axis=1, keepdims=True)
            s[s == 0] = 1.0
            return m / s
        out = np.zeros((self.n_items, self.n_topics), np.float32)
        out[np.arange(self.n_items), self.topics] = 1.0
        return out

    def subset(self, index: npt.NDArray[np.int64]) -> Catalog:
        """A new catalog of the given rows, in that order."""
        idx = np.asarray(index)
        return Catalog(
            item_ids=self.item_ids[idx], titles=[self.titles[i] for i in idx],
            texts=[self.texts[i] for i in idx], topics=self.topics[idx],
            topic_names=self.topic_names, provider=self.provider[idx],
            provider_group=self.provider_group[idx],
            provider_group_names=self.provider_group_names, appeal=self.appeal[idx],
            value=self.value[idx],
            arrival_day=self.arrival_day[idx],
            topic_matrix=None if self.topic_matrix is None else self.topic_matrix[idx],
            source=self.source,
            history_clicks=None if self.history_clicks is None else self.history_clicks[idx],
            extra={k: np.asarray(v)[idx] for k, v in self.extra.items()})
