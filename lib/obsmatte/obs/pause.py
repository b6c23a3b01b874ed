"""Tells a pause in rendering from the normal gap between two frames, at any frame rate.

OBS does not call a filter's video_render while its source is hidden or the filter is disabled; after such a
pause the pictures kept from before it (sync ring, staged copy, temporal guide) show the past. A fixed gap
(0.25 s) took every frame for a pause when OBS renders fewer than 4 frames a second (timelapse setups): the
staged copy was dropped each frame and no mask was ever produced. So a pause is a gap of several frames, the
frame being the longer of OBS's frame interval and the typical gap seen lately (an OBS that lags skips frames
steadily, which is no pause either), and never shorter than a floor.
"""
from __future__ import annotations

from collections import deque

PAUSE_FLOOR_S = 0.25  # never a pause below this (the fixed gap used before: unchanged at 30 fps)
PAUSE_FRAMES = 3  # a gap longer than this many frames is a pause
RECENT_GAPS = 15  # gaps whose median is the typical one (robust to the pauses among them)


class PauseDetector:
    def __init__(self):
        self.last: float | None = None  # the frame time of the last new frame, seconds
        self.gaps: deque[float] = deque(maxlen=RECENT_GAPS)
        self.gap_s = PAUSE_FLOOR_S  # the pause threshold is_pause last worked out (the temporal guide's too)

    def threshold(self, interval_s: float) -> float:
        """The gap that counts as a pause, for OBS's frame interval `interval_s`."""
        typical = sorted(self.gaps)[len(self.gaps) // 2] if self.gaps else 0.0
        return max(PAUSE_FLOOR_S, PAUSE_FRAMES * max(interval_s, typical))

    def is_pause(self, frame_time_s: float, interval_s: float) -> bool:
        """Call once per new frame with its time (obs_get_video_frame_time in seconds): True when rendering
        paused before it. The first frame is no pause (nothing was kept before it)."""
        last, self.last = self.last, frame_time_s
        self.gap_s = self.threshold(interval_s)
        if last is None or frame_time_s <= last:
            return False
        gap = frame_time_s - last
        pause = gap > self.gap_s
        self.gaps.append(gap)
        return pause
