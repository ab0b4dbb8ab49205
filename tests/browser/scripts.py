"""Page scripts the browser tests run: play, seek, and report what was painted."""

PLAY_AND_SEEK = """
async (url) => {
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  document.body.append(video);
  const painted = [];
  const onFrame = (_, meta) => {
    painted.push(meta.mediaTime);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  const failed = new Promise((_, reject) => {
    video.onerror = () => reject(new Error("media error " + (video.error && video.error.code)));
  });
  const event = (name) => Promise.race([
    new Promise((resolve) => video.addEventListener(name, resolve, {once: true})), failed,
  ]);
  video.src = url;
  await event("loadedmetadata");
  const duration = video.duration;
  await video.play();
  await new Promise((resolve) => setTimeout(resolve, 300));
  video.pause();
  const beforeSeek = painted.length;
  video.currentTime = duration * 0.8;
  await event("seeked");
  const seekedTo = video.currentTime;
  await video.play();
  await event("ended");
  return {
    duration, durationAtEnd: video.duration, painted, paintedAfterSeek: painted.slice(beforeSeek),
    seekedTo, error: video.error && video.error.code,
  };
}
"""

PLAY = """
async (url) => {
  const video = document.createElement("video");
  video.muted = true;
  document.body.append(video);
  video.src = url;
  await video.play();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return {currentTime: video.currentTime, error: video.error && video.error.code};
}
"""

#: Load a clip, grab the first frame painted and the frame at ``mid`` seconds
#: (as RGBA drawn at ``width`` x ``height``, base64), then play its end.
#: Reports the duration at load and after the end, and the media times of the
#: frames presented before each grab (null if none was within a second; the
#: middle one must be from ``earliest`` on). Called with one object
#: ``{url, mid, earliest, width, height}``, so Playwright and Marionette run it alike.
SHOW_CLIP = """
async ({url, mid, earliest, width, height}) => {
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  document.body.append(video);
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const grab = () => {
    context.drawImage(video, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height).data;
    let text = "";
    for (let i = 0; i < pixels.length; i += 8192) {
      text += String.fromCharCode.apply(null, pixels.subarray(i, i + 8192));
    }
    return btoa(text);
  };
  const failed = new Promise((_, reject) => {
    video.onerror = () => reject(new Error("media error " + (video.error && video.error.code)));
  });
  const event = (name) => Promise.race([
    new Promise((resolve) => video.addEventListener(name, resolve, {once: true})), failed,
  ]);
  // A frame is drawn once the browser has presented it, not when "loadeddata" or
  // "seeked" fires: Chromium fired them early (grabbing then drew nothing, or the
  // frame two before the one sought, 1 run in 4). This waits for a frame presented
  // from ``from`` (seconds) on, its media time, or null after a second.
  const presented = (from) => new Promise((resolve) => {
    const onFrame = (_, meta) => {
      if (meta.mediaTime >= from) resolve(meta.mediaTime);
      else video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    setTimeout(() => resolve(null), 1000);
  });
  try {
    const firstShown = presented(-Infinity);
    video.src = url;
    await event("loadeddata");
    const firstAt = await firstShown;
    const duration = video.duration;
    const shape = [video.videoWidth, video.videoHeight];
    const first = grab();
    const middleShown = presented(earliest);
    video.currentTime = mid;
    await event("seeked");
    const middleAt = await middleShown;
    const middle = grab();
    video.currentTime = Math.max(0, duration - 0.25);
    await event("seeked");
    await video.play();
    await event("ended");
    const last = grab();  // an ended video keeps showing its last frame
    return {
      duration, durationAtEnd: video.duration, shape, first, middle, last, firstAt, middleAt,
      error: null,
    };
  } catch (error) {
    return {error: String(error)};
  }
}
"""
