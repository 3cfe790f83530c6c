"""Calibrate the choice model on MovieLens; validate the user model on held-out data.

``recsim-llm calibrate --scenario ml-100k`` (see :func:`calibrate_command`) fits the free
constants of the simulator's choice model by maximum likelihood on each user's training period
and reports how well the fitted text-preference user model tells the films a user liked later
from films the user never rated. The equations, the choices below and measured results are in
``docs/validation.md``.

**Model.** The simulator draws a click from a multinomial logit over the slate plus a no-click
option (``users/choice.py``). An item shown alone is then clicked with probability
``sigmoid(v_ui - no_click_utility)``, the binary form fitted here, with

    v_ui = temperature * a_ui + w_prior * prior_i
    a_ui = cos(p_u, e_i) - lam_dislike * max(0, cos(q_u, e_i))

where ``p_u``/``q_u`` are the centred persona like/dislike embeddings and ``e_i`` the centred item
embeddings exactly as :func:`recsim_llm.scenarios.embed_world` builds them (``World.interest0``,
``World.dislike``, ``World.item_emb``), and ``prior_i`` in [0, 1] is an item prior: the
simulator's ``h_u * appeal_i`` term (``ChoiceConfig.w_appeal``; the scenarios use the training
period's popularity as appeal, so the shipped model is ``text+popularity``). Boredom is zero
(a fresh user), so ``beta_fatigue`` is not fitted. **Position bias is not identifiable** from
MovieLens: the data hold no logged slates or positions, only what was rated, so the default is
kept and the output says so.

**Periods (leakage).** Each user's ratings, sorted by (timestamp, item), are split by the same
rule as :func:`recsim_llm.personas.ratings.personas_from_history`: the first
``floor(0.6 n)`` are the *persona* period, the next up to ``floor(0.8 n)`` the *fit* period and
the rest the *held-out* period. A persona names the user's top-rated training films, so the
cosine to those very films is inflated; fitting on the same ratings the persona was written from
would overstate the weight of taste. The constants are therefore fitted on fit-period events
with personas written from the persona period only (and item priors counted on the persona period
only), and evaluated on the held-out period with the personas the ML scenarios use (written from
the first 80%) and priors counted on the first 80%. An ``in-sample`` fit (80% personas on the
same fit-period events) is reported beside it to measure the effect.

**Events.** Positives are fit-period ratings >= 4 ("liked"); for each positive,
``neg_per_pos`` (4) negatives are drawn uniformly, with replacement, from films the user has not
rated in the persona or fit period (a seeded generator). Ratings below 4 are neither positive nor
negative: the protocol is liked vs unseen, as in Agent4Rec. With ``k`` negatives per positive
the fitted intercept holds the ``log k`` of the sampling design (case-control sampling leaves the
slopes consistent and shifts only the intercept); it is corrected to balanced odds,
``no_click_utility = c_hat - log(n_neg / n_pos)``, so that ``P > 0.5`` means "more likely a liked
film than an unseen one". The absolute click rate of the simulator is not identified by
MovieLens either (there are no impressions), so this is a reference level, not a measured CTR.

**Fit.** ``scipy.optimize.minimize`` (L-BFGS-B) on the mean negative log-likelihood with its
analytic gradient, vectorised over events; bounds ``temperature, lam_dislike, w_prior >= 0``.
Standard errors come from the Gauss-Newton (Fisher) information ``J^T W J``; a parameter at a
bound gets NaN.

**Item priors** (each in [0, 1], counted on the period before the events they explain):
``popularity`` = ``log1p(count_i) / log1p(max_j count_j)`` of ratings; ``mean_rating`` = the
Bayesian-shrunk mean rating ``(sum r + m * global_mean) / (count + m)``, ``m = 10``, mapped from
the rating scale to [0, 1] (the scenarios' ``Catalog.value`` is the same mean on [-1, 1]).
The recommended prior is the one with the lower fit-period negative log-likelihood.

**Held-out protocol** (Agent4Rec, Zhang et al., SIGIR 2024): users with at least one held-out
liked film (rating >= 4); unseen films = never rated by the user at all. AUC is computed per user
(Mann-Whitney: the probability that a held-out liked film scores above an unseen one, ties
count half, against *all* the user's unseen films) and averaged over users; ``auc_pairs`` weighs
users by their number of pairs. For the yes/no decision, ``m`` unseen films per held-out liked
film are sampled per user without replacement (ratios 1:1, 1:3, 1:9; the samples are nested and
the same for every model: common random numbers), the model says yes when ``P > 0.5``, and
accuracy, precision, recall and F1 are micro-averaged over all pairs. The user model is not told
the ratio, like an agent that is not.

**Watched films** (the satisfaction side). Liked vs unseen measures what people *choose*; it
cannot credit the dislike term (a film the persona dislikes was still watched, so it resembles
what the user picks more than a random unseen film does). Each model is therefore also scored on
held-out liked (>= 4) vs disliked (<= 2.5, the personas' threshold) films of the same user
(``auc_liked_vs_disliked``), and four "rating" models are fitted on fit-period liked vs disliked
films (no sampling, intercept not corrected): they show which prior and which dislike weight
describe *enjoyment*, the simulator's realised satisfaction ``y = a - b + w_value * value``.

**Diagnostics.** The same text models without embedding centring
(``ScenarioConfig.center_embeddings=False``), and with the 256-dim ``HashingEncoder`` instead of
MiniLM, are fitted and scored on the same events so the value of centring and of text semantics
is visible.
"""

from __future__ import annotations

from recsim_llm.calibration.command import calibrate_command
from recsim_llm.calibration.constants import (
    CALIBRATION_SCENARIOS,
    ITEM_PRIORS,
    POPULARITY_BINS,
    SHIPPED_MODEL,
)
from recsim_llm.calibration.evaluation import (
    HeldOut,
    auc_score,
    binary_metrics,
    build_heldout,
    evaluate,
    matched_auc,
    per_user_auc,
    popularity_deciles,
)
from recsim_llm.calibration.fit import (
    ChoiceFit,
    Events,
    build_events,
    fit_choice_model,
    pair_features,
)
from recsim_llm.calibration.periods import item_prior, split_periods
from recsim_llm.calibration.report import format_report, headline
from recsim_llm.calibration.run import calibrate

__all__ = [
    "CALIBRATION_SCENARIOS",
    "ITEM_PRIORS",
    "POPULARITY_BINS",
    "SHIPPED_MODEL",
    "ChoiceFit",
    "Events",
    "HeldOut",
    "auc_score",
    "binary_metrics",
    "build_events",
    "build_heldout",
    "calibrate",
    "calibrate_command",
    "evaluate",
    "fit_choice_model",
    "format_report",
    "headline",
    "item_prior",
    "matched_auc",
    "pair_features",
    "per_user_auc",
    "popularity_deciles",
    "split_periods",
]
