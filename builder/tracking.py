"""Face landmarks with mediapipe FaceMesh. The only module that imports mediapipe."""

from __future__ import annotations

import numpy as np

N_LANDMARKS = 478  # FaceMesh with refine_landmarks=True (468 + 10 iris points)


class FaceMesh:
    """mediapipe FaceMesh on RGB uint8 frames -> landmarks in pixels.

    `video=True` tracks between consecutive frames (mediapipe's video mode); `video=False`
    treats every frame as a separate still image.
    """

    def __init__(self, video: bool = True, max_faces: int = 1, min_confidence: float = 0.5):
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        """All faces found in one frame: a list of (478, 3) float32 arrays (x, y in pixels, z in
        pixels at the same scale as x)."""
        h, w = rgb.shape[:2]
        res = self._mesh.process(np.ascontiguousarray(rgb))
        out = []
        for face in res.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32)
            pts *= np.array([w, h, w], np.float32)
            out.append(pts)
        return out

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
