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
