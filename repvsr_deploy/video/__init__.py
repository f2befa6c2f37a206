"""Reading and writing footage: video files through PyAV (FFmpeg), and folders of images."""
