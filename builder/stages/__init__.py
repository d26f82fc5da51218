"""The build stages, one module each, in the order `build-dataset` runs them:

  words   <video>/captions.* -> <video>/words.json                        words.run(video folder)
  plan    every video's words -> dataset/plan.json (vocabulary, splits),  plan.run(dataset, states, PlanSettings)
  track   <video>/video.mp4 -> <video>/track.npz + mouth.npy              track.run(video folder, TrackSettings)
  plan    then, per video, which clips or why not                         plan.video_clips(state, ...)
  clips   mouth.npy -> dataset/<word>/<split>/<id>_<ms>.mp4 + .json       clips.write(Job)
  report  dataset/manifest.jsonl, stats.json, videos.json                 report.run(dataset, records, ...)
  pack    dataset clips -> dataset/.cache/<split>.npy (uint8, for training) pack.run(dataset folder, split)
  report  then contact_sheet.png and the web pages, from the packed clips report.contact_sheet, report.write_pages

Each takes a folder (one video's, or the dataset's) and a small settings value of its own (plain
values: builder never reads options.toml; pipelines builds the settings from the config) and
returns a record. Each is resumable: output that is there and whole is not made again. A video a
stage rejects gets <video>/skip.json (state.record_skip) and the batch goes on. pipelines/build.py
runs them in order and holds the locks, the progress bars and the worker pools; `read` runs words
and track on the video it reads.
"""
