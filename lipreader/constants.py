"""The facts every stage shares, each declared once, with the arithmetic that derives them.

The lowest layer: it imports nothing, and builder, pipelines and lipreader all take these from here.
"""

FPS = 25.0                      # every stage works at 25 fps, as LRW does
FRAME_SECONDS = 1 / FPS         # 0.04 s
ROI = 96                        # aligned mouth crops are ROI x ROI gray pixels
CROP = 88                       # the model's input: a random (training) or centre crop of the ROI
WORD_FRAMES = 29                # one word clip, LRW's length: 29 / 25 = 1.16 s
WORD_SECONDS = WORD_FRAMES / FPS
MEAN, STD = 0.421, 0.165        # gray-level statistics of LRW's mouth ROIs on a 0..1 scale: a model's default
