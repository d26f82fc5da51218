"""Named FaceMesh landmark indices: the one table every module uses.

FaceMesh with refined landmarks gives 478 points: 468 of the face mesh, then 10 of the irises.
"Left" and "right" are as seen in the image of an unmirrored frontal face (the person's right
eye is on the image's left). Pairs are (image left, image right) or (upper, lower).
"""

N_MESH = 468                 # face mesh points; the iris points follow
N_LANDMARKS = 478            # with the 10 iris points (refine_landmarks=True)

# eyes and nose: points that do not move when the person speaks
EYE_OUTER = (33, 263)        # outer eye corners
EYE_INNER = (133, 362)       # inner eye corners
NOSE_BRIDGE = 168            # between the eyes
NOSE_LINE = (6, 195, 4)      # down the nose ridge to the tip

# face outline
FACE_EDGES = (234, 454)      # cheek contour at eye height
CHIN = 152                   # bottom of the chin

# mouth
MOUTH_CORNERS = (61, 291)    # outer lip corners
INNER_LIP_MID = (13, 14)     # upper and lower inner lip at the middle
INNER_LIP_PAIRS = ((82, 87), INNER_LIP_MID, (312, 317))  # upper / lower inner lip, left to right

# Lip rings from the outer edge to the inner (mouth-opening) edge, each from corner to corner:
# upper rings run 61/76/62/78 -> 291/306/292/308, lower rings between the corners only (the
# inner one includes them).
UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
UPPER_MID = (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306)
LOWER_MID = (77, 90, 180, 85, 16, 315, 404, 320, 307)
UPPER_IN2 = (62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292)
LOWER_IN2 = (96, 89, 179, 86, 15, 316, 403, 319, 325)
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_CORNERS = (61, 291, 76, 306, 62, 292, 78, 308)  # the corner point of each ring, left, right

# The 68 points of dlib / iBUG 300-W (what LRW's crops were aligned with), each as the FaceMesh
# point at the same place on the face: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer lip
# 48-59, inner lip 60-67. Anatomical counterparts, not identical definitions (the jaw and the
# lip points between the corners sit where each model puts them).
DLIB68 = (127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
          70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
          168, 197, 5, 4, 75, 97, 2, 326, 305,
          33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
          61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
          78, 82, 13, 312, 308, 317, 14, 87)
