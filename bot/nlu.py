"""Rasa-backed intent parser: the trained model in-process (default) or a Rasa server over HTTP.

Must not import the dialogue or a channel (tests/test_architecture.py).
"""

from __future__ import annotations

import concurrent.futures
import gc
import logging
import os
import re
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.nlu_types import REPORTED_NOTE, Entity, Parse
from bot.safety import detect_crisis, same_to_safeguard
from bot.textnorm import has_words, normalise
from bot.understand import digit_slang

log = logging.getLogger(__name__)

QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}
NOISY_LOGGERS = ("rasa", "tensorflow", "jieba", "absl", "h5py", "matplotlib", "sanic", "apscheduler", "httpx")


def quiet_rasa() -> None:
    """Turn off Rasa telemetry, its per-parse debug logging and TensorFlow's log noise."""
    # TensorFlow imports JAX only for TFLite conversion, which we never use, and copes with its absence:
    # blocking it saves ~150 MB of memory and ~0.7 s of start-up.
    if "jax" not in sys.modules:
        sys.modules["jax"] = None  # type: ignore[assignment]
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)  # third-party import-time noise
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def find_model(model_dir: Path) -> Path:
    """Return the newest trained model archive, or raise with what to run."""
    models = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise FileNotFoundError(f"no trained model in {model_dir}; run `make train` (or `make setup`)")
    return models[-1]


def _to_parse(data: dict[str, Any], text: str, notes: list[str], threshold: float) -> Parse:
    """Turn Rasa's parse dictionary into a Parse, applying the out_of_scope threshold."""
    intent = data.get("intent") or {}
    name = str(intent.get("name") or "out_of_scope")
    confidence = float(intent.get("confidence") or 0.0)
    ranking = tuple((str(r["name"]), float(r["confidence"])) for r in data.get("intent_ranking") or [])
    entities = tuple(
        Entity(str(e["entity"]), str(e["value"]), int(e.get("start", 0)), int(e.get("end", 0)))
        for e in data.get("entities") or []
    )
    if confidence < threshold and name != "out_of_scope":
        notes = [*notes, f"low confidence {confidence:.2f} for {name}: treated as out_of_scope"]
        name = "out_of_scope"
    return Parse(name, confidence, entities, ranking, text, tuple(notes))


class DirectPipeline:
    """The loaded graph's own components called one after another on one message, computing only what is used.

    Rasa's graph runner (dask) runs every component on the message; the featurizers build per-token matrices
    that the logistic-regression classifier never reads, and the classifier combines them with scipy's sparse
    stacking and copies its 3.7 MB weight matrix on every call. Here the sentence vector the classifier reads is
    built directly (the same columns, values and order, so the same floating-point sums) and scored with the
    same sparse product and softmax; tokenizer, entity extractors and the "/intent" handler are the components
    themselves. For a graph of any other shape `build` gives None and the runner is used.
    tests/test_nlu.py compares both on every dev-set message.
    """

    def __init__(
        self, converter: Any, tokenizer: Any, featurizers: list[Any], classifier: Any, after: list[Any]
    ) -> None:
        """Keep the components (see build) and prepare what each parse reuses."""
        import numpy as np
        from rasa.shared.nlu.constants import TEXT

        self._text = TEXT
        self.converter, self.tokenizer, self.classifier, self.after = converter, tokenizer, classifier, after
        self.blocks: list[tuple[str, Any, Any, Any, int]] = []
        """Per featurizer, in pipeline order: kind, component, its sentence-vector means, vocabulary, width."""
        for featurizer in featurizers:
            if type(featurizer).__name__ == "RegexFeaturizer":
                if not featurizer.known_patterns:
                    continue  # it adds no features at all
                flags = 0 if featurizer.case_sensitive else re.IGNORECASE
                compiled = [re.compile(p["pattern"], flags) for p in featurizer.known_patterns]
                self.blocks.append(("regex", featurizer, compiled, None, len(compiled)))
            else:
                vectorizer = (featurizer.vectorizers or {}).get(TEXT)
                if vectorizer is None:
                    continue  # no features for text
                vocabulary = vectorizer.vocabulary_
                self.blocks.append(("counts", featurizer, vectorizer.build_analyzer(), vocabulary, len(vocabulary)))
        clf = classifier.clf
        self.coef_t = np.ascontiguousarray(clf.coef_.T)
        self.intercept = clf.intercept_
        self.classes = clf.classes_
        self.ranking_length = int(classifier.config.get("ranking_length", 0))
        self.width = sum(block[4] for block in self.blocks)

    @classmethod
    def build(cls, runner: Any, target: str) -> DirectPipeline | None:
        """The direct pipeline for a graph it reproduces exactly, else None."""
        try:
            chain = cls._chain(runner._instantiated_nodes, target)
        except (AttributeError, KeyError, TypeError):
            return None
        if chain is None:
            return None
        names = [type(c).__name__ for c in chain]
        if names[0] != "NLUMessageConverter" or names[1] != "JiebaTokenizer" or names[-1] != "RegexMessageHandler":
            return None
        try:
            at = names.index("LogisticRegressionClassifier")
        except ValueError:
            return None
        featurizers, after = chain[2:at], chain[at + 1 : -1]
        if not all(type(f).__name__ in ("RegexFeaturizer", "CountVectorsFeaturizer") for f in featurizers):
            return None
        if not all(type(a).__name__ == "RegexEntityExtractor" for a in after):
            return None
        clf = chain[at].clf
        multinomial = clf.multi_class == "multinomial" or (
            clf.multi_class == "auto" and clf.classes_.size > 2 and clf.solver != "liblinear"
        )
        if not multinomial or any(
            getattr(f, "vectorizers", None) and f.vectorizers.get("text") and f.vectorizers["text"].binary
            for f in featurizers
        ):
            return None
        pipeline = cls(chain[0], chain[1], featurizers, chain[at], [*after, chain[-1]])
        return pipeline if pipeline.width == clf.coef_.shape[1] else None

    @staticmethod
    def _chain(nodes: dict[str, Any], target: str) -> list[Any] | None:
        """The loaded components from the message converter to the target, when the graph is one plain chain."""
        chain: list[Any] = []
        name = target
        while name in nodes:
            node = nodes[name]
            if node._hooks or node._component is None or set(node._inputs) != {"messages"}:
                return None
            chain.append(node)
            name = node._inputs["messages"]
        chain.reverse()
        if not chain or chain[0]._fn_name != "convert_user_message":
            return None
        if any(node._fn_name != "process" for node in chain[1:]):
            return None
        return [node._component for node in chain]

    def parse(self, text: str) -> dict[str, Any] | None:
        """Rasa's parse dictionary for one text, or None when the graph runner must do it (no tokens)."""
        import numpy as np
        from rasa.core.channels.channel import UserMessage
        from rasa.nlu.constants import TOKENS_NAMES
        from scipy.sparse import csr_matrix
        from sklearn.utils.extmath import softmax

        messages = self.tokenizer.process(self.converter.convert_user_message([UserMessage(text)]))
        message = messages[0]
        tokens = message.get(TOKENS_NAMES[self._text])
        if not tokens:
            return None
        text = message.get(self._text)
        columns: list[int] = []
        values: list[float] = []
        offset = 0
        for kind, featurizer, means, vocabulary, width in self.blocks:
            if kind == "regex":
                for index, pattern in enumerate(means):
                    if any(t.start < m.end() and t.end > m.start() for m in pattern.finditer(text) for t in tokens):
                        columns.append(offset + index)
                        values.append(1.0)
            else:
                words = featurizer._get_processed_message_tokens_by_attribute(message, self._text)
                if not words:
                    return None
                counts = Counter(map(vocabulary.get, means(" ".join(words))))  # counted in C
                counts.pop(None, None)  # features outside the vocabulary
                for index in sorted(counts):
                    columns.append(offset + index)
                    values.append(float(counts[index]))
            offset += width
        x = csr_matrix(
            (
                np.array(values, dtype=np.float64),
                np.array(columns, dtype=np.int32),
                np.array([0, len(columns)], dtype=np.int32),
            ),
            shape=(1, self.width),
        )
        probabilities = softmax(x @ self.coef_t + self.intercept, copy=False)[0]
        ranking = sorted(
            ({"name": name, "confidence": p} for name, p in zip(self.classes, probabilities, strict=True)),
            key=lambda e: -e["confidence"],
        )
        message.set("intent", ranking[0], add_to_output=True)
        message.set(
            "intent_ranking", ranking[: self.ranking_length] if self.ranking_length > 0 else ranking, add_to_output=True
        )
        for component in self.after:
            messages = component.process(messages)
        data: dict[str, Any] = messages[0].as_dict(only_output_properties=True)
        return data


class RasaNluGraph:
    """A trained Rasa model's prediction graph, loaded with Rasa's own graph loader.

    This is what `rasa.core.agent.Agent.load` does for an NLU-only model, minus the dialogue machinery:
    the training schema stored in the archive is not instantiated, so an NLU pipeline without
    TensorFlow components never imports TensorFlow (saves ~4 s of start-up and ~400 MB of memory).
    Parses go through DirectPipeline when the graph has a shape it reproduces, else through the runner.
    """

    def __init__(self, model_path: Path) -> None:
        import tempfile

        # skops (used by LogisticRegressionClassifier) scans sys.modules when first imported: import it
        # before anything heavy is loaded, or that scan takes 10+ s.
        import skops.io  # noqa: F401
        from rasa.core.channels.channel import UserMessage
        from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
        from rasa.engine.loader import load_predict_graph_runner
        from rasa.engine.runner.dask import DaskGraphRunner
        from rasa.engine.storage.local_model_storage import LocalModelStorage
        from rasa.engine.storage.storage import ModelMetadata
        from rasa.shared.core.trackers import DialogueStateTracker
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
        quiet_rasa()
        import jieba

        jieba.setLogLevel(logging.WARNING)  # else its dictionary-loading lines go to stderr

        class _PredictOnlyStorage(LocalModelStorage):
            """Local model storage that skips the training schema when reading the metadata."""

            @staticmethod
            def _load_metadata(directory: Path) -> ModelMetadata:
                import rasa.shared.utils.io
                from rasa.engine.storage.local_model_storage import MODEL_ARCHIVE_METADATA_FILE

                data = rasa.shared.utils.io.read_json_file(directory / MODEL_ARCHIVE_METADATA_FILE)
                data["train_schema"] = {"nodes": {}}
                return ModelMetadata.from_dict(data)

        self._tmp = tempfile.TemporaryDirectory(prefix="rasa-model-")
        self.metadata, self.runner = load_predict_graph_runner(
            Path(self._tmp.name), model_path, _PredictOnlyStorage, DaskGraphRunner
        )
        self._message = UserMessage
        self._inputs = (PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER)
        self._tracker = DialogueStateTracker.from_events("nlu", [])
        self.direct = DirectPipeline.build(self.runner, self.metadata.nlu_target)

    def parse(self, text: str) -> dict[str, Any]:
        """Run the model on one text and return Rasa's parse dictionary."""
        data = self.direct.parse(text) if self.direct is not None else None
        return data if data is not None else self.run_graph(text)

    def check_direct(self, texts: tuple[str, ...]) -> None:
        """Keep the direct pipeline only if it answers these texts exactly as the graph runner does."""
        if self.direct is None:
            return
        for text in texts:
            if self.direct.parse(text) != self.run_graph(text):
                log.warning("the direct NLU pipeline differs from Rasa's graph runner; using the runner")
                self.direct = None
                return

    def run_graph(self, text: str) -> dict[str, Any]:
        """Run Rasa's graph runner on one text and return its parse dictionary."""
        target = self.metadata.nlu_target
        msg_key, tracker_key = self._inputs
        results = self.runner.run(inputs={msg_key: [self._message(text)], tracker_key: self._tracker}, targets=[target])
        data: dict[str, Any] = results[target][0].as_dict(only_output_properties=True)
        return data


def freeze_loaded_objects() -> None:
    """Exempt everything loaded so far (Rasa, scikit-learn, the model) from garbage collection.

    Loading Rasa leaves ~400,000 long-lived objects; a full collection walks them all and stops every
    thread for ~0.6 s (measured), a pause that lands on whichever user is waiting at the time.
    """
    gc.collect()
    gc.freeze()


class _Prepared:
    """A normalised message, or the answer when no model is needed."""

    def __init__(self, text: str, notes: list[str], answer: Parse | None) -> None:
        self.text, self.notes, self.answer = text, notes, answer


def prepare(raw: str, max_chars: int, screened: bool = False) -> _Prepared:
    """Normalise a message and answer at once where the model is not needed (crisis, no words).

    The crisis safeguard reads the message as sent and as normalised (where normalising changed it); screened
    means the caller has just run it on the message as sent, with no hit, so that is not done twice. The
    normalised copy is scanned only when the safeguard reads it differently (it does its own width, case and
    script folding, so most messages read the same both ways).
    """
    text, notes = normalise(raw, max_chars)
    hit = None if screened else detect_crisis(raw)
    if (hit is None or hit.reported) and not same_to_safeguard(raw, text):
        hit = detect_crisis(text) or hit
    if hit is not None and not hit.reported:
        note = f"crisis safeguard ({hit.kind}, {hit.pattern_id})"
        return _Prepared(text, notes, Parse("crisis", 1.0, (), (("crisis", 1.0),), text, (*notes, note)))
    if hit is not None:  # a collector's words or a visit that is over: the crisis reply, then the model's answer
        notes = [*notes, f"{REPORTED_NOTE} ({hit.kind}, {hit.pattern_id})"]
    if not text:
        return _Prepared(text, notes, Parse("out_of_scope", 1.0, (), (), text, (*notes, "empty message")))
    slang = digit_slang(text)
    if slang is not None:
        return _Prepared(text, notes, Parse(slang, 1.0, (), ((slang, 1.0),), text, (*notes, "chat slang in digits")))
    if not has_words(text):
        note = "no words to understand (only symbols, emoji or numbers)"
        return _Prepared(text, notes, Parse("out_of_scope", 1.0, (), (), text, (*notes, note)))
    return _Prepared(text, notes, None)


class InProcessParser:
    """The trained Rasa model loaded inside this process; parses run on one worker thread."""

    def __init__(self, model_path: Path, threshold: float = 0.45, max_chars: int = 2000) -> None:
        self.model_path = model_path
        self.threshold = threshold
        self.max_chars = max_chars
        self._agent: RasaNluGraph | None = None
        self._loaded = threading.Event()
        self._error: BaseException | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rasa")

    @classmethod
    def from_config(cls, cfg: Config) -> InProcessParser:
        """Build the parser from the settings (the model is not loaded yet)."""
        model = find_model(cfg.path(cfg.nlu.model_dir))
        return cls(model, cfg.nlu.confidence_threshold, cfg.nlu.max_chars)

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and warm."""
        return self._loaded.is_set() and self._error is None

    def _load(self) -> None:
        """Load the model and warm it up (runs on the worker thread)."""
        try:
            quiet_rasa()
            self._agent = RasaNluGraph(self.model_path)
            warm = ("你好", "hello", "他们说要起诉我", "借呗打电话到我单位")  # jieba loads its dictionary on first use
            self._agent.check_direct(warm)
            for text in warm:
                self._agent.parse(text)
            freeze_loaded_objects()
        except BaseException as exc:  # reported to callers of parse
            self._error = exc
            log.error("loading the Rasa model failed: %s", type(exc).__name__)
        finally:
            self._loaded.set()

    def start_loading(self) -> concurrent.futures.Future[None]:
        """Begin loading the model in the background and return at once."""
        return self._pool.submit(self._load)

    def load(self) -> InProcessParser:
        """Load the model and wait until it is ready (for the CLI and tests)."""
        self.start_loading().result()
        if self._error is not None:
            raise ModelUnusable(
                f"could not load the model {self.model_path}: {self._error}; " "retrain it with `make train FORCE=1`"
            ) from self._error
        return self

    def _parse_blocking(self, text: str) -> dict[str, Any]:
        """Run the loaded model on one normalised text."""
        assert self._agent is not None
        return self._agent.parse(text)

    def parse_sync(self, raw: str) -> Parse:
        """Classify one message, blocking the caller (CLI, benchmarks)."""
        prepared = prepare(raw, self.max_chars)
        if prepared.answer is not None:
            return prepared.answer
        self._raise_if_unusable()
        data = self._pool.submit(self._parse_blocking, prepared.text).result()
        return _to_parse(data, prepared.text, prepared.notes, self.threshold)

    async def parse(self, raw: str, screened: bool = False) -> Parse:
        """Classify one message, on the event loop's thread once the model is loaded.

        A parse is about 0.4 ms of CPU (DirectPipeline), as long as handing it to a thread and back costs; in a
        thread it would hold the interpreter lock all the same, so the loop would not serve other chats sooner.
        """
        prepared = prepare(raw, self.max_chars, screened)
        if prepared.answer is not None:
            return prepared.answer
        self._raise_if_unusable()
        data = self._parse_blocking(prepared.text)
        return _to_parse(data, prepared.text, prepared.notes, self.threshold)

    def _raise_if_unusable(self) -> None:
        """Raise a clear error when the model is not loaded (yet) or failed to load."""
        if self._error is not None:
            raise RuntimeError(f"the Rasa model failed to load: {self._error}")
        if not self._loaded.is_set():
            raise ModelLoading("the model is still loading")


class ModelUnusable(RuntimeError):
    """The trained model exists but cannot be loaded (corrupt, or from another Rasa version)."""


class ModelLoading(RuntimeError):
    """The model is not ready yet; deterministic answers still work."""


class HttpParser:
    """A remote `rasa run --enable-api` server, same interface as the in-process parser."""

    def __init__(
        self,
        url: str,
        threshold: float = 0.45,
        max_chars: int = 2000,
        timeout: float = 5.0,
        token: str | None = None,
    ) -> None:
        import httpx

        self.url = url.rstrip("/") + "/model/parse"
        self.threshold = threshold
        self.max_chars = max_chars
        self._params = {"token": token} if token else {}
        self._client = httpx.AsyncClient(timeout=timeout)
        self._sync = httpx.Client(timeout=timeout)

    @classmethod
    def from_config(cls, cfg: Config) -> HttpParser:
        """Build the client from the settings (RASA_TOKEN from the environment if the server needs one)."""
        return cls(
            cfg.nlu.server_url,
            cfg.nlu.confidence_threshold,
            cfg.nlu.max_chars,
            cfg.nlu.server_timeout_s,
            os.environ.get("RASA_TOKEN") or None,
        )

    @property
    def ready(self) -> bool:
        """A remote server is assumed ready; a failed request raises."""
        return True

    async def parse(self, raw: str, screened: bool = False) -> Parse:
        """Ask the server to classify one message."""
        prepared = prepare(raw, self.max_chars, screened)
        if prepared.answer is not None:
            return prepared.answer
        resp = await self._client.post(self.url, json={"text": prepared.text}, params=self._params)
        resp.raise_for_status()
        return _to_parse(resp.json(), prepared.text, prepared.notes, self.threshold)

    def parse_sync(self, raw: str) -> Parse:
        """Ask the server, blocking the caller."""
        prepared = prepare(raw, self.max_chars)
        if prepared.answer is not None:
            return prepared.answer
        resp = self._sync.post(self.url, json={"text": prepared.text}, params=self._params)
        resp.raise_for_status()
        return _to_parse(resp.json(), prepared.text, prepared.notes, self.threshold)


def build_parser(cfg: Config) -> InProcessParser | HttpParser:
    """Build the parser the settings ask for."""
    if cfg.nlu.backend == "http":
        return HttpParser.from_config(cfg)
    return InProcessParser.from_config(cfg)
