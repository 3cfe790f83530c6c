"""The built-in synthetic text catalog: natural-language item descriptions over topics.

Needs no files. Each topic has a small vocabulary (subjects, formats, moods, tags, title words);
an item is a sentence built from its topic's vocabulary, sometimes blended with a second topic,
so a real text encoder sees topical structure *and* item-level variety. Topic sizes and provider
sizes follow Zipf laws (the long tail). Deterministic per seed.

Each item has a hidden **appeal** (its hook: what gets it clicked) and a hidden **value** (what
consuming it gives). A share ``clickbait_share`` of items is written in a sensational clickbait
register -- a teaser title, a shock opener, a "you won't believe" promise and viral tags, around
the same topical content -- with high appeal and low value; the other items are written plainly.
The register is in the text, so a text model can learn to recognise it; appeal and value are not
(``docs/user_model.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsim_llm.catalog.base import Catalog
from recsim_llm.config import CatalogConfig


@dataclass(frozen=True)
class Topic:
    name: str
    subjects: tuple[str, ...]
    formats: tuple[str, ...]
    moods: tuple[str, ...]
    tags: tuple[str, ...]
    title_words: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic("space science fiction",
          ("astronauts exploring a distant galaxy", "a starship crew lost beyond the solar system",
           "first contact with an alien civilisation", "colonists terraforming Mars",
           "a rogue AI aboard an orbital station", "wormholes and time dilation"),
          ("film", "series", "novel", "audio drama"),
          ("cerebral", "epic", "tense", "awe-inspiring"),
          ("sci-fi", "space", "aliens", "future", "astronauts"),
          ("Star", "Orbit", "Nebula", "Void", "Quasar", "Horizon", "Galaxy")),
    Topic("romantic comedy",
          ("two rivals who fall in love at a wedding", "a chance meeting in a Paris bakery",
           "a fake engagement that turns real", "old flames reunited at a high-school reunion",
           "a matchmaker who cannot find her own match", "roommates slowly falling for each other"),
          ("film", "series", "novel"),
          ("charming", "witty", "heartwarming", "light-hearted"),
          ("romance", "comedy", "love", "feel-good", "dating"),
          ("Love", "Kiss", "Heart", "Date", "Bouquet", "Valentine", "Crush")),
    Topic("true crime",
          ("an unsolved murder in a small town", "a con artist who fooled bankers",
           "detectives reopening a cold case", "a wrongful conviction overturned",
           "the hunt for a serial killer", "a heist that went wrong"),
          ("documentary", "podcast", "docuseries", "book"),
          ("gripping", "dark", "investigative", "chilling"),
          ("crime", "mystery", "investigation", "justice", "murder"),
          ("Case", "Verdict", "Evidence", "Alibi", "Motive", "Suspect", "Witness")),
    Topic("cooking",
          ("quick weeknight pasta recipes", "baking sourdough bread at home",
           "street food across Southeast Asia", "vegetarian dishes from the Mediterranean",
           "a chef's guide to French sauces", "barbecue and smoking meat"),
          ("cooking show", "recipe video", "cookbook", "food vlog"),
          ("cosy", "practical", "mouth-watering", "relaxed"),
          ("food", "recipes", "cooking", "kitchen", "baking"),
          ("Kitchen", "Spice", "Feast", "Oven", "Flavour", "Table", "Harvest")),
    Topic("jazz music",
          ("bebop legends of the 1950s", "a live saxophone improvisation",
           "the story of Blue Note records", "modern jazz piano trios",
           "swing big bands", "late-night smooth jazz"),
          ("album", "concert film", "music documentary", "playlist"),
          ("smooth", "soulful", "improvised", "mellow"),
          ("jazz", "music", "saxophone", "piano", "swing"),
          ("Blue", "Note", "Swing", "Groove", "Midnight", "Bebop", "Trio")),
    Topic("football",
          ("a club's fight against relegation", "the greatest World Cup finals",
           "tactics of modern pressing football", "a striker's rise from the streets",
           "behind the scenes of a Champions League season", "rival fans and derby days"),
          ("sports documentary", "match highlights", "podcast", "biography"),
          ("thrilling", "passionate", "competitive", "emotional"),
          ("football", "soccer", "sport", "goals", "league"),
          ("Goal", "Derby", "Pitch", "Kickoff", "Striker", "Cup", "Stadium")),
    Topic("horror",
          ("a haunted house in the woods", "a cursed video tape",
           "zombies overrunning a city", "a possessed child and an exorcism",
           "a slasher stalking summer campers", "an ancient evil awakened in a crypt"),
          ("film", "series", "novel", "game"),
          ("terrifying", "gory", "creepy", "suspenseful"),
          ("horror", "scary", "ghosts", "monsters", "blood"),
          ("Dread", "Crypt", "Shadow", "Haunting", "Grave", "Nightmare", "Curse")),
    Topic("world history",
          ("the fall of the Roman Empire", "the Second World War in the Pacific",
           "the Silk Road trade routes", "the French Revolution",
           "ancient Egyptian pharaohs", "the Cold War space race"),
          ("documentary", "lecture series", "history book", "podcast"),
          ("informative", "sweeping", "scholarly", "fascinating"),
          ("history", "empires", "war", "ancient", "civilisation"),
          ("Empire", "Dynasty", "Chronicle", "Legacy", "Crown", "Era", "Conquest")),
    Topic("video games",
          ("speedrunning a classic platformer", "an open-world fantasy role-playing game",
           "competitive esports tournaments", "indie puzzle games",
           "retro arcade consoles", "a battle royale shooter"),
          ("gameplay video", "game review", "let's play stream", "game"),
          ("fun", "competitive", "nostalgic", "addictive"),
          ("gaming", "games", "esports", "console", "controller"),
          ("Quest", "Pixel", "Level", "Boss", "Respawn", "Arcade", "Loot")),
    Topic("gardening",
          ("growing tomatoes on a balcony", "designing a cottage garden",
           "composting and healthy soil", "caring for houseplants",
           "pruning roses and fruit trees", "a vegetable allotment through the seasons"),
          ("how-to video", "gardening show", "guide book", "podcast"),
          ("calming", "practical", "green", "peaceful"),
          ("garden", "plants", "flowers", "growing", "soil"),
          ("Bloom", "Seed", "Meadow", "Petal", "Root", "Orchard", "Greenhouse")),
    Topic("travel",
          ("backpacking through South America", "a road trip across Iceland",
           "hidden beaches of the Greek islands", "a train journey across Japan",
           "budget travel in Europe", "a safari in Kenya"),
          ("travel vlog", "travel guide", "documentary", "photo book"),
          ("adventurous", "scenic", "inspiring", "relaxing"),
          ("travel", "adventure", "journey", "explore", "destinations"),
          ("Voyage", "Compass", "Journey", "Passport", "Trail", "Wander", "Coast")),
    Topic("personal finance",
          ("investing in index funds", "paying off debt fast",
           "saving for early retirement", "understanding the stock market",
           "budgeting for a young family", "buying a first home"),
          ("explainer video", "podcast", "finance book", "course"),
          ("practical", "clear", "motivating", "analytical"),
          ("money", "finance", "investing", "savings", "budget"),
          ("Wealth", "Capital", "Ledger", "Dividend", "Fortune", "Budget", "Asset")),
    Topic("classical music",
          ("Beethoven's symphonies", "a Mozart opera at Vienna",
           "Bach's cello suites", "a young violin prodigy", "Chopin nocturnes on piano",
           "a conductor rehearsing an orchestra"),
          ("concert recording", "album", "music documentary", "masterclass"),
          ("elegant", "moving", "majestic", "serene"),
          ("classical", "orchestra", "symphony", "opera", "composer"),
          ("Sonata", "Opus", "Prelude", "Aria", "Overture", "Requiem", "Fugue")),
    Topic("fitness",
          ("a 20-minute home workout", "training for a first marathon",
           "yoga for flexibility", "strength training for beginners",
           "high-intensity interval training", "recovery and stretching routines"),
          ("workout video", "training plan", "fitness app session", "podcast"),
          ("energetic", "motivating", "intense", "uplifting"),
          ("fitness", "workout", "exercise", "health", "training"),
          ("Pulse", "Sweat", "Core", "Stride", "Burn", "Power", "Flex")),
    Topic("wildlife nature",
          ("whales migrating across the ocean", "lions hunting on the savannah",
           "the secret life of forest insects", "penguins surviving the Antarctic winter",
           "coral reefs under threat", "birds of the rainforest canopy"),
          ("nature documentary", "photo essay", "series", "book"),
          ("breathtaking", "beautiful", "wild", "poignant"),
          ("nature", "animals", "wildlife", "ocean", "planet"),
          ("Wild", "Tide", "Savannah", "Canopy", "Reef", "Pack", "Migration")),
    Topic("stand-up comedy",
          ("a comedian's take on family holidays", "observational jokes about office life",
           "a satirical look at politics", "improvised crowd work",
           "awkward dating stories", "growing up as an immigrant kid"),
          ("stand-up special", "comedy podcast", "sketch show", "live set"),
          ("hilarious", "sharp", "irreverent", "silly"),
          ("comedy", "jokes", "funny", "stand-up", "laughs"),
          ("Punchline", "Laugh", "Joke", "Roast", "Giggle", "Encore", "Mic")),
)
"""The built-in topic vocabularies; ``CatalogConfig.n_topics`` takes the first n."""

PROVIDER_GROUPS = ("major", "independent")


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Probabilities proportional to ``rank ** -exponent`` over ranks 1..n, shape [n]."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


CLICKBAIT_TEASERS = ("You Won't Believe", "This Changes Everything:", "Shocking Truth About",
                     "What Happens Next Will Stun You:", "Nobody Expected", "The Secret of")
"""title openers of the clickbait register"""
CLICKBAIT_OPENERS = ("SHOCKING", "UNBELIEVABLE", "MUST SEE", "INSANE", "JAW-DROPPING")
CLICKBAIT_PROMISES = ("number seven will blow your mind", "you will never guess the ending",
                      "everyone is talking about it", "they tried to hide this",
                      "it went viral overnight")
CLICKBAIT_TAGS = ("viral", "shocking", "trending", "must-see", "omg")


def _item_text(topic: Topic, second: Topic | None, rng: np.random.Generator,
               clickbait: bool = False) -> tuple[str, str]:
    title = f"{rng.choice(topic.title_words)} {rng.choice((*topic.title_words, 'of', 'and'))} " \
            f"{rng.choice(topic.title_words)}"
    title = " ".join(dict.fromkeys(title.split()))  # no repeated words
    subject = rng.choice(topic.subjects)
    tags = list(rng.choice(topic.tags, size=3, replace=False))
    if clickbait:
        title = f"{rng.choice(CLICKBAIT_TEASERS)} {title}"
        text = (f"{title}! {rng.choice(CLICKBAIT_OPENERS)}: a {rng.choice(topic.formats)} about "
                f"{subject}, and {rng.choice(CLICKBAIT_PROMISES)}")
        tags += [str(t) for t in rng.choice(CLICKBAIT_TAGS, size=2, replace=False)]
    else:
        text = f"{title}: a {rng.choice(topic.moods)} {rng.choice(topic.formats)} about {subject}"
    if second is not None:
        text += f", with a touch of {rng.choice(second.subjects)}"
        tags.append(str(rng.choice(second.tags)))
    return title, text + ". Tags: " + ", ".join(tags) + "."


def generate_catalog(cfg: CatalogConfig, rng: np.random.Generator, horizon_days: int = 0
                     ) -> Catalog:
    """Generate ``cfg.n_items`` day-0 items plus ``cfg.new_items_per_day`` per day of the horizon.

    Items are ordered by arrival day, so the items available on day t are a prefix of the ids.

    Args:
        cfg: catalog configuration.
        rng: the ``items`` stream.
        horizon_days: the scenario's horizon; new items arrive on days 1 .. horizon_days - 1.
    """
    topics = TOPICS[: cfg.n_topics]
    n_new = cfg.new_items_per_day * max(horizon_days - 1, 0)  # arrivals on days 1 .. horizon - 1
    n = cfg.n_items + n_new
    # Long tail of topic sizes: a few big topics, many small ones. The order of topics is
    # shuffled so that which topic is 'big' depends on the seed, not on the list above.
    topic_rank = rng.permutation(cfg.n_topics)
    topic_p = zipf_weights(cfg.n_topics, cfg.popularity_exponent)[topic_rank]
    primary = rng.choice(cfg.n_topics, size=n, p=topic_p)
    blend = rng.random(n) < 0.3
    second = (primary + rng.integers(1, cfg.n_topics, size=n)) % cfg.n_topics

    # Providers: Zipf-sized; the smallest providers form the 'independent' group.
    provider_p = zipf_weights(cfg.n_providers, cfg.popularity_exponent)
    provider = rng.choice(cfg.n_providers, size=n, p=provider_p)
    n_indie = max(1, round(cfg.minority_provider_share * cfg.n_providers))
    provider_group_of = np.zeros(cfg.n_providers, np.int64)
    provider_group_of[cfg.n_providers - n_indie:] = 1
    clickbait = rng.random(n) < cfg.clickbait_share
    appeal = np.where(clickbait, rng.beta(cfg.clickbait_appeal_alpha, cfg.clickbait_appeal_beta, n),
                      rng.beta(cfg.appeal_alpha, cfg.appeal_beta, n))
    value = 2.0 * np.where(clickbait,
                           rng.beta(cfg.clickbait_value_alpha, cfg.clickbait_value_beta, n),
                           rng.beta(cfg.value_alpha, cfg.value_beta, n)) - 1.0

    titles, texts = [], []
    for i in range(n):  # text generation runs once per catalog, not in a hot path
        t2 = topics[second[i]] if blend[i] else None
        title, text = _item_text(topics[primary[i]], t2, rng, bool(clickbait[i]))
        titles.append(title)
        texts.append(text)
    topic_matrix = np.zeros((n, cfg.n_topics), bool)
    topic_matrix[np.arange(n), primary] = True
    topic_matrix[np.flatnonzero(blend), second[blend]] = True
    arrival = np.zeros(n, np.int64)
    if n_new:
        arrival[cfg.n_items:] = 1 + np.arange(n_new) // cfg.new_items_per_day
    return Catalog(
        item_ids=np.array([f"item{i}" for i in range(n)]), titles=titles, texts=texts,
        topics=primary.astype(np.int64), topic_names=tuple(t.name for t in topics),
        provider=provider.astype(np.int64), provider_group=provider_group_of[provider],
        provider_group_names=PROVIDER_GROUPS, appeal=appeal, value=value, arrival_day=arrival,
        topic_matrix=topic_matrix, source="synthetic",
        extra={"topic_share": topic_p[primary], "clickbait": clickbait})
