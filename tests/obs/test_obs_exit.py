"""OBS exits cleanly (code 0, no leaks) with the filter on a media source, several times in a row.

Guards the exit crash/hang seen with the spike and the first version: a filter on an async source is
destroyed after script_unload, from OBS's destruction thread (see obsmatte.obs.registration)."""
from __future__ import annotations

import re

import pytest

from .conftest import (check_exit, filter_entry, image_source, masks_flowing, media_source, our_failures, start_obs,
                       wait_for)

pytestmark = pytest.mark.obs
RUNS = 3


def test_clean_exit_repeated(tmp_path, obs_assets):
    for run in range(RUNS):
        workdir = tmp_path / f"run{run}"
        workdir.mkdir()
        sources = [media_source("Video", obs_assets["video"], [filter_entry(background="blur")]),
                   image_source("Portrait", obs_assets["portrait"], [filter_entry(background="color")])]
        obs = start_obs(workdir, sources, obs_assets)
        try:
            # exit while the workers are busy: wait until masks flow on the media source
            stats = wait_for(lambda: masks_flowing(obs, "Video"), 30, what="masks on the video")
            print(f"run {run}: {stats['masks_per_second']:.1f} masks/s on the video before exit")
        finally:
            code = obs.stop()
        log = obs.log_text()
        if check_exit(obs, code, f"run {run}"):
            assert "Number of memory leaks: 0" in log, f"run {run}: leak line missing; log {obs.log_path()}"
        # script_unload ran before the last destroy (the order that crashed the spike) and said what it
        # stopped; a filter not yet seen as leaving there is stopped by its destroy a moment later
        unload = re.search(r"script unloading: .*", log)
        assert unload, f"run {run}: script_unload did not run; log {obs.log_path()}"
        print(f"run {run}: {unload.group(0)}")
        assert "never destroyed" not in log, f"run {run}: a filter outlived the scene; log {obs.log_path()}"
        assert not our_failures(log), f"run {run}: a filter callback raised: {our_failures(log)[:2]}"
