"""The dataset's and models' web pages: plain data in, HTML text out (no I/O here).

The pages open straight from disk (file://): no server, no network, everything beside them.
dataset/index.html is the overview; every other page, the stylesheet and the previews sit in
dataset/.pages/ (a dot folder, so no vocabulary word can collide with it). Every value shown
is escaped. The pages read without JavaScript; a few lines of it make the tables sortable.

The names live here, in the lower layer, because `train` writes a model page too;
builder.layout reaches them through DatasetDir.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lipreader import atomic
from lipreader.constants import FPS, ROI, WORD_FRAMES
from lipreader.manifest import MANIFEST, parse_manifest

INDEX = "index.html"        # dataset/index.html: the overview
PAGES = ".pages"            # dataset/.pages/: the other pages, the stylesheet, the previews
STYLE = "style.css"
PREVIEWS = "previews"       # .pages/previews/<word>/<split>/<video_id>_<start_ms>.jpg
PREVIEW_EXT = ".jpg"        # the clip's frames one above the other; CSS steps through them


def word_page_name(word: str) -> str:
    return f"word-{word}.html"


def video_page_name(video_id: str) -> str:
    return f"video-{video_id}.html"


def model_page_name(model: str | Path) -> str:
    return f"model-{Path(model).with_suffix('').name}.html"


def model_page(dataset_root: str | Path, model: str | Path) -> Path:
    """Where the page of `model` (trained on the dataset at `dataset_root`) is written."""
    return Path(dataset_root) / PAGES / model_page_name(model)


def preview_name(clip: str) -> str:
    """The preview of a clip (its path relative to the dataset root), relative to .pages/."""
    return f"{PREVIEWS}/{Path(clip).with_suffix(PREVIEW_EXT).as_posix()}"


def href(name: str) -> str:
    """A relative link to a file name (words and ids may hold any safe character)."""
    return quote(name, safe="/")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


STYLESHEET = """\
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e;
  --line: #d1d9e0; --accent: #0969da; --soft: #f6f8fa; --bad: #cf222e; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d;
    --accent: #4493f8; --soft: #151b23; --bad: #f85149; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.25rem 3rem; color: var(--fg);
  background: var(--bg); font: 16px/1.5 system-ui, sans-serif; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .25rem .5rem; }
nav { border-bottom: 1px solid var(--line); padding-bottom: .5rem; margin-bottom: 1rem; }
nav a { margin-right: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
.muted, figcaption, caption { color: var(--muted); }
dl.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr));
  gap: .75rem; margin: 0; }
dl.figures div { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: .5rem .75rem; }
dl.figures dt { color: var(--muted); font-size: .85rem; }
dl.figures dd { margin: 0; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; margin: .5rem 0; font-variant-numeric: tabular-nums; }
caption { text-align: left; padding: .25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .75rem .25rem 0; text-align: left; }
td.n, th.n { text-align: right; }
th button { font: inherit; font-weight: bold; color: inherit; background: none; border: 0;
  padding: 0; cursor: pointer; text-decoration: underline dotted; }
.scroll { overflow-x: auto; }
ul.grid { list-style: none; padding: 0; display: grid; gap: .75rem;
  grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); }
ul.grid li { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: .4rem; font-size: .8rem; }
.film { display: block; width: 96px; height: 96px; }
.film img { display: block; width: 96px; height: 96px; object-fit: none; object-position: 0 0;
  animation: play 1.16s steps(29, jump-none) infinite; }
@keyframes play { from { object-position: 0 0%; } to { object-position: 0 100%; } }
@media (prefers-reduced-motion: reduce) { .film img { animation: none; } }
ul.grid dl { margin: .25rem 0 0; display: grid; grid-template-columns: auto 1fr; gap: 0 .4rem; }
ul.grid dt { color: var(--muted); }
ul.grid dd { margin: 0; }
svg.chart { width: 100%; max-width: 44rem; height: auto; color: var(--fg); }
svg.chart .axis { stroke: var(--line); }
svg.chart text { fill: var(--muted); font-size: 11px; }
.s0 { stroke: var(--accent); } .s1 { stroke: #bf8700; } .s2 { stroke: #1a7f37; } .s3 { stroke: var(--bad); }
.k0 { color: var(--accent); } .k1 { color: #bf8700; } .k2 { color: #1a7f37; } .k3 { color: var(--bad); }
.bad { color: var(--bad); }
"""

# Sorts a table whose header cells hold buttons; numbers by value. Without it the tables stay
# in their written order.
SORT_SCRIPT = """\
document.querySelectorAll("table.sortable th button").forEach(function (b) {
  b.addEventListener("click", function () {
    var th = b.parentNode, table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var down = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", down ? "ascending" : "descending");
    var key = function (r) { var t = r.children[col].textContent.trim();
      var n = parseFloat(t); return isNaN(n) ? t : n; };
    Array.prototype.slice.call(body.rows).sort(function (x, y) {
      var a = key(x), c = key(y), o = (typeof a === typeof c) ? (a < c ? -1 : a > c ? 1 : 0)
        : (typeof a === "number" ? -1 : 1);
      return down ? o : -o; }).forEach(function (r) { body.appendChild(r); });
  });
});
"""


# ---------------------------------------------------------------- pieces

def page(title: str, body: str, up: str, nav: Sequence[tuple[str, str]] = (), script: bool = False) -> str:
    """A whole page. `up`: the path from the page to the dataset root ("" or "../")."""
    style = f"{up}{PAGES}/{STYLE}"
    links = [(f"{up}{INDEX}", "Dataset"), *nav]
    bar = "".join(f'<a href="{esc(h)}">{esc(t)}</a>' for h, t in links)
    tail = f"<script>\n{SORT_SCRIPT}</script>\n" if script else ""
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<link rel=\"stylesheet\" href=\"{esc(style)}\">\n</head>\n"
            f'<body>\n<a class="skip" href="#main">Skip to content</a>\n<nav>{bar}</nav>\n'
            f'<main id="main">\n<h1>{esc(title)}</h1>\n{body}</main>\n{tail}</body>\n</html>\n')


def figures(items: Iterable[tuple[str, Any, str]]) -> str:
    """Big numbers: (label, value, key); `key` becomes data-figure for tests and scripts."""
    cells = "".join(f'<div><dt>{esc(label)}</dt><dd data-figure="{esc(key)}">{esc(value)}</dd></div>'
                    for label, value, key in items)
    return f'<dl class="figures">{cells}</dl>\n'


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "",
          numeric: Sequence[bool] = (), sortable: bool = False, row_keys: Sequence[str] | None = None,
          raw: Sequence[bool] = ()) -> str:
    """A table; cells escaped unless their column is `raw` (already HTML)."""
    num = list(numeric) + [False] * (len(head) - len(numeric))
    rawc = list(raw) + [False] * (len(head) - len(raw))

    right = ' class="n"'

    def th(i: int, h: str) -> str:
        inner = f'<button type="button">{esc(h)}</button>' if sortable else esc(h)
        return f'<th scope="col"{right if num[i] else ""}>{inner}</th>'

    sort = ' class="sortable"'
    out = [f'<div class="scroll"><table{sort if sortable else ""}>']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(th(i, h) for i, h in enumerate(head)) + "</tr></thead><tbody>")
    for k, row in enumerate(rows):
        key = f' data-row="{esc(row_keys[k])}"' if row_keys is not None else ""
        cells = "".join(f'<td{right if num[i] else ""}>{v if rawc[i] else esc(v)}</td>'
                        for i, v in enumerate(row))
        out.append(f"<tr{key}>{cells}</tr>")
    out.append("</tbody></table></div>\n")
    return "".join(out)


def link(target: str, text: Any) -> str:
    return f'<a href="{esc(href(target))}">{esc(text)}</a>'


def number(x: float | None, digits: int = 1) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def source_at(url: str | None, seconds: float | None) -> str | None:
    """The source video at a time: YouTube-style t= for web pages; None for no usable URL."""
    if not url or not re.match(r"^https?://", url):
        return None
    if seconds is None:
        return url
    t = max(int(seconds), 0)
    return f"{url}{'&' if '?' in url else '?'}t={t}s" if "youtu" in url else f"{url}#t={t}"


def chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
          ylim: tuple[float, float] | None = None, title: str = "") -> str:
    """A line chart as inline SVG: (label, xs, ys) per series; NaN breaks a line."""
    pts = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
    if not pts:
        return f'<p class="muted">{esc(title or ylabel)}: no values</p>\n'
    W, H, L, B, T, R = 640, 220, 48, 30, 10, 10
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = ylim if ylim else (min(p[1] for p in pts), max(p[1] for p in pts))
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * (W - L - R)

    def sy(y: float) -> float:
        return H - B - (y - y0) / (y1 - y0) * (H - B - T)

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{esc(title or ylabel)}">',
             f'<path class="axis" fill="none" d="M{L},{T} V{H - B} H{W - R}"/>',
             f'<text x="{L - 4}" y="{T + 8}" text-anchor="end">{esc(_tick(y1))}</text>',
             f'<text x="{L - 4}" y="{H - B}" text-anchor="end">{esc(_tick(y0))}</text>',
             f'<text x="{L}" y="{H - 12}">{esc(_tick(x0))}</text>',
             f'<text x="{W - R}" y="{H - 12}" text-anchor="end">{esc(_tick(x1))}</text>',
             f'<text x="{(L + W) / 2}" y="{H - 2}" text-anchor="middle">{esc(xlabel)}</text>',
             f'<text x="12" y="{(H - B) / 2}" transform="rotate(-90 12 {(H - B) / 2})" '
             f'text-anchor="middle">{esc(ylabel)}</text>']
    keys = []
    for k, (label, xs, ys) in enumerate(series):
        runs, cur = [], []
        for x, y in zip(xs, ys, strict=True):
            if math.isnan(y):
                runs, cur = runs + [cur] if cur else runs, []
            else:
                cur.append(f"{sx(x):.1f},{sy(min(max(y, y0), y1)):.1f}")
        runs += [cur] if cur else []
        for r in runs:
            d = " ".join(r) if len(r) > 1 else f"{r[0]} {r[0]}"
            parts.append(f'<polyline class="s{k % 4}" fill="none" stroke-width="2" '
                         f'stroke-linecap="round" points="{d}"/>')
        keys.append(f'<span class="k{k % 4}">&#9632;</span> {esc(label)}')
    parts.append("</svg>")
    cap = (esc(title) + ": " if title else "") + " &nbsp; ".join(keys)
    return f"<figure>{''.join(parts)}<figcaption>{cap}</figcaption></figure>\n"


def _tick(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2f}"


def clip_card(c: dict[str, Any], up: str) -> str:
    """One clip in a grid: its preview (or a link to the clip), and what is known of it.
    `c`: a manifest record's fields, plus "preview" (name under .pages/, or None)."""
    alt = f"{c['word']} in {c.get('video_id') or 'an unknown video'}"
    clip = f"{up}{c['path']}"
    n = max(int(c.get("frames") or WORD_FRAMES), 2)
    pic = (f'<a class="film" href="{esc(href(clip))}"><img src="{esc(href(c["preview"]))}" alt="{esc(alt)}" '
           f'width="{ROI}" height="{ROI}" loading="lazy" '
           f'style="animation-timing-function: steps({n}, jump-none); animation-duration: {n / FPS:.2f}s"></a>'
           if c.get("preview") else f'<a href="{esc(href(clip))}">{esc(Path(c["path"]).name)}</a>')
    vid = c.get("video_id")
    rows = [("video", link(video_page_name(vid), vid) if vid else None), ("time", _time(c.get("start"))), ("split", c.get("split")),
            ("face", _px(c.get("face_width"))), ("yaw", _deg(c.get("max_yaw"))),
            ("sync", number(c.get("sync_score"), 2) if c.get("sync_score") is not None else c.get("sync")),
            ("speaker", c.get("face"))]
    if c.get("predicted"):
        rows.insert(0, ("read as", c["predicted"]))
    info = "".join(f"<dt>{esc(k)}</dt><dd>{v if k == 'video' else esc(v)}</dd>"
                   for k, v in rows if v not in (None, ""))
    src = source_at(c.get("source_url"), c.get("start"))
    more = f'<a href="{esc(src)}">source at {esc(_time(c.get("start")))}</a>' if src else ""
    return f'<li data-clip="{esc(c["path"])}">{pic}<dl>{info}</dl>{more}</li>'


def _time(s: float | None) -> str:
    if s is None:
        return ""
    m, sec = divmod(float(s), 60)
    return f"{int(m)}:{sec:05.2f}"


def _px(x: float | None) -> str:
    return "" if x is None else f"{x:.0f} px"


def _deg(x: float | None) -> str:
    return "" if x is None else f"{x:.0f}°"


# ---------------------------------------------------------------- the pages

def overview(st: dict[str, Any], used: int, sources: dict[str, int], word_pages: set[str],
             videos: Sequence[dict[str, Any]], models: Sequence[str], files: Sequence[str] = (),
             title: str = "Dataset") -> str:
    """dataset/index.html: stats.json's figures, the clips per word and split, the drops,
    the caption sources and the vocabulary's coverage. `videos`: id, split, seconds, clips,
    skipped (reason or None); `models`: model page names under .pages/; `files`: the dataset's
    other files to link to (names in its root)."""
    per_word = st["clips_per_word"]
    splits = sorted({s for per in per_word.values() for s in per} | set(st["clips_per_split"])) or ["train"]
    skipped = sum(st["videos_skipped"].values())
    covered = sum(1 for w in st["vocabulary"] if sum(per_word.get(w, {}).values()) > 0)
    vocab = len(st["vocabulary"])
    body = [figures([("videos fetched", st["videos"], "videos"), ("videos used", used, "used"),
                     ("videos skipped", skipped, "skipped"), ("hours of video", st["hours"], "hours"),
                     ("clips", st["clips"], "clips"), ("vocabulary words", vocab, "vocabulary"),
                     ("words with clips", covered, "covered")])]
    body.append(f'<p>{covered} of {vocab} vocabulary words have clips'
                f'{f" ({100 * covered / vocab:.0f}%)" if vocab else ""}.</p>\n')
    if models:
        body.append("<h2>Models</h2>\n<ul>" + "".join(
            f"<li>{link(f'{PAGES}/{m}', m[len('model-'):-len('.html')])}</li>" for m in models) + "</ul>\n")
    body.append("<h2>Clips per word and split</h2>\n")
    rows, keys = [], []
    for w, per in per_word.items():
        name = link(f"{PAGES}/{word_page_name(w)}", w) if w in word_pages else esc(w)
        rows.append([name, *[per.get(s, 0) for s in splits], sum(per.values())])
        keys.append(w)
    rows.append(["total", *[st["clips_per_split"].get(s, 0) for s in splits], st["clips"]])
    keys.append("")
    body.append(table(["word", *splits, "all"], rows[:-1], caption="Select a column's name to sort by it.",
                      numeric=[False] + [True] * (len(splits) + 1), sortable=True, row_keys=keys[:-1],
                      raw=[True]))
    body.append(table(["", *splits, "all"], [rows[-1]], numeric=[False] + [True] * (len(splits) + 1),
                      row_keys=["total"]))
    body.append(_counts("Clips dropped, by reason", st["dropped"], "dropped",
                        "Vocabulary words spoken in the videos that gave no clip."))
    body.append(_counts("Caption tokens dropped, by reason", st.get("caption_tokens_dropped", {}),
                        "caption", "Caption text that never became a word."))
    body.append(_counts("Videos skipped, by reason", st["videos_skipped"], "skipped"))
    body.append(_counts("Caption sources of the clips", sources, "source",
                        "How each clip's word times were found: " + ", ".join(
                            f"{k}: {caption_kind(k)}" for k in sorted(sources))))
    if st.get("clips_per_sync"):
        body.append(_counts("Clips by sound sync", st["clips_per_sync"], "sync"))
    if videos:
        body.append("<h2>Videos</h2>\n")
        body.append(table(["video", "split", "seconds", "clips", "skipped"],
                          [[link(f"{PAGES}/{video_page_name(v['id'])}", v["id"]), esc(v.get("split") or ""),
                            number(v.get("seconds"), 1), v.get("clips", 0), esc(v.get("skipped") or "")]
                           for v in videos], numeric=[False, False, True, True, False], sortable=True,
                          row_keys=[v["id"] for v in videos], raw=[True, True, False, False, True]))
    if files:
        body.append('<p class="muted">Also here: ' + ", ".join(link(f, f) for f in files) + ".</p>\n")
    return page(title, "".join(body), "", script=True)


def caption_kind(source: str) -> str:
    """A caption source in a few words: automatic, aligned manual, or estimated."""
    if source == "cue-estimate":
        return "estimated from whole caption cues"
    if "auto" in source:
        return "automatic captions' word times"
    return "manual captions aligned to word times"


def _counts(title: str, counts: dict[str, int], key: str, note: str = "") -> str:
    head = f"<h2>{esc(title)}</h2>\n" + (f'<p class="muted">{esc(note)}</p>\n' if note else "")
    if not counts:
        return head + "<p>None.</p>\n"
    return head + table(["reason" if key != "source" else "source", "count"],
                        [[k, v] for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
                        numeric=[False, True], row_keys=[f"{key}:{k}" for k in
                                                        sorted(counts, key=lambda k: (-counts[k], k))])


def word_page(word: str, clips: Sequence[dict[str, Any]], total: dict[str, int]) -> str:
    """.pages/word-<word>.html: a grid of the word's clips that move. `clips`: those shown
    (see clip_card); `total`: the word's clips per split."""
    n = sum(total.values())
    parts = [figures([("clips", n, "clips"), *[(f"{s} clips", v, f"split:{s}") for s, v in sorted(total.items())]])]
    if len(clips) < n:
        parts.append(f"<p>{len(clips)} of its {n} clips are shown; "
                     f'<a href="../{MANIFEST}">{MANIFEST}</a> lists them all.</p>\n')
    parts.append('<p class="muted">Each preview shows the clip as it is cut (the word with a '
                 "little of its neighbours); face: the face's width in the video, yaw: its largest "
                 "turn in the clip, sync: how well the mouth follows the sound there.</p>\n")
    parts.append('<ul class="grid">' + "".join(clip_card(c, "../") for c in clips) + "</ul>\n")
    return page(f"Word: {word}", "".join(parts), "../")


def video_page(v: dict[str, Any]) -> str:
    """.pages/video-<id>.html. `v`: id, split, seconds, source_url, skipped, drops,
    caption_drops; track: {t, found, face_width, yaw} per second (optional); sync: {offset,
    confidence, has_audio, windows: [(seconds, lag, confidence)]} (optional); words: [{text,
    start, source, clip (path or None), face, why (what to say for a word without a clip)}];
    clips: number."""
    parts = []
    figs = [("seconds", number(v.get("seconds"), 1), "seconds"), ("clips", v.get("clips", 0), "clips"),
            ("split", v.get("split") or "-", "split")]
    sy = v.get("sync")
    if sy:
        figs += [("sound offset (frames)", sy["offset"] if sy.get("has_audio") else "no sound", "offset"),
                 ("offset confidence", number(sy.get("confidence"), 2), "confidence")]
    if v.get("faces"):
        figs.append(("speaking faces", len(v["faces"]), "faces"))
    parts.append(figures(figs))
    src = source_at(v.get("source_url"), None)
    if src:
        parts.append(f'<p>Source: <a href="{esc(src)}">{esc(src)}</a></p>\n')
    if v.get("skipped"):
        parts.append(f'<p class="bad">Skipped: {esc(v["skipped"])}</p>\n')
    tr = v.get("track")
    parts.append("<h2>Tracking over time</h2>\n")
    if tr:
        parts.append(chart([("face found", tr["t"], tr["found"])], "seconds", "share of frames",
                           (0.0, 1.0), "frames with a tracked face, per second"))
        top = max([x for x in tr["face_width"] if not math.isnan(x)] + [1.0])
        parts.append(chart([("face width", tr["t"], tr["face_width"])], "seconds", "pixels",
                           (0.0, top * 1.1), "face width, median per second"))
        turn = max([x for x in tr["yaw"] if not math.isnan(x)] + [30.0])
        parts.append(chart([("|yaw|", tr["t"], tr["yaw"])], "seconds", "degrees",
                           (0.0, turn), "head turn (yaw), median per second"))
    else:
        parts.append("<p>No track recorded.</p>\n")
    if sy and sy.get("windows"):
        ws = sy["windows"]
        parts.append("<h2>Sound offset over time</h2>\n")
        lag = max([abs(w[1]) for w in ws] + [3.0])
        parts.append(chart([("offset", [w[0] for w in ws], [w[1] for w in ws])], "seconds", "frames",
                           (-lag, lag), title=f"the sound's lag in each confident window (the video's: {sy['offset']})"))
    if v.get("faces"):
        parts.append(_counts("Clips per speaking face", {str(k): n for k, n in v["faces"].items()}, "face"))
    parts.append(_counts("Vocabulary words that gave no clip, by reason", v.get("drops") or {}, "dropped"))
    parts.append(_counts("Caption tokens dropped, by reason", v.get("caption_drops") or {}, "caption"))
    words = v.get("words") or []
    parts.append("<h2>Its vocabulary words</h2>\n")
    if words:
        rows = []
        for w in words:
            fate = link(f"../{w['clip']}", "clip") + (
                f' ({link(word_page_name(w["text"]), "word page")})' if w.get("word_page") else "") \
                if w.get("clip") else esc(w.get("why") or "no clip (see the reasons above)")
            rows.append([esc(w["text"]), esc(_time(w.get("start"))), esc(w.get("source") or ""),
                         esc("" if w.get("face") is None else w["face"]),
                         esc(number(w.get("sync_score"), 2)), fate])
        parts.append(table(["word", "time", "caption source", "face", "sync", "became"], rows,
                           raw=[True] * 6, sortable=True,
                           row_keys=[f"{w['text']}@{w.get('start')}" for w in words]))
    else:
        parts.append("<p>None.</p>\n")
    return page(f"Video: {v['id']}", "".join(parts), "../", script=True)


def model_page_html(m: dict[str, Any]) -> str:
    """.pages/model-<name>.html. `m`: name, history (train's metrics per epoch), split,
    per_word: {word: (correct, total)}, pairs: [(spoken, read, count, [clip dicts])]."""
    h = m.get("history") or []
    parts = []
    last = h[-1] if h else {}
    figs = [("epochs", last.get("epoch", 0), "epochs")]
    if last.get("val_top1") is not None:
        figs += [(f"{last.get('val_split', 'validation')} top-1", number(last["val_top1"], 3), "top1"),
                 (f"{last.get('val_split', 'validation')} top-5", number(last.get("val_top5"), 3), "top5")]
    parts.append(figures(figs))
    if h:
        ep = [float(e["epoch"]) for e in h]
        nan = float("nan")

        def col(key: str) -> list[float]:
            return [nan if e.get(key) is None else float(e[key]) for e in h]

        parts.append("<h2>Curves</h2>\n")
        parts.append(chart([("train", ep, col("loss")), ("validation", ep, col("val_loss"))],
                           "epoch", "loss", title="loss"))
        parts.append(chart([("train top-1", ep, col("top1")), ("validation top-1", ep, col("val_top1")),
                            ("validation top-5", ep, col("val_top5"))], "epoch", "accuracy", (0.0, 1.0),
                           title="accuracy"))
    pw = m.get("per_word") or {}
    parts.append(f"<h2>Accuracy per word ({esc(m.get('split') or 'validation')} clips)</h2>\n")
    if pw:
        rows = sorted(pw.items(), key=lambda kv: (kv[1][0] / max(kv[1][1], 1), kv[0]))
        parts.append(table(["word", "correct", "clips", "accuracy"],
                           [[link(word_page_name(w), w) if w in m.get("word_pages", ()) else esc(w), c, n,
                             number(c / n if n else None, 3)]
                            for w, (c, n) in rows], numeric=[False, True, True, True], sortable=True,
                           row_keys=[w for w, _ in rows], raw=[True]))
    else:
        parts.append("<p>Not validated: train with --validate.</p>\n")
    pairs = m.get("pairs") or []
    parts.append("<h2>Most confused pairs</h2>\n")
    if pairs:
        for spoken, read, count, examples in pairs:
            parts.append(f'<h3 data-pair="{esc(spoken)}&gt;{esc(read)}">{esc(spoken)} read as '
                         f"{esc(read)}: {count} clip{'s' if count != 1 else ''}</h3>\n")
            parts.append('<ul class="grid">' + "".join(clip_card(c, "../") for c in examples) + "</ul>\n")
    else:
        parts.append("<p>None.</p>\n")
    return page(f"Model: {m['name']}", "".join(parts), "../", script=True)


def model_facts(name: str, history: list[dict], split: str | None, vocab: Sequence[str],
                clips: Sequence[tuple[str, int, int]], records: dict[str, dict[str, Any]],
                has_preview, word_pages: set[str] = frozenset(), pairs: int = 8,
                examples: int = 4) -> dict[str, Any]:
    """What the model page shows, from the validation clips (path, spoken index, read index).
    `records`: manifest fields by clip path; `has_preview(path)`: whether its preview exists."""
    per_word: dict[str, list[int]] = {}
    confused: dict[tuple[int, int], list[str]] = {}
    for path, spoken, read in clips:
        c = per_word.setdefault(vocab[spoken], [0, 0])
        c[0] += int(spoken == read)
        c[1] += 1
        if spoken != read:
            confused.setdefault((spoken, read), []).append(path)
    ranked = sorted(confused.items(), key=lambda kv: (-len(kv[1]), vocab[kv[0][0]], vocab[kv[0][1]]))
    shown = []
    for (a, b), paths in ranked[:pairs]:
        cards = []
        for p in sorted(paths)[:examples]:
            rec = dict(records.get(p) or {"path": p, "word": vocab[a]})
            rec["preview"] = preview_name(p) if has_preview(p) else None
            rec["predicted"] = vocab[b]
            cards.append(rec)
        shown.append((vocab[a], vocab[b], len(paths), cards))
    return {"name": name, "history": history, "split": split,
            "per_word": {w: tuple(v) for w, v in sorted(per_word.items())}, "pairs": shown,
            "word_pages": set(word_pages)}


# ---------------------------------------------------------------- the model page's files

def model_files(model: str | Path) -> dict[str, Path]:
    """What `train` writes beside a model that its page is made from."""
    stem = Path(model).with_suffix("")
    return {"metrics": Path(f"{stem}.metrics.json"), "predictions": Path(f"{stem}.predictions.json")}


def predictions_json(split: str, vocab: Sequence[str], clips: Iterable[tuple[str, int, int]]) -> dict:
    """<model>.predictions.json: each validation clip's path, spoken and read word index."""
    return {"split": split, "vocab": list(vocab), "clips": [[p, int(a), int(b)] for p, a, b in clips]}


def write_stylesheet(dataset_root: str | Path) -> Path:
    path = Path(dataset_root) / PAGES / STYLE
    if not path.is_file() or path.read_text(encoding="utf-8") != STYLESHEET:
        atomic.write_text(path, STYLESHEET)
    return path


def write_model_page(dataset_root: str | Path, model: str | Path, history: list[dict],
                     predictions: dict | None) -> Path:
    """The model's page in the dataset's .pages/, from its history and validation predictions;
    clips show their previews when the dataset's report made them."""
    root = Path(dataset_root)
    pages = root / PAGES
    manifest = root / MANIFEST
    records = {r.path: r.to_json() for r in parse_manifest(manifest.read_text(encoding="utf-8"),
                                                           str(manifest))} if manifest.is_file() else {}
    words = {p.name[len("word-"):-len(".html")] for p in pages.glob("word-*.html")} if pages.is_dir() else set()
    p = predictions or {}
    facts = model_facts(Path(model).with_suffix("").name, history, p.get("split"), p.get("vocab", []),
                        [tuple(c) for c in p.get("clips", [])], records,
                        lambda path: (pages / preview_name(path)).is_file(), words)
    write_stylesheet(root)
    out = model_page(root, model)
    atomic.write_text(out, model_page_html(facts))
    return out
