"""The filter in an OBS that renders 2 frames a second (a timelapse setup): its own OBS run."""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import (check_exit, filter_entry, image_source, masks_flowing, our_failures, screenshot, start_obs,
                       wait_for)

pytestmark = pytest.mark.obs
FPS = 2


def test_masks_flow_when_obs_renders_two_frames_a_second(tmp_path, obs_assets):
    """A pause in rendering (the source hidden, the filter off) makes the filter forget the pictures kept from
    before it. Taken as a fixed 0.25 s, every frame below 4 fps was a pause: the copy staged for the model was
    dropped each time and no mask ever came. Measured against the frame interval, masks flow and the portrait
    is matted."""
    sources = [image_source("Portrait", obs_assets["portrait"], [filter_entry(background="transparent")])]
    obs = start_obs(tmp_path, sources, obs_assets, fps=FPS)
    try:
        client = obs.client(timeout=30)
        stats = wait_for(lambda: masks_flowing(obs, "Portrait"), 30, what=f"masks at {FPS} fps")
        print(f"{FPS} fps: {stats['masks_per_second']:.1f} masks/s, {stats['frames']} frames rendered")

        def matted():
            alpha = screenshot(client, "Portrait")[:, :, 3]
            return True if (alpha == 0).mean() > 0.2 and (alpha == 255).mean() > 0.1 else None
        wait_for(matted, 20, what="a matted portrait")
        assert obs.alive()
    finally:
        code = obs.stop()
    log = obs.log_text()
    if check_exit(obs, code, f"OBS at {FPS} fps"):
        assert "Number of memory leaks: 0" in log
    assert not our_failures(log), our_failures(log)[:3]
    assert np.isfinite(stats["masks_per_second"])
