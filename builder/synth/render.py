"""The mouth renderer: each frame warps the mouth and chin region of a still face with a
thin-plate spline driven by FaceMesh landmarks, paints a dark mouth interior and a teeth band,
moves the head a little and adds noise. Needs only numpy and cv2.
"""

from __future__ import annotations

import math

import numpy as np

from builder.landmarks import (
    CHIN,
    LIP_CORNERS,
    LOWER_IN2,
    LOWER_INNER,
    LOWER_MID,
    LOWER_OUTER,
    MOUTH_CORNERS,
    N_LANDMARKS,
    N_MESH,
    UPPER_IN2,
    UPPER_INNER,
    UPPER_MID,
    UPPER_OUTER,
)
from builder.synth.faces import Pose
from builder.synth.speakers import Speaker

OPEN_GAP = 0.9                 # inner-lip gap at open=1, in half mouth widths


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    return np.nan_to_num(k)


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distances (N, M) between point sets (N, 2) and (M, 2)."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0)


def tps_warp(src: np.ndarray, dst: np.ndarray, query: np.ndarray, smooth: float = 1e-2) -> np.ndarray:
    """Thin-plate spline through dst -> src (both (N, 2), unit-scale coordinates), evaluated at
    `query` (M, 2). Near-coincident dst points are merged; `smooth` regularises the fit."""
    d2 = _sqdist(dst, dst)
    keep = ~np.any(np.triu(d2 < 0.05 ** 2, 1), 0)
    src, dst, d2 = src[keep], dst[keep], d2[np.ix_(keep, keep)]
    n = len(dst)
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = _tps_kernel(d2) + smooth * np.eye(n)
    a[:n, n] = a[n, :n] = 1
    a[:n, n + 1:] = dst
    a[n + 1:, :n] = dst.T
    b = np.zeros((n + 3, 2))
    b[:n] = src
    coef = np.linalg.solve(a, b)
    return _tps_kernel(_sqdist(query, dst)) @ coef[:n] + coef[n] + query @ coef[n + 1:]


class MouthModel:
    """Where each landmark of the mouth and chin region goes for given mouth parameters.

    Works in a mouth frame: origin between the corners, x along the mouth, y towards the
    chin, unit = half the mouth width.
    """

    BOX = (-2.3, 2.3, -1.5, 3.2)   # region in mouth units: x0, x1, y0, y1

    def __init__(self, landmarks: np.ndarray):
        lm = landmarks.astype(np.float64)
        left, right = lm[MOUTH_CORNERS[0]], lm[MOUTH_CORNERS[1]]
        self.center = (left + right) / 2
        ux = (right - left) / np.linalg.norm(right - left)
        uy = np.array([-ux[1], ux[0]])
        if np.dot(lm[CHIN] - self.center, uy) < 0:
            uy = -uy
        self.unit = float(np.linalg.norm(right - left) / 2)
        self.axes = np.stack([ux, uy])                                 # rows: x and y directions
        local = (lm - self.center) @ self.axes.T / self.unit           # (478, 2)
        x0, x1, y0, y1 = self.BOX
        inside = (local[:, 0] > x0 + 0.15) & (local[:, 0] < x1 - 0.15) & \
                 (local[:, 1] > y0 + 0.15) & (local[:, 1] < y1 - 0.15)
        inside[N_MESH:] = False                                        # iris points
        lips = set(UPPER_OUTER + LOWER_OUTER + UPPER_MID + LOWER_MID + UPPER_IN2 + LOWER_IN2
                   + UPPER_INNER + LOWER_INNER)
        chosen = [i for i in np.flatnonzero(inside) if i in lips]
        for i in np.flatnonzero(inside):                  # other points at least 0.35 apart
            if i not in lips and np.min(np.abs(local[chosen] - local[i]).sum(1)) >= 0.35:
                chosen.append(i)
        self.ids = np.array(sorted(chosen))
        self.local = local[self.ids]
        role = np.zeros(N_LANDMARKS, np.int8)                         # 0 other, 1 upper, 2 lower
        outer = np.zeros(N_LANDMARKS)
        for ring, w in ((UPPER_OUTER, 1.0), (UPPER_MID, 0.67), (UPPER_IN2, 0.33), (UPPER_INNER, 0.0)):
            role[list(ring)] = 1
            outer[list(ring)] = w
        for ring, w in ((LOWER_OUTER, 1.0), (LOWER_MID, 0.67), (LOWER_IN2, 0.33), (LOWER_INNER, 0.0)):
            role[list(ring)] = 2
            outer[list(ring)] = w
        role[list(LIP_CORNERS)] = 3
        self.role = role[self.ids]
        self.outer = outer[self.ids]
        # Rest gap between the inner lips (teeth showing at rest), closed by the model.
        ui, li = local[list(UPPER_INNER)], local[list(LOWER_INNER)]
        order = np.argsort(ui[:, 0])
        self.gap_x, self.gap = ui[order, 0], np.clip(li[order, 1] - ui[order, 1], 0, None)
        self.gap0 = float(np.interp(0.0, self.gap_x, self.gap))
        t = np.linspace(0, 1, 9)[:-1]
        border = np.concatenate([
            np.stack([x0 + (x1 - x0) * t, np.full_like(t, y0)], 1),
            np.stack([np.full_like(t, x1), y0 + (y1 - y0) * t], 1),
            np.stack([x1 - (x1 - x0) * t, np.full_like(t, y1)], 1),
            np.stack([np.full_like(t, x0), y1 - (y1 - y0) * t], 1)])
        self.border = border

    def to_image(self, local: np.ndarray) -> np.ndarray:
        return self.center + local * self.unit @ self.axes

    def displaced(self, p: np.ndarray) -> np.ndarray:
        """Local positions (N, 2) of the region's landmarks for parameters `p` (6,)."""
        op, rnd, spr, teeth, tuck, press = (float(v) for v in p)
        del teeth
        x, y = self.local[:, 0], self.local[:, 1]
        xc = np.clip(x, -1.2, 1.2)
        bell = np.clip(1 - (x / 1.05) ** 2, 0, 1)
        g = np.interp(x, self.gap_x, self.gap)
        drop = op * OPEN_GAP
        dx = np.zeros_like(x)
        dy = np.zeros_like(y)
        lip = self.role > 0
        dx[lip] = (-0.38 * rnd + 0.2 * spr) * xc[lip]
        up, lo, co = self.role == 1, self.role == 2, self.role == 3
        dy[up] = g[up] / 2 - bell[up] * (0.22 * drop + self.outer[up] * (0.12 * rnd + 0.04 * spr
                                                                        - 0.08 * press))
        dy[lo] = -g[lo] / 2 + bell[lo] * (0.78 * drop + self.outer[lo] * (0.12 * rnd - 0.22 * tuck
                                                                         - 0.08 * press)
                                          - 0.05 * tuck)
        dy[co] = 0.25 * drop - 0.05 * spr
        jaw = (self.role == 0) & (y > 0.35)
        jx = np.exp(-(x[jaw] / 2.0) ** 2)
        dy[jaw] = (0.8 * drop - self.gap0 / 2) * jx * np.clip(y[jaw] / 0.8, 0, 1)
        dx[jaw] = -0.12 * rnd * np.clip(x[jaw], -1.5, 1.5) * jx
        cheek = (self.role == 0) & (y <= 0.35) & (np.abs(x) > 0.9)
        dx[cheek] = np.sign(x[cheek]) * (0.1 * spr - 0.12 * rnd) * np.exp(-((np.abs(x[cheek]) - 1) / 0.5) ** 2)
        return np.stack([x + dx, y + dy], 1)


class Renderer:
    """Frames of one speaker: `frame(params, motion, k)` -> (H, W, 3) uint8 RGB."""

    def __init__(self, pose: Pose, speaker: Speaker, size: tuple[int, int], seed: int):
        import cv2

        self.cv2 = cv2
        self.speaker = speaker
        self.size = size
        width, height = size
        # Resample the source once to the output scale, so per-frame warps stay near 1:1.
        lm = pose.landmarks
        scale = speaker.face_frac * height / float(lm[:, 0].max() - lm[:, 0].min())
        img = cv2.resize(pose.image, None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        lm = (lm + 0.5) * np.array([img.shape[1] / pose.image.shape[1],
                                    img.shape[0] / pose.image.shape[0]]) - 0.5
        self.model = MouthModel(lm)
        m = self.model
        # Static relighting of the source (a brightness gradient), before the mouth is drawn.
        img = img.astype(np.float32)
        hh, ww = img.shape[:2]
        strength, direction = speaker.light
        yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
        face_w = float(lm[:, 0].max() - lm[:, 0].min())
        ramp = ((xx - lm[:, 0].mean()) * math.cos(direction) + (yy - lm[:, 1].mean()) * math.sin(direction)) / face_w
        img *= (1 + strength * np.clip(ramp, -1.5, 1.5))[..., None]
        self.base = np.clip(img, 0, 255).astype(np.uint8)
        # Region of interest in source pixels, and its coarse TPS grid.
        corners = m.to_image(np.array([[m.BOX[0], m.BOX[2]], [m.BOX[1], m.BOX[2]],
                                       [m.BOX[1], m.BOX[3]], [m.BOX[0], m.BOX[3]]]))
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
        self.roi = (max(x0, 0), max(y0, 0), min(x1, ww), min(y1, hh))
        rx0, ry0, rx1, ry1 = self.roi
        step = max(3, int(round(m.unit / 4)))
        gx = np.arange(rx0, rx1 + step, step, dtype=np.float64)
        gy = np.arange(ry0, ry1 + step, step, dtype=np.float64)
        self.grid_shape = (len(gy), len(gx))
        self.step = step
        gxx, gyy = np.meshgrid(gx, gy)
        grid_img = np.stack([gxx.ravel(), gyy.ravel()], 1)
        self.grid_local = (grid_img - m.center) @ m.axes.T / m.unit
        self.pix = np.meshgrid(np.arange(rx0, rx1, dtype=np.float32), np.arange(ry0, ry1, dtype=np.float32))
        # Placement: face centre and width -> output frame, mirror, rotation, shift.
        fc = np.array([(lm[:, 0].min() + lm[:, 0].max()) / 2, (lm[:, 1].min() + lm[:, 1].max()) / 2])
        self.out_center = np.array([width * (0.5 + speaker.shift[0]), height * (0.47 + speaker.shift[1])])
        self.place = self._affine(fc, self.out_center, 1.0, speaker.angle, speaker.mirror)
        # Colour: gain, gamma, tint as one lookup table per channel, applied after the mouth.
        levels = np.arange(256, dtype=np.float32) / 255
        lut = np.stack([np.clip(255 * speaker.gain * t * levels ** speaker.gamma, 0, 255)
                        for t in speaker.tint], 1)
        self.lut = lut.astype(np.uint8).reshape(256, 1, 3)
        rng = np.random.default_rng(seed)
        noise = [rng.normal(0, speaker.noise, (height, width, 3)) for _ in range(4)]
        self.noise = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
                      for n in noise]

    @staticmethod
    def _affine(src_pt, dst_pt, scale, angle, mirror) -> np.ndarray:
        a = math.radians(angle)
        sx = -scale if mirror else scale
        lin = np.array([[sx * math.cos(a), -scale * math.sin(a)],
                        [sx * math.sin(a), scale * math.cos(a)]])
        return np.hstack([lin, (dst_pt - lin @ src_pt)[:, None]])

    def mouth(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The source image with the mouth region warped and painted: (H, W, 3) uint8, and the
        region's displaced landmarks in source pixels (N, 2)."""
        cv2 = self.cv2
        m = self.model
        dst_local = m.displaced(params)
        src_local = np.vstack([m.local, m.border])
        dst_all = np.vstack([dst_local, m.border])
        back = tps_warp(src_local, dst_all, self.grid_local)            # dst grid -> src local
        back_img = m.center + back * m.unit @ m.axes
        grid_img = m.center + self.grid_local * m.unit @ m.axes
        disp = (back_img - grid_img).reshape(*self.grid_shape, 2).astype(np.float32)
        rx0, ry0, rx1, ry1 = self.roi
        full = cv2.resize(disp, ((self.grid_shape[1] - 1) * self.step + 1,
                                 (self.grid_shape[0] - 1) * self.step + 1),
                          interpolation=cv2.INTER_LINEAR)[:ry1 - ry0, :rx1 - rx0]
        map_x = self.pix[0] + full[..., 0]
        map_y = self.pix[1] + full[..., 1]
        region = cv2.remap(self.base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        dst_img = m.to_image(dst_local)
        self._paint_interior(region, dst_img, params)
        out = self.base.copy()
        out[ry0:ry1, rx0:rx1] = region
        return out, dst_img

    def _paint_interior(self, region: np.ndarray, dst_img: np.ndarray, params: np.ndarray) -> None:
        cv2 = self.cv2
        m = self.model
        pos = {int(i): dst_img[j] for j, i in enumerate(m.ids)}
        if any(i not in pos for i in UPPER_INNER + LOWER_INNER):
            return
        origin = np.array(self.roi[:2], np.float64)
        upper = np.array([pos[i] for i in UPPER_INNER]) - origin
        lower = np.array([pos[i] for i in LOWER_INNER]) - origin
        # The seam where the lips meet: dark, and hides teeth squeezed out of an open rest pose.
        seam = np.round((upper + lower) / 2 * 8).astype(np.int32)
        seam_color = tuple(int(c * 0.7) for c in self.speaker.interior)
        cv2.polylines(region, [seam], False, seam_color, 1, cv2.LINE_AA, 3)
        gap = float(np.max(lower[:, 1] - upper[:, 1]))
        if gap < 0.3:
            return
        bx0 = max(int(np.floor(min(upper[:, 0].min(), lower[:, 0].min()))) - 2, 0)
        by0 = max(int(np.floor(upper[:, 1].min())) - 2, 0)
        bx1 = min(int(np.ceil(max(upper[:, 0].max(), lower[:, 0].max()))) + 3, region.shape[1])
        by1 = min(int(np.ceil(lower[:, 1].max())) + 3, region.shape[0])
        if bx1 <= bx0 or by1 <= by0:
            return
        upper, lower = upper - [bx0, by0], lower - [bx0, by0]
        region = region[by0:by1, bx0:bx1]
        h, w = region.shape[:2]
        shift = 3
        poly = np.round(np.vstack([upper, lower[::-1]]) * (1 << shift)).astype(np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift)
        teeth_amt = float(params[3])
        band = m.unit * 0.3 * (0.35 + teeth_amt)
        teeth_poly = np.vstack([upper, (upper + [0, band])[::-1]])
        tmask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(tmask, [np.round(teeth_poly * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
        lower_band = m.unit * 0.12 * teeth_amt * float(params[2])
        if lower_band > 0.5:
            lpoly = np.vstack([lower, (lower - [0, lower_band])[::-1]])
            cv2.fillPoly(tmask, [np.round(lpoly * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
        mask = cv2.GaussianBlur(mask, (3, 3), 0)
        a = (mask.astype(np.float32) / 255)[..., None]
        t = (np.minimum(mask, tmask).astype(np.float32) / 255)[..., None]
        depth = cv2.GaussianBlur(a, (0, 0), max(1.0, gap / 3))
        depth = depth[..., None] if depth.ndim == 2 else depth
        interior = np.array(self.speaker.interior, np.float32) * (1.25 - 0.6 * depth)
        teeth = np.array(self.speaker.teeth, np.float32) * (1.05 - 0.25 * depth)
        out = region.astype(np.float32) * (1 - a) + interior * (a - t) + teeth * t
        region[:] = np.clip(out, 0, 255).astype(np.uint8)

    def placement(self, motion: np.ndarray) -> np.ndarray:
        """Source -> output affine (2, 3) for one frame's head motion (4,)."""
        angle, dscale, dx, dy = (float(v) for v in motion)
        height = self.size[1]
        jiggle = self._affine(self.out_center, self.out_center + np.array([dx, dy]) * height,
                              1 + dscale, angle, False)
        return np.hstack([jiggle[:, :2] @ self.place[:, :2],
                          jiggle[:, :2] @ self.place[:, 2:] + jiggle[:, 2:]])

    def frame(self, params: np.ndarray, motion: np.ndarray, k: int) -> np.ndarray:
        cv2 = self.cv2
        src, _ = self.mouth(params)
        out = cv2.warpAffine(src, self.placement(motion), self.size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT101)
        out = cv2.LUT(out, self.lut)
        plus, minus = self.noise[k % len(self.noise)]
        return cv2.subtract(cv2.add(out, plus), minus)

    def mouth_point(self, motion: np.ndarray) -> tuple[np.ndarray, float]:
        """Mouth centre in output pixels and the mouth width there, for crops."""
        a = self.placement(motion)
        c = a[:, :2] @ self.model.center + a[:, 2]
        return c, 2 * self.model.unit * float(np.sqrt(abs(np.linalg.det(a[:, :2]))))


