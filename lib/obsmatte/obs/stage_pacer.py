"""When to copy the small frame back to the CPU for the model (plain Python, no libobs: unit-testable).

Staging a texture on llvmpipe forces it to finish all pending rendering there and then (~2-3 ms of the
graphics thread). A copy the worker will not take is wasted: the mailbox keeps only the newest frame,
so a frame posted while the worker is still busy with the previous one is replaced by the next post or
taken late. The pacer stages only when the copy, mapped and posted one frame later, will find the
worker free (or about to be), and never faster than the masks-per-second cap lets the worker run. The
worker's busy time is learnt from the masks it publishes (time from posting a frame to its mask), so
the mask rate and latency stay what they were while the number of stages drops to about the mask rate.
"""
from __future__ import annotations

# Before the first mask (model loading, or a model that fails), stage this often: enough to start at
# once when the model is ready, without paying a flush every frame meanwhile.
IDLE_STAGE_INTERVAL_S = 0.25
# A posted frame without a mask for this long is treated as lost (worker restarted, error, reset).
STALE_AFTER_S = 1.0
_BUSY_SMOOTHING = 0.2  # weight of the newest observation in the busy-time average


class StagePacer:
    def __init__(self):
        self.posted_id = 0           # frame id of the last frame posted to the worker
        self.posted_at = 0.0
        self.busy_s = 0.0            # average time from posting a frame to its mask being published
        self.last_stage_at = -1e9
        self.frame_interval_s = 1.0 / 30
        self._last_render_at = 0.0
        self._seen_seq = -1
        self.stages = 0              # counters for the benchmark
        self.frames = 0

    def frame(self, now: float) -> None:
        """Call once per video_render: learns the frame interval."""
        self.frames += 1
        if self._last_render_at:
            dt = min(max(now - self._last_render_at, 0.005), 0.1)
            self.frame_interval_s += 0.1 * (dt - self.frame_interval_s)
        self._last_render_at = now

    def posted(self, frame_id: int, now: float) -> None:
        self.posted_id, self.posted_at = frame_id, now

    def observe(self, seq: int, frame_id: int, produced_at: float) -> None:
        """A published mask: learn how long the worker takes for a posted frame."""
        if seq == self._seen_seq:
            return
        self._seen_seq = seq
        if frame_id == self.posted_id and produced_at >= self.posted_at:
            busy = produced_at - self.posted_at
            self.busy_s = busy if self.busy_s <= 0 else self.busy_s + _BUSY_SMOOTHING * (busy - self.busy_s)

    def should_stage(self, now: float, latest_frame_id: int | None, max_masks_per_second: float,
                     frames_to_post: int = 1) -> bool:
        """True when a copy made now (posted `frames_to_post` frames later) will be taken by the worker."""
        next_post = now + frames_to_post * self.frame_interval_s
        # posts are one frame after their stage, so posts are as far apart as stages
        if max_masks_per_second > 0 and now < self.last_stage_at + 1.0 / max_masks_per_second \
                - 0.5 * self.frame_interval_s:
            return False  # the worker's own throttle would hold the frame back anyway
        outstanding = self.posted_id and (latest_frame_id is None or latest_frame_id < self.posted_id)
        if outstanding and now - self.posted_at < STALE_AFTER_S:
            if self.busy_s <= 0:
                return now - self.last_stage_at >= IDLE_STAGE_INTERVAL_S
            # the worker is on the posted frame: stage only if it will be done by the next post
            return next_post >= self.posted_at + self.busy_s
        if latest_frame_id is None and self.posted_id:
            return now - self.last_stage_at >= IDLE_STAGE_INTERVAL_S  # no mask yet (loading / failing)
        return True

    def staged(self, now: float) -> None:
        self.last_stage_at = now
        self.stages += 1
