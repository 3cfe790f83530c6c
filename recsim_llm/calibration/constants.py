"""Constants and array types shared by the calibration modules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recsim_llm.catalog.movielens import Variant
from recsim_llm.config import ChoiceConfig

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CALIBRATION_SCENARIOS: dict[str, tuple[Variant, str]] = {"ml-100k": ("100k", "ml-100k"),
                         "ml-latest-small": ("latest-small", "ml-latest-small")}
"""scenario name -> (MovieLens variant, folder name under ``$RECSIM_LLM_DATA_DIR``)"""
ITEM_PRIORS = ("popularity", "mean_rating")
"""item priors counted from the ratings of a period"""
SHIPPED_MODEL = "text+popularity"
"""the model the MovieLens scenarios ship: text taste + training-period popularity as appeal"""
POPULARITY_BINS = 10
"""popularity-matched protocol: negatives from the positive's training-popularity decile"""
LIKE_THRESHOLD = 4.0
"""a rating >= this is a liked film (the positives)"""
DISLIKE_THRESHOLD = 2.5
"""a rating <= this is a disliked film (as in the personas' dislikes)"""
PERSONA_FRACTION = 0.6
"""share of each user's ratings the fitted personas are written from"""
TRAIN_FRACTION = 0.8
"""share of each user's ratings in the training period (as the ML scenarios' personas)"""
NEG_PER_POS = 4
"""sampled unseen films per liked film in the fit events"""
RATIOS = (1, 3, 9)
"""unseen films per held-out liked film in the yes/no evaluation"""
MIN_RATINGS = 10
"""users with fewer ratings cannot be split into persona / fit / held-out periods"""
POSITION_BIAS_NOTE = ("not identifiable from MovieLens (no logged slates or positions, only "
                      "ratings); the default ChoiceConfig.position_bias "
                      f"= {ChoiceConfig().position_bias} is kept")
PERIOD_NAMES = ("persona", "fit", "held-out")
