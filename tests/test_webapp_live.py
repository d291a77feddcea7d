"""The web app's *Live* tab: the handler (overlay, counters) and the real
page in headless Chromium with a fake camera fed from consecutive
CVC-ClinicDB frames: overlays appear and the frame counter advances."""
import glob
import os
import os.path as osp
import re
import shutil
import time

import cv2
import numpy as np
import pytest
import torch

from ssformer_mmseg.apis import PolypSegmenter

pytest.importorskip('gradio')

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
#: CI installs Chromium: there the browser check must run, never skip.
REQUIRE_BROWSER = os.environ.get('SSFORMER_REQUIRE_BROWSER') == '1'
#: Frames of the fake camera's clip.
CLIP_FRAMES = 25


@pytest.fixture(scope='module')
def segmenter(make_tiny_config):
    torch.manual_seed(0)
    return PolypSegmenter(make_tiny_config())


def test_the_handler_returns_the_overlay_and_counts(segmenter):
    from ssformer_mmseg.webapp.live_tab import LiveTab
    from ssformer_mmseg.webapp.serving import SharedSegmenter
    tab = LiveTab(SharedSegmenter(segmenter), time_limit_s=60)
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :32] = (200, 60, 40)  # RGB, as the browser sends it
    overlay, text, stats = tab.segment_frame(frame, None)
    assert overlay.shape == frame.shape and overlay.dtype == np.uint8
    assert text.startswith('**frame 1** · ')
    # The overlay is the frame (RGB) with the mask drawn: never BGR.
    expected = segmenter.mask(segmenter([frame[..., ::-1].copy()])[0])
    from ssformer_mmseg.visualization.overlays import draw_overlay
    np.testing.assert_array_equal(
        overlay,
        draw_overlay(frame[..., ::-1].copy(), expected)[..., ::-1])
    _, text, stats = tab.segment_frame(frame, stats)
    assert text.startswith('**frame 2** · ') and stats.frames == 2
    assert re.search(r'latency p50 \d+ ms, p95 \d+ ms · polyp [\d.]+ %', text)
    assert tab.segment_frame(None, stats) == (None, '', stats)


def _fake_camera(real_data_root: str, path: str) -> str:
    """A ``.mjpeg`` file (JPEG frames one after another, which Chromium's
    fake camera plays) of consecutive CVC-ClinicDB frames."""
    images = sorted(
        glob.glob(osp.join(real_data_root, 'cvc-clinicdb', 'images', '*.png')),
        key=lambda p: int(osp.splitext(osp.basename(p))[0]))[:CLIP_FRAMES]
    with open(path, 'wb') as f:
        for image in images:
            f.write(cv2.imencode('.jpg', cv2.imread(image))[1].tobytes())
    return path


def _frame_number(page) -> int:
    text = page.locator('#live-stats').inner_text()
    found = re.search(r'frame (\d+)', text)
    return int(found.group(1)) if found else 0


def test_the_live_tab_in_a_headless_browser(segmenter, real_data_root,
                                            tmp_path):
    if CHROMIUM is None:
        if REQUIRE_BROWSER:
            pytest.fail('Chromium is required here but not installed')
        pytest.skip('no Chromium (apt-get install chromium)')
    playwright = pytest.importorskip('playwright.sync_api')
    from ssformer_mmseg.webapp import WebApp
    camera = _fake_camera(real_data_root, str(tmp_path / 'camera.mjpeg'))
    shot = tmp_path / 'live_tab.png'
    with WebApp(segmenter) as app, playwright.sync_playwright() as p:
        app.start()
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                '--use-fake-device-for-media-stream',
                '--use-fake-ui-for-media-stream',
                f'--use-file-for-fake-video-capture={camera}'
            ])
        try:
            page = browser.new_page(viewport=dict(width=1280, height=900))
            page.goto(app.url)
            page.get_by_role('tab', name='Live').click()
            page.get_by_text('Click to Access Webcam').click()
            page.locator('#live-camera button[aria-label="capture photo"]'
                         ).click(timeout=60000)
            overlay = page.locator('#live-overlay img')
            overlay.wait_for(state='visible', timeout=120000)
            page.wait_for_function(
                'id => /frame [3-9]|frame \\d\\d/.test('
                'document.getElementById(id).innerText)',
                arg='live-stats',
                timeout=120000)
            first = _frame_number(page)
            # The counter goes on while the camera streams (no timing
            # bound: polled until it moves or the test's timeout).
            deadline = time.monotonic() + 120
            while _frame_number(page) <= first and \
                    time.monotonic() < deadline:
                page.wait_for_timeout(200)
            later = _frame_number(page)
            # The overlay image is replaced with every frame: read its size
            # from one that has loaded.
            size = page.wait_for_function(
                '() => { const img = document.querySelector('
                '"#live-overlay img"); return img && img.complete && '
                'img.naturalWidth > 0 ? [img.naturalWidth, '
                'img.naturalHeight] : null; }',
                timeout=120000).json_value()
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert later > first >= 3
    assert size == [384, 288]  # the camera's frames, as CVC-ClinicDB's
    assert cv2.imread(str(shot)) is not None
